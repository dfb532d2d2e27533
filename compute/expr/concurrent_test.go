package expr

import (
	"context"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// One compiled Expr is shared by many goroutines (run with -race).
func TestConcurrentEval(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := bidBatch(mem, 300, 11)
	defer b.Release()
	e := MustCompile("CASE WHEN lower(channel) = 'apple' THEN '0' ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END || SPLIT_INDEX(url, '/', 3)", bidSchema)
	ctx := context.Background()
	want, err := e.Eval(ctx, mem, b)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Release()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				got, err := e.Eval(ctx, mem, b)
				if err != nil {
					errs <- err.Error()
					return
				}
				if !array.Equal(got, want) {
					errs <- "concurrent Eval returned a different result"
				}
				got.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Fatal(msg)
	}
}
