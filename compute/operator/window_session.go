package operator

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/compute/window"
)

// Session windows (modeSession).
//
// State per key: its SessionSet (one value, empty namespace) and one
// accumulator set per live session, under the session's state namespace
// (the SessionSet maps each session window to it; merging keeps the
// earliest part's namespace and folds the others into it). Timers per
// (key, session window): a fire timer at its end and, with allowed
// lateness, a cleanup timer; both are deleted when the session merges.
//
// A batch: rows are grouped per key, each key's rows collapse into runs
// (window.CollapseSessions) that are added to the key's set one run at a
// time; the accumulators all runs need are read with one MultiGet, updated,
// and written back with the sets.

type sessionScratch struct {
	kOff   []int32
	kRows  []int32
	kFill  []int32
	sets   []window.SessionSet
	setOK  []bool
	runs   []window.SessionRun
	merge  window.Merge
	ops    []sessOp
	opMrg  []window.Window
	slots  map[slotKey]int
	slotNS []window.Window
	slotK  []uint32
	slotRd []bool // must be read from state
	slotDl []bool // merged away: delete
	lfires []slotKey
	lseen  map[slotKey]bool
	fkIdx  map[string]int
	fsets  []int // per fired timer: index into gkeys/sets
}

// slotKey identifies a (key id, state namespace or session window).
type slotKey struct {
	key uint32
	w   window.Window
}

// sessOp is one run added to a key's sessions: rows go into state, after
// the merged states are folded into it.
type sessOp struct {
	key        uint32
	state      window.Window
	rows       []int32
	mergedFrom int // opMrg[mergedFrom:mergedTo]
	mergedTo   int
}

func (o *WindowOperator) sessionSlot(k uint32, ns window.Window, read bool) int {
	sk := slotKey{k, ns}
	if i, ok := o.slots[sk]; ok {
		return i
	}
	i := len(o.slotNS)
	o.slots[sk] = i
	o.slotNS = append(o.slotNS, ns)
	o.slotK = append(o.slotK, k)
	o.slotRd = append(o.slotRd, read)
	o.slotDl = append(o.slotDl, false)
	return i
}

func (o *WindowOperator) processSession(ctx context.Context, b arrow.RecordBatch, out compute.Emitter) error {
	n := len(o.keyIDs[:b.NumRows()])
	nk := len(o.keyFirst)
	gap := o.cfg.Spec.GapMillis()
	// Rows per key (counting sort, arrival order kept).
	o.kOff = grow(o.kOff, nk+1)
	clear(o.kOff)
	for _, k := range o.keyIDs[:n] {
		o.kOff[k+1]++
	}
	for i := 1; i <= nk; i++ {
		o.kOff[i] += o.kOff[i-1]
	}
	o.kFill = append(o.kFill[:0], o.kOff[:nk]...)
	o.kRows = grow(o.kRows, n)
	for i, k := range o.keyIDs[:n] {
		o.kRows[o.kFill[k]] = int32(i)
		o.kFill[k]++
	}
	// Load the keys' session sets.
	o.gkeys.Reset()
	for k := 0; k < nk; k++ {
		o.gkeys.Append(o.rowKey(o.keyFirst[k]))
	}
	if len(o.sets) < nk {
		o.sets = append(o.sets, make([]window.SessionSet, nk-len(o.sets))...)
	}
	o.setOK = grow(o.setOK, nk)
	for k := 0; k < nk; k++ {
		o.sets[k].Reset()
	}
	var derr error
	err := o.sess.MultiGet(ctx, &o.gkeys, state.Namespaces{}, func(i int, v []byte) {
		if e := o.sets[i].UnmarshalBinary(v); e != nil && derr == nil {
			derr = e
		}
	})
	if err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	// Phase 1: add runs to the sets; timers; plan the state updates.
	if o.slots == nil {
		o.slots, o.lseen = map[slotKey]int{}, map[slotKey]bool{}
	}
	clear(o.slots)
	clear(o.lseen)
	o.slotNS, o.slotK, o.slotRd, o.slotDl = o.slotNS[:0], o.slotK[:0], o.slotRd[:0], o.slotDl[:0]
	o.ops, o.opMrg, o.lfires, o.lateRows = o.ops[:0], o.opMrg[:0], o.lfires[:0], o.lateRows[:0]
	d := o.timeDomain()
	for k := 0; k < nk; k++ {
		set := &o.sets[k]
		key := o.gkeys.At(k)
		o.runs = window.CollapseSessions(o.times, o.kRows[o.kOff[k]:o.kOff[k+1]], gap, o.runs[:0])
		for _, run := range o.runs {
			m := &o.merge
			set.Add(run.Window, m)
			if !o.proc && window.ClassifyWindow(m.Window, o.wm, o.late) == window.TooLate {
				// Every part is past its lateness (live sessions never
				// are: they are cleaned up at that watermark).
				set.Remove(m.Window)
				o.lateRows = append(o.lateRows, run.Rows...)
				continue
			}
			op := sessOp{key: uint32(k), state: m.State, rows: run.Rows, mergedFrom: len(o.opMrg)}
			o.opMrg = append(o.opMrg, m.MergedStates...)
			op.mergedTo = len(o.opMrg)
			o.sessionSlot(uint32(k), m.State, !m.New)
			for _, ms := range m.MergedStates {
				o.sessionSlot(uint32(k), ms, true)
			}
			o.ops = append(o.ops, op)
			changed := m.New || len(m.Merged) > 0
			for _, mw := range m.Merged {
				if err := o.ts.Delete(d, key, o.timerNS(tnFire, mw), msTime(mw.MaxTimestamp())); err != nil {
					return err
				}
				if o.late > 0 {
					if err := o.ts.Delete(d, key, o.timerNS(tnCleanup, mw), msTime(window.CleanupTime(mw, o.late))); err != nil {
						return err
					}
				}
			}
			if !o.proc && m.Window.MaxTimestamp() <= o.wm {
				// Late within the allowed lateness: fire at the end of the
				// batch with the final contents.
				sk := slotKey{uint32(k), m.Window}
				if !o.lseen[sk] {
					o.lseen[sk] = true
					o.lfires = append(o.lfires, sk)
				}
			} else if changed {
				if err := o.ts.Register(d, key, o.timerNS(tnFire, m.Window), msTime(m.Window.MaxTimestamp())); err != nil {
					return err
				}
			}
			if changed && o.late > 0 && !o.proc {
				if err := o.ts.Register(d, key, o.timerNS(tnCleanup, m.Window), msTime(window.CleanupTime(m.Window, o.late))); err != nil {
					return err
				}
			}
		}
	}
	if err := o.emitLate(ctx, b, o.lateRows, out); err != nil {
		return err
	}
	// Phase 2: read the accumulators that exist in state.
	ns := len(o.slotNS)
	if ns > 0 {
		o.slot(ns - 1)
	}
	for i := 0; i < ns; i++ {
		resetAccs(o.slot(i))
	}
	o.gkeys2.Reset()
	o.gns = o.gns[:0]
	o.nsArena = o.nsArena[:0]
	o.rdIdx = o.rdIdx[:0]
	for i := 0; i < ns; i++ {
		if !o.slotRd[i] {
			continue
		}
		o.gkeys2.Append(o.gkeys.At(int(o.slotK[i])))
		at := len(o.nsArena)
		o.nsArena = o.slotNS[i].AppendKey(o.nsArena)
		o.gns = append(o.gns, o.nsArena[at:len(o.nsArena):len(o.nsArena)])
		o.rdIdx = append(o.rdIdx, i)
	}
	if len(o.rdIdx) > 0 {
		err := o.acc.MultiGet(ctx, &o.gkeys2, state.RowNamespaces(o.gns), func(i int, v []byte) {
			if e := decodeAccs(v, o.slot(o.rdIdx[i])); e != nil && derr == nil {
				derr = e
			}
		})
		if err != nil {
			return err
		}
		if derr != nil {
			return derr
		}
	}
	// Phase 3: replay the runs.
	for _, op := range o.ops {
		si := o.slots[slotKey{op.key, op.state}]
		accs := o.slot(si)
		for _, ms := range o.opMrg[op.mergedFrom:op.mergedTo] {
			mi := o.slots[slotKey{op.key, ms}]
			for a, acc := range accs {
				if err := acc.Merge(o.slot(mi)[a]); err != nil {
					return err
				}
			}
			resetAccs(o.slot(mi))
			o.slotDl[mi] = true
		}
		if err := o.addRows(accs, op.rows); err != nil {
			return err
		}
		o.slotDl[si] = false
	}
	// Phase 4: write accumulators and sets back.
	for i := 0; i < ns; i++ {
		key := o.gkeys.At(int(o.slotK[i]))
		o.nsBuf = o.slotNS[i].AppendKey(o.nsBuf[:0])
		if o.slotDl[i] {
			o.acc.Delete(key, o.nsBuf)
			continue
		}
		if o.valBuf, err = encodeAccs(o.valBuf[:0], o.slot(i)); err != nil {
			return err
		}
		o.acc.Put(key, o.nsBuf, o.valBuf)
	}
	if err := o.writeSets(nk); err != nil {
		return err
	}
	// Phase 5: late fires.
	for _, sk := range o.lfires {
		set := &o.sets[sk.key]
		st, ok := set.StateWindow(sk.w)
		if !ok {
			continue // merged into a later window in this batch
		}
		if err := o.results.add(o.gkeys.At(int(sk.key)), sk.w, o.slot(o.slots[slotKey{sk.key, st}]), true); err != nil {
			return err
		}
	}
	return o.results.flush(ctx, out)
}

// writeSets writes o.sets[0:n] back under o.gkeys.
func (o *WindowOperator) writeSets(n int) error {
	var err error
	for k := 0; k < n; k++ {
		key := o.gkeys.At(k)
		if o.sets[k].Len() == 0 {
			o.sess.Delete(key, nil)
			continue
		}
		if o.valBuf, err = o.sets[k].AppendBinary(o.valBuf[:0]); err != nil {
			return err
		}
		o.sess.Put(key, nil, o.valBuf)
	}
	return nil
}

// fireSession handles one firing round of session timers.
func (o *WindowOperator) fireSession(ctx context.Context, out compute.Emitter) error {
	if o.fkIdx == nil {
		o.fkIdx = map[string]int{}
	}
	clear(o.fkIdx)
	o.gkeys.Reset()
	o.fsets = o.fsets[:0]
	for _, f := range o.fired {
		k := o.fkeys.At(f.key)
		i, ok := o.fkIdx[string(k.Bytes)]
		if !ok {
			i = o.gkeys.Len()
			o.fkIdx[string(k.Bytes)] = i
			o.gkeys.Append(k)
		}
		o.fsets = append(o.fsets, i)
	}
	nk := o.gkeys.Len()
	if len(o.sets) < nk {
		o.sets = append(o.sets, make([]window.SessionSet, nk-len(o.sets))...)
	}
	for k := 0; k < nk; k++ {
		o.sets[k].Reset()
	}
	var derr error
	err := o.sess.MultiGet(ctx, &o.gkeys, state.Namespaces{}, func(i int, v []byte) {
		if e := o.sets[i].UnmarshalBinary(v); e != nil && derr == nil {
			derr = e
		}
	})
	if err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	// Read the fired sessions' accumulators.
	o.gkeys2.Reset()
	o.gns = o.gns[:0]
	o.nsArena = o.nsArena[:0]
	o.rdIdx = o.rdIdx[:0]
	for i, f := range o.fired {
		if f.kind != tnFire {
			continue
		}
		st, ok := o.sets[o.fsets[i]].StateWindow(f.w)
		if !ok {
			continue
		}
		o.gkeys2.Append(o.gkeys.At(o.fsets[i]))
		at := len(o.nsArena)
		o.nsArena = st.AppendKey(o.nsArena)
		o.gns = append(o.gns, o.nsArena[at:len(o.nsArena):len(o.nsArena)])
		o.rdIdx = append(o.rdIdx, i)
	}
	if n := len(o.rdIdx); n > 0 {
		o.slot(n - 1)
		o.found = grow(o.found, n)
		clear(o.found)
		err := o.acc.MultiGet(ctx, &o.gkeys2, state.RowNamespaces(o.gns), func(i int, v []byte) {
			o.found[i] = true
			if e := decodeAccs(v, o.slot(i)); e != nil && derr == nil {
				derr = e
			}
		})
		if err != nil {
			return err
		}
		if derr != nil {
			return derr
		}
		for j, i := range o.rdIdx {
			if !o.found[j] {
				continue
			}
			f := o.fired[i]
			if err := o.results.add(o.gkeys2.At(j), f.w, o.slot(j), false); err != nil {
				return err
			}
		}
	}
	// Retire fired sessions (without lateness) and cleaned-up ones.
	for i, f := range o.fired {
		if f.kind == tnFire && o.late > 0 && !o.proc {
			continue
		}
		set := &o.sets[o.fsets[i]]
		st, ok := set.StateWindow(f.w)
		if !ok {
			continue
		}
		set.Remove(f.w)
		o.nsBuf = st.AppendKey(o.nsBuf[:0])
		o.acc.Delete(o.gkeys.At(o.fsets[i]), o.nsBuf)
	}
	if err := o.writeSets(nk); err != nil {
		return err
	}
	return o.results.flush(ctx, out)
}
