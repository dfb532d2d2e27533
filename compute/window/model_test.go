package window

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func randSlicer(t *testing.T, rng *rand.Rand) *Slicer {
	unit := time.Duration(1+rng.IntN(3)) * time.Millisecond
	slide := unit * time.Duration(1+rng.IntN(6))
	size := unit * time.Duration(1+rng.IntN(12))
	if rng.IntN(4) == 0 {
		size = slide // tumbling
	}
	offset := time.Duration(rng.Int64N(int64(slide/time.Millisecond))) * time.Millisecond
	if rng.IntN(2) == 0 {
		offset = -offset
	}
	s, err := NewSliding(size, slide, offset)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// naiveWindows is the trivially correct assignment: every window
// [k*slide+offset, +size) that contains t, found by scanning.
func naiveWindows(s *Slicer, t int64) []Window {
	var out []Window
	for st := t - s.Size() - 2*s.Slide(); st <= t; st++ {
		if ((st-s.Offset())%s.Slide()+s.Slide())%s.Slide() == 0 && st+s.Size() > t {
			out = append(out, Window{st, st + s.Size()})
		}
	}
	return out
}

// TestSlicingMatchesNaive checks, on random out-of-order input, that
// aggregating per slice and composing windows from slices yields the same
// per-(key, window) aggregates as assigning every row to all its windows.
func TestSlicingMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sumF, _ := NewAggFunc(Sum, arrow.PrimitiveTypes.Int64)
	maxF, _ := NewAggFunc(Max, arrow.PrimitiveTypes.Int64)
	cntF, _ := NewAggFunc(Count, nil)
	for iter := 0; iter < 300; iter++ {
		s := randSlicer(t, rng)
		// Checks of the slicer's helpers against scans.
		for range 50 {
			tm := rng.Int64N(200) - 100
			want := naiveWindows(s, tm)
			got := slices.Collect(s.WindowsOf(tm).All())
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("%+v: WindowsOf(%d) = %v, want %v", s, tm, got, want)
			}
			sl, ok := s.SliceOf(tm)
			if ok != (len(want) > 0) {
				t.Fatalf("%+v: SliceOf(%d) ok=%v with windows %v", s, tm, ok, want)
			}
			if ok {
				if !sl.Contains(tm) {
					t.Fatalf("%+v: slice %v does not contain %d", s, sl, tm)
				}
				for _, w := range want {
					if sl.Start < w.Start || sl.End > w.End {
						t.Fatalf("%+v: slice %v not inside window %v", s, sl, w)
					}
				}
				if got := slices.Collect(s.WindowsOfSlice(sl.Start).All()); !slices.Equal(got, want) {
					t.Fatalf("%+v: WindowsOfSlice(%v) = %v, want %v", s, sl, got, want)
				}
				if s.LastWindowEnd(sl.Start) != want[len(want)-1].End {
					t.Fatalf("%+v: LastWindowEnd(%v) wrong", s, sl)
				}
			}
			next := s.NextWindowEnd(tm)
			if next <= tm || next-s.Size() != want0Start(s, next) {
				t.Fatalf("%+v: NextWindowEnd(%d) = %d is not a window end", s, tm, next)
			}
			for e := tm + 1; e < next; e++ {
				if want0Start(s, e) == e-s.Size() {
					t.Fatalf("%+v: NextWindowEnd(%d) = %d skips end %d", s, tm, next, e)
				}
			}
		}

		// Random batch: keys, out-of-order times, values with NULLs.
		n := 1 + rng.IntN(300)
		times := make([]int64, n)
		keys := make([]uint32, n)
		vb := array.NewInt64Builder(mem)
		base := rng.Int64N(1000) - 500
		for i := range n {
			times[i] = base + int64(i)/3 + rng.Int64N(40) - 20
			keys[i] = uint32(rng.IntN(4))
			if rng.IntN(8) == 0 {
				vb.AppendNull()
			} else {
				vb.Append(rng.Int64N(1000) - 500)
			}
		}
		vals := vb.NewInt64Array()
		vb.Release()

		type kw struct {
			k uint32
			w Window
		}
		type naiveAgg struct {
			sum, cnt, nonNull int64
			max               int64
		}
		naive := map[kw]*naiveAgg{}
		for i, tm := range times {
			for _, w := range naiveWindows(s, tm) {
				a := naive[kw{keys[i], w}]
				if a == nil {
					a = &naiveAgg{}
					naive[kw{keys[i], w}] = a
				}
				a.cnt++
				if vals.IsValid(i) {
					v := vals.Value(i)
					if a.nonNull == 0 || v > a.max {
						a.max = v
					}
					a.sum += v
					a.nonNull++
				}
			}
		}

		// Sliced: one accumulator triple per (key, slice), fed group by group
		// in two batches, stored encoded as state would be.
		type ks struct {
			k uint32
			s int64
		}
		state := map[ks][3][]byte{}
		var g Groups
		split := rng.IntN(n + 1)
		for _, part := range [][2]int{{0, split}, {split, n}} {
			pt := times[part[0]:part[1]]
			sl, _ := s.AssignSlices(pt, nil)
			g.Build(keys[part[0]:part[1]], sl, nil)
			for gi := range g.Len() {
				rows := slices.Clone(g.Group(gi))
				for j := range rows {
					rows[j] += int32(part[0])
				}
				key := ks{g.Keys[gi], g.Starts[gi]}
				enc := state[key]
				for fi, f := range []*AggFunc{sumF, maxF, cntF} {
					acc := f.NewAccumulator()
					if enc[fi] != nil {
						if err := acc.UnmarshalBinary(enc[fi]); err != nil {
							t.Fatal(err)
						}
					}
					var in arrow.Array = vals
					if f == cntF {
						in = nil
					}
					if err := acc.Add(in, times, rows); err != nil {
						t.Fatal(err)
					}
					enc[fi], _ = acc.AppendBinary(nil)
				}
				state[key] = enc
			}
			for _, r := range g.Excluded {
				if sl[r] != NoSlice {
					t.Fatalf("row %d excluded with slice %d", r, sl[r])
				}
			}
		}
		// Compose every window any slice belongs to.
		got := map[kw][3]*Accumulator{}
		for key := range state {
			for w := range s.WindowsOfSlice(key.s).All() {
				if _, done := got[kw{key.k, w}]; done {
					continue
				}
				accs := [3]*Accumulator{sumF.NewAccumulator(), maxF.NewAccumulator(), cntF.NewAccumulator()}
				for sl := range s.SlicesOfWindow(w).All() {
					enc, ok := state[ks{key.k, sl.Start}]
					if !ok {
						continue
					}
					for fi := range accs {
						part := accs[fi].Func().NewAccumulator()
						if err := part.UnmarshalBinary(enc[fi]); err != nil {
							t.Fatal(err)
						}
						if err := accs[fi].Merge(part); err != nil {
							t.Fatal(err)
						}
					}
				}
				got[kw{key.k, w}] = accs
			}
		}
		if len(got) != len(naive) {
			t.Fatalf("%+v: %d windows from slices, %d naive", s, len(got), len(naive))
		}
		for k, want := range naive {
			a, ok := got[k]
			if !ok {
				t.Fatalf("%+v: window %v key %d missing", s, k.w, k.k)
			}
			if a[2].Int() != want.cnt || a[0].IsNull() != (want.nonNull == 0) ||
				(want.nonNull > 0 && (a[0].Int() != want.sum || a[1].Int() != want.max)) {
				t.Fatalf("%+v: window %v key %d: sum %d max %d count %d, want %+v", s, k.w, k.k, a[0].Int(), a[1].Int(), a[2].Int(), want)
			}
		}
		vals.Release()

		// Lateness classification against the naive windows.
		wm := base + rng.Int64N(200) - 50
		lateness := rng.Int64N(10)
		sl, _ := s.AssignSlices(times, nil)
		status, tooLate := s.Classify(sl, wm, lateness, nil)
		count := 0
		for i, tm := range times {
			ws := naiveWindows(s, tm)
			want := OnTime
			switch {
			case len(ws) == 0:
				want = NoWindow
			case ws[len(ws)-1].MaxTimestamp()+lateness <= wm:
				want = TooLate
				count++
			case ws[0].MaxTimestamp() <= wm:
				want = Late
			}
			if status[i] != want {
				t.Fatalf("%+v: row %d wm %d lateness %d: %v, want %v", s, tm, wm, lateness, status[i], want)
			}
		}
		if count != tooLate {
			t.Fatalf("too late count %d, want %d", tooLate, count)
		}
	}
}

// want0Start returns e-size when e is a window end, else something else.
func want0Start(s *Slicer, e int64) int64 {
	st := e - s.Size()
	if ((st-s.Offset())%s.Slide()+s.Slide())%s.Slide() == 0 {
		return st
	}
	return st + 1
}

// TestSessionsMatchNaive adds random events of random keys, one at a time
// and in collapsed batches, in random order, and checks the sessions and
// their contents (moved as Merge reports) against merging all events from
// scratch.
func TestSessionsMatchNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 500; iter++ {
		gap := 1 + rng.Int64N(10)
		n := 1 + rng.IntN(60)
		events := make([]int64, n)
		for i := range events {
			events[i] = rng.Int64N(200)
		}
		var set SessionSet
		contents := map[Window][]int64{}
		var m Merge
		apply := func(w Window, rows []int64) {
			set.Add(w, &m)
			if m.New != (len(m.Merged) == 0 && m.Window == w && m.State == w) && m.New {
				t.Fatalf("inconsistent merge %+v", m)
			}
			for _, ms := range m.MergedStates {
				if ms == m.State {
					t.Fatalf("merged states contain the target %v", ms)
				}
				contents[m.State] = append(contents[m.State], contents[ms]...)
				delete(contents, ms)
			}
			contents[m.State] = append(contents[m.State], rows...)
		}
		for i := 0; i < n; {
			if rng.IntN(2) == 0 {
				apply(SessionWindow(events[i], gap), events[i:i+1])
				i++
				continue
			}
			j := min(n, i+1+rng.IntN(8))
			idx := make([]int32, j-i)
			for k := range idx {
				idx[k] = int32(i + k)
			}
			for _, r := range CollapseSessions(events, idx, gap, nil) {
				var rows []int64
				for _, x := range r.Rows {
					rows = append(rows, events[x])
				}
				apply(r.Window, rows)
			}
			i = j
			if rng.IntN(5) == 0 { // state round trip
				enc, _ := set.AppendBinary(nil)
				var back SessionSet
				if err := back.UnmarshalBinary(enc); err != nil {
					t.Fatal(err)
				}
				set = back
			}
		}
		// Naive: sort, merge windows that touch or overlap.
		sorted := slices.Sorted(slices.Values(events))
		var want []Window
		for _, e := range sorted {
			w := SessionWindow(e, gap)
			if l := len(want); l > 0 && want[l-1].Intersects(w) {
				want[l-1] = want[l-1].Cover(w)
			} else {
				want = append(want, w)
			}
		}
		var got []Window
		for w, st := range set.All() {
			got = append(got, w)
			var in []int64
			for _, e := range events {
				if w.Contains(e) {
					in = append(in, e)
				}
			}
			c := slices.Sorted(slices.Values(contents[st]))
			slices.Sort(in)
			if !slices.Equal(c, in) {
				t.Fatalf("gap %d events %v: window %v (state %v) holds %v, want %v", gap, events, w, st, c, in)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("gap %d events %v: sessions %v, want %v", gap, events, got, want)
		}
		if len(contents) != len(want) {
			t.Fatalf("%d state namespaces for %d sessions", len(contents), len(want))
		}
	}
}
