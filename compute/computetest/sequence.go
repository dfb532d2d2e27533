package computetest

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedata/sluice/connectors"
)

// SequenceConfig is the options of the "test-sequence" source, which emits
// rows id = 0..rows-1 with columns id (int64), key (id mod keys, int64), name
// ("n<id>", string, NULL when id mod 7 = 3) and ts (timestamp ms, id ms after
// the epoch). Split s of n emits the ids congruent to s mod n, in order.
type SequenceConfig struct {
	Rows   int64 `json:"rows"`
	Keys   int64 `json:"keys"`
	Splits int   `json:"splits"`
	// FailAt makes the reader fail after emitting this many rows (0: never).
	FailAt int64 `json:"fail_at"`
	// Unbounded makes each split block after its rows instead of ending.
	Unbounded bool `json:"unbounded"`
}

// SequenceSchema is the schema of the sequence source.
var SequenceSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "key", Type: arrow.PrimitiveTypes.Int64},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
}, nil)

func init() {
	connectors.RegisterSource("test-sequence", func(opts map[string]any) (connectors.Source, error) {
		var cfg SequenceConfig
		if err := connectors.Decode(opts, &cfg); err != nil {
			return nil, err
		}
		if cfg.Rows < 0 {
			return nil, fmt.Errorf("option %q: %d must not be negative", "rows", cfg.Rows)
		}
		if cfg.Keys <= 0 {
			cfg.Keys = 10
		}
		return &sequence{cfg: cfg}, nil
	})
}

type sequence struct{ cfg SequenceConfig }

func (s *sequence) Schema() *arrow.Schema { return SequenceSchema }

func (s *sequence) Splits(_ context.Context, parallelism int) ([]connectors.Split, error) {
	n := s.cfg.Splits
	if n <= 0 {
		n = parallelism
	}
	out := make([]connectors.Split, n)
	for i := range out {
		data := binary.AppendUvarint(nil, uint64(i))
		data = binary.AppendUvarint(data, uint64(n))
		out[i] = connectors.Split{ID: strconv.Itoa(i), Data: data}
	}
	return out, nil
}

func (s *sequence) Open(_ context.Context, sp connectors.Split, pos connectors.Position, opts connectors.ReadOptions) (connectors.SplitReader, error) {
	idx, k := binary.Uvarint(sp.Data)
	n, _ := binary.Uvarint(sp.Data[k:])
	r := &sequenceReader{cfg: s.cfg, opts: opts.EnsureDefaults(), next: int64(idx), step: int64(n)}
	if pos != nil {
		v, _ := binary.Uvarint(pos)
		r.next = int64(v)
	}
	return r, nil
}

type sequenceReader struct {
	cfg        SequenceConfig
	opts       connectors.ReadOptions
	next, step int64
	emitted    int64
}

func (r *sequenceReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.next >= r.cfg.Rows {
		if r.cfg.Unbounded {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, io.EOF
	}
	if r.cfg.FailAt > 0 && r.emitted >= r.cfg.FailAt {
		return nil, fmt.Errorf("injected failure after %d rows", r.emitted)
	}
	b := array.NewRecordBuilder(r.opts.Allocator, SequenceSchema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	keys := b.Field(1).(*array.Int64Builder)
	names := b.Field(2).(*array.StringBuilder)
	ts := b.Field(3).(*array.TimestampBuilder)
	for i := 0; i < r.opts.BatchSize && r.next < r.cfg.Rows; i++ {
		id := r.next
		ids.Append(id)
		keys.Append(id % r.cfg.Keys)
		if id%7 == 3 {
			names.AppendNull()
		} else {
			names.Append("n" + strconv.FormatInt(id, 10))
		}
		ts.Append(arrow.Timestamp(id))
		r.next += r.step
		r.emitted++
	}
	return b.NewRecordBatch(), nil
}

func (r *sequenceReader) Position() connectors.Position {
	return binary.AppendUvarint(nil, uint64(r.next))
}

func (r *sequenceReader) Close() error { return nil }
