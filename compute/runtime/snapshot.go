package runtime

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/statestore"
)

// Coordinator is what a task reports checkpoints to. checkpoint.Coordinator
// implements it; the control plane may put another behind it.
type Coordinator interface {
	// Ack reports that task has taken its part of checkpoint id.
	Ack(id uint64, task string, snap checkpoint.TaskSnapshot)
	// Decline reports that task failed to take its part of checkpoint id.
	Decline(id uint64, task string, err error)
	// TaskFinished reports that task has ended its input after taking the
	// barrier of checkpoint lastBarrier (0: none): no later barrier reaches
	// it. final holds its sources' end positions and its sinks' last
	// transactions; later checkpoints count the task as acknowledged with
	// them.
	TaskFinished(task string, lastBarrier uint64, final checkpoint.TaskSnapshot)
	// FinalID returns the id of the final commit of a bounded job.
	FinalID() uint64
	// LastCompleted returns the id of the last completed checkpoint.
	LastCompleted() uint64
}

// attempt is what one run of a job under a Supervisor adds to a plain Start:
// its number (the epoch of every shard it opens), the coordinator, and what
// it restores.
type attempt struct {
	number uint64
	// makeCoord, if set, creates the attempt's coordinator once the tasks
	// exist and before they run.
	makeCoord func(j *Job) (Coordinator, error)
	coord     Coordinator // nil: no checkpoints
	// Restored source positions by splitKey, and state handles by node.
	positions map[string]connectors.Position
	states    map[string][]statestore.Handle

	mu     sync.Mutex
	finals checkpoint.TaskSnapshot // what finished tasks left for the final commit
}

func splitKey(node, split string) string { return node + "\x00" + split }

// restoreFrom fills the attempt's restore maps from checkpoint metadata.
func (a *attempt) restoreFrom(md *checkpoint.Metadata) {
	a.positions = map[string]connectors.Position{}
	a.states = map[string][]statestore.Handle{}
	if md == nil {
		return
	}
	for _, p := range md.Positions {
		a.positions[splitKey(p.Node, p.Split)] = p.Position
	}
	for _, s := range md.States {
		a.states[s.Node] = append(a.states[s.Node], s.Handle)
	}
}

// taskID names a task in checkpoint acknowledgements.
func (t *task) id() string {
	return fmt.Sprintf("%s/%d", t.chain[len(t.chain)-1].ID, t.subtask)
}

// barrier takes the task's part of a checkpoint and forwards the barrier:
// every operator flushes what it buffers into its store, every store freezes
// its state (the upload continues in the background), sinks pre-commit their
// transaction and a source records its split positions. The task then
// acknowledges the checkpoint once the uploads are durable, without holding
// up the stream.
func (t *task) barrier(ctx context.Context, b compute.Barrier) error {
	id := b.CheckpointID
	t.lastBarrier = id
	for i, op := range t.ops {
		if err := op.Snapshot(ctx, id); err != nil {
			return wrapNodeErr(t.opNodes[i], t.subtask, err)
		}
	}
	coord := t.job.att.coord
	if coord == nil {
		return t.broadcast(ctx, compute.Message{Kind: compute.KindBarrier, Barrier: b})
	}
	var snap checkpoint.TaskSnapshot
	t.snapshotPositions(&snap)
	type pendingState struct {
		node string
		p    statestore.Pending
	}
	var pending []pendingState
	for i, s := range t.stores {
		p, err := s.Checkpoint(ctx, id)
		if err != nil {
			coord.Decline(id, t.id(), fmt.Errorf("node %q subtask %d: state checkpoint: %w", t.storeNodes[i], t.subtask, err))
			return t.broadcast(ctx, compute.Message{Kind: compute.KindBarrier, Barrier: b})
		}
		pending = append(pending, pendingState{t.storeNodes[i], p})
	}
	for _, so := range t.sinks {
		txns, err := so.preCommit(ctx, id)
		if err != nil {
			// The transaction's rows are written but cannot be committed:
			// the job must restart from the last checkpoint.
			return wrapNodeErr(so.node, t.subtask, fmt.Errorf("pre-commit for checkpoint %d: %w", id, err))
		}
		snap.Txns = append(snap.Txns, txns...)
	}
	if err := t.broadcast(ctx, compute.Message{Kind: compute.KindBarrier, Barrier: b}); err != nil {
		return err
	}
	if len(pending) == 0 {
		coord.Ack(id, t.id(), snap)
		return nil
	}
	task := t.id()
	t.job.acks.Add(1)
	t.acks.Add(1)
	go func() {
		defer t.job.acks.Done()
		defer t.acks.Done()
		for _, p := range pending {
			h, err := p.p.Wait(t.job.runCtx)
			if err != nil {
				coord.Decline(id, task, fmt.Errorf("node %q: state checkpoint: %w", p.node, err))
				return
			}
			snap.States = append(snap.States, checkpoint.StateHandle{Node: p.node, Subtask: t.subtask, Handle: h})
		}
		coord.Ack(id, task, snap)
	}()
	return nil
}

// snapshotPositions records where every split of a source task resumes.
func (t *task) snapshotPositions(snap *checkpoint.TaskSnapshot) {
	if t.chain[0].Kind != plan.Source {
		return
	}
	head := t.chain[0]
	for i, s := range t.splits {
		snap.Positions = append(snap.Positions, checkpoint.SplitPosition{Node: head.ID, Split: s.ID, Position: t.positions[i]})
	}
}

// finished reports a task that has ended its input to the coordinator, and
// keeps what the final commit needs: the sinks' last transactions and the
// sources' end positions. Checkpoints go on without the task: barriers are
// no longer injected into it, and downstream tasks align on its end of
// input instead.
func (t *task) finished() {
	t.inputEnded.Store(true)
	a := t.job.att
	if a.coord == nil {
		return
	}
	var snap checkpoint.TaskSnapshot
	t.snapshotPositions(&snap)
	for _, so := range t.sinks {
		snap.Txns = append(snap.Txns, so.uncommitted()...)
	}
	a.mu.Lock()
	a.finals.Positions = append(a.finals.Positions, snap.Positions...)
	a.finals.Txns = append(a.finals.Txns, snap.Txns...)
	a.mu.Unlock()
	a.coord.TaskFinished(t.id(), t.lastBarrier, snap)
}
