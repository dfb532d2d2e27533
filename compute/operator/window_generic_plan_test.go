package operator_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/compute/operator"
	"github.com/sluicedata/sluice/compute/window"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

func TestPlanWindowGenericForms(t *testing.T) {
	aggs := []*sluicev1.Aggregate{{Name: "c", Function: "count", Expr: "*"}}
	count := func(size, slide int64) *sluicev1.WindowNode_Count {
		return &sluicev1.WindowNode_Count{Count: &sluicev1.CountWindow{Size: size, Slide: slide}}
	}
	global := &sluicev1.WindowNode_Global{Global: &sluicev1.GlobalWindow{}}
	tum := &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: dur(100)}}
	countTrig := &sluicev1.Trigger{Kind: &sluicev1.Trigger_Count{Count: &sluicev1.CountTrigger{Count: 3}}}
	cases := []struct {
		name    string
		node    *sluicev1.WindowNode
		kind    window.Kind
		trigger window.Trigger
		evictor window.Evictor
	}{
		{"count tumbling", &sluicev1.WindowNode{Keys: []string{"k"}, Assigner: count(5, 0), Aggregates: aggs},
			window.CountTumbling, window.Purging{Inner: window.CountTrigger{Max: 5}}, nil},
		{"count sliding", &sluicev1.WindowNode{Keys: []string{"k"}, Assigner: count(5, 2), Aggregates: aggs},
			window.CountSliding, window.CountTrigger{Max: 2}, window.CountEvictor{Max: 5}},
		{"global + count trigger", &sluicev1.WindowNode{Keys: []string{"k"}, Assigner: global, Trigger: countTrig, Aggregates: aggs},
			window.GlobalWindows, window.CountTrigger{Max: 3}, nil},
		{"non-keyed global + purging count trigger", &sluicev1.WindowNode{Assigner: global,
			Trigger: &sluicev1.Trigger{Kind: countTrig.Kind, Purging: true}, Aggregates: aggs},
			window.GlobalWindows, window.Purging{Inner: window.CountTrigger{Max: 3}}, nil},
		{"tumbling + continuous purging", &sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum,
			Trigger: &sluicev1.Trigger{Kind: &sluicev1.Trigger_Continuous{Continuous: &sluicev1.ContinuousTrigger{Interval: dur(10)}}, Purging: true}, Aggregates: aggs},
			window.Tumbling, window.Purging{Inner: window.ContinuousEventTimeTrigger{Interval: 10}}, nil},
		{"processing-time tumbling + continuous", &sluicev1.WindowNode{Keys: []string{"k"}, ProcessingTime: true, Assigner: tum,
			Trigger: &sluicev1.Trigger{Kind: &sluicev1.Trigger_Continuous{Continuous: &sluicev1.ContinuousTrigger{Interval: dur(10)}}}, Aggregates: aggs},
			window.Tumbling, window.ContinuousProcessingTimeTrigger{Interval: 10}, nil},
		{"tumbling + count evictor after", &sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum,
			Evictor: &sluicev1.Evictor{Kind: &sluicev1.Evictor_Count{Count: &sluicev1.CountEvictor{MaxCount: 4}}, AfterFunction: true}, Aggregates: aggs},
			window.Tumbling, window.EventTimeTrigger{}, window.CountEvictor{Max: 4, After: true}},
		{"tumbling + time evictor", &sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum,
			Evictor: &sluicev1.Evictor{Kind: &sluicev1.Evictor_Time{Time: &sluicev1.TimeEvictor{Keep: dur(30)}}}, Aggregates: aggs},
			window.Tumbling, window.EventTimeTrigger{}, window.TimeEvictor{Size: 30}},
	}
	for _, c := range cases {
		plan, err := operator.PlanWindow(c.node, winSchema)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		cfg := plan.Config
		trig := cfg.Trigger
		if trig == nil {
			trig = cfg.Spec.DefaultTrigger()
		}
		ev := cfg.Evictor
		if ev == nil {
			ev = cfg.Spec.DefaultEvictor()
		}
		if cfg.Spec.Kind != c.kind || !reflect.DeepEqual(trig, c.trigger) || !reflect.DeepEqual(ev, c.evictor) {
			t.Errorf("%s: kind %v trigger %v evictor %v, want %v %v %v", c.name, cfg.Spec.Kind, trig, ev, c.kind, c.trigger, c.evictor)
		}
		if _, err := plan.NewOperator(); err != nil {
			t.Errorf("%s: NewOperator: %v", c.name, err)
		}
	}
}

func TestPlanWindowGenericErrors(t *testing.T) {
	aggs := []*sluicev1.Aggregate{{Name: "c", Function: "count", Expr: "*"}}
	global := &sluicev1.WindowNode_Global{Global: &sluicev1.GlobalWindow{}}
	tum := &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: dur(100)}}
	count := func(size, slide int64) *sluicev1.WindowNode_Count {
		return &sluicev1.WindowNode_Count{Count: &sluicev1.CountWindow{Size: size, Slide: slide}}
	}
	cont := func(ms int64) *sluicev1.Trigger {
		return &sluicev1.Trigger{Kind: &sluicev1.Trigger_Continuous{Continuous: &sluicev1.ContinuousTrigger{Interval: dur(ms)}}}
	}
	cases := []struct {
		node *sluicev1.WindowNode
		want string
	}{
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: count(-3, 0), Aggregates: aggs}, "count.size = -3: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: count(3, -1), Aggregates: aggs}, "count.slide = -1: must not be negative"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: global, Aggregates: aggs}, "trigger: required with a global window"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: global, Aggregates: aggs,
			Trigger: &sluicev1.Trigger{Kind: &sluicev1.Trigger_Count{Count: &sluicev1.CountTrigger{Count: 0}}}}, "trigger.count.count = 0: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum, Aggregates: aggs, Trigger: cont(0)}, "trigger.continuous.interval = 0s: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum, Aggregates: aggs, Trigger: &sluicev1.Trigger{}}, "trigger: one of event_time, processing_time, count or continuous is required"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: global, Aggregates: aggs, Trigger: cont(10)}, "trigger ContinuousEventTimeTrigger(10): needs a time_column"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum, Aggregates: aggs,
			Evictor: &sluicev1.Evictor{Kind: &sluicev1.Evictor_Count{Count: &sluicev1.CountEvictor{MaxCount: 0}}}}, "evictor.count.max_count = 0: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum, Aggregates: aggs,
			Evictor: &sluicev1.Evictor{Kind: &sluicev1.Evictor_Time{Time: &sluicev1.TimeEvictor{Keep: dur(-5)}}}}, "evictor.time.keep = -5ms: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: count(5, 0), Aggregates: aggs,
			Evictor: &sluicev1.Evictor{Kind: &sluicev1.Evictor_Time{Time: &sluicev1.TimeEvictor{Keep: dur(5)}}}}, "evictor.time: needs a time_column"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum, Aggregates: aggs, Evictor: &sluicev1.Evictor{}}, "evictor: one of count or time is required"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: &sluicev1.WindowNode_Session{Session: &sluicev1.SessionWindow{Gap: dur(10)}}, Aggregates: aggs,
			Trigger: &sluicev1.Trigger{Kind: &sluicev1.Trigger_Count{Count: &sluicev1.CountTrigger{Count: 2}}}}, "session windows with trigger CountTrigger(2)"},
	}
	for _, c := range cases {
		_, err := operator.PlanWindow(c.node, winSchema)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PlanWindow(%v): error %v, want it to contain %q", c.node, err, c.want)
		}
	}
}
