package operator_test

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

var topnSchema = arrow.NewSchema([]arrow.Field{
	{Name: "p", Type: arrow.PrimitiveTypes.Int64},
	{Name: "q", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: tsType},
}, nil)

var topnCols = []string{"p", "q", "id", "v", "f", "s", "ts"}

// compareSQL orders two values as SQL ORDER BY does here: NULLs first
// ascending (last descending), NaN above every float, -0 = +0.
func compareSQL(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch a := a.(type) {
	case int64:
		return cmp.Compare(a, b.(int64))
	case float64:
		x, y := a, b.(float64)
		switch {
		case math.IsNaN(x) && math.IsNaN(y):
			return 0
		case math.IsNaN(x):
			return 1
		case math.IsNaN(y):
			return -1
		}
		return cmp.Compare(x, y)
	case string:
		return strings.Compare(a, b.(string))
	case time.Time:
		return a.Compare(b.(time.Time))
	}
	panic(fmt.Sprintf("compareSQL %T", a))
}

func TestTopNRandom(t *testing.T) {
	for _, par := range []int{1, 2, 4} {
		for seed := range uint64(6) {
			t.Run(fmt.Sprintf("par%d/seed%d", par, seed), func(t *testing.T) { testTopNRandom(t, par, seed) })
		}
	}
}

func testTopNRandom(t *testing.T, par int, seed uint64) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(seed, 100+uint64(par)))
	orderCols := []string{"v", "f", "s", "ts"}
	rng.Shuffle(len(orderCols), func(i, j int) { orderCols[i], orderCols[j] = orderCols[j], orderCols[i] })
	spec := &sluicev1.TopNNode{PartitionBy: []string{"p", "q"}, Limit: int64(1 + rng.IntN(5))}
	if rng.IntN(3) == 0 {
		spec.PartitionBy = []string{"p"}
	}
	var desc []bool
	for _, c := range orderCols[:1+rng.IntN(3)] {
		d := rng.IntN(2) == 0
		spec.OrderBy = append(spec.OrderBy, &sluicev1.SortKey{Column: c, Descending: d})
		desc = append(desc, d)
	}
	if rng.IntN(2) == 0 {
		spec.RowNumber = "rn"
	}
	t.Logf("spec: %v", spec)
	p, err := operator.PlanTopN(spec, topnSchema)
	if err != nil {
		t.Fatal(err)
	}
	cols := topnCols
	var table *changelog.Table
	if spec.RowNumber != "" {
		cols = append(slices.Clone(cols), "rn")
		table = changelog.NewTable(append(slices.Clone(spec.PartitionBy), "rn")...)
	} else {
		table = changelog.NewTable()
	}
	st := newSubtasks(t, mem, topnSchema, p.Keys, par, 32, p.NewOperator)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	nParts := 1 + rng.IntN(20)
	var all []computetest.Row
	id := int64(0)
	for bi := range 5 + rng.IntN(25) {
		var rows [][]any
		for range 1 + rng.IntN(200) {
			r := []any{int64(rng.IntN(nParts)), nil, id, nil, nil, nil, t0.Add(time.Duration(rng.IntN(50)) * time.Second)}
			id++
			if rng.IntN(3) > 0 {
				r[1] = []string{"", "a", "b\x00"}[rng.IntN(3)]
			}
			if rng.IntN(8) > 0 {
				r[3] = int64(rng.IntN(40) - 20)
			}
			if rng.IntN(8) > 0 {
				r[4] = floatPool[rng.IntN(len(floatPool))]
				if rng.IntN(50) == 0 {
					r[4] = math.NaN()
				}
			}
			if rng.IntN(8) > 0 {
				r[5] = fmt.Sprintf("s%d", rng.IntN(15))
			}
			rows = append(rows, r)
			row := computetest.Row{}
			for i, c := range topnCols {
				row[c] = r[i]
			}
			all = append(all, row)
		}
		emitted := st.process(buildBatch(t, mem, topnSchema, rows))
		for sub, rs := range emitted {
			if err := changelog.ApplyRows(table, rs); err != nil {
				t.Fatalf("batch %d, subtask %d: %v", bi, sub, err)
			}
		}
		diffTables(t, fmt.Sprintf("after batch %d", bi), renderRows(table.Rows(), cols), topnModel(all, spec, desc, cols))
	}
}

// topnModel: per partition, a stable sort of every row by the order keys
// (ties keep arrival order), cut at the limit.
func topnModel(all []computetest.Row, spec *sluicev1.TopNNode, desc []bool, cols []string) []string {
	parts := map[string][]computetest.Row{}
	var order []string
	for _, r := range all {
		var k string
		for _, c := range spec.PartitionBy {
			k += fmt.Sprintf("%T:%v|", r[c], r[c])
		}
		if _, ok := parts[k]; !ok {
			order = append(order, k)
		}
		parts[k] = append(parts[k], r)
	}
	var out []computetest.Row
	for _, k := range order {
		rs := slices.Clone(parts[k])
		slices.SortStableFunc(rs, func(a, b computetest.Row) int {
			for i, o := range spec.OrderBy {
				c := compareSQL(a[o.Column], b[o.Column])
				if desc[i] {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
		for i, r := range rs[:min(len(rs), int(spec.Limit))] {
			r = computetest.Row(maps(r))
			if f, ok := r["f"].(float64); ok && f == 0 {
				r["f"] = 0.0 // rows are kept with state.KeyEncoder, which stores -0 as +0
			}
			if spec.RowNumber != "" {
				r["rn"] = int64(i + 1)
			}
			out = append(out, r)
		}
	}
	return renderRows(out, cols)
}

func maps(r computetest.Row) map[string]any {
	m := map[string]any{}
	for k, v := range r {
		m[k] = v
	}
	return m
}

func TestPlanTopNErrors(t *testing.T) {
	upd := arrow.NewSchema(append([]arrow.Field{changelog.Field()}, topnSchema.Fields()...), nil)
	for _, tc := range []struct {
		name string
		node *sluicev1.TopNNode
		in   *arrow.Schema
		want []string
	}{
		{"no partition", &sluicev1.TopNNode{OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: 1}, topnSchema, []string{"partition_by"}},
		{"unknown partition", &sluicev1.TopNNode{PartitionBy: []string{"x"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: 1}, topnSchema, []string{"partition_by[0]", `"x"`}},
		{"no order", &sluicev1.TopNNode{PartitionBy: []string{"p"}, Limit: 1}, topnSchema, []string{"order_by"}},
		{"unknown order", &sluicev1.TopNNode{PartitionBy: []string{"p"}, OrderBy: []*sluicev1.SortKey{{Column: "zz"}}, Limit: 1}, topnSchema, []string{"order_by[0].column", `"zz"`}},
		{"zero limit", &sluicev1.TopNNode{PartitionBy: []string{"p"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}}, topnSchema, []string{"limit", "0"}},
		{"negative limit", &sluicev1.TopNNode{PartitionBy: []string{"p"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: -3}, topnSchema, []string{"limit", "-3"}},
		{"huge limit", &sluicev1.TopNNode{PartitionBy: []string{"p"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: 1 << 40}, topnSchema, []string{"limit"}},
		{"row number clash", &sluicev1.TopNNode{PartitionBy: []string{"p"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: 1, RowNumber: "id"}, topnSchema, []string{"row_number", `"id"`}},
		{"updating input", &sluicev1.TopNNode{PartitionBy: []string{"p"}, OrderBy: []*sluicev1.SortKey{{Column: "v"}}, Limit: 1}, upd, []string{"updating", "_op"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := operator.PlanTopN(tc.node, tc.in)
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
