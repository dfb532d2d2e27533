package expr

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type nullOf struct{ t arrow.DataType }

type date struct{ time.Time }

var tsMS = &arrow.TimestampType{Unit: arrow.Millisecond}

func argType(v any) arrow.DataType {
	switch v := v.(type) {
	case int64:
		return arrow.PrimitiveTypes.Int64
	case float64:
		return arrow.PrimitiveTypes.Float64
	case string:
		return arrow.BinaryTypes.String
	case bool:
		return arrow.FixedWidthTypes.Boolean
	case time.Time:
		return tsMS
	case date:
		return arrow.FixedWidthTypes.Date32
	case nullOf:
		return v.t
	}
	panic(fmt.Sprintf("argType %T", v))
}

func sqlLiteral(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case string:
		return quoteString(v)
	case bool:
		return strings.ToUpper(strconv.FormatBool(v))
	case time.Time:
		return "CAST('" + v.Format("2006-01-02 15:04:05.000") + "' AS TIMESTAMP(3))"
	case date:
		return "CAST('" + v.Format("2006-01-02") + "' AS DATE)"
	case nullOf:
		return "NULL"
	}
	panic(fmt.Sprintf("sqlLiteral %T", v))
}

// oneRowBatch makes a batch whose column aI holds args[I] in every row.
func argBatch(mem memory.Allocator, args []any, rows int) arrow.RecordBatch {
	fields := make([]arrow.Field, len(args))
	for i, a := range args {
		fields[i] = arrow.Field{Name: fmt.Sprintf("a%d", i+1), Type: argType(a), Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i, a := range args {
		for range rows {
			switch fb := b.Field(i).(type) {
			case *array.Int64Builder:
				if v, ok := a.(int64); ok {
					fb.Append(v)
				} else {
					fb.AppendNull()
				}
			case *array.Float64Builder:
				if v, ok := a.(float64); ok {
					fb.Append(v)
				} else {
					fb.AppendNull()
				}
			case *array.StringBuilder:
				if v, ok := a.(string); ok {
					fb.Append(v)
				} else {
					fb.AppendNull()
				}
			case *array.BooleanBuilder:
				if v, ok := a.(bool); ok {
					fb.Append(v)
				} else {
					fb.AppendNull()
				}
			case *array.TimestampBuilder:
				if v, ok := a.(time.Time); ok {
					fb.Append(arrow.Timestamp(v.UnixMilli()))
				} else {
					fb.AppendNull()
				}
			case *array.Date32Builder:
				if v, ok := a.(date); ok {
					fb.Append(arrow.Date32FromTime(v.Time))
				} else {
					fb.AppendNull()
				}
			default:
				b.Field(i).AppendNull()
			}
		}
	}
	return b.NewRecordBatch()
}

func valueOf(a arrow.Array, i int) any {
	if d, ok := a.(*array.Date32); ok && d.IsValid(i) {
		return date{d.Value(i).ToTime().UTC()}
	}
	return goValue(a, i)
}

func equalValues(want, got any) bool {
	if w, ok := want.(date); ok {
		g, ok := got.(date)
		return ok && w.Equal(g.Time)
	}
	return sameValue(want, got)
}

var ts1 = time.Date(2024, 3, 5, 17, 45, 30, 123e6, time.UTC) // a Tuesday

// TestFunctions evaluates each case twice: with literal arguments (folded
// at compile time) and with the arguments in columns (vectorized).
func TestFunctions(t *testing.T) {
	type fc struct {
		expr string
		args []any
		want any
	}
	null := func(t arrow.DataType) nullOf { return nullOf{t} }
	cases := []fc{
		{"lower($1)", []any{"HeLLo É"}, "hello é"},
		{"UPPER($1)", []any{"abc é"}, "ABC É"},
		{"length($1)", []any{"héllo"}, int64(5)},
		{"char_length($1)", []any{""}, int64(0)},
		{"trim($1)", []any{"  a b  "}, "a b"},
		{"ltrim($1)", []any{"  a b  "}, "a b  "},
		{"rtrim($1)", []any{"  a b  "}, "  a b"},
		{"substring($1, $2, $3)", []any{"hello", int64(2), int64(3)}, "ell"},
		{"substr($1, $2)", []any{"hello", int64(2)}, "ello"},
		{"substring($1, $2)", []any{"hello", int64(-3)}, "llo"},
		{"substring($1, $2, $3)", []any{"hello", int64(0), int64(2)}, "h"},
		{"substring($1, $2, $3)", []any{"héllo", int64(2), int64(2)}, "él"},
		{"substring($1, $2)", []any{"abc", int64(5)}, ""},
		{"substring($1, $2, $3)", []any{"abc", int64(1), null(arrow.PrimitiveTypes.Int64)}, nil},
		{"concat($1, $2, $3)", []any{"a", "b", "c"}, "abc"},
		{"concat($1, $2)", []any{"a", null(arrow.BinaryTypes.String)}, nil},
		{"$1 || $2", []any{"a", "b"}, "ab"},
		{"replace($1, $2, $3)", []any{"banana", "an", "X"}, "bXXa"},
		{"replace($1, $2, $3)", []any{"banana", "", "X"}, "banana"},
		{"regexp_extract($1, '(&|^)channel_id=([^&]*)', 2)", []any{"query=1&channel_id=42&x=y"}, "42"},
		{"regexp_extract($1, '(&|^)channel_id=([^&]*)', 2)", []any{"channel_id=7"}, "7"},
		{"regexp_extract($1, '(&|^)channel_id=([^&]*)', 2)", []any{"query=1"}, nil},
		{"regexp_extract($1, '(&|^)channel_id=([^&]*)')", []any{"a&channel_id=42"}, "&channel_id=42"},
		{"regexp_extract($1, '(x)|(y)', 1)", []any{"y"}, nil},
		{"regexp_like($1, '[0-9]+$')", []any{"abc123"}, true},
		{"regexp($1, '^b')", []any{"abc"}, false},
		{"split_index($1, '/', $2)", []any{"a/b/c", int64(0)}, "a"},
		{"split_index($1, '/', $2)", []any{"a/b/c", int64(2)}, "c"},
		{"split_index($1, '/', $2)", []any{"a/b/c", int64(3)}, nil},
		{"split_index($1, '/', $2)", []any{"a/b/c", int64(-1)}, nil},
		{"split_index($1, $2, 3)", []any{"https://www.nexmark.com/foo/bar", "/"}, "foo"},
		{"split_index($1, '::', 1)", []any{"a::b::c"}, "b"},
		{"count_char($1, $2)", []any{"cacbcc", "c"}, int64(4)},
		{"count_char($1, 'c')", []any{""}, int64(0)},
		{"count_char($1, 'c')", []any{null(arrow.BinaryTypes.String)}, int64(0)},
		{"split_index($1, '/', 0)", []any{""}, nil},
		{"starts_with($1, $2)", []any{"hello", "he"}, true},
		{"ends_with($1, $2)", []any{"hello", "he"}, false},
		{"position($1, $2)", []any{"l", "héllo"}, int64(3)},
		{"strpos($1, $2)", []any{"hello", "z"}, int64(0)},
		{"POSITION($1 IN $2)", []any{"lo", "hello"}, int64(4)},
		{"coalesce($1, $2, 3)", []any{null(arrow.PrimitiveTypes.Int64), int64(2)}, int64(2)},
		{"coalesce($1, $2)", []any{null(arrow.BinaryTypes.String), null(arrow.BinaryTypes.String)}, nil},
		{"coalesce($1, 2.5)", []any{int64(1)}, 1.0},
		{"nullif($1, $2)", []any{int64(5), int64(5)}, nil},
		{"nullif($1, $2)", []any{int64(5), int64(6)}, int64(5)},
		{"if($1, 'y', 'n')", []any{true}, "y"},
		{"if($1, 1, 2)", []any{null(arrow.FixedWidthTypes.Boolean)}, int64(2)},
		{"abs($1)", []any{int64(-5)}, int64(5)},
		{"abs($1)", []any{-2.5}, 2.5},
		{"round($1)", []any{2.5}, 3.0},
		{"round($1)", []any{-2.5}, -3.0},
		{"round($1, 2)", []any{3.14159}, 3.14},
		{"round($1, -2)", []any{int64(1250)}, int64(1300)},
		{"round($1, -2)", []any{int64(-1249)}, int64(-1200)},
		{"floor($1)", []any{2.7}, 2.0},
		{"ceil($1)", []any{2.1}, 3.0},
		{"floor($1)", []any{int64(5)}, int64(5)},
		{"sign($1)", []any{-0.5}, -1.0},
		{"mod($1, $2)", []any{int64(10), int64(3)}, int64(1)},
		{"mod($1, $2)", []any{int64(-7), int64(3)}, int64(-1)},
		{"mod($1, 123)", []any{int64(246)}, int64(0)},
		{"$1 % 7", []any{int64(4294967295)}, int64(4294967295 % 7)},
		{"$1 / 7", []any{int64(4294967295)}, int64(4294967295 / 7)},
		{"$1 % 7", []any{int64(-15)}, int64(-1)},
		{"power($1, 10)", []any{int64(2)}, 1024.0},
		{"sqrt($1)", []any{16.0}, 4.0},
		{"hour($1)", []any{ts1}, int64(17)},
		{"minute($1)", []any{ts1}, int64(45)},
		{"second($1)", []any{ts1}, int64(30)},
		{"year($1)", []any{ts1}, int64(2024)},
		{"month($1)", []any{ts1}, int64(3)},
		{"dayofmonth($1)", []any{ts1}, int64(5)},
		{"day($1)", []any{date{time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}}, int64(29)},
		{"dayofweek($1)", []any{ts1}, int64(3)},
		{"dayofweek($1)", []any{time.Date(1969, 12, 28, 23, 0, 0, 0, time.UTC)}, int64(1)},
		{"hour($1)", []any{time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC)}, int64(23)},
		{"EXTRACT(HOUR FROM $1)", []any{ts1}, int64(17)},
		{"extract(year from $1)", []any{ts1}, int64(2024)},
		{"date_format($1, 'yyyy-MM-dd HH:mm')", []any{ts1}, "2024-03-05 17:45"},
		{"date_format($1, 'yyyyMMdd''T''HHmmss.SSS')", []any{ts1}, "20240305T174530.123"},
		{"date_format($1, 'EEE, d MMM yy h:mm a')", []any{ts1}, "Tue, 5 Mar 24 5:45 PM"},
		{"to_timestamp($1)", []any{"2024-03-05 17:45:30.123"}, ts1},
		{"to_timestamp($1, 'dd/MM/yyyy HH:mm:ss.SSS')", []any{"05/03/2024 17:45:30.123"}, ts1},
		{"to_timestamp($1, 'yyyyMMddHHmmss')", []any{"20240305174530"}, ts1.Truncate(time.Second)},
		{"floor($1 TO HOUR)", []any{ts1}, time.Date(2024, 3, 5, 17, 0, 0, 0, time.UTC)},
		{"ceil($1 TO HOUR)", []any{ts1}, time.Date(2024, 3, 5, 18, 0, 0, 0, time.UTC)},
		{"floor($1 TO DAY)", []any{ts1}, time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)},
		{"floor($1 TO MONTH)", []any{ts1}, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"date_trunc('minute', $1)", []any{ts1}, time.Date(2024, 3, 5, 17, 45, 0, 0, time.UTC)},
		{"CAST($1 AS BIGINT)", []any{"42"}, int64(42)},
		{"CAST($1 AS INT)", []any{" 7 "}, int64(7)},
		{"CAST($1 AS BIGINT)", []any{3.9}, int64(3)},
		{"CAST($1 AS INT)", []any{-3.9}, int64(-3)},
		{"CAST($1 AS TINYINT)", []any{int64(300)}, int64(44)},
		{"CAST($1 AS SMALLINT)", []any{int64(70000)}, int64(4464)},
		{"CAST($1 AS VARCHAR)", []any{1.5}, "1.5"},
		{"CAST($1 AS STRING)", []any{2.0}, "2.0"},
		{"CAST($1 AS STRING)", []any{true}, "TRUE"},
		{"CAST($1 AS BOOLEAN)", []any{"true"}, true},
		{"CAST($1 AS BOOLEAN)", []any{int64(0)}, false},
		{"CAST($1 AS DOUBLE)", []any{"2.5"}, 2.5},
		{"CAST($1 AS FLOAT)", []any{int64(3)}, 3.0},
		{"CAST($1 AS STRING)", []any{ts1}, "2024-03-05 17:45:30.123"},
		{"CAST($1 AS TIMESTAMP(3))", []any{"2024-03-05T17:45:30.123"}, ts1},
		{"CAST($1 AS TIMESTAMP)", []any{ts1}, ts1},
		{"CAST($1 AS DATE)", []any{"2024-03-05"}, date{time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}},
		{"CAST($1 AS DATE)", []any{ts1}, date{time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}},
		{"CAST($1 AS STRING)", []any{date{time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}}, "2024-03-05"},
		{"TRY_CAST($1 AS BIGINT)", []any{"abc"}, nil},
		{"$1 / $2", []any{int64(7), int64(2)}, int64(3)},
		{"$1 / $2", []any{7.0, int64(2)}, 3.5},
		{"$1 / $2", []any{int64(-7), int64(2)}, int64(-3)},
		{"$1 % $2", []any{int64(7), int64(-3)}, int64(1)},
		{"$1 / $2", []any{1.0, 0.0}, posInf},
		{"- $1", []any{int64(3)}, int64(-3)},
		{"2 - -$1", []any{int64(3)}, int64(5)},
		{"1 + 2 * $1", []any{int64(3)}, int64(7)},
		{"(1 + 2) * $1", []any{int64(3)}, int64(9)},
		{"$1 < $2", []any{int64(1), 1.5}, true},
		{"$1 = $2", []any{int64(1), 1.0}, true},
		{"$1 < $2", []any{"a", "b"}, true},
		{"$1 >= $2", []any{"b", "ba"}, false},
		{"$1 = $2", []any{null(arrow.PrimitiveTypes.Int64), null(arrow.PrimitiveTypes.Int64)}, nil},
		{"$1 AND $2", []any{true, null(arrow.FixedWidthTypes.Boolean)}, nil},
		{"$1 AND $2", []any{false, null(arrow.FixedWidthTypes.Boolean)}, false},
		{"$2 AND $1", []any{false, null(arrow.FixedWidthTypes.Boolean)}, false},
		{"$1 OR $2", []any{true, null(arrow.FixedWidthTypes.Boolean)}, true},
		{"$1 OR $2", []any{false, null(arrow.FixedWidthTypes.Boolean)}, nil},
		{"NOT $1", []any{null(arrow.FixedWidthTypes.Boolean)}, nil},
		{"$1 IS NULL", []any{null(arrow.PrimitiveTypes.Int64)}, true},
		{"$1 IS NOT NULL", []any{int64(1)}, true},
		{"$1 IS TRUE", []any{null(arrow.FixedWidthTypes.Boolean)}, false},
		{"$1 IS NOT FALSE", []any{true}, true},
		{"$1 IN (1, 5)", []any{int64(5)}, true},
		{"$1 IN (1, NULL)", []any{int64(5)}, nil},
		{"$1 NOT IN (1, 2)", []any{int64(5)}, true},
		{"$1 IN (1.5, 2)", []any{int64(2)}, true},
		{"$1 IN ($2, 3)", []any{int64(2), int64(2)}, true},
		{"$1 BETWEEN 1 AND 5", []any{int64(3)}, true},
		{"$1 NOT BETWEEN 1 AND 5", []any{int64(3)}, false},
		{"$1 LIKE 'a%'", []any{"abc"}, true},
		{"$1 LIKE '_b_'", []any{"abc"}, true},
		{"$1 LIKE '%b'", []any{"abc"}, false},
		{"$1 NOT LIKE '%bc'", []any{"abc"}, false},
		{`$1 LIKE 'a\%c'`, []any{"a%c"}, true},
		{`$1 LIKE 'a\%c'`, []any{"abc"}, false},
		{"$1 > '2024-03-05 17:00:00'", []any{ts1}, true},
		{"$1 = '2024-03-05'", []any{date{time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}}, true},
		{"$1 < $2", []any{date{time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)}, ts1}, true},
		{"CASE $1 WHEN 1 THEN 'x' WHEN 2 THEN 'y' END", []any{int64(2)}, "y"},
		{"$1 - INTERVAL '4' SECOND", []any{ts1}, ts1.Add(-4 * time.Second)},
		{"$1 + INTERVAL '2' hours", []any{ts1}, ts1.Add(2 * time.Hour)},
		{"INTERVAL '1' DAY + $1", []any{ts1}, ts1.Add(24 * time.Hour)},
		{"$1 + INTERVAL '-5' MILLISECOND", []any{ts1}, ts1.Add(-5 * time.Millisecond)},
		{"$1 + INTERVAL '1' DAY", []any{date{time.Date(2024, 2, 28, 0, 0, 0, 0, time.UTC)}}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"CASE WHEN $1 THEN 1 END", []any{false}, nil},
		{"CASE WHEN $1 > 0 THEN 1 ELSE 2.5 END", []any{int64(1)}, 1.0},
	}
	ctx := context.Background()
	for _, tc := range cases {
		for _, mode := range []string{"literals", "columns"} {
			t.Run(mode+"/"+tc.expr, func(t *testing.T) {
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				defer mem.AssertSize(t, 0)
				src := tc.expr
				for i := len(tc.args); i >= 1; i-- {
					repl := fmt.Sprintf("a%d", i)
					if mode == "literals" {
						repl = sqlLiteral(tc.args[i-1])
						if _, ok := tc.args[i-1].(nullOf); ok {
							repl = "CAST(NULL AS " + map[arrow.Type]string{arrow.INT64: "BIGINT", arrow.STRING: "STRING", arrow.BOOL: "BOOLEAN"}[argType(tc.args[i-1]).ID()] + ")"
						}
					}
					src = strings.ReplaceAll(src, fmt.Sprintf("$%d", i), repl)
				}
				b := argBatch(mem, tc.args, 3)
				defer b.Release()
				e, err := Compile(src, b.Schema())
				if err != nil {
					t.Fatalf("compile %s: %v", src, err)
				}
				got, err := e.Eval(ctx, mem, b)
				if err != nil {
					t.Fatalf("eval %s: %v", src, err)
				}
				defer got.Release()
				if got.Len() != 3 {
					t.Fatalf("%s: %d rows", src, got.Len())
				}
				if !arrow.TypeEqual(got.DataType(), e.DataType()) {
					t.Fatalf("%s: array type %s, DataType() %s", src, got.DataType(), e.DataType())
				}
				for i := range 3 {
					if g := valueOf(got, i); !equalValues(tc.want, g) {
						t.Fatalf("%s row %d: got %#v (%s), want %#v", src, i, g, got.DataType(), tc.want)
					}
				}
			})
		}
	}
}

var posInf = func() float64 { z := 0.0; return 1 / z }()
