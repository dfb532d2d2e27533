package operator

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/changelog"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/statestore"
)

// State of the top-n operator (the ID is part of the checkpoint format):
//
//	1 "top"  value per partition: the top rows in rank order, each as
//	         uvarint len | sort key | uvarint len | row, where the sort key is
//	         the order-preserving encoding of the order columns (descending
//	         columns complemented) and the row is the state.KeyEncoder
//	         encoding of all input columns (decoded back with DecodeKeys).
const topnStateID = 1

type topnEntry struct {
	sk, row []byte
}

// topnOperator is one subtask of a top-n node.
type topnOperator struct {
	p   *topnPlan
	mem memory.Allocator

	be     *state.Backend
	top    *state.ValueState
	enc    *state.KeyEncoder // partition keys
	rowEnc *state.KeyEncoder // whole rows

	kg       keyGrouper
	allCols  []arrow.Array
	rkb      state.KeyBatch
	byGroup  []int32 // row indices grouped by partition, arrival order kept
	groupOff []int32
	sk       []byte
	skOff    []int32

	arena   []byte
	stored  [][2]int32 // per group: arena offset and length of its stored value; -1 = none
	foundFn func(i int, v []byte)

	old, cur []topnEntry
	encBuf   []byte

	outRows [][]byte
	outOps  []changelog.Op
	outRank []int64
	opsB    *changelog.OpBuilder
	rankB   *array.Int64Builder

	sweep ttlSweeper
}

// TopNMetrics counts a top-n operator subtask's work.
type TopNMetrics struct {
	// TTL counts the state TTL work (state_ttl only).
	TTL TTLMetrics
}

var _ compute.ProcessingTimeOperator = (*topnOperator)(nil)

// Metrics returns a snapshot of the operator's counters.
func (o *topnOperator) Metrics() TopNMetrics { return TopNMetrics{TTL: o.sweep.metrics()} }

// NextProcessingTime implements compute.ProcessingTimeOperator: with
// state_ttl the operator sweeps expired partitions in the background.
func (o *topnOperator) NextProcessingTime() (time.Time, bool) { return o.sweep.nextTime() }

// OnProcessingTime implements compute.ProcessingTimeOperator.
func (o *topnOperator) OnProcessingTime(ctx context.Context, now time.Time, _ compute.Emitter) error {
	if err := o.sweep.run(ctx, now); err != nil {
		return fmt.Errorf("top_n: state TTL sweep: %w", err)
	}
	return nil
}

func newTopNOperator(p *topnPlan) *topnOperator { return &topnOperator{p: p} }

// Open implements compute.Operator.
func (o *topnOperator) Open(ctx context.Context, oc *compute.OperatorContext) error {
	o.mem = oc.Allocator
	if o.mem == nil {
		o.mem = memory.DefaultAllocator
	}
	store, err := oc.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("top_n: open state: %w", err)
	}
	if o.be, err = state.Open(ctx, state.Options{Store: store, KeyGroups: oc.KeyGroups, Name: oc.Node, Clock: oc.Clock}); err != nil {
		return fmt.Errorf("top_n: %w", err)
	}
	if o.top, err = o.be.Value(state.Descriptor{ID: topnStateID, Name: "top", TTL: stateTTL(o.p.ttl)}); err != nil {
		return err
	}
	o.sweep.open(o.be, o.p.ttl, o.be.Clock().Now())
	if o.enc, err = state.NewKeyEncoder(o.p.keyTypes, oc.MaxParallelism); err != nil {
		return fmt.Errorf("top_n: %w", err)
	}
	var types []arrow.DataType
	for _, f := range o.p.in.Fields() {
		types = append(types, f.Type)
	}
	if o.rowEnc, err = state.NewKeyEncoder(types, oc.MaxParallelism); err != nil {
		return fmt.Errorf("top_n: %w", err)
	}
	o.kg = newKeyGrouper(o.enc, len(o.p.keys))
	o.foundFn = func(g int, v []byte) {
		o.stored[g] = [2]int32{int32(len(o.arena)), int32(len(v))}
		o.arena = append(o.arena, v...)
	}
	o.opsB = changelog.NewOpBuilder(o.mem)
	o.rankB = array.NewInt64Builder(o.mem)
	return nil
}

// Close implements compute.Operator.
func (o *topnOperator) Close() error {
	if o.opsB != nil {
		o.opsB.Release()
		o.rankB.Release()
		o.opsB, o.rankB = nil, nil
	}
	return nil
}

// ProcessWatermark implements compute.Operator: top-n does not act on event
// time.
func (o *topnOperator) ProcessWatermark(context.Context, time.Time, compute.Emitter) error {
	return nil
}

// Snapshot implements compute.Operator.
func (o *topnOperator) Snapshot(ctx context.Context, _ uint64) error { return o.be.Flush(ctx) }

// Finish implements compute.Operator: changes are emitted batch by batch.
func (o *topnOperator) Finish(context.Context, compute.Emitter) error { return nil }

// ProcessBatch implements compute.Operator.
func (o *topnOperator) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, out compute.Emitter) error {
	defer b.Release()
	n := int(b.NumRows())
	if n == 0 {
		return nil
	}
	p := o.p
	G, err := o.kg.group(b, p.keys)
	if err != nil {
		return fmt.Errorf("top_n: %w", err)
	}
	// Rows by group, in arrival order (counting sort).
	o.groupOff = aggGrow(o.groupOff, G+1)
	clear(o.groupOff)
	for _, g := range o.kg.rowGroup[:n] {
		o.groupOff[g+1]++
	}
	for g := range G {
		o.groupOff[g+1] += o.groupOff[g]
	}
	o.byGroup = aggGrow(o.byGroup, n)
	fill := aggGrow(o.skOff, G) // reuse skOff as a cursor for a moment
	copy(fill, o.groupOff[:G])
	for i, g := range o.kg.rowGroup[:n] {
		o.byGroup[fill[g]] = int32(i)
		fill[g]++
	}
	// Sort keys of every row.
	o.sk = o.sk[:0]
	o.skOff = aggGrow(fill, n+1)
	o.skOff[0] = 0
	for i := range n {
		for _, ord := range p.order {
			start := len(o.sk)
			o.sk = topnAppendSortValue(o.sk, b.Column(ord.col), i)
			if ord.desc {
				for j := start; j < len(o.sk); j++ {
					o.sk[j] = ^o.sk[j]
				}
			}
		}
		o.skOff[i+1] = int32(len(o.sk))
	}
	// Encode every row for state and output (decoded back with DecodeKeys).
	o.allCols = append(o.allCols[:0], b.Columns()...)
	o.rkb.Reset()
	if err := o.rowEnc.Encode(o.allCols, &o.rkb); err != nil {
		return fmt.Errorf("top_n: %w", err)
	}

	// One MultiGet for the stored top rows of every partition of the batch.
	o.arena = o.arena[:0]
	o.stored = aggGrow(o.stored, G)
	for g := range o.stored {
		o.stored[g] = [2]int32{-1, 0}
	}
	if err := o.top.MultiGet(ctx, &o.kg.ukb, state.Namespaces{}, o.foundFn); err != nil {
		return fmt.Errorf("top_n: %w", err)
	}

	o.outRows, o.outOps, o.outRank = o.outRows[:0], o.outOps[:0], o.outRank[:0]
	for g := range G {
		if err := o.processGroup(g); err != nil {
			return err
		}
	}
	if err := o.be.Flush(ctx); err != nil {
		return fmt.Errorf("top_n: %w", err)
	}
	if len(o.outRows) == 0 {
		return nil
	}
	return o.emit(ctx, out)
}

func (o *topnOperator) processGroup(g int) error {
	p := o.p
	o.old = o.old[:0]
	if s := o.stored[g]; s[0] >= 0 {
		v := o.arena[s[0] : s[0]+s[1]]
		for len(v) > 0 {
			var e topnEntry
			var ok bool
			if e.sk, v, ok = topnReadBytes(v); !ok {
				return statestore.CorruptionErrorf("top_n: stored top rows of %d bytes do not decode", s[1])
			}
			if e.row, v, ok = topnReadBytes(v); !ok {
				return statestore.CorruptionErrorf("top_n: stored top rows of %d bytes do not decode", s[1])
			}
			o.old = append(o.old, e)
		}
	}
	o.cur = append(o.cur[:0], o.old...)
	changed := false
	for _, r := range o.byGroup[o.groupOff[g]:o.groupOff[g+1]] {
		sk := o.sk[o.skOff[r]:o.skOff[r+1]]
		full := len(o.cur) >= p.limit
		if full && bytes.Compare(sk, o.cur[len(o.cur)-1].sk) >= 0 {
			continue
		}
		// position after every entry <= sk (ties: arrival order)
		lo, hi := 0, len(o.cur)
		for lo < hi {
			m := (lo + hi) / 2
			if bytes.Compare(o.cur[m].sk, sk) <= 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		e := topnEntry{sk: sk, row: o.rkb.Key(int(r))}
		if full {
			o.cur = o.cur[:len(o.cur)-1]
		}
		o.cur = append(o.cur, topnEntry{})
		copy(o.cur[lo+1:], o.cur[lo:])
		o.cur[lo] = e
		changed = true
	}
	if !changed {
		return nil
	}
	o.diff()
	o.encBuf = o.encBuf[:0]
	for _, e := range o.cur {
		o.encBuf = binary.AppendUvarint(o.encBuf, uint64(len(e.sk)))
		o.encBuf = append(o.encBuf, e.sk...)
		o.encBuf = binary.AppendUvarint(o.encBuf, uint64(len(e.row)))
		o.encBuf = append(o.encBuf, e.row...)
	}
	o.top.Put(o.kg.ukb.At(g), nil, o.encBuf)
	return nil
}

func (o *topnOperator) add(op changelog.Op, row []byte, rank int) {
	o.outOps = append(o.outOps, op)
	o.outRows = append(o.outRows, row)
	o.outRank = append(o.outRank, int64(rank))
}

func sameEntry(a, b topnEntry) bool { return bytes.Equal(a.row, b.row) && bytes.Equal(a.sk, b.sk) }

// diff emits the changes from o.old to o.cur.
func (o *topnOperator) diff() {
	old, cur := o.old, o.cur
	if o.p.rowNumber {
		for r := range max(len(old), len(cur)) {
			switch {
			case r >= len(old):
				o.add(changelog.Insert, cur[r].row, r+1)
			case r >= len(cur):
				o.add(changelog.Delete, old[r].row, r+1)
			case !sameEntry(old[r], cur[r]):
				o.add(changelog.UpdateBefore, old[r].row, r+1)
				o.add(changelog.UpdateAfter, cur[r].row, r+1)
			}
		}
		return
	}
	// Without ranks: multiset difference. Both lists are sorted by sort key,
	// but equal rows may sit anywhere among equal keys; n is small.
	var removed, added []int
	used := make([]bool, len(cur))
	for i := range old {
		found := false
		for j := range cur {
			if !used[j] && sameEntry(old[i], cur[j]) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			removed = append(removed, i)
		}
	}
	for j := range cur {
		if !used[j] {
			added = append(added, j)
		}
	}
	if len(removed) == 1 && len(added) == 1 {
		o.add(changelog.UpdateBefore, old[removed[0]].row, 0)
		o.add(changelog.UpdateAfter, cur[added[0]].row, 0)
		return
	}
	for _, i := range removed {
		o.add(changelog.Delete, old[i].row, 0)
	}
	for _, j := range added {
		o.add(changelog.Insert, cur[j].row, 0)
	}
}

func (o *topnOperator) emit(ctx context.Context, out compute.Emitter) error {
	cols, err := o.rowEnc.DecodeKeys(o.mem, o.outRows)
	if err != nil {
		return fmt.Errorf("top_n: %w", err)
	}
	o.opsB.AppendOps(o.outOps)
	all := make([]arrow.Array, 0, len(cols)+2)
	all = append(all, o.opsB.NewArray())
	all = append(all, cols...)
	if o.p.rowNumber {
		o.rankB.AppendValues(o.outRank, nil)
		all = append(all, o.rankB.NewArray())
	}
	rec := array.NewRecordBatch(o.p.out, all, int64(len(o.outRows)))
	for _, c := range all {
		c.Release()
	}
	return out.Emit(ctx, rec)
}

func topnReadBytes(v []byte) (field, rest []byte, ok bool) {
	l, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < l {
		return nil, nil, false
	}
	return v[w : w+int(l)], v[w+int(l):], true
}

// topnAppendSortValue appends the order-preserving encoding of row i of col:
// 0x00 for NULL (first), else 0x01 and the value — signed integers, times
// and dates as big-endian int64 with the sign bit flipped, unsigned as
// big-endian uint64, floats by their ordered bits (-0 = +0, NaN last),
// strings with 0x00 escaped as 0x00 0xFF and terminated by 0x00 0x01. The
// encoding is prefix-free, so complementing it reverses the order.
func topnAppendSortValue(dst []byte, col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return append(dst, 0x00)
	}
	dst = append(dst, 0x01)
	signed := func(v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63)) }
	switch c := col.(type) {
	case *array.Int8:
		return signed(int64(c.Value(i)))
	case *array.Int16:
		return signed(int64(c.Value(i)))
	case *array.Int32:
		return signed(int64(c.Value(i)))
	case *array.Int64:
		return signed(c.Value(i))
	case *array.Uint8:
		return binary.BigEndian.AppendUint64(dst, uint64(c.Value(i)))
	case *array.Uint16:
		return binary.BigEndian.AppendUint64(dst, uint64(c.Value(i)))
	case *array.Uint32:
		return binary.BigEndian.AppendUint64(dst, uint64(c.Value(i)))
	case *array.Uint64:
		return binary.BigEndian.AppendUint64(dst, c.Value(i))
	case *array.Float32:
		return binary.BigEndian.AppendUint64(dst, topnOrderedFloat(float64(c.Value(i))))
	case *array.Float64:
		return binary.BigEndian.AppendUint64(dst, topnOrderedFloat(c.Value(i)))
	case *array.Timestamp:
		return signed(int64(c.Value(i)))
	case *array.Date32:
		return signed(int64(c.Value(i)))
	case *array.Date64:
		return signed(int64(c.Value(i)))
	case *array.String:
		s := c.Value(i)
		for j := 0; j < len(s); j++ {
			if s[j] == 0 {
				dst = append(dst, 0x00, 0xFF)
			} else {
				dst = append(dst, s[j])
			}
		}
		return append(dst, 0x00, 0x01)
	}
	panic(fmt.Sprintf("top_n: order column type %s", col.DataType()))
}

func topnOrderedFloat(x float64) uint64 {
	if x == 0 {
		x = 0
	}
	if math.IsNaN(x) {
		return math.MaxUint64
	}
	u := math.Float64bits(x)
	if u>>63 == 0 {
		return u | 1<<63
	}
	return ^u
}
