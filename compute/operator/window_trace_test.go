package operator_test

// Data-driven trace tests of the window operator. Each testdata/window/*.script
// file configures a window (first line: tumbling SIZE | sliding SIZE SLIDE |
// session GAP, then optional "lateness D"), then scripts it:
//
//	batch k:ts:v k:ts:v ...   one input batch (v may be "null")
//	watermark MS              advance the watermark
//
// The trace (emitted rows and late rows after each command) is compared
// with the .golden file next to it; run with -rewrite to regenerate.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute/operator"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"

	"github.com/sluicedata/sluice/internal/golden"
)

func TestWindowTrace(t *testing.T) { golden.Scripts(t, "testdata/window/*.script", runTrace) }

func mustDur(t *testing.T, s string) *durationpb.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return durationpb.New(d)
}

func runTrace(t *testing.T, script string) string {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	node := &sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Aggregates: winAggs}
	var sb strings.Builder
	var rig *winRig
	id := int64(0)
	flush := func() {
		for _, r := range rig.out {
			fmt.Fprintf(&sb, "  emit %s\n", r[strings.Index(r, " ")+1:])
		}
		for _, r := range rig.late {
			fmt.Fprintf(&sb, "  %s\n", r[strings.Index(r, " ")+1:])
		}
		rig.out, rig.late = nil, nil
	}
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "tumbling":
			node.Assigner = &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: mustDur(t, f[1])}}
		case "sliding":
			node.Assigner = &sluicev1.WindowNode_Sliding{Sliding: &sluicev1.SlidingWindow{Size: mustDur(t, f[1]), Slide: mustDur(t, f[2])}}
		case "session":
			node.Assigner = &sluicev1.WindowNode_Session{Session: &sluicev1.SessionWindow{Gap: mustDur(t, f[1])}}
		case "lateness":
			node.AllowedLateness = mustDur(t, f[1])
		case "batch", "watermark", "end":
			if rig == nil {
				plan, err := operator.PlanWindow(node, winSchema)
				if err != nil {
					t.Fatal(err)
				}
				rig = newWinRig(t, mem, clock.Real(), plan, winSchema, 1)
			}
			fmt.Fprintf(&sb, "%s\n", line)
			switch f[0] {
			case "batch":
				var rows []winRow
				for _, r := range f[1:] {
					p := strings.Split(r, ":")
					k, _ := strconv.ParseInt(p[0], 10, 64)
					ts, _ := strconv.ParseInt(p[1], 10, 64)
					row := winRow{k: k, ts: ts, id: id}
					id++
					if p[2] != "null" {
						v, _ := strconv.ParseInt(p[2], 10, 64)
						row.v = &v
					}
					rows = append(rows, row)
				}
				rig.batch(winBatch(mem, rows))
			case "watermark":
				ms, _ := strconv.ParseInt(f[1], 10, 64)
				rig.watermark(time.UnixMilli(ms))
			case "end":
				rig.finish()
			}
			flush()
		default:
			t.Fatalf("unknown command %q", line)
		}
	}
	if rig != nil {
		m := rig.ops[0].(*operator.WindowOperator).Metrics()
		fmt.Fprintf(&sb, "metrics: rows=%d late=%d fired=%d late-fires=%d\n", m.RowsIn, m.LateRows, m.Fired, m.LateFires)
		rig.close()
	}
	return sb.String()
}

func TestPlanWindowErrors(t *testing.T) {
	d := func(s string) *durationpb.Duration { return mustDur(t, s) }
	tum := func(size string) *sluicev1.WindowNode_Tumbling {
		return &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: d(size)}}
	}
	aggs := []*sluicev1.Aggregate{{Name: "c", Function: "count", Expr: "*"}}
	cases := []struct {
		node *sluicev1.WindowNode
		want string
	}{
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum("0s"), Aggregates: aggs}, "tumbling.size = 0s: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: &sluicev1.WindowNode_Sliding{Sliding: &sluicev1.SlidingWindow{Size: d("10s"), Slide: d("-1s")}}, Aggregates: aggs}, "sliding.slide = -1s: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: &sluicev1.WindowNode_Session{Session: &sluicev1.SessionWindow{}}, Aggregates: aggs}, "session.gap: required"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: &sluicev1.WindowNode_Count{Count: &sluicev1.CountWindow{Size: 0}}, Aggregates: aggs}, "count.size = 0: must be positive"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: tum("1s"), Aggregates: aggs}, "time_column: required"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "nope", Assigner: tum("1s"), Aggregates: aggs}, `time_column = "nope": no such input column`},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "v", Assigner: tum("1s"), Aggregates: aggs}, `time_column = "v": has type int64, must be a timestamp`},
		{&sluicev1.WindowNode{Keys: []string{"zz"}, TimeColumn: "ts", Assigner: tum("1s"), Aggregates: aggs}, `keys[0] = "zz": no such input column`},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum("1s"), Aggregates: []*sluicev1.Aggregate{{Name: "x", Function: "sum", Expr: "nope"}}}, "aggregates[0].expr"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum("1s"), Aggregates: []*sluicev1.Aggregate{{Name: "x", Function: "median", Expr: "v"}}}, `aggregates[0].function = "median": unknown aggregate`},
		{&sluicev1.WindowNode{Keys: []string{"k"}, Assigner: &sluicev1.WindowNode_Global{Global: &sluicev1.GlobalWindow{}}, Aggregates: aggs}, "trigger: required with a global window"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum("1s"), AllowedLateness: d("-1s"), Aggregates: aggs}, "allowed_lateness = -1s: must not be negative"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Assigner: tum("1s")}, "aggregates: at least one is required"},
		{&sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Aggregates: aggs}, "assigner: required"},
	}
	for _, c := range cases {
		_, err := operator.PlanWindow(c.node, winSchema)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("PlanWindow(%v): error %v, want it to contain %q", c.node, err, c.want)
		}
	}
}
