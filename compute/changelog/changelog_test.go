package changelog_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/compute/changelog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func r(op changelog.Op, k string, v int64) changelog.Row {
	return changelog.Row{changelog.Column: int64(op), "k": k, "v": v}
}

func TestTable(t *testing.T) {
	I, UB, UA, D := changelog.Insert, changelog.UpdateBefore, changelog.UpdateAfter, changelog.Delete
	for _, tc := range []struct {
		name    string
		keys    []string
		rows    []changelog.Row
		wantErr string
		want    int // rows in the final table
	}{
		{name: "insert update delete", keys: []string{"k"}, rows: []changelog.Row{r(I, "a", 1), r(UB, "a", 1), r(UA, "a", 2), r(I, "b", 5), r(D, "b", 5)}, want: 1},
		{name: "-U of a missing row", keys: []string{"k"}, rows: []changelog.Row{r(UB, "a", 1), r(UA, "a", 2)}, wantErr: "not in the table"},
		{name: "-U of another value", keys: []string{"k"}, rows: []changelog.Row{r(I, "a", 1), r(UB, "a", 3), r(UA, "a", 2)}, wantErr: "holds"},
		{name: "duplicate key", keys: []string{"k"}, rows: []changelog.Row{r(I, "a", 1), r(I, "a", 2)}, wantErr: "already holds"},
		{name: "-U without +U", keys: []string{"k"}, rows: []changelog.Row{r(I, "a", 1), r(UB, "a", 1), r(I, "b", 2)}, wantErr: "want +U"},
		{name: "-U last", keys: []string{"k"}, rows: []changelog.Row{r(I, "a", 1), r(UB, "a", 1)}, wantErr: "missing"},
		{name: "delete missing", rows: []changelog.Row{r(D, "a", 1)}, wantErr: "not in the table"},
		{name: "multiset duplicates", rows: []changelog.Row{r(I, "a", 1), r(I, "a", 1), r(D, "a", 1)}, want: 1},
		{name: "bad op", rows: []changelog.Row{{changelog.Column: int64(7), "k": "a"}}, wantErr: "invalid op"},
		{name: "no op", rows: []changelog.Row{{"k": "a"}}, wantErr: "no \"_op\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := changelog.Materialize(tc.rows, tc.keys...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tc.want {
				t.Fatalf("%d rows, want %d: %v", len(rows), tc.want, rows)
			}
			for _, row := range rows {
				if _, ok := row[changelog.Column]; ok {
					t.Fatalf("materialized row keeps %q: %v", changelog.Column, row)
				}
			}
		})
	}
}

func TestOpsAndSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := changelog.NewOpBuilder(mem)
	defer b.Release()
	b.AppendOps([]changelog.Op{changelog.Insert, changelog.UpdateBefore, changelog.UpdateAfter, changelog.Delete})
	col := b.NewArray()
	defer col.Release()
	vals := array.NewInt64Builder(mem)
	vals.AppendValues([]int64{1, 2, 3, 4}, nil)
	v := vals.NewArray()
	vals.Release()
	defer v.Release()
	s := arrow.NewSchema([]arrow.Field{changelog.Field(), {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rec := array.NewRecordBatch(s, []arrow.Array{col, v}, 4)
	defer rec.Release()
	ops, updating, err := changelog.Ops(rec)
	if err != nil || !updating || len(ops) != 4 || ops[1] != changelog.UpdateBefore || ops[3].String() != "-D" {
		t.Fatalf("Ops = %v, %v, %v", ops, updating, err)
	}
	bad := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}, changelog.Field()}, nil)
	if err := changelog.CheckSchema(bad); err == nil || !changelog.IsUpdating(bad) {
		t.Fatalf("an _op column that is not first must be reported: %v", err)
	}
	wrongType := arrow.NewSchema([]arrow.Field{{Name: changelog.Column, Type: arrow.PrimitiveTypes.Int32}}, nil)
	if err := changelog.CheckSchema(wrongType); err == nil || !strings.Contains(err.Error(), "int8") {
		t.Fatalf("an int32 _op must be reported: %v", err)
	}
	if changelog.IsUpdating(arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)) {
		t.Fatal("append-only schema reported as updating")
	}
}
