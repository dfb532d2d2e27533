package nexmark_test

// End-to-end tests of the join queries q3 (regular join), q7 (interval join
// of a window's max with the bids), q8 (window join of per-window groups) and
// q20 (regular join): the real job files, plan,
// runtime, join (and window) operators and nexmark sources, against the
// queries' SQL evaluated in plain Go over the generator's events, compared
// as multisets of rows.

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/connectors/nexmark"
	examples "github.com/sluicedata/sluice/examples/nexmark"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// joinEvents are the generator configurations the join queries run on.
var joinEventConfigs = []eventConfig{
	{name: "seed0", events: 100_000, opts: map[string]any{"seed": 0}},
	// Event time at 100 events/s: 100k events span 1000 s, so q8's 10 s
	// windows hold few events each and close often.
	{name: "seed7_slow", events: 100_000, opts: map[string]any{"seed": 7, "first_event_rate": 100}},
}

// joinEventsOf holds every person, auction and bid among events [0, events).
type joinEventsOf struct {
	persons  []nexmark.Person
	auctions []nexmark.Auction
	bids     []nexmark.Bid
}

// loadJoinSpec parses the embedded job file and applies events and opts to
// every nexmark source. It returns the spec and the sources' common options.
func loadJoinSpec(t *testing.T, query string, events int64, opts map[string]any) (*sluicev1.JobSpec, map[string]any) {
	t.Helper()
	data, err := examples.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := plan.ParseJobFile(data)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var common map[string]any
	sources := 0
	for _, n := range spec.Nodes {
		src := n.GetSource()
		if src == nil {
			continue
		}
		if src.GetConnector() != "nexmark" {
			t.Fatalf("%s: source %q is a %q source, want nexmark", query, n.GetId(), src.GetConnector())
		}
		if wm := src.GetWatermark(); wm.GetColumn() != "dateTime" || wm.GetMaxOutOfOrderness().AsDuration() != 4*time.Second {
			t.Fatalf("%s: source %q has watermark %v, want dateTime with 4s out-of-orderness", query, n.GetId(), wm)
		}
		sources++
		src.Options.Fields["events"] = structpb.NewNumberValue(float64(events))
		for k, v := range opts {
			pv, err := structpb.NewValue(v)
			if err != nil {
				t.Fatal(err)
			}
			src.Options.Fields[k] = pv
		}
		o := src.GetOptions().AsMap()
		delete(o, "stream")
		if common == nil {
			common = o
		} else if fmt.Sprint(common) != fmt.Sprint(o) {
			t.Fatalf("%s: sources have different options %v and %v", query, common, o)
		}
	}
	if sources == 0 {
		t.Fatalf("%s: no nexmark source", query)
	}
	common["stream"] = "bid"
	return spec, common
}

func joinEvents(t *testing.T, events int64, srcOpts map[string]any) joinEventsOf {
	t.Helper()
	cfg, err := nexmark.ParseConfig(srcOpts)
	if err != nil {
		t.Fatal(err)
	}
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ev joinEventsOf
	for n := range cfg.Events {
		switch g.KindOf(n) {
		case nexmark.KindPerson:
			ev.persons = append(ev.persons, g.Person(n))
		case nexmark.KindAuction:
			ev.auctions = append(ev.auctions, g.Auction(n))
		case nexmark.KindBid:
			ev.bids = append(ev.bids, g.Bid(n))
		}
	}
	return ev
}

// joinQueryModel is one join query: its output columns and its SQL in Go.
type joinQueryModel struct {
	name    string
	columns []string
	model   func(ev joinEventsOf) []string
	// minRows is the fewest rows the model must produce per 100k events.
	minRows int
}

func fmtJoinValue(v any) string {
	switch v := v.(type) {
	case time.Time:
		return fmt.Sprint(v.UnixMilli())
	case nil:
		return "NULL"
	}
	return fmt.Sprint(v)
}

func joinRowString(vals ...any) string {
	s := ""
	for i, v := range vals {
		if i > 0 {
			s += "|"
		}
		s += fmtJoinValue(v)
	}
	return s
}

// joinQueryModels are the join queries' SQL over the events.
var joinQueryModels = []joinQueryModel{
	{
		name:    "q3",
		columns: []string{"name", "city", "state", "id"},
		model: func(ev joinEventsOf) []string {
			byID := map[int64][]nexmark.Person{}
			for _, p := range ev.persons {
				if p.State == "OR" || p.State == "ID" || p.State == "CA" {
					byID[p.ID] = append(byID[p.ID], p)
				}
			}
			var out []string
			for _, a := range ev.auctions {
				if a.Category != 10 {
					continue
				}
				for _, p := range byID[a.Seller] {
					out = append(out, joinRowString(p.Name, p.City, p.State, a.ID))
				}
			}
			return out
		},
		minRows: 20,
	},
	{
		name: "q20",
		columns: []string{"auction", "bidder", "price", "channel", "url", "bid_dateTime", "bid_extra",
			"itemName", "description", "initialBid", "reserve", "auction_dateTime", "expires", "seller", "category", "auction_extra"},
		model: func(ev joinEventsOf) []string {
			byID := map[int64][]nexmark.Auction{}
			for _, a := range ev.auctions {
				if a.Category == 10 {
					byID[a.ID] = append(byID[a.ID], a)
				}
			}
			var out []string
			for _, b := range ev.bids {
				for _, a := range byID[b.Auction] {
					out = append(out, joinRowString(b.Auction, b.Bidder, b.Price, b.Channel, b.URL, b.DateTime, b.Extra,
						a.ItemName, a.Description, a.InitialBid, a.Reserve, a.DateTime, a.Expires, a.Seller, a.Category, a.Extra))
				}
			}
			return out
		},
		minRows: 1000,
	},
	{
		name:    "q7",
		columns: []string{"auction", "price", "bidder", "dateTime", "extra"},
		model: func(ev joinEventsOf) []string {
			const size = 10_000
			start := func(t int64) int64 { return t - ((t%size)+size)%size }
			maxPrice := map[int64]int64{} // window start -> max price
			for _, b := range ev.bids {
				s := start(b.DateTime)
				if m, ok := maxPrice[s]; !ok || b.Price > m {
					maxPrice[s] = b.Price
				}
			}
			var out []string
			for _, b := range ev.bids {
				// B1 rows whose [window_end - 10s, window_end] holds the bid:
				// its own window, and the previous one when the bid is at
				// the previous window's end.
				for _, s := range []int64{start(b.DateTime), start(b.DateTime) - size} {
					m, ok := maxPrice[s]
					if ok && b.Price == m && b.DateTime >= s && b.DateTime <= s+size {
						out = append(out, joinRowString(b.Auction, b.Price, b.Bidder, time.UnixMilli(b.DateTime), b.Extra))
					}
				}
			}
			return out
		},
		// seed0's 100k events span 10 s: one window. seed7_slow's span
		// 1000 s: about 100 windows.
		minRows: 1,
	},
	{
		name:    "q8",
		columns: []string{"id", "name", "starttime"},
		model: func(ev joinEventsOf) []string {
			const size = 10_000
			start := func(t int64) int64 { return t - ((t%size)+size)%size }
			type pk struct {
				id    int64
				name  string
				start int64
			}
			type ak struct{ seller, start int64 }
			ps := map[pk]bool{}
			for _, p := range ev.persons {
				ps[pk{p.ID, p.Name, start(p.DateTime)}] = true
			}
			as := map[ak]bool{}
			for _, a := range ev.auctions {
				as[ak{a.Seller, start(a.DateTime)}] = true
			}
			var out []string
			for p := range ps {
				if as[ak{p.id, p.start}] {
					out = append(out, joinRowString(p.id, p.name, p.start))
				}
			}
			return out
		},
		minRows: 20,
	},
}

func TestJoinQueries(t *testing.T) {
	for _, ec := range joinEventConfigs {
		t.Run(ec.name, func(t *testing.T) {
			_, srcOpts := loadJoinSpec(t, "q3", ec.events, ec.opts)
			ev := joinEvents(t, ec.events, srcOpts)
			for _, m := range joinQueryModels {
				t.Run(m.name, func(t *testing.T) {
					want := m.model(ev)
					if len(want) < m.minRows*int(ec.events/100_000) {
						t.Fatalf("the model produced %d rows on %d events: too few for a meaningful test", len(want), ec.events)
					}
					for _, par := range []int32{1, 2} {
						t.Run(fmt.Sprintf("parallelism%d", par), func(t *testing.T) {
							spec, opts := loadJoinSpec(t, m.name, ec.events, ec.opts)
							if fmt.Sprint(opts) != fmt.Sprint(srcOpts) {
								t.Fatalf("source options %v differ from the model's %v", opts, srcOpts)
							}
							spec.Parallelism = par
							res := computetest.Run(t, spec)
							var got []string
							for _, r := range res.Rows("out") {
								vals := make([]any, len(m.columns))
								for i, c := range m.columns {
									v, ok := r[c]
									if !ok {
										t.Fatalf("output row has no column %q: %v", c, r)
									}
									vals[i] = v
								}
								got = append(got, joinRowString(vals...))
							}
							joinCompare(t, got, want)
						})
					}
				})
			}
		})
	}
}

func joinCompare(t *testing.T, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, r := range got {
		count[r]++
	}
	for _, r := range want {
		count[r]--
	}
	var missing, extra []string
	for r, c := range count {
		for ; c > 0; c-- {
			extra = append(extra, r)
		}
		for ; c < 0; c++ {
			missing = append(missing, r)
		}
	}
	if len(missing)+len(extra) == 0 {
		return
	}
	sort.Strings(missing)
	sort.Strings(extra)
	t.Errorf("got %d rows, want %d: %d missing, %d extra\nmissing (first 5): %q\nextra (first 5): %q",
		len(got), len(want), len(missing), len(extra), missing[:min(5, len(missing))], extra[:min(5, len(extra))])
}
