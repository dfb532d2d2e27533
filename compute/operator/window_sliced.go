package operator

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/compute/window"
)

// Tumbling and sliding windows (modeSliced).
//
// State: one accumulator set per (key, slice), slices of width gcd(size,
// slide) (a tumbling window is its own slice), so a row costs one state
// update whatever size/slide is. A window is composed from its slices when
// it fires.
//
// Timers: a new (key, slice) registers a fire timer for each of its windows
// that has not fired yet (size/slide registrations per new slice, most of
// them already registered by the slice before; none per row). Without allowed lateness a window's first-slide slices are
// dropped when it fires (no later window needs them); with allowed lateness
// a cleanup timer at the slice's last window's cleanup time drops them.

// sliceItem is one window to compose from its slices.
type sliceItem struct {
	key   state.Key
	w     window.Window
	late  bool // a re-fire caused by late rows
	fire  bool // from a fire timer: chain and drop
	first int  // index of its first slice lookup
	n     int  // number of slice lookups
}

func (o *WindowOperator) processSliced(ctx context.Context, b arrow.RecordBatch, out compute.Emitter) error {
	s := o.slicer
	slices, _ := s.AssignSlices(o.times, o.sliceBuf)
	o.sliceBuf = slices
	wm := o.wm
	if o.proc {
		wm = window.NoWatermark
	}
	status, _ := s.Classify(slices, wm, o.late, o.statusBuf)
	o.statusBuf = status
	g := &o.groups
	g.Build(o.keyIDs[:len(slices)], slices, status)
	o.lateRows = o.lateRows[:0]
	for _, r := range g.Excluded {
		if status[r] == window.TooLate {
			o.lateRows = append(o.lateRows, r)
		} else {
			o.metrics.NoWindowRows++
		}
	}
	if err := o.emitLate(ctx, b, o.lateRows, out); err != nil {
		return err
	}
	ng := g.Len()
	if ng == 0 {
		return nil
	}
	o.gkeys.Reset()
	o.gns = o.gns[:0]
	if cap(o.nsArena) < ng*window.KeySize {
		o.nsArena = make([]byte, 0, 2*ng*window.KeySize)
	}
	o.nsArena = o.nsArena[:0]
	for i := 0; i < ng; i++ {
		o.gkeys.Append(o.rowKey(o.keyFirst[g.Keys[i]]))
		o.gns = append(o.gns, o.sliceNS(g.Starts[i]))
	}
	if err := o.readSlots(ctx); err != nil {
		return err
	}
	for i := 0; i < ng; i++ {
		accs := o.slot(i)
		if !o.found[i] {
			resetAccs(accs)
		}
		if err := o.addRows(accs, g.Group(i)); err != nil {
			return err
		}
	}
	if err := o.writeSlots(ng); err != nil {
		return err
	}
	// Timers of new slices, and re-fires of windows that late rows changed.
	d := o.timeDomain()
	o.refire = o.refire[:0]
	o.rkeys.Reset()
	clear(o.refireSeen)
	for i := 0; i < ng; i++ {
		start := g.Starts[i]
		k := o.gkeys.At(i)
		r := s.WindowsOfSlice(start)
		if !o.found[i] {
			for j := 0; j < r.N; j++ {
				w := r.At(j)
				if o.proc || window.ClassifyWindow(w, o.wm, o.late) == window.OnTime {
					if err := o.ts.Register(d, k, o.timerNS(tnFire, w), msTime(w.MaxTimestamp())); err != nil {
						return err
					}
				}
			}
			if o.late > 0 {
				last := r.Last()
				if err := o.ts.Register(d, k, o.timerNS(tnCleanup, last), msTime(window.CleanupTime(last, o.late))); err != nil {
					return err
				}
			}
		}
		if status[g.Group(i)[0]] != window.Late {
			continue
		}
		for j := 0; j < r.N; j++ {
			w := r.At(j)
			if window.ClassifyWindow(w, o.wm, o.late) != window.Late {
				continue
			}
			rk := refireKey{key: g.Keys[i], end: w.End}
			if _, dup := o.refireSeen[rk]; dup {
				continue
			}
			o.refireSeen[rk] = struct{}{}
			o.rkeys.Append(k)
			o.refire = append(o.refire, sliceItem{w: w, late: true})
		}
	}
	if len(o.refire) == 0 {
		return nil
	}
	for i := range o.refire {
		o.refire[i].key = o.rkeys.At(i) // o.gkeys is reused by composeSliced
	}
	if err := o.composeSliced(ctx, o.refire); err != nil {
		return err
	}
	return o.results.flush(ctx, out)
}

type refireKey struct {
	key uint32
	end int64
}

// sliceNS appends slice start's namespace to the arena and returns it.
func (o *WindowOperator) sliceNS(start int64) []byte {
	at := len(o.nsArena)
	o.nsArena = o.slicer.Slice(start).AppendKey(o.nsArena)
	return o.nsArena[at:len(o.nsArena):len(o.nsArena)]
}

// readSlots reads the accumulators of (o.gkeys, o.gns) into slots with one
// MultiGet; o.found says which exist.
func (o *WindowOperator) readSlots(ctx context.Context) error {
	n := o.gkeys.Len()
	o.found = grow(o.found, n)
	clear(o.found)
	o.slot(n - 1)
	var derr error
	err := o.acc.MultiGet(ctx, &o.gkeys, state.RowNamespaces(o.gns), func(i int, v []byte) {
		o.found[i] = true
		if e := decodeAccs(v, o.pool[i*o.na:(i+1)*o.na]); e != nil && derr == nil {
			derr = e
		}
	})
	if err != nil {
		return err
	}
	return derr
}

// writeSlots writes slots [0, n) back to (o.gkeys, o.gns).
func (o *WindowOperator) writeSlots(n int) error {
	var err error
	o.acc.PutBatch(&o.gkeys, state.RowNamespaces(o.gns[:n]), func(i int) ([]byte, bool) {
		if err != nil {
			return nil, false
		}
		o.valBuf, err = encodeAccs(o.valBuf[:0], o.pool[i*o.na:(i+1)*o.na])
		return o.valBuf, err == nil
	})
	return err
}

// fireSliced handles the timers of one firing round: first the fires (in
// timer order), then the cleanups, so that a window whose fire and cleanup
// are due in the same round still fires with its state.
func (o *WindowOperator) fireSliced(ctx context.Context, out compute.Emitter) error {
	o.items = o.items[:0]
	for _, f := range o.fired {
		if f.kind == tnFire {
			o.items = append(o.items, sliceItem{key: o.fkeys.At(f.key), w: f.w, fire: true})
		}
	}
	if len(o.items) > 0 {
		if err := o.composeSliced(ctx, o.items); err != nil {
			return err
		}
	}
	for _, f := range o.fired {
		if f.kind != tnCleanup {
			continue
		}
		// Drop the slices whose last window is f.w.
		k := o.fkeys.At(f.key)
		sl := o.slicer.SlicesOfWindow(f.w)
		for j := 0; j < sl.N; j++ {
			st := sl.At(j).Start
			if st >= f.w.Start+o.slicer.Slide() {
				break
			}
			o.nsBuf = o.slicer.Slice(st).AppendKey(o.nsBuf[:0])
			o.acc.Delete(k, o.nsBuf)
		}
	}
	return o.results.flush(ctx, out)
}

// composeSliced reads the slices of every item's window with one MultiGet,
// merges them and appends the results. For items from fire timers it then
// registers the next window's timer and drops slices no window needs.
func (o *WindowOperator) composeSliced(ctx context.Context, items []sliceItem) error {
	s := o.slicer
	o.gkeys.Reset()
	o.gns = o.gns[:0]
	o.nsArena = o.nsArena[:0]
	for i := range items {
		it := &items[i]
		sl := s.SlicesOfWindow(it.w)
		it.first, it.n = o.gkeys.Len(), sl.N
		for j := 0; j < sl.N; j++ {
			o.gkeys.Append(it.key)
			o.gns = append(o.gns, o.sliceNS(sl.At(j).Start))
		}
	}
	if o.gkeys.Len() == 0 {
		return nil
	}
	if err := o.readSlots(ctx); err != nil {
		return err
	}
	slide := s.Slide()
	for i := range items {
		it := &items[i]
		var res []*window.Accumulator
		nfound := 0
		for j := it.first; j < it.first+it.n; j++ {
			if !o.found[j] {
				continue
			}
			nfound++
			if res == nil {
				res = o.pool[j*o.na : (j+1)*o.na]
				continue
			}
			if nfound == 2 {
				resetAccs(o.tmp)
				for a := range o.tmp {
					if err := o.tmp[a].Merge(res[a]); err != nil {
						return err
					}
				}
				res = o.tmp
			}
			for a := range res {
				if err := res[a].Merge(o.pool[j*o.na+a]); err != nil {
					return err
				}
			}
		}
		if res == nil {
			continue // no data (dropped or never written)
		}
		if err := o.results.add(it.key, it.w, res, it.late); err != nil {
			return err
		}
		if !it.fire {
			continue
		}
		if o.late == 0 {
			for j := it.first; j < it.first+it.n; j++ {
				if o.found[j] && int64(j-it.first)*s.SliceWidth() < slide {
					o.acc.Delete(it.key, o.gns[j])
				}
			}
		}
	}
	return nil
}
