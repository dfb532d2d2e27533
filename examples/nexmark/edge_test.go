package nexmark_test

// The generated events reach only a small part of each expression's domain
// (every hour is 0 at the default rate, no url lacks its "/" fields, no
// channel is spelled in capitals...). These tests take the filter and
// project expressions straight from each job file, evaluate them with
// compute/expr over hand-written edge-case bids, whole and in offset slices,
// and compare with the same Go models as the end-to-end tests.

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/expr"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/connectors/nexmark"
	examples "github.com/sluicedata/sluice/examples/nexmark"
)

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// edgeBids are bids at the boundaries of the six queries' expressions.
func edgeBids() []nexmark.Bid {
	const url = "https://www.nexmark.com/abc/de_f/gh/item.htm?query=1"
	base := nexmark.Bid{Auction: 1000, Bidder: 2000, Price: 100, Channel: "channel-1",
		URL: url + "&channel_id=42", DateTime: ms("2024-01-01T12:00:00Z"), Extra: "abc"}
	var out []nexmark.Bid
	add := func(f func(b *nexmark.Bid)) {
		b := base
		f(&b)
		out = append(out, b)
	}
	add(func(*nexmark.Bid) {})
	// MOD(auction, 123) = 0, with Java/Go truncated remainders.
	for _, a := range []int64{0, 1, 122, 123, 124, 246, -1, -123, -124, -246, math.MaxInt64, math.MaxInt64 - math.MaxInt64%123, math.MinInt64, math.MinInt64 - math.MinInt64%123} {
		add(func(b *nexmark.Bid) { b.Auction = a })
	}
	// 0.908 * price against 1e6 and 5e7; 1e6/0.908 = 1101321.58..., 5e7/0.908 = 55066079.29...
	for _, p := range []int64{0, 1, -1, -5_000_000, 1_101_321, 1_101_322, 1_101_323, 55_066_078, 55_066_079, 55_066_080, 100_000_000, 1 << 40, 1 << 53, math.MaxInt64} {
		add(func(b *nexmark.Bid) { b.Price = p })
	}
	// HOUR() at each boundary of q14's CASE, and before 1970 (negative
	// epoch milliseconds: the hour must be floored, not truncated). Prices
	// are in q14's range so the rows pass its filter.
	for _, ts := range []string{
		"2024-01-01T00:00:00Z", "2024-01-01T05:59:59.999Z", "2024-01-01T06:00:00Z", "2024-01-01T06:59:59.999Z",
		"2024-01-01T07:00:00Z", "2024-01-01T07:59:59.999Z", "2024-01-01T08:00:00Z", "2024-01-01T18:00:00Z",
		"2024-01-01T18:59:59.999Z", "2024-01-01T19:00:00Z", "2024-01-01T19:59:59.999Z", "2024-01-01T20:00:00Z",
		"2024-01-01T23:59:59.999Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999Z", "1969-12-31T19:30:00Z",
		"1969-12-31T07:00:00.001Z", "1900-06-15T18:59:59.999Z", "2262-04-11T23:47:16.854Z",
	} {
		add(func(b *nexmark.Bid) { b.DateTime = ms(ts); b.Price = 2_000_000 })
	}
	// count_char(extra, 'c').
	for _, e := range []string{"", "c", "ccc", "CcC", "çcç", "abc\x00c", "日本c語c", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxcxxxxxxxxxxxxxxxxc"} {
		add(func(b *nexmark.Bid) { b.Extra = e; b.Price = 2_000_000 })
	}
	// lower(channel) IN (...) and REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2).
	for _, ch := range []string{"Apple", "apple", "APPLE", "aPpLe", "Google", "FACEBOOK", "Baidu", "baidu ", " baidu", "channel-7", "", "apples", "Яндекс"} {
		for _, u := range []string{url, url + "&channel_id=42", url + "&channel_id=", url + "&channel_id=1&channel_id=2",
			"channel_id=9", "channel_id=9&x=1", "xchannel_id=9", url + "&xchannel_id=9", url + "&channel_id=a b&c", url + "&Channel_id=5", ""} {
			add(func(b *nexmark.Bid) { b.Channel = ch; b.URL = u })
		}
	}
	// SPLIT_INDEX(url, '/', 3..5): too few fields, empty fields, trailing
	// and leading separators, multi-byte text.
	for _, u := range []string{"", "/", "a", "a/b/c", "a/b/c/d", "a/b/c/d/e", "a/b/c/d/e/f", "a/b/c/d/e/f/g/h", "////", "/////", "//////",
		"a/b/c/d/", "a/b/c//e/", "/a/b/c/d/e", "https://x/ü/é/日本/z", "https://www.nexmark.com/abc/de_f/gh/item.htm?query=1&channel_id=42"} {
		add(func(b *nexmark.Bid) { b.URL = u })
	}
	return out
}

// bidBatch builds an Arrow batch of bids with the nexmark bid schema.
func bidBatch(t *testing.T, mem memory.Allocator, bids []nexmark.Bid) arrow.RecordBatch {
	t.Helper()
	schema := nexmark.Schema(nexmark.StreamBid)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	for i, f := range schema.Fields() {
		for _, b := range bids {
			var v any
			switch f.Name {
			case "auction":
				v = b.Auction
			case "bidder":
				v = b.Bidder
			case "price":
				v = b.Price
			case "channel":
				v = b.Channel
			case "url":
				v = b.URL
			case "dateTime":
				v = arrow.Timestamp(b.DateTime)
			case "extra":
				v = b.Extra
			default:
				t.Fatalf("bid schema has unknown column %q", f.Name)
			}
			switch fb := bld.Field(i).(type) {
			case *array.Int64Builder:
				fb.Append(v.(int64))
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.TimestampBuilder:
				fb.Append(v.(arrow.Timestamp))
			default:
				t.Fatalf("column %q: unexpected builder %T", f.Name, fb)
			}
		}
	}
	return bld.NewRecordBatch()
}

// compiledQuery is a job file's filter conditions and projection, compiled
// against the bid schema (a filter passes its input schema through).
type compiledQuery struct {
	filters []*expr.Expr
	names   []string
	project []*expr.Expr
}

func compileQuery(t *testing.T, name string) compiledQuery {
	t.Helper()
	data, err := examples.Query(name)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := plan.ParseJobFile(data)
	if err != nil {
		t.Fatal(err)
	}
	schema := nexmark.Schema(nexmark.StreamBid)
	var q compiledQuery
	projects := 0
	for _, n := range spec.Nodes {
		switch {
		case n.GetSource() != nil, n.GetSink() != nil:
		case n.GetFilter() != nil:
			if projects > 0 {
				t.Fatalf("%s: filter %q after the projection; this test evaluates filters on bids", name, n.GetId())
			}
			e, err := expr.Compile(n.GetFilter().GetCondition(), schema)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			q.filters = append(q.filters, e)
		case n.GetProject() != nil:
			projects++
			for _, c := range n.GetProject().GetColumns() {
				e, err := expr.Compile(c.GetExpr(), schema)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				col := c.GetName()
				if col == "" {
					col = c.GetExpr()
				}
				q.names = append(q.names, col)
				q.project = append(q.project, e)
			}
		default:
			t.Fatalf("%s: node %q is not a source, filter, project or sink; extend this test", name, n.GetId())
		}
	}
	if projects != 1 {
		t.Fatalf("%s: %d projections, want 1", name, projects)
	}
	return q
}

func TestQueryExpressionsOnEdgeCases(t *testing.T) {
	bids := edgeBids()
	for _, m := range models {
		t.Run(m.name, func(t *testing.T) {
			q := compileQuery(t, m.name)
			if len(q.names) != len(m.columns) {
				t.Fatalf("job file projects %v, model has %v", q.names, m.columns)
			}
			for i, c := range m.columns {
				if q.names[i] != c.name {
					t.Fatalf("job file column %d is %q, model's is %q", i, q.names[i], c.name)
				}
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			full := bidBatch(t, mem, bids)
			defer full.Release()
			kept := 0
			// The whole batch, and slices with a non-zero offset (as a
			// batch cut by an upstream operator would be).
			for _, off := range []int64{0, 1, 7} {
				b := full.NewSlice(off, full.NumRows())
				kept = evalEdge(t, mem, m, q, b, bids[off:])
				b.Release()
			}
			if m.filtering && (kept == 0 || kept == len(bids)) {
				t.Errorf("the model keeps %d of %d edge-case bids; the cases do not exercise the filter", kept, len(bids))
			}
		})
	}
}

// evalEdge evaluates q over b (whose rows are bids) and checks every row
// against the model; it returns how many rows the model keeps.
func evalEdge(t *testing.T, mem memory.Allocator, m queryModel, q compiledQuery, b arrow.RecordBatch, bids []nexmark.Bid) int {
	t.Helper()
	ctx := context.Background()
	var masks, cols []arrow.Array
	defer func() {
		for _, a := range append(masks, cols...) {
			a.Release()
		}
	}()
	for _, f := range q.filters {
		a, err := f.Eval(ctx, mem, b)
		if err != nil {
			t.Fatalf("filter %s: %v", f, err)
		}
		masks = append(masks, a)
	}
	for _, p := range q.project {
		a, err := p.Eval(ctx, mem, b)
		if err != nil {
			t.Fatalf("column %s: %v", p, err)
		}
		cols = append(cols, a)
	}
	kept, bad := 0, 0
	for i, bid := range bids {
		pass := true
		for _, mask := range masks {
			if v := computetest.Value(mask, i); v != true {
				pass = false
			}
		}
		want, ok := m.eval(bid)
		if ok {
			kept++
		}
		fail := func(format string, args ...any) {
			if bad++; bad <= 10 {
				t.Errorf("offset %d, bid %+v: %s", b.Column(0).Data().Offset(), bid, fmt.Sprintf(format, args...))
			}
		}
		if pass != ok {
			fail("filter passes = %v, want %v", pass, ok)
			continue
		}
		if !ok {
			continue
		}
		for c, col := range m.columns {
			got := computetest.Value(cols[c], i)
			if col.float {
				g, isFloat := got.(float64)
				w := want[c].(float64)
				if !isFloat || !floatsClose([]float64{g}, []float64{w}) {
					fail("%s = %#v, want %#v", col.name, got, w)
				}
				continue
			}
			if string(appendKey(nil, got)) != string(appendKey(nil, want[c])) {
				fail("%s = %#v, want %#v", col.name, got, want[c])
			}
		}
	}
	return kept
}
