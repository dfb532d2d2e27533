package nexmark_test

import (
	"testing"
	"time"
)

// TestDiffRows checks the comparator the query tests rely on: it must see
// duplicates, missing rows, type differences, NULLs and float differences
// beyond the tolerance, and nothing else.
func TestDiffRows(t *testing.T) {
	cols := []column{{name: "a"}, {name: "s"}, {name: "f", float: true}}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	base := [][]any{
		{int64(1), "x", 1.5},
		{int64(1), "x", 2.5},
		{int64(2), nil, 0.0},
		{int64(3), "y", 1e9},
	}
	clone := func(rows [][]any) [][]any {
		out := make([][]any, len(rows))
		for i, r := range rows {
			out[i] = append([]any(nil), r...)
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
		{name: "within tolerance", mutate: func(r [][]any) [][]any { r[3][2] = 1e9 * (1 + 1e-14); return r }},
		{name: "duplicate", mutate: func(r [][]any) [][]any { return append(r, r[2]) }, extra: 1},
		{name: "dropped", mutate: func(r [][]any) [][]any { return r[1:] }, missing: 1},
		{name: "dropped other", mutate: func(r [][]any) [][]any { return append(r[:1], r[2:]...) }, missing: 1},
		{name: "empty", mutate: func(r [][]any) [][]any { return nil }, missing: 4},
		{name: "int as string", mutate: func(r [][]any) [][]any { r[2][0] = "2"; return r }, missing: 1, extra: 1},
		{name: "null as empty", mutate: func(r [][]any) [][]any { r[2][1] = ""; return r }, missing: 1, extra: 1},
		{name: "string changed", mutate: func(r [][]any) [][]any { r[3][1] = "y "; return r }, missing: 1, extra: 1},
		{name: "time vs string", mutate: func(r [][]any) [][]any { r[3][1] = t0; return r }, missing: 1, extra: 1},
		{name: "float off", mutate: func(r [][]any) [][]any { r[3][2] = 1e9 + 1; return r }, missing: 1, extra: 1},
		{name: "float zero off", mutate: func(r [][]any) [][]any { r[2][2] = 1e-300; return r }, missing: 1, extra: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := keyRows(cols, clone(base))
			got := keyRows(cols, tc.mutate(clone(base)))
			d := diffRows(got, want)
			if len(d.missing) != tc.missing || len(d.extra) != tc.extra {
				t.Errorf("missing %d, extra %d; want %d, %d", len(d.missing), len(d.extra), tc.missing, tc.extra)
			}
		})
	}
}

// TestSQLHelpers checks the Go renderings of Flink functions on the edge
// cases the generated data may not reach.
func TestSQLHelpers(t *testing.T) {
	for _, tc := range []struct {
		s    string
		idx  int
		want any
	}{
		{"https://www.nexmark.com/a/b/c/item.htm", 3, "a"},
		{"https://www.nexmark.com/a/b/c/item.htm", 6, "item.htm"},
		{"https://www.nexmark.com/a/b/c/item.htm", 7, nil},
		{"a//b", 1, ""},
		{"a/b/", 2, ""},
		{"a", 0, "a"},
		{"a", -1, nil},
		{"", 0, nil},
		{"", 3, nil},
		{"/", 0, ""},
		{"/", 1, ""},
	} {
		if got := splitIndex(tc.s, "/", tc.idx); got != tc.want {
			t.Errorf("SPLIT_INDEX(%q, '/', %d) = %#v, want %#v", tc.s, tc.idx, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    string
		want any
	}{
		{"https://x/item.htm?query=1&channel_id=42", "42"},
		{"channel_id=7&x=1", "7"},
		{"a=1&channel_id=&b=2", ""},
		{"a=1&xchannel_id=5", nil},
		{"https://x/item.htm?query=1", nil},
		{"&channel_id=1&channel_id=2", "1"},
	} {
		if got := regexpExtract(tc.s, channelIDRe, 2); got != tc.want {
			t.Errorf("REGEXP_EXTRACT(%q, ..., 2) = %#v, want %#v", tc.s, got, tc.want)
		}
	}
}
