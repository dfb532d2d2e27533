package window

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

const benchRows = 4096

// benchTimes is a Nexmark-like batch: ~1 event per ms, up to 4 s out of
// order.
func benchTimes() []int64 {
	rng := rand.New(rand.NewPCG(1, 1))
	t := make([]int64, benchRows)
	for i := range t {
		t[i] = 1_700_000_000_000 + int64(i)/4 + rng.Int64N(4000)
	}
	return t
}

func benchAssign(b *testing.B, s *Slicer, times []int64) {
	dst := make([]int64, len(times))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst, _ = s.AssignSlices(times, dst)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(times)), "ns/row")
}

func inOrder(times []int64) []int64 {
	out := make([]int64, len(times))
	for i := range out {
		out[i] = 1_700_000_000_000 + int64(i)/4
	}
	return out
}

func BenchmarkAssignTumbling(b *testing.B) {
	s, _ := NewTumbling(10*time.Second, 0)
	b.Run("out-of-order", func(b *testing.B) { benchAssign(b, s, benchTimes()) })
	b.Run("in-order", func(b *testing.B) { benchAssign(b, s, inOrder(benchTimes())) })
}

func BenchmarkAssignSliding(b *testing.B) {
	s, _ := NewSliding(10*time.Second, 2*time.Second, 0) // Nexmark q5
	b.Run("out-of-order", func(b *testing.B) { benchAssign(b, s, benchTimes()) })
	b.Run("in-order", func(b *testing.B) { benchAssign(b, s, inOrder(benchTimes())) })
	g, _ := NewSliding(10*time.Second, 3*time.Second, 0) // slices of 1 s
	b.Run("gcd-1s", func(b *testing.B) { benchAssign(b, g, benchTimes()) })
}

// BenchmarkAssignAndGroup is the operator's per-batch path up to state
// access: time column to millis, slices, lateness, grouping by (key, slice).
func BenchmarkAssignAndGroup(b *testing.B) {
	mem := memory.NewGoAllocator()
	tb := array.NewTimestampBuilder(mem, arrow.FixedWidthTypes.Timestamp_ms.(*arrow.TimestampType))
	for _, t := range benchTimes() {
		tb.Append(arrow.Timestamp(t))
	}
	col := tb.NewArray()
	defer col.Release()
	rng := rand.New(rand.NewPCG(2, 2))
	keys := make([]uint32, benchRows)
	for i := range keys {
		keys[i] = uint32(rng.IntN(1000))
	}
	s, _ := NewSliding(10*time.Second, 2*time.Second, 0)
	var (
		slices []int64
		status []Status
		g      Groups
	)
	wm := int64(1_700_000_000_000 - 5000)
	b.ReportAllocs()
	for b.Loop() {
		times, _ := TimesMillis(col, nil)
		slices, _ = s.AssignSlices(times, slices)
		status, _ = s.Classify(slices, wm, 0, status)
		g.Build(keys, slices, status)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
}

func BenchmarkAccumulatorAdd(b *testing.B) {
	mem := memory.NewGoAllocator()
	ib := array.NewInt64Builder(mem)
	for i := range benchRows {
		ib.Append(int64(i))
	}
	col := ib.NewArray()
	defer col.Release()
	rows := make([]int32, benchRows)
	for i := range rows {
		rows[i] = int32(i)
	}
	for _, k := range []AggKind{Count, Sum, Max, Avg, CountDistinct} {
		f, _ := NewAggFunc(k, arrow.PrimitiveTypes.Int64)
		b.Run(k.String(), func(b *testing.B) {
			acc := f.NewAccumulator()
			b.ReportAllocs()
			for b.Loop() {
				acc.Reset()
				_ = acc.Add(col, nil, rows)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRows), "ns/row")
		})
	}
}
