package operator

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/changelog"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/statestore"
)

// State of the aggregate operator (state IDs are part of the checkpoint
// format):
//
//	1 "acc"      value per key: varint row count, then per aggregate its
//	             accumulator (see appendAcc)
//	2 "distinct" map per key, only with count_distinct: map key = aggregate
//	             index (1 byte) + the value (int64/timestamp: 8 bytes
//	             big-endian; float64: its canonical bits; string: bytes),
//	             map value = 0x01. The aggregate's count lives in "acc".
const (
	aggAccStateID      = 1
	aggDistinctStateID = 2
)

// aggSlot is one aggregate's accumulator for one key.
type aggSlot struct {
	n int64   // count / non-NULL inputs / distinct values
	i int64   // int64 or timestamp value: sum, min, max, first, last
	x float64 // float64 value
	s []byte  // string value (reused across batches)
}

// aggOperator is one subtask of an aggregate node.
type aggOperator struct {
	p   *aggPlan
	mem memory.Allocator

	be       *state.Backend
	acc      *state.ValueState
	distinct *state.MapState
	enc      *state.KeyEncoder

	// per-batch scratch, reused
	kg       keyGrouper
	sign     []int64
	old, cur []aggSlot // G*len(aggs), group-major
	oldRows  []int64
	curRows  []int64
	existed  []bool
	stateErr error
	foundFn  func(i int, v []byte)

	dset    aggByteSet
	dkb     state.KeyBatch
	dreq    []int32 // slot index (g*nA+a) per distinct request
	dmks    [][]byte
	dfound  []bool
	dFnd    func(i int, v []byte)
	scratch []byte

	outOps   *changelog.OpBuilder
	outKeys  [][]byte
	outAggs  []array.Builder
	encBuf   []byte
	outBatch []arrow.Array

	run     []int64 // per group: running row count (state_ttl, updating input)
	sweep   ttlSweeper
	metrics AggregateMetrics
}

// AggregateMetrics counts an aggregate operator subtask's work.
type AggregateMetrics struct {
	// RetractionsIgnored counts retractions (-U, -D) of an updating input
	// dropped because their key had no state (it expired; state_ttl only).
	RetractionsIgnored int64
	// TTL counts the state TTL work (state_ttl only).
	TTL TTLMetrics
}

var _ compute.ProcessingTimeOperator = (*aggOperator)(nil)

// Metrics returns a snapshot of the operator's counters.
func (o *aggOperator) Metrics() AggregateMetrics {
	m := o.metrics
	m.TTL = o.sweep.metrics()
	return m
}

// NextProcessingTime implements compute.ProcessingTimeOperator: with
// state_ttl the operator sweeps expired keys in the background.
func (o *aggOperator) NextProcessingTime() (time.Time, bool) { return o.sweep.nextTime() }

// OnProcessingTime implements compute.ProcessingTimeOperator.
func (o *aggOperator) OnProcessingTime(ctx context.Context, now time.Time, _ compute.Emitter) error {
	if err := o.sweep.run(ctx, now); err != nil {
		return fmt.Errorf("aggregate: state TTL sweep: %w", err)
	}
	return nil
}

func newAggOperator(p *aggPlan) *aggOperator {
	return &aggOperator{p: p}
}

// Open implements compute.Operator.
func (o *aggOperator) Open(ctx context.Context, oc *compute.OperatorContext) error {
	o.mem = oc.Allocator
	if o.mem == nil {
		o.mem = memory.DefaultAllocator
	}
	store, err := oc.OpenStore(ctx)
	if err != nil {
		return fmt.Errorf("aggregate: open state: %w", err)
	}
	o.be, err = state.Open(ctx, state.Options{Store: store, KeyGroups: oc.KeyGroups, Name: oc.Node, Clock: oc.Clock})
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	ttl := stateTTL(o.p.ttl)
	if o.acc, err = o.be.Value(state.Descriptor{ID: aggAccStateID, Name: "acc", TTL: ttl}); err != nil {
		return err
	}
	if o.p.distinct > 0 {
		if o.distinct, err = o.be.Map(state.Descriptor{ID: aggDistinctStateID, Name: "distinct", TTL: ttl}); err != nil {
			return err
		}
	}
	o.sweep.open(o.be, o.p.ttl, o.be.Clock().Now())
	if o.enc, err = state.NewKeyEncoder(o.p.keyTypes, oc.MaxParallelism); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	o.kg = newKeyGrouper(o.enc, len(o.p.keys))
	o.foundFn = o.found
	o.dFnd = func(i int, _ []byte) { o.dfound[i] = true }
	o.outOps = changelog.NewOpBuilder(o.mem)
	for _, a := range o.p.aggs {
		o.outAggs = append(o.outAggs, array.NewBuilder(o.mem, a.result))
	}
	return nil
}

// Close implements compute.Operator.
func (o *aggOperator) Close() error {
	if o.outOps != nil {
		o.outOps.Release()
		o.outOps = nil
	}
	for _, b := range o.outAggs {
		b.Release()
	}
	o.outAggs = nil
	return nil
}

// ProcessWatermark implements compute.Operator: an unbounded aggregate does
// not act on event time.
func (o *aggOperator) ProcessWatermark(context.Context, time.Time, compute.Emitter) error { return nil }

// Snapshot implements compute.Operator. State is flushed after every batch;
// this flushes anything pending.
func (o *aggOperator) Snapshot(ctx context.Context, _ uint64) error { return o.be.Flush(ctx) }

// Finish implements compute.Operator: the updates were emitted batch by
// batch, nothing is held back.
func (o *aggOperator) Finish(context.Context, compute.Emitter) error { return nil }

func aggGrow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// found decodes the stored accumulators of group i into old.
func (o *aggOperator) found(g int, v []byte) {
	nA := len(o.p.aggs)
	rows, err := aggDecodeAccs(o.p, v, o.old[g*nA:(g+1)*nA])
	if err != nil {
		if o.stateErr == nil {
			o.stateErr = err
		}
		return
	}
	o.existed[g] = true
	o.oldRows[g] = rows
}

// ProcessBatch implements compute.Operator.
func (o *aggOperator) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, out compute.Emitter) error {
	defer b.Release()
	n := int(b.NumRows())
	if n == 0 {
		return nil
	}
	p := o.p
	nA := len(p.aggs)
	o.sign = o.sign[:0]
	if p.updating {
		opsCol, ok := b.Column(0).(*array.Int8)
		if !ok || opsCol.NullN() > 0 {
			return fmt.Errorf("aggregate: input column %q must be a non-NULL int8", changelog.Column)
		}
		o.sign = aggGrow(o.sign, n)
		for i, v := range opsCol.Int8Values() {
			switch op := changelog.Op(v); {
			case op.IsAdd():
				o.sign[i] = 1
			case op.IsRetract():
				o.sign[i] = -1
			default:
				return fmt.Errorf("aggregate: input row %d: invalid %s %d", i, changelog.Column, v)
			}
		}
	}

	// Group the rows by key.
	G, err := o.kg.group(b, p.keys)
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	o.old = aggGrowSlots(o.old, G*nA)
	o.cur = aggGrowSlots(o.cur, G*nA)
	o.oldRows = aggGrow(o.oldRows, G)
	o.curRows = aggGrow(o.curRows, G)
	o.existed = aggGrow(o.existed, G)
	clear(o.oldRows)
	clear(o.existed)

	// One MultiGet for the accumulators of every key of the batch.
	o.stateErr = nil
	if err := o.acc.MultiGet(ctx, &o.kg.ukb, state.Namespaces{}, o.foundFn); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	if o.stateErr != nil {
		return fmt.Errorf("aggregate: %w", o.stateErr)
	}
	for j := range G * nA {
		c, s := &o.cur[j], &o.old[j]
		c.n, c.i, c.x, c.s = s.n, s.i, s.x, append(c.s[:0], s.s...)
	}
	copy(o.curRows, o.oldRows)
	if p.updating && p.ttl > 0 {
		o.dropOrphanRetractions(n, G)
	}
	if p.updating {
		for i, g := range o.kg.rowGroup[:n] {
			o.curRows[g] += o.sign[i]
		}
	} else {
		for _, g := range o.kg.rowGroup[:n] {
			o.curRows[g]++
		}
	}

	// Fold the batch into the accumulators, one aggregate at a time.
	for a := range p.aggs {
		spec := &p.aggs[a]
		if spec.kind == aggCountDistinct {
			continue
		}
		var col arrow.Array
		if spec.expr != nil {
			var err error
			if col, err = spec.expr.Eval(ctx, o.mem, b); err != nil {
				return fmt.Errorf("aggregate: %s: %w", spec.name, err)
			}
		}
		o.fold(a, col)
		if col != nil {
			col.Release()
		}
	}
	if p.distinct > 0 {
		if err := o.foldDistinct(ctx, b); err != nil {
			return err
		}
	}
	return o.emit(ctx, out)
}

// dropOrphanRetractions zeroes the sign of every retraction that would take
// its key's row count below zero: with state_ttl the key's state expired
// (or was never seen), and Flink drops such retractions rather than
// failing. Rows are taken in arrival order.
func (o *aggOperator) dropOrphanRetractions(n, G int) {
	o.run = aggGrow(o.run, G)
	copy(o.run, o.oldRows[:G])
	for i, g := range o.kg.rowGroup[:n] {
		if o.sign[i] < 0 && o.run[g] <= 0 {
			o.sign[i] = 0
			o.metrics.RetractionsIgnored++
			continue
		}
		o.run[g] += o.sign[i]
	}
}

func aggGrowSlots(s []aggSlot, n int) []aggSlot {
	if cap(s) >= n {
		s = s[:n]
		for i := range s {
			s[i].n, s[i].i, s[i].x, s[i].s = 0, 0, 0, s[i].s[:0]
		}
		return s
	}
	s = s[:cap(s)]
	for i := range s {
		s[i].n, s[i].i, s[i].x, s[i].s = 0, 0, 0, s[i].s[:0]
	}
	return append(s, make([]aggSlot, n-len(s), n+n/4)...)
}

// aggInt64Values reads an int64 or timestamp column's values in place.
func aggInt64Values(col arrow.Array) []int64 {
	switch c := col.(type) {
	case *array.Int64:
		return c.Int64Values()
	case *array.Timestamp:
		ts := c.TimestampValues()
		return unsafe.Slice((*int64)(unsafe.SliceData(ts)), len(ts))
	}
	return nil
}

// fold applies the batch's rows to aggregate a of every group.
func (o *aggOperator) fold(a int, col arrow.Array) {
	spec := &o.p.aggs[a]
	nA := len(o.p.aggs)
	rg := o.kg.rowGroup[:o.kbLen()]
	sign := o.sign
	signed := len(sign) > 0
	nulls := col != nil && col.NullN() > 0
	slot := func(g int32) *aggSlot { return &o.cur[int(g)*nA+a] }
	switch spec.kind {
	case aggCount:
		if signed {
			for i, g := range rg {
				slot(g).n += sign[i]
			}
			return
		}
		for _, g := range rg {
			slot(g).n++
		}
		return
	case aggCountNonNull:
		for i, g := range rg {
			if nulls && col.IsNull(i) {
				continue
			}
			if signed {
				slot(g).n += sign[i]
			} else {
				slot(g).n++
			}
		}
		return
	}
	switch spec.vk {
	case avInt:
		vals := aggInt64Values(col)
		for i, g := range rg {
			if nulls && col.IsNull(i) {
				continue
			}
			s := slot(g)
			v := vals[i]
			switch spec.kind {
			case aggSum, aggAvg:
				if signed {
					s.n += sign[i]
					s.i += sign[i] * v
				} else {
					s.n++
					s.i += v
				}
				continue
			case aggMin:
				if s.n == 0 || v < s.i {
					s.i = v
				}
			case aggMax:
				if s.n == 0 || v > s.i {
					s.i = v
				}
			case aggFirst:
				if s.n == 0 {
					s.i = v
				}
			case aggLast:
				s.i = v
			}
			s.n++
		}
	case avFloat:
		vals := col.(*array.Float64).Float64Values()
		for i, g := range rg {
			if nulls && col.IsNull(i) {
				continue
			}
			s := slot(g)
			v := vals[i]
			switch spec.kind {
			case aggSum, aggAvg:
				if signed {
					s.n += sign[i]
					s.x += float64(sign[i]) * v
				} else {
					s.n++
					s.x += v
				}
				continue
			case aggMin:
				if s.n == 0 || aggFloatLess(v, s.x) {
					s.x = v
				}
			case aggMax:
				if s.n == 0 || aggFloatLess(s.x, v) {
					s.x = v
				}
			case aggFirst:
				if s.n == 0 {
					s.x = v
				}
			case aggLast:
				s.x = v
			}
			s.n++
		}
	case avString:
		c := col.(*array.String)
		for i, g := range rg {
			if nulls && c.IsNull(i) {
				continue
			}
			s := slot(g)
			v := c.Value(i)
			switch spec.kind {
			case aggMin:
				if s.n == 0 || v < string(s.s) {
					s.s = append(s.s[:0], v...)
				}
			case aggMax:
				if s.n == 0 || v > string(s.s) {
					s.s = append(s.s[:0], v...)
				}
			case aggFirst:
				if s.n == 0 {
					s.s = append(s.s[:0], v...)
				}
			case aggLast:
				s.s = append(s.s[:0], v...)
			}
			s.n++
		}
	}
}

func (o *aggOperator) kbLen() int { return o.kg.kb.Len() }

// aggFloatLess orders float64s with NaN above everything (as compute/window).
func aggFloatLess(a, b float64) bool { return a < b || (!math.IsNaN(a) && math.IsNaN(b)) }

// aggCanonicalFloat maps -0 to +0 and every NaN to one NaN, so equal SQL values
// are one distinct value.
func aggCanonicalFloat(x float64) uint64 {
	switch {
	case x == 0:
		return 0
	case math.IsNaN(x):
		return math.Float64bits(math.NaN())
	}
	return math.Float64bits(x)
}

// foldDistinct adds the batch's values to the per-key distinct sets of every
// count_distinct aggregate with one MapState.MultiGet over the (key, value)
// pairs the batch holds, and counts the new ones.
func (o *aggOperator) foldDistinct(ctx context.Context, b arrow.RecordBatch) error {
	p := o.p
	nA := len(p.aggs)
	n := o.kg.kb.Len()
	o.dset.reset(min(n*p.distinct, 1<<16))
	o.dkb.Reset()
	o.dreq = o.dreq[:0]
	for a := range p.aggs {
		spec := &p.aggs[a]
		if spec.kind != aggCountDistinct {
			continue
		}
		col, err := spec.expr.Eval(ctx, o.mem, b)
		if err != nil {
			return fmt.Errorf("aggregate: %s: %w", spec.name, err)
		}
		var ints []int64
		var flts []float64
		var strs *array.String
		switch spec.vk {
		case avInt:
			ints = aggInt64Values(col)
		case avFloat:
			flts = col.(*array.Float64).Float64Values()
		case avString:
			strs = col.(*array.String)
		}
		nulls := col.NullN() > 0
		for i, g := range o.kg.rowGroup[:n] {
			if nulls && col.IsNull(i) {
				continue
			}
			// dedup key: group (4 bytes) | aggregate (1 byte) | value
			k := binary.BigEndian.AppendUint32(o.scratch[:0], uint32(g))
			k = append(k, byte(a))
			switch {
			case ints != nil:
				k = binary.BigEndian.AppendUint64(k, uint64(ints[i]))
			case flts != nil:
				k = binary.BigEndian.AppendUint64(k, aggCanonicalFloat(flts[i]))
			default:
				k = append(k, strs.Value(i)...)
			}
			o.scratch = k
			if _, added := o.dset.add(k); added {
				o.dkb.Append(o.kg.ukb.At(int(g)))
				o.dreq = append(o.dreq, g*int32(nA)+int32(a))
			}
		}
		col.Release()
	}
	m := o.dset.len()
	if m == 0 {
		return nil
	}
	o.dmks = aggGrow(o.dmks, m)
	for j := range m {
		o.dmks[j] = o.dset.key(int32(j))[4:]
	}
	o.dfound = aggGrow(o.dfound, m)
	clear(o.dfound)
	if err := o.distinct.MultiGet(ctx, &o.dkb, state.Namespaces{}, o.dmks, o.dFnd); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	one := []byte{1}
	for j := range m {
		if o.dfound[j] {
			if o.p.ttl > 0 {
				// Seen again: the value's entry lives state_ttl from now,
				// like the key's accumulators written in this batch.
				o.distinct.Put(o.dkb.At(j), nil, o.dmks[j], one)
			}
			continue
		}
		o.distinct.Put(o.dkb.At(j), nil, o.dmks[j], one)
		o.cur[o.dreq[j]].n++
	}
	return nil
}

// emit writes the changed accumulators back and emits the batch's changes.
func (o *aggOperator) emit(ctx context.Context, out compute.Emitter) error {
	p := o.p
	nA := len(p.aggs)
	G := o.kg.groups.len()
	o.outKeys = o.outKeys[:0]
	o.outOps.Reserve(2 * G)
	appendRow := func(op changelog.Op, g int, slots []aggSlot) {
		o.outOps.Append(op)
		o.outKeys = append(o.outKeys, o.kg.ukb.Key(g))
		for a := range p.aggs {
			appendAggResult(o.outAggs[a], &p.aggs[a], &slots[a])
		}
	}
	for g := range G {
		k := o.kg.ukb.At(g)
		old, cur := o.old[g*nA:(g+1)*nA], o.cur[g*nA:(g+1)*nA]
		rows := o.curRows[g]
		switch {
		case rows < 0:
			return fmt.Errorf("aggregate: key %x: the input retracted %d more rows than it inserted (an inconsistent changelog)", k.Bytes, -rows)
		case rows == 0:
			if o.existed[g] {
				appendRow(changelog.Delete, g, old)
			}
			o.acc.Delete(k, nil)
			if o.distinct != nil {
				o.distinct.ClearKey(k)
			}
			continue
		case !o.existed[g]:
			appendRow(changelog.Insert, g, cur)
		case !aggSameResults(p, old, cur):
			appendRow(changelog.UpdateBefore, g, old)
			appendRow(changelog.UpdateAfter, g, cur)
		}
		o.encBuf = aggAppendAccs(o.encBuf[:0], p, rows, cur)
		o.acc.Put(k, nil, o.encBuf)
	}
	if err := o.be.Flush(ctx); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	if len(o.outKeys) == 0 {
		return nil
	}
	return o.emitBatch(ctx, out)
}

func (o *aggOperator) emitBatch(ctx context.Context, out compute.Emitter) error {
	keys, err := o.enc.DecodeKeys(o.mem, o.outKeys)
	if err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	cols := o.outBatch[:0]
	cols = append(cols, o.outOps.NewArray())
	cols = append(cols, keys...)
	for _, b := range o.outAggs {
		cols = append(cols, b.NewArray())
	}
	rec := array.NewRecordBatch(o.p.out, cols, int64(len(o.outKeys)))
	for i, c := range cols {
		c.Release()
		cols[i] = nil
	}
	o.outBatch = cols
	return out.Emit(ctx, rec)
}

// aggSameResults reports whether two keys' accumulators give the same output.
func aggSameResults(p *aggPlan, a, b []aggSlot) bool {
	for i := range p.aggs {
		x, y := &a[i], &b[i]
		switch k := p.aggs[i].kind; k {
		case aggCount, aggCountNonNull, aggCountDistinct:
			if x.n != y.n {
				return false
			}
		default:
			if (x.n == 0) != (y.n == 0) {
				return false
			}
			if x.n == 0 {
				continue
			}
			if k == aggAvg {
				if aggAvgOf(&p.aggs[i], x) != aggAvgOf(&p.aggs[i], y) {
					return false
				}
				continue
			}
			if x.i != y.i || math.Float64bits(x.x) != math.Float64bits(y.x) || string(x.s) != string(y.s) {
				return false
			}
		}
	}
	return true
}

func aggAvgOf(spec *aggSpec, s *aggSlot) float64 {
	if spec.vk == avInt {
		return float64(s.i) / float64(s.n)
	}
	return s.x / float64(s.n)
}

// appendAggResult appends the result of one accumulator to its column.
func appendAggResult(b array.Builder, spec *aggSpec, s *aggSlot) {
	switch spec.kind {
	case aggCount, aggCountNonNull, aggCountDistinct:
		b.(*array.Int64Builder).Append(s.n)
		return
	}
	if s.n == 0 {
		b.AppendNull()
		return
	}
	if spec.kind == aggAvg {
		b.(*array.Float64Builder).Append(aggAvgOf(spec, s))
		return
	}
	switch bb := b.(type) {
	case *array.Int64Builder:
		bb.Append(s.i)
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(s.i))
	case *array.Float64Builder:
		bb.Append(s.x)
	case *array.StringBuilder:
		bb.BinaryBuilder.Append(s.s)
	default:
		panic(fmt.Sprintf("aggregate: result builder %T for %s", b, spec.kind))
	}
}

// aggAppendAccs encodes a key's accumulators: varint rows, then per aggregate
// varint n, then for sum and avg the 8-byte sum (int64 or float64 bits) and
// for min, max, first and last (when n > 0) the value: 8 bytes for int64,
// timestamp and float64, uvarint length and bytes for a string.
func aggAppendAccs(dst []byte, p *aggPlan, rows int64, slots []aggSlot) []byte {
	dst = binary.AppendVarint(dst, rows)
	for a := range p.aggs {
		spec, s := &p.aggs[a], &slots[a]
		dst = binary.AppendVarint(dst, s.n)
		switch spec.kind {
		case aggCount, aggCountNonNull, aggCountDistinct:
			continue
		case aggSum, aggAvg:
		default:
			if s.n == 0 {
				continue
			}
		}
		switch spec.vk {
		case avInt:
			dst = binary.BigEndian.AppendUint64(dst, uint64(s.i))
		case avFloat:
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(s.x))
		case avString:
			dst = binary.AppendUvarint(dst, uint64(len(s.s)))
			dst = append(dst, s.s...)
		}
	}
	return dst
}

// aggDecodeAccs decodes aggAppendAccs' encoding into slots.
func aggDecodeAccs(p *aggPlan, v []byte, slots []aggSlot) (int64, error) {
	corrupt := func() error {
		return statestore.CorruptionErrorf("aggregate: accumulator of %d bytes does not decode for %d aggregates", len(v), len(p.aggs))
	}
	rows, w := binary.Varint(v)
	if w <= 0 {
		return 0, corrupt()
	}
	q := v[w:]
	for a := range p.aggs {
		spec, s := &p.aggs[a], &slots[a]
		n, w := binary.Varint(q)
		if w <= 0 {
			return 0, corrupt()
		}
		q = q[w:]
		s.n = n
		switch spec.kind {
		case aggCount, aggCountNonNull, aggCountDistinct:
			continue
		case aggSum, aggAvg:
		default:
			if n == 0 {
				continue
			}
		}
		switch spec.vk {
		case avInt, avFloat:
			if len(q) < 8 {
				return 0, corrupt()
			}
			u := binary.BigEndian.Uint64(q)
			q = q[8:]
			if spec.vk == avInt {
				s.i = int64(u)
			} else {
				s.x = math.Float64frombits(u)
			}
		case avString:
			l, w := binary.Uvarint(q)
			if w <= 0 || uint64(len(q)-w) < l {
				return 0, corrupt()
			}
			s.s = append(s.s[:0], q[w:w+int(l)]...)
			q = q[w+int(l):]
		}
	}
	if len(q) != 0 {
		return 0, corrupt()
	}
	return rows, nil
}
