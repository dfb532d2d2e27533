package window

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
)

// Meta is what a process window function knows about the window it sees.
type Meta struct {
	Window Window
	// Key is a one-row batch of the key columns (nil for a non-keyed
	// window). Valid only during the call; Retain it to keep it.
	Key arrow.RecordBatch
	// Watermark and ProcessingTime are the current times in milliseconds.
	Watermark, ProcessingTime int64
	// Late is set when this fire is caused by late rows within the allowed
	// lateness (the window has fired before).
	Late bool
}

// MaxTimestamp is the window's largest timestamp, the event time of its
// results.
func (m *Meta) MaxTimestamp() int64 { return m.Window.MaxTimestamp() }

// ProcessFunc is a process window function (Flink's ProcessWindowFunction):
// user code that sees a whole window when it fires. The operator calls it
// from its goroutine, one window at a time.
type ProcessFunc interface {
	// Process receives the window's rows (after EvictBefore), in arrival
	// order. It must not release or keep rows beyond the call without
	// Retain. Output batches go to out, which takes ownership.
	Process(ctx context.Context, m *Meta, rows arrow.RecordBatch, out compute.Emitter) error
}

// AggregateProcessFunc is the aggregate-then-process form: the window's
// rows were folded incrementally by aggregates, and the function sees only
// the result, a one-row batch with one column per aggregate.
type AggregateProcessFunc interface {
	ProcessAggregate(ctx context.Context, m *Meta, result arrow.RecordBatch, out compute.Emitter) error
}

// ProcessFuncOf adapts a function to ProcessFunc.
type ProcessFuncOf func(ctx context.Context, m *Meta, rows arrow.RecordBatch, out compute.Emitter) error

func (f ProcessFuncOf) Process(ctx context.Context, m *Meta, rows arrow.RecordBatch, out compute.Emitter) error {
	return f(ctx, m, rows, out)
}

// AggregateProcessFuncOf adapts a function to AggregateProcessFunc.
type AggregateProcessFuncOf func(ctx context.Context, m *Meta, result arrow.RecordBatch, out compute.Emitter) error

func (f AggregateProcessFuncOf) ProcessAggregate(ctx context.Context, m *Meta, result arrow.RecordBatch, out compute.Emitter) error {
	return f(ctx, m, result, out)
}

// ResultBuilder accumulates the results of many fired windows into one
// output batch: window_start and window_end (timestamp[ms]) followed by one
// column per aggregate, named by names. The operator prepends the key
// columns. Not safe for concurrent use.
type ResultBuilder struct {
	schema *arrow.Schema
	aggs   []*AggFunc
	b      *array.RecordBuilder
	n      int
}

// NewResultBuilder returns a builder for aggs, whose output columns are
// named names (len(names) == len(aggs)).
func NewResultBuilder(mem memory.Allocator, aggs []*AggFunc, names []string) (*ResultBuilder, error) {
	if len(names) != len(aggs) {
		return nil, cfgErr("names", len(names), fmt.Sprintf("want one name per aggregate (%d)", len(aggs)))
	}
	ts := arrow.FixedWidthTypes.Timestamp_ms
	fields := []arrow.Field{{Name: "window_start", Type: ts}, {Name: "window_end", Type: ts}}
	for i, f := range aggs {
		fields = append(fields, arrow.Field{Name: names[i], Type: f.ResultType(), Nullable: true})
	}
	s := arrow.NewSchema(fields, nil)
	return &ResultBuilder{schema: s, aggs: aggs, b: array.NewRecordBuilder(mem, s)}, nil
}

// Schema is the output schema.
func (r *ResultBuilder) Schema() *arrow.Schema { return r.schema }

// Len is the number of rows appended since the last NewBatch.
func (r *ResultBuilder) Len() int { return r.n }

// Append adds one row: w and the results of accs (one per aggregate, in
// order).
func (r *ResultBuilder) Append(w Window, accs []*Accumulator) error {
	if len(accs) != len(r.aggs) {
		return fmt.Errorf("window: %d accumulators for %d aggregates", len(accs), len(r.aggs))
	}
	r.b.Field(0).(*array.TimestampBuilder).Append(arrow.Timestamp(w.Start))
	r.b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(w.End))
	for i, a := range accs {
		if err := a.AppendResult(r.b.Field(2 + i)); err != nil {
			return err
		}
	}
	r.n++
	return nil
}

// NewBatch returns the rows appended so far as a batch, which the caller
// owns (releases), and starts a new one.
func (r *ResultBuilder) NewBatch() arrow.RecordBatch {
	r.n = 0
	return r.b.NewRecordBatch()
}

// Release frees the builder.
func (r *ResultBuilder) Release() { r.b.Release() }
