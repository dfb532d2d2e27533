package nexmark

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/connectors"
)

// BlockSize is the number of consecutive event numbers in one split block.
// Block b belongs to split b mod n, so all splits move through event time
// together. It is a multiple of the default 50-event cycle.
const BlockSize = 1000

func init() {
	connectors.RegisterSource("nexmark", func(opts map[string]any) (connectors.Source, error) {
		cfg, err := ParseConfig(opts)
		if err != nil {
			return nil, err
		}
		return New(cfg)
	})
}

func decodeOptions(opts map[string]any, cfg *Config) error { return connectors.Decode(opts, cfg) }

// Source is the nexmark source: one typed stream (Config.Stream) of the
// events of one configuration. It is immutable and safe for concurrent use.
type Source struct {
	g *Generator
}

var _ connectors.Source = (*Source)(nil)

// New returns a source for cfg (defaults applied, validated).
func New(cfg Config) (*Source, error) {
	g, err := NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	return &Source{g: g}, nil
}

// Generator returns the source's generator.
func (s *Source) Generator() *Generator { return s.g }

// Schema implements connectors.Source.
func (s *Source) Schema() *arrow.Schema { return Schema(s.g.cfg.Stream) }

// splitData is the decoded Split.Data: split Index of Count.
type splitData struct{ Index, Count uint32 }

func (d splitData) encode() []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, d.Index)
	binary.BigEndian.PutUint32(b[4:], d.Count)
	return b
}

func decodeSplit(s connectors.Split) (splitData, error) {
	if len(s.Data) != 8 {
		return splitData{}, fmt.Errorf("nexmark: split %q: data is %d bytes, want 8", s.ID, len(s.Data))
	}
	d := splitData{binary.BigEndian.Uint32(s.Data), binary.BigEndian.Uint32(s.Data[4:])}
	if d.Count == 0 || d.Index >= d.Count {
		return splitData{}, fmt.Errorf("nexmark: split %q: index %d of %d is invalid", s.ID, d.Index, d.Count)
	}
	return d, nil
}

// Splits implements connectors.Source: exactly parallelism splits, split i
// owning the event-number blocks b with b mod parallelism == i.
func (s *Source) Splits(_ context.Context, parallelism int) ([]connectors.Split, error) {
	if parallelism < 1 || parallelism > math.MaxInt32 {
		return nil, fmt.Errorf("nexmark: parallelism %d must be at least 1", parallelism)
	}
	out := make([]connectors.Split, parallelism)
	for i := range out {
		d := splitData{uint32(i), uint32(parallelism)}
		out[i] = connectors.Split{ID: fmt.Sprintf("nexmark-%d-of-%d", i, parallelism), Data: d.encode()}
	}
	return out, nil
}

// EncodePosition returns the Position of the next event number n of a split.
func EncodePosition(n int64) connectors.Position {
	return binary.BigEndian.AppendUint64(nil, uint64(n))
}

// DecodePosition is the inverse of EncodePosition.
func DecodePosition(p connectors.Position) (int64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("nexmark: position is %d bytes, want 8", len(p))
	}
	n := int64(binary.BigEndian.Uint64(p))
	if n < 0 {
		return 0, fmt.Errorf("nexmark: position %d is negative", n)
	}
	return n, nil
}

// Open implements connectors.Source.
func (s *Source) Open(_ context.Context, sp connectors.Split, pos connectors.Position, opts connectors.ReadOptions) (connectors.SplitReader, error) {
	d, err := decodeSplit(sp)
	if err != nil {
		return nil, err
	}
	opts = opts.EnsureDefaults()
	r := &reader{
		g:     s.g,
		index: int64(d.Index),
		count: int64(d.Count),
		end:   s.g.maxEvents,
		opts:  opts,
		rate:  s.g.cfg.Rate,
	}
	start := r.index * BlockSize
	if pos != nil {
		n, err := DecodePosition(pos)
		if err != nil {
			return nil, fmt.Errorf("nexmark: split %q: %w", sp.ID, err)
		}
		if n < r.end && (n/BlockSize)%r.count != r.index {
			return nil, fmt.Errorf("nexmark: split %q: position %d lies in block %d, which belongs to split %d", sp.ID, n, n/BlockSize, (n/BlockSize)%r.count)
		}
		start = n
	}
	r.pos, r.returned = start, start
	switch s.g.cfg.Stream {
	case StreamPerson:
		r.kind, r.kindProp = KindPerson, s.g.personProp
	case StreamAuction:
		r.kind, r.kindProp = KindAuction, s.g.auctionProp
	default:
		r.kind, r.kindProp = KindBid, s.g.cfg.BidProportion
	}
	r.mem = newRecycler(opts.Allocator)
	r.b = newBuilder(s.g, s.g.cfg.Stream, r.mem, 0)
	// Keep every string column's offsets within int32.
	r.b.cap = max(1, min(opts.BatchSize, (1<<30)/max(1, r.b.maxRowBytes())))
	if r.rate > 0 {
		r.wall0 = opts.Clock.Now()
		r.pos0 = start
	}
	return r, nil
}

// reader reads one split. It is used by one goroutine at a time.
type reader struct {
	g            *Generator
	kind         Kind
	kindProp     int64 // the proportion of kind
	index, count int64
	end          int64 // exclusive bound on event numbers
	opts         connectors.ReadOptions
	mem          *recycler // over opts.Allocator
	b            *builder

	// pos is the next event number this split examines; returned is pos as
	// of the last batch returned.
	pos, returned int64

	// Rate limiting: event number e is due at wall0 + (e-pos0)/rate.
	rate  float64
	wall0 time.Time
	pos0  int64
	// lingerStart is when the first row of the pending batch was added.
	lingerStart time.Time
	closed      bool
}

// owned returns the first event number >= e that belongs to this split.
func (r *reader) owned(e int64) int64 {
	if (e/BlockSize)%r.count != r.index {
		b := e / BlockSize
		b += (r.index - b%r.count + r.count) % r.count
		e = b * BlockSize
	}
	return e
}

// nextOwned moves pos to the start of this split's next block if it has
// left its block.
func (r *reader) nextOwned() { r.pos = r.owned(r.pos) }

// nextRelevant returns the split's next event number at or after pos whose
// kind is the stream's (or end).
func (r *reader) nextRelevant() int64 {
	e := r.pos
	for range r.g.total + 1 {
		e = r.owned(e)
		if e >= r.end {
			return r.end
		}
		if r.g.KindOf(e) == r.kind {
			return e
		}
		e++
	}
	return e
}

// fillTo generates rows for event numbers up to limit (exclusive).
func (r *reader) fillTo(limit int64) {
	limit = min(limit, r.end)
	for r.b.n < r.b.cap {
		r.nextOwned()
		if r.pos >= limit {
			return
		}
		blockEnd := min((r.pos/BlockSize+1)*BlockSize, limit)
		r.pos = r.b.fill(r.pos, blockEnd)
	}
	r.nextOwned()
}

func (r *reader) done() bool {
	r.nextOwned()
	return r.pos >= r.end
}

func (r *reader) emit() arrow.RecordBatch {
	rec := r.b.finish()
	r.returned = r.pos
	return rec
}

// Next implements connectors.SplitReader. The batch is owned by the caller.
func (r *reader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.closed {
		return nil, fmt.Errorf("nexmark: Next on a closed reader")
	}
	if !r.b.started() {
		if r.done() {
			return nil, io.EOF
		}
		r.b.reset()
	}
	if r.rate <= 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r.fillTo(r.end)
		if r.b.n == 0 && r.done() {
			r.b.release()
			r.returned = r.pos
			return nil, io.EOF
		}
		return r.emit(), nil
	}
	return r.nextRateLimited(ctx)
}

// dueNanos is when, relative to wall0, the k-th event after pos0 is due.
func (r *reader) dueNanos(k int64) int64 {
	return int64(min(math.Ceil(float64(k)*1e9/r.rate), 1<<62))
}

// dueBefore returns the exclusive bound of event numbers due at now.
func (r *reader) dueBefore(now time.Time) int64 {
	el := int64(now.Sub(r.wall0))
	if el < 0 {
		return r.pos0
	}
	k := int64(float64(el) * r.rate / 1e9)
	for r.dueNanos(k+1) <= el {
		k++
	}
	for k > 0 && r.dueNanos(k) > el {
		k--
	}
	if k > math.MaxInt64-r.pos0-1 {
		return math.MaxInt64
	}
	return r.pos0 + k + 1
}

func (r *reader) nextRateLimited(ctx context.Context) (arrow.RecordBatch, error) {
	clk := r.opts.Clock
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		now := clk.Now()
		had := r.b.n
		r.fillTo(r.dueBefore(now))
		if had == 0 && r.b.n > 0 {
			r.lingerStart = now
		}
		if r.b.n >= r.b.cap || (r.b.n > 0 && r.done()) {
			return r.emit(), nil
		}
		if r.done() {
			r.b.release()
			r.returned = r.pos
			return nil, io.EOF
		}
		if r.b.n > 0 && !now.Before(r.lingerStart.Add(r.opts.Linger)) {
			return r.emit(), nil
		}
		// Sleep until the next row of this split is due or, with rows
		// pending, until about enough rows to fill the batch are due or the
		// linger deadline, whichever is first.
		next := r.nextRelevant()
		if r.b.n > 0 {
			est := int64(r.b.cap-r.b.n) * r.g.total / r.kindProp * r.count
			next = max(next, min(r.pos+est, r.end))
		}
		wait := r.wall0.Add(time.Duration(r.dueNanos(next - r.pos0))).Sub(now)
		if r.b.n > 0 {
			wait = min(wait, r.lingerStart.Add(r.opts.Linger).Sub(now))
		}
		wait = max(wait, time.Nanosecond)
		t := clk.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C():
		}
	}
}

// Position implements connectors.SplitReader: the next event number of this
// split after the last batch returned.
func (r *reader) Position() connectors.Position { return EncodePosition(r.returned) }

// Close implements connectors.SplitReader. It releases a pending partial
// batch; rows in it were never returned and are not covered by Position.
func (r *reader) Close() error {
	if !r.closed {
		r.closed = true
		r.b.release()
		r.mem.close()
	}
	return nil
}
