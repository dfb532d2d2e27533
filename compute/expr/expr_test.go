package expr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type bid struct {
	auction, price int64
	channel, url   string
	at             time.Time
	extra          string
}

func bidsBatch(mem memory.Allocator, bids []bid) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, bidSchema)
	defer b.Release()
	for _, x := range bids {
		b.Field(0).(*array.Int64Builder).Append(x.auction)
		b.Field(1).(*array.Int64Builder).Append(1)
		b.Field(2).(*array.Int64Builder).Append(x.price)
		b.Field(3).(*array.StringBuilder).Append(x.channel)
		b.Field(4).(*array.StringBuilder).Append(x.url)
		b.Field(5).(*array.TimestampBuilder).Append(arrow.Timestamp(x.at.UnixMilli()))
		b.Field(6).(*array.StringBuilder).Append(x.extra)
	}
	return b.NewRecordBatch()
}

func at(h, m int) time.Time { return time.Date(2015, 7, 15, h, m, 0, 0, time.UTC) }

func evalStrings(t *testing.T, mem memory.Allocator, src string, b arrow.RecordBatch) []any {
	t.Helper()
	e, err := Compile(src, b.Schema())
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Eval(context.Background(), mem, b)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release()
	out := make([]any, a.Len())
	for i := range out {
		out[i] = goValue(a, i)
	}
	return out
}

func checkColumn(t *testing.T, src string, got, want []any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", src, len(got), len(want))
	}
	for i := range want {
		if !sameValue(want[i], got[i]) {
			t.Errorf("%s: row %d: got %#v, want %#v", src, i, got[i], want[i])
		}
	}
}

func TestNexmarkQ14(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := bidsBatch(mem, []bid{
		{price: 1_000_000, at: at(9, 0), extra: "abcc"},
		{price: 2_000_000, at: at(19, 0), extra: ""},
		{price: 60_000_000, at: at(22, 0), extra: "ccccc"},
		{price: 50_000_000, at: at(6, 59), extra: "xyz"},
		{price: 55_066_080, at: at(7, 0), extra: "c"},
		{price: 1_101_322, at: at(18, 59), extra: "cbc"},
		{price: 3_000_000, at: at(20, 0), extra: "C"},
	})
	defer b.Release()
	q := "CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime' WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime' ELSE 'otherTime' END"
	checkColumn(t, q, evalStrings(t, mem, q, b), []any{"dayTime", "otherTime", "nightTime", "nightTime", "otherTime", "dayTime", "nightTime"})
	q = "count_char(extra, 'c')"
	checkColumn(t, q, evalStrings(t, mem, q, b), []any{int64(2), int64(0), int64(5), int64(0), int64(1), int64(2), int64(0)})
	q = "0.908 * price > 1000000 AND 0.908 * price < 50000000"
	// 0.908 * 1_101_322 = 1_000_000.4 > 1e6; 0.908 * 55_066_080 = 50_000_000.6 > 5e7.
	checkColumn(t, q, evalStrings(t, mem, q, b), []any{false, true, false, true, false, true, true})
}

func TestNexmarkQ21(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := bidsBatch(mem, []bid{
		{channel: "Apple", url: "https://www.nexmark.com/a/item.htm?query=1"},
		{channel: "channel-5", url: "https://www.nexmark.com/a/item.htm?query=1&channel_id=5"},
		{channel: "channel-6", url: "channel_id=66&x=1"},
		{channel: "Baidu", url: "https://www.nexmark.com/a/item.htm?channel_id=9"},
		{channel: "other", url: "https://www.nexmark.com/a/item.htm?xchannel_id=1"},
	})
	defer b.Release()
	q := "lower(channel) IN ('apple', 'google', 'facebook', 'baidu')"
	checkColumn(t, q, evalStrings(t, mem, q, b), []any{true, false, false, true, false})
	q = "REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)"
	checkColumn(t, q, evalStrings(t, mem, q, b), []any{nil, "5", "66", nil, nil})
	q = `CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' THEN '1'
		WHEN lower(channel) = 'facebook' THEN '2' WHEN lower(channel) = 'baidu' THEN '3'
		ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END`
	checkColumn(t, q, evalStrings(t, mem, q, b), []any{"0", "5", "66", "3", nil})
	pred := MustCompile("lower(channel) IN ('apple', 'google', 'facebook', 'baidu') OR REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL", bidSchema)
	f, err := Filter(context.Background(), mem, pred, b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	var chans []string
	for i := range int(f.NumRows()) {
		chans = append(chans, f.Column(3).(*array.String).Value(i))
	}
	if got := strings.Join(chans, ","); got != "Apple,channel-5,channel-6,Baidu" {
		t.Fatalf("q21 filter kept %s", got)
	}
}

func TestNexmarkQ22(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := bidsBatch(mem, []bid{
		{url: "https://www.nexmark.com/dir1/dir2/dir3/item.htm"},
		{url: "https://www.nexmark.com/only"},
		{url: "no-slashes"},
	})
	defer b.Release()
	for q, want := range map[string][]any{
		"SPLIT_INDEX(url, '/', 3)": {"dir1", "only", nil},
		"SPLIT_INDEX(url, '/', 4)": {"dir2", nil, nil},
		"SPLIT_INDEX(url, '/', 5)": {"dir3", nil, nil},
		"SPLIT_INDEX(url, '/', 0)": {"https:", "https:", "no-slashes"},
	} {
		checkColumn(t, q, evalStrings(t, mem, q, b), want)
	}
}

func TestNexmarkQ1Q2(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := bidsBatch(mem, []bid{{auction: 123, price: 1000}, {auction: 124, price: 0}, {auction: 246, price: 5}, {auction: 0, price: -10}})
	defer b.Release()
	q := "0.908 * price"
	checkColumn(t, q, evalStrings(t, mem, q, b), []any{908.0, 0.0, 0.908 * 5, -9.08})
	pred := MustCompile("MOD(auction, 123) = 0", bidSchema)
	f, err := Filter(context.Background(), mem, pred, b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Release()
	checkColumn(t, "filtered auction", []any{f.Column(0).(*array.Int64).Value(0), f.Column(0).(*array.Int64).Value(1), f.Column(0).(*array.Int64).Value(2)}, []any{int64(123), int64(246), int64(0)})
	if f.NumRows() != 3 {
		t.Fatalf("q2 kept %d rows, want 3", f.NumRows())
	}
}

var errSchema = arrow.NewSchema([]arrow.Field{
	{Name: "price", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "url", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "dateTime", Type: tsMS, Nullable: true},
	{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "odd name", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
}, nil)

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		src  string
		kind error
		pos  int
		msg  []string
	}{
		{"price * 'a'", ErrType, 9, []string{`expression "price * 'a'" at 9`, "operator * needs numeric operands, got int64 and string"}},
		{"prce + 1", ErrType, 1, []string{`unknown column "prce" (did you mean "price"?)`}},
		{"Price + 1", ErrType, 1, []string{`unknown column "Price" (did you mean "price"?)`}},
		{"zzzzzz", ErrType, 1, []string{`unknown column "zzzzzz" (columns: price, url`}},
		{"tags IS NULL", ErrType, 1, []string{`column "tags" has unsupported type list`}},
		{"regexp_extract(url, 'a(b)', 3)", ErrType, 29, []string{"function regexp_extract: argument 3 must be a group index between 0 and 1", "got 3"}},
		{"regexp_extract(url, 'a(b)', price)", ErrType, 29, []string{"function regexp_extract: argument 3 must be an integer literal", `got "price"`}},
		{"regexp_extract(url, 'a(')", ErrType, 21, []string{"function regexp_extract: bad regular expression", "missing closing )"}},
		{"regexp_like(url, url)", ErrType, 18, []string{"argument 2 must be a string literal"}},
		{"nosuch(1)", ErrType, 1, []string{"unknown function nosuch"}},
		{"lower(price)", ErrType, 7, []string{"function lower: argument 1 must be string, got int64"}},
		{"substring('a')", ErrType, 1, []string{"function substring takes 2 to 3 arguments, got 1"}},
		{"concat()", ErrType, 1, []string{"takes at least 1 arguments, got 0"}},
		{"price AND TRUE", ErrType, 1, []string{"AND needs a boolean operand, got int64"}},
		{"NOT url", ErrType, 5, []string{"NOT needs a boolean operand, got string"}},
		{"-url", ErrType, 2, []string{"unary - needs a numeric operand, got string"}},
		{"CASE WHEN price THEN 1 END", ErrType, 11, []string{"WHEN needs a boolean operand, got int64"}},
		{"CASE WHEN flag THEN 1 ELSE 'a' END", ErrType, 1, []string{"CASE branches have incompatible types: int64, string"}},
		{"CAST(price AS BLOB)", ErrType, 15, []string{"unknown type BLOB"}},
		{"CAST(flag AS TIMESTAMP)", ErrType, 1, []string{"cannot CAST boolean AS TIMESTAMP"}},
		{"CAST(price AS TIMESTAMP(12))", ErrType, 15, []string{"bad precision"}},
		{"dateTime > 'notatime'", ErrType, 12, []string{`"notatime" is not a valid timestamp`}},
		{"dateTime > url", ErrType, 12, []string{"cannot compare timestamp[ms] with string"}},
		{"price IN (1, 'a')", ErrType, 14, []string{"IN list item of type string cannot be compared with int64"}},
		{"url LIKE url", ErrType, 10, []string{"LIKE pattern must be a string literal"}},
		{"price LIKE 'a'", ErrType, 1, []string{"LIKE needs a string operand, got int64"}},
		{"date_format(dateTime, 'yyyy-QQ')", ErrType, 23, []string{"unsupported pattern letter 'Q'"}},
		{"price || 'a'", ErrType, 1, []string{"operator || needs string operands, got int64 and string"}},
		{"flag = 1", ErrType, 8, []string{"operator = cannot compare boolean with int64"}},
		{"EXTRACT(fortnight FROM dateTime)", ErrType, 9, []string{"EXTRACT: unknown field fortnight"}},
		{"floor(dateTime TO week)", ErrType, 19, []string{"unknown unit week"}},
		{"coalesce(price, url)", ErrType, 1, []string{"function coalesce: arguments have incompatible types: int64, string"}},
		{"INTERVAL '5' SECOND", ErrType, 1, []string{"an INTERVAL can only be added to or subtracted from a timestamp"}},
		{"price + INTERVAL '5' SECOND", ErrType, 1, []string{"got int64"}},
		{"dateTime - INTERVAL 'x' SECOND", ErrType, 12, []string{`INTERVAL "x": want a whole number`}},
		{"dateTime - INTERVAL '1' WEEK", ErrType, 12, []string{"INTERVAL unit WEEK"}},
		{"INTERVAL '1' SECOND - dateTime", ErrType, 1, []string{"an INTERVAL can only be added"}},
		{"9223372036854775808", ErrSyntax, 1, []string{"integer literal 9223372036854775808 out of range"}},
		{"1 +", ErrSyntax, 4, []string{"at 4", "unexpected token end of input"}},
		{"price >", ErrSyntax, 8, []string{"at 8"}},
		{"'abc", ErrSyntax, 1, []string{"at 1", "unterminated string"}},
		{"price price", ErrSyntax, 7, []string{`unexpected token "price"`}},
		{"CASE WHEN flag THEN 1", ErrSyntax, 22, []string{"at 22"}},
		{"", ErrSyntax, 1, []string{"empty expression"}},
		{"   ", ErrSyntax, 1, []string{"empty expression"}},
		{"f(1,)", ErrSyntax, 4, []string{"at 4", `unexpected token ","`}},
		{"price ! 3", ErrSyntax, 7, []string{"at 7"}},
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			_, err := Compile(tc.src, errSchema)
			if err == nil {
				t.Fatalf("Compile(%q) succeeded", tc.src)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q): %T %v, want *Error", tc.src, err, err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("Compile(%q): kind %v, want %v", tc.src, ce.Kind, tc.kind)
			}
			if ce.Pos != tc.pos {
				t.Errorf("Compile(%q): position %d, want %d (%v)", tc.src, ce.Pos, tc.pos, err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("Compile(%q): error %q does not contain %q", tc.src, err, m)
				}
			}
		})
	}
}

func TestQuotedIdentifiersAndKeywords(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := argBatch(mem, []any{int64(4)}, 2)
	defer b.Release()
	for src, want := range map[string]any{
		`"a1" * 2`:                            int64(8),
		"`a1` + 1":                            int64(5),
		"case when a1 > 3 then 'big' end":     "big",
		"CaSe WhEn a1 iS nOt NuLl ThEn 1 eNd": int64(1),
		"a1 between 4 and 4 and not false":    true,
		"mod(a1, 3) = 1 or a1 / 0 = 1":        true,
		"-9223372036854775808 < a1":           true,
		"'it''s' || ''":                       "it's",
		"a1 <> 4 != (1 = 1)":                  nil,
	} {
		if src == "a1 <> 4 != (1 = 1)" {
			continue // chained comparisons are not SQL
		}
		e, err := Compile(src, b.Schema())
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		a, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := goValue(a, 1); !sameValue(want, got) {
			t.Errorf("%s: got %#v, want %#v", src, got, want)
		}
		a.Release()
	}
}

func TestEvalErrors(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	bb := array.NewRecordBuilder(mem, schema)
	bb.Field(0).(*array.Int64Builder).AppendValues([]int64{5, 0, 0, 3}, []bool{true, false, true, true})
	bb.Field(1).(*array.StringBuilder).AppendValues([]string{"1", "", "abc", "2024-13-01"}, []bool{true, false, true, true})
	b := bb.NewRecordBatch()
	bb.Release()
	defer b.Release()
	ctx := context.Background()
	for _, tc := range []struct {
		src   string
		row   int
		value string
		cause error
	}{
		{"10 / x", 2, "10 / 0", ErrDivideByZero},
		{"x % (x - x)", 0, "5 % 0", ErrDivideByZero},
		{"MOD(x, 0) = 1", 0, "5 % 0", ErrDivideByZero},
		{"CAST(s AS BIGINT)", 2, `"abc"`, ErrInvalidValue},
		{"CAST(s AS TIMESTAMP)", 0, `"1"`, ErrInvalidValue},
		{"to_timestamp(s, 'yyyy-MM-dd')", 0, `"1"`, ErrInvalidValue},
		{"CAST(s AS DATE) IS NULL", 0, `"1"`, ErrInvalidValue},
		{"s <> '1' AND to_timestamp(s) IS NULL", 2, `"abc"`, ErrInvalidValue},
		{"CASE WHEN x > 0 THEN CAST(s AS BIGINT) END", 3, `"2024-13-01"`, ErrInvalidValue},
		{"CAST('x' AS BIGINT) = x", 0, `"x"`, ErrInvalidValue},
	} {
		e, err := Compile(tc.src, schema)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		a, err := e.Eval(ctx, mem, b)
		if err == nil {
			a.Release()
			t.Fatalf("%s: no error", tc.src)
		}
		var ee *EvalError
		if !errors.As(err, &ee) || !errors.Is(err, ErrEval) || !errors.Is(err, tc.cause) {
			t.Fatalf("%s: got %T %v, want *EvalError with %v", tc.src, err, err, tc.cause)
		}
		if ee.Row != tc.row || ee.Value != tc.value || ee.Expr != tc.src {
			t.Errorf("%s: got row %d value %s expr %q (%v), want row %d value %s", tc.src, ee.Row, ee.Value, ee.Expr, err, tc.row, tc.value)
		}
		if _, err := Filter(ctx, mem, e, b); err == nil && e.DataType().ID() == arrow.BOOL {
			t.Errorf("%s: Filter succeeded", tc.src)
		}
	}
	// Rows that do not need a value never fail.
	for _, src := range []string{
		"CASE WHEN x <> 0 THEN 10 / x ELSE 0 END",
		"IF(x = 0, 0, 10 / x)",
		"x <> 0 AND 10 / x > 1",
		"x = 0 OR 10 / x > 1",
		"x IS NULL OR x = 0 OR 10 / x > 1",
		"CASE WHEN s = '1' THEN CAST(s AS BIGINT) END",
		"TRY_CAST(s AS BIGINT)",
		"FALSE AND 1 / 0 = 1",
	} {
		e, err := Compile(src, schema)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		a, err := e.Eval(ctx, mem, b)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		a.Release()
	}
}

func TestFilterAndProjection(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	full := bidBatch(mem, 100, 3)
	defer full.Release()
	b := full.NewSlice(13, 77) // non-zero offsets in every column
	defer b.Release()

	all, err := Filter(ctx, mem, MustCompile("price >= 0", bidSchema), b)
	if err != nil {
		t.Fatal(err)
	}
	if all != b {
		t.Errorf("Filter with every row passing should return the batch itself")
	}
	all.Release()
	none, err := Filter(ctx, mem, MustCompile("price < 0 OR NULL", bidSchema), b)
	if err != nil {
		t.Fatal(err)
	}
	if none.NumRows() != 0 || none.NumCols() != b.NumCols() {
		t.Errorf("empty filter: %d rows %d cols", none.NumRows(), none.NumCols())
	}
	none.Release()
	if _, err := Filter(ctx, mem, MustCompile("price", bidSchema), b); err == nil || !strings.Contains(err.Error(), "want boolean") {
		t.Errorf("Filter with an int64 predicate: %v", err)
	}

	p, err := NewProjection(bidSchema, []NamedExpr{
		{Name: "auction", Expr: MustCompile("auction", bidSchema)},
		{Name: "euros", Expr: MustCompile("0.908 * price", bidSchema)},
		{Name: "hour", Expr: MustCompile("HOUR(dateTime)", bidSchema)},
		{Name: "one", Expr: MustCompile("1", bidSchema)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Schema().String(); !strings.Contains(got, "euros: type=float64") || !strings.Contains(got, "hour: type=int64") {
		t.Errorf("projection schema: %s", got)
	}
	out, err := p.Apply(ctx, mem, b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Column(0) != b.Column(0) {
		t.Errorf("bare column reference was copied")
	}
	prices := b.Column(2).(*array.Int64)
	euros := out.Column(1).(*array.Float64)
	for i := range int(b.NumRows()) {
		if euros.Value(i) != 0.908*float64(prices.Value(i)) {
			t.Fatalf("row %d: %v, want %v", i, euros.Value(i), 0.908*float64(prices.Value(i)))
		}
		if out.Column(3).(*array.Int64).Value(i) != 1 {
			t.Fatalf("constant column row %d", i)
		}
	}
	out.Release()

	other := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	if _, err := NewProjection(bidSchema, []NamedExpr{{Name: "x", Expr: MustCompile("x", other)}}); err == nil {
		t.Errorf("projection accepted an expression compiled for another schema")
	}
	if _, err := NewProjection(bidSchema, []NamedExpr{{Name: "a", Expr: MustCompile("price", bidSchema)}, {Name: "a", Expr: MustCompile("bidder", bidSchema)}}); err == nil {
		t.Errorf("projection accepted duplicate names")
	}
	// An error in a later column releases the earlier ones.
	bad, err := NewProjection(bidSchema, []NamedExpr{
		{Name: "a", Expr: MustCompile("0.5 * price", bidSchema)},
		{Name: "b", Expr: MustCompile("price / (bidder - bidder)", bidSchema)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Apply(ctx, mem, b); !errors.Is(err, ErrDivideByZero) {
		t.Errorf("Apply: %v, want division by zero", err)
	}
	// A batch that does not match the schema is rejected, not misread.
	wrong := argBatch(mem, []any{int64(1)}, 1)
	defer wrong.Release()
	if _, err := MustCompile("price", bidSchema).Eval(ctx, mem, wrong); err == nil {
		t.Errorf("Eval accepted a batch of another schema")
	}
}

func TestColumnPassThrough(t *testing.T) {
	e := MustCompile("dateTime", bidSchema)
	if i, ok := e.Column(); !ok || i != 5 {
		t.Errorf("Column() = %d, %v", i, ok)
	}
	if _, ok := MustCompile("dateTime > '2020-01-01'", bidSchema).Column(); ok {
		t.Errorf("Column() true for a computed expression")
	}
	if e.String() != "dateTime" || !arrow.TypeEqual(e.DataType(), tsMS) {
		t.Errorf("String/DataType: %s %s", e.String(), e.DataType())
	}
}

func TestLargeStringAndNarrowTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ls", Type: arrow.BinaryTypes.LargeString},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "tsz", Type: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "America/New_York"}},
		{Name: "n", Type: arrow.Null},
	}, nil)
	bb := array.NewRecordBuilder(mem, schema)
	bb.Field(0).(*array.LargeStringBuilder).Append("Hello")
	bb.Field(1).(*array.Uint64Builder).Append(7)
	bb.Field(2).(*array.Float32Builder).Append(1.5)
	bb.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(ts1.UnixNano()))
	bb.Field(4).AppendNull()
	b := bb.NewRecordBatch()
	bb.Release()
	defer b.Release()
	for src, want := range map[string]any{
		"lower(ls) || '!'":              "hello!",
		"ls":                            "Hello",
		"u64 * 2":                       int64(14),
		"f32 * 2":                       3.0,
		"HOUR(tsz)":                     int64(17), // zones are ignored: UTC
		"n IS NULL":                     true,
		"COALESCE(n, 3)":                int64(3),
		"n + 1":                         nil,
		"CAST(u64 AS SMALLINT) + 0":     int64(7),
		"tsz > '2024-03-05 17:45:30.1'": true,
	} {
		e, err := Compile(src, schema)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		a, err := e.Eval(context.Background(), mem, b)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := goValue(a, 0); !sameValue(want, got) {
			t.Errorf("%s: got %#v, want %#v", src, got, want)
		}
		a.Release()
	}
}

func FuzzParseCompile(f *testing.F) {
	for _, s := range []string{
		"0.908 * price", "MOD(auction, 123) = 0", "price > 1000 AND channel <> 'apple'",
		"CASE WHEN HOUR(dateTime) >= 8 THEN 'd' ELSE 'n' END", "REGEXP_EXTRACT(url, '(&|^)c=([^&]*)', 2)",
		"lower(channel) IN ('a', 'b')", "SPLIT_INDEX(url, '/', 3)", "CAST(price AS VARCHAR) || 'x'",
		"price BETWEEN 1 AND 2", "extra LIKE '%a_'", "dateTime - INTERVAL '4' SECOND", "floor(dateTime TO HOUR)", "-(-price)", "'", "((", "\"",
	} {
		f.Add(s)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	b := bidBatch(mem, 17, 5)
	f.Fuzz(func(t *testing.T, src string) {
		n, err := Parse(src)
		if err == nil {
			// Rendering and re-parsing is stable.
			again, err := Parse(n.String())
			if err != nil {
				t.Fatalf("Parse(%q).String() = %q does not parse: %v", src, n.String(), err)
			}
			if again.String() != n.String() {
				t.Fatalf("unstable rendering: %q then %q", n.String(), again.String())
			}
		}
		e, err := Compile(src, bidSchema)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos < 1 {
				t.Fatalf("Compile(%q): %v", src, err)
			}
			return
		}
		a, err := e.Eval(context.Background(), mem, b)
		if err == nil {
			a.Release()
		}
		if e.DataType().ID() == arrow.BOOL {
			if r, err := Filter(context.Background(), mem, e, b); err == nil {
				r.Release()
			}
		}
	})
	b.Release()
	mem.AssertSize(f, 0)
}
