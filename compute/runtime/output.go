package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/internal/clock"
)

// output sends one subtask's batches over one edge.
type output struct {
	edge    *plan.Edge
	schema  *arrow.Schema
	mem     memory.Allocator
	clock   clock.Clock
	subtask int
	// chans has one entry per downstream subtask; nil where the edge does
	// not connect this subtask (forward edges).
	chans []*channel
	part  *exchange.Partitioner
	rr    int

	// Coalescing of small pieces, per target subtask.
	minRows     int
	pending     [][]arrow.RecordBatch
	pendingRows []int
	oldest      time.Time // when the oldest pending piece arrived; zero if none
}

func newOutput(e *plan.Edge, subtask int, chans []*channel, mem memory.Allocator, clk clock.Clock, batchSize, maxParallelism int) (*output, error) {
	o := &output{
		edge:        e,
		schema:      edgeSchema(e),
		mem:         mem,
		clock:       clk,
		subtask:     subtask,
		chans:       chans,
		rr:          subtask, // spread the first batches of different subtasks
		minRows:     max(1, batchSize/2),
		pending:     make([][]arrow.RecordBatch, len(chans)),
		pendingRows: make([]int, len(chans)),
	}
	if e.Partitioning == plan.Hash {
		p, err := exchange.NewPartitioner(edgeSchema(e), e.Keys, e.To.Parallelism, maxParallelism)
		if err != nil {
			return nil, err
		}
		o.part = p
	}
	return o, nil
}

// emit sends b (owned) on its way.
func (o *output) emit(ctx context.Context, b arrow.RecordBatch) error {
	switch o.edge.Partitioning {
	case plan.Forward:
		return o.chans[o.subtask].send(ctx, compute.Message{Batch: b})
	case plan.Rebalance:
		t := o.rr % len(o.chans)
		o.rr++
		return o.add(ctx, t, b)
	case plan.Hash:
		parts, err := o.part.Split(ctx, o.mem, b)
		if err != nil {
			return err
		}
		for t, p := range parts {
			if p == nil {
				continue
			}
			if err := o.add(ctx, t, p); err != nil {
				for _, rest := range parts[t+1:] {
					if rest != nil {
						rest.Release()
					}
				}
				return err
			}
		}
		return nil
	}
	b.Release()
	return fmt.Errorf("runtime: unknown partitioning %s", o.edge.Partitioning)
}

// add queues piece p for target t, sending whole batches straight through and
// coalescing small pieces.
func (o *output) add(ctx context.Context, t int, p arrow.RecordBatch) error {
	rows := int(p.NumRows())
	if o.pendingRows[t] == 0 && rows >= o.minRows {
		return o.chans[t].send(ctx, compute.Message{Batch: p})
	}
	o.pending[t] = append(o.pending[t], p)
	o.pendingRows[t] += rows
	if o.oldest.IsZero() {
		o.oldest = o.clock.Now()
	}
	if o.pendingRows[t] >= o.minRows {
		return o.flushTarget(ctx, t)
	}
	return nil
}

// lingerSince returns when the oldest pending piece arrived, zero if none.
func (o *output) lingerSince() time.Time { return o.oldest }

// flush sends every pending piece.
func (o *output) flush(ctx context.Context) error {
	for t := range o.pending {
		if err := o.flushTarget(ctx, t); err != nil {
			return err
		}
	}
	o.oldest = time.Time{}
	return nil
}

func (o *output) flushTarget(ctx context.Context, t int) error {
	pieces := o.pending[t]
	if len(pieces) == 0 {
		return nil
	}
	o.pending[t] = pieces[:0]
	o.pendingRows[t] = 0
	if o.totalPending() == 0 {
		o.oldest = time.Time{}
	}
	if len(pieces) == 1 {
		return o.chans[t].send(ctx, compute.Message{Batch: pieces[0]})
	}
	merged, err := concatBatches(o.mem, o.schema, pieces)
	for i, p := range pieces {
		p.Release()
		pieces[i] = nil
	}
	if err != nil {
		return err
	}
	return o.chans[t].send(ctx, compute.Message{Batch: merged})
}

func (o *output) totalPending() int {
	n := 0
	for _, r := range o.pendingRows {
		n += r
	}
	return n
}

// broadcast flushes pending pieces, then sends a control message to every
// connected subtask.
func (o *output) broadcast(ctx context.Context, m compute.Message) error {
	if err := o.flush(ctx); err != nil {
		return err
	}
	for _, c := range o.chans {
		if c == nil {
			continue
		}
		if err := c.send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// release drops pending pieces; used when the job stops early.
func (o *output) release() {
	for t, pieces := range o.pending {
		for _, p := range pieces {
			p.Release()
		}
		o.pending[t] = nil
		o.pendingRows[t] = 0
	}
}

// concatBatches concatenates batches of one schema. The caller keeps
// ownership of the inputs and owns the result.
func concatBatches(mem memory.Allocator, schema *arrow.Schema, bs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	parts := make([]arrow.Array, len(bs))
	rows := int64(0)
	for _, b := range bs {
		rows += b.NumRows()
	}
	for c := range cols {
		for i, b := range bs {
			parts[i] = b.Column(c)
		}
		a, err := array.Concatenate(parts, mem)
		if err != nil {
			for _, done := range cols[:c] {
				done.Release()
			}
			return nil, fmt.Errorf("runtime: concatenating column %q: %w", schema.Field(c).Name, err)
		}
		cols[c] = a
	}
	res := array.NewRecordBatch(schema, cols, rows)
	for _, a := range cols {
		a.Release()
	}
	return res, nil
}

// edgeSchema is the schema of the batches an edge carries.
func edgeSchema(e *plan.Edge) *arrow.Schema {
	if e.Tag != "" {
		return e.From.SideOutputs[e.Tag]
	}
	return e.From.Schema
}
