package nexmark

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Stream names one of the three typed Nexmark streams.
type Stream string

// The three streams. A source emits exactly one of them.
const (
	StreamPerson  Stream = "person"
	StreamAuction Stream = "auction"
	StreamBid     Stream = "bid"
)

// DefaultBaseTime is the event time of event number 0 when base_time is not
// set. nexmark-flink uses the wall clock at job start; we use a fixed instant
// so that runs are reproducible.
const DefaultBaseTime = "2024-01-01T00:00:00Z"

// Config is the nexmark source's configuration, decoded from the job spec's
// options (see doc.go for the table). The zero value of every numeric field
// means "the nexmark-flink default"; negative values are errors.
type Config struct {
	// Stream is which typed stream the source emits: person, auction or bid.
	// Defaults to bid.
	Stream Stream `json:"stream"`
	// Events bounds the source to event numbers [0, Events). 0 is unbounded.
	Events int64 `json:"events"`
	// Rate limits the source to this many events per second of wall time
	// (counted in the event-number space, over all splits together). 0 is as
	// fast as possible.
	Rate float64 `json:"rate"`
	// FirstEventRate is the event-time rate, events per second of event
	// time, as nexmark-flink's first-event.rate. Defaults to Rate when Rate is
	// set (so event time keeps pace with wall time), else to 10000.
	FirstEventRate float64 `json:"first_event_rate"`
	// BaseTime is the event time of event number 0, RFC 3339. Defaults to
	// DefaultBaseTime.
	BaseTime string `json:"base_time"`
	// Seed is mixed into every per-event random seed. 0 gives exactly
	// nexmark-flink's events.
	Seed int64 `json:"seed"`

	// PersonProportion, AuctionProportion and BidProportion are the event
	// mix. Defaults 1, 3 and 46.
	PersonProportion  int64 `json:"person_proportion"`
	AuctionProportion int64 `json:"auction_proportion"`
	BidProportion     int64 `json:"bid_proportion"`
	// AvgPersonSize, AvgAuctionSize and AvgBidSize are the average idealized
	// event sizes in bytes that the extra column pads to. Defaults 200, 500
	// and 100.
	AvgPersonSize  int64 `json:"avg_person_size"`
	AvgAuctionSize int64 `json:"avg_auction_size"`
	AvgBidSize     int64 `json:"avg_bid_size"`
	// HotAuctionRatio, HotBiddersRatio and HotSellersRatio: a bid goes to a
	// hot auction, a bid comes from a hot bidder, an auction comes from a hot
	// seller with probability 1 - 1/ratio. Defaults 2, 4 and 4.
	HotAuctionRatio int64 `json:"hot_auction_ratio"`
	HotBiddersRatio int64 `json:"hot_bidders_ratio"`
	HotSellersRatio int64 `json:"hot_sellers_ratio"`
	// NumInFlightAuctions is the number of recent auctions bids may refer to.
	// Default 100.
	NumInFlightAuctions int64 `json:"num_in_flight_auctions"`
	// NumActivePeople is the number of recent people auctions and bids may
	// refer to. Default 1000.
	NumActivePeople int64 `json:"num_active_people"`
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	def := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Stream == "" {
		c.Stream = StreamBid
	}
	if c.FirstEventRate == 0 {
		if c.Rate > 0 {
			c.FirstEventRate = c.Rate
		} else {
			c.FirstEventRate = 10000
		}
	}
	if c.BaseTime == "" {
		c.BaseTime = DefaultBaseTime
	}
	def(&c.PersonProportion, 1)
	def(&c.AuctionProportion, 3)
	def(&c.BidProportion, 46)
	def(&c.AvgPersonSize, 200)
	def(&c.AvgAuctionSize, 500)
	def(&c.AvgBidSize, 100)
	def(&c.HotAuctionRatio, 2)
	def(&c.HotBiddersRatio, 4)
	def(&c.HotSellersRatio, 4)
	def(&c.NumInFlightAuctions, 100)
	def(&c.NumActivePeople, 1000)
	return c
}

// validate checks a config that has had its defaults applied. Every error
// names the option and the value.
func (c Config) validate() (baseTime time.Time, err error) {
	switch c.Stream {
	case StreamPerson, StreamAuction, StreamBid:
	default:
		err = errors.Join(err, fmt.Errorf("option %q: unknown stream %q (want person, auction or bid)", "stream", c.Stream))
	}
	if c.Events < 0 {
		err = errors.Join(err, fmt.Errorf("option %q: value %d is negative", "events", c.Events))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		err = errors.Join(err, fmt.Errorf("option %q: value %v must be a finite number >= 0", "rate", c.Rate))
	}
	if !(c.FirstEventRate > 0) || math.IsInf(c.FirstEventRate, 0) {
		err = errors.Join(err, fmt.Errorf("option %q: value %v must be a finite number > 0", "first_event_rate", c.FirstEventRate))
	}
	baseTime, perr := time.Parse(time.RFC3339Nano, c.BaseTime)
	if perr != nil {
		err = errors.Join(err, fmt.Errorf("option %q: value %q is not an RFC 3339 time: %w", "base_time", c.BaseTime, perr))
	}
	for _, f := range []struct {
		name string
		v    int64
		max  int64
	}{
		{"person_proportion", c.PersonProportion, 1 << 20},
		{"auction_proportion", c.AuctionProportion, 1 << 20},
		{"bid_proportion", c.BidProportion, 1 << 20},
		{"avg_person_size", c.AvgPersonSize, 1 << 24},
		{"avg_auction_size", c.AvgAuctionSize, 1 << 24},
		{"avg_bid_size", c.AvgBidSize, 1 << 24},
		{"hot_auction_ratio", c.HotAuctionRatio, math.MaxInt32},
		{"hot_bidders_ratio", c.HotBiddersRatio, math.MaxInt32},
		{"hot_sellers_ratio", c.HotSellersRatio, math.MaxInt32},
		{"num_in_flight_auctions", c.NumInFlightAuctions, 1 << 30},
		{"num_active_people", c.NumActivePeople, 1 << 30},
	} {
		if f.v < 1 || f.v > f.max {
			err = errors.Join(err, fmt.Errorf("option %q: value %d is out of range [1, %d]", f.name, f.v, f.max))
		}
	}
	return baseTime, err
}

// ParseConfig decodes connector options into a Config, applies defaults and
// validates it.
func ParseConfig(opts map[string]any) (Config, error) {
	var c Config
	if err := decodeOptions(opts, &c); err != nil {
		return Config{}, err
	}
	c = c.withDefaults()
	if _, err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
