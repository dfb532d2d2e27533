package operator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/expr"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/compute/timer"
	"github.com/sluicedata/sluice/compute/window"
	"github.com/sluicedata/sluice/internal/clock"
)

// LateTag is the side output tag of rows later than a window's allowed
// lateness.
const LateTag = "late"

// WindowAggregate is one aggregate output column of a window operator.
type WindowAggregate struct {
	// Name is the output column name.
	Name string
	// Func is the aggregate function; its input type is Input's type (nil
	// for count(*)).
	Func *window.AggFunc
	// Input computes the aggregate's input from the rows; nil for count(*).
	Input *expr.Expr
}

// WindowConfig configures a window operator (see NewWindowOperator). The
// zero values of the optional fields select Flink's defaults.
type WindowConfig struct {
	// Input is the input schema. Required.
	Input *arrow.Schema
	// Keys are the key column indices in Input; the input must be
	// hash-partitioned by them (exchange.HashColumns). Empty: one global
	// group, which must run as a single subtask.
	Keys []int
	// TimeColumn is the event-time column (a timestamp) in Input, or -1 for
	// processing-time windows and for count and global windows without event
	// time.
	TimeColumn int
	// Spec is the window assigner. Spec.Domain selects event or processing
	// time.
	Spec window.Spec
	// Trigger overrides Spec.DefaultTrigger(). Required for GlobalWindows.
	Trigger window.Trigger
	// Evictor overrides Spec.DefaultEvictor(). An evictor makes the operator
	// buffer each window's rows instead of aggregating them incrementally.
	Evictor window.Evictor
	// Aggregates are computed per window. At least one, unless Process is
	// set.
	Aggregates []WindowAggregate
	// Process, when set, receives each fired window's rows (after the
	// evictor) and emits what it wants; the operator then buffers rows.
	// Output must be set with it.
	Process window.ProcessFunc
	// AggregateProcess, when set, receives each fired window's aggregate
	// row (aggregate-then-process) instead of the operator emitting it.
	// Output must be set with it.
	AggregateProcess window.AggregateProcessFunc
	// Output is the schema of what Process or AggregateProcess emit; with
	// neither it is computed (see OutputSchema) and must be nil or equal.
	Output *arrow.Schema
}

// WindowMetrics counts a window operator subtask's work.
type WindowMetrics struct {
	// RowsIn counts input rows; LateRows the rows sent to the "late" side
	// output; NoWindowRows the rows that belong to no window (between two
	// sliding windows whose slide exceeds their size).
	RowsIn, LateRows, NoWindowRows int64
	// Fired counts emitted window results (including late re-fires);
	// LateFires the re-fires caused by late rows within allowed lateness.
	Fired, LateFires int64
}

// windowFieldType is the type of window_start and window_end.
var windowFieldType = arrow.FixedWidthTypes.Timestamp_ms

// OutputSchema is the schema of the rows the operator emits: the key
// columns, window_start, window_end (timestamp[ms, UTC]), then one column
// per aggregate. With Process or AggregateProcess it is cfg.Output.
func (c *WindowConfig) OutputSchema() *arrow.Schema {
	if c.Process != nil || c.AggregateProcess != nil {
		return c.Output
	}
	var fields []arrow.Field
	for _, k := range c.Keys {
		fields = append(fields, c.Input.Field(k))
	}
	fields = append(fields,
		arrow.Field{Name: "window_start", Type: windowFieldType},
		arrow.Field{Name: "window_end", Type: windowFieldType})
	for _, a := range c.Aggregates {
		fields = append(fields, arrow.Field{Name: a.Name, Type: a.Func.ResultType(), Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}

// validate checks the config; errors name the field and the value.
func (c *WindowConfig) validate() error {
	if c.Input == nil {
		return fmt.Errorf("window: Input schema is nil")
	}
	var err error
	nf := c.Input.NumFields()
	for i, k := range c.Keys {
		if k < 0 || k >= nf {
			err = errors.Join(err, fmt.Errorf("window: keys[%d] = %d: no such column (input has %d)", i, k, nf))
			continue
		}
		if e := exchange.CheckKeyType(c.Input.Field(k).Type); e != nil {
			err = errors.Join(err, fmt.Errorf("window: keys[%d] = %q: %w", i, c.Input.Field(k).Name, e))
		}
	}
	if e := c.Spec.Validate(); e != nil {
		err = errors.Join(err, e)
	}
	timed := c.Spec.Kind == window.Tumbling || c.Spec.Kind == window.Sliding || c.Spec.Kind == window.Session
	switch {
	case c.TimeColumn >= nf:
		err = errors.Join(err, fmt.Errorf("window: time column %d: no such column (input has %d)", c.TimeColumn, nf))
	case c.TimeColumn >= 0:
		if c.Input.Field(c.TimeColumn).Type.ID() != arrow.TIMESTAMP {
			err = errors.Join(err, fmt.Errorf("window: time_column %q has type %s: must be a timestamp", c.Input.Field(c.TimeColumn).Name, c.Input.Field(c.TimeColumn).Type))
		}
	case timed && c.Spec.Domain == window.EventTime:
		err = errors.Join(err, fmt.Errorf("window: time_column: required for event-time %s windows", c.Spec.Kind))
	}
	if c.Spec.Kind == window.GlobalWindows && c.Trigger == nil {
		err = errors.Join(err, fmt.Errorf("window: trigger: required with a global window (its default trigger never fires)"))
	}
	if c.Trigger != nil {
		if e := window.ValidateTrigger(c.Trigger); e != nil {
			err = errors.Join(err, e)
		}
		if c.Spec.IsMerging() && !c.Trigger.CanMerge() {
			err = errors.Join(err, fmt.Errorf("window: trigger %s cannot merge session windows", c.Trigger))
		}
	}
	if len(c.Aggregates) == 0 && c.Process == nil {
		err = errors.Join(err, fmt.Errorf("window: aggregates: at least one is required"))
	}
	for i, a := range c.Aggregates {
		if a.Func == nil {
			err = errors.Join(err, fmt.Errorf("window: aggregates[%d] (%q): function is nil", i, a.Name))
			continue
		}
		if a.Input == nil && a.Func.Kind() != window.Count {
			err = errors.Join(err, fmt.Errorf("window: aggregates[%d] (%q): %s needs an input", i, a.Name, a.Func))
		}
		if a.Input != nil && !arrow.TypeEqual(a.Input.DataType(), a.Func.InputType()) {
			err = errors.Join(err, fmt.Errorf("window: aggregates[%d] (%q): input type %s, function takes %s", i, a.Name, a.Input.DataType(), a.Func.InputType()))
		}
	}
	if (c.Process != nil || c.AggregateProcess != nil) && c.Output == nil {
		err = errors.Join(err, fmt.Errorf("window: Output: required with a process window function"))
	}
	if c.Process != nil && c.AggregateProcess != nil {
		err = errors.Join(err, fmt.Errorf("window: Process and AggregateProcess are exclusive"))
	}
	if c.mode() == modeGeneric {
		if c.Spec.IsMerging() {
			// TODO(window): merging windows on the generic path.
			err = errors.Join(err, fmt.Errorf("window: session windows with trigger %v, evictor %v, process function %t: not supported yet (sessions support only their default trigger, no evictor, aggregates)",
				c.trigger(), c.evictor(), c.Process != nil))
		}
		if c.TimeColumn < 0 && c.Spec.Domain == window.EventTime && usesContinuousEventTime(c.trigger()) {
			err = errors.Join(err, fmt.Errorf("window: trigger %v: needs a time_column (it aligns its fires on the rows' event time)", c.trigger()))
		}
	}
	return err
}

func usesContinuousEventTime(t window.Trigger) bool {
	switch t := t.(type) {
	case window.ContinuousEventTimeTrigger:
		return true
	case window.Purging:
		return usesContinuousEventTime(t.Inner)
	}
	return false
}

// trigger is the effective trigger.
func (c *WindowConfig) trigger() window.Trigger {
	if c.Trigger != nil {
		return c.Trigger
	}
	return c.Spec.DefaultTrigger()
}

// evictor is the effective evictor (nil for none).
func (c *WindowConfig) evictor() window.Evictor {
	if c.Evictor != nil {
		return c.Evictor
	}
	return c.Spec.DefaultEvictor()
}

// windowMode is the operator's execution strategy.
type windowMode uint8

const (
	// modeSliced: tumbling or sliding windows with the default trigger and
	// no evictor: one accumulator per (key, slice), windows composed at fire
	// time.
	modeSliced windowMode = iota
	// modeSession: session windows with the default trigger and no evictor.
	modeSession
	// modeGeneric: everything else, the Flink WindowOperator per (key,
	// window) group: trigger state, timers from the trigger, and buffered
	// rows when an evictor or a process function needs them.
	modeGeneric
)

func (c *WindowConfig) mode() windowMode {
	defaultTrigger := c.Trigger == nil || c.Trigger == c.Spec.DefaultTrigger()
	if !defaultTrigger || c.evictor() != nil || c.Process != nil {
		return modeGeneric
	}
	switch c.Spec.Kind {
	case window.Tumbling, window.Sliding:
		return modeSliced
	case window.Session:
		return modeSession
	}
	return modeGeneric
}

// State IDs of the window operator.
const (
	stateAcc     uint8 = 1 // per (key, slice/window): encoded accumulators
	stateSession uint8 = 2 // per key: the SessionSet
	stateTrigger uint8 = 3 // per (key, window): TriggerState (generic)
	stateRows    uint8 = 4 // per (key, window): buffered rows (generic)
)

// Timer namespaces start with a kind byte, so that at one time and key a
// fire timer runs before a cleanup timer.
const (
	tnFire    byte = 1 // fire the window identified by the rest
	tnCleanup byte = 2 // drop the window's state
	tnTrigger byte = 3 // a trigger's own timer (generic mode)
)

// WindowOperator is the window operator: keyed windows over Arrow batches,
// Flink's WindowOperator semantics, state in compute/state and timers in
// compute/timer. Build it with NewWindowOperator; one instance per subtask.
type WindowOperator struct {
	cfg    WindowConfig
	mode   windowMode
	schema *arrow.Schema
	trig   window.Trigger
	evict  window.Evictor
	slicer *window.Slicer // tumbling and sliding
	late   int64          // allowed lateness, ms
	proc   bool           // processing-time windows
	aggs   []*window.AggFunc
	na     int

	mem   memory.Allocator
	clk   clock.Clock
	be    *state.Backend
	ts    *timer.Service
	enc   *state.KeyEncoder
	acc   *state.ValueState
	sess  *state.ValueState
	trst  *state.ValueState
	rowsL *state.ListState

	// globalKey is the single key of a window without keys.
	globalKey state.Key
	wm        int64 // current watermark, ms (window.NoWatermark before one)
	metrics   WindowMetrics

	// per-batch scratch
	keyCols   []arrow.Array
	keys      state.KeyBatch
	keyIDs    []uint32
	keyFirst  []int32 // first row of each key id
	intIndex  map[int64]uint32
	strIndex  map[string]uint32
	times     []int64
	timesBuf  []int64
	sliceBuf  []int64
	statusBuf []window.Status
	groups    window.Groups
	aggIn     []arrow.Array
	aggOwned  []bool
	gkeys     state.KeyBatch
	gkeys2    state.KeyBatch
	rdIdx     []int
	gns       [][]byte
	nsBuf     []byte
	found     []bool
	pool      []*window.Accumulator // accumulators, na per slot
	tmp       []*window.Accumulator // na scratch accumulators
	valBuf    []byte
	lateRows  []int32
	nsArena   []byte

	// sliced mode
	items      []sliceItem
	refire     []sliceItem
	refireSeen map[refireKey]struct{}
	rkeys      state.KeyBatch

	// firing
	fired   []firedTimer
	fkeys   state.KeyBatch
	results resultSet

	sessionScratch
	genericScratch
}

// firedTimer is a timer collected during a firing round.
type firedTimer struct {
	key  int // index into fkeys
	kind byte
	w    window.Window
	tn   int64 // the timer's time, Unix nanoseconds (saturated, see msTime)
}

var _ compute.ProcessingTimeOperator = (*WindowOperator)(nil)

// NewWindowOperator returns a window operator for cfg, or an error naming
// the bad field.
func NewWindowOperator(cfg WindowConfig) (*WindowOperator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	o := &WindowOperator{cfg: cfg, mode: cfg.mode(), schema: cfg.OutputSchema(), trig: cfg.trigger(), evict: cfg.evictor(),
		late: cfg.Spec.Lateness(), proc: cfg.Spec.Domain == window.ProcessingTime, wm: window.NoWatermark}
	if cfg.Spec.Kind == window.Tumbling || cfg.Spec.Kind == window.Sliding {
		s, err := cfg.Spec.Slicer()
		if err != nil {
			return nil, err
		}
		o.slicer = s
	}
	for _, a := range cfg.Aggregates {
		o.aggs = append(o.aggs, a.Func)
	}
	o.na = len(o.aggs)
	o.tmp = newAccs(o.aggs)
	return o, nil
}

func newAccs(aggs []*window.AggFunc) []*window.Accumulator {
	out := make([]*window.Accumulator, len(aggs))
	for i, f := range aggs {
		out[i] = f.NewAccumulator()
	}
	return out
}

// Schema is the output schema.
func (o *WindowOperator) Schema() *arrow.Schema { return o.schema }

// Metrics returns the operator's counters.
func (o *WindowOperator) Metrics() WindowMetrics { return o.metrics }

// Open implements compute.Operator.
func (o *WindowOperator) Open(ctx context.Context, oc *compute.OperatorContext) error {
	o.mem, o.clk = oc.Allocator, oc.Clock
	if o.mem == nil {
		o.mem = memory.DefaultAllocator
	}
	if o.clk == nil {
		o.clk = clock.Real()
	}
	store, err := oc.OpenStore(ctx)
	if err != nil {
		return err
	}
	o.be, err = state.Open(ctx, state.Options{Store: store, KeyGroups: oc.KeyGroups, Name: oc.Node, Clock: o.clk})
	if err != nil {
		return err
	}
	maxPar := oc.MaxParallelism
	if maxPar <= 0 {
		maxPar = int(oc.KeyGroups.End)
	}
	var types []arrow.DataType
	for _, k := range o.cfg.Keys {
		types = append(types, o.cfg.Input.Field(k).Type)
	}
	if len(types) == 0 {
		types = []arrow.DataType{arrow.PrimitiveTypes.Int64}
	}
	if o.enc, err = state.NewKeyEncoder(types, maxPar); err != nil {
		return err
	}
	if len(o.cfg.Keys) == 0 {
		// One key for everything: the encoding of int64 0, in the first
		// owned key group.
		b := array.NewInt64Builder(o.mem)
		b.Append(0)
		a := b.NewArray()
		b.Release()
		var kb state.KeyBatch
		err := o.enc.Encode([]arrow.Array{a}, &kb)
		a.Release()
		if err != nil {
			return err
		}
		o.globalKey = state.Key{Group: oc.KeyGroups.Start, Bytes: append([]byte(nil), kb.Key(0)...)}
	}
	if o.acc, err = o.be.Value(state.Descriptor{ID: stateAcc, Name: "window-acc"}); err != nil {
		return err
	}
	if o.sess, err = o.be.Value(state.Descriptor{ID: stateSession, Name: "window-sessions"}); err != nil {
		return err
	}
	if o.trst, err = o.be.Value(state.Descriptor{ID: stateTrigger, Name: "window-trigger"}); err != nil {
		return err
	}
	if o.rowsL, err = o.be.List(state.Descriptor{ID: stateRows, Name: "window-rows"}); err != nil {
		return err
	}
	if o.ts, err = timer.Open(ctx, timer.Options{Backend: o.be, Keys: o.enc}); err != nil {
		return err
	}
	o.results.init(o)
	o.refireSeen = make(map[refireKey]struct{})
	if o.mode == modeGeneric {
		return o.openGeneric()
	}
	return nil
}

// ProcessBatch implements compute.Operator.
func (o *WindowOperator) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, out compute.Emitter) error {
	defer b.Release()
	n := int(b.NumRows())
	if n == 0 {
		return nil
	}
	o.metrics.RowsIn += int64(n)
	if err := o.prepare(ctx, b); err != nil {
		return err
	}
	defer o.releaseInputs()
	var err error
	switch o.mode {
	case modeSliced:
		err = o.processSliced(ctx, b, out)
	case modeSession:
		err = o.processSession(ctx, b, out)
	default:
		err = o.processGeneric(ctx, b, out)
	}
	if err != nil {
		return err
	}
	return o.be.Flush(ctx)
}

// prepare reads the batch's times, encodes its keys into dense ids and
// evaluates the aggregate inputs.
func (o *WindowOperator) prepare(ctx context.Context, b arrow.RecordBatch) error {
	n := int(b.NumRows())
	switch {
	case o.proc:
		now := o.clk.Now().UnixMilli()
		o.timesBuf = grow(o.timesBuf, n)
		for i := range o.timesBuf {
			o.timesBuf[i] = now
		}
		o.times = o.timesBuf
	case o.cfg.TimeColumn >= 0:
		t, err := window.TimesMillis(b.Column(o.cfg.TimeColumn), o.timesBuf)
		if err != nil {
			return fmt.Errorf("window: time column %q: %w", o.cfg.Input.Field(o.cfg.TimeColumn).Name, err)
		}
		if o.cfg.Input.Field(o.cfg.TimeColumn).Type.(*arrow.TimestampType).Unit != arrow.Millisecond {
			o.timesBuf = t // written into our buffer, not aliasing the column
		}
		o.times = t
	default:
		o.times = nil
	}
	if err := o.encodeKeys(b); err != nil {
		return err
	}
	o.aggIn = grow(o.aggIn, o.na)
	o.aggOwned = grow(o.aggOwned, o.na)
	for i, a := range o.cfg.Aggregates {
		o.aggIn[i], o.aggOwned[i] = nil, false
		if a.Input == nil {
			continue
		}
		if c, ok := a.Input.Column(); ok {
			o.aggIn[i] = b.Column(c)
			continue
		}
		arr, err := a.Input.Eval(ctx, o.mem, b)
		if err != nil {
			return fmt.Errorf("window: aggregate %q: %w", a.Name, err)
		}
		o.aggIn[i], o.aggOwned[i] = arr, true
	}
	return nil
}

func (o *WindowOperator) releaseInputs() {
	for i := range o.aggIn {
		if o.aggOwned[i] {
			o.aggIn[i].Release()
		}
		o.aggIn[i], o.aggOwned[i] = nil, false
	}
}

// encodeKeys fills o.keys (one encoded key per row), o.keyIDs (a dense id
// per distinct key, in order of first appearance) and o.keyFirst.
func (o *WindowOperator) encodeKeys(b arrow.RecordBatch) error {
	n := int(b.NumRows())
	o.keyIDs = grow(o.keyIDs, n)
	o.keyFirst = o.keyFirst[:0]
	o.keys.Reset()
	if len(o.cfg.Keys) == 0 {
		o.keys.Append(o.globalKey)
		clear(o.keyIDs)
		o.keyFirst = append(o.keyFirst, 0)
		return nil
	}
	o.keyCols = o.keyCols[:0]
	for _, k := range o.cfg.Keys {
		o.keyCols = append(o.keyCols, b.Column(k))
	}
	if err := o.enc.Encode(o.keyCols, &o.keys); err != nil {
		return fmt.Errorf("window: keys: %w", err)
	}
	if len(o.keyCols) == 1 && o.keyCols[0].NullN() == 0 {
		if c, ok := o.keyCols[0].(*array.Int64); ok {
			if o.intIndex == nil {
				o.intIndex = make(map[int64]uint32)
			}
			clear(o.intIndex)
			vals := c.Int64Values()
			last, lastID := int64(0), uint32(math.MaxUint32)
			for i, v := range vals {
				if v == last && lastID != math.MaxUint32 {
					o.keyIDs[i] = lastID
					continue
				}
				id, ok := o.intIndex[v]
				if !ok {
					id = uint32(len(o.keyFirst))
					o.intIndex[v] = id
					o.keyFirst = append(o.keyFirst, int32(i))
				}
				o.keyIDs[i], last, lastID = id, v, id
			}
			return nil
		}
	}
	if o.strIndex == nil {
		o.strIndex = make(map[string]uint32)
	}
	clear(o.strIndex)
	for i := 0; i < n; i++ {
		k := o.keys.Key(i)
		id, ok := o.strIndex[string(k)]
		if !ok {
			id = uint32(len(o.keyFirst))
			o.strIndex[string(k)] = id
			o.keyFirst = append(o.keyFirst, int32(i))
		}
		o.keyIDs[i] = id
	}
	return nil
}

// rowKey is the state key of row i of the current batch.
func (o *WindowOperator) rowKey(i int32) state.Key {
	if len(o.cfg.Keys) == 0 {
		return o.globalKey
	}
	return o.keys.At(int(i))
}

// slot returns the na accumulators of slot s, growing the pool.
func (o *WindowOperator) slot(s int) []*window.Accumulator {
	for len(o.pool) < (s+1)*o.na {
		o.pool = append(o.pool, newAccs(o.aggs)...)
	}
	return o.pool[s*o.na : (s+1)*o.na]
}

func resetAccs(accs []*window.Accumulator) {
	for _, a := range accs {
		a.Reset()
	}
}

// encodeAccs appends the encoding of accs: per accumulator a uvarint length
// and its AppendBinary encoding.
func encodeAccs(dst []byte, accs []*window.Accumulator) ([]byte, error) {
	var scratch [binary.MaxVarintLen64]byte
	for _, a := range accs {
		at := len(dst)
		dst = append(dst, scratch[:1]...) // length placeholder, fixed up below
		var err error
		dst, err = a.AppendBinary(dst)
		if err != nil {
			return nil, err
		}
		l := len(dst) - at - 1
		if l < 0x80 {
			dst[at] = byte(l)
			continue
		}
		k := binary.PutUvarint(scratch[:], uint64(l))
		dst = append(dst, scratch[:k-1]...)
		copy(dst[at+k:], dst[at+1:at+1+l])
		copy(dst[at:], scratch[:k])
	}
	return dst, nil
}

// decodeAccs decodes an encoding written by encodeAccs into accs.
func decodeAccs(v []byte, accs []*window.Accumulator) error {
	for i, a := range accs {
		l, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < l {
			return fmt.Errorf("%w: window accumulator %d of %d bytes", window.ErrCorrupt, i, len(v))
		}
		if err := a.UnmarshalBinary(v[k : k+int(l)]); err != nil {
			return err
		}
		v = v[k+int(l):]
	}
	if len(v) != 0 {
		return fmt.Errorf("%w: %d trailing bytes after window accumulators", window.ErrCorrupt, len(v))
	}
	return nil
}

// addRows folds rows of the current batch into accs.
func (o *WindowOperator) addRows(accs []*window.Accumulator, rows []int32) error {
	for i, a := range accs {
		if err := a.Add(o.aggIn[i], o.times, rows); err != nil {
			return fmt.Errorf("window: aggregate %q: %w", o.cfg.Aggregates[i].Name, err)
		}
	}
	return nil
}

// emitLate sends rows of b to the "late" side output and counts them.
func (o *WindowOperator) emitLate(ctx context.Context, b arrow.RecordBatch, rows []int32, out compute.Emitter) error {
	if len(rows) == 0 {
		return nil
	}
	o.metrics.LateRows += int64(len(rows))
	se, ok := out.(compute.SideEmitter)
	if !ok {
		return fmt.Errorf("window: %d rows are later than the allowed lateness, and the emitter has no side output %q for them", len(rows), LateTag)
	}
	var lb arrow.RecordBatch
	if len(rows) == int(b.NumRows()) {
		b.Retain()
		lb = b
	} else {
		var err error
		if lb, err = exchange.Take(ctx, o.mem, b, rows); err != nil {
			return err
		}
	}
	return se.EmitSide(ctx, LateTag, lb)
}

// Timer times: windows are in milliseconds, timers in nanoseconds; times
// beyond the nanosecond range saturate.
func msTime(ms int64) time.Time {
	switch {
	case ms >= math.MaxInt64/1_000_000:
		return time.Unix(0, math.MaxInt64)
	case ms <= math.MinInt64/1_000_000:
		return time.Unix(0, math.MinInt64)
	}
	return time.Unix(0, ms*1e6)
}

// timerNS builds a timer namespace: kind, then the window.
func (o *WindowOperator) timerNS(kind byte, w window.Window) []byte {
	o.nsBuf = append(o.nsBuf[:0], kind)
	return w.AppendKey(o.nsBuf)
}

func (o *WindowOperator) timeDomain() timer.Domain {
	if o.proc {
		return timer.ProcessingTime
	}
	return timer.EventTime
}

// ProcessWatermark implements compute.Operator: it fires every window whose
// end the watermark reached, one output batch per firing round.
func (o *WindowOperator) ProcessWatermark(ctx context.Context, wm time.Time, out compute.Emitter) error {
	ms := window.ToMillis(wm)
	if ms <= o.wm {
		return nil
	}
	o.wm = ms
	if err := o.advance(ctx, timer.EventTime, msTime(ms), out); err != nil {
		return err
	}
	return o.be.Flush(ctx)
}

// NextProcessingTime implements compute.ProcessingTimeOperator.
func (o *WindowOperator) NextProcessingTime() (time.Time, bool) {
	if o.ts == nil {
		return time.Time{}, false
	}
	return o.ts.NextProcessingTime()
}

// OnProcessingTime implements compute.ProcessingTimeOperator.
func (o *WindowOperator) OnProcessingTime(ctx context.Context, now time.Time, out compute.Emitter) error {
	if err := o.advance(ctx, timer.ProcessingTime, now, out); err != nil {
		return err
	}
	return o.be.Flush(ctx)
}

// advance runs firing rounds until no timer of domain d is due at upTo.
func (o *WindowOperator) advance(ctx context.Context, d timer.Domain, upTo time.Time, out compute.Emitter) error {
	for {
		var next time.Time
		var ok bool
		if d == timer.EventTime {
			next, ok = o.ts.NextEventTime()
		} else {
			next, ok = o.ts.NextProcessingTime()
		}
		if !ok || next.After(upTo) {
			return nil
		}
		o.fired = o.fired[:0]
		o.fkeys.Reset()
		collect := func(t timer.Timer) error {
			if len(t.Namespace) != 1+window.KeySize {
				return fmt.Errorf("window: timer with a namespace of %d bytes", len(t.Namespace))
			}
			w, err := window.DecodeKey(t.Namespace[1:])
			if err != nil {
				return err
			}
			o.fkeys.Append(t.Key)
			o.fired = append(o.fired, firedTimer{key: o.fkeys.Len() - 1, kind: t.Namespace[0], w: w, tn: t.Time.UnixNano()})
			return nil
		}
		// Generic windows fire one timer time per round: a trigger may
		// register a timer earlier than other due timers (a continuous
		// trigger's next fire before the window's cleanup), and timers must
		// fire in time order.
		roundTo := upTo
		if o.mode == modeGeneric {
			roundTo = next
		}
		var err error
		if d == timer.EventTime {
			err = o.ts.AdvanceWatermark(ctx, roundTo, collect)
		} else {
			err = o.ts.AdvanceProcessingTime(ctx, roundTo, collect)
		}
		if err != nil {
			return err
		}
		if len(o.fired) == 0 {
			return nil
		}
		switch o.mode {
		case modeSliced:
			err = o.fireSliced(ctx, out)
		case modeSession:
			err = o.fireSession(ctx, out)
		default:
			err = o.fireGeneric(ctx, d, out)
		}
		if err != nil {
			return err
		}
	}
}

// Snapshot implements compute.Operator.
func (o *WindowOperator) Snapshot(ctx context.Context, _ uint64) error { return o.be.Flush(ctx) }

// Finish implements compute.Operator: at the end of input every window
// fires, processing-time windows included.
func (o *WindowOperator) Finish(ctx context.Context, out compute.Emitter) error {
	end := time.Unix(0, math.MaxInt64)
	if o.wm != math.MaxInt64 {
		o.wm = math.MaxInt64
		if err := o.advance(ctx, timer.EventTime, end, out); err != nil {
			return err
		}
	}
	if err := o.advance(ctx, timer.ProcessingTime, end, out); err != nil {
		return err
	}
	return o.be.Flush(ctx)
}

// Close implements compute.Operator.
func (o *WindowOperator) Close() error {
	o.results.release()
	return nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
