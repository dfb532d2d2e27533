package compute

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

// Kind says what a Message carries.
type Kind uint8

const (
	// KindBatch carries a record batch.
	KindBatch Kind = iota
	// KindWatermark says no later row on this channel has an event time at or
	// before Watermark.
	KindWatermark
	// KindBarrier is a checkpoint barrier.
	KindBarrier
	// KindEndOfInput says the channel will carry nothing more.
	KindEndOfInput
)

func (k Kind) String() string {
	switch k {
	case KindBatch:
		return "batch"
	case KindWatermark:
		return "watermark"
	case KindBarrier:
		return "barrier"
	case KindEndOfInput:
		return "end-of-input"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Message is what flows on a channel between two subtasks. Control events
// travel in order with the data.
type Message struct {
	Kind Kind
	// Batch is set for KindBatch. The receiver releases it.
	Batch arrow.RecordBatch
	// Watermark is set for KindWatermark.
	Watermark time.Time
	// Idle, with KindWatermark, says the sender is idle: it stops holding
	// back the combined watermark until it sends a batch or a watermark
	// again. Watermark is then unset.
	Idle bool
	// Barrier is set for KindBarrier.
	Barrier Barrier
}

// MaxWatermark is the watermark sent when an input ends: every event time is
// before it, so every event-time timer fires.
var MaxWatermark = time.UnixMilli(math.MaxInt64).UTC()

// Barrier marks the point in a stream where checkpoint CheckpointID is taken.
type Barrier struct {
	CheckpointID uint64
	// Savepoint is set when the checkpoint is a user-owned savepoint.
	Savepoint bool
	// Timestamp is when the coordinator triggered the checkpoint.
	Timestamp time.Time
}

// Emitter receives an operator's output.
type Emitter interface {
	// Emit takes ownership of b. b may be empty; an emitter may drop empty
	// batches.
	Emit(ctx context.Context, b arrow.RecordBatch) error
}

// SideEmitter is implemented by the Emitter an operator receives when its
// node may have side outputs (late rows of a window, for example). Rows sent
// to a side output nobody reads are counted in the node's metrics
// (RowsSide) and released.
type SideEmitter interface {
	// EmitSide takes ownership of b and sends it to the side output tag.
	EmitSide(ctx context.Context, tag string, b arrow.RecordBatch) error
}

// EmitterFunc adapts a function to an Emitter.
type EmitterFunc func(ctx context.Context, b arrow.RecordBatch) error

// Emit implements Emitter.
func (f EmitterFunc) Emit(ctx context.Context, b arrow.RecordBatch) error { return f(ctx, b) }

// OperatorContext is what the runtime gives an operator subtask when it opens.
type OperatorContext struct {
	// Job and Node name the job and the node this operator instance runs.
	Job, Node string
	// Subtask is this instance's index in [0, Parallelism).
	Subtask, Parallelism int
	// Attempt increases every time the job (re)starts, also across
	// processes.
	Attempt uint64
	// MaxParallelism is the job's number of key groups.
	MaxParallelism int
	// KeyGroups is the half-open range of key groups [Start, End) that this
	// subtask owns when its input is keyed.
	KeyGroups statestore.KeyGroupRange
	// InputSchemas are the schemas of the operator's inputs, by input index.
	InputSchemas []*arrow.Schema
	// Allocator allocates every Arrow buffer the operator creates.
	Allocator memory.Allocator
	// Clock is the processing-time clock.
	Clock clock.Clock
	// Logger carries job, node and subtask attributes.
	Logger *slog.Logger
	// OpenStore opens (on the first call; later calls return the same Store)
	// the keyed state store of this operator subtask, restricted to
	// KeyGroups. Stateless operators never call it. The runtime closes the
	// store after the operator's Close.
	OpenStore func(ctx context.Context) (statestore.Store, error)
}

// Operator processes the batches and control events of one subtask. The
// runtime calls its methods from a single goroutine, in stream order.
type Operator interface {
	// Open prepares the operator. It is called once before anything else.
	Open(ctx context.Context, oc *OperatorContext) error
	// ProcessBatch handles one batch from input (an index into the
	// operator's inputs). It owns b: it releases b or emits it.
	ProcessBatch(ctx context.Context, input int, b arrow.RecordBatch, out Emitter) error
	// ProcessWatermark is called when the combined watermark of all inputs
	// advances to wm. The operator fires what became due, then the runtime
	// forwards the watermark downstream.
	ProcessWatermark(ctx context.Context, wm time.Time, out Emitter) error
	// Snapshot is called at an aligned checkpoint barrier, before the barrier
	// is forwarded. It must not block on uploads.
	Snapshot(ctx context.Context, checkpoint uint64) error
	// Finish is called once when every input has ended, so a bounded job can
	// emit what it still holds. It is not called when the job fails or is
	// cancelled.
	Finish(ctx context.Context, out Emitter) error
	// Close releases resources. It is always called once, after Open
	// succeeded, whatever happened.
	Close() error
}

// ProcessingTimeOperator is implemented by operators that act on processing
// time (processing-time windows and timers, state TTL sweeps). After every
// event the runtime asks for the next deadline and calls OnProcessingTime,
// from the operator's goroutine, once the injected clock reaches it.
type ProcessingTimeOperator interface {
	Operator
	// NextProcessingTime returns the earliest time the operator wants to be
	// called at, and false if it wants no call.
	NextProcessingTime() (time.Time, bool)
	// OnProcessingTime is called when the clock has reached the deadline.
	OnProcessingTime(ctx context.Context, now time.Time, out Emitter) error
}

// Stateless provides no-op implementations of the Operator methods that
// stateless operators do not need. Embed it and implement ProcessBatch.
type Stateless struct{}

// Open implements Operator.
func (Stateless) Open(context.Context, *OperatorContext) error { return nil }

// ProcessWatermark implements Operator.
func (Stateless) ProcessWatermark(context.Context, time.Time, Emitter) error { return nil }

// Snapshot implements Operator.
func (Stateless) Snapshot(context.Context, uint64) error { return nil }

// Finish implements Operator.
func (Stateless) Finish(context.Context, Emitter) error { return nil }

// Close implements Operator.
func (Stateless) Close() error { return nil }
