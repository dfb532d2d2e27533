package runtime

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/connectors"
)

// sinkOperator adapts a connector sink to the operator contract. When the
// job checkpoints and the sink is transactional, it pre-commits a
// transaction at every barrier and keeps the transactions that no completed
// checkpoint has committed yet: each acknowledgement carries all of them, so
// the rows of a transaction whose checkpoint was aborted are committed by the
// next checkpoint that completes.
type sinkOperator struct {
	compute.Stateless
	sink    connectors.Sink
	node    *plan.Node
	subtask int
	coord   Coordinator // nil: the job does not checkpoint

	w  connectors.SinkWriter
	tw connectors.TransactionalWriter // w, when it takes part in checkpoints
	// pending are pre-committed transactions not known to be committed.
	pending []checkpoint.SinkTxn
	// lastID is the last checkpoint the sink pre-committed for.
	lastID uint64
}

func (s *sinkOperator) Open(ctx context.Context, oc *compute.OperatorContext) error {
	w, err := s.sink.Open(ctx, connectors.SinkContext{
		Job:         oc.Job,
		Attempt:     oc.Attempt,
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
	if s.coord != nil {
		if _, ok := s.sink.(connectors.TransactionalSink); ok {
			tw, ok := w.(connectors.TransactionalWriter)
			if !ok {
				return fmt.Errorf("sink writer %T of a transactional sink does not implement PreCommit", w)
			}
			s.tw = tw
		}
	}
	return nil
}

func (s *sinkOperator) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, _ compute.Emitter) error {
	return s.w.Write(ctx, b)
}

// preCommit ends the open transaction at checkpoint id's barrier and returns
// every transaction the checkpoint must commit.
func (s *sinkOperator) preCommit(ctx context.Context, id uint64) ([]checkpoint.SinkTxn, error) {
	if s.tw == nil {
		return nil, nil
	}
	s.lastID = id
	txn, err := s.tw.PreCommit(ctx, id)
	if err != nil {
		return nil, err
	}
	if txn != nil {
		s.pending = append(s.pending, checkpoint.SinkTxn{Node: s.node.ID, Subtask: s.subtask, Checkpoint: id, Txn: txn})
	}
	return s.uncommitted(), nil
}

// uncommitted drops the transactions that a completed checkpoint has
// committed and returns the rest.
func (s *sinkOperator) uncommitted() []checkpoint.SinkTxn {
	done := s.coord.LastCompleted()
	keep := s.pending[:0]
	for _, t := range s.pending {
		if t.Checkpoint > done {
			keep = append(keep, t)
		}
	}
	clear(s.pending[len(keep):])
	s.pending = keep
	return append([]checkpoint.SinkTxn(nil), keep...)
}

// Finish makes the last rows visible: a plain sink flushes; a transactional
// one pre-commits a final transaction, which the first checkpoint that
// completes after the sink's last barrier commits (or the final commit).
// Its id is one above every checkpoint the sink took part in, so it sorts
// after them, and uncommitted keeps it until it is committed.
func (s *sinkOperator) Finish(ctx context.Context, _ compute.Emitter) error {
	if s.tw == nil {
		return s.w.Flush(ctx)
	}
	_, err := s.preCommit(ctx, max(s.lastID, s.coord.LastCompleted())+1)
	return err
}

func (s *sinkOperator) Close() error { return s.w.Close() }
