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
	"github.com/sluicedata/sluice/compute/window"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// WindowPlan is a validated, typed window node.
type WindowPlan struct {
	// Schema is the output schema: keys, window_start, window_end, aggregates.
	Schema *arrow.Schema
	// SideOutputs are the side output schemas by tag ("late").
	SideOutputs map[string]*arrow.Schema
	// Keys are the key column indices in the input schema; the input must be
	// hash-partitioned by them. Empty for a global window.
	Keys []int
	// NewOperator builds one operator instance per subtask.
	NewOperator func() (compute.Operator, error)
	// Config is the operator configuration the node compiles to.
	Config WindowConfig
}

// PlanWindow validates a window node against its input schema. Every problem
// is reported (joined), each naming the field, the value and the reason.
func PlanWindow(spec *sluicev1.WindowNode, in *arrow.Schema) (*WindowPlan, error) {
	cfg, err := WindowConfigFromSpec(spec, in)
	if err != nil {
		return nil, err
	}
	return &WindowPlan{
		Schema:      cfg.OutputSchema(),
		SideOutputs: map[string]*arrow.Schema{LateTag: in},
		Keys:        cfg.Keys,
		Config:      cfg,
		NewOperator: func() (compute.Operator, error) { return NewWindowOperator(cfg) },
	}, nil
}

func fieldErr(field string, value any, reason string, args ...any) error {
	return fmt.Errorf("%s = %v: %s", field, value, fmt.Sprintf(reason, args...))
}

// positiveDuration checks a required positive whole-millisecond duration.
func positiveDuration(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, fmt.Errorf("%s: required", field)
	}
	v := d.AsDuration()
	if v <= 0 {
		return 0, fieldErr(field, v, "must be positive")
	}
	if v%time.Millisecond != 0 {
		return 0, fieldErr(field, v, "must be a whole number of milliseconds")
	}
	return v, nil
}

// WindowConfigFromSpec compiles a window node into an operator config.
func WindowConfigFromSpec(spec *sluicev1.WindowNode, in *arrow.Schema) (WindowConfig, error) {
	cfg := WindowConfig{Input: in, TimeColumn: -1}
	var errs error
	fail := func(e error) { errs = errors.Join(errs, e) }
	if in.HasField("_op") {
		fail(fmt.Errorf("input: has an _op column: a window cannot consume an updating (changelog) stream"))
	}
	// Keys.
	seen := map[string]bool{}
	for i, k := range spec.GetKeys() {
		idx := in.FieldIndices(k)
		switch {
		case len(idx) == 0:
			fail(fieldErr(fmt.Sprintf("keys[%d]", i), fmt.Sprintf("%q", k), "no such input column (have %s)", columnNames(in)))
			continue
		case seen[k]:
			fail(fieldErr(fmt.Sprintf("keys[%d]", i), fmt.Sprintf("%q", k), "duplicate key column"))
			continue
		}
		seen[k] = true
		if e := exchange.CheckKeyType(in.Field(idx[0]).Type); e != nil {
			fail(fieldErr(fmt.Sprintf("keys[%d]", i), fmt.Sprintf("%q", k), "%v", e))
			continue
		}
		cfg.Keys = append(cfg.Keys, idx[0])
	}
	// Time.
	s := &cfg.Spec
	if spec.GetProcessingTime() {
		s.Domain = window.ProcessingTime
		if tc := spec.GetTimeColumn(); tc != "" {
			fail(fieldErr("time_column", fmt.Sprintf("%q", tc), "must be empty with processing_time"))
		}
	} else if tc := spec.GetTimeColumn(); tc != "" {
		idx := in.FieldIndices(tc)
		switch {
		case len(idx) == 0:
			fail(fieldErr("time_column", fmt.Sprintf("%q", tc), "no such input column (have %s)", columnNames(in)))
		case in.Field(idx[0]).Type.ID() != arrow.TIMESTAMP:
			fail(fieldErr("time_column", fmt.Sprintf("%q", tc), "has type %s, must be a timestamp", in.Field(idx[0]).Type))
		default:
			cfg.TimeColumn = idx[0]
		}
	}
	// Assigner.
	timed := true
	switch a := spec.GetAssigner().(type) {
	case *sluicev1.WindowNode_Tumbling:
		s.Kind = window.Tumbling
		var e error
		if s.Size, e = positiveDuration("tumbling.size", a.Tumbling.GetSize()); e != nil {
			fail(e)
		}
		s.Offset = a.Tumbling.GetOffset().AsDuration()
		if s.Size > 0 && (s.Offset >= s.Size || s.Offset <= -s.Size) {
			fail(fieldErr("tumbling.offset", s.Offset, "absolute value must be below tumbling.size %v", s.Size))
		}
	case *sluicev1.WindowNode_Sliding:
		s.Kind = window.Sliding
		var e error
		if s.Size, e = positiveDuration("sliding.size", a.Sliding.GetSize()); e != nil {
			fail(e)
		}
		if s.Slide, e = positiveDuration("sliding.slide", a.Sliding.GetSlide()); e != nil {
			fail(e)
		}
		s.Offset = a.Sliding.GetOffset().AsDuration()
		if s.Slide > 0 && (s.Offset >= s.Slide || s.Offset <= -s.Slide) {
			fail(fieldErr("sliding.offset", s.Offset, "absolute value must be below sliding.slide %v", s.Slide))
		}
	case *sluicev1.WindowNode_Session:
		s.Kind = window.Session
		var e error
		if s.Gap, e = positiveDuration("session.gap", a.Session.GetGap()); e != nil {
			fail(e)
		}
	case *sluicev1.WindowNode_Count:
		timed = false
		s.Kind, s.Count, s.CountSlide = window.CountTumbling, a.Count.GetSize(), a.Count.GetSlide()
		if s.Count <= 0 {
			fail(fieldErr("count.size", s.Count, "must be positive"))
		}
		if s.CountSlide < 0 {
			fail(fieldErr("count.slide", s.CountSlide, "must not be negative (0: tumbling)"))
		} else if s.CountSlide > 0 {
			s.Kind = window.CountSliding
		}
	case *sluicev1.WindowNode_Global:
		timed = false
		s.Kind = window.GlobalWindows
		if spec.GetTrigger() == nil {
			fail(fmt.Errorf("trigger: required with a global window (its default trigger never fires)"))
		}
	default:
		fail(fmt.Errorf("assigner: required: one of tumbling, sliding, session, count, global"))
	}
	if timed && s.Domain == window.EventTime && spec.GetTimeColumn() == "" {
		fail(fmt.Errorf("time_column: required for event-time windows (or set processing_time)"))
	}
	// Lateness.
	if l := spec.GetAllowedLateness(); l != nil {
		d := l.AsDuration()
		switch {
		case d < 0:
			fail(fieldErr("allowed_lateness", d, "must not be negative"))
		case d%time.Millisecond != 0:
			fail(fieldErr("allowed_lateness", d, "must be a whole number of milliseconds"))
		case d > 0 && s.Domain == window.ProcessingTime:
			fail(fieldErr("allowed_lateness", d, "has no meaning with processing_time (nothing is late)"))
		default:
			s.AllowedLateness = d
		}
	}
	// Trigger and evictor.
	if t := spec.GetTrigger(); t != nil {
		trig, e := triggerFromSpec(t, s.Domain, s.DefaultTrigger())
		if e != nil {
			fail(e)
		}
		cfg.Trigger = trig
	}
	if ev := spec.GetEvictor(); ev != nil {
		switch k := ev.GetKind().(type) {
		case *sluicev1.Evictor_Count:
			if k.Count.GetMaxCount() <= 0 {
				fail(fieldErr("evictor.count.max_count", k.Count.GetMaxCount(), "must be positive"))
			}
			cfg.Evictor = window.CountEvictor{Max: k.Count.GetMaxCount(), After: ev.GetAfterFunction()}
		case *sluicev1.Evictor_Time:
			d, e := positiveDuration("evictor.time.keep", k.Time.GetKeep())
			if e != nil {
				fail(e)
			}
			if cfg.TimeColumn < 0 {
				fail(fmt.Errorf("evictor.time: needs a time_column"))
			}
			cfg.Evictor = window.TimeEvictor{Size: d.Milliseconds(), After: ev.GetAfterFunction()}
		default:
			fail(fmt.Errorf("evictor: one of count or time is required"))
		}
	}
	// Aggregates.
	if len(spec.GetAggregates()) == 0 {
		fail(fmt.Errorf("aggregates: at least one is required"))
	}
	names := map[string]bool{"window_start": true, "window_end": true}
	for _, k := range spec.GetKeys() {
		names[k] = true
	}
	for i, a := range spec.GetAggregates() {
		field := fmt.Sprintf("aggregates[%d]", i)
		if a.GetName() == "" {
			fail(fmt.Errorf("%s.name: required", field))
		} else if names[a.GetName()] {
			fail(fieldErr(field+".name", fmt.Sprintf("%q", a.GetName()), "clashes with another output column"))
		}
		names[a.GetName()] = true
		wa, e := aggregateFromSpec(field, a, in)
		if e != nil {
			fail(e)
			continue
		}
		cfg.Aggregates = append(cfg.Aggregates, wa)
	}
	if errs != nil {
		return WindowConfig{}, errs
	}
	if err := cfg.validate(); err != nil {
		return WindowConfig{}, err
	}
	return cfg, nil
}

func columnNames(s *arrow.Schema) string {
	var n []string
	for _, f := range s.Fields() {
		n = append(n, f.Name)
	}
	return strings.Join(n, ", ")
}

var aggKinds = map[string]window.AggKind{
	"count": window.Count, "sum": window.Sum, "min": window.Min, "max": window.Max, "avg": window.Avg,
	"first": window.First, "last": window.Last, "count_distinct": window.CountDistinct,
}

func aggregateFromSpec(field string, a *sluicev1.Aggregate, in *arrow.Schema) (WindowAggregate, error) {
	fn := strings.ToLower(a.GetFunction())
	kind, ok := aggKinds[fn]
	if !ok {
		return WindowAggregate{}, fieldErr(field+".function", fmt.Sprintf("%q", a.GetFunction()), "unknown aggregate (want count, sum, min, max, avg, first, last or count_distinct)")
	}
	src := strings.TrimSpace(a.GetExpr())
	wa := WindowAggregate{Name: a.GetName()}
	if src == "" || src == "*" {
		if kind != window.Count {
			return WindowAggregate{}, fieldErr(field+".expr", fmt.Sprintf("%q", a.GetExpr()), "%s needs an input expression", fn)
		}
		f, err := window.NewAggFunc(window.Count, nil)
		if err != nil {
			return WindowAggregate{}, err
		}
		wa.Func = f
		return wa, nil
	}
	e, err := expr.Compile(src, in)
	if err != nil {
		return WindowAggregate{}, fmt.Errorf("%s.expr: %w", field, err)
	}
	if kind == window.Count {
		kind = window.CountNonNull
	}
	f, err := window.NewAggFunc(kind, e.DataType())
	if err != nil {
		return WindowAggregate{}, fieldErr(field+".expr", fmt.Sprintf("%q", src), "%v", err)
	}
	wa.Func, wa.Input = f, e
	return wa, nil
}

func triggerFromSpec(t *sluicev1.Trigger, d window.TimeDomain, def window.Trigger) (window.Trigger, error) {
	var trig window.Trigger
	switch k := t.GetKind().(type) {
	case *sluicev1.Trigger_EventTime:
		trig = window.EventTimeTrigger{}
	case *sluicev1.Trigger_ProcessingTime:
		trig = window.ProcessingTimeTrigger{}
	case *sluicev1.Trigger_Count:
		if k.Count.GetCount() <= 0 {
			return nil, fieldErr("trigger.count.count", k.Count.GetCount(), "must be positive")
		}
		trig = window.CountTrigger{Max: k.Count.GetCount()}
	case *sluicev1.Trigger_Continuous:
		iv, err := positiveDuration("trigger.continuous.interval", k.Continuous.GetInterval())
		if err != nil {
			return nil, err
		}
		if d == window.ProcessingTime {
			trig = window.ContinuousProcessingTimeTrigger{Interval: iv.Milliseconds()}
		} else {
			trig = window.ContinuousEventTimeTrigger{Interval: iv.Milliseconds()}
		}
	default:
		if !t.GetPurging() {
			return nil, fmt.Errorf("trigger: one of event_time, processing_time, count or continuous is required")
		}
		trig = def
	}
	if t.GetPurging() {
		trig = window.Purging{Inner: trig}
	}
	return trig, nil
}
