package operator_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute/operator"
	"github.com/sluicedata/sluice/compute/window"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"
)

// winKey identifies a (key, window) of a model.
type winKey struct {
	k int64
	w window.Window
}

type modelWin struct {
	rows  []winRow
	fired bool // its end-of-window firing happened (or it was created late)
}

// timeModel is a trivially correct model of event-time windows: every row
// goes into each of its windows (naively, WindowsOf for tumbling and sliding,
// per-run session merging for sessions), windows fire when the watermark
// reaches their end, late rows within the allowed lateness fire their
// windows again at the end of their batch, rows whose windows are all past
// the allowed lateness go to the side output.
type timeModel struct {
	windowsOf func(t int64) []window.Window
	lateness  int64
	wm        int64
	wins      map[winKey]*modelWin
	out, late []string
	noWindow  int
}

func newTimeModel(windowsOf func(int64) []window.Window, lateness int64) *timeModel {
	return &timeModel{windowsOf: windowsOf, lateness: lateness, wm: window.NoWatermark, wins: map[winKey]*modelWin{}}
}

func (m *timeModel) emit(step int, k winKey) {
	m.out = append(m.out, modelResult(step, k.k, k.w, m.wins[k].rows))
}

func sortedKeys(set map[winKey]bool) []winKey {
	var ks []winKey
	for k := range set {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b winKey) int {
		return cmp.Or(cmp.Compare(a.k, b.k), cmp.Compare(a.w.Start, b.w.Start), cmp.Compare(a.w.End, b.w.End))
	})
	return ks
}

func (m *timeModel) batch(step int, rows []winRow) {
	refire := map[winKey]bool{}
	for _, r := range rows {
		ws := m.windowsOf(r.ts)
		if len(ws) == 0 {
			m.noWindow++
			continue
		}
		live := false
		for _, w := range ws {
			st := window.ClassifyWindow(w, m.wm, m.lateness)
			if st == window.TooLate {
				continue
			}
			live = true
			k := winKey{r.k, w}
			mw := m.wins[k]
			if mw == nil {
				mw = &modelWin{}
				m.wins[k] = mw
			}
			mw.rows = append(mw.rows, r)
			if st == window.Late {
				mw.fired = true
				refire[k] = true
			}
		}
		if !live {
			m.late = append(m.late, fmt.Sprintf("@%d late id=%d", step, r.id))
		}
	}
	for _, k := range sortedKeys(refire) {
		m.emit(step, k)
	}
}

func (m *timeModel) watermark(step int, wm int64) {
	if wm <= m.wm {
		return
	}
	m.wm = wm
	due := map[winKey]bool{}
	for k, w := range m.wins {
		if !w.fired && k.w.MaxTimestamp() <= wm {
			due[k] = true
		}
	}
	for _, k := range sortedKeys(due) {
		m.emit(step, k)
		m.wins[k].fired = true
	}
	for k := range m.wins {
		if window.CleanupTime(k.w, m.lateness) <= wm {
			delete(m.wins, k)
		}
	}
}

func slicerWindows(s *window.Slicer) func(int64) []window.Window {
	return func(t int64) []window.Window {
		var ws []window.Window
		for w := range s.WindowsOf(t).All() {
			ws = append(ws, w)
		}
		return ws
	}
}

func winNode(mut func(*sluicev1.WindowNode)) *sluicev1.WindowNode {
	n := &sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Aggregates: winAggs}
	mut(n)
	return n
}

// runTimeScenario drives the rig and the model through sc and compares
// what they emitted, step by step (steps tag every row).
func runTimeScenario(t *testing.T, node *sluicev1.WindowNode, model *timeModel, sc winScenario, par int) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	plan, err := operator.PlanWindow(node, winSchema)
	if err != nil {
		t.Fatal(err)
	}
	rig := newWinRig(t, mem, clock.Real(), plan, winSchema, par)
	for i, b := range sc.batches {
		rig.step = 2 * i
		rig.batch(winBatch(mem, b))
		model.batch(2*i, b)
		rig.step = 2*i + 1
		rig.watermark(time.UnixMilli(sc.watermarks[i]).UTC())
		model.watermark(2*i+1, sc.watermarks[i])
	}
	rig.step = 2 * len(sc.batches)
	rig.finish()
	model.watermark(rig.step, 1<<63-1)
	rig.close()
	if len(model.out) == 0 {
		t.Fatal("the model emitted nothing; the scenario tests nothing")
	}
	compareMultisets(t, "window results", rig.out, model.out)
	compareMultisets(t, "late rows", rig.late, model.late)
	var lateRows int64
	_ = lateRows
}

func TestWindowRandomTumblingSliding(t *testing.T) {
	type tc struct {
		name       string
		size, step time.Duration // step 0: tumbling
		lateness   time.Duration
	}
	cases := []tc{
		{"tumbling", 100 * time.Millisecond, 0, 0},
		{"tumbling-lateness", 100 * time.Millisecond, 0, 150 * time.Millisecond},
		{"sliding", 100 * time.Millisecond, 20 * time.Millisecond, 0},
		{"sliding-uneven", 100 * time.Millisecond, 30 * time.Millisecond, 0},
		{"sliding-lateness", 100 * time.Millisecond, 40 * time.Millisecond, 70 * time.Millisecond},
		{"sliding-gaps", 40 * time.Millisecond, 100 * time.Millisecond, 30 * time.Millisecond},
	}
	for _, c := range cases {
		for _, par := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/par%d", c.name, par), func(t *testing.T) {
				for seed := range uint64(4) {
					rng := rand.New(rand.NewPCG(seed, uint64(par)))
					sc := randomScenario(rng, 600, 1+rng.IntN(12), 1, 30)
					node := winNode(func(n *sluicev1.WindowNode) {
						if c.step == 0 {
							n.Assigner = &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: durationpb.New(c.size)}}
						} else {
							n.Assigner = &sluicev1.WindowNode_Sliding{Sliding: &sluicev1.SlidingWindow{Size: durationpb.New(c.size), Slide: durationpb.New(c.step)}}
						}
						if c.lateness > 0 {
							n.AllowedLateness = durationpb.New(c.lateness)
						}
					})
					var s *window.Slicer
					var err error
					if c.step == 0 {
						s, err = window.NewTumbling(c.size, 0)
					} else {
						s, err = window.NewSliding(c.size, c.step, 0)
					}
					if err != nil {
						t.Fatal(err)
					}
					model := newTimeModel(slicerWindows(s), c.lateness.Milliseconds())
					runTimeScenario(t, node, model, sc, par)
					if seed == 0 && c.lateness > 0 && len(model.late) == 0 {
						t.Logf("note: seed 0 produced no too-late rows")
					}
				}
			})
		}
	}
}
