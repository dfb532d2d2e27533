package connectors

import (
	"context"
)

// Two-phase commit (design invariant 6): a transactional sink's output
// becomes visible only after the checkpoint that covers it has completed.
//
// The protocol, as the runtime drives it:
//
//  1. Begin: a TransactionalWriter starts a transaction when it opens and
//     again after every PreCommit. Everything written goes into the open
//     transaction, invisible to readers.
//  2. Pre-commit: at checkpoint barrier n the runtime calls PreCommit(n).
//     The writer makes the transaction's data durable (but still invisible)
//     and returns a Txn describing how to commit it. The Txn is stored in
//     checkpoint n's metadata.
//  3. Commit: once checkpoint n's metadata is durable, the checkpoint
//     coordinator calls Committer.Commit with every Txn of checkpoint n.
//     A Txn of a checkpoint that was aborted is carried into the next one
//     that completes (its data is still part of the job's output).
//  4. Abort and recovery: when a job restarts from checkpoint n, the
//     coordinator calls Committer.Recover with the Txns stored in n before
//     any writer opens. Recover commits them (they may or may not have been
//     committed before the failure) and aborts every other transaction the
//     job left behind: their rows will be produced again by the replay.
//
// Commit and Recover must be idempotent: the coordinator may call them again
// after a crash at any point.

// Txn is one pre-committed transaction of one sink subtask: opaque,
// connector-defined bytes (JSON is a good choice) that the Committer
// understands. It must be self-contained: Commit may run in another process
// after a restart.
type Txn []byte

// TransactionalSink is a Sink whose writers take part in checkpoints with
// two-phase commit. Its writers (what Open returns) implement
// TransactionalWriter.
type TransactionalSink interface {
	Sink
	// Committer returns the sink's committer. It is called once per job
	// attempt, by the checkpoint coordinator.
	Committer() Committer
}

// TransactionalWriter is the SinkWriter of a TransactionalSink.
//
// Flush (at the end of a bounded input) has the same meaning as for any
// writer, so a transactional sink also works in a job without checkpoints:
// when the job checkpoints, the runtime calls PreCommit at the end of the
// input instead of Flush, and commits through the Committer.
type TransactionalWriter interface {
	SinkWriter
	// PreCommit ends the open transaction and begins a new one. It makes
	// every row written since the previous PreCommit durable but invisible,
	// and returns the Txn that commits them, or nil if there is nothing to
	// commit. checkpoint is the id of the checkpoint the transaction belongs
	// to; ids increase.
	PreCommit(ctx context.Context, checkpoint uint64) (Txn, error)
}

// RecoverContext is what Committer.Recover is told about the job.
type RecoverContext struct {
	// Job is the job's name, as in SinkContext.Job.
	Job string
	// Txns are the transactions of the checkpoint the job restarts from
	// (every subtask's), to be committed. Empty for a fresh start.
	Txns []Txn
}

// Committer commits and aborts the transactions of one sink. Its methods
// may be called from any goroutine, but not concurrently with each other.
type Committer interface {
	// Commit makes the transactions' rows visible. Committing a transaction
	// that is already committed does nothing and is not an error.
	Commit(ctx context.Context, txns []Txn) error
	// Recover is called once when a job starts (fresh or from a checkpoint
	// or savepoint), before any writer of the sink opens: it commits
	// rc.Txns and aborts every other transaction of job rc.Job that a
	// previous attempt left, removing what they wrote.
	Recover(ctx context.Context, rc RecoverContext) error
}
