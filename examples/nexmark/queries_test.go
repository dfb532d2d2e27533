package nexmark_test

// These tests run each embedded Nexmark job file end to end (the real plan,
// runtime, expressions and nexmark source, with the sink replaced by an
// in-memory collector) and compare what reaches the sink, as a multiset of
// rows, with the query's SQL evaluated in plain Go over the same events, read
// one at a time from the generator's row API.

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/connectors/nexmark"
	examples "github.com/sluicedata/sluice/examples/nexmark"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"

	_ "github.com/sluicedata/sluice/connectors/all"
)

// eventConfig is one set of generator options the queries run against, on
// top of the job file's own options (stream: bid). About 92% of events are
// bids.
type eventConfig struct {
	name   string
	events int64
	opts   map[string]any
}

var eventConfigs = []eventConfig{
	// Exactly nexmark-flink's events (seed 0, 10000 events/s of event time:
	// the run spans 20 s, all in hour 0).
	{name: "seed0", events: 200_000, opts: map[string]any{"seed": 0}},
	// Another seed, with event time slowed to 1 event/s from 05:17 so that
	// the 100k events span about 28 hours: every HOUR() and every branch of
	// q14's CASE is reached.
	{name: "seed7_slow", events: 100_000, opts: map[string]any{"seed": 7, "first_event_rate": 1, "base_time": "2024-03-10T05:17:00Z"}},
}

// column is one output column of a query: its name, and whether it is a
// float (compared with a relative tolerance) rather than compared exactly.
type column struct {
	name  string
	float bool
}

// queryModel is a query's SQL evaluated on one bid: the output row, or false
// when the WHERE clause drops it.
type queryModel struct {
	name    string
	columns []column
	eval    func(b nexmark.Bid) ([]any, bool)
	// minRows is the fewest rows the model must produce per 100k events, so
	// that a filter dropping (nearly) everything cannot pass; filtering
	// queries must also drop something.
	minRows   int
	filtering bool
}

func ts(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

var channelIDRe = regexp.MustCompile(`(&|^)channel_id=([^&]*)`)

// regexpExtract is Flink's REGEXP_EXTRACT(s, re, group): the group of the
// first match, NULL (nil) when there is no match.
func regexpExtract(s string, re *regexp.Regexp, group int) any {
	m := re.FindStringSubmatchIndex(s)
	if m == nil || m[2*group] < 0 {
		return nil
	}
	return s[m[2*group]:m[2*group+1]]
}

// splitIndex is Flink's SPLIT_INDEX(s, sep, idx): the idx-th (0-based)
// field of s split on sep, empty fields kept; NULL (nil) when out of range.
func splitIndex(s, sep string, idx int) any {
	if s == "" {
		return nil // Flink splits "" into no fields at all
	}
	parts := strings.Split(s, sep)
	if idx < 0 || idx >= len(parts) {
		return nil
	}
	return parts[idx]
}

var hotChannelIDs = map[string]string{"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}

var models = []queryModel{
	{
		// SELECT auction, bidder, price, dateTime, extra FROM bid;
		name:    "q0",
		columns: []column{{name: "auction"}, {name: "bidder"}, {name: "price"}, {name: "dateTime"}, {name: "extra"}},
		eval: func(b nexmark.Bid) ([]any, bool) {
			return []any{b.Auction, b.Bidder, b.Price, ts(b.DateTime), b.Extra}, true
		},
		minRows: 90_000,
	},
	{
		// SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid;
		name:    "q1",
		columns: []column{{name: "auction"}, {name: "bidder"}, {name: "price", float: true}, {name: "dateTime"}, {name: "extra"}},
		eval: func(b nexmark.Bid) ([]any, bool) {
			return []any{b.Auction, b.Bidder, 0.908 * float64(b.Price), ts(b.DateTime), b.Extra}, true
		},
		minRows: 90_000,
	},
	{
		// SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
		name:    "q2",
		columns: []column{{name: "auction"}, {name: "price"}},
		eval: func(b nexmark.Bid) ([]any, bool) {
			if b.Auction%123 != 0 {
				return nil, false
			}
			return []any{b.Auction, b.Price}, true
		},
		minRows:   50,
		filtering: true,
	},
	{
		// SELECT auction, bidder, 0.908 * price AS price,
		//   CASE WHEN HOUR(dateTime) >= 8 AND HOUR(dateTime) <= 18 THEN 'dayTime'
		//        WHEN HOUR(dateTime) <= 6 OR HOUR(dateTime) >= 20 THEN 'nightTime'
		//        ELSE 'otherTime' END AS bidTimeType,
		//   dateTime, extra, count_char(extra, 'c') AS c_counts
		// FROM bid WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
		name: "q14",
		columns: []column{{name: "auction"}, {name: "bidder"}, {name: "price", float: true}, {name: "bidTimeType"},
			{name: "dateTime"}, {name: "extra"}, {name: "c_counts"}},
		eval: func(b nexmark.Bid) ([]any, bool) {
			// The WHERE clause in exact (decimal) arithmetic, without
			// overflow: for an integer p, 908p > 1e9 iff p > floor(1e9/908),
			// and 908p < 5e10 iff p <= floor((5e10-1)/908). No integer
			// price is near enough to either bound for float rounding to
			// matter.
			if !(b.Price > 1_000_000_000/908 && b.Price <= (50_000_000_000-1)/908) {
				return nil, false
			}
			t := ts(b.DateTime)
			h := t.Hour()
			var kind string
			switch {
			case h >= 8 && h <= 18:
				kind = "dayTime"
			case h <= 6 || h >= 20:
				kind = "nightTime"
			default:
				kind = "otherTime"
			}
			return []any{b.Auction, b.Bidder, 0.908 * float64(b.Price), kind, t, b.Extra, int64(strings.Count(b.Extra, "c"))}, true
		},
		minRows:   500,
		filtering: true,
	},
	{
		// SELECT auction, bidder, price, channel,
		//   CASE WHEN lower(channel) = 'apple' THEN '0' ... 'baidu' THEN '3'
		//        ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) END AS channel_id
		// FROM bid
		// WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL
		//    OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu');
		name:    "q21",
		columns: []column{{name: "auction"}, {name: "bidder"}, {name: "price"}, {name: "channel"}, {name: "channel_id"}},
		eval: func(b nexmark.Bid) ([]any, bool) {
			extracted := regexpExtract(b.URL, channelIDRe, 2)
			hotID, hot := hotChannelIDs[strings.ToLower(b.Channel)]
			if extracted == nil && !hot {
				return nil, false
			}
			var id any = extracted
			if hot {
				id = hotID
			}
			return []any{b.Auction, b.Bidder, b.Price, b.Channel, id}, true
		},
		minRows:   500,
		filtering: true,
	},
	{
		// SELECT auction, bidder, price, channel,
		//   SPLIT_INDEX(url, '/', 3) AS dir1, SPLIT_INDEX(url, '/', 4) AS dir2,
		//   SPLIT_INDEX(url, '/', 5) AS dir3
		// FROM bid;
		name: "q22",
		columns: []column{{name: "auction"}, {name: "bidder"}, {name: "price"}, {name: "channel"},
			{name: "dir1"}, {name: "dir2"}, {name: "dir3"}},
		eval: func(b nexmark.Bid) ([]any, bool) {
			return []any{b.Auction, b.Bidder, b.Price, b.Channel,
				splitIndex(b.URL, "/", 3), splitIndex(b.URL, "/", 4), splitIndex(b.URL, "/", 5)}, true
		},
		minRows: 90_000,
	},
}

// loadSpec parses the embedded job file and applies opts (plus events:
// events) to its nexmark source. It returns the spec and the source's
// options as the connector will see them.
func loadSpec(t *testing.T, query string, events int64, opts map[string]any) (*sluicev1.JobSpec, map[string]any) {
	t.Helper()
	data, err := examples.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := plan.ParseJobFile(data)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var srcOpts map[string]any
	for _, n := range spec.Nodes {
		src := n.GetSource()
		if src == nil {
			continue
		}
		if src.GetConnector() != "nexmark" || srcOpts != nil {
			t.Fatalf("%s: want exactly one nexmark source, node %q is a %q source", query, n.GetId(), src.GetConnector())
		}
		if got := src.GetOptions().AsMap()["stream"]; got != "bid" {
			t.Fatalf("%s: source %q reads stream %v, want bid", query, n.GetId(), got)
		}
		src.Options.Fields["events"] = structpb.NewNumberValue(float64(events))
		for k, v := range opts {
			pv, err := structpb.NewValue(v)
			if err != nil {
				t.Fatal(err)
			}
			src.Options.Fields[k] = pv
		}
		srcOpts = src.GetOptions().AsMap()
	}
	if srcOpts == nil {
		t.Fatalf("%s: no source", query)
	}
	return spec, srcOpts
}

// bids returns every bid among events [0, cfg.Events) of the generator
// configured by the source options, in event order.
func bids(t *testing.T, events int64, srcOpts map[string]any) []nexmark.Bid {
	t.Helper()
	cfg, err := nexmark.ParseConfig(srcOpts)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Events != events {
		t.Fatalf("generator config has %d events, want %d", cfg.Events, events)
	}
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []nexmark.Bid
	for n := range cfg.Events {
		if g.KindOf(n) == nexmark.KindBid {
			out = append(out, g.Bid(n))
		}
	}
	return out
}

// TestEveryQueryHasAModel checks that every stateless query file has a model
// here (the stateful queries are checked by the other *_queries_test.go files
// and by the DuckDB oracle in tests/oracle).
func TestEveryQueryHasAModel(t *testing.T) {
	have := map[string]bool{}
	for _, m := range models {
		have[m.name] = true
	}
	embedded := map[string]bool{}
	for _, q := range examples.Queries() {
		embedded[q] = true
	}
	for _, q := range []string{"q0", "q1", "q2", "q14", "q21", "q22"} {
		if !embedded[q] {
			t.Errorf("stateless query %s has no job file", q)
		}
		if !have[q] {
			t.Errorf("stateless query %s has no model here", q)
		}
	}
}

func TestQueries(t *testing.T) {
	for _, ec := range eventConfigs {
		t.Run(ec.name, func(t *testing.T) {
			_, srcOpts := loadSpec(t, "q0", ec.events, ec.opts)
			all := bids(t, ec.events, srcOpts)
			if int64(len(all)) < ec.events*9/10 {
				t.Fatalf("only %d bids in %d events", len(all), ec.events)
			}
			for _, m := range models {
				t.Run(m.name, func(t *testing.T) {
					want := expected(t, m, all, ec.events)
					if m.name == "q14" && ec.name == "seed7_slow" {
						kinds := map[any]int{}
						for _, r := range want {
							kinds[r[3]]++
						}
						if len(kinds) != 3 {
							t.Fatalf("test data reaches only bidTimeType %v; want all three", kinds)
						}
					}
					wantKeyed := keyRows(m.columns, want)
					for _, par := range []int32{1, 2} {
						t.Run(fmt.Sprintf("parallelism%d", par), func(t *testing.T) {
							spec, opts := loadSpec(t, m.name, ec.events, ec.opts)
							if !proto.Equal(mustStruct(t, opts), mustStruct(t, srcOpts)) {
								t.Fatalf("source options %v differ from the model's %v", opts, srcOpts)
							}
							spec.Parallelism = par
							res := computetest.Run(t, spec)
							got := res.Rows("out")
							// The spec's parallelism must reach the sink: every
							// subtask of it receives rows.
							for sub := range int(par) {
								if n := len(res.Sinks["out"].SubtaskRows(sub)); n == 0 {
									t.Errorf("sink subtask %d of %d received no rows", sub, par)
								}
							}
							if n := len(res.Sinks["out"].SubtaskRows(int(par))); n != 0 {
								t.Errorf("sink subtask %d received %d rows at parallelism %d", par, n, par)
							}
							compareRows(t, m.columns, got, wantKeyed)
						})
					}
				})
			}
		})
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expected evaluates the model on every bid and checks the result is a
// meaningful test: enough rows, and for filters, not every row.
func expected(t *testing.T, m queryModel, all []nexmark.Bid, events int64) [][]any {
	t.Helper()
	var want [][]any
	for _, b := range all {
		if r, ok := m.eval(b); ok {
			if len(r) != len(m.columns) {
				t.Fatalf("model row %v does not match columns %v", r, m.columns)
			}
			want = append(want, r)
		}
	}
	if minRows := int64(m.minRows) * events / 100_000; int64(len(want)) < minRows {
		t.Fatalf("the model selects %d of %d bids, want at least %d", len(want), len(all), minRows)
	}
	if m.filtering && len(want) == len(all) {
		t.Fatalf("the model's filter keeps all %d bids; the test would not exercise it", len(all))
	}
	return want
}

// keyed is a row, in column order, with its exact columns encoded as a
// string (type and value) and its float columns apart.
type keyed struct {
	key    string
	floats []float64
	row    []any
}

// relTol is the relative tolerance of float columns.
const relTol = 1e-12

// appendKey appends an unambiguous encoding of v's type and value.
func appendKey(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, 'N')
	case int64:
		dst = strconv.AppendInt(append(dst, 'i'), v, 10)
		return append(dst, ';')
	case string:
		dst = strconv.AppendInt(append(dst, 's'), int64(len(v)), 10)
		return append(append(dst, ':'), v...)
	case time.Time:
		dst = strconv.AppendInt(append(dst, 't'), v.UnixNano(), 10)
		dst = append(dst, v.Location().String()...)
		return append(dst, ';')
	case bool:
		return strconv.AppendBool(append(dst, 'b'), v)
	}
	s := fmt.Sprintf("%T:%v", v, v)
	dst = strconv.AppendInt(append(dst, 'x'), int64(len(s)), 10)
	return append(append(dst, ':'), s...)
}

// keyRows keys rows given in column order and sorts them.
func keyRows(cols []column, rows [][]any) []keyed {
	out := make([]keyed, len(rows))
	var buf []byte
	for i, r := range rows {
		buf = buf[:0]
		k := keyed{row: r}
		for c, col := range cols {
			if col.float {
				f, _ := r[c].(float64) // the caller checked the type
				k.floats = append(k.floats, f)
				continue
			}
			buf = appendKey(buf, r[c])
		}
		k.key = string(buf)
		out[i] = k
	}
	slices.SortFunc(out, func(a, b keyed) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return slices.Compare(a.floats, b.floats)
	})
	return out
}

// ordered returns the collected rows in column order, failing the test if a
// row's columns are not exactly cols or a float column is not a float64.
func ordered(t *testing.T, cols []column, rows []computetest.Row) [][]any {
	t.Helper()
	out := make([][]any, len(rows))
	bad := 0
	for i, r := range rows {
		o := make([]any, len(cols))
		ok := len(r) == len(cols)
		for c, col := range cols {
			v, present := r[col.name]
			if _, isFloat := v.(float64); !present || col.float && !isFloat {
				ok = false
			}
			o[c] = v
		}
		if !ok {
			if bad++; bad <= 5 {
				t.Errorf("row %d is %v, want columns %v", i, r, cols)
			}
		}
		out[i] = o
	}
	if bad > 0 {
		t.Fatalf("%d of %d rows have the wrong columns or types", bad, len(rows))
	}
	return out
}

func floatsClose(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if math.Abs(a[i]-b[i]) > relTol*math.Max(math.Abs(a[i]), math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// rowDiff is how two keyed multisets differ.
type rowDiff struct {
	missing, extra []keyed // rows only in want, only in got
}

func (d rowDiff) empty() bool { return len(d.missing) == 0 && len(d.extra) == 0 }

// diffRows merges got and want, both sorted by keyRows (exact columns, then
// floats), pairing rows whose exact columns are equal and whose floats are
// within relTol; a row left unpaired is missing or extra.
func diffRows(got, want []keyed) rowDiff {
	var d rowDiff
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		var c int
		switch {
		case i == len(got):
			c = 1
		case j == len(want):
			c = -1
		default:
			c = cmp.Compare(got[i].key, want[j].key)
			if c == 0 && !floatsClose(got[i].floats, want[j].floats) {
				c = slices.Compare(got[i].floats, want[j].floats)
			}
		}
		switch {
		case c < 0:
			d.extra = append(d.extra, got[i])
			i++
		case c > 0:
			d.missing = append(d.missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	return d
}

// compareRows checks got and want are the same multiset of rows: exact on
// every column but the float ones, which match within relTol.
func compareRows(t *testing.T, cols []column, gotRows []computetest.Row, want []keyed) {
	t.Helper()
	got := keyRows(cols, ordered(t, cols, gotRows))
	d := diffRows(got, want)
	if d.empty() {
		return
	}
	const show = 5
	for _, k := range d.missing[:min(show, len(d.missing))] {
		t.Errorf("missing row %v", k.row)
	}
	for _, k := range d.extra[:min(show, len(d.extra))] {
		t.Errorf("unexpected row %v", k.row)
	}
	t.Errorf("got %d rows, want %d: %d missing, %d unexpected (columns %v; floats within relative %g)",
		len(got), len(want), len(d.missing), len(d.extra), cols, relTol)
}
