package oracle

import (
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// issueQueries are the Nexmark queries issue 3 asks to check against
// DuckDB, plus the stateless ones.
var issueQueries = []string{"q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q9", "q11", "q12", "q14",
	"q15", "q16", "q17", "q18", "q19", "q20", "q21", "q22"}

// TestEveryQueryIsChecked fails when a job file in examples/nexmark, or a
// query of the issue, has no DuckDB SQL here (and is not listed as still
// missing).
func TestEveryQueryIsChecked(t *testing.T) {
	have := map[string]bool{}
	for _, q := range queries {
		have[q.name] = true
	}
	files, err := filepath.Glob(filepath.Join(jobDir, "q*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		q := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if !have[q] {
			if why, ok := stillMissing[q]; ok {
				t.Logf("%s has a job file but no DuckDB check yet: %s", q, why)
				continue
			}
			t.Errorf("job file %s has no DuckDB SQL in tests/oracle", f)
		}
	}
	for _, q := range issueQueries {
		_, missing := stillMissing[q]
		if !have[q] && !missing {
			t.Errorf("issue query %s has no DuckDB SQL and is not listed as missing", q)
		}
		if missing && os.Getenv("CI") == "true" {
			t.Errorf("issue query %s is not checked against DuckDB: %s", q, stillMissing[q])
		}
	}
}

// TestCompare checks the comparator the queries rely on: it must see
// duplicates, missing rows, type differences, NULLs and float differences
// beyond the tolerance, and nothing else.
func TestCompare(t *testing.T) {
	cols := []string{"a", "s", "f", "t"}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	base := [][]any{
		{int64(1), "x", 1.5, t0},
		{int64(1), "x", 2.5, t0},
		{int64(2), nil, 0.0, t0},
		{int64(3), "y", 1e9, nil},
	}
	clone := func(rows [][]any) [][]any {
		out := make([][]any, len(rows))
		for i, r := range rows {
			out[i] = slices.Clone(r)
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		mutate         func([][]any) [][]any
		missing, extra int
	}{
		{name: "same", mutate: func(r [][]any) [][]any { return r }},
		{name: "reordered", mutate: func(r [][]any) [][]any { r[0], r[3] = r[3], r[0]; return r }},
		{name: "within tolerance", mutate: func(r [][]any) [][]any { r[3][2] = 1e9 * (1 + 1e-12); return r }},
		{name: "duplicate", mutate: func(r [][]any) [][]any { return append(r, r[2]) }, extra: 1},
		{name: "dropped", mutate: func(r [][]any) [][]any { return r[1:] }, missing: 1},
		{name: "empty", mutate: func(r [][]any) [][]any { return nil }, missing: 4},
		{name: "int as string", mutate: func(r [][]any) [][]any { r[2][0] = "2"; return r }, missing: 1, extra: 1},
		{name: "null as empty", mutate: func(r [][]any) [][]any { r[2][1] = ""; return r }, missing: 1, extra: 1},
		{name: "string changed", mutate: func(r [][]any) [][]any { r[3][1] = "y "; return r }, missing: 1, extra: 1},
		{name: "time changed", mutate: func(r [][]any) [][]any { r[0][3] = t0.Add(time.Millisecond); return r }, missing: 1, extra: 1},
		{name: "float off", mutate: func(r [][]any) [][]any { r[3][2] = 1e9 + 10; return r }, missing: 1, extra: 1},
		{name: "float zero off", mutate: func(r [][]any) [][]any { r[2][2] = 1e-300; return r }, missing: 1, extra: 1},
		{name: "float as int", mutate: func(r [][]any) [][]any {
			for _, row := range r {
				row[2] = int64(row[2].(float64))
			}
			return r
		}, missing: 4, extra: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Compare(cols, tc.mutate(clone(base)), clone(base))
			if len(d.Missing) != tc.missing || len(d.Extra) != tc.extra {
				t.Errorf("missing %d, extra %d; want %d, %d: %v", len(d.Missing), len(d.Extra), tc.missing, tc.extra, d)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		in   any
		want any
	}{
		{int8(-3), int64(-3)}, {int32(7), int64(7)}, {uint32(7), int64(7)}, {uint64(9), int64(9)},
		{big.NewInt(-42), int64(-42)}, {float32(1.5), 1.5}, {[]byte("ab"), "ab"},
		{duckdb.Decimal{Width: 10, Scale: 3, Value: big.NewInt(908)}, 0.908},
		{t0, t0.UTC()}, {nil, nil}, {true, true},
	} {
		got, err := Normalize(tc.in)
		if err != nil {
			t.Errorf("Normalize(%v): %v", tc.in, err)
			continue
		}
		if tm, ok := got.(time.Time); ok {
			if tm.Location() != time.UTC || !tm.Equal(tc.want.(time.Time)) {
				t.Errorf("Normalize(%v) = %v, want %v in UTC", tc.in, got, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("Normalize(%#v) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	for _, in := range []any{uint64(1 << 63), huge, struct{}{}} {
		if _, err := Normalize(in); err == nil {
			t.Errorf("Normalize(%v) succeeded, want an error", in)
		}
	}
}

// TestMaterialize checks the changelog application against a hand-built
// sequence of updates, in any order of the changes.
func TestMaterialize(t *testing.T) {
	a1 := []any{"a", int64(1)}
	a2 := []any{"a", int64(2)}
	a3 := []any{"a", int64(3)}
	b1 := []any{"b", int64(1)}
	ops := []int64{OpInsert, OpUpdateBefore, OpUpdateAfter, OpInsert, OpUpdateBefore, OpUpdateAfter, OpInsert, OpDelete, OpInsert}
	rows := [][]any{a1, a1, a2, b1, a2, a3, b1, b1, b1}
	want := [][]any{a3, b1, b1}
	for _, rev := range []bool{false, true} {
		o, r := slices.Clone(ops), slices.Clone(rows)
		if rev {
			slices.Reverse(o)
			slices.Reverse(r)
		}
		got, err := Materialize(o, r)
		if err != nil {
			t.Fatal(err)
		}
		if d := Compare([]string{"k", "v"}, got, want); !d.Empty() {
			t.Errorf("reversed %v: %v", rev, d)
		}
	}
	if _, err := Materialize([]int64{OpInsert, OpDelete, OpDelete}, [][]any{a1, a1, a1}); err == nil {
		t.Error("retracting a row twice after one insert succeeded")
	}
	if _, err := Materialize([]int64{OpInsert, OpDelete}, [][]any{{1.5}, {1.5000000001}}); err == nil {
		t.Error("a retraction with a different float matched")
	}
	if _, err := Materialize([]int64{7}, [][]any{a1}); err == nil {
		t.Error("an unknown _op was accepted")
	}
}
