package checkpoint

import (
	"errors"
	"fmt"
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

// MinInterval is the shortest Interval allowed.
const MinInterval = 10 * time.Millisecond

// EnsureDefaults fills the unset fields of c with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 1
	}
	if c.Retained == 0 {
		c.Retained = 1
	}
}

// Validate reports every field of c that is out of range, naming the field
// and its value. Call it after EnsureDefaults.
func (c *Config) Validate() error {
	var err error
	bad := func(field string, v any, why string) {
		err = errors.Join(err, fmt.Errorf("checkpoint config: %s = %v: %s", field, v, why))
	}
	if c.Interval < 0 || (c.Interval > 0 && c.Interval < MinInterval) {
		bad("interval", c.Interval, fmt.Sprintf("must be 0 (no periodic checkpoints) or at least %v", MinInterval))
	}
	if c.Timeout <= 0 {
		bad("timeout", c.Timeout, "must be positive")
	}
	if c.MinPause < 0 {
		bad("min_pause", c.MinPause, "must not be negative")
	}
	if c.MaxConcurrent < 1 {
		bad("max_concurrent", c.MaxConcurrent, "must be at least 1")
	}
	if c.TolerableFailures < 0 {
		bad("tolerable_failures", c.TolerableFailures, "must not be negative")
	}
	if c.Retained < 1 {
		bad("retained", c.Retained, "must be at least 1")
	}
	return err
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
