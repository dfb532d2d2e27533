package operator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/operator"
	"github.com/sluicedata/sluice/compute/window"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// winSchema is the input of the window tests: a key, a unique row id, an
// event time and a nullable value.
var winSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

// winRow is one input row.
type winRow struct {
	k, id, ts int64
	v         *int64
}

// winAggs are the aggregates every randomized test computes.
var winAggs = []*sluicev1.Aggregate{
	{Name: "cnt", Function: "count", Expr: "*"},
	{Name: "cv", Function: "count", Expr: "v"},
	{Name: "s", Function: "sum", Expr: "v"},
	{Name: "mn", Function: "min", Expr: "v"},
	{Name: "mx", Function: "max", Expr: "v"},
	{Name: "av", Function: "avg", Expr: "v"},
	{Name: "fst", Function: "first", Expr: "v"},
	{Name: "lst", Function: "last", Expr: "v"},
	{Name: "v2", Function: "sum", Expr: "v * 2 + 1"},
}

// winResult renders an output row of the window operator (with winAggs),
// tagged with the step it was emitted at.
func winResult(step int, r computetest.Row) string {
	ws := r["window_start"].(time.Time).UnixMilli()
	we := r["window_end"].(time.Time).UnixMilli()
	f := func(name string) string {
		switch v := r[name].(type) {
		case nil:
			return "null"
		case float64:
			return fmt.Sprintf("%.6f", v)
		default:
			return fmt.Sprint(v)
		}
	}
	return fmt.Sprintf("@%d k=%v [%d,%d) cnt=%s cv=%s s=%s mn=%s mx=%s av=%s fst=%s lst=%s v2=%s", step, r["k"], ws, we,
		f("cnt"), f("cv"), f("s"), f("mn"), f("mx"), f("av"), f("fst"), f("lst"), f("v2"))
}

// modelResult renders what the model expects for a window's rows, in the
// format of winResult.
func modelResult(step int, k int64, w window.Window, rows []winRow) string {
	var cv, s, v2 int64
	var mn, mx, fst, lst *int64
	var fstT, lstT int64
	for _, r := range rows {
		if r.v == nil {
			continue
		}
		v := *r.v
		cv++
		s += v
		v2 += v*2 + 1
		if mn == nil || v < *mn {
			mn = r.v
		}
		if mx == nil || v > *mx {
			mx = r.v
		}
		if fst == nil || r.ts < fstT {
			fst, fstT = r.v, r.ts
		}
		if lst == nil || r.ts >= lstT {
			lst, lstT = r.v, r.ts
		}
	}
	p := func(v *int64) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprint(*v)
	}
	av, ss, vv := "null", "null", "null"
	if cv > 0 {
		av = fmt.Sprintf("%.6f", float64(s)/float64(cv))
		ss, vv = fmt.Sprint(s), fmt.Sprint(v2)
	}
	return fmt.Sprintf("@%d k=%d [%d,%d) cnt=%d cv=%d s=%s mn=%s mx=%s av=%s fst=%s lst=%s v2=%s", step, k, w.Start, w.End,
		len(rows), cv, ss, p(mn), p(mx), av, p(fst), p(lst), vv)
}

// winBatch builds an input batch.
func winBatch(mem memory.Allocator, rows []winRow) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, winSchema)
	defer b.Release()
	for _, r := range rows {
		b.Field(0).(*array.Int64Builder).Append(r.k)
		b.Field(1).(*array.Int64Builder).Append(r.id)
		b.Field(2).(*array.TimestampBuilder).Append(arrow.Timestamp(r.ts))
		if r.v == nil {
			b.Field(3).AppendNull()
		} else {
			b.Field(3).(*array.Int64Builder).Append(*r.v)
		}
	}
	return b.NewRecordBatch()
}

// winEmitter collects what one subtask emits, tagged with the current step.
type winEmitter struct {
	step   *int
	out    *[]string
	late   *[]string
	render func(int, computetest.Row) string
}

func (e winEmitter) Emit(_ context.Context, b arrow.RecordBatch) error {
	for _, r := range computetest.BatchRows(b) {
		*e.out = append(*e.out, e.render(*e.step, r))
	}
	b.Release()
	return nil
}

func (e winEmitter) EmitSide(_ context.Context, tag string, b arrow.RecordBatch) error {
	for _, r := range computetest.BatchRows(b) {
		*e.late = append(*e.late, fmt.Sprintf("@%d %s id=%v", *e.step, tag, r["id"]))
	}
	b.Release()
	return nil
}

// winRig runs par subtasks of a window operator the way the runtime does:
// batches hash-partitioned by key with the exchange's hash, each subtask
// with its key-group range and its own memstore.
type winRig struct {
	t      testing.TB
	mem    memory.Allocator
	keys   []int
	maxPar int
	ops    []compute.Operator
	stores []statestore.Store
	step   int
	out    []string
	late   []string
	em     winEmitter
	clk    clock.Clock
}

func newWinRig(t testing.TB, mem memory.Allocator, clk clock.Clock, plan *operator.WindowPlan, in *arrow.Schema, par int) *winRig {
	t.Helper()
	r := &winRig{t: t, mem: mem, keys: plan.Keys, maxPar: 128, clk: clk}
	r.em = winEmitter{step: &r.step, out: &r.out, late: &r.late, render: winResult}
	reg := memstore.NewRegistry(memstore.Options{})
	ctx := context.Background()
	for i := range par {
		op, err := plan.NewOperator()
		if err != nil {
			t.Fatal(err)
		}
		kg := exchange.KeyGroupRangeFor(i, par, r.maxPar)
		r.stores = append(r.stores, nil)
		oc := &compute.OperatorContext{
			Job: "test", Node: fmt.Sprintf("w-%d", i), Subtask: i, Parallelism: par, MaxParallelism: r.maxPar,
			KeyGroups: kg, InputSchemas: []*arrow.Schema{in}, Allocator: mem, Clock: clk,
			OpenStore: func(ctx context.Context) (statestore.Store, error) {
				if r.stores[i] != nil {
					return r.stores[i], nil
				}
				s, err := reg.Open(ctx, statestore.ShardOptions{Name: fmt.Sprintf("w-%d", i)}, nil, kg)
				r.stores[i] = s
				return s, err
			},
		}
		if err := op.Open(ctx, oc); err != nil {
			t.Fatalf("open subtask %d: %v", i, err)
		}
		r.ops = append(r.ops, op)
	}
	t.Cleanup(r.close)
	return r
}

func (r *winRig) close() {
	for i, op := range r.ops {
		if err := op.Close(); err != nil {
			r.t.Errorf("close subtask %d: %v", i, err)
		}
		if r.stores[i] != nil {
			r.stores[i].Close()
		}
	}
	r.ops = nil
}

// batch partitions b (which it releases) over the subtasks.
func (r *winRig) batch(b arrow.RecordBatch) {
	r.t.Helper()
	defer b.Release()
	ctx := context.Background()
	n := int(b.NumRows())
	idx := make([][]int32, len(r.ops))
	if len(r.keys) == 0 {
		for i := range n {
			idx[0] = append(idx[0], int32(i))
		}
	} else {
		cols := make([]arrow.Array, len(r.keys))
		for i, k := range r.keys {
			cols[i] = b.Column(k)
		}
		hashes := make([]uint64, n)
		if err := exchange.HashColumns(cols, hashes); err != nil {
			r.t.Fatal(err)
		}
		for i := range n {
			sub := exchange.SubtaskFor(exchange.KeyGroupOf(hashes[i], r.maxPar), len(r.ops), r.maxPar)
			idx[sub] = append(idx[sub], int32(i))
		}
	}
	for sub, rows := range idx {
		if len(rows) == 0 {
			continue
		}
		part, err := exchange.Take(ctx, r.mem, b, rows)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := r.ops[sub].ProcessBatch(ctx, 0, part, r.em); err != nil {
			r.t.Fatalf("step %d subtask %d: %v", r.step, sub, err)
		}
	}
}

func (r *winRig) watermark(wm time.Time) {
	r.t.Helper()
	for sub, op := range r.ops {
		if err := op.ProcessWatermark(context.Background(), wm, r.em); err != nil {
			r.t.Fatalf("step %d subtask %d: watermark: %v", r.step, sub, err)
		}
	}
}

func (r *winRig) finish() {
	r.t.Helper()
	r.watermark(compute.MaxWatermark)
	for sub, op := range r.ops {
		if err := op.Finish(context.Background(), r.em); err != nil {
			r.t.Fatalf("subtask %d: finish: %v", sub, err)
		}
	}
}

// compareMultisets fails the test with a readable diff when got and want
// differ as multisets.
func compareMultisets(t testing.TB, what string, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	sort.Strings(got)
	sort.Strings(want)
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j >= len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i >= len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	lim := func(s []string) string {
		if len(s) > 15 {
			s = append(s[:15:15], fmt.Sprintf("... (%d more)", len(s)-15))
		}
		return strings.Join(s, "\n  ")
	}
	t.Fatalf("%s: %d rows, want %d\nmissing:\n  %s\nunexpected:\n  %s", what, len(got), len(want), lim(missing), lim(extra))
}

// winScenario is a random out-of-order input: batches of rows, each
// followed by a watermark.
type winScenario struct {
	batches    [][]winRow
	watermarks []int64
}

// randomScenario draws rows with unique times that advance about step ms
// per row, displaced by up to disorder ms, and a bounded-out-of-orderness
// watermark that sometimes runs ahead (making rows late).
func randomScenario(rng *rand.Rand, rows, keys int, step, disorder int64) winScenario {
	var sc winScenario
	ts := make([]int64, rows)
	for i := range ts {
		ts[i] = int64(i)*step*4 + rng.Int64N(4) // unique: distinct i*4*step, jitter < 4
		if rng.IntN(4) == 0 {
			ts[i] -= rng.Int64N(disorder+1) * 4
		}
	}
	var maxT int64 = -1 << 62
	var wm int64 = -1 << 62
	id := int64(0)
	for len(ts) > 0 {
		n := 1 + rng.IntN(40)
		if n > len(ts) {
			n = len(ts)
		}
		var b []winRow
		for _, t := range ts[:n] {
			r := winRow{k: int64(rng.IntN(keys)), id: id, ts: t}
			id++
			if rng.IntN(10) != 0 {
				v := rng.Int64N(201) - 100
				r.v = &v
			}
			b = append(b, r)
			maxT = max(maxT, t)
		}
		ts = ts[n:]
		sc.batches = append(sc.batches, b)
		lag := disorder * 4 / 2
		if rng.IntN(3) == 0 {
			lag = 0
		}
		wm = max(wm, maxT-lag)
		sc.watermarks = append(sc.watermarks, wm)
	}
	return sc
}
