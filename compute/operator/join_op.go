package operator

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/expr"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/compute/timer"
)

// State of a join operator (IDs are part of the checkpoint format):
//
//	joinHeaderState (value): per (key, side|bucket): u32 chunks, u32 rows,
//	                         then (only when non-zero) u32 first: the
//	                         chunks are first..chunks-1; a regular join
//	                         with state_ttl advances first past the chunks
//	                         that expired (they expire in index order)
//	joinRowsState   (map):   per (key, side|bucket), map key u32 BE chunk
//	                         index: one chunk of rows (see join_rows.go)
//	timers:                  interval join: per (key, side|bucket) at the
//	                         bucket's expiry; window join: per (key, window
//	                         start) at the window's last instant
//
// The namespace is one byte, the side (0 left, 1 right), then for interval
// and window joins the start of the time bucket or window slice (8 bytes,
// sign-flipped big endian, so buckets sort by time).
const (
	joinHeaderState = 1
	joinRowsState   = 2
)

// joinMaxPairs bounds the rows of one output batch before the condition.
const joinMaxPairs = 16384

// joinMaxFired bounds the windows a window join reads at once.
const joinMaxFired = 4096

// JoinMetrics counts a join operator subtask's work. Index 0 is the left
// input, 1 the right.
type JoinMetrics struct {
	// RowsIn counts input rows.
	RowsIn [2]int64
	// Pairs counts joined pairs before the condition; RowsOut the rows
	// emitted.
	Pairs, RowsOut int64
	// NullRows counts rows with a NULL key or event time: they join nothing
	// (SQL semantics) and are not kept.
	NullRows [2]int64
	// LateRows counts rows that arrived behind the watermark too far to join
	// any later row of the other side, so they were not kept (interval and
	// window joins). An interval-join late row still joins the rows in
	// state; LateDropped counts the late rows that joined nothing, which
	// went to the side output late_left or late_right.
	LateRows, LateDropped [2]int64
	// Expired counts state buckets (interval join) and window slices
	// (window join) deleted because the watermark passed them.
	Expired int64
	// WindowsFired counts (key, window) pairs a window join evaluated.
	WindowsFired int64
	// ExpiredChunks counts chunks of rows a regular join with state_ttl
	// found expired when probing (rows that no longer match).
	ExpiredChunks int64
	// TTL counts the state TTL work of a regular join with state_ttl.
	TTL TTLMetrics
}

// joinOperator runs a regular, interval or window join. See PlanJoin.
type joinOperator struct {
	cfg   *joinConfig
	mem   memory.Allocator
	be    *state.Backend
	hdr   *state.ValueState
	rows  *state.MapState
	enc   [2]*state.KeyEncoder
	tim   *timer.Service
	types [2][]colType // per stored column
	wm    int64        // watermark in ns; MinInt64 before the first

	metrics JoinMetrics
	sweep   ttlSweeper

	// Per-batch scratch, reused.
	kb       state.KeyBatch
	keyCols  []arrow.Array
	valid    []bool
	times    []int64
	batchSeg [2][]colSeg
	g, pg    grouper
	rowGroup []int32
	members  csr
	own      []joinHeader
	other    []joinHeader
	lk       state.KeyBatch
	lns      [][]byte
	nsBuf    []byte
	chunkBuf []byte
	mkBuf    []byte
	mks      [][]byte
	cs       [2]chunkSet
	lrefs    []rowRef
	rrefs    []rowRef
	wstarts  []int64
	probes   []probe
	matched  []bool
	late     []int32
	fired    []firedWindow
	firedBuf []byte
	cols     []arrow.Array
}

type joinHeader struct {
	chunks, rows uint32
	first        uint32 // first live chunk
	found        bool
}

// probe is one lookup of an interval-join row in one bucket of the other
// side.
type probe struct{ row, group int32 }

type firedWindow struct {
	kg       uint16
	off, len int32 // key bytes in firedBuf
	start    int64
}

// chunkSet holds the chunks read from state for one batch: their bytes, and
// one colSeg per chunk and stored column.
type chunkSet struct {
	arena []byte
	spans []int32 // chunk i is arena[spans[2i]:spans[2i]+spans[2i+1]]
	segs  []colSeg
	n     []int32 // rows per chunk
	// first[j] is the first chunk of request j; request j's chunks are
	// first[j]..first[j+1].
	first []int32
	got   []bool
	// expired[j] counts the leading chunks of request j that were not
	// found (expired, with state_ttl); live[j] its chunks found.
	expired, live []int32
}

func newJoinOperator(cfg *joinConfig) *joinOperator {
	op := &joinOperator{cfg: cfg, wm: math.MinInt64}
	for s := range cfg.sides {
		for _, c := range cfg.sides[s].stored {
			op.types[s] = append(op.types[s], colTypeOf(cfg.sides[s].schema.Field(c).Type))
		}
	}
	return op
}

var _ compute.ProcessingTimeOperator = (*joinOperator)(nil)

// Metrics returns a snapshot of the operator's counters.
func (op *joinOperator) Metrics() JoinMetrics {
	m := op.metrics
	m.TTL = op.sweep.metrics()
	return m
}

// NextProcessingTime implements compute.ProcessingTimeOperator: a regular
// join with state_ttl sweeps its expired state in the background.
func (op *joinOperator) NextProcessingTime() (time.Time, bool) { return op.sweep.nextTime() }

// OnProcessingTime implements compute.ProcessingTimeOperator.
func (op *joinOperator) OnProcessingTime(ctx context.Context, now time.Time, _ compute.Emitter) error {
	if err := op.sweep.run(ctx, now); err != nil {
		return fmt.Errorf("join: state TTL sweep: %w", err)
	}
	return nil
}

// Open implements compute.Operator.
func (op *joinOperator) Open(ctx context.Context, oc *compute.OperatorContext) error {
	op.mem = oc.Allocator
	if op.mem == nil {
		op.mem = memory.DefaultAllocator
	}
	store, err := oc.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("join: open state: %w", err)
	}
	be, err := state.Open(ctx, state.Options{Store: store, KeyGroups: oc.KeyGroups, Clock: oc.Clock, Name: fmt.Sprintf("%s/%d", oc.Node, oc.Subtask)})
	if err != nil {
		return fmt.Errorf("join: open state: %w", err)
	}
	op.be = be
	ttl := stateTTL(op.cfg.ttl) // regular joins only (planJoin)
	if op.hdr, err = be.Value(state.Descriptor{ID: joinHeaderState, Name: "join-headers", TTL: ttl}); err != nil {
		return err
	}
	if op.rows, err = be.Map(state.Descriptor{ID: joinRowsState, Name: "join-rows", TTL: ttl}); err != nil {
		return err
	}
	op.sweep.open(be, op.cfg.ttl, be.Clock().Now())
	for s := range op.cfg.sides {
		sd := &op.cfg.sides[s]
		types := make([]arrow.DataType, len(sd.keys))
		for j, k := range sd.keys {
			types[j] = sd.schema.Field(k).Type
		}
		if op.enc[s], err = state.NewKeyEncoder(types, oc.MaxParallelism); err != nil {
			return fmt.Errorf("join: %w", err)
		}
	}
	if op.cfg.kind != regularJoin {
		if op.tim, err = timer.Open(ctx, timer.Options{Backend: be, Keys: op.enc[0]}); err != nil {
			return fmt.Errorf("join: %w", err)
		}
	}
	return nil
}

// ProcessBatch implements compute.Operator. Input 0 is the left side, 1 the
// right.
func (op *joinOperator) ProcessBatch(ctx context.Context, input int, b arrow.RecordBatch, out compute.Emitter) error {
	defer b.Release()
	if input != 0 && input != 1 {
		return fmt.Errorf("join: input %d: a join has inputs 0 (left) and 1 (right)", input)
	}
	n := int(b.NumRows())
	op.metrics.RowsIn[input] += int64(n)
	if n == 0 {
		return nil
	}
	if err := op.prepare(input, b); err != nil {
		return err
	}
	var err error
	switch op.cfg.kind {
	case regularJoin:
		err = op.processRegular(ctx, input, n, out)
	case intervalJoin:
		err = op.processInterval(ctx, input, b, n, out)
	case windowJoin:
		err = op.processWindow(ctx, input, b, n, out)
	}
	if err != nil {
		return err
	}
	return op.be.Flush(ctx)
}

// prepare encodes the keys of b, marks the rows that can join (no NULL key
// or time), reads their event times and builds b's column segments.
func (op *joinOperator) prepare(s int, b arrow.RecordBatch) error {
	sd := &op.cfg.sides[s]
	n := int(b.NumRows())
	op.keyCols = op.keyCols[:0]
	for _, k := range sd.keys {
		op.keyCols = append(op.keyCols, b.Column(k))
	}
	if err := op.enc[s].Encode(op.keyCols, &op.kb); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	op.valid = growSlice(op.valid, n)
	for i := range op.valid {
		op.valid[i] = true
	}
	for _, c := range op.keyCols {
		if c.NullN() > 0 {
			for i := range n {
				if c.IsNull(i) {
					op.valid[i] = false
				}
			}
		}
	}
	if sd.time >= 0 {
		tc, ok := b.Column(sd.time).(*array.Timestamp)
		if !ok {
			return fmt.Errorf("join: time column %d has type %s, want a timestamp", sd.time, b.Column(sd.time).DataType())
		}
		op.times = growSlice(op.times, n)
		for i, v := range tc.TimestampValues() {
			op.times[i] = int64(v) * sd.unitNs
		}
		if tc.NullN() > 0 {
			for i := range n {
				if tc.IsNull(i) {
					op.valid[i] = false
				}
			}
		}
	}
	for i := range n {
		if !op.valid[i] {
			op.metrics.NullRows[s]++
		}
	}
	op.batchSeg[s] = op.batchSeg[s][:0]
	for c, in := range sd.stored {
		op.batchSeg[s] = append(op.batchSeg[s], arraySeg(b.Column(in), op.types[s][c]))
	}
	return nil
}

func growSlice[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// ns appends a namespace: side, then (when timed) the ordered bucket start.
func appendNS(dst []byte, side int, timed bool, start int64) []byte {
	dst = append(dst, byte(side))
	if timed {
		dst = binary.BigEndian.AppendUint64(dst, uint64(start)^(1<<63))
	}
	return dst
}

func parseHeader(v []byte) joinHeader {
	if len(v) < 8 {
		return joinHeader{}
	}
	h := joinHeader{chunks: binary.LittleEndian.Uint32(v), rows: binary.LittleEndian.Uint32(v[4:]), found: true}
	if len(v) >= 12 {
		h.first = binary.LittleEndian.Uint32(v[8:])
	}
	return h
}

// appendHeader encodes a header (first only when non-zero, so that states
// without TTL keep the 8-byte form).
func appendHeader(dst []byte, h joinHeader) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, h.chunks)
	dst = binary.LittleEndian.AppendUint32(dst, h.rows)
	if h.first > 0 {
		dst = binary.LittleEndian.AppendUint32(dst, h.first)
	}
	return dst
}

// readHeaders reads the headers of the lookups in op.lk / op.lns into hs.
func (op *joinOperator) readHeaders(ctx context.Context, hs []joinHeader) error {
	clear(hs)
	return op.hdr.MultiGet(ctx, &op.lk, state.RowNamespaces(op.lns), func(i int, v []byte) {
		hs[i] = parseHeader(v)
	})
}

// readChunks reads, for every request j (key(j), ns(j)) with chunks
// hs[j].first..hs[j].chunks-1, all its chunks into cs (one MultiGet), and
// parses them with the column types of side. A missing chunk is an error,
// except with state_ttl, where it expired: it is left out of cs and counted
// in cs.expired (leading chunks) or skipped.
func (op *joinOperator) readChunks(ctx context.Context, side int, cs *chunkSet, reqs int, key func(j int) state.Key, ns func(j int) []byte, hs func(j int) joinHeader) error {
	cs.first = growInt32(cs.first, reqs+1)
	op.lk.Reset()
	op.lns = op.lns[:0]
	op.mkBuf = op.mkBuf[:0]
	total := 0
	for j := range reqs {
		cs.first[j] = int32(total)
		h := hs(j)
		for c := h.first; c < h.chunks; c++ {
			op.lk.Append(key(j))
			op.lns = append(op.lns, ns(j))
			op.mkBuf = binary.BigEndian.AppendUint32(op.mkBuf, c)
		}
		if h.chunks > h.first {
			total += int(h.chunks - h.first)
		}
	}
	cs.first[reqs] = int32(total)
	cs.arena = cs.arena[:0]
	cs.spans = growInt32(cs.spans, 2*total)
	cs.got = growSlice(cs.got, total)
	clear(cs.got)
	cs.segs = cs.segs[:0]
	cs.n = cs.n[:0]
	cs.expired = growInt32(cs.expired, reqs)
	cs.live = growInt32(cs.live, reqs)
	clear(cs.expired)
	clear(cs.live)
	if total == 0 {
		return nil
	}
	op.mks = op.mks[:0]
	for i := range total {
		op.mks = append(op.mks, op.mkBuf[4*i:4*i+4:4*i+4])
	}
	err := op.rows.MultiGet(ctx, &op.lk, state.RowNamespaces(op.lns), op.mks, func(i int, v []byte) {
		cs.spans[2*i] = int32(len(cs.arena))
		cs.spans[2*i+1] = int32(len(v))
		cs.arena = append(cs.arena, v...)
		cs.got[i] = true
	})
	if err != nil {
		return fmt.Errorf("join: read state: %w", err)
	}
	// Parse the chunks found; with state_ttl, renumber them so that request
	// j's chunks are first[j]..first[j+1] of the found ones.
	k := int32(0)
	for j := range reqs {
		c0, c1 := cs.first[j], cs.first[j+1]
		cs.first[j] = k
		for i := c0; i < c1; i++ {
			if !cs.got[i] {
				if op.cfg.ttl <= 0 {
					return fmt.Errorf("join: state chunk %d of a key (chunks %d..%d) is missing", binary.BigEndian.Uint32(op.mks[i]), hs(j).first, hs(j).chunks-1)
				}
				if cs.live[j] == 0 {
					cs.expired[j]++
				}
				continue
			}
			b := cs.arena[cs.spans[2*i] : cs.spans[2*i]+cs.spans[2*i+1]]
			var rows int
			cs.segs, rows, err = parseChunk(b, op.types[side], cs.segs)
			if err != nil {
				return err
			}
			cs.n = append(cs.n, int32(rows))
			cs.live[j]++
			k++
		}
	}
	cs.first[reqs] = k
	return nil
}

// writeGroups appends, for every group of op.g, its members (rows of the
// batch of side s) as a new chunk, and updates the group's header. own[g] is
// the group's header before. newGroup is called for groups that had no
// header.
func (op *joinOperator) writeGroups(s int, own []joinHeader, newGroup func(g int)) {
	var mk [4]byte
	var hb [12]byte
	for g := range op.g.len() {
		rows := op.members.members(int32(g))
		op.chunkBuf = appendChunk(op.chunkBuf[:0], op.types[s], op.batchSeg[s], rows)
		h := own[g]
		binary.BigEndian.PutUint32(mk[:], h.chunks)
		k, ns := op.g.key(g), op.g.ns(g)
		op.rows.Put(k, ns, mk[:], op.chunkBuf)
		nh := joinHeader{chunks: h.chunks + 1, rows: h.rows + uint32(len(rows)), first: h.first}
		op.hdr.Put(k, ns, appendHeader(hb[:0], nh))
		if !h.found && newGroup != nil {
			newGroup(g)
		}
	}
}

// processRegular joins a batch of side s with the other side's rows and
// keeps it.
func (op *joinOperator) processRegular(ctx context.Context, s, n int, out compute.Emitter) error {
	o := 1 - s
	op.nsBuf = append(op.nsBuf[:0], byte(s), byte(o))
	nsOwn, nsOther := op.nsBuf[0:1:1], op.nsBuf[1:2:2]
	op.g.reset(n)
	op.rowGroup = growInt32(op.rowGroup, n)
	for i := range n {
		if !op.valid[i] {
			op.rowGroup[i] = -1
			continue
		}
		op.rowGroup[i] = op.g.add(op.kb.At(i), nsOwn)
	}
	G := op.g.len()
	if G == 0 {
		return nil
	}
	op.members.build(op.rowGroup, G, func(i int) int32 { return int32(i) })
	// One MultiGet for the headers of both sides.
	op.lk.Reset()
	op.lns = op.lns[:0]
	for g := range G {
		k := op.g.key(g)
		op.lk.Append(k)
		op.lns = append(op.lns, nsOwn)
		op.lk.Append(k)
		op.lns = append(op.lns, nsOther)
	}
	hs := growSlice(op.own, 2*G)
	op.own = hs
	if err := op.readHeaders(ctx, hs); err != nil {
		return err
	}
	own := growSlice(op.other, G)
	op.other = own
	for g := range G {
		own[g] = hs[2*g]
	}
	// One MultiGet for the other side's chunks.
	cs := &op.cs[o]
	if err := op.readChunks(ctx, o, cs, G, op.g.key, func(int) []byte { return nsOther }, func(j int) joinHeader { return hs[2*j+1] }); err != nil {
		return err
	}
	if op.cfg.ttl > 0 {
		op.pruneExpired(cs, G, nsOther, func(j int) joinHeader { return hs[2*j+1] })
	}
	// Pairs.
	op.startPairs()
	for g := range G {
		c0, c1 := cs.first[g], cs.first[g+1]
		if c0 == c1 {
			continue
		}
		for _, row := range op.members.members(int32(g)) {
			probe := rowRef{seg: 0, row: row}
			for c := c0; c < c1; c++ {
				for r := range cs.n[c] {
					if err := op.addPair(ctx, s, probe, rowRef{seg: c, row: r}, 0, out); err != nil {
						return err
					}
				}
			}
		}
	}
	if err := op.flushPairs(ctx, s, out); err != nil {
		return err
	}
	op.writeGroups(s, own, nil)
	return nil
}

// pointDeleteChunks is the most chunks clearChunks deletes one by one (a
// variable for tests).
var pointDeleteChunks uint32 = 16

// clearChunks buffers deleting the chunks of (k, ns) that header h counts
// (expired ones included: deleting them is harmless). A few chunks (a
// window join's key usually has one per side) are deleted by key: an LSM
// keeps point tombstones in its memtable's skiplist and a flush drops those
// of keys that never reached a table, while every range deletion is kept
// apart, fragmented against the others and checked by reads. Many chunks
// are one range deletion.
func (op *joinOperator) clearChunks(k state.Key, ns []byte, h joinHeader) {
	if h.chunks > pointDeleteChunks {
		op.rows.Clear(k, ns)
		return
	}
	var mk [4]byte
	for c := range h.chunks {
		binary.BigEndian.PutUint32(mk[:], c)
		op.rows.Delete(k, ns, mk[:])
	}
}

// pruneExpired moves the headers of a regular join with state_ttl past the
// leading chunks readChunks found expired, and deletes the headers whose
// chunks all expired, so that later probes do not look them up. Chunks of a
// key are written in index order, so they expire in index order.
func (op *joinOperator) pruneExpired(cs *chunkSet, reqs int, ns []byte, hs func(j int) joinHeader) {
	var hb [12]byte
	for j := range reqs {
		e := cs.expired[j]
		if e == 0 {
			continue
		}
		op.metrics.ExpiredChunks += int64(e)
		h := hs(j)
		k := op.g.key(j)
		if cs.live[j] == 0 && h.first+uint32(e) >= h.chunks {
			op.hdr.Delete(k, ns)
			continue
		}
		h.first += uint32(e)
		op.hdr.Put(k, ns, appendHeader(hb[:0], h))
	}
}

// startPairs empties the pair buffers.
func (op *joinOperator) startPairs() {
	op.lrefs, op.rrefs, op.wstarts = op.lrefs[:0], op.rrefs[:0], op.wstarts[:0]
}

// addPair adds a joined pair: probe is a row of side s (the input batch, or
// a chunk for window joins), st a row of the other side's chunk set.
func (op *joinOperator) addPair(ctx context.Context, s int, probe, st rowRef, wstart int64, out compute.Emitter) error {
	if s == 0 {
		op.lrefs = append(op.lrefs, probe)
		op.rrefs = append(op.rrefs, st)
	} else {
		op.lrefs = append(op.lrefs, st)
		op.rrefs = append(op.rrefs, probe)
	}
	if op.cfg.kind == windowJoin {
		op.wstarts = append(op.wstarts, wstart)
	}
	if len(op.lrefs) >= joinMaxPairs {
		return op.flushPairs(ctx, s, out)
	}
	return nil
}

// flushPairs builds the joined rows of the buffered pairs, applies the
// condition and the output columns, and emits them. For regular and interval
// joins, side s's rows are in the input batch (op.batchSeg[s]) and the other
// side's in op.cs[1-s]; for window joins both are in op.cs.
func (op *joinOperator) flushPairs(ctx context.Context, s int, out compute.Emitter) error {
	n := len(op.lrefs)
	if n == 0 {
		return nil
	}
	op.metrics.Pairs += int64(n)
	var segs [2][]colSeg
	for side := range 2 {
		if op.cfg.kind != windowJoin && side == s {
			segs[side] = op.batchSeg[side]
		} else {
			segs[side] = op.cs[side].segs
		}
	}
	refs := [2][]rowRef{op.lrefs, op.rrefs}
	cols := op.cols[:0]
	for _, c := range op.cfg.cols {
		switch c.side {
		case 0, 1:
			cols = append(cols, gather(op.mem, c.dt, op.types[c.side][c.st], segs[c.side], len(op.types[c.side]), c.st, refs[c.side]))
		case 2:
			cols = append(cols, int64Column(op.mem, c.dt, op.wstarts))
		case 3:
			size := op.cfg.size / op.cfg.sides[0].unitNs
			ends := op.wstarts
			for i := range ends {
				ends[i] += size
			}
			cols = append(cols, int64Column(op.mem, c.dt, ends))
			for i := range ends {
				ends[i] -= size
			}
		}
	}
	op.cols = cols
	rec := array.NewRecordBatch(op.cfg.inner, cols, int64(n))
	for i, c := range cols {
		c.Release()
		cols[i] = nil
	}
	op.startPairs()
	res, err := op.finish(ctx, rec)
	if err != nil {
		return err
	}
	if res.NumRows() == 0 {
		res.Release()
		return nil
	}
	op.metrics.RowsOut += res.NumRows()
	return out.Emit(ctx, res)
}

// finish applies the condition and the output columns to a joined batch.
// It takes ownership of rec.
func (op *joinOperator) finish(ctx context.Context, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	if op.cfg.cond != nil {
		f, err := expr.Filter(ctx, op.mem, op.cfg.cond, rec)
		rec.Release()
		if err != nil {
			return nil, fmt.Errorf("join: condition: %w", err)
		}
		rec = f
	}
	if op.cfg.proj == nil || rec.NumRows() == 0 {
		return rec, nil
	}
	defer rec.Release()
	cols := make([]arrow.Array, len(op.cfg.proj))
	for j, e := range op.cfg.proj {
		c, err := e.Eval(ctx, op.mem, rec)
		if err != nil {
			for _, c := range cols[:j] {
				c.Release()
			}
			return nil, fmt.Errorf("join: columns[%d]: %w", j, err)
		}
		cols[j] = c
	}
	res := array.NewRecordBatch(op.cfg.out, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return res, nil
}

// floorDiv returns floor(a / b) for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// processInterval joins a batch of side s with the live rows of the other
// side within the interval, and keeps the rows that can still join later
// rows of the other side.
//
// A left row at time tl joins right rows with tl+lower <= tr <= tl+upper. A
// row is live (kept, and visible to later rows of the other side) while it
// can still meet a row of the other side that is not behind the watermark:
// a left row while tl+upper > watermark, a right row while tr-lower >
// watermark. State is bucketed by time (bucket width: upper-lower, at least
// 1 ms) and a bucket is deleted by an event-time timer when its last row
// stops being live.
func (op *joinOperator) processInterval(ctx context.Context, s int, b arrow.RecordBatch, n int, out compute.Emitter) error {
	o := 1 - s
	cfg := op.cfg
	B := cfg.bucket
	op.g.reset(n)
	op.pg.reset(2 * n)
	op.rowGroup = growInt32(op.rowGroup, n)
	op.probes = op.probes[:0]
	op.matched = growSlice(op.matched, n)
	clear(op.matched)
	op.late = op.late[:0]
	var nsb [9]byte
	for i := range n {
		op.rowGroup[i] = -1
		if !op.valid[i] {
			continue
		}
		t := op.times[i]
		var lo, hi, expiry int64
		if s == 0 {
			lo, hi, expiry = t+cfg.lower, t+cfg.upper, t+cfg.upper
		} else {
			lo, hi, expiry = t-cfg.upper, t-cfg.lower, t-cfg.lower
		}
		k := op.kb.At(i)
		for bk := floorDiv(lo, B); bk <= floorDiv(hi, B); bk++ {
			g := op.pg.add(k, appendNS(nsb[:0], o, true, bk*B))
			op.probes = append(op.probes, probe{row: int32(i), group: g})
		}
		if expiry > op.wm {
			op.rowGroup[i] = op.g.add(k, appendNS(nsb[:0], s, true, floorDiv(t, B)*B))
		} else {
			op.metrics.LateRows[s]++
			op.late = append(op.late, int32(i))
		}
	}
	P, G := op.pg.len(), op.g.len()
	op.members.build(op.rowGroup, G, func(i int) int32 { return int32(i) })
	// One MultiGet for the probed headers of the other side and the headers
	// of the buckets this batch writes.
	op.lk.Reset()
	op.lns = op.lns[:0]
	for p := range P {
		op.lk.Append(op.pg.key(p))
		op.lns = append(op.lns, op.pg.ns(p))
	}
	for g := range G {
		op.lk.Append(op.g.key(g))
		op.lns = append(op.lns, op.g.ns(g))
	}
	hs := growSlice(op.own, P+G)
	op.own = hs
	if err := op.readHeaders(ctx, hs); err != nil {
		return err
	}
	own := growSlice(op.other, G)
	op.other = own
	copy(own, hs[P:])
	cs := &op.cs[o]
	if err := op.readChunks(ctx, o, cs, P, op.pg.key, op.pg.ns, func(j int) joinHeader { return hs[j] }); err != nil {
		return err
	}
	// Pairs: exact interval and liveness checks on the other side's times.
	op.startPairs()
	ts := op.cfg.sides[o].timeStored
	stride := len(op.types[o])
	unit := op.cfg.sides[o].unitNs
	for _, pr := range op.probes {
		c0, c1 := cs.first[pr.group], cs.first[pr.group+1]
		if c0 == c1 {
			continue
		}
		t := op.times[pr.row]
		var lo, hi int64
		if s == 0 {
			lo, hi = t+cfg.lower, t+cfg.upper
		} else {
			lo, hi = t-cfg.upper, t-cfg.lower
		}
		probeRef := rowRef{seg: 0, row: pr.row}
		for c := c0; c < c1; c++ {
			seg := &cs.segs[int(c)*stride+ts]
			for r := range cs.n[c] {
				t2 := int64(binary.LittleEndian.Uint64(seg.vals[int(r)*8:])) * unit
				if t2 < lo || t2 > hi {
					continue
				}
				var exp2 int64
				if o == 0 {
					exp2 = t2 + cfg.upper
				} else {
					exp2 = t2 - cfg.lower
				}
				if exp2 <= op.wm {
					continue
				}
				op.matched[pr.row] = true
				if err := op.addPair(ctx, s, probeRef, rowRef{seg: c, row: r}, 0, out); err != nil {
					return err
				}
			}
		}
	}
	if err := op.flushPairs(ctx, s, out); err != nil {
		return err
	}
	var tb [9]byte
	var firstErr error
	op.writeGroups(s, own, func(g int) {
		ns := op.g.ns(g)
		start := int64(binary.BigEndian.Uint64(ns[1:]) ^ (1 << 63))
		last := start + B - 1
		var exp int64
		if s == 0 {
			exp = last + cfg.upper
		} else {
			exp = last - cfg.lower
		}
		copy(tb[:], ns)
		if err := op.tim.Register(timer.EventTime, op.g.key(g), tb[:len(ns)], time.Unix(0, exp)); err != nil && firstErr == nil {
			firstErr = err
		}
	})
	if firstErr != nil {
		return fmt.Errorf("join: %w", firstErr)
	}
	// Late rows that joined nothing go to the side output.
	dropped := op.late[:0]
	for _, i := range op.late {
		if !op.matched[i] {
			dropped = append(dropped, i)
		}
	}
	return op.emitLate(ctx, s, b, dropped, out)
}

// emitLate sends rows of b to the side output of side s and counts them.
func (op *joinOperator) emitLate(ctx context.Context, s int, b arrow.RecordBatch, rows []int32, out compute.Emitter) error {
	if len(rows) == 0 {
		return nil
	}
	op.metrics.LateDropped[s] += int64(len(rows))
	se, ok := out.(compute.SideEmitter)
	if !ok {
		return nil
	}
	late, err := takeRows(op.mem, b, rows)
	if err != nil {
		return fmt.Errorf("join: late rows: %w", err)
	}
	return se.EmitSide(ctx, [2]string{JoinLateLeft, JoinLateRight}[s], late)
}

// processWindow keeps a batch of side s in the window slices of its rows.
// Rows whose every window has fired (the last window's end is at or behind
// the watermark) are late: counted and sent to the side output.
func (op *joinOperator) processWindow(ctx context.Context, s int, b arrow.RecordBatch, n int, out compute.Emitter) error {
	cfg := op.cfg
	op.g.reset(n)
	op.rowGroup = growInt32(op.rowGroup, n)
	op.late = op.late[:0]
	var nsb [9]byte
	for i := range n {
		op.rowGroup[i] = -1
		if !op.valid[i] {
			continue
		}
		t := op.times[i]
		lastStart := floorDiv(t-cfg.offset, cfg.slide)*cfg.slide + cfg.offset
		if lastStart+cfg.size-cfg.tick <= op.wm {
			op.metrics.LateRows[s]++
			op.late = append(op.late, int32(i))
			continue
		}
		ss := floorDiv(t-cfg.offset, cfg.slice)*cfg.slice + cfg.offset
		op.rowGroup[i] = op.g.add(op.kb.At(i), appendNS(nsb[:0], s, true, ss))
	}
	G := op.g.len()
	if G > 0 {
		op.members.build(op.rowGroup, G, func(i int) int32 { return int32(i) })
		op.lk.Reset()
		op.lns = op.lns[:0]
		for g := range G {
			op.lk.Append(op.g.key(g))
			op.lns = append(op.lns, op.g.ns(g))
		}
		own := growSlice(op.own, G)
		op.own = own
		if err := op.readHeaders(ctx, own); err != nil {
			return err
		}
		var firstErr error
		var wns [8]byte
		op.writeGroups(s, own, func(g int) {
			ns := op.g.ns(g)
			ss := int64(binary.BigEndian.Uint64(ns[1:]) ^ (1 << 63))
			// Every window holding the slice that has not fired yet.
			for ws := floorDiv(ss-cfg.offset, cfg.slide)*cfg.slide + cfg.offset; ws+cfg.size >= ss+cfg.slice; ws -= cfg.slide {
				end := ws + cfg.size - cfg.tick
				if end <= op.wm {
					break
				}
				binary.BigEndian.PutUint64(wns[:], uint64(ws)^(1<<63))
				if err := op.tim.Register(timer.EventTime, op.g.key(g), wns[:], time.Unix(0, end)); err != nil && firstErr == nil {
					firstErr = err
				}
			}
		})
		if firstErr != nil {
			return fmt.Errorf("join: %w", firstErr)
		}
	}
	return op.emitLate(ctx, s, b, op.late, out)
}

// ProcessWatermark implements compute.Operator: it expires interval-join
// buckets and fires window-join windows.
func (op *joinOperator) ProcessWatermark(ctx context.Context, wm time.Time, out compute.Emitter) error {
	if op.cfg.kind == regularJoin {
		return nil
	}
	w := wmNanos(wm)
	if w <= op.wm {
		return nil
	}
	op.wm = w
	wt := time.Unix(0, w)
	var err error
	switch op.cfg.kind {
	case intervalJoin:
		err = op.tim.AdvanceWatermark(ctx, wt, func(t timer.Timer) error {
			op.hdr.Delete(t.Key, t.Namespace)
			op.rows.Clear(t.Key, t.Namespace)
			op.metrics.Expired++
			return nil
		})
	case windowJoin:
		op.fired = op.fired[:0]
		op.firedBuf = op.firedBuf[:0]
		err = op.tim.AdvanceWatermark(ctx, wt, func(t timer.Timer) error {
			op.fired = append(op.fired, firedWindow{kg: t.Key.Group, off: int32(len(op.firedBuf)), len: int32(len(t.Key.Bytes)), start: int64(binary.BigEndian.Uint64(t.Namespace) ^ (1 << 63))})
			op.firedBuf = append(op.firedBuf, t.Key.Bytes...)
			return nil
		})
		for i := 0; err == nil && i < len(op.fired); i += joinMaxFired {
			err = op.fireWindows(ctx, op.fired[i:min(i+joinMaxFired, len(op.fired))], out)
		}
	}
	if err != nil {
		return fmt.Errorf("join: watermark %s: %w", wm.UTC().Format(time.RFC3339Nano), err)
	}
	return op.be.Flush(ctx)
}

// wmNanos converts a watermark to Unix nanoseconds, saturating (the final
// watermark, compute.MaxWatermark, is beyond int64 nanoseconds).
func wmNanos(t time.Time) int64 {
	if t.After(time.Unix(0, math.MaxInt64)) {
		return math.MaxInt64
	}
	if t.Before(time.Unix(0, math.MinInt64)) {
		return math.MinInt64
	}
	return t.UnixNano()
}

func (op *joinOperator) firedKey(f *firedWindow) state.Key {
	return state.Key{Group: f.kg, Bytes: op.firedBuf[f.off : f.off+f.len : f.off+f.len]}
}

// fireWindows joins the rows of both sides in each fired (key, window) and
// deletes the slices no later window needs.
func (op *joinOperator) fireWindows(ctx context.Context, fired []firedWindow, out compute.Emitter) error {
	cfg := op.cfg
	per := int(cfg.size / cfg.slice) // slices per window
	op.metrics.WindowsFired += int64(len(fired))
	// Requests: per window, side, slice. Namespaces in nsBuf.
	reqs := len(fired) * 2 * per
	op.nsBuf = op.nsBuf[:0]
	for j := range fired {
		for side := range 2 {
			for k := range per {
				op.nsBuf = appendNS(op.nsBuf, side, true, fired[j].start+int64(k)*cfg.slice)
			}
		}
	}
	nsOf := func(r int) []byte { return op.nsBuf[9*r : 9*r+9 : 9*r+9] }
	keyOf := func(r int) state.Key { return op.firedKey(&fired[r/(2*per)]) }
	op.lk.Reset()
	op.lns = op.lns[:0]
	for r := range reqs {
		op.lk.Append(keyOf(r))
		op.lns = append(op.lns, nsOf(r))
	}
	hs := growSlice(op.own, reqs)
	op.own = hs
	if err := op.readHeaders(ctx, hs); err != nil {
		return err
	}
	// Chunks per side: requests of side `side` are the r with
	// (r/per)%2 == side; map them to dense per-side indices.
	for side := range 2 {
		idx := func(j int) int { // j-th request of this side
			w, k := j/per, j%per
			return w*2*per + side*per + k
		}
		if err := op.readChunks(ctx, side, &op.cs[side], len(fired)*per, func(j int) state.Key { return keyOf(idx(j)) }, func(j int) []byte { return nsOf(idx(j)) }, func(j int) joinHeader { return hs[idx(j)] }); err != nil {
			return err
		}
	}
	op.startPairs()
	L, R := &op.cs[0], &op.cs[1]
	for j := range fired {
		l0, l1 := L.first[j*per], L.first[(j+1)*per]
		r0, r1 := R.first[j*per], R.first[(j+1)*per]
		if l0 == l1 || r0 == r1 {
			continue
		}
		ws := fired[j].start
		for lc := l0; lc < l1; lc++ {
			for lr := range L.n[lc] {
				lref := rowRef{seg: lc, row: lr}
				for rc := r0; rc < r1; rc++ {
					for rr := range R.n[rc] {
						if err := op.addPair(ctx, 0, lref, rowRef{seg: rc, row: rr}, ws/op.cfg.sides[0].unitNs, out); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	if err := op.flushPairs(ctx, 0, out); err != nil {
		return err
	}
	// Purge the slices of each fired window that no later window holds.
	for j := range fired {
		ws := fired[j].start
		for k := range per {
			ss := ws + int64(k)*cfg.slice
			if ss >= ws+cfg.slide {
				break
			}
			for side := range 2 {
				r := j*2*per + side*per + k
				if hs[r].found {
					op.hdr.Delete(keyOf(r), nsOf(r))
					op.clearChunks(keyOf(r), nsOf(r), hs[r])
					op.metrics.Expired++
				}
			}
		}
	}
	return nil
}

// Snapshot implements compute.Operator: it applies the buffered state
// writes; the runtime checkpoints the store.
func (op *joinOperator) Snapshot(ctx context.Context, _ uint64) error { return op.be.Flush(ctx) }

// Finish implements compute.Operator. Interval and window joins have
// nothing left to emit: the final watermark fired every window.
func (op *joinOperator) Finish(ctx context.Context, _ compute.Emitter) error {
	return op.be.Flush(ctx)
}

// Close implements compute.Operator. The runtime closes the store.
func (op *joinOperator) Close() error { return nil }
