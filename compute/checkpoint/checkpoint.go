package checkpoint

import (
	"time"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/statestore"
)

// Config is a job's checkpointing policy, as in the job spec.
type Config struct {
	// Interval between the triggers of periodic checkpoints. Zero disables
	// periodic checkpoints (savepoints and the final commit still work).
	Interval time.Duration
	// Timeout aborts a checkpoint that has not completed this long after its
	// trigger. Default 10 minutes.
	Timeout time.Duration
	// MinPause is the least time between the completion (or abort) of one
	// checkpoint and the trigger of the next. Default 0.
	MinPause time.Duration
	// MaxConcurrent is the largest number of checkpoints in flight at once.
	// Default 1.
	MaxConcurrent int
	// TolerableFailures is how many checkpoints in a row may fail (decline
	// or time out) without failing the job. Default 0, as in Flink: the
	// first failure fails the job, and its restart strategy restarts it.
	TolerableFailures int
	// Retained is how many completed checkpoints are kept. Default 1.
	Retained int
}

// Kind says what a checkpoint is for.
type Kind string

const (
	// Periodic checkpoints are owned by the system and deleted by retention.
	Periodic Kind = "checkpoint"
	// Savepoint checkpoints are owned by the user and never deleted
	// automatically.
	Savepoint Kind = "savepoint"
	// Final is written when a bounded job has finished: it holds the last
	// sink transactions and no state. A job restored from it is finished.
	Final Kind = "final"
)

// SplitPosition is where one source split resumes.
type SplitPosition struct {
	Node     string              `json:"node"`
	Split    string              `json:"split"`
	Position connectors.Position `json:"position,omitempty"` // nil: the start of the split
}

// StateHandle is the durable state of one stateful operator subtask.
type StateHandle struct {
	Node    string            `json:"node"`
	Subtask int               `json:"subtask"`
	Handle  statestore.Handle `json:"handle"`
}

// SinkTxn is one pre-committed transaction of one sink subtask.
type SinkTxn struct {
	Node       string         `json:"node"`
	Subtask    int            `json:"subtask"`
	Checkpoint uint64         `json:"checkpoint"`
	Txn        connectors.Txn `json:"txn"`
}

// TaskSnapshot is what one task acknowledges a checkpoint with.
type TaskSnapshot struct {
	Positions []SplitPosition
	States    []StateHandle
	Txns      []SinkTxn
}

// Operator describes one node of the job for compatibility checks when a
// job starts from a checkpoint or savepoint.
type Operator struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Parallelism int    `json:"parallelism"`
	// Signature identifies the layout of the node's state (for example the
	// kind, keys and aggregates); two nodes with the same id and different
	// signatures cannot share state.
	Signature string `json:"signature,omitempty"`
	Stateful  bool   `json:"stateful,omitempty"`
}
