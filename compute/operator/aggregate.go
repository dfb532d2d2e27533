package operator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/changelog"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/expr"
	"github.com/sluicedata/sluice/compute/window"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// AggregatePlan is a validated, typed unbounded aggregate node.
type AggregatePlan struct {
	// Schema is the output schema: _op (int8, see compute/changelog), the
	// key columns, then one column per aggregate.
	Schema *arrow.Schema
	// Keys are the group-by column indices in the input.
	Keys []int
	// NewOperator builds one operator instance per subtask.
	NewOperator func() (compute.Operator, error)
	// Updating is set when the input is an updating stream (it has an _op
	// column) whose retractions the operator applies.
	Updating bool
}

// aggKind is an unbounded aggregate function.
type aggKind uint8

const (
	aggCount         aggKind = iota + 1 // count(*)
	aggCountNonNull                     // count(expr)
	aggSum                              // sum(expr)
	aggMin                              // min(expr)
	aggMax                              // max(expr)
	aggAvg                              // avg(expr), float64
	aggFirst                            // first(expr): first non-NULL value by arrival
	aggLast                             // last(expr): last non-NULL value by arrival
	aggCountDistinct                    // count_distinct(expr), NULLs ignored
)

var aggKindNames = [...]string{aggCount: "count", aggCountNonNull: "count", aggSum: "sum", aggMin: "min",
	aggMax: "max", aggAvg: "avg", aggFirst: "first", aggLast: "last", aggCountDistinct: "count_distinct"}

func (k aggKind) String() string { return aggKindNames[k] }

// retractable reports whether the aggregate can take back a row.
func (k aggKind) retractable() bool {
	switch k {
	case aggCount, aggCountNonNull, aggSum, aggAvg:
		return true
	}
	return false
}

// valueKind of an aggregate's input: how its values are read and stored.
type aggValueKind uint8

const (
	avNone   aggValueKind = iota // count(*)
	avInt                        // int64, timestamp (any unit)
	avFloat                      // float64
	avString                     // string
)

// aggSpec is one planned aggregate.
type aggSpec struct {
	name   string
	kind   aggKind
	expr   *expr.Expr // nil for count(*)
	input  arrow.DataType
	vk     aggValueKind
	result arrow.DataType
}

// aggPlan is what every subtask's operator shares (immutable).
type aggPlan struct {
	in       *arrow.Schema
	out      *arrow.Schema
	keys     []int
	keyTypes []arrow.DataType
	aggs     []aggSpec
	updating bool
	distinct int           // number of count_distinct aggregates
	ttl      time.Duration // state_ttl; 0: keys are kept forever
}

func aggWindowKind(k aggKind) window.AggKind {
	switch k {
	case aggCount:
		return window.Count
	case aggCountNonNull:
		return window.CountNonNull
	case aggSum:
		return window.Sum
	case aggMin:
		return window.Min
	case aggMax:
		return window.Max
	case aggAvg:
		return window.Avg
	case aggFirst:
		return window.First
	case aggLast:
		return window.Last
	}
	return window.CountDistinct
}

// PlanAggregate validates an aggregate node against its input schema.
//
// The node groups its input by the key columns and keeps, per key, one
// accumulator per aggregate in keyed state. Its output is an updating
// stream (see compute/changelog): after each input batch, for every key the
// batch changed, +I with the key's aggregates when the key is new, else -U
// with the previous aggregates and +U with the new ones (nothing when the
// aggregates did not change); a key whose rows were all retracted by an
// updating input gets -D and its state is deleted. Several rows of one key
// in a batch produce one update (mini-batch).
//
// Functions: count (expr "*" or empty: every row; else the rows where expr
// is not NULL), sum, min, max, avg (float64), first, last (by arrival,
// ignoring NULLs), count_distinct (NULLs ignored). Flink's
// `agg(x) FILTER (WHERE c)` is written with a guarded expression,
// `CASE WHEN c THEN x END`, since every aggregate except count(*) ignores
// NULLs. sum and avg take int64 and float64; min, max, first, last and
// count_distinct also timestamps and strings.
//
// An updating input (with an _op column) is accepted when every aggregate
// can retract: count, sum, avg. min, max, first, last and count_distinct
// would need the full multiset of values and are rejected.
//
// state_ttl bounds how long a key's aggregates are kept after the key's
// last update (state.OnCreateAndWrite, as Flink's table.exec.state.ttl):
// an expired key starts from scratch, as in Flink. The changelog
// consequence: the next update of an expired key is a new +I with the
// aggregates of the rows since; the row emitted before the key expired is
// not retracted, so a downstream table keyed by the group keys sees an
// upsert, while one that only applies -U/-D to remove rows keeps both.
// With an updating input, a retraction of a key that has no state (it
// expired) is dropped, as Flink does, and counted in
// AggregateMetrics.RetractionsIgnored; without state_ttl it is an error
// (an inconsistent changelog). count_distinct's set remembers a value for
// state_ttl after it was last seen: a value absent that long while its key
// stays live is counted again when it reappears (Flink's distinct map view
// entries expire one by one too).
func PlanAggregate(spec *sluicev1.AggregateNode, in *arrow.Schema) (*AggregatePlan, error) {
	if spec == nil {
		return nil, fmt.Errorf("no aggregate spec")
	}
	p := &aggPlan{in: in}
	var err error
	if cerr := changelog.CheckSchema(in); cerr != nil {
		err = errors.Join(err, fmt.Errorf("input: %w", cerr))
	}
	p.updating = changelog.IsUpdating(in)
	fields := []arrow.Field{changelog.Field()}
	names := map[string]string{changelog.Column: "the changelog column"}
	if len(spec.GetKeys()) == 0 {
		err = errors.Join(err, fmt.Errorf("keys: at least one group-by key is required (a global aggregate can group by a constant column from a project node)"))
	}
	for i, k := range spec.GetKeys() {
		idx := in.FieldIndices(k)
		switch {
		case k == changelog.Column:
			err = errors.Join(err, fmt.Errorf("keys[%d]: %q is the changelog column and cannot be a key", i, k))
			continue
		case len(idx) == 0:
			err = errors.Join(err, fmt.Errorf("keys[%d]: unknown column %q (input columns: %s)", i, k, aggColumnList(in)))
			continue
		case len(idx) > 1:
			err = errors.Join(err, fmt.Errorf("keys[%d]: column %q is ambiguous (%d columns have that name)", i, k, len(idx)))
			continue
		}
		f := in.Field(idx[0])
		if e := exchange.CheckKeyType(f.Type); e != nil {
			err = errors.Join(err, fmt.Errorf("keys[%d]: column %q: %w", i, k, e))
			continue
		}
		if prev, dup := names[k]; dup {
			err = errors.Join(err, fmt.Errorf("keys[%d]: column %q is already %s", i, k, prev))
			continue
		}
		names[k] = fmt.Sprintf("keys[%d]", i)
		p.keys = append(p.keys, idx[0])
		p.keyTypes = append(p.keyTypes, f.Type)
		fields = append(fields, arrow.Field{Name: k, Type: f.Type, Nullable: f.Nullable})
	}
	if len(spec.GetAggregates()) == 0 {
		err = errors.Join(err, fmt.Errorf("aggregates: at least one aggregate is required"))
	}
	for i, a := range spec.GetAggregates() {
		ref := fmt.Sprintf("aggregates[%d]", i)
		if a.GetName() != "" {
			ref = fmt.Sprintf("aggregates[%d] %q", i, a.GetName())
		}
		as, e := planAgg(a, in, p.updating)
		if e != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", ref, e))
			continue
		}
		if prev, dup := names[as.name]; dup {
			err = errors.Join(err, fmt.Errorf("%s: name: %q is already %s", ref, as.name, prev))
			continue
		}
		names[as.name] = ref
		if as.kind == aggCountDistinct {
			p.distinct++
		}
		p.aggs = append(p.aggs, as)
		fields = append(fields, arrow.Field{Name: as.name, Type: as.result, Nullable: true})
	}
	ttl, terr := planStateTTL("state_ttl", spec.GetStateTtl())
	if terr != nil {
		err = errors.Join(err, terr)
	}
	p.ttl = ttl
	if len(p.aggs) > 250 {
		err = errors.Join(err, fmt.Errorf("aggregates: %d aggregates; at most 250 are supported", len(p.aggs)))
	}
	if err != nil {
		return nil, err
	}
	p.out = arrow.NewSchema(fields, nil)
	return &AggregatePlan{
		Schema:      p.out,
		Keys:        p.keys,
		Updating:    p.updating,
		NewOperator: func() (compute.Operator, error) { return newAggOperator(p), nil },
	}, nil
}

func aggColumnList(s *arrow.Schema) string {
	names := make([]string, 0, s.NumFields())
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

func planAgg(a *sluicev1.Aggregate, in *arrow.Schema, updating bool) (aggSpec, error) {
	as := aggSpec{name: a.GetName()}
	if as.name == "" {
		return as, fmt.Errorf("name: an aggregate needs an output column name")
	}
	src := strings.TrimSpace(a.GetExpr())
	fn := strings.ToLower(strings.TrimSpace(a.GetFunction()))
	switch fn {
	case "count":
		as.kind = aggCountNonNull
		if src == "" || src == "*" {
			as.kind = aggCount
		}
	case "sum":
		as.kind = aggSum
	case "min":
		as.kind = aggMin
	case "max":
		as.kind = aggMax
	case "avg":
		as.kind = aggAvg
	case "first", "first_value":
		as.kind = aggFirst
	case "last", "last_value":
		as.kind = aggLast
	case "count_distinct":
		as.kind = aggCountDistinct
	case "":
		return as, fmt.Errorf("function: required (count, sum, min, max, avg, first, last or count_distinct)")
	default:
		return as, fmt.Errorf("function: unknown aggregate function %q (known: count, sum, min, max, avg, first, last, count_distinct)", a.GetFunction())
	}
	if updating && !as.kind.retractable() {
		return as, fmt.Errorf("function: %s cannot consume an updating input (it has an %q column): retracting a value would need the full multiset of values; only count, sum and avg can", fn, changelog.Column)
	}
	if as.kind == aggCount {
		as.result = arrow.PrimitiveTypes.Int64
		return as, nil
	}
	if src == "" || src == "*" {
		return as, fmt.Errorf("expr: %s needs an input expression", fn)
	}
	e, err := expr.Compile(src, in)
	if err != nil {
		return as, fmt.Errorf("expr: %w", err)
	}
	if idx, ok := e.Column(); ok && in.Field(idx).Name == changelog.Column {
		return as, fmt.Errorf("expr: %q is the changelog column, not a value", src)
	}
	as.expr, as.input = e, e.DataType()
	switch as.input.ID() {
	case arrow.INT64:
		as.vk = avInt
	case arrow.TIMESTAMP:
		as.vk = avInt
	case arrow.FLOAT64:
		as.vk = avFloat
	case arrow.STRING:
		as.vk = avString
	}
	if as.kind == aggCountNonNull {
		as.vk = avNone
		as.result = arrow.PrimitiveTypes.Int64
		return as, nil
	}
	wf, err := window.NewAggFunc(aggWindowKind(as.kind), as.input)
	if err != nil || as.vk == avNone {
		want := "int64, float64, timestamp or string"
		if as.kind == aggSum || as.kind == aggAvg {
			want = "int64 or float64"
		}
		return as, fmt.Errorf("expr: %s(%s) has type %s; %s takes %s (CAST it)", fn, src, aggTypeName(as.input), fn, want)
	}
	as.result = wf.ResultType()
	return as, nil
}

// aggTypeName names a type as users write it in expressions.
func aggTypeName(dt arrow.DataType) string {
	switch dt.ID() {
	case arrow.STRING:
		return "string"
	case arrow.BOOL:
		return "boolean"
	}
	return dt.String()
}
