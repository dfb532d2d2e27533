package window

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
)

func TestWindowKeyOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		a := Window{rng.Int64() - math.MaxInt64/2, rng.Int64() - math.MaxInt64/2}
		b := Window{rng.Int64N(100) - 50 + a.Start, rng.Int64N(100) - 50 + a.End}
		ka, kb := a.AppendKey(nil), b.AppendKey(nil)
		want := 0
		switch {
		case a.Start < b.Start || a.Start == b.Start && a.End < b.End:
			want = -1
		case a != b:
			want = 1
		}
		if bytes.Compare(ka, kb) != want {
			t.Fatalf("%v vs %v: byte order %d, want %d", a, b, bytes.Compare(ka, kb), want)
		}
		back, err := DecodeKey(ka)
		if err != nil || back != a {
			t.Fatalf("DecodeKey(%v) = %v, %v", a, back, err)
		}
	}
	if _, err := DecodeKey([]byte{1, 2}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short key: %v", err)
	}
	if k, _ := DecodeKey(Global.AppendKey(nil)); k != Global {
		t.Fatal("global window key")
	}
}

func TestTriggerStateEncoding(t *testing.T) {
	for _, s := range []TriggerState{{}, {Count: 7}, {NextFire: -5, HasNext: true}, {Count: math.MaxInt64, NextFire: math.MinInt64, HasNext: true}} {
		b, _ := s.AppendBinary(nil)
		if len(b) != TriggerStateSize {
			t.Fatalf("%+v: %d bytes", s, len(b))
		}
		var back TriggerState
		if err := back.UnmarshalBinary(b); err != nil || back != s {
			t.Fatalf("%+v: round trip %+v, %v", s, back, err)
		}
	}
	var s TriggerState
	if err := s.UnmarshalBinary([]byte{2, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt: %v", err)
	}
}

func TestSessionSetCorrupt(t *testing.T) {
	var s SessionSet
	var m Merge
	s.Add(Window{0, 10}, &m)
	s.Add(Window{20, 30}, &m)
	enc, _ := s.AppendBinary(nil)
	for _, bad := range [][]byte{nil, enc[:len(enc)-1], append(slices.Clone(enc), 0)} {
		var back SessionSet
		if err := back.UnmarshalBinary(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("UnmarshalBinary(%d bytes) = %v", len(bad), err)
		}
	}
	// Overlapping sessions are rejected.
	overlap := slices.Clone(enc)
	overlap[1+32+7] = 5 // second window starts at 5
	var back SessionSet
	if err := back.UnmarshalBinary(overlap); !errors.Is(err, ErrCorrupt) {
		t.Errorf("overlapping sessions: %v", err)
	}
}

func TestTimesMillis(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	want := []int64{-1501, -1, 0, 1, 1234567}
	for _, unit := range []arrow.TimeUnit{arrow.Second, arrow.Millisecond, arrow.Microsecond, arrow.Nanosecond} {
		b := array.NewTimestampBuilder(mem, &arrow.TimestampType{Unit: unit})
		mult := map[arrow.TimeUnit]int64{arrow.Second: 1, arrow.Millisecond: 1, arrow.Microsecond: 1000, arrow.Nanosecond: 1000_000}[unit]
		exp := make([]int64, len(want))
		for i, ms := range want {
			if unit == arrow.Second {
				b.Append(arrow.Timestamp(ms))
				exp[i] = ms * 1000
			} else {
				b.Append(arrow.Timestamp(ms*mult + mult/2)) // rounds down
				exp[i] = ms
			}
		}
		arr := b.NewArray()
		got, err := TimesMillis(arr, nil)
		if err != nil || !slices.Equal(got, exp) {
			t.Errorf("%v: %v, %v; want %v", unit, got, err, exp)
		}
		arr.Release()
		b.Release()
	}
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{1, 2}, nil)
	ib.AppendNull()
	arr := ib.NewArray()
	if _, err := TimesMillis(arr, nil); !errors.Is(err, ErrNullTimestamp) || err.Error() != "window: null timestamp: 1 null rows, first at row 2" {
		t.Errorf("null time: %v", err)
	}
	arr.Release()
	ib.Release()
	sb := array.NewStringBuilder(mem)
	sb.Append("x")
	arr = sb.NewArray()
	if _, err := TimesMillis(arr, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("string time: %v", err)
	}
	arr.Release()
	sb.Release()
}

func TestEvictors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fb := array.NewFloat64Builder(mem)
	fb.AppendValues([]float64{1, 9, 4, 7, 5}, nil)
	col := fb.NewArray()
	fb.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Float64}}, nil)
	rows := array.NewRecordBatch(schema, []arrow.Array{col}, 5)
	col.Release()
	defer rows.Release()
	in := &EvictInput{Window: Window{0, 10}, Rows: rows, Times: []int64{5, 1, 9, 3, 7}}
	delta := &DeltaEvictor{Threshold: 3, Delta: func(b arrow.RecordBatch, last int, out []float64) error {
		v := b.Column(0).(*array.Float64).Float64Values()
		for i := range out {
			out[i] = math.Abs(v[i] - v[last])
		}
		return nil
	}}
	for _, c := range []struct {
		ev            Evictor
		before, after []int32
	}{
		{CountEvictor{Max: 2}, []int32{3, 4}, []int32{0, 1, 2, 3, 4}},
		{CountEvictor{Max: 9, After: true}, []int32{0, 1, 2, 3, 4}, []int32{0, 1, 2, 3, 4}},
		{CountEvictor{Max: 0, After: true}, []int32{0, 1, 2, 3, 4}, nil},
		{TimeEvictor{Size: 4}, []int32{2, 4}, []int32{0, 1, 2, 3, 4}},
		{TimeEvictor{Size: 2, After: true}, []int32{0, 1, 2, 3, 4}, []int32{2}},
		{delta, []int32{2, 3, 4}, []int32{0, 1, 2, 3, 4}}, // |v-5| < 3
	} {
		b, err := c.ev.EvictBefore(in, nil)
		a, err2 := c.ev.EvictAfter(in, nil)
		if err != nil || err2 != nil || !slices.Equal(b, c.before) || !slices.Equal(a, c.after) {
			t.Errorf("%v: before %v after %v (%v %v), want %v %v", c.ev, b, a, err, err2, c.before, c.after)
		}
	}
	// Processing time: no times, the time evictor keeps everything.
	if k, _ := (TimeEvictor{Size: 1}).EvictBefore(&EvictInput{Rows: rows}, nil); len(k) != 5 {
		t.Errorf("time evictor without times kept %v", k)
	}
	delta.Delta = func(arrow.RecordBatch, int, []float64) error { return errors.New("boom") }
	if _, err := delta.EvictBefore(in, nil); err == nil {
		t.Error("delta function error lost")
	}
}

func TestGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	var g Groups
	for range 200 {
		n := rng.IntN(100)
		keys := make([]uint32, n)
		starts := make([]int64, n)
		status := make([]Status, n)
		for i := range n {
			keys[i], starts[i], status[i] = uint32(rng.IntN(3)), int64(rng.IntN(4))*10, Status(rng.IntN(4))
			if rng.IntN(10) == 0 {
				starts[i] = NoSlice
			}
		}
		g.Build(keys, starts, status)
		seen := make([]bool, n)
		for gi := range g.Len() {
			rows := g.Group(gi)
			if len(rows) == 0 || !slices.IsSorted(rows) {
				t.Fatalf("group %d rows %v", gi, rows)
			}
			for _, r := range rows {
				if keys[r] != g.Keys[gi] || starts[r] != g.Starts[gi] || seen[r] {
					t.Fatalf("row %d misplaced in group (%d, %d)", r, g.Keys[gi], g.Starts[gi])
				}
				seen[r] = true
			}
		}
		for _, r := range g.Excluded {
			if seen[r] {
				t.Fatalf("row %d both grouped and excluded", r)
			}
			seen[r] = true
			if starts[r] != NoSlice && status[r] != TooLate && status[r] != NoWindow {
				t.Fatalf("row %d excluded with status %v", r, status[r])
			}
		}
		for r, s := range seen {
			if !s {
				t.Fatalf("row %d lost", r)
			}
		}
	}
}

func TestResultBuilderAndProcess(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sum, _ := NewAggFunc(Sum, arrow.PrimitiveTypes.Int64)
	mx, _ := NewAggFunc(Max, arrow.BinaryTypes.String)
	rb, err := NewResultBuilder(mem, []*AggFunc{sum, mx}, []string{"total", "top"})
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Release()
	if _, err := NewResultBuilder(mem, []*AggFunc{sum}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("names mismatch: %v", err)
	}
	a, b := sum.NewAccumulator(), mx.NewAccumulator()
	if err := rb.Append(Window{0, 10}, []*Accumulator{a, b}); err != nil { // empty: NULLs
		t.Fatal(err)
	}
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{4, 5}, nil)
	ints := ib.NewArray()
	ib.Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"a", "c"}, nil)
	strs := sb.NewArray()
	sb.Release()
	_ = a.Add(ints, nil, []int32{0, 1})
	_ = b.Add(strs, nil, []int32{0, 1})
	ints.Release()
	strs.Release()
	if err := rb.Append(Window{10, 20}, []*Accumulator{a, b}); err != nil {
		t.Fatal(err)
	}
	out := rb.NewBatch()
	var got []string
	fn := AggregateProcessFuncOf(func(ctx context.Context, m *Meta, result arrow.RecordBatch, out compute.Emitter) error {
		for i := range int(result.NumRows()) {
			got = append(got, result.Column(2).ValueStr(i)+"/"+result.Column(3).ValueStr(i))
		}
		return nil
	})
	if err := fn.ProcessAggregate(context.Background(), &Meta{Window: Window{0, 20}}, out, nil); err != nil {
		t.Fatal(err)
	}
	out.Release()
	if !slices.Equal(got, []string{"(null)/(null)", "9/c"}) {
		t.Fatalf("results %v", got)
	}
	if rb.Schema().Field(0).Name != "window_start" || rb.Schema().Field(3).Name != "top" {
		t.Fatalf("schema %v", rb.Schema())
	}
}
