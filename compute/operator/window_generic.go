package operator

import (
	"context"
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/compute/timer"
	"github.com/sluicedata/sluice/compute/window"
)

// Generic windows (modeGeneric): Flink's WindowOperator and
// EvictingWindowOperator per (key, window), for everything the sliced and
// session paths do not cover: count and global windows, custom triggers
// (count, continuous, purging, processing-time on event-time windows),
// evictors and Process window functions, on tumbling and sliding windows
// (session windows are not supported on this path yet).
//
// Assignment: each row goes to every window containing it (the naive
// assignment: a sliding window row costs size/slide window updates here,
// unlike the sliced path); count and global windows put every row of a key
// in window.Global. Rows of a batch are grouped by (key, window) in arrival
// order, and each group is shown to the trigger at once (OnElements), in
// pieces when a count trigger fires in the middle of it.
//
// State per (key, window), namespace Window.AppendKey:
//   - stateTrigger: the TriggerState (absent when zero).
//   - stateAcc: encoded accumulators (incremental: no evictor, no Process).
//   - stateRows: buffered rows (evictor or Process): a list of chunks, one
//     per input batch that added rows (rowCodec), rewritten as one chunk
//     after a fire (the rows the evictors kept).
//
// Timers: the trigger's timers and the cleanup timer of a time window share
// one namespace (tnTrigger + window), so a cleanup timer at the same time
// as the trigger's timer is one timer, as in Flink; when it fires the
// trigger runs first, then, at the cleanup time (MaxTimestamp + allowed
// lateness in event time, MaxTimestamp in processing time), the window's
// state is dropped and the trigger cleared. Global windows are never
// cleaned up (as in Flink).
//
// Fire semantics follow Flink: FIRE emits the window's contents (nothing
// when it has none), PURGE drops them (the trigger state stays),
// FIRE_AND_PURGE does both. With buffered rows, a fire runs EvictBefore,
// the function (aggregates over the rows, or Process), EvictAfter, and
// stores the rows that stayed. Late rows within the allowed lateness make
// an event-time trigger fire once per batch and window (not once per row).
//
// End of input: once the watermark is final (math.MaxInt64), a timer that a
// trigger registers on a global window while firing is moved to the
// window's MaxTimestamp, so continuous triggers on a global window end with
// one last fire instead of counting intervals up to the end of time.

type genericScratch struct {
	buffered  bool          // evictor or Process: rows are kept
	codec     *rowCodec     // buffered rows encoding
	timeWin   bool          // event-time tumbling or sliding windows: lateness applies
	cleanup   bool          // time windows: a cleanup timer per window
	winDomain timer.Domain  // the windows' own domain (cleanup timers)
	gTC       genTriggerCtx // the trigger context, reused

	gExpKeys   []uint32
	gExpStarts []int64
	gExpRows   []int32
	gRows      []int32
	gPend      []int32
	gSlots     []genSlot
	gSlotIdx   map[genSlotKey]int
	gFireSlot  []int
	gChunks    [][]byte
	gArena     []byte
	gKeep      []int32
	gIdent     []int32
	gKeyFields *arrow.Schema
}

// genSlot is one (key, window) touched by a batch or a firing round.
type genSlot struct {
	w       window.Window
	st      window.TriggerState
	stOld   window.TriggerState
	has     bool // incremental: the accumulators hold contents
	hadAcc  bool // incremental: accumulators exist in state
	dirty   bool // incremental: accumulators changed
	loaded  bool // buffered: cur holds all contents (nil: none)
	rewrite bool // buffered: the stored list is replaced by cur
	cur     arrow.RecordBatch
	// pendFrom:pendTo in gPend: rows of the batch to append at the write.
	pendFrom, pendTo int
}

type genSlotKey struct {
	key string
	w   window.Window
}

// genTriggerCtx is the TriggerContext of one (key, window): timers go to
// the operator's timer service under the window's trigger namespace.
type genTriggerCtx struct {
	o     *WindowOperator
	key   state.Key
	w     window.Window
	final bool  // firing after the final watermark
	cur   int64 // the firing timer's time (final only)
	err   error
}

func (c *genTriggerCtx) Watermark() int64      { return c.o.wm }
func (c *genTriggerCtx) ProcessingTime() int64 { return c.o.clk.Now().UnixMilli() }
func (c *genTriggerCtx) RegisterEventTimeTimer(t int64) {
	c.timer(timer.EventTime, t, false)
}
func (c *genTriggerCtx) RegisterProcessingTimeTimer(t int64) {
	c.timer(timer.ProcessingTime, t, false)
}
func (c *genTriggerCtx) DeleteEventTimeTimer(t int64) { c.timer(timer.EventTime, t, true) }
func (c *genTriggerCtx) DeleteProcessingTimeTimer(t int64) {
	c.timer(timer.ProcessingTime, t, true)
}

func (c *genTriggerCtx) timer(d timer.Domain, t int64, del bool) {
	if c.err != nil {
		return
	}
	if !del && c.final && c.w.End == math.MaxInt64 && t > c.cur && t < c.w.MaxTimestamp() {
		t = c.w.MaxTimestamp()
	}
	ns := c.o.timerNS(tnTrigger, c.w)
	if del {
		c.err = c.o.ts.Delete(d, c.key, ns, msTime(t))
	} else {
		c.err = c.o.ts.Register(d, c.key, ns, msTime(t))
	}
}

var _ window.TriggerContext = (*genTriggerCtx)(nil)

func (o *WindowOperator) openGeneric() error {
	o.buffered = o.evict != nil || o.cfg.Process != nil
	if o.buffered {
		o.codec = newRowCodec(o.cfg.Input)
	}
	timed := o.cfg.Spec.Kind == window.Tumbling || o.cfg.Spec.Kind == window.Sliding
	o.timeWin = timed && !o.proc
	o.cleanup = timed
	o.winDomain = o.timeDomain()
	o.gTC.o = o
	o.gSlotIdx = map[genSlotKey]int{}
	o.gKeyFields = arrow.NewSchema(o.cfg.OutputSchemaKeys(), nil)
	return nil
}

// cleanupTime is when a time window's state is dropped.
func (o *WindowOperator) genCleanupTime(w window.Window) int64 {
	if o.proc {
		return w.MaxTimestamp()
	}
	return window.CleanupTime(w, o.late)
}

func (o *WindowOperator) genWindow(start int64) window.Window {
	if o.slicer == nil {
		return window.Global
	}
	return window.Window{Start: start, End: start + o.slicer.Size()}
}

// genSlotsReset sizes o.gSlots to n fresh slots.
func (o *WindowOperator) genSlotsReset(n int) {
	for i := range o.gSlots {
		if o.gSlots[i].cur != nil {
			o.gSlots[i].cur.Release()
		}
	}
	o.gSlots = grow(o.gSlots, n)
	clear(o.gSlots)
	if n > 0 && !o.buffered {
		o.slot(n - 1)
		for i := 0; i < n; i++ {
			resetAccs(o.slot(i))
		}
	}
}

// genRead reads the trigger states (and accumulators) of the slots under
// o.gkeys / o.gns with one MultiGet each.
func (o *WindowOperator) genRead(ctx context.Context) error {
	var derr error
	err := o.trst.MultiGet(ctx, &o.gkeys, state.RowNamespaces(o.gns), func(i int, v []byte) {
		s := &o.gSlots[i]
		if e := s.st.UnmarshalBinary(v); e != nil && derr == nil {
			derr = e
		}
		s.stOld = s.st
	})
	if err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	if o.buffered {
		return nil
	}
	err = o.acc.MultiGet(ctx, &o.gkeys, state.RowNamespaces(o.gns), func(i int, v []byte) {
		o.gSlots[i].has, o.gSlots[i].hadAcc = true, true
		if e := decodeAccs(v, o.slot(i)); e != nil && derr == nil {
			derr = e
		}
	})
	if err != nil {
		return err
	}
	return derr
}

func (o *WindowOperator) genAppendNS(w window.Window) {
	at := len(o.nsArena)
	o.nsArena = w.AppendKey(o.nsArena)
	o.gns = append(o.gns, o.nsArena[at:len(o.nsArena):len(o.nsArena)])
}

func (o *WindowOperator) processGeneric(ctx context.Context, b arrow.RecordBatch, out compute.Emitter) error {
	n := int(b.NumRows())
	o.gExpKeys, o.gExpStarts, o.gExpRows = o.gExpKeys[:0], o.gExpStarts[:0], o.gExpRows[:0]
	o.lateRows = o.lateRows[:0]
	for i := 0; i < n; i++ {
		kid := o.keyIDs[i]
		if o.slicer == nil {
			// The global window; start 0 stands for it (Groups excludes
			// window.NoSlice, which is Global.Start).
			o.gExpKeys, o.gExpStarts, o.gExpRows = append(o.gExpKeys, kid), append(o.gExpStarts, 0), append(o.gExpRows, int32(i))
			continue
		}
		r := o.slicer.WindowsOf(o.times[i])
		if r.N == 0 {
			o.metrics.NoWindowRows++
			continue
		}
		live := 0
		for j := 0; j < r.N; j++ {
			w := r.At(j)
			if o.timeWin && window.ClassifyWindow(w, o.wm, o.late) == window.TooLate {
				continue
			}
			live++
			o.gExpKeys, o.gExpStarts, o.gExpRows = append(o.gExpKeys, kid), append(o.gExpStarts, w.Start), append(o.gExpRows, int32(i))
		}
		if live == 0 {
			o.lateRows = append(o.lateRows, int32(i))
		}
	}
	if err := o.emitLate(ctx, b, o.lateRows, out); err != nil {
		return err
	}
	g := &o.groups
	g.Build(o.gExpKeys, o.gExpStarts, nil)
	ng := g.Len()
	if ng == 0 {
		return nil
	}
	o.gkeys.Reset()
	o.gns, o.nsArena = o.gns[:0], o.nsArena[:0]
	if cap(o.nsArena) < ng*window.KeySize {
		o.nsArena = make([]byte, 0, 2*ng*window.KeySize)
	}
	o.genSlotsReset(ng)
	for i := 0; i < ng; i++ {
		o.gkeys.Append(o.rowKey(o.keyFirst[g.Keys[i]]))
		w := o.genWindow(g.Starts[i])
		o.gSlots[i].w = w
		o.genAppendNS(w)
	}
	if err := o.genRead(ctx); err != nil {
		return err
	}
	// Writes wait until every group ran: a read of a buffered window's rows
	// applies the backend's pending writes first, so interleaving them would
	// cost one store Apply per fire.
	o.gPend = o.gPend[:0]
	for i := 0; i < ng; i++ {
		o.gRows = o.gRows[:0]
		for _, e := range g.Group(i) {
			o.gRows = append(o.gRows, o.gExpRows[e])
		}
		if err := o.genElements(ctx, b, i, o.gRows, out); err != nil {
			return err
		}
	}
	for i := 0; i < ng; i++ {
		s := &o.gSlots[i]
		if err := o.genWrite(ctx, i, b, o.gPend[s.pendFrom:s.pendTo]); err != nil {
			return err
		}
	}
	o.genSlotsReset(0)
	return o.results.flush(ctx, out)
}

// genElements adds a group's rows (batch row indices, arrival order) to
// slot i, consulting the trigger; the caller writes the slot back.
func (o *WindowOperator) genElements(ctx context.Context, b arrow.RecordBatch, i int, rows []int32, out compute.Emitter) error {
	s := &o.gSlots[i]
	key, ns, w := o.gkeys.At(i), o.gns[i], s.w
	tc := &o.gTC
	tc.key, tc.w, tc.final, tc.err = key, w, false, nil
	late := o.timeWin && w.MaxTimestamp() <= o.wm
	pos, pend := 0, 0
	for pos < len(rows) {
		e := window.Elements{N: int64(len(rows) - pos)}
		if o.times != nil {
			e.FirstTime = o.times[rows[pos]]
		}
		k, res := o.trig.OnElements(e, w, &s.st, tc)
		if tc.err != nil {
			return tc.err
		}
		if k < 1 || k > e.N {
			return fmt.Errorf("window: trigger %s consumed %d of %d rows", o.trig, k, e.N)
		}
		end := pos + int(k)
		if !o.buffered {
			if err := o.addRows(o.slot(i), rows[pos:end]); err != nil {
				return err
			}
			s.has, s.dirty = true, true
		}
		if res.IsFire() {
			if o.buffered {
				if err := o.genMaterialize(ctx, s, key, ns, b, rows[pend:end]); err != nil {
					return err
				}
				pend = end
				if err := o.genFireRows(ctx, s, key, late, out); err != nil {
					return err
				}
			} else if err := o.results.add(key, w, o.slot(i), late); err != nil {
				return err
			}
		}
		if res.IsPurge() {
			o.genPurge(i)
			pend = end
		}
		pos = end
	}
	if o.cleanup {
		if err := o.ts.Register(o.winDomain, key, o.timerNS(tnTrigger, w), msTime(o.genCleanupTime(w))); err != nil {
			return err
		}
	}
	s.pendFrom = len(o.gPend)
	o.gPend = append(o.gPend, rows[pend:]...)
	s.pendTo = len(o.gPend)
	return nil
}

// genPurge drops slot i's contents.
func (o *WindowOperator) genPurge(i int) {
	s := &o.gSlots[i]
	if o.buffered {
		if s.cur != nil {
			s.cur.Release()
			s.cur = nil
		}
		s.loaded, s.rewrite = true, true
		return
	}
	resetAccs(o.slot(i))
	s.has, s.dirty = false, true
}

// genWrite writes slot i back: trigger state, accumulators or buffered rows
// (pending: rows of b added after the last fire or purge).
func (o *WindowOperator) genWrite(ctx context.Context, i int, b arrow.RecordBatch, pending []int32) error {
	s := &o.gSlots[i]
	key, ns := o.gkeys.At(i), o.gns[i]
	if s.st != s.stOld {
		if s.st.IsZero() {
			o.trst.Delete(key, ns)
		} else {
			o.valBuf, _ = s.st.AppendBinary(o.valBuf[:0])
			o.trst.Put(key, ns, o.valBuf)
		}
		s.stOld = s.st
	}
	var err error
	if !o.buffered {
		if !s.dirty {
			return nil
		}
		s.dirty = false
		if !s.has {
			if s.hadAcc {
				o.acc.Delete(key, ns)
				s.hadAcc = false
			}
			return nil
		}
		if o.valBuf, err = encodeAccs(o.valBuf[:0], o.slot(i)); err != nil {
			return err
		}
		o.acc.Put(key, ns, o.valBuf)
		s.hadAcc = true
		return nil
	}
	if s.rewrite {
		o.rowsL.Clear(key, ns)
		if s.cur != nil && s.cur.NumRows() > 0 {
			if o.valBuf, err = o.codec.appendChunk(ctx, o.valBuf[:0], s.cur, o.identity(int(s.cur.NumRows())), o.mem); err != nil {
				return err
			}
			o.rowsL.Add(key, ns, o.valBuf)
		}
		s.rewrite = false
	}
	if len(pending) > 0 {
		if o.valBuf, err = o.codec.appendChunk(ctx, o.valBuf[:0], b, pending, o.mem); err != nil {
			return err
		}
		o.rowsL.Add(key, ns, o.valBuf)
	}
	return nil
}

func (o *WindowOperator) identity(n int) []int32 {
	for len(o.gIdent) < n {
		o.gIdent = append(o.gIdent, int32(len(o.gIdent)))
	}
	return o.gIdent[:n]
}

// genMaterialize makes s.cur hold all of the window's contents: the stored
// chunks (read once), the previous contents and the pending rows of b.
func (o *WindowOperator) genMaterialize(ctx context.Context, s *genSlot, key state.Key, ns []byte, b arrow.RecordBatch, pending []int32) error {
	o.gChunks, o.gArena = o.gChunks[:0], o.gArena[:0]
	var offs []int
	if !s.loaded {
		err := o.rowsL.Get(ctx, key, ns, func(v []byte) error {
			offs = append(offs, len(o.gArena))
			o.gArena = append(o.gArena, v...)
			return nil
		})
		if err != nil {
			return err
		}
		s.loaded = true
		s.rewrite = s.rewrite || len(offs) > 0
	}
	var err error
	if s.cur != nil && s.cur.NumRows() > 0 {
		offs = append(offs, len(o.gArena))
		if o.gArena, err = o.codec.appendChunk(ctx, o.gArena, s.cur, o.identity(int(s.cur.NumRows())), o.mem); err != nil {
			return err
		}
	}
	if len(pending) > 0 {
		offs = append(offs, len(o.gArena))
		if o.gArena, err = o.codec.appendChunk(ctx, o.gArena, b, pending, o.mem); err != nil {
			return err
		}
	}
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	if len(offs) == 0 {
		return nil
	}
	for j, at := range offs {
		end := len(o.gArena)
		if j+1 < len(offs) {
			end = offs[j+1]
		}
		o.gChunks = append(o.gChunks, o.gArena[at:end])
	}
	cur, err := o.codec.decode(o.mem, o.gChunks)
	if err != nil {
		return err
	}
	s.cur = cur
	s.rewrite = true
	return nil
}

// genTimes reads the event times of buffered rows (nil in processing time
// or without a time column).
func (o *WindowOperator) genTimes(rows arrow.RecordBatch) ([]int64, error) {
	if o.proc || o.cfg.TimeColumn < 0 {
		return nil, nil
	}
	t, err := window.TimesMillis(rows.Column(o.cfg.TimeColumn), nil)
	if err != nil {
		return nil, fmt.Errorf("window: time column %q: %w", o.cfg.Input.Field(o.cfg.TimeColumn).Name, err)
	}
	return t, nil
}

// genFireRows fires a buffered window: EvictBefore, the function, EvictAfter;
// s.cur becomes the rows that stayed.
func (o *WindowOperator) genFireRows(ctx context.Context, s *genSlot, key state.Key, late bool, out compute.Emitter) error {
	if s.cur == nil || s.cur.NumRows() == 0 {
		return nil
	}
	view := s.cur
	view.Retain()
	defer func() { view.Release() }()
	times, err := o.genTimes(view)
	if err != nil {
		return err
	}
	if o.evict != nil {
		in := window.EvictInput{Window: s.w, Rows: view, Times: times}
		if o.gKeep, err = o.evict.EvictBefore(&in, o.gKeep[:0]); err != nil {
			return err
		}
		if len(o.gKeep) != int(view.NumRows()) {
			nv, err := o.genTake(ctx, view, o.gKeep)
			if err != nil {
				return err
			}
			view.Release()
			view = nv
			if times, err = o.genTimes(view); err != nil {
				return err
			}
		}
	}
	if err := o.genApply(ctx, s.w, key, view, times, late, out); err != nil {
		return err
	}
	if o.evict != nil {
		in := window.EvictInput{Window: s.w, Rows: view, Times: times}
		if o.gKeep, err = o.evict.EvictAfter(&in, o.gKeep[:0]); err != nil {
			return err
		}
		if len(o.gKeep) != int(view.NumRows()) {
			nv, err := o.genTake(ctx, view, o.gKeep)
			if err != nil {
				return err
			}
			view.Release()
			view = nv
		}
	}
	s.cur.Release()
	view.Retain()
	s.cur = view
	return nil
}

// genTake returns the rows keep (ascending) of b as a new batch: a
// zero-copy slice when they are contiguous (count evictors keep a suffix),
// else a copy through the row codec.
func (o *WindowOperator) genTake(ctx context.Context, b arrow.RecordBatch, keep []int32) (arrow.RecordBatch, error) {
	if len(keep) == 0 || int(keep[len(keep)-1]-keep[0]) == len(keep)-1 {
		if len(keep) == 0 {
			return b.NewSlice(0, 0), nil
		}
		return b.NewSlice(int64(keep[0]), int64(keep[len(keep)-1])+1), nil
	}
	if o.codec.ipc {
		return exchange.Take(ctx, o.mem, b, keep)
	}
	var err error
	if o.gArena, err = o.codec.appendChunk(ctx, o.gArena[:0], b, keep, o.mem); err != nil {
		return nil, err
	}
	o.gChunks = append(o.gChunks[:0], o.gArena)
	return o.codec.decode(o.mem, o.gChunks)
}

// genApply runs the window function over a fired window's rows.
func (o *WindowOperator) genApply(ctx context.Context, w window.Window, key state.Key, rows arrow.RecordBatch, times []int64, late bool, out compute.Emitter) error {
	if o.cfg.Process != nil {
		m := &window.Meta{Window: w, Watermark: o.wm, ProcessingTime: o.clk.Now().UnixMilli(), Late: late}
		if len(o.cfg.Keys) > 0 {
			cols, err := o.enc.DecodeKeys(o.mem, [][]byte{key.Bytes})
			if err != nil {
				return err
			}
			m.Key = array.NewRecordBatch(o.gKeyFields, cols, 1)
			for _, c := range cols {
				c.Release()
			}
			defer m.Key.Release()
		}
		o.metrics.Fired++
		if late {
			o.metrics.LateFires++
		}
		if err := o.cfg.Process.Process(ctx, m, rows, out); err != nil {
			return fmt.Errorf("window: process function: %w", err)
		}
		return nil
	}
	resetAccs(o.tmp)
	idx := o.identity(int(rows.NumRows()))
	for i, a := range o.cfg.Aggregates {
		var vals arrow.Array
		if a.Input != nil {
			if c, ok := a.Input.Column(); ok {
				vals = rows.Column(c)
			} else {
				v, err := a.Input.Eval(ctx, o.mem, rows)
				if err != nil {
					return fmt.Errorf("window: aggregate %q: %w", a.Name, err)
				}
				defer v.Release()
				vals = v
			}
		}
		if err := o.tmp[i].Add(vals, times, idx); err != nil {
			return fmt.Errorf("window: aggregate %q: %w", a.Name, err)
		}
	}
	return o.results.add(key, w, o.tmp, late)
}

// fireGeneric handles one firing round of trigger and cleanup timers.
func (o *WindowOperator) fireGeneric(ctx context.Context, d timer.Domain, out compute.Emitter) error {
	clear(o.gSlotIdx)
	o.gkeys.Reset()
	o.gns, o.nsArena = o.gns[:0], o.nsArena[:0]
	o.gFireSlot = o.gFireSlot[:0]
	var ws []window.Window
	for _, f := range o.fired {
		if f.kind != tnTrigger {
			return fmt.Errorf("window: timer of kind %d in a generic window", f.kind)
		}
		k := o.fkeys.At(f.key)
		sk := genSlotKey{string(k.Bytes), f.w}
		i, ok := o.gSlotIdx[sk]
		if !ok {
			i = o.gkeys.Len()
			o.gSlotIdx[sk] = i
			o.gkeys.Append(k)
			o.genAppendNS(f.w)
			ws = append(ws, f.w)
		}
		o.gFireSlot = append(o.gFireSlot, i)
	}
	o.genSlotsReset(len(ws))
	for i, w := range ws {
		o.gSlots[i].w = w
	}
	if err := o.genRead(ctx); err != nil {
		return err
	}
	tc := &o.gTC
	for fi, f := range o.fired {
		i := o.gFireSlot[fi]
		s := &o.gSlots[i]
		key, ns, w := o.gkeys.At(i), o.gns[i], s.w
		t := f.tn / 1e6
		if f.tn == math.MaxInt64 || f.tn == math.MinInt64 {
			// Saturated: the window's own times (global windows).
			t = w.MaxTimestamp()
		}
		tc.key, tc.w, tc.err = key, w, nil
		tc.final, tc.cur = o.wm == math.MaxInt64, t
		var res window.Result
		if d == timer.EventTime {
			res = o.trig.OnEventTime(t, w, &s.st, tc)
		} else {
			res = o.trig.OnProcessingTime(t, w, &s.st, tc)
		}
		if tc.err != nil {
			return tc.err
		}
		if res.IsFire() {
			if o.buffered {
				if err := o.genMaterialize(ctx, s, key, ns, nil, nil); err != nil {
					return err
				}
				if err := o.genFireRows(ctx, s, key, false, out); err != nil {
					return err
				}
			} else if s.has {
				if err := o.results.add(key, w, o.slot(i), false); err != nil {
					return err
				}
			}
		}
		if res.IsPurge() {
			o.genPurge(i)
		}
		if o.cleanup && d == o.winDomain && msTime(o.genCleanupTime(w)).UnixNano() == f.tn {
			o.genPurge(i)
			o.trig.Clear(w, &s.st, tc)
			if tc.err != nil {
				return tc.err
			}
		}
	}
	for i := range ws {
		if err := o.genWrite(ctx, i, nil, nil); err != nil {
			return err
		}
	}
	o.genSlotsReset(0)
	return o.results.flush(ctx, out)
}
