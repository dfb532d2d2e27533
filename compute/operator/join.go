package operator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/expr"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// JoinPlan is a validated, typed join node.
type JoinPlan struct {
	// Schema is the output schema.
	Schema *arrow.Schema
	// LeftKeys and RightKeys are the key column indices in each input; both
	// inputs are hash-partitioned by them.
	LeftKeys, RightKeys []int
	// SideOutputs are the side output schemas by tag: interval and window
	// joins send the rows that arrive too late to join anything to
	// "late_left" (the left input's schema) and "late_right".
	SideOutputs map[string]*arrow.Schema
	// NewOperator builds one operator instance per subtask.
	NewOperator func() (compute.Operator, error)
}

// Side output tags of interval and window joins.
const (
	JoinLateLeft  = "late_left"
	JoinLateRight = "late_right"
)

// Names of the columns a window join appends to the joined row.
const (
	JoinWindowStart = "window_start"
	JoinWindowEnd   = "window_end"
)

type joinKind uint8

const (
	regularJoin joinKind = iota
	intervalJoin
	windowJoin
)

func (k joinKind) String() string {
	switch k {
	case intervalJoin:
		return "interval join"
	case windowJoin:
		return "window join"
	}
	return "regular join"
}

// joinSide is the plan of one input of a join.
type joinSide struct {
	schema *arrow.Schema
	keys   []int
	// time is the event-time column (interval and window joins), else -1;
	// unitNs converts its values to nanoseconds.
	time   int
	unitNs int64
	// stored are the input columns kept in state: the columns the joined row
	// needs (in input order), then the time column of an interval join.
	stored []int
	// timeStored is the index of the time column in stored, or -1.
	timeStored int
}

// joinCol is one column of the inner joined row (the columns the condition
// and the output need, in joined order).
type joinCol struct {
	side int // 0 left, 1 right, 2 window_start, 3 window_end
	in   int // input column index (sides 0, 1)
	st   int // index in the side's stored columns (sides 0, 1)
	dt   arrow.DataType
}

// joinConfig is a planned join, shared read-only by its operator instances.
type joinConfig struct {
	kind  joinKind
	sides [2]joinSide
	// inner is the schema of the joined row the operator materializes: only
	// the columns that condition and columns reference (all of them without
	// columns).
	inner *arrow.Schema
	cols  []joinCol
	cond  *expr.Expr   // nil: none
	proj  []*expr.Expr // nil: the output is the inner row
	out   *arrow.Schema

	// Interval join bounds and state bucket width, in nanoseconds.
	lower, upper, bucket int64
	// Window join: size, slide, offset and slice width, in nanoseconds.
	size, slide, offset, slice int64
	// tick is the finest time unit of the two time columns: a window
	// [start, end) is complete when the watermark reaches end - tick (with
	// millisecond columns, Flink's end - 1 ms).
	tick int64
	// ttl is a regular join's state_ttl (0: rows are kept forever).
	ttl time.Duration
}

// PlanJoin validates a join node against its input schemas: the key columns
// (as many on each side, of the same types), the prefixed column names (no
// clashes), the interval or window, the time columns (timestamps), the
// condition (boolean) and the output columns. Inputs that are updating
// streams (an _op column) are rejected: the join consumes append-only
// streams and produces one.
//
// state_ttl (regular joins only; interval and window joins drop their rows
// when the watermark passes them) bounds how long a row is kept: a row
// stops matching state_ttl after it arrived and is then deleted (on access,
// or by the background sweep). Rows of one batch and key expire together
// (they are one state chunk), and, as in Flink, reading a row does not
// extend its life (state.OnCreateAndWrite).
func PlanJoin(spec *sluicev1.JoinNode, left, right *arrow.Schema) (*JoinPlan, error) {
	cfg, err := planJoin(spec, left, right)
	if err != nil {
		return nil, err
	}
	p := &JoinPlan{
		Schema:    cfg.out,
		LeftKeys:  append([]int(nil), cfg.sides[0].keys...),
		RightKeys: append([]int(nil), cfg.sides[1].keys...),
		NewOperator: func() (compute.Operator, error) {
			return newJoinOperator(cfg), nil
		},
	}
	if cfg.kind != regularJoin {
		p.SideOutputs = map[string]*arrow.Schema{JoinLateLeft: left, JoinLateRight: right}
	}
	return p, nil
}

func planJoin(spec *sluicev1.JoinNode, left, right *arrow.Schema) (*joinConfig, error) {
	if left == nil || right == nil {
		return nil, fmt.Errorf("inputs: a join needs a left and a right input schema")
	}
	var errs error
	fail := func(format string, args ...any) { errs = errors.Join(errs, fmt.Errorf(format, args...)) }
	cfg := &joinConfig{}
	cfg.sides[0] = joinSide{schema: left, time: -1, timeStored: -1}
	cfg.sides[1] = joinSide{schema: right, time: -1, timeStored: -1}
	names := [2]string{"left", "right"}
	for s, sch := range []*arrow.Schema{left, right} {
		if sch.HasField("_op") {
			fail("inputs[%d]: the %s input is an updating stream (it has an _op column); a join needs append-only inputs", s, names[s])
		}
	}

	// Keys.
	lk, rk := spec.GetLeftKeys(), spec.GetRightKeys()
	if len(lk) == 0 {
		fail("left_keys: at least one key column is required")
	}
	if len(lk) != len(rk) {
		fail("right_keys: %d key columns, but left_keys has %d; both sides need as many keys", len(rk), len(lk))
	}
	for s, keys := range [][]string{lk, rk} {
		sch := cfg.sides[s].schema
		for j, k := range keys {
			i := fieldIndex(sch, k)
			if i < 0 {
				fail("%s_keys[%d]: no column %q in the %s input (columns: %s)", names[s], j, k, names[s], fieldNames(sch))
				continue
			}
			if err := exchange.CheckKeyType(sch.Field(i).Type); err != nil {
				fail("%s_keys[%d]: column %q: %v", names[s], j, k, err)
				continue
			}
			cfg.sides[s].keys = append(cfg.sides[s].keys, i)
		}
	}
	if len(cfg.sides[0].keys) == len(lk) && len(cfg.sides[1].keys) == len(rk) && len(lk) == len(rk) {
		for j := range lk {
			lt, rt := left.Field(cfg.sides[0].keys[j]).Type, right.Field(cfg.sides[1].keys[j]).Type
			if !sameKeyType(lt, rt) {
				fail("right_keys[%d]: column %q has type %s, but left key %q has type %s; keys must have the same type (CAST one side in a project before the join)", j, rk[j], rt, lk[j], lt)
			}
		}
	}

	// Interval or window.
	iv, win := spec.GetInterval(), spec.GetWindow()
	switch {
	case iv != nil && win != nil:
		fail("interval, window: set at most one of interval (an interval join) and window (a window join)")
	case iv != nil:
		cfg.kind = intervalJoin
		planTimeColumns(cfg, "interval", iv.GetLeftTime(), iv.GetRightTime(), fail)
		lower, okL := durationField("interval.lower", iv.GetLower(), fail)
		upper, okU := durationField("interval.upper", iv.GetUpper(), fail)
		if okL && okU {
			if lower > upper {
				fail("interval.lower: %s is after interval.upper %s; want lower <= upper", time.Duration(lower), time.Duration(upper))
			}
			cfg.lower, cfg.upper = lower, upper
			cfg.bucket = max(upper-lower, int64(time.Millisecond))
		}
	case win != nil:
		cfg.kind = windowJoin
		planTimeColumns(cfg, "window", win.GetLeftTime(), win.GetRightTime(), fail)
		planWindowAssigner(cfg, win, fail)
		cfg.tick = min(cfg.sides[0].unitNs, cfg.sides[1].unitNs)
	}
	if ttl, err := planStateTTL("state_ttl", spec.GetStateTtl()); err != nil {
		fail("%w", err)
	} else if ttl > 0 && cfg.kind != regularJoin {
		fail("state_ttl: %s: not supported by the %s, whose state expires with the watermark; state_ttl applies to regular joins only", ttl, cfg.kind)
	} else {
		cfg.ttl = ttl
	}

	// The joined row: left columns, then right columns, prefixed.
	var fields []arrow.Field
	var all []joinCol
	owner := map[string]string{}
	prefixes := [2]string{spec.GetLeftPrefix(), spec.GetRightPrefix()}
	for s, sch := range []*arrow.Schema{left, right} {
		for i, f := range sch.Fields() {
			name := prefixes[s] + f.Name
			desc := fmt.Sprintf("%s column %q", names[s], f.Name)
			if prev, dup := owner[name]; dup {
				fail("%s and %s are both named %q in the joined row; set left_prefix and right_prefix (for example %q and %q) or rename a column in a project before the join", prev, desc, name, "l_", "r_")
				continue
			}
			owner[name] = desc
			fields = append(fields, arrow.Field{Name: name, Type: f.Type, Nullable: f.Nullable})
			all = append(all, joinCol{side: s, in: i, dt: f.Type})
		}
	}
	if cfg.kind == windowJoin && cfg.sides[0].time >= 0 {
		dt := left.Field(cfg.sides[0].time).Type
		for w, name := range []string{JoinWindowStart, JoinWindowEnd} {
			if prev, dup := owner[name]; dup {
				fail("%s is named %q, the name of the window column a window join adds; set a prefix or rename it in a project before the join", prev, name)
				continue
			}
			owner[name] = "the window column " + name
			fields = append(fields, arrow.Field{Name: name, Type: dt})
			all = append(all, joinCol{side: 2 + w, in: -1, dt: dt})
		}
	}
	if errs != nil {
		return nil, errs
	}
	joined := arrow.NewSchema(fields, nil)

	// Condition and output columns, first against the whole joined row (for
	// error messages), then against the columns they reference.
	used := make([]bool, len(fields))
	cond := strings.TrimSpace(spec.GetCondition())
	if cond != "" {
		e, err := expr.Compile(cond, joined)
		if err != nil {
			fail("condition: %w", err)
		} else if e.DataType().ID() != arrow.BOOL {
			fail("condition: %q has type %s, want boolean", cond, e.DataType())
		} else {
			markColumns(cond, joined, used)
		}
	}
	outCols := spec.GetColumns()
	type outCol struct {
		name, src string
		nullable  bool
	}
	var outs []outCol
	if len(outCols) == 0 {
		for i := range used {
			used[i] = true
		}
	} else {
		seen := map[string]int{}
		for j, c := range outCols {
			src := c.GetExpr()
			if strings.TrimSpace(src) == "" {
				fail("columns[%d].expr: an expression is required", j)
				continue
			}
			e, err := expr.Compile(src, joined)
			if err != nil {
				fail("columns[%d].expr: %w", j, err)
				continue
			}
			name, nullable := c.GetName(), true
			if idx, isCol := e.Column(); isCol {
				if name == "" {
					name = joined.Field(idx).Name
				}
				nullable = joined.Field(idx).Nullable
			}
			if name == "" {
				fail("columns[%d].name: a computed column needs a name (expression %q)", j, src)
				continue
			}
			if k, dup := seen[name]; dup {
				fail("columns[%d].name: %q is already the name of columns[%d]", j, name, k)
				continue
			}
			seen[name] = j
			markColumns(src, joined, used)
			outs = append(outs, outCol{name: name, src: src, nullable: nullable})
		}
	}
	if errs != nil {
		return nil, errs
	}

	// The inner row and the stored columns of each side.
	var innerFields []arrow.Field
	storedAt := [2]map[int]int{{}, {}}
	for i, u := range used {
		if !u {
			continue
		}
		c := all[i]
		if c.side < 2 {
			if err := checkStorable(c.dt); err != nil {
				fail("%s column %q: %v", names[c.side], cfg.sides[c.side].schema.Field(c.in).Name, err)
				continue
			}
			sd := &cfg.sides[c.side]
			c.st = len(sd.stored)
			storedAt[c.side][c.in] = c.st
			sd.stored = append(sd.stored, c.in)
		}
		innerFields = append(innerFields, fields[i])
		cfg.cols = append(cfg.cols, c)
	}
	if cfg.kind == intervalJoin {
		for s := range cfg.sides {
			sd := &cfg.sides[s]
			if st, ok := storedAt[s][sd.time]; ok {
				sd.timeStored = st
			} else {
				sd.timeStored = len(sd.stored)
				sd.stored = append(sd.stored, sd.time)
			}
		}
	}
	if errs != nil {
		return nil, errs
	}
	cfg.inner = arrow.NewSchema(innerFields, nil)
	if cond != "" {
		e, err := expr.Compile(cond, cfg.inner)
		if err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
		cfg.cond = e
	}
	if len(outs) == 0 {
		cfg.out = cfg.inner
		return cfg, nil
	}
	outFields := make([]arrow.Field, len(outs))
	for j, o := range outs {
		e, err := expr.Compile(o.src, cfg.inner)
		if err != nil {
			return nil, fmt.Errorf("columns[%d].expr: %w", j, err)
		}
		cfg.proj = append(cfg.proj, e)
		outFields[j] = arrow.Field{Name: o.name, Type: e.DataType(), Nullable: o.nullable}
	}
	cfg.out = arrow.NewSchema(outFields, nil)
	return cfg, nil
}

func planTimeColumns(cfg *joinConfig, field, lt, rt string, fail func(string, ...any)) {
	for s, name := range []string{lt, rt} {
		side := [2]string{"left", "right"}[s]
		f := fmt.Sprintf("%s.%s_time", field, side)
		sch := cfg.sides[s].schema
		if name == "" {
			fail("%s: the %s input's event-time column is required", f, side)
			continue
		}
		i := fieldIndex(sch, name)
		if i < 0 {
			fail("%s: no column %q in the %s input (columns: %s)", f, name, side, fieldNames(sch))
			continue
		}
		ts, ok := sch.Field(i).Type.(*arrow.TimestampType)
		if !ok {
			fail("%s: column %q has type %s, want a timestamp", f, name, sch.Field(i).Type)
			continue
		}
		cfg.sides[s].time = i
		cfg.sides[s].unitNs = int64(ts.Unit.Multiplier())
	}
}

func planWindowAssigner(cfg *joinConfig, win *sluicev1.WindowJoin, fail func(string, ...any)) {
	switch a := win.GetAssigner().(type) {
	case *sluicev1.WindowJoin_Tumbling:
		size, ok1 := durationField("window.tumbling.size", a.Tumbling.GetSize(), fail)
		off, ok2 := durationField("window.tumbling.offset", a.Tumbling.GetOffset(), fail)
		if !ok1 || !ok2 {
			return
		}
		if size <= 0 {
			fail("window.tumbling.size: %s must be positive", time.Duration(size))
			return
		}
		if off < 0 || off >= size {
			fail("window.tumbling.offset: %s must be in [0, size %s)", time.Duration(off), time.Duration(size))
			return
		}
		cfg.size, cfg.slide, cfg.offset, cfg.slice = size, size, off, size
	case *sluicev1.WindowJoin_Sliding:
		size, ok1 := durationField("window.sliding.size", a.Sliding.GetSize(), fail)
		slide, ok2 := durationField("window.sliding.slide", a.Sliding.GetSlide(), fail)
		off, ok3 := durationField("window.sliding.offset", a.Sliding.GetOffset(), fail)
		if !ok1 || !ok2 || !ok3 {
			return
		}
		ok := true
		if size <= 0 {
			fail("window.sliding.size: %s must be positive", time.Duration(size))
			ok = false
		}
		if slide <= 0 {
			fail("window.sliding.slide: %s must be positive", time.Duration(slide))
			ok = false
		}
		if ok && slide > size {
			fail("window.sliding.slide: %s is larger than size %s: rows between windows would join nothing", time.Duration(slide), time.Duration(size))
			ok = false
		}
		if ok && (off < 0 || off >= slide) {
			fail("window.sliding.offset: %s must be in [0, slide %s)", time.Duration(off), time.Duration(slide))
			ok = false
		}
		if !ok {
			return
		}
		if size/gcd(size, slide) > 1024 {
			fail("window.sliding: size %s is %d slices of gcd(size, slide); at most 1024 are supported", time.Duration(size), size/gcd(size, slide))
			return
		}
		cfg.size, cfg.slide, cfg.offset, cfg.slice = size, slide, off, gcd(size, slide)
	default:
		fail("window: an assigner is required; set tumbling or sliding")
	}
}

func durationField(field string, d *durationpb.Duration, fail func(string, ...any)) (int64, bool) {
	if d == nil {
		return 0, true
	}
	if err := d.CheckValid(); err != nil {
		fail("%s: %v", field, err)
		return 0, false
	}
	return int64(d.AsDuration()), true
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// sameKeyType reports whether two key columns encode and hash alike.
func sameKeyType(a, b arrow.DataType) bool {
	if a.ID() != b.ID() {
		return false
	}
	switch at := a.(type) {
	case *arrow.TimestampType:
		return at.Unit == b.(*arrow.TimestampType).Unit
	case arrow.TemporalWithUnit:
		return at.TimeUnit() == b.(arrow.TemporalWithUnit).TimeUnit()
	}
	return true
}

// checkStorable reports whether the join can keep a column of type dt in
// state.
func checkStorable(dt arrow.DataType) error {
	switch dt.ID() {
	case arrow.BOOL, arrow.STRING, arrow.BINARY:
		return nil
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return fmt.Errorf("type %s is not supported by joins yet (CAST it to a string before the join)", dt)
	}
	if fw, ok := dt.(arrow.FixedWidthDataType); ok && fw.BitWidth() >= 8 && fw.BitWidth()%8 == 0 && dt.ID() != arrow.DICTIONARY && dt.ID() != arrow.EXTENSION {
		return nil
	}
	return fmt.Errorf("type %s is not supported by joins", dt)
}

func fieldIndex(s *arrow.Schema, name string) int {
	is := s.FieldIndices(name)
	if len(is) == 0 {
		return -1
	}
	return is[0]
}

func fieldNames(s *arrow.Schema) string {
	names := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// markColumns marks the joined columns src references. src compiled, so it
// parses and every column exists.
func markColumns(src string, joined *arrow.Schema, used []bool) {
	n, err := expr.Parse(src)
	if err != nil {
		return
	}
	expr.Walk(n, func(n expr.Node) {
		if c, ok := n.(*expr.ColumnRef); ok {
			if i := fieldIndex(joined, c.Name); i >= 0 {
				used[i] = true
			}
		}
	})
}
