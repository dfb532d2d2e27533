package runtime

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/plan"
)

func ts(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fmtTime(t time.Time) string {
	if t.Equal(compute.MaxWatermark) {
		return "max"
	}
	return fmt.Sprint(t.UnixMilli())
}

// runGateTrace feeds a script to a gate over n channels and returns the trace
// of what the gate delivered. Script lines: "ch K wm MS", "ch K idle",
// "ch K batch", "ch K barrier ID", "ch K end", "poll".
func runGateTrace(t *testing.T, n int, script string) string {
	t.Helper()
	g := newInputGate(make(chan struct{}, 1))
	chans := make([]*channel, n)
	for i := range chans {
		chans[i] = newChannel(16, g.notify)
		g.add(chans[i], 0)
	}
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		f := strings.Fields(line)
		if f[0] == "poll" {
			var got []string
			for {
				ev, ok := g.poll()
				if !ok {
					break
				}
				switch ev.Kind {
				case compute.KindBatch:
					got = append(got, "batch")
				case compute.KindWatermark:
					if ev.Idle {
						got = append(got, "idle")
					} else {
						got = append(got, "wm "+fmtTime(ev.Watermark))
					}
				case compute.KindBarrier:
					got = append(got, fmt.Sprintf("barrier %d", ev.Barrier.CheckpointID))
				case compute.KindEndOfInput:
					got = append(got, "end")
				}
			}
			fmt.Fprintf(&out, "poll: %s\n", strings.Join(got, ", "))
			continue
		}
		var k int
		fmt.Sscan(f[1], &k)
		var m compute.Message
		switch f[2] {
		case "wm":
			var ms int64
			fmt.Sscan(f[3], &ms)
			m = compute.Message{Kind: compute.KindWatermark, Watermark: ts(ms)}
		case "idle":
			m = compute.Message{Kind: compute.KindWatermark, Idle: true}
		case "batch":
			m = compute.Message{Kind: compute.KindBatch}
		case "barrier":
			var id uint64
			fmt.Sscan(f[3], &id)
			m = compute.Message{Kind: compute.KindBarrier, Barrier: compute.Barrier{CheckpointID: id}}
		case "end":
			m = compute.Message{Kind: compute.KindEndOfInput}
		default:
			t.Fatalf("bad script line %q", line)
		}
		chans[k].ch <- m
	}
	return out.String()
}

func TestGateTraces(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"watermark is the minimum over channels", `
ch 0 wm 10
poll
ch 1 wm 5
poll
ch 1 wm 20
poll
ch 0 wm 30
poll`, `poll: 
poll: wm 5
poll: wm 10
poll: wm 20
`},
		{"watermarks never go back", `
ch 0 wm 10
ch 1 wm 10
poll
ch 0 wm 4
ch 1 wm 8
poll`, `poll: wm 10
poll: 
`},
		{"an ended channel stops holding back", `
ch 0 wm 10
ch 1 wm 3
poll
ch 1 end
poll
ch 0 end
poll`, `poll: wm 3
poll: wm 10
poll: end
`},
		{"idle channels are left out until they send again", `
ch 0 wm 10
ch 1 idle
poll
ch 0 wm 15
poll
ch 1 batch
poll
ch 1 wm 12
ch 0 wm 40
poll`, `poll: wm 10
poll: wm 15
poll: batch
poll: 
`},
		{"all idle makes the gate idle once", `
ch 0 idle
ch 1 idle
poll
ch 0 wm 7
poll`, `poll: idle
poll: wm 7
`},
		{"barriers align: data behind a barrier waits", `
ch 0 batch
ch 0 barrier 1
ch 0 batch
ch 1 batch
poll
ch 1 barrier 1
poll`, `poll: batch, batch
poll: barrier 1, batch
`},
		{"a channel that ends completes the alignment", `
ch 0 barrier 2
ch 1 end
poll`, `poll: barrier 2
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runGateTrace(t, 2, tc.script); got != tc.want {
				t.Fatalf("trace:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestSourceWatermarks runs the per-subtask combination of split watermarks
// through idleness and end of input.
func TestSourceWatermarks(t *testing.T) {
	s := &plan.WatermarkStrategy{IdleTimeout: time.Second}
	w := newSourceWatermarks(s, 2, ts(0))
	var trace []string
	step := func(what string) {
		wm, adv, idle := w.next()
		switch {
		case adv:
			trace = append(trace, what+": wm "+fmtTime(wm))
		case idle:
			trace = append(trace, what+": idle")
		default:
			trace = append(trace, what+": -")
		}
	}
	w.observe(0, ts(100), true, ts(10))
	step("split 0 at 100") // split 1 has no event time yet: held back
	w.observe(1, ts(50), true, ts(20))
	step("split 1 at 50")
	w.observe(1, ts(200), true, ts(30))
	step("split 1 at 200")
	next, ok := w.markIdle(ts(500))
	trace = append(trace, fmt.Sprintf("next idle check %d %v", next.UnixMilli(), ok))
	w.observe(1, ts(300), true, ts(900))
	w.markIdle(ts(1015)) // split 0 silent since 10ms: idle
	step("split 0 idle")
	w.markIdle(ts(2000)) // split 1 silent since 900ms: idle too
	step("both idle")
	w.observe(0, ts(150), true, ts(2100))
	step("split 0 back at 150")
	w.end(0)
	w.end(1)
	step("both ended")
	want := []string{
		"split 0 at 100: -",
		"split 1 at 50: wm 50",
		"split 1 at 200: wm 100",
		"next idle check 1010 true",
		"split 0 idle: wm 300",
		"both idle: idle",
		"split 0 back at 150: -",
		"both ended: -",
	}
	if strings.Join(trace, "\n") != strings.Join(want, "\n") {
		t.Fatalf("trace:\n%s\nwant:\n%s", strings.Join(trace, "\n"), strings.Join(want, "\n"))
	}
}
