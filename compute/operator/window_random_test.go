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
}

// countLateFires counts results emitted while processing a batch (even
// steps): re-fires caused by late rows.
func countLateFires(out []string) int {
	n := 0
	for _, r := range out {
		var step int
		if _, err := fmt.Sscanf(r, "@%d", &step); err == nil && step%2 == 0 {
			n++
		}
	}
	return n
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
				var tooLate, lateFires, results int
				defer func() {
					if results == 0 || tooLate == 0 || (c.lateness > 0 && c.size > c.step && lateFires == 0) {
						t.Errorf("weak scenarios: %d results, %d late re-fires, %d too-late rows", results, lateFires, tooLate)
					}
				}()
				for seed := range uint64(4) {
					rng := rand.New(rand.NewPCG(seed, uint64(par)))
					sc := randomScenario(rng, 600, 1+rng.IntN(12), 1, 80)
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
					results, tooLate, lateFires = results+len(model.out), tooLate+len(model.late), lateFires+countLateFires(model.out)
				}
			})
		}
	}
}

// sessionModel is a trivially correct model of session windows: per key a
// list of sessions with their rows; each batch's rows of a key are taken in
// time order as runs of rows whose gap windows touch (the operator's
// documented batch semantics), and each run merges with every session it
// touches. A run whose merged session is past the allowed lateness goes to
// the side output.
type sessionModel struct {
	gap, lateness int64
	wm            int64
	sess          map[int64][]*modelSession
	out, late     []string
}

type modelSession struct {
	w       window.Window
	rows    []winRow
	pending bool // its end-of-window timer is armed
}

func (m *sessionModel) batch(step int, rows []winRow) {
	byKey := map[int64][]winRow{}
	var keys []int64
	for _, r := range rows {
		if _, ok := byKey[r.k]; !ok {
			keys = append(keys, r.k)
		}
		byKey[r.k] = append(byKey[r.k], r)
	}
	slices.Sort(keys)
	type lf struct {
		k int64
		w window.Window
	}
	var lateFires []lf
	for _, k := range keys {
		rs := byKey[k]
		slices.SortStableFunc(rs, func(a, b winRow) int { return cmp.Compare(a.ts, b.ts) })
		for i := 0; i < len(rs); {
			w := window.Window{Start: rs[i].ts, End: rs[i].ts + m.gap}
			j := i + 1
			for j < len(rs) && rs[j].ts <= w.End {
				w.End = max(w.End, rs[j].ts+m.gap)
				j++
			}
			run := rs[i:j]
			i = j
			cover := w
			var keep, merged []*modelSession
			for _, s := range m.sess[k] {
				if s.w.Intersects(w) {
					cover = cover.Cover(s.w)
					merged = append(merged, s)
				} else {
					keep = append(keep, s)
				}
			}
			if window.ClassifyWindow(cover, m.wm, m.lateness) == window.TooLate {
				for _, r := range run {
					m.late = append(m.late, fmt.Sprintf("@%d late id=%d", step, r.id))
				}
				continue
			}
			ns := &modelSession{w: cover}
			for _, s := range merged {
				ns.rows = append(ns.rows, s.rows...)
				ns.pending = s.pending
			}
			ns.rows = append(ns.rows, run...)
			changed := len(merged) != 1 || merged[0].w != cover
			if cover.MaxTimestamp() <= m.wm {
				lateFires = append(lateFires, lf{k, cover})
				ns.pending = false
			} else if changed {
				ns.pending = true
			}
			m.sess[k] = append(keep, ns)
		}
	}
	seen := map[lf]bool{}
	for _, f := range lateFires {
		if seen[f] {
			continue
		}
		seen[f] = true
		for _, s := range m.sess[f.k] {
			if s.w == f.w {
				m.out = append(m.out, modelResult(step, f.k, s.w, s.rows))
			}
		}
	}
}

func (m *sessionModel) watermark(step int, wm int64) {
	if wm <= m.wm {
		return
	}
	m.wm = wm
	for k, ss := range m.sess {
		var keep []*modelSession
		for _, s := range ss {
			if s.pending && s.w.MaxTimestamp() <= wm {
				m.out = append(m.out, modelResult(step, k, s.w, s.rows))
				s.pending = false
			}
			if window.CleanupTime(s.w, m.lateness) > wm {
				keep = append(keep, s)
			}
		}
		m.sess[k] = keep
	}
}

func TestWindowRandomSession(t *testing.T) {
	for _, lateness := range []time.Duration{0, 60 * time.Millisecond} {
		for _, par := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("lateness%v/par%d", lateness, par), func(t *testing.T) {
				var tooLate, lateFires, results int
				defer func() {
					if results == 0 || tooLate == 0 || (lateness > 0 && lateFires == 0) {
						t.Errorf("weak scenarios: %d results, %d late re-fires, %d too-late rows", results, lateFires, tooLate)
					}
				}()
				for seed := range uint64(4) {
					rng := rand.New(rand.NewPCG(seed, uint64(par)+100))
					sc := randomScenario(rng, 600, 1+rng.IntN(6), 1+int64(rng.IntN(6)), 80)
					node := winNode(func(n *sluicev1.WindowNode) {
						n.Assigner = &sluicev1.WindowNode_Session{Session: &sluicev1.SessionWindow{Gap: durationpb.New(25 * time.Millisecond)}}
						if lateness > 0 {
							n.AllowedLateness = durationpb.New(lateness)
						}
					})
					model := &sessionModel{gap: 25, lateness: lateness.Milliseconds(), wm: window.NoWatermark, sess: map[int64][]*modelSession{}}
					mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
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
					mem.AssertSize(t, 0)
					compareMultisets(t, "session results", rig.out, model.out)
					compareMultisets(t, "late rows", rig.late, model.late)
					results, tooLate, lateFires = results+len(model.out), tooLate+len(model.late), lateFires+countLateFires(model.out)
				}
			})
		}
	}
}
