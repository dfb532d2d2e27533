package nexmark

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TimestampType is the Arrow type of every dateTime/expires column: Flink's
// TIMESTAMP(3) holds nexmark's Instants, so we use milliseconds and label the
// values as UTC.
var TimestampType = arrow.FixedWidthTypes.Timestamp_ms

func nonNull(name string, t arrow.DataType) arrow.Field {
	return arrow.Field{Name: name, Type: t, Nullable: false}
}

var (
	personSchema = arrow.NewSchema([]arrow.Field{
		nonNull("id", arrow.PrimitiveTypes.Int64),
		nonNull("name", arrow.BinaryTypes.String),
		nonNull("emailAddress", arrow.BinaryTypes.String),
		nonNull("creditCard", arrow.BinaryTypes.String),
		nonNull("city", arrow.BinaryTypes.String),
		nonNull("state", arrow.BinaryTypes.String),
		nonNull("dateTime", TimestampType),
		nonNull("extra", arrow.BinaryTypes.String),
	}, nil)
	auctionSchema = arrow.NewSchema([]arrow.Field{
		nonNull("id", arrow.PrimitiveTypes.Int64),
		nonNull("itemName", arrow.BinaryTypes.String),
		nonNull("description", arrow.BinaryTypes.String),
		nonNull("initialBid", arrow.PrimitiveTypes.Int64),
		nonNull("reserve", arrow.PrimitiveTypes.Int64),
		nonNull("dateTime", TimestampType),
		nonNull("expires", TimestampType),
		nonNull("seller", arrow.PrimitiveTypes.Int64),
		nonNull("category", arrow.PrimitiveTypes.Int64),
		nonNull("extra", arrow.BinaryTypes.String),
	}, nil)
	bidSchema = arrow.NewSchema([]arrow.Field{
		nonNull("auction", arrow.PrimitiveTypes.Int64),
		nonNull("bidder", arrow.PrimitiveTypes.Int64),
		nonNull("price", arrow.PrimitiveTypes.Int64),
		nonNull("channel", arrow.BinaryTypes.String),
		nonNull("url", arrow.BinaryTypes.String),
		nonNull("dateTime", TimestampType),
		nonNull("extra", arrow.BinaryTypes.String),
	}, nil)
)

// Schema returns the Arrow schema of stream s (nil for an unknown stream).
// Column names are nexmark-flink's; every column is non-nullable. The
// returned schema is shared and must not be modified.
func Schema(s Stream) *arrow.Schema {
	switch s {
	case StreamPerson:
		return personSchema
	case StreamAuction:
		return auctionSchema
	case StreamBid:
		return bidSchema
	}
	return nil
}

// i64Col is an int64 (or timestamp) column written by index into a buffer
// from the allocator.
type i64Col struct {
	buf *memory.Buffer
	v   []int64
}

func (c *i64Col) init(mem memory.Allocator, rows int) {
	c.buf = memory.NewResizableBuffer(mem)
	c.buf.Reserve(rows * 8)
	c.v = arrow.Int64Traits.CastFromBytes(c.buf.Buf())[:rows]
}

func (c *i64Col) finish(t arrow.DataType, rows int) arrow.Array {
	c.buf.ResizeNoShrink(rows * 8)
	d := array.NewData(t, rows, []*memory.Buffer{nil, c.buf}, nil, 0, 0)
	a := array.MakeFromData(d)
	d.Release()
	c.buf.Release()
	*c = i64Col{}
	return a
}

func (c *i64Col) release() {
	if c.buf != nil {
		c.buf.Release()
		*c = i64Col{}
	}
}

// strCol is a string column: int32 offsets and a data buffer, both from the
// allocator. d aliases the data buffer; writers append to d after ensure has
// guaranteed the capacity, so append never moves it to the Go heap.
type strCol struct {
	offs, data *memory.Buffer
	o          []int32
	d          []byte
}

func (c *strCol) init(mem memory.Allocator, rows, bytes int) {
	c.offs = memory.NewResizableBuffer(mem)
	c.offs.Reserve((rows + 1) * 4)
	c.o = arrow.Int32Traits.CastFromBytes(c.offs.Buf())[:rows+1]
	c.o[0] = 0
	c.data = memory.NewResizableBuffer(mem)
	c.data.Reserve(max(bytes, 64))
	c.d = c.data.Buf()[:0]
}

// ensure makes room for n more bytes.
func (c *strCol) ensure(n int) {
	if cap(c.d)-len(c.d) >= n {
		return
	}
	l := len(c.d)
	c.data.Reserve(max(2*cap(c.d), l+n))
	c.d = c.data.Buf()[:l]
}

// end records the end of row i.
func (c *strCol) end(i int) { c.o[i+1] = int32(len(c.d)) }

func (c *strCol) appendRow(i int, b []byte) {
	c.d = append(c.d, b...)
	c.o[i+1] = int32(len(c.d))
}

func (c *strCol) finish(rows int) arrow.Array {
	c.offs.ResizeNoShrink((rows + 1) * 4)
	c.data.ResizeNoShrink(len(c.d))
	d := array.NewData(arrow.BinaryTypes.String, rows, []*memory.Buffer{nil, c.offs, c.data}, nil, 0, 0)
	a := array.MakeFromData(d)
	d.Release()
	c.offs.Release()
	c.data.Release()
	*c = strCol{}
	return a
}

func (c *strCol) release() {
	if c.offs != nil {
		c.offs.Release()
		c.data.Release()
		*c = strCol{}
	}
}

// builder accumulates up to cap rows of one stream. Its columns are laid out
// as the stream's schema, ints and strings in separate slices.
type builder struct {
	g      *Generator
	stream Stream
	mem    memory.Allocator
	cap    int // rows
	n      int // rows so far
	ints   []i64Col
	strs   []strCol
	// maxRow[i] bounds the bytes one row adds to strs[i].
	maxRow []int

	// scratch rows, reused
	p personRow
	a auctionRow
	b bidRow
}

func newBuilder(g *Generator, s Stream, mem memory.Allocator, rows int) *builder {
	b := &builder{g: g, stream: s, mem: mem, cap: rows}
	switch s {
	case StreamPerson:
		// id, dateTime | name, email, creditCard, city, state, extra
		b.ints = make([]i64Col, 2)
		b.maxRow = []int{maxPersonName, maxPersonEmail, creditCardLen, maxCity, 2, maxExtraLen(g.avgPerson)}
	case StreamAuction:
		// id, initialBid, reserve, dateTime, expires, seller, category | itemName, description, extra
		b.ints = make([]i64Col, 7)
		b.maxRow = []int{maxItemName, maxDescription, maxExtraLen(g.avgAuction)}
	default:
		// auction, bidder, price, dateTime | channel, url, extra
		b.ints = make([]i64Col, 4)
		b.maxRow = []int{maxChannel, g.chans.maxURL, maxExtraLen(g.avgBid)}
	}
	b.strs = make([]strCol, len(b.maxRow))
	return b
}

// maxRowBytes bounds the bytes of all string columns of one row.
func (b *builder) maxRowBytes() int {
	t := 0
	for _, m := range b.maxRow {
		t += m
	}
	return t
}

// reset allocates fresh buffers for a new batch.
func (b *builder) reset() {
	b.n = 0
	for i := range b.ints {
		b.ints[i].init(b.mem, b.cap)
	}
	for i := range b.strs {
		// Reserve the worst case up front, so that the data never moves
		// while the batch is built (up to ~25% more than the average).
		b.strs[i].init(b.mem, b.cap, b.cap*b.maxRow[i])
	}
}

func (b *builder) started() bool { return len(b.ints) > 0 && b.ints[0].buf != nil }

// release frees the buffers of an unfinished batch.
func (b *builder) release() {
	for i := range b.ints {
		b.ints[i].release()
	}
	for i := range b.strs {
		b.strs[i].release()
	}
}

// fill generates the rows of b's stream for the event numbers [from, to), up
// to the builder's capacity, and returns the next event number to examine.
func (b *builder) fill(from, to int64) int64 {
	g := b.g
	total, pp, pa := g.total, g.personProp, g.personProp+g.auctionProp
	rem := eventID(from) % total
	e := from
	switch b.stream {
	case StreamBid:
		auc, bidder, price, ts := b.ints[0].v, b.ints[1].v, b.ints[2].v, b.ints[3].v
		ch, url, ex := &b.strs[0], &b.strs[1], &b.strs[2]
		maxEx := b.maxRow[2]
		names, urls := g.chans.name, g.chans.url
		for ; e < to && b.n < b.cap; e++ {
			if rem >= pa {
				i := b.n
				ex.ensure(maxEx)
				ex.d = g.bid(e, &b.b, ex.d)
				ex.end(i)
				auc[i], bidder[i], price[i], ts[i] = b.b.auction, b.b.bidder, b.b.price, b.b.dateTime
				ch.ensure(maxChannel)
				ch.appendRow(i, names[b.b.channel])
				url.ensure(b.maxRow[1])
				url.appendRow(i, urls[b.b.channel])
				b.n++
			}
			if rem++; rem == total {
				rem = 0
			}
		}
	case StreamAuction:
		for ; e < to && b.n < b.cap; e++ {
			if rem >= pp && rem < pa {
				b.auctionRow(e)
			}
			if rem++; rem == total {
				rem = 0
			}
		}
	default:
		for ; e < to && b.n < b.cap; e++ {
			if rem < pp {
				b.personRow(e)
			}
			if rem++; rem == total {
				rem = 0
			}
		}
	}
	return e
}

func (b *builder) personRow(e int64) {
	i := b.n
	for j := range b.strs {
		b.strs[j].ensure(b.maxRow[j])
	}
	name, email, cc, city, state, extra := &b.strs[0], &b.strs[1], &b.strs[2], &b.strs[3], &b.strs[4], &b.strs[5]
	p := &b.p
	email.d, extra.d = b.g.person(e, p, email.d, extra.d)
	email.end(i)
	extra.end(i)
	name.d = append(name.d, firstNames[p.first]...)
	name.d = append(name.d, ' ')
	name.d = append(name.d, lastNames[p.last]...)
	name.end(i)
	cc.d = appendCreditCard(cc.d, &p.cc)
	cc.end(i)
	city.d = append(city.d, usCities[p.city]...)
	city.end(i)
	state.d = append(state.d, usStates[p.state]...)
	state.end(i)
	b.ints[0].v[i] = p.id
	b.ints[1].v[i] = p.dateTime
	b.n++
}

func (b *builder) auctionRow(e int64) {
	i := b.n
	for j := range b.strs {
		b.strs[j].ensure(b.maxRow[j])
	}
	name, desc, extra := &b.strs[0], &b.strs[1], &b.strs[2]
	a := &b.a
	name.d, desc.d, extra.d = b.g.auction(e, a, name.d, desc.d, extra.d)
	name.end(i)
	desc.end(i)
	extra.end(i)
	v := b.ints
	v[0].v[i], v[1].v[i], v[2].v[i], v[3].v[i] = a.id, a.initialBid, a.reserve, a.dateTime
	v[4].v[i], v[5].v[i], v[6].v[i] = a.expires, a.seller, a.category
	b.n++
}

// finish turns the accumulated rows into a record batch owned by the caller
// and leaves the builder empty (call reset before filling again).
func (b *builder) finish() arrow.RecordBatch {
	n := b.n
	var cols []arrow.Array
	i64 := arrow.PrimitiveTypes.Int64
	switch b.stream {
	case StreamPerson:
		cols = []arrow.Array{
			b.ints[0].finish(i64, n), b.strs[0].finish(n), b.strs[1].finish(n), b.strs[2].finish(n),
			b.strs[3].finish(n), b.strs[4].finish(n), b.ints[1].finish(TimestampType, n), b.strs[5].finish(n),
		}
	case StreamAuction:
		cols = []arrow.Array{
			b.ints[0].finish(i64, n), b.strs[0].finish(n), b.strs[1].finish(n), b.ints[1].finish(i64, n),
			b.ints[2].finish(i64, n), b.ints[3].finish(TimestampType, n), b.ints[4].finish(TimestampType, n),
			b.ints[5].finish(i64, n), b.ints[6].finish(i64, n), b.strs[2].finish(n),
		}
	default:
		cols = []arrow.Array{
			b.ints[0].finish(i64, n), b.ints[1].finish(i64, n), b.ints[2].finish(i64, n),
			b.strs[0].finish(n), b.strs[1].finish(n), b.ints[3].finish(TimestampType, n), b.strs[2].finish(n),
		}
	}
	rec := array.NewRecordBatch(Schema(b.stream), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	b.n = 0
	return rec
}

// Batch returns the rows of stream s for the event numbers [from, to), at
// most maxRows of them, as one record batch allocated from mem and owned by
// the caller, along with the next event number to examine (to, unless the
// batch filled up first). It is the columnar fast path that the source uses;
// a generator-only benchmark can call it directly.
func (g *Generator) Batch(mem memory.Allocator, s Stream, from, to int64, maxRows int) (arrow.RecordBatch, int64) {
	b := newBuilder(g, s, mem, maxRows)
	b.reset()
	next := b.fill(from, to)
	return b.finish(), next
}
