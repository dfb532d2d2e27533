// Package blackhole provides the "blackhole" sink, which releases every batch
// it receives and keeps only counts. Benchmarks use it to measure a pipeline
// without the cost of output.
//
// Options: none.
package blackhole

import (
	"context"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/connectors"
)

func init() {
	connectors.RegisterSink("blackhole", func(opts map[string]any) (connectors.Sink, error) {
		var cfg struct{}
		if err := connectors.Decode(opts, &cfg); err != nil {
			return nil, err
		}
		return &Sink{}, nil
	})
}

// Sink discards batches and counts rows.
type Sink struct {
	rows, batches atomic.Int64
}

// Rows returns the number of rows written so far.
func (s *Sink) Rows() int64 { return s.rows.Load() }

// Batches returns the number of batches written so far.
func (s *Sink) Batches() int64 { return s.batches.Load() }

// Check implements connectors.Sink; any schema is accepted.
func (s *Sink) Check(*arrow.Schema) error { return nil }

// Open implements connectors.Sink.
func (s *Sink) Open(context.Context, connectors.SinkContext) (connectors.SinkWriter, error) {
	return writer{s}, nil
}

type writer struct{ s *Sink }

func (w writer) Write(_ context.Context, b arrow.RecordBatch) error {
	w.s.rows.Add(b.NumRows())
	w.s.batches.Add(1)
	b.Release()
	return nil
}

func (writer) Flush(context.Context) error { return nil }
func (writer) Close() error                { return nil }
