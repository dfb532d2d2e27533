package nexmark

import (
	"math"
	"strings"
	"testing"
	"time"
)

func mustGen(t testing.TB, c Config) *Generator {
	t.Helper()
	g, err := NewGenerator(c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestProportionsPerCycle: any 50 consecutive events hold exactly 1 person,
// 3 auctions and 46 bids (and likewise for other proportions).
func TestProportionsPerCycle(t *testing.T) {
	for _, c := range []Config{{}, {PersonProportion: 2, AuctionProportion: 5, BidProportion: 13}} {
		g := mustGen(t, c)
		c = g.Config()
		total := c.PersonProportion + c.AuctionProportion + c.BidProportion
		for _, start := range []int64{0, 1, 7, 49, 50, 12345, 1 << 40} {
			var cnt [3]int64
			for n := start; n < start+total; n++ {
				cnt[g.KindOf(n)]++
			}
			if cnt != [3]int64{c.PersonProportion, c.AuctionProportion, c.BidProportion} {
				t.Errorf("config %+v, window at %d: counts %v", c, start, cnt)
			}
		}
	}
	// nexmark-flink's table source starts at event id 2: the first event is
	// an auction, the first person is event 48.
	g := mustGen(t, Config{})
	if g.KindOf(0) != KindAuction || g.KindOf(2) != KindBid || g.KindOf(48) != KindPerson {
		t.Errorf("kinds of events 0, 2, 48 = %v %v %v", g.KindOf(0), g.KindOf(2), g.KindOf(48))
	}
}

// model counts, by brute force over every event id from 0, how many people
// and auctions exist: the trivially correct definition of nexmark's
// lastBase0PersonId/lastBase0AuctionId.
type model struct {
	total, pp, pa int64
	id            int64 // next id to account for
	persons       int64 // people with id < model.id
	auctions      int64
}

// advance accounts for every id up to and including id.
func (m *model) advance(id int64) {
	for ; m.id <= id; m.id++ {
		switch rem := m.id % m.total; {
		case rem < m.pp:
			m.persons++
		case rem < m.pp+m.pa:
			m.auctions++
		}
	}
}

// TestIDsAndHotRatios checks every id against the model and measures the
// hot ratios.
func TestIDsAndHotRatios(t *testing.T) {
	for _, seed := range []int64{0, 1, 99} {
		g := mustGen(t, Config{Seed: seed})
		m := &model{total: 50, pp: 1, pa: 3}
		const N = 400_000
		var bids, hotAuction, hotBidder, auctions, hotSeller int
		for n := int64(0); n < N; n++ {
			id := n + 2
			m.advance(id)
			lastP, lastA := m.persons-1, m.auctions-1
			switch g.KindOf(n) {
			case KindPerson:
				if p := g.Person(n); p.ID != lastP+1000 {
					t.Fatalf("person %d: id %d, want %d", n, p.ID, lastP+1000)
				}
			case KindAuction:
				a := g.Auction(n)
				if a.ID != lastA+1000 {
					t.Fatalf("auction %d: id %d, want %d", n, a.ID, lastA+1000)
				}
				auctions++
				seller := a.Seller - 1000
				active := min(m.persons, 1000)
				switch {
				case seller == lastP/100*100:
					hotSeller++
				case seller >= m.persons-active && seller < m.persons+10:
				default:
					t.Fatalf("auction %d: seller %d outside active people (%d people)", n, a.Seller, m.persons)
				}
				if a.Category < 10 || a.Category >= 15 {
					t.Fatalf("auction %d: category %d", n, a.Category)
				}
				if a.Expires <= a.DateTime || a.Reserve < a.InitialBid {
					t.Fatalf("auction %d: %+v", n, a)
				}
			case KindBid:
				b := g.Bid(n)
				bids++
				auction := b.Auction - 1000
				switch {
				case auction == lastA/100*100:
					hotAuction++
				case auction >= max(lastA-100, 0) && auction <= lastA+10:
				default:
					t.Fatalf("bid %d: auction %d outside in-flight auctions (last %d)", n, b.Auction, lastA+1000)
				}
				// nexmark-flink adds FIRST_PERSON_ID twice to bidders.
				bidder := b.Bidder - 2000
				active := min(m.persons, 1000)
				switch {
				case bidder == lastP/100*100+1:
					hotBidder++
				case bidder >= m.persons-active && bidder < m.persons+10:
				default:
					t.Fatalf("bid %d: bidder %d outside active people (%d people)", n, b.Bidder, m.persons)
				}
				if b.Price < 100 || b.Price > 100_000_000 {
					t.Fatalf("bid %d: price %d", n, b.Price)
				}
			}
		}
		// P(hot) = 1 - 1/ratio, plus the small chance a random pick is the
		// hot one.
		check := func(name string, hot, of int, want, tol float64) {
			f := float64(hot) / float64(of)
			if math.Abs(f-want) > tol {
				t.Errorf("seed %d: %s fraction %.4f, want %.4f±%.4f", seed, name, f, want, tol)
			}
		}
		check("hot auction", hotAuction, bids, 0.5+0.5/111, 0.006)
		check("hot bidder", hotBidder, bids, 0.75+0.25/1010, 0.004)
		check("hot seller", hotSeller, auctions, 0.75+0.25/1010, 0.02)
	}
}

// TestExtraSizes: the idealized size (8 bytes per number, string lengths)
// averages the configured sizes.
func TestExtraSizes(t *testing.T) {
	for _, c := range []Config{{}, {AvgPersonSize: 1000, AvgAuctionSize: 2000, AvgBidSize: 300}} {
		g := mustGen(t, c)
		c = g.Config()
		var sum [3]float64
		var cnt [3]int
		for n := int64(0); n < 200_000; n++ {
			switch k := g.KindOf(n); k {
			case KindPerson:
				p := g.Person(n)
				sum[k] += float64(8 + len(p.Name) + len(p.EmailAddress) + len(p.CreditCard) + len(p.City) + len(p.State) + len(p.Extra))
				cnt[k]++
			case KindAuction:
				a := g.Auction(n)
				sum[k] += float64(8 + len(a.ItemName) + len(a.Description) + 40 + len(a.Extra))
				cnt[k]++
			case KindBid:
				b := g.Bid(n)
				sum[k] += float64(32 + len(b.Extra))
				cnt[k]++
			}
		}
		for k, want := range []int64{c.AvgPersonSize, c.AvgAuctionSize, c.AvgBidSize} {
			avg := sum[k] / float64(cnt[k])
			if math.Abs(avg-float64(want)) > 0.01*float64(want)+1 {
				t.Errorf("%v: average size %.2f, want %d", Kind(k), avg, want)
			}
		}
	}
}

// TestStrings checks the shapes of generated strings.
func TestStrings(t *testing.T) {
	g := mustGen(t, Config{})
	hot := map[string]int{}
	bids := 0
	for n := int64(0); n < 100_000; n++ {
		switch g.KindOf(n) {
		case KindPerson:
			p := g.Person(n)
			if len(p.CreditCard) != 19 || strings.Count(p.CreditCard, " ") != 3 {
				t.Fatalf("credit card %q", p.CreditCard)
			}
			if !strings.HasSuffix(p.EmailAddress, ".com") || strings.Count(p.EmailAddress, "@") != 1 {
				t.Fatalf("email %q", p.EmailAddress)
			}
			if strings.TrimSpace(p.Name) != p.Name || !strings.Contains(p.Name, " ") {
				t.Fatalf("name %q", p.Name)
			}
		case KindAuction:
			a := g.Auction(n)
			if a.ItemName != strings.TrimSpace(a.ItemName) || len(a.ItemName) > 19 || len(a.Description) > 99 {
				t.Fatalf("auction strings %q %q", a.ItemName, a.Description)
			}
		case KindBid:
			b := g.Bid(n)
			bids++
			if !strings.HasPrefix(b.URL, "https://www.nexmark.com/") {
				t.Fatalf("url %q", b.URL)
			}
			if strings.HasPrefix(b.Channel, "channel-") {
				continue
			}
			hot[b.Channel]++
		}
	}
	// Half the bids use one of the 4 hot channels, equally often.
	if len(hot) != 4 {
		t.Fatalf("hot channels %v", hot)
	}
	for c, k := range hot {
		if f := float64(k) / float64(bids); math.Abs(f-0.125) > 0.006 {
			t.Errorf("hot channel %s: fraction %.4f, want 0.125", c, f)
		}
	}
}

// TestTimestamps: event time is monotone and follows first_event_rate.
func TestTimestamps(t *testing.T) {
	for _, rate := range []float64{10000, 1000, 3, 1e7} {
		base := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
		g := mustGen(t, Config{FirstEventRate: rate, BaseTime: base.Format(time.RFC3339)})
		prev := int64(math.MinInt64)
		for _, n := range []int64{0, 1, 2, 3, 10, 999, 1000, 12345, 1 << 20, 1 << 30} {
			ts := g.Timestamp(n)
			if ts < prev {
				t.Fatalf("rate %v: timestamp of %d went back", rate, n)
			}
			prev = ts
			want := float64(base.UnixMilli()) + float64(n+1)*1000/rate
			if math.Abs(float64(ts)-want) > 1 {
				t.Errorf("rate %v: timestamp of %d = %d, want ≈ %.1f", rate, n, ts, want)
			}
		}
		for n := int64(0); n < 10000; n++ {
			if g.Timestamp(n+1) < g.Timestamp(n) {
				t.Fatalf("rate %v: not monotone at %d", rate, n)
			}
		}
	}
}

// TestSeedChangesEvents: the seed option changes the random fields but not
// the structure (kinds, ids, timestamps).
func TestSeedChangesEvents(t *testing.T) {
	g0, g1 := mustGen(t, Config{}), mustGen(t, Config{Seed: 7})
	same := 0
	for n := int64(0); n < 1000; n++ {
		if g0.KindOf(n) != g1.KindOf(n) || g0.Timestamp(n) != g1.Timestamp(n) {
			t.Fatal("seed changed the structure")
		}
		if g0.KindOf(n) == KindBid && g0.Bid(n) == g1.Bid(n) {
			same++
		}
	}
	if same > 10 {
		t.Errorf("%d of ~920 bids equal under different seeds", same)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		opts map[string]any
		want []string
	}{
		{map[string]any{"events": -5}, []string{`"events"`, "-5"}},
		{map[string]any{"stream": "bids"}, []string{`"stream"`, `"bids"`}},
		{map[string]any{"base_time": "yesterday"}, []string{`"base_time"`, `"yesterday"`}},
		{map[string]any{"rate": -1}, []string{`"rate"`, "-1"}},
		{map[string]any{"hot_auction_ratio": -2}, []string{`"hot_auction_ratio"`, "-2"}},
		{map[string]any{"evnts": 3}, []string{`"evnts"`, "unknown"}},
		{map[string]any{"events": "many"}, []string{`"events"`, `"many"`}},
		{map[string]any{"events": -1, "stream": "x"}, []string{`"events"`, `"stream"`}},
	} {
		_, err := ParseConfig(c.opts)
		if err == nil {
			t.Errorf("%v: no error", c.opts)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %s", c.opts, err, w)
			}
		}
	}
	if _, err := ParseConfig(map[string]any{"stream": "person", "events": 10, "base_time": "2020-01-01T00:00:00Z", "seed": 3, "rate": 100}); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
