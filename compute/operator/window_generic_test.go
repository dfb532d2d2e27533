package operator_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/operator"
	"github.com/sluicedata/sluice/compute/window"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"
)

// genTrig is the model's trigger: "event" (fire at the window end, and
// once per batch of late rows), "count" (every n rows), "continuous" (every
// n ms of event time, aligned, and at the window end).
type genTrig struct {
	kind    string
	n       int64
	purging bool
}

// genEvict is the model's evictor: "count" keeps the last n rows, "time"
// the rows newer than max-n; after: run after the function.
type genEvict struct {
	kind  string
	n     int64
	after bool
}

type gmWin struct {
	rows    []winRow
	count   int64
	hasNext bool
	next    int64
	timers  map[int64]bool
}

// genModel is a trivially correct model of the generic window path: per
// (key, window) a list of rows and the trigger's state written out
// longhand, timers as a set fired in time order per window.
type genModel struct {
	windowsOf func(int64) []window.Window // nil: the global window
	lateness  int64
	trig      genTrig
	evict     genEvict
	median    bool
	wm        int64
	wins      map[winKey]*gmWin
	out, late []string
}

func (m *genModel) win(k winKey) *gmWin {
	w := m.wins[k]
	if w == nil {
		w = &gmWin{timers: map[int64]bool{}}
		m.wins[k] = w
	}
	return w
}

func (m *genModel) evictRows(rows []winRow) []winRow {
	switch m.evict.kind {
	case "count":
		if int64(len(rows)) > m.evict.n {
			return slices.Clone(rows[len(rows)-int(m.evict.n):])
		}
	case "time":
		var hi int64 = math.MinInt64
		for _, r := range rows {
			hi = max(hi, r.ts)
		}
		var keep []winRow
		for _, r := range rows {
			if r.ts > hi-m.evict.n {
				keep = append(keep, r)
			}
		}
		return keep
	}
	return rows
}

func (m *genModel) fire(step int, k winKey, w *gmWin) {
	if len(w.rows) == 0 {
		return
	}
	rows := w.rows
	if m.evict.kind != "" && !m.evict.after {
		rows = m.evictRows(rows)
	}
	if m.median {
		m.out = append(m.out, medianResult(step, k.k, k.w, rows))
	} else {
		m.out = append(m.out, genModelResult(step, k.k, k.w, rows))
	}
	if m.evict.kind != "" && m.evict.after {
		rows = m.evictRows(rows)
	}
	w.rows = rows
	if m.trig.purging {
		w.rows = nil
	}
}

func (m *genModel) batch(step int, rows []winRow) {
	var order []winKey
	groups := map[winKey][]winRow{}
	for _, r := range rows {
		ws := []window.Window{window.Global}
		if m.windowsOf != nil {
			ws = m.windowsOf(r.ts)
		}
		live := false
		for _, w := range ws {
			if m.windowsOf != nil && window.ClassifyWindow(w, m.wm, m.lateness) == window.TooLate {
				continue
			}
			live = true
			k := winKey{r.k, w}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], r)
		}
		if !live && len(ws) > 0 {
			m.late = append(m.late, fmt.Sprintf("@%d late id=%d", step, r.id))
		}
	}
	for _, k := range order {
		g, w := groups[k], m.win(k)
		maxTs := k.w.MaxTimestamp()
		switch m.trig.kind {
		case "count":
			for _, r := range g {
				w.rows = append(w.rows, r)
				w.count++
				if w.count >= m.trig.n {
					w.count = 0
					m.fire(step, k, w)
				}
			}
		case "event", "continuous":
			w.rows = append(w.rows, g...)
			if maxTs <= m.wm {
				m.fire(step, k, w)
				break
			}
			w.timers[maxTs] = true
			if m.trig.kind == "continuous" && !w.hasNext {
				t := g[0].ts
				w.next, w.hasNext = min(t-((t%m.trig.n)+m.trig.n)%m.trig.n+m.trig.n, maxTs), true
				w.timers[w.next] = true
			}
		}
		if m.windowsOf != nil {
			w.timers[window.CleanupTime(k.w, m.lateness)] = true
		}
	}
}

func (m *genModel) watermark(step int, wm int64) {
	if wm <= m.wm {
		return
	}
	m.wm = wm
	for k, w := range m.wins {
		for {
			t, ok := int64(math.MaxInt64), false
			for tt := range w.timers {
				if tt <= wm && tt <= t {
					t, ok = tt, true
				}
			}
			if !ok {
				break
			}
			delete(w.timers, t)
			maxTs := k.w.MaxTimestamp()
			switch m.trig.kind {
			case "event":
				if t == maxTs {
					m.fire(step, k, w)
				}
			case "continuous":
				if t == maxTs {
					m.fire(step, k, w)
				} else if w.hasNext && w.next == t {
					w.next = min(t+m.trig.n, maxTs)
					w.timers[w.next] = true
					m.fire(step, k, w)
				}
			}
			if m.windowsOf != nil && t == window.CleanupTime(k.w, m.lateness) {
				delete(m.wins, k)
				break
			}
		}
	}
}

// genWindowText renders a window, "global" for the global window.
func genWindowText(start, end int64) string {
	if start == math.MinInt64 && end == math.MaxInt64 {
		return "global"
	}
	return fmt.Sprintf("[%d,%d)", start, end)
}

// genModelResult is modelResult with genWindowText.
func genModelResult(step int, k int64, w window.Window, rows []winRow) string {
	s := modelResult(step, k, w, rows)
	return strings.Replace(s, fmt.Sprintf("[%d,%d)", w.Start, w.End), genWindowText(w.Start, w.End), 1)
}

func rowWindow(r computetest.Row) (int64, int64) {
	ws, we := r["window_start"].(time.Time), r["window_end"].(time.Time)
	if ws.Year() < 1 && we.Year() > 9999 {
		return math.MinInt64, math.MaxInt64
	}
	return ws.UnixMilli(), we.UnixMilli()
}

// genResult renders an output row of the operator like genModelResult.
func genResult(step int, r computetest.Row) string {
	ws, we := rowWindow(r)
	if ws != math.MinInt64 {
		return winResult(step, r)
	}
	r2 := computetest.Row{}
	for k, v := range r {
		r2[k] = v
	}
	r2["window_start"], r2["window_end"] = time.UnixMilli(0), time.UnixMilli(0)
	return strings.Replace(winResult(step, r2), "[0,0)", genWindowText(ws, we), 1)
}

// medianSchema is the output of the median process function.
var medianSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "window_start", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "window_end", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	{Name: "median", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "ids", Type: arrow.BinaryTypes.String},
}, nil)

func median(vs []int64) *float64 {
	if len(vs) == 0 {
		return nil
	}
	slices.Sort(vs)
	h := len(vs) / 2
	m := float64(vs[h])
	if len(vs)%2 == 0 {
		m = float64(vs[h-1]+vs[h]) / 2
	}
	return &m
}

func medianText(step int, k int64, ws, we int64, n int64, med *float64, ids string) string {
	ms := "null"
	if med != nil {
		ms = fmt.Sprintf("%.1f", *med)
	}
	return fmt.Sprintf("@%d k=%d %s n=%d median=%s ids=%s", step, k, genWindowText(ws, we), n, ms, ids)
}

func medianResult(step int, k int64, w window.Window, rows []winRow) string {
	var vs []int64
	var ids []string
	for _, r := range rows {
		if r.v != nil {
			vs = append(vs, *r.v)
		}
		ids = append(ids, fmt.Sprint(r.id))
	}
	return medianText(step, k, w.Start, w.End, int64(len(rows)), median(vs), strings.Join(ids, ","))
}

func medianRender(step int, r computetest.Row) string {
	ws, we := rowWindow(r)
	var med *float64
	if v, ok := r["median"].(float64); ok {
		med = &v
	}
	return medianText(step, r["k"].(int64), ws, we, r["n"].(int64), med, r["ids"].(string))
}

// medianProcess is a Process window function: the median of v over the
// window's rows (computed from the buffered rows, which no incremental
// aggregate can do) and the row ids in the order the function saw them.
func medianProcess(mem memory.Allocator) window.ProcessFunc {
	return window.ProcessFuncOf(func(ctx context.Context, m *window.Meta, rows arrow.RecordBatch, out compute.Emitter) error {
		if m.Key == nil || m.Key.NumRows() != 1 {
			return fmt.Errorf("median: want a one-row key batch, got %v", m.Key)
		}
		v := rows.Column(3).(*array.Int64)
		idc := rows.Column(1).(*array.Int64)
		var vs []int64
		var ids []string
		for i := 0; i < v.Len(); i++ {
			if v.IsValid(i) {
				vs = append(vs, v.Value(i))
			}
			ids = append(ids, fmt.Sprint(idc.Value(i)))
		}
		b := array.NewRecordBuilder(mem, medianSchema)
		defer b.Release()
		b.Field(0).(*array.Int64Builder).Append(m.Key.Column(0).(*array.Int64).Value(0))
		b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(m.Window.Start))
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(m.Window.End))
		b.Field(3).(*array.Int64Builder).Append(rows.NumRows())
		if md := median(vs); md != nil {
			b.Field(4).(*array.Float64Builder).Append(*md)
		} else {
			b.Field(4).AppendNull()
		}
		b.Field(5).(*array.StringBuilder).Append(strings.Join(ids, ","))
		return out.Emit(ctx, b.NewRecordBatch())
	})
}

// genCase is one randomized scenario of the generic path.
type genCase struct {
	name    string
	node    func(n *sluicev1.WindowNode)
	model   func() *genModel
	process bool
}

func dur(ms int64) *durationpb.Duration { return durationpb.New(time.Duration(ms) * time.Millisecond) }

func tumblingModel(size int64) func(int64) []window.Window {
	s, err := window.NewTumbling(time.Duration(size)*time.Millisecond, 0)
	if err != nil {
		panic(err)
	}
	return slicerWindows(s)
}

func slidingModel(size, slide int64) func(int64) []window.Window {
	s, err := window.NewSliding(time.Duration(size)*time.Millisecond, time.Duration(slide)*time.Millisecond, 0)
	if err != nil {
		panic(err)
	}
	return slicerWindows(s)
}

func genCases() []genCase {
	tum := func(size int64) *sluicev1.WindowNode_Tumbling {
		return &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: dur(size)}}
	}
	countTrig := func(n int64, purging bool) *sluicev1.Trigger {
		return &sluicev1.Trigger{Kind: &sluicev1.Trigger_Count{Count: &sluicev1.CountTrigger{Count: n}}, Purging: purging}
	}
	contTrig := func(iv int64, purging bool) *sluicev1.Trigger {
		return &sluicev1.Trigger{Kind: &sluicev1.Trigger_Continuous{Continuous: &sluicev1.ContinuousTrigger{Interval: dur(iv)}}, Purging: purging}
	}
	countEv := func(n int64, after bool) *sluicev1.Evictor {
		return &sluicev1.Evictor{Kind: &sluicev1.Evictor_Count{Count: &sluicev1.CountEvictor{MaxCount: n}}, AfterFunction: after}
	}
	timeEv := func(ms int64, after bool) *sluicev1.Evictor {
		return &sluicev1.Evictor{Kind: &sluicev1.Evictor_Time{Time: &sluicev1.TimeEvictor{Keep: dur(ms)}}, AfterFunction: after}
	}
	global := &sluicev1.WindowNode_Global{Global: &sluicev1.GlobalWindow{}}
	count := func(size, slide int64) *sluicev1.WindowNode_Count {
		return &sluicev1.WindowNode_Count{Count: &sluicev1.CountWindow{Size: size, Slide: slide}}
	}
	return []genCase{
		{"count-tumbling", func(n *sluicev1.WindowNode) { n.Assigner = count(5, 0) },
			func() *genModel { return &genModel{trig: genTrig{"count", 5, true}} }, false},
		{"count-sliding", func(n *sluicev1.WindowNode) { n.Assigner = count(6, 2) },
			func() *genModel {
				return &genModel{trig: genTrig{"count", 2, false}, evict: genEvict{"count", 6, false}}
			}, false},
		{"global-count", func(n *sluicev1.WindowNode) { n.Assigner, n.Trigger = global, countTrig(4, false) },
			func() *genModel { return &genModel{trig: genTrig{"count", 4, false}} }, false},
		{"global-count-evict-after", func(n *sluicev1.WindowNode) {
			n.Assigner, n.Trigger, n.Evictor = global, countTrig(3, false), countEv(2, true)
		}, func() *genModel {
			return &genModel{trig: genTrig{"count", 3, false}, evict: genEvict{"count", 2, true}}
		}, false},
		{"continuous", func(n *sluicev1.WindowNode) { n.Assigner, n.Trigger = tum(100), contTrig(30, false) },
			func() *genModel {
				return &genModel{windowsOf: tumblingModel(100), trig: genTrig{"continuous", 30, false}}
			}, false},
		{"continuous-purging", func(n *sluicev1.WindowNode) { n.Assigner, n.Trigger = tum(100), contTrig(30, true) },
			func() *genModel {
				return &genModel{windowsOf: tumblingModel(100), trig: genTrig{"continuous", 30, true}}
			}, false},
		{"tumbling-count-trigger-lateness", func(n *sluicev1.WindowNode) {
			n.Assigner, n.Trigger, n.AllowedLateness = tum(100), countTrig(3, false), dur(50)
		}, func() *genModel {
			return &genModel{windowsOf: tumblingModel(100), lateness: 50, trig: genTrig{"count", 3, false}}
		}, false},
		{"tumbling-purging-count", func(n *sluicev1.WindowNode) { n.Assigner, n.Trigger = tum(100), countTrig(4, true) },
			func() *genModel { return &genModel{windowsOf: tumblingModel(100), trig: genTrig{"count", 4, true}} }, false},
		{"count-evictor-before", func(n *sluicev1.WindowNode) {
			n.Assigner, n.Evictor, n.AllowedLateness = tum(100), countEv(3, false), dur(80)
		}, func() *genModel {
			return &genModel{windowsOf: tumblingModel(100), lateness: 80, trig: genTrig{kind: "event"}, evict: genEvict{"count", 3, false}}
		}, false},
		{"count-evictor-after", func(n *sluicev1.WindowNode) {
			n.Assigner, n.Evictor, n.AllowedLateness = tum(100), countEv(3, true), dur(80)
		}, func() *genModel {
			return &genModel{windowsOf: tumblingModel(100), lateness: 80, trig: genTrig{kind: "event"}, evict: genEvict{"count", 3, true}}
		}, false},
		{"time-evictor-before-sliding", func(n *sluicev1.WindowNode) {
			n.Assigner = &sluicev1.WindowNode_Sliding{Sliding: &sluicev1.SlidingWindow{Size: dur(100), Slide: dur(50)}}
			n.Evictor = timeEv(30, false)
		}, func() *genModel {
			return &genModel{windowsOf: slidingModel(100, 50), trig: genTrig{kind: "event"}, evict: genEvict{"time", 30, false}}
		}, false},
		{"time-evictor-after", func(n *sluicev1.WindowNode) {
			n.Assigner, n.Evictor, n.AllowedLateness = tum(100), timeEv(40, true), dur(80)
		}, func() *genModel {
			return &genModel{windowsOf: tumblingModel(100), lateness: 80, trig: genTrig{kind: "event"}, evict: genEvict{"time", 40, true}}
		}, false},
		{"process-median", func(n *sluicev1.WindowNode) { n.Assigner, n.AllowedLateness = tum(100), dur(50) },
			func() *genModel {
				return &genModel{windowsOf: tumblingModel(100), lateness: 50, trig: genTrig{kind: "event"}, median: true}
			}, true},
		{"process-median-count-sliding", func(n *sluicev1.WindowNode) { n.Assigner = count(5, 3) },
			func() *genModel {
				return &genModel{trig: genTrig{"count", 3, false}, evict: genEvict{"count", 5, false}, median: true}
			}, true},
		{"process-median-continuous-purging-evict", func(n *sluicev1.WindowNode) {
			n.Assigner, n.Trigger, n.Evictor = tum(100), contTrig(25, true), countEv(4, false)
		}, func() *genModel {
			return &genModel{windowsOf: tumblingModel(100), trig: genTrig{"continuous", 25, true}, evict: genEvict{"count", 4, false}, median: true}
		}, true},
	}
}

// genPlan plans node, and with process swaps the aggregates for the median
// process function.
func genPlan(t testing.TB, mem memory.Allocator, node *sluicev1.WindowNode, process bool) *operator.WindowPlan {
	t.Helper()
	plan, err := operator.PlanWindow(node, winSchema)
	if err != nil {
		t.Fatal(err)
	}
	if !process {
		return plan
	}
	cfg := plan.Config
	cfg.Process, cfg.Output = medianProcess(mem), medianSchema
	plan.Schema = medianSchema
	plan.Config = cfg
	plan.NewOperator = func() (compute.Operator, error) { return operator.NewWindowOperator(cfg) }
	return plan
}

func TestWindowGenericRandom(t *testing.T) {
	for _, c := range genCases() {
		for _, par := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/par%d", c.name, par), func(t *testing.T) {
				seed := uint64(time.Now().UnixNano())
				rng := rand.New(rand.NewPCG(seed, 7))
				for iter := 0; iter < 4; iter++ {
					sc := randomScenario(rng, 500, 1+rng.IntN(8), 1+int64(rng.IntN(3)), 40)
					func() {
						mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
						defer mem.AssertSize(t, 0)
						node := winNode(c.node)
						plan := genPlan(t, mem, node, c.process)
						rig := newWinRig(t, mem, clock.Real(), plan, winSchema, par)
						rig.em.render = genResult
						if c.process {
							rig.em.render = medianRender
						}
						m := c.model()
						m.wm, m.wins = window.NoWatermark, map[winKey]*gmWin{}
						for i, b := range sc.batches {
							rig.step = 2 * i
							rig.batch(winBatch(mem, b))
							m.batch(2*i, b)
							rig.step = 2*i + 1
							rig.watermark(time.UnixMilli(sc.watermarks[i]).UTC())
							m.watermark(2*i+1, sc.watermarks[i])
						}
						rig.step = 2 * len(sc.batches)
						rig.finish()
						m.watermark(rig.step, math.MaxInt64)
						rig.close()
						if len(m.out) == 0 {
							t.Fatal("the model emitted nothing; the scenario tests nothing")
						}
						compareMultisets(t, fmt.Sprintf("seed %d iteration %d: window results", seed, iter), rig.out, m.out)
						compareMultisets(t, fmt.Sprintf("seed %d iteration %d: late rows", seed, iter), rig.late, m.late)
					}()
				}
			})
		}
	}
}
