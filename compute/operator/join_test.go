package operator_test

// Randomized tests of the join operators against nested-loop models: random
// keys (with NULLs), random out-of-order event times, random watermarks
// (with late rows), batches of random sizes, several parallelisms (the
// inputs are partitioned by key with the exchange, as the runtime does, and
// each subtask has its own memstore and key-group range), on a checked
// allocator.

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/operator"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

var joinTS = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// Left: k int64 (NULLable), t timestamp(ms), s string (NULLable), n int32.
// Right: k int64, t timestamp(ms), f float64 (NULLable), b bool, s string.
var (
	joinLeftSchema = arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "t", Type: joinTS, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	joinRightSchema = arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "t", Type: joinTS},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
)

// jrow is one input row of either side; unused fields are zero.
type jrow struct {
	k     *int64
	t     *int64 // ms
	s     *string
	n     int32
	f     *float64
	b     bool
	rs    string
	id    int // arrival index, for the model
	side  int
	batch int // arrival batch
	wm    int64
}

// jstep is a batch of one side or a watermark.
type jstep struct {
	side int // -1: watermark
	rows []*jrow
	wm   int64 // ms
}

func joinPtr[T any](v T) *T { return &v }

// randomJoinSteps makes batches of both sides with keys in [0, keys), some
// NULL; times around an advancing clock with disorder up to `disorder` ms,
// and watermarks trailing the max time by `delay` ms (so rows more than
// delay out of order are late).
func randomJoinSteps(rng *rand.Rand, rows, keys int, disorder, delay int64) []jstep {
	var steps []jstep
	var now, maxT int64 = 1_000_000, math.MinInt64
	wm := int64(math.MinInt64)
	id := 0
	for id < rows {
		if rng.IntN(4) == 0 && maxT != math.MinInt64 {
			if w := maxT - delay; w > wm {
				wm = w
				steps = append(steps, jstep{side: -1, wm: wm})
			}
			continue
		}
		side := rng.IntN(2)
		n := 1 + rng.IntN(40)
		var b []*jrow
		for range n {
			now += int64(rng.IntN(7))
			r := &jrow{id: id, side: side, batch: len(steps), wm: wm}
			id++
			if rng.IntN(25) != 0 {
				r.k = joinPtr(int64(rng.IntN(keys)))
			}
			t := now - rng.Int64N(disorder+1)
			if rng.IntN(15) == 0 { // far out of order: often late
				t = now - 3*disorder - rng.Int64N(4*disorder)
			}
			if side == 0 && rng.IntN(40) == 0 {
				r.t = nil
			} else {
				r.t = joinPtr(t)
				maxT = max(maxT, t)
			}
			if rng.IntN(5) != 0 {
				r.s = joinPtr(fmt.Sprintf("s%d\x00%d", rng.IntN(100), id))
			}
			r.n = int32(rng.IntN(2000) - 1000)
			if rng.IntN(6) != 0 {
				r.f = joinPtr(rng.Float64())
			}
			r.b = rng.IntN(2) == 0
			r.rs = strings.Repeat("x", rng.IntN(5)) + fmt.Sprint(id)
			b = append(b, r)
		}
		steps = append(steps, jstep{side: side, rows: b})
	}
	return steps
}

func joinBatch(mem memory.Allocator, side int, rows []*jrow) arrow.RecordBatch {
	if side == 0 {
		bld := array.NewRecordBuilder(mem, joinLeftSchema)
		defer bld.Release()
		for _, r := range rows {
			if r.k == nil {
				bld.Field(0).AppendNull()
			} else {
				bld.Field(0).(*array.Int64Builder).Append(*r.k)
			}
			if r.t == nil {
				bld.Field(1).AppendNull()
			} else {
				bld.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(*r.t))
			}
			if r.s == nil {
				bld.Field(2).AppendNull()
			} else {
				bld.Field(2).(*array.StringBuilder).Append(*r.s)
			}
			bld.Field(3).(*array.Int32Builder).Append(r.n)
		}
		return bld.NewRecordBatch()
	}
	bld := array.NewRecordBuilder(mem, joinRightSchema)
	defer bld.Release()
	for _, r := range rows {
		if r.k == nil {
			bld.Field(0).AppendNull()
		} else {
			bld.Field(0).(*array.Int64Builder).Append(*r.k)
		}
		bld.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(*r.t))
		if r.f == nil {
			bld.Field(2).AppendNull()
		} else {
			bld.Field(2).(*array.Float64Builder).Append(*r.f)
		}
		bld.Field(3).(*array.BooleanBuilder).Append(r.b)
		bld.Field(4).(*array.StringBuilder).Append(r.rs)
	}
	return bld.NewRecordBatch()
}

// joinRig runs `par` subtasks of a join operator, feeding each the rows of
// its key groups, as the runtime does.
type joinRig struct {
	t     testing.TB
	ctx   context.Context
	mem   memory.Allocator
	ops   []compute.Operator
	parts [2]*exchange.Partitioner
	out   *joinSink
	reg   *memstore.Registry
	store []statestore.Store
	// emptyAtEnd makes close check, after Finish, that the stores hold no
	// state (assertNoState).
	emptyAtEnd bool
}

type joinSink struct {
	schema *arrow.Schema
	rows   []string
	side   map[string]int
}

func (s *joinSink) Emit(_ context.Context, b arrow.RecordBatch) error {
	defer b.Release()
	if !b.Schema().Equal(s.schema) {
		return fmt.Errorf("emitted schema %s, plan says %s", b.Schema(), s.schema)
	}
	for _, r := range computetest.BatchRows(b) {
		s.rows = append(s.rows, fmtJoinRow(s.schema, r))
	}
	return nil
}

func (s *joinSink) EmitSide(_ context.Context, tag string, b arrow.RecordBatch) error {
	defer b.Release()
	s.side[tag] += int(b.NumRows())
	return nil
}

func fmtJoinRow(schema *arrow.Schema, r computetest.Row) string {
	var sb strings.Builder
	for i, f := range schema.Fields() {
		if i > 0 {
			sb.WriteByte('|')
		}
		switch v := r[f.Name].(type) {
		case time.Time:
			fmt.Fprintf(&sb, "%d", v.UnixMilli())
		case float64:
			fmt.Fprintf(&sb, "%.9g", v)
		case nil:
			sb.WriteString("NULL")
		default:
			fmt.Fprintf(&sb, "%v", v)
		}
	}
	return sb.String()
}

const joinMaxPar = 16

func newJoinRig(t testing.TB, mem memory.Allocator, p *operator.JoinPlan, par int) *joinRig {
	ctx := context.Background()
	r := &joinRig{t: t, ctx: ctx, mem: mem, out: &joinSink{schema: p.Schema, side: map[string]int{}}}
	clk := clock.NewFake(time.Unix(0, 0))
	r.reg = memstore.NewRegistry(memstore.Options{Clock: clk})
	var err error
	if r.parts[0], err = exchange.NewPartitioner(joinLeftSchema, p.LeftKeys, par, joinMaxPar); err != nil {
		t.Fatal(err)
	}
	if r.parts[1], err = exchange.NewPartitioner(joinRightSchema, p.RightKeys, par, joinMaxPar); err != nil {
		t.Fatal(err)
	}
	for i := range par {
		op, err := p.NewOperator()
		if err != nil {
			t.Fatal(err)
		}
		kg := exchange.KeyGroupRangeFor(i, par, joinMaxPar)
		oc := &compute.OperatorContext{
			Job: "test", Node: "join", Subtask: i, Parallelism: par, MaxParallelism: joinMaxPar,
			KeyGroups: kg, InputSchemas: []*arrow.Schema{joinLeftSchema, joinRightSchema},
			Allocator: mem, Clock: clk,
			OpenStore: func(ctx context.Context) (statestore.Store, error) {
				st, err := r.reg.Open(ctx, statestore.ShardOptions{Name: fmt.Sprint(i)}, nil, kg)
				if err == nil {
					r.store = append(r.store, st)
				}
				return st, err
			},
		}
		if err := op.Open(ctx, oc); err != nil {
			t.Fatal(err)
		}
		r.ops = append(r.ops, op)
	}
	return r
}

func (r *joinRig) batch(side int, b arrow.RecordBatch) {
	parts, err := r.parts[side].Split(r.ctx, r.mem, b) // takes b
	if err != nil {
		r.t.Fatal(err)
	}
	for i, p := range parts {
		if p == nil {
			continue
		}
		if err := r.ops[i].ProcessBatch(r.ctx, side, p, r.out); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *joinRig) watermark(wm time.Time) {
	for _, op := range r.ops {
		if err := op.ProcessWatermark(r.ctx, wm, r.out); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *joinRig) close() operator.JoinMetrics {
	var m operator.JoinMetrics
	for _, op := range r.ops {
		if err := op.Finish(r.ctx, r.out); err != nil {
			r.t.Error(err)
		}
		om := op.(interface{ Metrics() operator.JoinMetrics }).Metrics()
		for s := range 2 {
			m.RowsIn[s] += om.RowsIn[s]
			m.LateRows[s] += om.LateRows[s]
			m.LateDropped[s] += om.LateDropped[s]
			m.NullRows[s] += om.NullRows[s]
		}
		m.RowsOut += om.RowsOut
		m.Pairs += om.Pairs
		m.Expired += om.Expired
		m.WindowsFired += om.WindowsFired
	}
	if r.emptyAtEnd {
		r.assertNoState()
	}
	for _, op := range r.ops {
		if err := op.Close(); err != nil {
			r.t.Error(err)
		}
	}
	for _, st := range r.store {
		if err := st.Close(); err != nil {
			r.t.Error(err)
		}
	}
	return m
}

// assertNoState checks that the subtasks' stores hold nothing but the state
// backend's metadata: after the final watermark a time-bounded join has
// expired every bucket and fired every window, and deleted their state.
func (r *joinRig) assertNoState() {
	r.t.Helper()
	const metaStateID = 0xFF // compute/state's metadata entries
	for i, st := range r.store {
		it, err := st.Scan(r.ctx, nil, nil)
		if err != nil {
			r.t.Fatal(err)
		}
		left := 0
		for ok := it.First(); ok; ok = it.Next() {
			if k := it.Key(); len(k) > 2 && k[2] != metaStateID {
				if left < 3 {
					r.t.Errorf("subtask %d: state entry %x left after the final watermark", i, k)
				}
				left++
			}
		}
		if err := it.Close(); err != nil {
			r.t.Fatal(err)
		}
		if left > 0 {
			r.t.Errorf("subtask %d: %d state entries left after the final watermark", i, left)
		}
	}
}

func (r *joinRig) run(steps []jstep) {
	for _, st := range steps {
		if st.side < 0 {
			r.watermark(time.UnixMilli(st.wm))
			continue
		}
		r.batch(st.side, joinBatch(r.mem, st.side, st.rows))
	}
	r.watermark(compute.MaxWatermark)
}

// The model's output columns, matching joinTestColumns.
var joinTestColumns = []*sluicev1.Column{
	{Expr: "l_k"}, {Expr: "l_t"}, {Expr: "l_s"}, {Name: "n2", Expr: "l_n * 2"},
	{Expr: "r_t"}, {Expr: "r_f"}, {Expr: "r_b"}, {Expr: "r_s"},
}

const joinTestCondition = "r_f IS NULL OR r_f < 0.8 OR l_n > 0"

func modelJoinRow(l, r *jrow, window *[2]int64) (string, bool) {
	if !(r.f == nil || *r.f < 0.8 || l.n > 0) {
		return "", false
	}
	str := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	f := "NULL"
	if r.f != nil {
		f = fmt.Sprintf("%.9g", *r.f)
	}
	lt := "NULL"
	if l.t != nil {
		lt = fmt.Sprint(*l.t)
	}
	s := fmt.Sprintf("%d|%s|%s|%d|%d|%s|%v|%s", *l.k, lt, str(l.s), int64(l.n)*2, *r.t, f, r.b, r.rs)
	if window != nil {
		s += fmt.Sprintf("|%d|%d", window[0], window[1])
	}
	return s, true
}

func joinSpec(kind string) *sluicev1.JoinNode {
	spec := &sluicev1.JoinNode{
		LeftKeys: []string{"k"}, RightKeys: []string{"k"},
		LeftPrefix: "l_", RightPrefix: "r_",
		Condition: joinTestCondition,
		Columns:   append([]*sluicev1.Column(nil), joinTestColumns...),
	}
	switch kind {
	case "interval":
		spec.Interval = &sluicev1.IntervalJoin{LeftTime: "t", RightTime: "t", Lower: durationpb.New(-30 * time.Millisecond), Upper: durationpb.New(50 * time.Millisecond)}
	case "tumbling", "sliding":
		w := &sluicev1.WindowJoin{LeftTime: "t", RightTime: "t"}
		if kind == "tumbling" {
			w.Assigner = &sluicev1.WindowJoin_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: durationpb.New(100 * time.Millisecond), Offset: durationpb.New(7 * time.Millisecond)}}
		} else {
			w.Assigner = &sluicev1.WindowJoin_Sliding{Sliding: &sluicev1.SlidingWindow{Size: durationpb.New(120 * time.Millisecond), Slide: durationpb.New(40 * time.Millisecond)}}
		}
		spec.Window = w
		spec.Columns = append(spec.Columns, &sluicev1.Column{Expr: "window_start"}, &sluicev1.Column{Expr: "window_end"})
	}
	return spec
}

type joinModelResult struct {
	rows    []string
	dropped [2]int
}

// modelJoin is the nested-loop model of each join kind over the arrival
// sequence (see the operator's doc for the rules on late rows).
func modelJoin(kind string, steps []jstep) joinModelResult {
	var all []*jrow
	var res joinModelResult
	wm := int64(math.MinInt64)
	for _, st := range steps {
		if st.side < 0 {
			wm = st.wm
			continue
		}
		for _, r := range st.rows {
			r.wm = wm
			all = append(all, r)
		}
	}
	const lower, upper = -30, 50
	left := func(a, b *jrow) (*jrow, *jrow) {
		if a.side == 0 {
			return a, b
		}
		return b, a
	}
	switch kind {
	case "regular":
		for _, x := range all {
			for _, y := range all {
				if x.side != 0 || y.side != 1 || x.k == nil || y.k == nil || *x.k != *y.k {
					continue
				}
				if s, ok := modelJoinRow(x, y, nil); ok {
					res.rows = append(res.rows, s)
				}
			}
		}
	case "interval":
		expiry := func(r *jrow) int64 {
			if r.side == 0 {
				return *r.t + upper
			}
			return *r.t - lower
		}
		matched := map[*jrow]bool{}
		for i, y := range all { // y arrives after x
			for _, x := range all[:i] {
				if x.side == y.side || x.batch == y.batch || x.k == nil || y.k == nil || *x.k != *y.k || x.t == nil || y.t == nil {
					continue
				}
				l, r := left(x, y)
				if *r.t < *l.t+lower || *r.t > *l.t+upper || expiry(x) <= y.wm {
					continue
				}
				matched[y] = true
				if s, ok := modelJoinRow(l, r, nil); ok {
					res.rows = append(res.rows, s)
				}
			}
		}
		for _, y := range all {
			if y.k != nil && y.t != nil && expiry(y) <= y.wm && !matched[y] {
				res.dropped[y.side]++
			}
		}
	case "tumbling", "sliding":
		size, slide, offset := int64(100), int64(100), int64(7)
		if kind == "sliding" {
			size, slide, offset = 120, 40, 0
		}
		fd := func(a, b int64) int64 { return int64(math.Floor(float64(a) / float64(b))) }
		windows := func(t int64) (ws []int64) {
			last := fd(t-offset, slide)*slide + offset
			for s := last; s > t-size; s -= slide {
				ws = append(ws, s)
			}
			return ws
		}
		for _, y := range all {
			if y.k == nil || y.t == nil {
				continue
			}
			if ws := windows(*y.t); ws[0]+size-1 <= y.wm {
				res.dropped[y.side]++
			}
		}
		for _, x := range all {
			for _, y := range all {
				if x.side != 0 || y.side != 1 || x.k == nil || y.k == nil || *x.k != *y.k || x.t == nil {
					continue
				}
				for _, ws := range windows(*x.t) {
					if *y.t < ws || *y.t >= ws+size || ws+size-1 <= x.wm || ws+size-1 <= y.wm {
						continue
					}
					if s, ok := modelJoinRow(x, y, &[2]int64{ws, ws + size}); ok {
						res.rows = append(res.rows, s)
					}
				}
			}
		}
	}
	return res
}

func TestJoinRandomizedAgainstModel(t *testing.T) {
	lateSeen := map[string]int{}
	defer func() {
		for _, kind := range []string{"interval", "tumbling", "sliding"} {
			if lateSeen[kind] == 0 && !t.Failed() {
				t.Errorf("%s: no run had late rows to drop; the test data must exercise them", kind)
			}
		}
	}()
	for _, kind := range []string{"regular", "interval", "tumbling", "sliding"} {
		for seed := range uint64(4) {
			for _, par := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/seed%d/par%d", kind, seed, par), func(t *testing.T) {
					mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
					defer mem.AssertSize(t, 0)
					rng := rand.New(rand.NewPCG(seed, 99))
					rows, keys := 1500, 1+rng.IntN(40)
					if kind == "regular" {
						rows = 600
					}
					steps := randomJoinSteps(rng, rows, keys, 60, int64(20+rng.IntN(60)))
					p, err := operator.PlanJoin(joinSpec(kind), joinLeftSchema, joinRightSchema)
					if err != nil {
						t.Fatal(err)
					}
					if seed%2 == 1 {
						// Clear every window's chunks with one range
						// deletion, as for keys with many chunks.
						defer operator.SetPointDeleteChunks(0)()
					}
					rig := newJoinRig(t, mem, p, par)
					rig.emptyAtEnd = kind != "regular"
					rig.run(steps)
					m := rig.close()
					want := modelJoin(kind, steps)
					if len(want.rows) < 50 {
						t.Fatalf("model produced only %d rows: the test data is too thin", len(want.rows))
					}
					compareJoinRows(t, rig.out.rows, want.rows)
					if int(m.RowsOut) != len(rig.out.rows) {
						t.Errorf("metrics RowsOut %d, emitted %d", m.RowsOut, len(rig.out.rows))
					}
					for s, tag := range []string{operator.JoinLateLeft, operator.JoinLateRight} {
						if int(m.LateDropped[s]) != want.dropped[s] || rig.out.side[tag] != want.dropped[s] {
							t.Errorf("side %d: late rows dropped: metrics %d, side output %d, model %d", s, m.LateDropped[s], rig.out.side[tag], want.dropped[s])
						}
					}
					if kind != "regular" {
						lateSeen[kind] += want.dropped[0] + want.dropped[1]
					}
					t.Logf("%d rows out, %d late rows dropped, late %v, expired %d, windows fired %d", len(want.rows), want.dropped[0]+want.dropped[1], m.LateRows, m.Expired, m.WindowsFired)
				})
			}
		}
	}
}

func compareJoinRows(t *testing.T, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, r := range got {
		count[r]++
	}
	for _, r := range want {
		count[r]--
	}
	var missing, extra []string
	for r, c := range count {
		for ; c > 0; c-- {
			extra = append(extra, r)
		}
		for ; c < 0; c++ {
			missing = append(missing, r)
		}
	}
	if len(missing)+len(extra) == 0 {
		return
	}
	sort.Strings(missing)
	sort.Strings(extra)
	t.Errorf("got %d rows, want %d: %d missing, %d extra\nmissing (first 5): %q\nextra (first 5): %q",
		len(got), len(want), len(missing), len(extra), missing[:min(5, len(missing))], extra[:min(5, len(extra))])
}

func TestPlanJoinErrors(t *testing.T) {
	op := arrow.NewSchema([]arrow.Field{{Name: "_op", Type: arrow.PrimitiveTypes.Int8}, {Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	d := durationpb.New
	iv := func(lt, rt string, lo, hi time.Duration) *sluicev1.IntervalJoin {
		return &sluicev1.IntervalJoin{LeftTime: lt, RightTime: rt, Lower: d(lo), Upper: d(hi)}
	}
	tumble := func(size, off time.Duration) *sluicev1.WindowJoin {
		return &sluicev1.WindowJoin{LeftTime: "t", RightTime: "t", Assigner: &sluicev1.WindowJoin_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: d(size), Offset: d(off)}}}
	}
	slide := func(size, sl time.Duration) *sluicev1.WindowJoin {
		return &sluicev1.WindowJoin{LeftTime: "t", RightTime: "t", Assigner: &sluicev1.WindowJoin_Sliding{Sliding: &sluicev1.SlidingWindow{Size: d(size), Slide: d(sl)}}}
	}
	base := func() *sluicev1.JoinNode {
		return &sluicev1.JoinNode{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, LeftPrefix: "l_", RightPrefix: "r_"}
	}
	for _, tc := range []struct {
		name  string
		edit  func(j *sluicev1.JoinNode)
		left  *arrow.Schema
		wants []string
	}{
		{"no keys", func(j *sluicev1.JoinNode) { j.LeftKeys, j.RightKeys = nil, nil }, nil, []string{"left_keys: at least one key column is required"}},
		{"key counts", func(j *sluicev1.JoinNode) { j.RightKeys = []string{"k", "t"} }, nil, []string{"right_keys: 2 key columns, but left_keys has 1"}},
		{"unknown key", func(j *sluicev1.JoinNode) { j.LeftKeys = []string{"zz"} }, nil, []string{`left_keys[0]: no column "zz" in the left input (columns: k, t, s, n)`}},
		{"key types", func(j *sluicev1.JoinNode) { j.RightKeys = []string{"s"} }, nil, []string{`right_keys[0]: column "s" has type utf8, but left key "k" has type int64`, "CAST"}},
		{"name clash", func(j *sluicev1.JoinNode) { j.LeftPrefix, j.RightPrefix = "", "" }, nil, []string{`left column "k" and right column "k" are both named "k"`, "set left_prefix and right_prefix"}},
		{"updating input", nil, op, []string{"inputs[0]: the left input is an updating stream (it has an _op column)"}},
		{"interval bounds", func(j *sluicev1.JoinNode) { j.Interval = iv("t", "t", time.Second, -time.Second) }, nil, []string{"interval.lower: 1s is after interval.upper -1s"}},
		{"interval time missing", func(j *sluicev1.JoinNode) { j.Interval = iv("t", "", 0, time.Second) }, nil, []string{"interval.right_time: the right input's event-time column is required"}},
		{"interval time type", func(j *sluicev1.JoinNode) { j.Interval = iv("n", "t", 0, time.Second) }, nil, []string{`interval.left_time: column "n" has type int32, want a timestamp`}},
		{"interval and window", func(j *sluicev1.JoinNode) {
			j.Interval = iv("t", "t", 0, time.Second)
			j.Window = tumble(time.Second, 0)
		}, nil, []string{"set at most one of interval"}},
		{"window no assigner", func(j *sluicev1.JoinNode) { j.Window = &sluicev1.WindowJoin{LeftTime: "t", RightTime: "t"} }, nil, []string{"window: an assigner is required"}},
		{"tumbling size", func(j *sluicev1.JoinNode) { j.Window = tumble(0, 0) }, nil, []string{"window.tumbling.size: 0s must be positive"}},
		{"tumbling offset", func(j *sluicev1.JoinNode) { j.Window = tumble(time.Second, 2*time.Second) }, nil, []string{"window.tumbling.offset: 2s must be in [0, size 1s)"}},
		{"sliding slide", func(j *sluicev1.JoinNode) { j.Window = slide(time.Second, 0) }, nil, []string{"window.sliding.slide: 0s must be positive"}},
		{"sliding slide > size", func(j *sluicev1.JoinNode) { j.Window = slide(time.Second, 2*time.Second) }, nil, []string{"window.sliding.slide: 2s is larger than size 1s"}},
		{"sliding negative size", func(j *sluicev1.JoinNode) { j.Window = slide(-time.Second, time.Second) }, nil, []string{"window.sliding.size: -1s must be positive"}},
		{"window column clash", func(j *sluicev1.JoinNode) {
			j.Window = tumble(time.Second, 0)
			j.LeftPrefix = "window_"
			j.LeftKeys = []string{"s"}
			j.RightKeys = []string{"s"}
		}, nil, []string{`left column "start" is named "window_start", the name of the window column`}},
		{"condition type", func(j *sluicev1.JoinNode) { j.Condition = "l_n + 1" }, nil, []string{`condition: "l_n + 1" has type int64, want boolean`}},
		{"condition column", func(j *sluicev1.JoinNode) { j.Condition = "n > 1" }, nil, []string{"condition:", `"n"`}},
		{"column name", func(j *sluicev1.JoinNode) { j.Columns = []*sluicev1.Column{{Expr: "l_n + 1"}} }, nil, []string{"columns[0].name: a computed column needs a name"}},
		{"column duplicate", func(j *sluicev1.JoinNode) { j.Columns = []*sluicev1.Column{{Expr: "l_k"}, {Name: "l_k", Expr: "r_k"}} }, nil, []string{`columns[1].name: "l_k" is already the name of columns[0]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := base()
			if tc.edit != nil {
				tc.edit(spec)
			}
			left := joinLeftSchema
			if tc.left != nil {
				left = tc.left
			}
			if tc.name == "window column clash" {
				left = arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}, {Name: "t", Type: joinTS}, {Name: "start", Type: arrow.PrimitiveTypes.Int64}}, nil)
			}
			_, err := operator.PlanJoin(spec, left, joinRightSchema)
			if err == nil {
				t.Fatalf("PlanJoin succeeded, want an error containing %q", tc.wants)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPlanJoinSchemas(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec *sluicev1.JoinNode
		want string
	}{
		{"all columns, prefixed", &sluicev1.JoinNode{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, LeftPrefix: "l_", RightPrefix: "r_"},
			"l_k:int64 l_t:timestamp[ms, tz=UTC] l_s:utf8 l_n:int32 r_k:int64 r_t:timestamp[ms, tz=UTC] r_f:float64 r_b:bool r_s:utf8"},
		{"window columns", joinSpec("tumbling"),
			"l_k:int64 l_t:timestamp[ms, tz=UTC] l_s:utf8 n2:int64 r_t:timestamp[ms, tz=UTC] r_f:float64 r_b:bool r_s:utf8 window_start:timestamp[ms, tz=UTC] window_end:timestamp[ms, tz=UTC]"},
		{"only the left prefix needed", &sluicev1.JoinNode{LeftKeys: []string{"k"}, RightKeys: []string{"k"}, LeftPrefix: "a.", Columns: []*sluicev1.Column{{Expr: `"a.k"`}, {Name: "x", Expr: "f * 2"}}},
			"a.k:int64 x:float64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := operator.PlanJoin(tc.spec, joinLeftSchema, joinRightSchema)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range p.Schema.Fields() {
				got = append(got, f.Name+":"+f.Type.String())
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("schema\n got %s\nwant %s", g, tc.want)
			}
			if len(p.LeftKeys) != 1 || p.LeftKeys[0] != 0 || len(p.RightKeys) != 1 || p.RightKeys[0] != 0 {
				t.Errorf("keys %v %v, want [0] [0]", p.LeftKeys, p.RightKeys)
			}
		})
	}
}
