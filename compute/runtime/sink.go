package runtime

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/connectors"
)

// sinkOperator adapts a connector sink to the operator contract.
type sinkOperator struct {
	compute.Stateless
	sink connectors.Sink
	w    connectors.SinkWriter
}

func (s *sinkOperator) Open(ctx context.Context, oc *compute.OperatorContext) error {
	w, err := s.sink.Open(ctx, connectors.SinkContext{
		Job:         oc.Job,
		Subtask:     oc.Subtask,
		Parallelism: oc.Parallelism,
		Schema:      oc.InputSchemas[0],
		Allocator:   oc.Allocator,
		Clock:       oc.Clock,
	})
	if err != nil {
		return err
	}
	s.w = w
	return nil
}

func (s *sinkOperator) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, _ compute.Emitter) error {
	return s.w.Write(ctx, b)
}

func (s *sinkOperator) Finish(ctx context.Context, _ compute.Emitter) error {
	return s.w.Flush(ctx)
}

func (s *sinkOperator) Close() error { return s.w.Close() }
