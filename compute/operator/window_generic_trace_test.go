package operator_test

// Data-driven trace tests of the generic window path. Each
// testdata/window/generic/*.script configures a window with lines
//
//	tumbling SIZE | sliding SIZE SLIDE | count SIZE [SLIDE] | global
//	trigger count N [purging] | trigger continuous INTERVAL [purging]
//	evictor count N [after] | evictor time KEEP [after]
//	lateness D
//
// then scripts it like the traces of window_trace_test.go (batch k:ts:v
// ..., watermark MS, end). Compared with the .golden file next to it;
// -rewrite regenerates.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/operator"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"

	"github.com/sluicedata/sluice/internal/golden"
)

func TestWindowGenericTrace(t *testing.T) {
	golden.Scripts(t, "testdata/window/generic/*.script", runGenericTrace)
}

func runGenericTrace(t *testing.T, script string) string {
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
	num := func(s string) int64 {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	has := func(f []string, w string) bool {
		for _, x := range f {
			if x == w {
				return true
			}
		}
		return false
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
		case "count":
			c := &sluicev1.CountWindow{Size: num(f[1])}
			if len(f) > 2 {
				c.Slide = num(f[2])
			}
			node.Assigner = &sluicev1.WindowNode_Count{Count: c}
		case "global":
			node.Assigner = &sluicev1.WindowNode_Global{Global: &sluicev1.GlobalWindow{}}
		case "trigger":
			tr := &sluicev1.Trigger{Purging: has(f, "purging")}
			switch f[1] {
			case "count":
				tr.Kind = &sluicev1.Trigger_Count{Count: &sluicev1.CountTrigger{Count: num(f[2])}}
			case "continuous":
				tr.Kind = &sluicev1.Trigger_Continuous{Continuous: &sluicev1.ContinuousTrigger{Interval: mustDur(t, f[2])}}
			default:
				t.Fatalf("unknown trigger %q", line)
			}
			node.Trigger = tr
		case "evictor":
			ev := &sluicev1.Evictor{AfterFunction: has(f, "after")}
			switch f[1] {
			case "count":
				ev.Kind = &sluicev1.Evictor_Count{Count: &sluicev1.CountEvictor{MaxCount: num(f[2])}}
			case "time":
				ev.Kind = &sluicev1.Evictor_Time{Time: &sluicev1.TimeEvictor{Keep: mustDur(t, f[2])}}
			default:
				t.Fatalf("unknown evictor %q", line)
			}
			node.Evictor = ev
		case "lateness":
			node.AllowedLateness = mustDur(t, f[1])
		case "batch", "watermark", "end":
			if rig == nil {
				plan, err := operator.PlanWindow(node, winSchema)
				if err != nil {
					t.Fatal(err)
				}
				rig = newWinRig(t, mem, clock.Real(), plan, winSchema, 1)
				rig.em.render = genResult
			}
			fmt.Fprintf(&sb, "%s\n", line)
			switch f[0] {
			case "batch":
				var rows []winRow
				for _, r := range f[1:] {
					p := strings.Split(r, ":")
					row := winRow{k: num(p[0]), ts: num(p[1]), id: id}
					id++
					if p[2] != "null" {
						v := num(p[2])
						row.v = &v
					}
					rows = append(rows, row)
				}
				rig.batch(winBatch(mem, rows))
			case "watermark":
				rig.watermark(time.UnixMilli(num(f[1])))
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
