package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// Options are what the runtime is given from outside.
type Options struct {
	// Allocator allocates every Arrow buffer of the job. Defaults to
	// memory.DefaultAllocator.
	Allocator memory.Allocator
	// Clock is the processing-time clock. Defaults to the system clock.
	Clock clock.Clock
	// Logger receives the job's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// State opens the keyed state store of every stateful operator subtask.
	// Defaults to an in-memory registry (statestore/memstore) on Clock.
	State statestore.Opener
}

func (o Options) ensureDefaults() Options {
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.State == nil {
		o.State = memstore.NewRegistry(memstore.Options{Clock: o.Clock})
	}
	return o
}

// Job is a running plan.
type Job struct {
	plan *plan.Plan
	opts Options

	cancel   context.CancelCauseFunc
	done     chan struct{}
	err      error
	tasks    []*task
	channels []*channel
	nodes    map[*plan.Node]*nodeMetrics

	att    *attempt
	runCtx context.Context
	acks   sync.WaitGroup // goroutines waiting to acknowledge a checkpoint
}

// nodeMetrics are shared by all subtasks of one node and updated once per batch.
type nodeMetrics struct {
	node                                   *plan.Node
	rowsIn, rowsOut, batchesIn, batchesOut atomic.Int64
	rowsSide                               atomic.Int64
	watermarks                             []atomic.Int64 // per subtask, unix ms; 0: none yet
}

// Metrics is a snapshot of a job's counters.
type Metrics struct {
	Nodes []NodeMetrics
}

// NodeMetrics are one node's counters, summed over its subtasks.
type NodeMetrics struct {
	ID          string
	Kind        plan.Kind
	Parallelism int
	RowsIn      int64
	RowsOut     int64
	BatchesIn   int64
	BatchesOut  int64
	// RowsSide counts rows sent to side outputs (for example late rows).
	RowsSide int64
	// Watermark is the minimum over subtasks of the last watermark each
	// processed; zero until every subtask has seen one.
	Watermark time.Time
}

// Node returns the metrics of the node with the given id.
func (m Metrics) Node(id string) (NodeMetrics, bool) {
	for _, n := range m.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeMetrics{}, false
}

// Start builds the tasks of p and starts them. The job runs until its sources
// are exhausted, ctx is cancelled, or a task fails; Wait reports which.
func Start(ctx context.Context, p *plan.Plan, opts Options) (*Job, error) {
	a := &attempt{}
	a.restoreFrom(nil)
	return start(ctx, p, opts, a)
}

func start(ctx context.Context, p *plan.Plan, opts Options, att *attempt) (*Job, error) {
	opts = opts.ensureDefaults()
	j := &Job{plan: p, opts: opts, done: make(chan struct{}), nodes: map[*plan.Node]*nodeMetrics{}, att: att}
	for _, n := range p.Nodes {
		j.nodes[n] = &nodeMetrics{node: n, watermarks: make([]atomic.Int64, n.Parallelism)}
	}
	chains := buildChains(p)
	// Every chain head with inputs gets one gate per subtask.
	gates := map[*plan.Node][]*inputGate{}
	for _, c := range chains {
		head := c[0]
		if head.Kind == plan.Source {
			continue
		}
		gs := make([]*inputGate, head.Parallelism)
		for i := range gs {
			gs[i] = newInputGate(make(chan struct{}, 1))
		}
		gates[head] = gs
	}
	// Channels for every edge between chains: outChans[edge][upstream subtask][downstream subtask].
	outChans := map[*plan.Edge][][]*channel{}
	for _, c := range chains {
		head := c[0]
		for input, e := range head.Inputs {
			up := make([][]*channel, e.From.Parallelism)
			for u := range up {
				up[u] = make([]*channel, head.Parallelism)
				for d := range up[u] {
					if e.Partitioning == plan.Forward && u != d {
						continue
					}
					g := gates[head][d]
					ch := newChannel(p.ChannelCapacity, g.notify)
					g.add(ch, input)
					up[u][d] = ch
					j.channels = append(j.channels, ch)
				}
			}
			outChans[e] = up
		}
	}
	aligns := map[string]*alignGroup{} // watermark alignment groups by name
	for _, c := range chains {
		head, tail := c[0], c[len(c)-1]
		var splits [][]connectors.Split
		if head.Kind == plan.Source {
			all, err := head.Source.Splits(ctx, head.Parallelism)
			if err != nil {
				return nil, fmt.Errorf("node %q: splits: %w", head.ID, err)
			}
			splits = make([][]connectors.Split, head.Parallelism)
			for i, s := range all {
				splits[i%head.Parallelism] = append(splits[i%head.Parallelism], s)
			}
		}
		for sub := 0; sub < head.Parallelism; sub++ {
			t := &task{job: j, chain: c, subtask: sub}
			if splits != nil {
				t.splits = splits[sub]
				if wm := head.Watermark; wm != nil && wm.AlignGroup != "" {
					g := aligns[wm.AlignGroup]
					if g == nil {
						g = newAlignGroup(wm.MaxDrift)
						aligns[wm.AlignGroup] = g
					}
					// Sources of one group may declare different drifts:
					// the group keeps the smallest.
					g.maxDrift = min(g.maxDrift, int64(wm.MaxDrift))
					t.align = g
					g.join(t)
				}
				if att.makeCoord != nil {
					t.triggers = make(chan compute.Barrier, maxPendingBarriers)
				}
			} else {
				t.gate = gates[head][sub]
			}
			for _, e := range tail.Outputs {
				o, err := newOutput(e, sub, outChans[e][sub], opts.Allocator, opts.Clock, p.BatchSize, p.MaxParallelism)
				if err != nil {
					return nil, fmt.Errorf("node %q: %w", tail.ID, err)
				}
				t.outs = append(t.outs, o)
			}
			j.tasks = append(j.tasks, t)
		}
	}
	if att.makeCoord != nil {
		c, err := att.makeCoord(j)
		if err != nil {
			return nil, err
		}
		att.coord = c
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	j.cancel = cancel
	j.runCtx = runCtx
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for _, t := range j.tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.run(runCtx); err != nil {
				once.Do(func() { firstErr = err })
				cancel(err)
			}
		}()
	}
	go func() {
		wg.Wait()
		cancel(nil) // stop acknowledgements still waiting for uploads
		j.acks.Wait()
		for _, ch := range j.channels {
			ch.drain()
		}
		for _, t := range j.tasks {
			for _, o := range t.outs {
				o.release()
			}
		}
		switch {
		case firstErr != nil && errors.Is(firstErr, context.Canceled) && ctx.Err() != nil:
			j.err = ctx.Err()
		default:
			j.err = firstErr
		}
		cancel(nil)
		close(j.done)
	}()
	return j, nil
}

// maxPendingBarriers is how many injected barriers a source task buffers;
// an injection beyond that is dropped, and its checkpoint times out.
const maxPendingBarriers = 16

// inject sends checkpoint barrier b to every source task that has not
// ended its input. It never blocks.
func (j *Job) inject(b compute.Barrier) {
	for _, t := range j.tasks {
		if t.triggers == nil || t.inputEnded.Load() {
			continue
		}
		select {
		case t.triggers <- b:
		default:
			j.opts.Logger.Warn("checkpoint barrier dropped: source task busy", "job", j.plan.Name, "task", t.id(), "checkpoint", b.CheckpointID)
		}
	}
}

// taskIDs lists every task, as acknowledgements name them.
func (j *Job) taskIDs() []string {
	ids := make([]string, len(j.tasks))
	for i, t := range j.tasks {
		ids[i] = t.id()
	}
	return ids
}

// buildChains groups the plan's nodes into chains, in topological order.
func buildChains(p *plan.Plan) [][]*plan.Node {
	var chains [][]*plan.Node
	chainOf := map[*plan.Node]int{}
	for _, n := range p.Nodes {
		if len(n.Inputs) == 1 {
			e := n.Inputs[0]
			if e.Partitioning == plan.Forward && len(e.From.Outputs) == 1 && e.From.Parallelism == n.Parallelism {
				ci := chainOf[e.From]
				chains[ci] = append(chains[ci], n)
				chainOf[n] = ci
				continue
			}
		}
		chainOf[n] = len(chains)
		chains = append(chains, []*plan.Node{n})
	}
	return chains
}

// Wait blocks until the job has stopped and returns why: nil when every
// source was exhausted and every sink flushed, the context's error when it was
// cancelled, or the first task error.
func (j *Job) Wait() error {
	<-j.done
	return j.err
}

// Done is closed when the job has stopped.
func (j *Job) Done() <-chan struct{} { return j.done }

// Cancel stops the job. Wait then returns context.Canceled.
func (j *Job) Cancel() { j.cancel(context.Canceled) }

// Metrics returns a snapshot of the job's counters.
func (j *Job) Metrics() Metrics {
	var m Metrics
	for _, n := range j.plan.Nodes {
		nm := j.nodes[n]
		out := NodeMetrics{
			ID:          n.ID,
			Kind:        n.Kind,
			Parallelism: n.Parallelism,
			RowsIn:      nm.rowsIn.Load(),
			RowsOut:     nm.rowsOut.Load(),
			BatchesIn:   nm.batchesIn.Load(),
			BatchesOut:  nm.batchesOut.Load(),
			RowsSide:    nm.rowsSide.Load(),
		}
		min := int64(0)
		for i := range nm.watermarks {
			w := nm.watermarks[i].Load()
			if w == 0 {
				min = 0
				break
			}
			if i == 0 || w < min {
				min = w
			}
		}
		if min != 0 {
			out.Watermark = time.UnixMilli(min).UTC()
		}
		m.Nodes = append(m.Nodes, out)
	}
	return m
}
