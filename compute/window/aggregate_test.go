package window

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randColumn builds a random column of dt with about 1 in 5 NULLs (or none).
func randColumn(rng *rand.Rand, mem memory.Allocator, dt arrow.DataType, n int) arrow.Array {
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	nulls := rng.IntN(3) != 0
	for range n {
		if nulls && rng.IntN(5) == 0 {
			b.AppendNull()
			continue
		}
		switch b := b.(type) {
		case *array.Int64Builder:
			b.Append(rng.Int64N(50) - 25)
		case *array.TimestampBuilder:
			b.Append(arrow.Timestamp(rng.Int64N(1e6)))
		case *array.Float64Builder:
			switch rng.IntN(20) {
			case 0:
				b.Append(math.NaN())
			case 1:
				b.Append(math.Copysign(0, -1))
			default:
				b.Append(float64(rng.IntN(40)-20) / 4)
			}
		case *array.StringBuilder:
			b.Append(fmt.Sprintf("s%d", rng.IntN(30)))
		}
	}
	return b.NewArray()
}

// modelValue is a result computed by plain Go: null, or an int64, float64 or
// string.
type modelValue struct {
	null bool
	v    any
}

func cell(arr arrow.Array, i int) any {
	switch a := arr.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	}
	panic("type")
}

func less(a, b any) bool {
	switch a := a.(type) {
	case int64:
		return a < b.(int64)
	case float64:
		return floatLess(a, b.(float64))
	case string:
		return a < b.(string)
	}
	panic("type")
}

func canon(v any) any {
	if f, ok := v.(float64); ok {
		return floatKey(f)
	}
	return v
}

// model computes kind over the rows of col in sequence order.
func model(kind AggKind, col arrow.Array, times []int64, seq []int32) modelValue {
	var vals []any
	var ts []int64
	for _, r := range seq {
		if col != nil && col.IsNull(int(r)) {
			continue
		}
		if col != nil {
			vals = append(vals, cell(col, int(r)))
		} else {
			vals = append(vals, nil)
		}
		if times != nil {
			ts = append(ts, times[r])
		}
	}
	switch kind {
	case Count:
		return modelValue{v: int64(len(seq))}
	case CountNonNull:
		return modelValue{v: int64(len(vals))}
	case CountDistinct:
		set := map[any]bool{}
		for _, v := range vals {
			set[canon(v)] = true
		}
		return modelValue{v: int64(len(set))}
	}
	if len(vals) == 0 {
		return modelValue{null: true}
	}
	switch kind {
	case Sum, Avg:
		var si int64
		var sf float64
		for _, v := range vals {
			switch v := v.(type) {
			case int64:
				si += v
				sf += float64(v)
			case float64:
				sf += v
			}
		}
		if kind == Avg {
			return modelValue{v: sf / float64(len(vals))}
		}
		if _, ok := vals[0].(int64); ok {
			return modelValue{v: si}
		}
		return modelValue{v: sf}
	case Min, Max:
		best := vals[0]
		for _, v := range vals[1:] {
			if kind == Min && less(v, best) || kind == Max && less(best, v) {
				best = v
			}
		}
		return modelValue{v: best}
	case First, Last:
		bi := 0
		for i := range vals {
			if times == nil {
				if kind == Last {
					bi = i
				}
				continue
			}
			if kind == First && ts[i] < ts[bi] || kind == Last && ts[i] >= ts[bi] {
				bi = i
			}
		}
		return modelValue{v: vals[bi]}
	}
	panic("kind")
}

func sameValue(a, b any) bool {
	fa, ok1 := a.(float64)
	fb, ok2 := b.(float64)
	if ok1 && ok2 {
		if math.IsNaN(fa) || math.IsNaN(fb) {
			return math.IsNaN(fa) && math.IsNaN(fb)
		}
		return fa == fb || math.Abs(fa-fb) <= 1e-9*math.Max(1, math.Abs(fb))
	}
	return a == b
}

// TestAggregatesMatchModel feeds random columns with NULLs to every
// aggregate, split into parts that are encoded, decoded and merged in random
// tree shapes, and compares the result with a plain Go computation.
func TestAggregatesMatchModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	types := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64,
		arrow.FixedWidthTypes.Timestamp_ms, arrow.BinaryTypes.String}
	kinds := []AggKind{Count, CountNonNull, Sum, Min, Max, Avg, First, Last, CountDistinct}
	checked := 0
	for iter := 0; iter < 400; iter++ {
		dt := types[rng.IntN(len(types))]
		n := rng.IntN(60)
		col := randColumn(rng, mem, dt, n)
		var times []int64
		if rng.IntN(2) == 0 {
			times = make([]int64, n)
			for i := range times {
				times[i] = rng.Int64N(10) // many ties
			}
		}
		// A random arrival sequence over a random subset of rows.
		perm := rng.Perm(n)
		seq := make([]int32, rng.IntN(n+1))
		for i := range seq {
			seq[i] = int32(perm[i])
		}
		for _, kind := range kinds {
			f, err := NewAggFunc(kind, dt)
			if err != nil {
				var te *AggTypeError
				if !errors.As(err, &te) || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), kind.String()) {
					t.Fatalf("%s(%s): error %v", kind, dt, err)
				}
				continue
			}
			var in arrow.Array = col
			if kind == Count && rng.IntN(2) == 0 {
				in = nil
			}
			// Split seq into parts; each part becomes an encoded accumulator.
			var cuts []int
			for i := 1; i < len(seq); i++ {
				if rng.IntN(4) == 0 {
					cuts = append(cuts, i)
				}
			}
			cuts = append(append([]int{0}, cuts...), len(seq))
			parts := make([][]byte, len(cuts)-1)
			for p := range parts {
				acc := f.NewAccumulator()
				rows := seq[cuts[p]:cuts[p+1]]
				// Add a part in one or two calls.
				h := rng.IntN(len(rows) + 1)
				if err := acc.Add(in, times, rows[:h]); err != nil {
					t.Fatal(err)
				}
				if err := acc.Add(in, times, rows[h:]); err != nil {
					t.Fatal(err)
				}
				parts[p], _ = acc.AppendBinary(nil)
			}
			// Merge parts [lo, hi) in a random tree shape.
			var merge func(lo, hi int) *Accumulator
			merge = func(lo, hi int) *Accumulator {
				if hi-lo == 1 {
					a := f.NewAccumulator()
					if err := a.UnmarshalBinary(parts[lo]); err != nil {
						t.Fatal(err)
					}
					return a
				}
				mid := lo + 1 + rng.IntN(hi-lo-1)
				a, b := merge(lo, mid), merge(mid, hi)
				if err := a.Merge(b); err != nil {
					t.Fatal(err)
				}
				return a
			}
			acc := merge(0, len(parts))
			b := array.NewBuilder(mem, f.ResultType())
			if err := acc.AppendResult(b); err != nil {
				t.Fatal(err)
			}
			res := b.NewArray()
			b.Release()
			want := model(kind, col, times, seq)
			if want.null != res.IsNull(0) || !want.null && !sameValue(cell(res, 0), want.v) {
				var got any = "NULL"
				if !res.IsNull(0) {
					got = cell(res, 0)
				}
				t.Fatalf("%s(%s) over %d rows in %d parts (times %v): got %v, want %+v", kind, dt, len(seq), len(parts), times != nil, got, want)
			}
			res.Release()
			checked++
		}
		col.Release()
	}
	if checked < 1000 {
		t.Fatalf("only %d aggregate checks ran", checked)
	}
}

func TestAggregateErrors(t *testing.T) {
	for _, c := range []struct {
		kind AggKind
		dt   arrow.DataType
		want string
	}{
		{Sum, arrow.BinaryTypes.String, "window: aggregate sum does not support input type utf8"},
		{Avg, arrow.FixedWidthTypes.Timestamp_ms, "window: aggregate avg does not support input type timestamp[ms, tz=UTC]"},
		{Min, arrow.FixedWidthTypes.Boolean, "window: aggregate min does not support input type bool"},
		{CountNonNull, nil, "window: aggregate count_non_null does not support input type <nil>"},
		{CountDistinct, arrow.PrimitiveTypes.Int32, "window: aggregate count_distinct does not support input type int32"},
	} {
		_, err := NewAggFunc(c.kind, c.dt)
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewAggFunc(%s, %v) = %v, want %q", c.kind, c.dt, err, c.want)
		}
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	f, _ := NewAggFunc(Sum, arrow.PrimitiveTypes.Int64)
	col := randColumn(rand.New(rand.NewPCG(1, 1)), mem, arrow.PrimitiveTypes.Float64, 3)
	defer col.Release()
	if err := f.NewAccumulator().Add(col, nil, []int32{0}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("adding float64 to sum(int64): %v", err)
	}
	g, _ := NewAggFunc(Max, arrow.PrimitiveTypes.Int64)
	if err := f.NewAccumulator().Merge(g.NewAccumulator()); err == nil {
		t.Error("merging max into sum succeeded")
	}
	if err := f.NewAccumulator().UnmarshalBinary([]byte{byte(Sum), 1, 2}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt sum: %v", err)
	}
	if err := f.NewAccumulator().UnmarshalBinary([]byte{byte(Max), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("max encoding decoded as sum: %v", err)
	}
}
