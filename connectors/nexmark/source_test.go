package nexmark

import (
	"context"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/internal/clock"
)

// rowsOf converts a batch of stream s into Person, Auction or Bid values.
func rowsOf(t testing.TB, s Stream, b arrow.RecordBatch) []any {
	t.Helper()
	if !b.Schema().Equal(Schema(s)) {
		t.Fatalf("batch schema %v, want %v", b.Schema(), Schema(s))
	}
	i64 := func(c int) []int64 {
		switch a := b.Column(c).(type) {
		case *array.Int64:
			return a.Int64Values()
		case *array.Timestamp:
			v := a.TimestampValues()
			out := make([]int64, len(v))
			for i := range v {
				out[i] = int64(v[i])
			}
			return out
		}
		t.Fatalf("column %d is %T", c, b.Column(c))
		return nil
	}
	// Values are copied: the batch's memory is recycled once released.
	str := func(c int) interface{ Value(int) string } { return cloned{b.Column(c).(*array.String)} }
	for c := range int(b.NumCols()) {
		if b.Column(c).NullN() != 0 {
			t.Fatalf("column %d has nulls", c)
		}
		if v, ok := b.Column(c).(interface{ ValidateFull() error }); ok {
			if err := v.ValidateFull(); err != nil {
				t.Fatalf("column %d: %v", c, err)
			}
		}
	}
	out := make([]any, b.NumRows())
	switch s {
	case StreamPerson:
		id, ts := i64(0), i64(6)
		for i := range out {
			out[i] = Person{ID: id[i], Name: str(1).Value(i), EmailAddress: str(2).Value(i), CreditCard: str(3).Value(i),
				City: str(4).Value(i), State: str(5).Value(i), DateTime: ts[i], Extra: str(7).Value(i)}
		}
	case StreamAuction:
		id, ib, rs, ts, ex, se, ca := i64(0), i64(3), i64(4), i64(5), i64(6), i64(7), i64(8)
		for i := range out {
			out[i] = Auction{ID: id[i], ItemName: str(1).Value(i), Description: str(2).Value(i), InitialBid: ib[i], Reserve: rs[i],
				DateTime: ts[i], Expires: ex[i], Seller: se[i], Category: ca[i], Extra: str(9).Value(i)}
		}
	default:
		au, bi, pr, ts := i64(0), i64(1), i64(2), i64(5)
		for i := range out {
			out[i] = Bid{Auction: au[i], Bidder: bi[i], Price: pr[i], Channel: str(3).Value(i), URL: str(4).Value(i),
				DateTime: ts[i], Extra: str(6).Value(i)}
		}
	}
	return out
}

// readSplit reads a split to the end (or maxBatches batches) and returns its
// rows and final position.
func readSplit(t testing.TB, src *Source, sp connectors.Split, pos connectors.Position, opts connectors.ReadOptions, maxBatches int) ([]any, connectors.Position) {
	t.Helper()
	ctx := context.Background()
	r, err := src.Open(ctx, sp, pos, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows []any
	for i := 0; maxBatches < 0 || i < maxBatches; i++ {
		b, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if opts.BatchSize > 0 && b.NumRows() > int64(opts.BatchSize) {
			t.Fatalf("batch of %d rows, batch size %d", b.NumRows(), opts.BatchSize)
		}
		rows = append(rows, rowsOf(t, src.g.cfg.Stream, b)...)
		b.Release()
	}
	return rows, r.Position()
}

func mustSource(t testing.TB, opts map[string]any) *Source {
	t.Helper()
	s, err := connectors.NewSource("nexmark", opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Source)
}

// TestSplitLayouts: for each stream, 1, 3 and 7 splits, reassembled by
// event number, give exactly the generator's events, in order.
func TestSplitLayouts(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	const events = 23_456
	for _, seed := range []int64{0, 5} {
		for _, stream := range []Stream{StreamPerson, StreamAuction, StreamBid} {
			src := mustSource(t, map[string]any{"stream": string(stream), "events": events, "seed": seed})
			g := src.g
			// The expected rows, from the row-at-a-time API.
			var want []any
			for n := int64(0); n < events; n++ {
				switch e := g.Event(n); {
				case stream == StreamPerson && e.Kind == KindPerson:
					want = append(want, e.Person)
				case stream == StreamAuction && e.Kind == KindAuction:
					want = append(want, e.Auction)
				case stream == StreamBid && e.Kind == KindBid:
					want = append(want, e.Bid)
				}
			}
			for _, p := range []int{1, 3, 7} {
				splits, err := src.Splits(context.Background(), p)
				if err != nil || len(splits) != p {
					t.Fatalf("Splits(%d) = %d, %v", p, len(splits), err)
				}
				per := make([][]any, p)
				for i, sp := range splits {
					per[i], _ = readSplit(t, src, sp, nil, connectors.ReadOptions{Allocator: mem, BatchSize: 97}, -1)
				}
				// Reassemble: event n comes from split (n/BlockSize) mod p.
				var got []any
				next := make([]int, p)
				for n := int64(0); n < events; n++ {
					k := g.KindOf(n)
					if (stream == StreamPerson) != (k == KindPerson) || (stream == StreamAuction) != (k == KindAuction) {
						continue
					}
					i := (n / BlockSize) % int64(p)
					if next[i] >= len(per[i]) {
						t.Fatalf("%s p=%d: split %d ran out of rows at event %d", stream, p, i, n)
					}
					got = append(got, per[i][next[i]])
					next[i]++
				}
				for i := range per {
					if next[i] != len(per[i]) {
						t.Fatalf("%s p=%d: split %d has %d rows, used %d", stream, p, i, len(per[i]), next[i])
					}
				}
				if len(got) != len(want) {
					t.Fatalf("%s p=%d: %d rows, want %d", stream, p, len(got), len(want))
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s p=%d seed=%d: row %d\n got %+v\nwant %+v", stream, p, seed, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestReopenAtPosition: reading k batches, reopening at Position and reading
// the rest gives the same rows as one uninterrupted read.
func TestReopenAtPosition(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, stream := range []Stream{StreamPerson, StreamAuction, StreamBid} {
		src := mustSource(t, map[string]any{"stream": string(stream), "events": 30_000})
		splits, _ := src.Splits(context.Background(), 3)
		opts := connectors.ReadOptions{Allocator: mem, BatchSize: 33}
		for _, sp := range splits {
			all, _ := readSplit(t, src, sp, nil, opts, -1)
			for _, k := range []int{0, 1, 2, 5, 17} {
				var got []any
				var pos connectors.Position
				for {
					rows, p := readSplit(t, src, sp, pos, opts, k)
					got = append(got, rows...)
					if len(rows) == 0 && k > 0 {
						break
					}
					pos = p
					if k == 0 {
						k = 3 // first reopen from a fresh reader without reading
					}
				}
				if len(got) != len(all) {
					t.Fatalf("%s %s k=%d: %d rows, want %d", stream, sp.ID, k, len(got), len(all))
				}
				for i := range got {
					if got[i] != all[i] {
						t.Fatalf("%s %s k=%d: row %d differs", stream, sp.ID, k, i)
					}
				}
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	src := mustSource(t, map[string]any{"events": 10_000})
	splits, _ := src.Splits(context.Background(), 3)
	ctx := context.Background()
	// Event 1500 is in block 1, which belongs to split 1, not split 0.
	if _, err := src.Open(ctx, splits[0], EncodePosition(1500), connectors.ReadOptions{}); err == nil {
		t.Error("position of another split accepted")
	}
	if _, err := src.Open(ctx, splits[0], connectors.Position{1, 2}, connectors.ReadOptions{}); err == nil {
		t.Error("malformed position accepted")
	}
	if _, err := src.Open(ctx, connectors.Split{ID: "x", Data: []byte{1}}, nil, connectors.ReadOptions{}); err == nil {
		t.Error("malformed split accepted")
	}
	if _, err := src.Splits(ctx, 0); err == nil {
		t.Error("parallelism 0 accepted")
	}
}

// TestBatchesAndEOF: batches are at most BatchSize rows; a bounded split ends
// with io.EOF, again and again.
func TestBatchesAndEOF(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src := mustSource(t, map[string]any{"events": 5000})
	ctx := context.Background()
	splits, _ := src.Splits(ctx, 1)
	r, err := src.Open(ctx, splits[0], nil, connectors.ReadOptions{Allocator: mem, BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var sizes []int64
	for {
		b, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, b.NumRows())
		b.Release()
	}
	// 5000 events hold exactly 4600 bids.
	if len(sizes) != 5 || sizes[4] != 600 {
		t.Errorf("batch sizes %v", sizes)
	}
	for range 2 {
		if _, err := r.Next(ctx); err != io.EOF {
			t.Errorf("after the end: %v", err)
		}
	}
	if n, _ := DecodePosition(r.Position()); n != 5000 {
		t.Errorf("final position %d", n)
	}
}

// TestRateLimit: with rate R on the fake clock, every batch is returned
// exactly when its events are due: after t of wall time the reader has
// produced the events numbered below R·t (+1 for event 0 at t=0).
func TestRateLimit(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, c := range []struct {
		rate   float64
		batch  int
		stream Stream
	}{{1000, 100, StreamBid}, {1000, 100000, StreamBid}, {20000, 500, StreamBid}, {700, 10, StreamPerson}} {
		start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		fake := clock.NewFake(start)
		src := mustSource(t, map[string]any{"rate": c.rate, "stream": string(c.stream)})
		splits, _ := src.Splits(context.Background(), 1)
		linger := 50 * time.Millisecond
		r, err := src.Open(context.Background(), splits[0], nil, connectors.ReadOptions{Allocator: mem, BatchSize: c.batch, Clock: fake, Linger: linger})
		if err != nil {
			t.Fatal(err)
		}
		// Advance the clock 1ms at a time whenever the reader waits on it.
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				if fake.PendingTimers() > 0 {
					fake.Advance(time.Millisecond)
				} else {
					runtime.Gosched()
				}
			}
		}()
		ctx := context.Background()
		rows := 0
		for fake.Now().Sub(start) < 3*time.Second {
			b, err := r.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rows += int(b.NumRows())
			b.Release()
			el := fake.Now().Sub(start)
			pos, _ := DecodePosition(r.Position())
			due := int64(math.Floor(float64(el.Nanoseconds())*c.rate/1e9+1e-6)) + 1
			if pos > due {
				t.Fatalf("rate %v: at %v position %d is ahead of the %d due events", c.rate, el, pos, due)
			}
			// Rows are held at most linger (plus the 1ms clock step).
			behind := int64(math.Ceil((linger+time.Millisecond).Seconds()*c.rate)) + 50
			if int64(c.batch) > 0 && pos < due-behind {
				t.Fatalf("rate %v: at %v position %d lags the %d due events", c.rate, el, pos, due)
			}
		}
		stop.Store(true)
		<-done
		r.Close()
		el := fake.Now().Sub(start).Seconds()
		share := map[Stream]float64{StreamBid: 46.0 / 50, StreamPerson: 1.0 / 50}[c.stream]
		want := el * c.rate * share
		if math.Abs(float64(rows)-want) > 0.06*want+float64(c.rate)*share*0.06 {
			t.Errorf("rate %v %s: %d rows after %.3fs, want ≈ %.0f", c.rate, c.stream, rows, el, want)
		}
	}
}

// TestRateLimitCancel: a reader waiting on the clock returns ctx.Err() when
// cancelled, and keeps its position.
func TestRateLimitCancel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fake := clock.NewFake(time.Unix(0, 0))
	src := mustSource(t, map[string]any{"rate": 10})
	splits, _ := src.Splits(context.Background(), 1)
	r, _ := src.Open(context.Background(), splits[0], nil, connectors.ReadOptions{Allocator: mem, Clock: fake})
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := r.Next(ctx)
		errc <- err
	}()
	<-fake.TimerArmed()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v", err)
	}
	if n, _ := DecodePosition(r.Position()); n != 0 {
		t.Errorf("position %d after a cancelled Next", n)
	}
}

func TestSchema(t *testing.T) {
	for _, s := range []Stream{StreamPerson, StreamAuction, StreamBid} {
		src := mustSource(t, map[string]any{"stream": string(s)})
		if src.Schema() != Schema(s) {
			t.Errorf("%s: wrong schema", s)
		}
		for _, f := range src.Schema().Fields() {
			if f.Nullable {
				t.Errorf("%s.%s is nullable", s, f.Name)
			}
		}
	}
	names := func(s Stream) (out []string) {
		for _, f := range Schema(s).Fields() {
			out = append(out, f.Name)
		}
		return out
	}
	if got := names(StreamBid); len(got) != 7 || got[5] != "dateTime" {
		t.Errorf("bid columns %v", got)
	}
	if got := names(StreamPerson); got[2] != "emailAddress" || got[3] != "creditCard" {
		t.Errorf("person columns %v", got)
	}
}

type cloned struct{ *array.String }

func (c cloned) Value(i int) string { return strings.Clone(c.String.Value(i)) }
