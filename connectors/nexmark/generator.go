package nexmark

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"sync"
)

// Constants of nexmark-flink's generator (GeneratorConfig, PersonGenerator,
// AuctionGenerator, BidGenerator).
const (
	// firstEventID and firstEventNumber are what nexmark-flink's table
	// source passes to GeneratorConfig: event number n (0-based, ours) is
	// nexmark event number n+1 and event id n+2.
	firstEventID     = 1
	firstEventNumber = 1

	firstAuctionID  = 1000
	firstPersonID   = 1000
	firstCategoryID = 10

	// hotBatch is HOT_AUCTION_RATIO, HOT_BIDDER_RATIO and HOT_SELLER_RATIO:
	// a hot auction/bidder/seller is the first (bidder: second) id of the
	// last batch of 100.
	hotBatch = 100

	personIDLead  = 10
	auctionIDLead = 10
	numCategories = 5

	hotChannelsRatio = 2
	channelsNumber   = 10000

	minStringLength = 3
)

var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	hotChannel = []string{"Google", "Facebook", "Baidu", "Apple"}
)

// Kind is the type of one event.
type Kind uint8

// The event kinds.
const (
	KindPerson Kind = iota
	KindAuction
	KindBid
)

func (k Kind) String() string {
	switch k {
	case KindPerson:
		return "person"
	case KindAuction:
		return "auction"
	case KindBid:
		return "bid"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Person is a new person event. Times are milliseconds since the Unix epoch.
type Person struct {
	ID           int64
	Name         string
	EmailAddress string
	CreditCard   string
	City         string
	State        string
	DateTime     int64
	Extra        string
}

// Auction is a new auction event. Times are milliseconds since the Unix epoch.
type Auction struct {
	ID          int64
	ItemName    string
	Description string
	InitialBid  int64
	Reserve     int64
	DateTime    int64
	Expires     int64
	Seller      int64
	Category    int64
	Extra       string
}

// Bid is a bid event. DateTime is milliseconds since the Unix epoch.
type Bid struct {
	Auction  int64
	Bidder   int64
	Price    int64
	Channel  string
	URL      string
	DateTime int64
	Extra    string
}

// Event is one generated event; exactly the field named by Kind is set.
type Event struct {
	Kind    Kind
	Person  Person
	Auction Auction
	Bid     Bid
}

// Generator computes Nexmark events from their global event number. It holds
// only immutable derived configuration, so it is safe for concurrent use, and
// every method is a pure function of the config and the event number.
type Generator struct {
	cfg Config

	personProp, auctionProp, total int64
	delayUs                        float64 // interEventDelayUs
	baseMs                         int64
	seedMix                        int64
	avgPerson, avgAuction, avgBid  int32
	hotAuction, hotBidders         int32
	hotSellers                     int32
	inFlight, activePeople         int64
	auctionEventsAhead             int64 // events until numInFlightAuctions more auctions
	maxEvents                      int64 // exclusive bound on event numbers
	chans                          *channelTable
}

// NewGenerator returns a generator for cfg (defaults applied, validated).
func NewGenerator(cfg Config) (*Generator, error) {
	cfg = cfg.withDefaults()
	base, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:          cfg,
		personProp:   cfg.PersonProportion,
		auctionProp:  cfg.AuctionProportion,
		total:        cfg.PersonProportion + cfg.AuctionProportion + cfg.BidProportion,
		delayUs:      1000000.0 / cfg.FirstEventRate,
		baseMs:       base.UnixMilli(),
		avgPerson:    int32(cfg.AvgPersonSize),
		avgAuction:   int32(cfg.AvgAuctionSize),
		avgBid:       int32(cfg.AvgBidSize),
		hotAuction:   int32(cfg.HotAuctionRatio),
		hotBidders:   int32(cfg.HotBiddersRatio),
		hotSellers:   int32(cfg.HotSellersRatio),
		inFlight:     cfg.NumInFlightAuctions,
		activePeople: cfg.NumActivePeople,
		chans:        channels(),
	}
	if cfg.Seed != 0 {
		g.seedMix = int64(splitmix64(uint64(cfg.Seed)))
	}
	g.auctionEventsAhead = g.inFlight * g.total / g.auctionProp
	// nexmark-flink's bound for "unbounded": Long.MAX_VALUE / (total * max avg size).
	maxAvg := max(cfg.AvgPersonSize, cfg.AvgAuctionSize, cfg.AvgBidSize)
	g.maxEvents = math.MaxInt64 / (g.total * maxAvg)
	if cfg.Events > 0 {
		g.maxEvents = cfg.Events
	}
	return g, nil
}

// Config returns the generator's configuration with defaults applied.
func (g *Generator) Config() Config { return g.cfg }

// MaxEvents returns the exclusive upper bound of event numbers: the events
// option, or nexmark-flink's overflow-safe maximum when it is 0.
func (g *Generator) MaxEvents() int64 { return g.maxEvents }

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// eventID is nexmark's event id of event number n.
func eventID(n int64) int64 { return n + firstEventNumber + firstEventID }

// random returns the per-event generator: new Random(eventId), with the seed
// option mixed in.
func (g *Generator) random(id int64) jrand { return newJRand(id ^ g.seedMix) }

// KindOf returns the kind of event number n.
func (g *Generator) KindOf(n int64) Kind {
	rem := eventID(n) % g.total
	switch {
	case rem < g.personProp:
		return KindPerson
	case rem < g.personProp+g.auctionProp:
		return KindAuction
	}
	return KindBid
}

// Timestamp returns the event time of event number n in milliseconds since
// the Unix epoch: GeneratorConfig.timestampForEvent of nexmark event number
// n+1, baseTime + (long)(eventNumber * interEventDelayUs) / 1000.
func (g *Generator) Timestamp(n int64) int64 {
	return g.timestampForEventNumber(n + firstEventNumber)
}

func (g *Generator) timestampForEventNumber(en int64) int64 {
	return g.baseMs + int64(float64(en)*g.delayUs)/1000
}

// lastBase0PersonID is PersonGenerator.lastBase0PersonId.
func (g *Generator) lastBase0PersonID(id int64) int64 {
	epoch, off := id/g.total, id%g.total
	if off >= g.personProp {
		off = g.personProp - 1
	}
	return epoch*g.personProp + off
}

// lastBase0AuctionID is AuctionGenerator.lastBase0AuctionId.
func (g *Generator) lastBase0AuctionID(id int64) int64 {
	epoch, off := id/g.total, id%g.total
	switch {
	case off < g.personProp:
		epoch--
		off = g.auctionProp - 1
	case off >= g.personProp+g.auctionProp:
		off = g.auctionProp - 1
	default:
		off -= g.personProp
	}
	return epoch*g.auctionProp + off
}

// nextBase0PersonID is PersonGenerator.nextBase0PersonId.
func (g *Generator) nextBase0PersonID(id int64, r *jrand) int64 {
	numPeople := g.lastBase0PersonID(id) + 1
	active := min(numPeople, g.activePeople)
	n := r.nextLongn(active + personIDLead)
	return numPeople - active + n
}

// nextBase0AuctionID is AuctionGenerator.nextBase0AuctionId.
func (g *Generator) nextBase0AuctionID(id int64, r *jrand) int64 {
	maxA := g.lastBase0AuctionID(id)
	minA := max(maxA-g.inFlight, 0)
	return minA + r.nextLongn(maxA-minA+1+auctionIDLead)
}

// nextPrice is PriceGenerator.nextPrice: Math.round(10^(d*6) * 100).
func nextPrice(r *jrand) int64 {
	return javaRound(pow10(r.nextDouble()*6.0) * 100.0)
}

var ln10 = math.Log(10)

// pow10 returns exactly math.Pow(10, y) for 0 <= y < 2^63, doing the same
// floating-point operations as Go's portable pow (which matches Java's
// Math.pow on the reference prices) minus the Log(10) call and the special
// cases that cannot arise. TestPow10 checks it against math.Pow.
func pow10(y float64) float64 {
	switch y {
	case 0:
		return 1
	case 1:
		return 10
	case 0.5:
		return math.Sqrt(10)
	}
	yi, yf := math.Modf(y)
	a1 := 1.0
	ae := 0
	if yf != 0 {
		if yf > 0.5 {
			yf--
			yi++
		}
		a1 = math.Exp(yf * ln10)
	}
	x1, xe := 0.625, 4 // math.Frexp(10)
	for i := int64(yi); i != 0; i >>= 1 {
		if i&1 == 1 {
			a1 *= x1
			ae += xe
		}
		x1 *= x1
		xe <<= 1
		if x1 < .5 {
			x1 += x1
			xe--
		}
	}
	return math.Ldexp(a1, ae)
}

// javaRound is Math.round(double): the closest long, ties towards +Inf.
func javaRound(x float64) int64 {
	f := math.Floor(x)
	if x-f >= 0.5 {
		f++
	}
	return int64(f)
}

// appendNextString is StringsGenerator.nextString(random, maxLength, special),
// including the final trim() (which only removes the space special char).
func appendNextString(dst []byte, r *jrand, maxLength int32, special byte) []byte {
	n := int(minStringLength + r.nextIntn(maxLength-minStringLength))
	start := len(dst)
	dst = dst[:start+n]
	d := dst[start:]
	for i := range d {
		if r.nextIntn(13) == 0 {
			d[i] = special
		} else {
			d[i] = byte('a' + r.nextIntn(26))
		}
	}
	if special != ' ' {
		return dst
	}
	lo, hi := 0, n
	for lo < hi && d[lo] == ' ' {
		lo++
	}
	for hi > lo && d[hi-1] == ' ' {
		hi--
	}
	if lo > 0 {
		copy(d, d[lo:hi])
	}
	return dst[:start+hi-lo]
}

// appendExactString is StringsGenerator.nextExactString: six characters per
// nextInt() rnd, 'a' + rnd%26 with rnd /= 26 between them. Java's remainder
// keeps the sign of rnd, so a negative rnd gives characters below 'a'.
//
// For speed we split |rnd| into base-676 digits and look up two characters
// at a time; the result is the same as six divisions by 26.
func appendExactString(dst []byte, r *jrand, length int) []byte {
	start := len(dst)
	dst = dst[:start+length]
	d := dst[start:]
	pairs := &charPairs
	for len(d) >= 8 {
		// Two bytes of slack: store 8, keep 6.
		rnd := r.nextInt()
		t := &pairs[0]
		u := uint32(rnd)
		if rnd < 0 {
			t = &pairs[1]
			u = -u
		}
		q := u / 676
		p0 := uint64(t[u-q*676])
		u = q / 676
		p1 := uint64(t[q-u*676])
		p2 := uint64(t[u%676]) // the 6th char is a remainder too: u may exceed 26^2
		binary.LittleEndian.PutUint64(d, p0|p1<<16|p2<<32)
		d = d[6:]
	}
	for len(d) >= 6 {
		rnd := r.nextInt()
		t := &pairs[0]
		u := uint32(rnd)
		if rnd < 0 {
			t = &pairs[1]
			u = -u
		}
		q := u / 676
		p0 := t[u-q*676]
		u = q / 676
		p1 := t[q-u*676]
		p2 := t[u%676]
		w := d[:6]
		w[0], w[1], w[2], w[3], w[4], w[5] = byte(p0), byte(p0>>8), byte(p1), byte(p1>>8), byte(p2), byte(p2>>8)
		d = d[6:]
	}
	if len(d) > 0 {
		rnd := r.nextInt()
		for i := range d {
			d[i] = byte('a' + rnd%26)
			rnd /= 26
		}
	}
	return dst
}

// charPairs[0][x] are the two characters that the base-26 digits of x give
// ('a'+x%26, 'a'+x/26); charPairs[1] the same for a negative rnd ('a'-...).
var charPairs = func() (t [2][676]uint16) {
	for x := range 676 {
		t[0][x] = uint16('a'+x%26) | uint16('a'+x/26)<<8
		t[1][x] = uint16('a'-x%26) | uint16('a'-x/26)<<8
	}
	return t
}()

// extraLen is the length StringsGenerator.nextExtra draws (consuming the
// same random values).
func extraLen(r *jrand, currentSize, desiredAverageSize int32) int {
	if currentSize > desiredAverageSize {
		return 0
	}
	desired := desiredAverageSize - currentSize
	delta := int32(javaRound(float64(desired) * 0.2))
	size := desired - delta
	if delta != 0 {
		size += r.nextIntn(2 * delta)
	}
	return int(size)
}

// maxExtraLen bounds extraLen for any currentSize >= 0.
func maxExtraLen(avg int32) int {
	delta := int(javaRound(float64(avg) * 0.2))
	return int(avg) + delta
}

// appendExtra is StringsGenerator.nextExtra.
func appendExtra(dst []byte, r *jrand, currentSize, avg int32) []byte {
	return appendExactString(dst, r, extraLen(r, currentSize, avg))
}

// personRow holds a person's fixed-size fields; its strings are appended to
// caller-provided byte slices.
type personRow struct {
	id, dateTime       int64
	first, last        uint8
	city, state        uint8
	cc                 [4]int16
	emailLen, extraLen int
}

// person computes person event n (which must be of KindPerson). The email
// address is appended to email and the extra column to extra; both must have
// capacity for maxPersonEmail and maxExtraLen(avg) more bytes.
func (g *Generator) person(n int64, p *personRow, email, extra []byte) ([]byte, []byte) {
	id := eventID(n)
	r := g.random(id)
	p.id = g.lastBase0PersonID(id) + firstPersonID
	p.dateTime = g.Timestamp(n)
	p.first = uint8(r.nextIntn(int32(len(firstNames))))
	p.last = uint8(r.nextIntn(int32(len(lastNames))))
	e0 := len(email)
	email = appendNextString(email, &r, 7, ' ')
	email = append(email, '@')
	email = appendNextString(email, &r, 5, ' ')
	email = append(email, ".com"...)
	p.emailLen = len(email) - e0
	for i := range p.cc {
		p.cc[i] = int16(r.nextIntn(10000))
	}
	p.city = uint8(r.nextIntn(int32(len(usCities))))
	p.state = uint8(r.nextIntn(int32(len(usStates))))
	nameLen := len(firstNames[p.first]) + 1 + len(lastNames[p.last])
	const ccLen = 19
	cur := 8 + nameLen + p.emailLen + ccLen + len(usCities[p.city]) + len(usStates[p.state])
	x0 := len(extra)
	extra = appendExtra(extra, &r, int32(cur), g.avgPerson)
	p.extraLen = len(extra) - x0
	return email, extra
}

const (
	maxPersonName  = 6 + 1 + 7
	maxPersonEmail = 6 + 1 + 4 + 4
	maxCity        = 13
	creditCardLen  = 19
	maxItemName    = 19
	maxDescription = 99
	maxChannel     = len("channel-9999")
)

// appendCreditCard formats four 4-digit groups separated by spaces.
func appendCreditCard(dst []byte, cc *[4]int16) []byte {
	for i, v := range cc {
		if i > 0 {
			dst = append(dst, ' ')
		}
		x := int(v)
		dst = append(dst, byte('0'+x/1000), byte('0'+x/100%10), byte('0'+x/10%10), byte('0'+x%10))
	}
	return dst
}

// auctionRow holds an auction's fixed-size fields.
type auctionRow struct {
	id, initialBid, reserve, dateTime, expires, seller, category int64
}

// auction computes auction event n (which must be of KindAuction), appending
// its item name, description and extra to the given slices, which must have
// capacity for maxItemName, maxDescription and maxExtraLen(avg) more bytes.
func (g *Generator) auction(n int64, a *auctionRow, name, desc, extra []byte) ([]byte, []byte, []byte) {
	id := eventID(n)
	r := g.random(id)
	a.id = g.lastBase0AuctionID(id) + firstAuctionID
	ts := g.Timestamp(n)
	a.dateTime = ts
	if r.nextIntn(g.hotSellers) > 0 {
		a.seller = (g.lastBase0PersonID(id) / hotBatch) * hotBatch
	} else {
		a.seller = g.nextBase0PersonID(id, &r)
	}
	a.seller += firstPersonID
	a.category = firstCategoryID + int64(r.nextIntn(numCategories))
	a.initialBid = nextPrice(&r)
	// nextAuctionLengthMs: the auction lasts on average until the auction
	// numInFlightAuctions ahead is generated.
	future := g.timestampForEventNumber(n + firstEventNumber + g.auctionEventsAhead)
	horizon := future - ts
	a.expires = ts + 1 + r.nextLongn(max(horizon*2, 1))
	n0, d0 := len(name), len(desc)
	name = appendNextString(name, &r, 20, ' ')
	desc = appendNextString(desc, &r, 100, ' ')
	a.reserve = a.initialBid + nextPrice(&r)
	cur := 8 + (len(name) - n0) + (len(desc) - d0) + 8 + 8 + 8 + 8 + 8
	extra = appendExtra(extra, &r, int32(cur), g.avgAuction)
	return name, desc, extra
}

// bidRow holds a bid's fixed-size fields; channel indexes the channel table.
type bidRow struct {
	auction, bidder, price, dateTime int64
	channel                          int32
}

// bid computes bid event n (which must be of KindBid), appending its extra
// column to extra, which must have capacity for maxExtraLen(avg) more bytes.
func (g *Generator) bid(n int64, b *bidRow, extra []byte) []byte {
	id := eventID(n)
	r := g.random(id)
	if r.nextIntn(g.hotAuction) > 0 {
		b.auction = (g.lastBase0AuctionID(id) / hotBatch) * hotBatch
	} else {
		b.auction = g.nextBase0AuctionID(id, &r)
	}
	b.auction += firstAuctionID
	if r.nextIntn(g.hotBidders) > 0 {
		// The second person of the batch, so hot bidders and hot sellers
		// differ.
		b.bidder = (g.lastBase0PersonID(id)/hotBatch)*hotBatch + 1
	} else {
		b.bidder = g.nextBase0PersonID(id, &r)
	}
	b.bidder += firstPersonID
	b.price = nextPrice(&r)
	if r.nextIntn(hotChannelsRatio) > 0 {
		b.channel = channelsNumber + r.nextIntn(int32(len(hotChannel)))
	} else {
		b.channel = r.nextIntn(channelsNumber)
	}
	// nexmark-flink's BidGenerator adds FIRST_PERSON_ID to the bidder a
	// second time here; we keep it so that our bids equal theirs.
	b.bidder += firstPersonID
	b.dateTime = g.Timestamp(n)
	return appendExtra(extra, &r, 8+8+8+8, g.avgBid)
}

// channelTable holds the channel names and urls of the 10000 ordinary
// channels followed by the 4 hot ones.
type channelTable struct {
	name, url [][]byte
	maxURL    int
}

var channels = sync.OnceValue(buildChannels)

// buildChannels builds the channel table. nexmark-flink draws the urls from
// unseeded Randoms once per JVM (so they differ between runs); we seed them
// with the channel number so that they are the same everywhere.
func buildChannels() *channelTable {
	t := &channelTable{
		name: make([][]byte, channelsNumber+len(hotChannel)),
		url:  make([][]byte, channelsNumber+len(hotChannel)),
	}
	baseURL := func(r *jrand) []byte {
		u := make([]byte, 0, 80)
		u = append(u, "https://www.nexmark.com/"...)
		for range 3 {
			u = appendNextString(u, r, 5, '_')
			u = append(u, '/')
		}
		return append(u, "item.htm?query=1"...)
	}
	for c := range channelsNumber {
		r := newJRand(int64(c))
		u := baseURL(&r)
		if r.nextIntn(10) > 0 {
			v := int32(bits.Reverse32(uint32(c)))
			if v < 0 {
				v = -v // Math.abs: MinInt32 stays negative, as in Java
			}
			u = append(u, "&channel_id="...)
			u = strconv.AppendInt(u, int64(v), 10)
		}
		t.name[c] = strconv.AppendInt([]byte("channel-"), int64(c), 10)
		t.url[c] = u
	}
	for i, h := range hotChannel {
		r := newJRand(-1 - int64(i))
		t.name[channelsNumber+i] = []byte(h)
		t.url[channelsNumber+i] = baseURL(&r)
	}
	// Pack the hot entries first, then the rest, into one arena for cache
	// locality.
	size := 0
	for c := range t.url {
		t.maxURL = max(t.maxURL, len(t.url[c]))
		size += len(t.url[c]) + len(t.name[c])
	}
	arena := make([]byte, 0, size)
	pack := func(b []byte) []byte {
		arena = append(arena, b...)
		return arena[len(arena)-len(b) : len(arena) : len(arena)]
	}
	for c := len(t.url) - 1; c >= 0; c-- {
		t.name[c], t.url[c] = pack(t.name[c]), pack(t.url[c])
	}
	return t
}

// Person returns person event n. It panics unless KindOf(n) == KindPerson.
func (g *Generator) Person(n int64) Person {
	g.mustKind(n, KindPerson)
	var p personRow
	email, extra := g.person(n, &p, make([]byte, 0, maxPersonEmail), make([]byte, 0, maxExtraLen(g.avgPerson)))
	var cc []byte
	cc = appendCreditCard(cc, &p.cc)
	return Person{
		ID:           p.id,
		Name:         firstNames[p.first] + " " + lastNames[p.last],
		EmailAddress: string(email),
		CreditCard:   string(cc),
		City:         usCities[p.city],
		State:        usStates[p.state],
		DateTime:     p.dateTime,
		Extra:        string(extra),
	}
}

// Auction returns auction event n. It panics unless KindOf(n) == KindAuction.
func (g *Generator) Auction(n int64) Auction {
	g.mustKind(n, KindAuction)
	var a auctionRow
	name, desc, extra := g.auction(n, &a, make([]byte, 0, maxItemName), make([]byte, 0, maxDescription), make([]byte, 0, maxExtraLen(g.avgAuction)))
	return Auction{
		ID: a.id, ItemName: string(name), Description: string(desc),
		InitialBid: a.initialBid, Reserve: a.reserve, DateTime: a.dateTime, Expires: a.expires,
		Seller: a.seller, Category: a.category, Extra: string(extra),
	}
}

// Bid returns bid event n. It panics unless KindOf(n) == KindBid.
func (g *Generator) Bid(n int64) Bid {
	g.mustKind(n, KindBid)
	var b bidRow
	extra := g.bid(n, &b, make([]byte, 0, maxExtraLen(g.avgBid)))
	return Bid{
		Auction: b.auction, Bidder: b.bidder, Price: b.price,
		Channel: string(g.chans.name[b.channel]), URL: string(g.chans.url[b.channel]),
		DateTime: b.dateTime, Extra: string(extra),
	}
}

// Event returns event n, whatever its kind.
func (g *Generator) Event(n int64) Event {
	e := Event{Kind: g.KindOf(n)}
	switch e.Kind {
	case KindPerson:
		e.Person = g.Person(n)
	case KindAuction:
		e.Auction = g.Auction(n)
	default:
		e.Bid = g.Bid(n)
	}
	return e
}

func (g *Generator) mustKind(n int64, k Kind) {
	if got := g.KindOf(n); got != k {
		panic("nexmark: event " + strconv.FormatInt(n, 10) + " is a " + got.String() + ", not a " + k.String())
	}
}
