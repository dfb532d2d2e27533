package expr

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var bidSchema = arrow.NewSchema([]arrow.Field{
	{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
	{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
	{Name: "price", Type: arrow.PrimitiveTypes.Int64},
	{Name: "channel", Type: arrow.BinaryTypes.String},
	{Name: "url", Type: arrow.BinaryTypes.String},
	{Name: "dateTime", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
	{Name: "extra", Type: arrow.BinaryTypes.String},
}, nil)

// bidBatch builds a nexmark-like bid batch of n rows.
func bidBatch(mem memory.Allocator, n int, seed uint64) arrow.RecordBatch {
	r := rand.New(rand.NewPCG(seed, 1))
	b := array.NewRecordBuilder(mem, bidSchema)
	defer b.Release()
	channels := []string{"Google", "Facebook", "Baidu", "Apple", "channel-1234", "channel-77"}
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(1000 + r.Int64N(10000))
		b.Field(1).(*array.Int64Builder).Append(1000 + r.Int64N(100000))
		b.Field(2).(*array.Int64Builder).Append(r.Int64N(100_000_000))
		ch := channels[r.IntN(len(channels))]
		b.Field(3).(*array.StringBuilder).Append(ch)
		url := fmt.Sprintf("https://www.nexmark.com/%s/item.htm?query=1", ch)
		if r.IntN(10) == 0 {
			url = fmt.Sprintf("https://www.nexmark.com/%s/item.htm?query=1&channel_id=%d", ch, r.IntN(1000))
		}
		b.Field(4).(*array.StringBuilder).Append(url)
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000 + int64(i)*37))
		b.Field(6).(*array.StringBuilder).Append("cccabcdefghijklmnopqrstuvwxyzabc"[:r.IntN(32)])
	}
	return b.NewRecordBatch()
}

// cpuNow is the process's user+system CPU time. The benchmarks report CPU
// time per row next to wall time because the machines they run on are
// shared: wall time then overstates the cost.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startRows resets the timer and returns a function that reports
// rows/s (wall), ns/row (wall) and cpu-ns/row (process CPU, GC included).
func startRows(b *testing.B) func(rows int) {
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuNow()
	return func(rows int) {
		cpu := cpuNow() - c0
		total := float64(rows) * float64(b.N)
		b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/row")
		b.ReportMetric(float64(cpu.Nanoseconds())/total, "cpu-ns/row")
	}
}

func benchProjection(b *testing.B, exprs map[string]string, order []string) {
	mem := memory.NewGoAllocator()
	batch := bidBatch(mem, 4096, 1)
	defer batch.Release()
	var named []NamedExpr
	for _, name := range order {
		named = append(named, NamedExpr{Name: name, Expr: MustCompile(exprs[name], bidSchema)})
	}
	p, err := NewProjection(bidSchema, named)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	report := startRows(b)
	for range b.N {
		out, err := p.Apply(ctx, mem, batch)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	report(4096)
}

// BenchmarkQ1Project is nexmark q1: price converted to euros, other
// columns passed through.
func BenchmarkQ1Project(b *testing.B) {
	benchProjection(b, map[string]string{
		"auction": "auction", "bidder": "bidder", "price": "0.908 * price", "dateTime": "dateTime", "extra": "extra",
	}, []string{"auction", "bidder", "price", "dateTime", "extra"})
}

// BenchmarkQ2Filter is nexmark q2: keep bids whose auction is a multiple
// of 123.
func BenchmarkQ2Filter(b *testing.B) {
	mem := memory.NewGoAllocator()
	batch := bidBatch(mem, 4096, 1)
	defer batch.Release()
	pred := MustCompile("MOD(auction, 123) = 0", bidSchema)
	ctx := context.Background()
	report := startRows(b)
	for range b.N {
		out, err := Filter(ctx, mem, pred, batch)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	report(4096)
}

// BenchmarkQ2FilterArrowCompute is Q2 with arrow-go's FilterRecordBatch
// doing the selection, for comparison with the built-in gather.
func BenchmarkQ2FilterArrowCompute(b *testing.B) {
	mem := memory.NewGoAllocator()
	batch := bidBatch(mem, 4096, 1)
	defer batch.Release()
	pred := MustCompile("MOD(auction, 123) = 0", bidSchema)
	ctx := context.Background()
	report := startRows(b)
	for range b.N {
		m, _, err := pred.mask(ctx, mem, batch)
		if err != nil {
			b.Fatal(err)
		}
		out, err := filterArrow(ctx, mem, batch, m)
		m.Release()
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	report(4096)
}

// BenchmarkStringQ22 is nexmark q22's string work: three SPLIT_INDEX calls.
func BenchmarkStringQ22(b *testing.B) {
	benchProjection(b, map[string]string{
		"dir1": "SPLIT_INDEX(url, '/', 3)", "dir2": "SPLIT_INDEX(url, '/', 4)", "dir3": "SPLIT_INDEX(url, '/', 5)",
	}, []string{"dir1", "dir2", "dir3"})
}

// BenchmarkStringQ21 is nexmark q21's CASE over lower(channel) IN (...)
// and REGEXP_EXTRACT.
func BenchmarkStringQ21(b *testing.B) {
	benchProjection(b, map[string]string{
		"channel_id": `CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
			WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
			ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END`,
		"keep": "lower(channel) IN ('apple', 'google', 'facebook', 'baidu') OR REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL",
	}, []string{"channel_id", "keep"})
}

// BenchmarkQ14 is nexmark q14's computed columns and filter.
func BenchmarkQ14(b *testing.B) {
	benchProjection(b, map[string]string{
		"bidTimeType": "CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime' WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime' ELSE 'otherTime' END",
		"c_counts":    "count_char(extra, 'c')",
		"keep":        "0.908 * price > 1000000 AND 0.908 * price < 50000000",
	}, []string{"bidTimeType", "c_counts", "keep"})
}

// poolAllocator recycles freed buffers by size, standing in for the
// buffer pooling a long-running worker has; it shows the cost of the
// expression kernels without the Go heap's large-object churn.
type poolAllocator struct {
	mu   sync.Mutex
	free map[int][][]byte
}

func (p *poolAllocator) Allocate(size int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.free[size]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[size] = l[:len(l)-1]
		return b
	}
	return make([]byte, size)
}

func (p *poolAllocator) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

func (p *poolAllocator) Free(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = map[int][][]byte{}
	}
	p.free[len(b)] = append(p.free[len(b)], b[:len(b):len(b)])
}

// BenchmarkQ1ProjectPooled is Q1 with recycled buffers.
func BenchmarkQ1ProjectPooled(b *testing.B) {
	mem := &poolAllocator{}
	batch := bidBatch(memory.NewGoAllocator(), 4096, 1)
	defer batch.Release()
	p, err := NewProjection(bidSchema, []NamedExpr{
		{Name: "auction", Expr: MustCompile("auction", bidSchema)},
		{Name: "bidder", Expr: MustCompile("bidder", bidSchema)},
		{Name: "price", Expr: MustCompile("0.908 * price", bidSchema)},
		{Name: "dateTime", Expr: MustCompile("dateTime", bidSchema)},
		{Name: "extra", Expr: MustCompile("extra", bidSchema)},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	report := startRows(b)
	for range b.N {
		out, err := p.Apply(ctx, mem, batch)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	report(4096)
}

// BenchmarkQ2FilterPooled is Q2 with recycled buffers.
func BenchmarkQ2FilterPooled(b *testing.B) {
	mem := &poolAllocator{}
	batch := bidBatch(memory.NewGoAllocator(), 4096, 1)
	defer batch.Release()
	pred := MustCompile("MOD(auction, 123) = 0", bidSchema)
	ctx := context.Background()
	report := startRows(b)
	for range b.N {
		out, err := Filter(ctx, mem, pred, batch)
		if err != nil {
			b.Fatal(err)
		}
		out.Release()
	}
	report(4096)
}
