package expr

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Evaluation allocates per batch, never per row: the number of Go
// allocations for a 4096-row batch stays small and independent of the
// row count.
func TestAllocationsPerBatch(t *testing.T) {
	mem := memory.NewGoAllocator()
	b := bidBatch(mem, 4096, 9)
	defer b.Release()
	ctx := context.Background()
	for _, src := range []string{
		"0.908 * price",
		"MOD(auction, 123) = 0",
		"price > 1000 AND channel <> 'apple'",
		"lower(channel)",
		"SPLIT_INDEX(url, '/', 3)",
		"count_char(extra, 'c')",
		"substring(url, 9, 12)",
		"date_format(dateTime, 'yyyy-MM-dd HH:mm')",
		"HOUR(dateTime)",
		"CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime' WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime' ELSE 'otherTime' END",
		"lower(channel) IN ('apple', 'google', 'facebook', 'baidu')",
		"CAST(price AS VARCHAR) || channel",
	} {
		e := MustCompile(src, bidSchema)
		allocs := testing.AllocsPerRun(20, func() {
			a, err := e.Eval(ctx, mem, b)
			if err != nil {
				t.Fatal(err)
			}
			a.Release()
		})
		if allocs > 300 {
			t.Errorf("%s: %.0f allocations per 4096-row batch", src, allocs)
		}
		t.Logf("%s: %.0f allocations per batch", src, allocs)
	}
	pred := MustCompile("MOD(auction, 123) = 0", bidSchema)
	allocs := testing.AllocsPerRun(20, func() {
		f, err := Filter(ctx, mem, pred, b)
		if err != nil {
			t.Fatal(err)
		}
		f.Release()
	})
	if allocs > 300 {
		t.Errorf("filter: %.0f allocations per batch", allocs)
	}
}
