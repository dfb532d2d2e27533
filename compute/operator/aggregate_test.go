package operator_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/changelog"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/operator"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

var tsType = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

func aggInputSchema(updating bool) *arrow.Schema {
	fs := []arrow.Field{
		{Name: "k1", Type: arrow.PrimitiveTypes.Int64},
		{Name: "k2", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "ts", Type: tsType},
	}
	if updating {
		fs = append([]arrow.Field{changelog.Field()}, fs...)
	}
	return arrow.NewSchema(fs, nil)
}

type aggCase struct {
	name, fn, expr string
	// model computes the result from the key's live rows, in arrival order.
	model func(rows []aggRow) any
}

type aggRow struct {
	k1 int64
	k2 any
	v  any
	f  any
	s  any
	ts time.Time
}

func (r aggRow) values() []any { return []any{r.k1, r.k2, r.v, r.f, r.s, r.ts} }

func nonNull(rows []aggRow, get func(aggRow) any) []any {
	var out []any
	for _, r := range rows {
		if v := get(r); v != nil {
			out = append(out, v)
		}
	}
	return out
}

func fLess(a, b float64) bool { return a < b || (!math.IsNaN(a) && math.IsNaN(b)) }

func less(a, b any) bool {
	switch a := a.(type) {
	case int64:
		return a < b.(int64)
	case float64:
		return fLess(a, b.(float64))
	case string:
		return a < b.(string)
	case time.Time:
		return a.Before(b.(time.Time))
	}
	panic(fmt.Sprintf("less %T", a))
}

func distinctKey(v any) any {
	if f, ok := v.(float64); ok {
		switch {
		case f == 0:
			return 0.0
		case math.IsNaN(f):
			return "NaN"
		}
	}
	return v
}

var (
	getV  = func(r aggRow) any { return r.v }
	getF  = func(r aggRow) any { return r.f }
	getS  = func(r aggRow) any { return r.s }
	getTS = func(r aggRow) any { return r.ts }
	// CASE WHEN v < 50 THEN s END: Flink's count(distinct s) FILTER (WHERE v < 50)
	getGuard = func(r aggRow) any {
		if v, ok := r.v.(int64); ok && v < 50 {
			return r.s
		}
		return nil
	}
)

func countOf(get func(aggRow) any) func([]aggRow) any {
	return func(rows []aggRow) any { return int64(len(nonNull(rows, get))) }
}

func sumOf(get func(aggRow) any) func([]aggRow) any {
	return func(rows []aggRow) any {
		vs := nonNull(rows, get)
		if len(vs) == 0 {
			return nil
		}
		switch vs[0].(type) {
		case int64:
			var s int64
			for _, v := range vs {
				s += v.(int64)
			}
			return s
		default:
			var s float64
			for _, v := range vs {
				s += v.(float64)
			}
			return s
		}
	}
}

func avgOf(get func(aggRow) any) func([]aggRow) any {
	return func(rows []aggRow) any {
		vs := nonNull(rows, get)
		if len(vs) == 0 {
			return nil
		}
		switch vs[0].(type) {
		case int64:
			var s int64
			for _, v := range vs {
				s += v.(int64)
			}
			return float64(s) / float64(len(vs))
		default:
			var s float64
			for _, v := range vs {
				s += v.(float64)
			}
			return s / float64(len(vs))
		}
	}
}

func extremeOf(get func(aggRow) any, max bool) func([]aggRow) any {
	return func(rows []aggRow) any {
		var m any
		for _, v := range nonNull(rows, get) {
			if m == nil || (!max && less(v, m)) || (max && less(m, v)) {
				m = v
			}
		}
		return m
	}
}

func firstOf(get func(aggRow) any, last bool) func([]aggRow) any {
	return func(rows []aggRow) any {
		vs := nonNull(rows, get)
		if len(vs) == 0 {
			return nil
		}
		if last {
			return vs[len(vs)-1]
		}
		return vs[0]
	}
}

func distinctOf(get func(aggRow) any) func([]aggRow) any {
	return func(rows []aggRow) any {
		set := map[any]bool{}
		for _, v := range nonNull(rows, get) {
			set[distinctKey(v)] = true
		}
		return int64(len(set))
	}
}

var appendOnlyAggs = []aggCase{
	{"cnt", "count", "*", func(rows []aggRow) any { return int64(len(rows)) }},
	{"cnt_v", "count", "v", countOf(getV)},
	{"sum_v", "sum", "v", sumOf(getV)},
	{"min_v", "min", "v", extremeOf(getV, false)},
	{"max_v", "max", "v", extremeOf(getV, true)},
	{"avg_v", "avg", "v", avgOf(getV)},
	{"first_v", "first", "v", firstOf(getV, false)},
	{"last_v", "last", "v", firstOf(getV, true)},
	{"sum_f", "sum", "f", sumOf(getF)},
	{"min_f", "min", "f", extremeOf(getF, false)},
	{"max_f", "max", "f", extremeOf(getF, true)},
	{"avg_f", "avg", "f", avgOf(getF)},
	{"first_s", "first", "s", firstOf(getS, false)},
	{"last_s", "last", "s", firstOf(getS, true)},
	{"min_s", "min", "s", extremeOf(getS, false)},
	{"max_s", "max", "s", extremeOf(getS, true)},
	{"max_ts", "max", "ts", extremeOf(getTS, true)},
	{"cd_v", "count_distinct", "v", distinctOf(getV)},
	{"cd_f", "count_distinct", "f", distinctOf(getF)},
	{"cd_s", "count_distinct", "s", distinctOf(getS)},
	{"cd_guard", "count_distinct", "CASE WHEN v < 50 THEN s END", distinctOf(getGuard)},
	{"cnt_guard", "count", "CASE WHEN v < 50 THEN 1 END", countOf(func(r aggRow) any {
		if v, ok := r.v.(int64); ok && v < 50 {
			return int64(1)
		}
		return nil
	})},
}

var retractableAggs = []aggCase{
	{"cnt", "count", "*", func(rows []aggRow) any { return int64(len(rows)) }},
	{"cnt_v", "count", "v", countOf(getV)},
	{"sum_v", "sum", "v", sumOf(getV)},
	{"avg_v", "avg", "v", avgOf(getV)},
}

func aggNode(cases []aggCase) *sluicev1.AggregateNode {
	n := &sluicev1.AggregateNode{Keys: []string{"k1", "k2"}}
	for _, c := range cases {
		n.Aggregates = append(n.Aggregates, &sluicev1.Aggregate{Name: c.name, Function: c.fn, Expr: c.expr})
	}
	return n
}

var floatPool = []float64{0, math.Copysign(0, -1), 1.5, -2.25, 1e300, 3, 0.1}

func randAggRow(rng *rand.Rand, nKeys int, t0 time.Time) aggRow {
	r := aggRow{k1: int64(rng.IntN(nKeys)), ts: t0.Add(time.Duration(rng.IntN(1e6)) * time.Millisecond)}
	switch rng.IntN(5) {
	case 0:
		r.k2 = nil
	case 1:
		r.k2 = ""
	case 2:
		r.k2 = "a\x00b"
	default:
		r.k2 = "x"
	}
	if rng.IntN(10) > 0 {
		r.v = int64(rng.IntN(200) - 100)
	}
	if rng.IntN(10) > 0 {
		r.f = floatPool[rng.IntN(len(floatPool))]
		if rng.IntN(200) == 0 {
			r.f = math.NaN()
		}
	}
	if rng.IntN(10) > 0 {
		r.s = fmt.Sprintf("s%d", rng.IntN(30))
	}
	return r
}

func aggKey(k1 int64, k2 any) string { return fmt.Sprintf("%d|%T|%v", k1, k2, k2) }

// modelTable renders the model's final table: one row per key with live
// rows.
func modelTable(cases []aggCase, live map[string][]aggRow, cols []string) []string {
	var rows []computetest.Row
	for _, rs := range live {
		if len(rs) == 0 {
			continue
		}
		r := computetest.Row{"k1": rs[0].k1, "k2": rs[0].k2}
		for _, c := range cases {
			r[c.name] = c.model(rs)
		}
		rows = append(rows, r)
	}
	return renderRows(rows, cols)
}

func TestAggregateRandomAppendOnly(t *testing.T) {
	for _, par := range []int{1, 2, 4} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("par%d/seed%d", par, seed), func(t *testing.T) {
				testAggregateRandom(t, par, seed, false)
			})
		}
	}
}

func TestAggregateRandomUpdatingInput(t *testing.T) {
	for _, par := range []int{1, 3} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("par%d/seed%d", par, seed), func(t *testing.T) {
				testAggregateRandom(t, par, seed, true)
			})
		}
	}
}

func testAggregateRandom(t *testing.T, par int, seed uint64, updating bool) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(seed, uint64(par)))
	cases := appendOnlyAggs
	if updating {
		cases = retractableAggs
	}
	in := aggInputSchema(updating)
	p, err := operator.PlanAggregate(aggNode(cases), in)
	if err != nil {
		t.Fatal(err)
	}
	if p.Updating != updating {
		t.Fatalf("plan Updating = %v, want %v", p.Updating, updating)
	}
	cols := []string{"k1", "k2"}
	for _, c := range cases {
		cols = append(cols, c.name)
	}
	if got := p.Schema.NumFields(); got != 1+len(cols) || p.Schema.Field(0).Name != changelog.Column {
		t.Fatalf("output schema %v", p.Schema)
	}
	st := newSubtasks(t, mem, in, p.Keys, par, 64, p.NewOperator)
	nKeys := 1 + rng.IntN(40)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	live := map[string][]aggRow{}
	table := changelog.NewTable("k1", "k2")
	batches := 5 + rng.IntN(30)
	for bi := range batches {
		n := 1 + rng.IntN(300)
		var rows [][]any
		for range n {
			r := randAggRow(rng, nKeys, t0)
			k := aggKey(r.k1, r.k2)
			if updating && len(live[k]) > 0 && rng.IntN(3) == 0 {
				// retract one of the key's live rows (-D, or -U of an update
				// followed by the +U of r)
				j := rng.IntN(len(live[k]))
				old := live[k][j]
				live[k] = append(live[k][:j:j], live[k][j+1:]...)
				if rng.IntN(2) == 0 {
					rows = append(rows, append([]any{int64(changelog.Delete)}, old.values()...))
					continue
				}
				rows = append(rows, append([]any{int64(changelog.UpdateBefore)}, old.values()...))
				rows = append(rows, append([]any{int64(changelog.UpdateAfter)}, r.values()...))
				live[k] = append(live[k], r)
				continue
			}
			live[k] = append(live[k], r)
			if updating {
				rows = append(rows, append([]any{int64(changelog.Insert)}, r.values()...))
			} else {
				rows = append(rows, r.values())
			}
		}
		emitted := st.process(buildBatch(t, mem, in, rows))
		for sub, rs := range emitted {
			if err := changelog.ApplyRows(table, rs); err != nil {
				t.Fatalf("batch %d, subtask %d: %v", bi, sub, err)
			}
		}
		diffTables(t, fmt.Sprintf("after batch %d", bi), renderRows(table.Rows(), cols), modelTable(cases, live, cols))
	}
	if table.Len() == 0 {
		t.Fatal("empty result table")
	}
}

func TestPlanAggregateErrors(t *testing.T) {
	in := aggInputSchema(false)
	upd := aggInputSchema(true)
	for _, tc := range []struct {
		name string
		node *sluicev1.AggregateNode
		in   *arrow.Schema
		want []string
	}{
		{"no keys", &sluicev1.AggregateNode{Aggregates: []*sluicev1.Aggregate{{Name: "c", Function: "count"}}}, in, []string{"keys"}},
		{"unknown key", &sluicev1.AggregateNode{Keys: []string{"nope"}, Aggregates: []*sluicev1.Aggregate{{Name: "c", Function: "count"}}}, in, []string{"keys[0]", `"nope"`}},
		{"no aggregates", &sluicev1.AggregateNode{Keys: []string{"k1"}}, in, []string{"aggregates"}},
		{"unknown function", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Name: "c", Function: "median", Expr: "v"}}}, in, []string{"aggregates[0]", `"median"`}},
		{"unknown column", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Name: "c", Function: "sum", Expr: "w"}}}, in, []string{"aggregates[0]", "expr", `"w"`}},
		{"sum of string", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Name: "c", Function: "sum", Expr: "s"}}}, in, []string{"aggregates[0]", "sum", "string"}},
		{"no name", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Function: "count"}}}, in, []string{"aggregates[0]", "name"}},
		{"name clash", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Name: "k1", Function: "count"}}}, in, []string{"aggregates[0]", `"k1"`}},
		{"sum without expr", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Name: "x", Function: "sum"}}}, in, []string{"aggregates[0]", "expr"}},
		{"max of updating", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Name: "x", Function: "max", Expr: "v"}}}, upd, []string{"aggregates[0]", "max", "updating"}},
		{"distinct of updating", &sluicev1.AggregateNode{Keys: []string{"k1"}, Aggregates: []*sluicev1.Aggregate{{Name: "x", Function: "count_distinct", Expr: "v"}}}, upd, []string{"count_distinct", "updating"}},
		{"key is _op", &sluicev1.AggregateNode{Keys: []string{"_op"}, Aggregates: []*sluicev1.Aggregate{{Name: "x", Function: "count"}}}, upd, []string{"keys[0]", "_op"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := operator.PlanAggregate(tc.node, tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
