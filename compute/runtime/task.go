package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

// task runs one subtask of a chain.
type task struct {
	job     *Job
	chain   []*plan.Node
	subtask int

	splits []connectors.Split // for a source chain
	gate   *inputGate         // for a chain with inputs
	outs   []*output

	// For checkpoints: barriers injected at a source task, the position of
	// every split after the last batch the task processed, and the sink
	// operators of the chain.
	triggers chan compute.Barrier
	// lastBarrier is the id of the last checkpoint barrier the task took;
	// inputEnded is set once it has ended its input (read by inject).
	lastBarrier uint64
	inputEnded  atomic.Bool
	// align is the watermark alignment group of a source task, if any.
	align *alignGroup
	// acks are the goroutines acknowledging the task's checkpoints once
	// its stores' uploads are durable; close waits for them, so that a
	// task that finishes right after a barrier still acknowledges it.
	acks      sync.WaitGroup
	positions []connectors.Position
	splitDone []bool
	sinks     []*sinkOperator

	// ops run the chain's non-source nodes; opNodes[i] is ops[i]'s node.
	ops     []compute.Operator
	opNodes []*plan.Node
	// emitters[i] is what ops[i-1] (or the source, for i == 0) emits into;
	// emitters[len(ops)] feeds the outputs.
	emitters []compute.Emitter

	linger      clock.Timer
	lingerArmed bool

	stores     []statestore.Store // opened by the chain's operators
	storeNodes []string           // storeNodes[i] is the node of stores[i]

	// Processing-time callbacks of the chain's operators.
	ptOps      []int // indices into ops of ProcessingTimeOperators
	ptTimer    clock.Timer
	ptDeadline time.Time // when ptTimer fires; zero when disarmed
}

func (t *task) name() string {
	return fmt.Sprintf("node %q subtask %d", t.chain[len(t.chain)-1].ID, t.subtask)
}

// run opens the chain, processes its input, and closes the chain.
func (t *task) run(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			t.job.opts.Logger.Error("internal error", "task", t.name(), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s: internal error: %v", t.name(), r)
		}
	}()
	if err := t.open(ctx); err != nil {
		// Close what opened before the failure (operators, stores).
		return errors.Join(err, t.close())
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if t.splits != nil || t.chain[0].Kind == plan.Source {
		return t.runSource(ctx)
	}
	return t.runGate(ctx)
}

func (t *task) open(ctx context.Context) error {
	p := t.job.plan
	opts := t.job.opts
	for _, n := range t.chain {
		if n.Kind == plan.Source {
			continue
		}
		var op compute.Operator
		switch n.Kind {
		case plan.Sink:
			so := &sinkOperator{sink: n.Sink, node: n, coord: t.job.att.coord, subtask: t.subtask}
			t.sinks = append(t.sinks, so)
			op = so
		default:
			var err error
			if op, err = n.NewOperator(); err != nil {
				return fmt.Errorf("node %q subtask %d: %w", n.ID, t.subtask, err)
			}
		}
		var inputs []*arrow.Schema
		for _, e := range n.Inputs {
			inputs = append(inputs, edgeSchema(e))
		}
		keyGroups := exchange.KeyGroupRangeFor(t.subtask, n.Parallelism, p.MaxParallelism)
		oc := &compute.OperatorContext{
			Job:            p.Name,
			Node:           n.ID,
			Subtask:        t.subtask,
			Attempt:        t.job.att.number,
			Parallelism:    n.Parallelism,
			MaxParallelism: p.MaxParallelism,
			KeyGroups:      keyGroups,
			OpenStore:      t.storeOpener(n, keyGroups),
			InputSchemas:   inputs,
			Allocator:      opts.Allocator,
			Clock:          opts.Clock,
			Logger:         opts.Logger.With("job", p.Name, "node", n.ID, "subtask", t.subtask),
		}
		if err := op.Open(ctx, oc); err != nil {
			return fmt.Errorf("node %q subtask %d: open: %w", n.ID, t.subtask, err)
		}
		t.ops = append(t.ops, op)
		t.opNodes = append(t.opNodes, n)
	}
	t.emitters = make([]compute.Emitter, len(t.ops)+1)
	for i := range t.ops {
		t.emitters[i] = &opEmitter{t: t, i: i}
	}
	t.emitters[len(t.ops)] = &outEmitter{t: t}
	for i, op := range t.ops {
		if _, ok := op.(compute.ProcessingTimeOperator); ok {
			t.ptOps = append(t.ptOps, i)
		}
	}
	return nil
}

// armProcessingTime points the processing-time timer at the earliest
// deadline any operator of the chain asked for.
func (t *task) armProcessingTime() {
	if len(t.ptOps) == 0 {
		return
	}
	var next time.Time
	for _, i := range t.ptOps {
		if d, ok := t.ops[i].(compute.ProcessingTimeOperator).NextProcessingTime(); ok && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if next.Equal(t.ptDeadline) {
		return
	}
	if t.ptTimer != nil && !t.ptDeadline.IsZero() {
		t.ptTimer.Stop()
	}
	t.ptDeadline = next
	if next.IsZero() {
		return
	}
	d := next.Sub(t.job.opts.Clock.Now())
	if t.ptTimer == nil {
		t.ptTimer = t.job.opts.Clock.NewTimer(d)
	} else {
		select { // drop a fire of the previous deadline
		case <-t.ptTimer.C():
		default:
		}
		t.ptTimer.Reset(d)
	}
}

func (t *task) processingTimeC() <-chan time.Time {
	if t.ptDeadline.IsZero() {
		return nil
	}
	return t.ptTimer.C()
}

// onProcessingTime calls every operator whose deadline has come, in chain order.
func (t *task) onProcessingTime(ctx context.Context) error {
	t.ptDeadline = time.Time{}
	now := t.job.opts.Clock.Now()
	for _, i := range t.ptOps {
		op := t.ops[i].(compute.ProcessingTimeOperator)
		if d, ok := op.NextProcessingTime(); ok && !d.After(now) {
			if err := op.OnProcessingTime(ctx, now, t.emitters[i+1]); err != nil {
				return wrapNodeErr(t.opNodes[i], t.subtask, err)
			}
		}
	}
	t.armProcessingTime()
	return nil
}

// storeOpener returns the OpenStore function of node n's subtask.
func (t *task) storeOpener(n *plan.Node, owned statestore.KeyGroupRange) func(context.Context) (statestore.Store, error) {
	var store statestore.Store
	return func(ctx context.Context) (statestore.Store, error) {
		if store != nil {
			return store, nil
		}
		s, err := t.job.opts.State.Open(ctx, statestore.ShardOptions{
			Name:  fmt.Sprintf("%s/subtask-%d", n.ID, t.subtask),
			Epoch: t.job.att.number,
		}, t.job.att.states[n.ID], owned)
		if err != nil {
			return nil, fmt.Errorf("node %q subtask %d: opening state: %w", n.ID, t.subtask, err)
		}
		store = s
		t.stores = append(t.stores, s)
		t.storeNodes = append(t.storeNodes, n.ID)
		return s, nil
	}
}

func (t *task) close() error {
	t.acks.Wait()
	var err error
	for i, op := range t.ops {
		if cerr := op.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("node %q subtask %d: close: %w", t.opNodes[i].ID, t.subtask, cerr))
		}
	}
	for _, s := range t.stores {
		if cerr := s.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: closing state: %w", t.name(), cerr))
		}
	}
	if t.linger != nil {
		t.linger.Stop()
	}
	if t.ptTimer != nil {
		t.ptTimer.Stop()
	}
	return err
}

// opEmitter feeds ops[i], counting the batch as output of the node before it.
type opEmitter struct {
	t *task
	i int
}

func (e *opEmitter) Emit(ctx context.Context, b arrow.RecordBatch) error {
	return e.t.feed(ctx, e.i, 0, b)
}

// feed hands b to ops[i] as its input, counting it as output of the node
// before it in the chain.
func (t *task) feed(ctx context.Context, i, input int, b arrow.RecordBatch) error {
	rows := b.NumRows()
	if rows == 0 {
		b.Release()
		return nil
	}
	n := t.opNodes[i]
	if i > 0 || t.chain[0].Kind == plan.Source {
		prev := t.job.nodes[t.chain[indexOf(t.chain, n)-1]]
		prev.rowsOut.Add(rows)
		prev.batchesOut.Add(1)
	}
	m := t.job.nodes[n]
	m.rowsIn.Add(rows)
	m.batchesIn.Add(1)
	if err := t.ops[i].ProcessBatch(ctx, input, b, t.emitters[i+1]); err != nil {
		return wrapNodeErr(n, t.subtask, err)
	}
	return nil
}

func indexOf(chain []*plan.Node, n *plan.Node) int {
	for i, x := range chain {
		if x == n {
			return i
		}
	}
	return -1
}

func wrapNodeErr(n *plan.Node, subtask int, err error) error {
	var ne *NodeError
	if errors.As(err, &ne) || errors.Is(err, context.Canceled) {
		return err
	}
	return &NodeError{Node: n.ID, Subtask: subtask, Err: err}
}

// NodeError is an error raised while a node processed its input.
type NodeError struct {
	Node    string
	Subtask int
	Err     error
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("node %q subtask %d: %v", e.Node, e.Subtask, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// outEmitter sends the chain's output over every outgoing edge of the main
// output, and side outputs over the edges of their tag.
type outEmitter struct{ t *task }

var _ compute.SideEmitter = (*outEmitter)(nil)

func (e *outEmitter) Emit(ctx context.Context, b arrow.RecordBatch) error {
	rows := b.NumRows()
	if rows == 0 {
		b.Release()
		return nil
	}
	tail := e.t.job.nodes[e.t.chain[len(e.t.chain)-1]]
	tail.rowsOut.Add(rows)
	tail.batchesOut.Add(1)
	return e.send(ctx, "", b)
}

func (e *outEmitter) EmitSide(ctx context.Context, tag string, b arrow.RecordBatch) error {
	rows := b.NumRows()
	if rows == 0 {
		b.Release()
		return nil
	}
	e.t.job.nodes[e.t.chain[len(e.t.chain)-1]].rowsSide.Add(rows)
	return e.send(ctx, tag, b)
}

// send fans b out to every output of the tag.
func (e *outEmitter) send(ctx context.Context, tag string, b arrow.RecordBatch) error {
	t := e.t
	n := 0
	for _, o := range t.outs {
		if o.edge.Tag == tag {
			n++
		}
	}
	if n == 0 {
		b.Release()
		return nil
	}
	for i := 1; i < n; i++ {
		b.Retain()
	}
	for _, o := range t.outs {
		if o.edge.Tag != tag {
			continue
		}
		n--
		if err := o.emit(ctx, b); err != nil {
			for ; n > 0; n-- {
				b.Release()
			}
			return err
		}
	}
	t.armLinger()
	return nil
}

// armLinger starts the linger timer when an output holds pending pieces.
func (t *task) armLinger() {
	if t.lingerArmed {
		return
	}
	var oldest time.Time
	for _, o := range t.outs {
		if s := o.lingerSince(); !s.IsZero() && (oldest.IsZero() || s.Before(oldest)) {
			oldest = s
		}
	}
	if oldest.IsZero() {
		return
	}
	d := t.job.plan.Linger - t.job.opts.Clock.Now().Sub(oldest)
	if t.linger == nil {
		t.linger = t.job.opts.Clock.NewTimer(d)
	} else {
		t.linger.Reset(d)
	}
	t.lingerArmed = true
}

func (t *task) lingerC() <-chan time.Time {
	if !t.lingerArmed {
		return nil
	}
	return t.linger.C()
}

func (t *task) onLinger(ctx context.Context) error {
	t.lingerArmed = false
	for _, o := range t.outs {
		if err := o.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// process hands a batch from the chain's head input to the first operator.
func (t *task) process(ctx context.Context, b arrow.RecordBatch) error {
	return t.emitters[0].Emit(ctx, b)
}

// watermark runs the watermark through the chain and forwards it.
func (t *task) watermark(ctx context.Context, wm time.Time) error {
	for i, op := range t.ops {
		if err := op.ProcessWatermark(ctx, wm, t.emitters[i+1]); err != nil {
			return wrapNodeErr(t.opNodes[i], t.subtask, err)
		}
	}
	ms := wm.UnixMilli()
	for _, n := range t.chain {
		t.job.nodes[n].watermarks[t.subtask].Store(ms)
	}
	return t.broadcast(ctx, compute.Message{Kind: compute.KindWatermark, Watermark: wm})
}

// finish lets every operator emit what it holds, in chain order, and ends
// the outputs.
func (t *task) finish(ctx context.Context) error {
	for i, op := range t.ops {
		if err := op.Finish(ctx, t.emitters[i+1]); err != nil {
			return wrapNodeErr(t.opNodes[i], t.subtask, err)
		}
	}
	t.finished()
	return t.broadcast(ctx, compute.Message{Kind: compute.KindEndOfInput})
}

func (t *task) broadcast(ctx context.Context, m compute.Message) error {
	for _, o := range t.outs {
		if err := o.broadcast(ctx, m); err != nil {
			return err
		}
	}
	t.lingerArmed = false
	if t.linger != nil {
		t.linger.Stop()
	}
	return nil
}

// runGate processes the task's input gate until end of input.
func (t *task) runGate(ctx context.Context) error {
	g := t.gate
	t.armProcessingTime()
	for {
		ev, ok := g.poll()
		if !ok {
			select {
			case <-g.notify:
			case <-t.lingerC():
				if err := t.onLinger(ctx); err != nil {
					return err
				}
			case <-t.processingTimeC():
				if err := t.onProcessingTime(ctx); err != nil {
					return err
				}
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			continue
		}
		var err error
		switch ev.Kind {
		case compute.KindBatch:
			err = t.feed(ctx, 0, ev.input, ev.Batch)
		case compute.KindWatermark:
			if ev.Idle {
				err = t.broadcast(ctx, ev.Message)
				break
			}
			err = t.watermark(ctx, ev.Watermark)
		case compute.KindBarrier:
			err = t.barrier(ctx, ev.Barrier)
		case compute.KindEndOfInput:
			return t.finish(ctx)
		}
		if err != nil {
			return err
		}
		t.armProcessingTime()
	}
}

// splitEvent is what a split reader goroutine hands to its source task.
type splitEvent struct {
	split int
	batch arrow.RecordBatch
	err   error // io.EOF when the split is exhausted
	// wm is the split's watermark candidate after batch, when hasWM.
	wm    time.Time
	hasWM bool
	// pos is the split's position after batch.
	pos connectors.Position
}

// runSource reads the task's splits until all are exhausted. Each split is read
// by its own goroutine, so a slow or idle split does not hold up the others.
func (t *task) runSource(ctx context.Context) error {
	head := t.chain[0]
	p := t.job.plan
	readCtx, stopReaders := context.WithCancel(ctx)
	events := make(chan splitEvent, 2*len(t.splits)+1)
	done := make(chan struct{})
	readersLeft := len(t.splits)
	t.positions = make([]connectors.Position, len(t.splits))
	t.splitDone = make([]bool, len(t.splits))
	for i, s := range t.splits {
		t.positions[i] = t.job.att.positions[splitKey(head.ID, s.ID)]
		r, err := head.Source.Open(ctx, s, t.positions[i], connectors.ReadOptions{
			Allocator: t.job.opts.Allocator,
			BatchSize: p.BatchSize,
			Linger:    p.Linger,
			Clock:     t.job.opts.Clock,
		})
		if err != nil {
			stopReaders()
			return fmt.Errorf("node %q subtask %d: open split %q: %w", head.ID, t.subtask, s.ID, err)
		}
		// Positions matter only to checkpoints (the task has triggers
		// then): without them, no batch clones its split's position.
		go readSplit(readCtx, i, r, head.Watermark, t.triggers != nil, t.job.opts.Allocator, events, done)
	}
	defer func() {
		stopReaders()
		// Wait for the readers, releasing whatever they still hand over.
		for readersLeft > 0 {
			select {
			case ev := <-events:
				if ev.batch != nil {
					ev.batch.Release()
				}
			case <-done:
				readersLeft--
			}
		}
		for {
			select {
			case ev := <-events:
				if ev.batch != nil {
					ev.batch.Release()
				}
			default:
				return
			}
		}
	}()
	clk := t.job.opts.Clock
	var wms *sourceWatermarks
	var idleTimer clock.Timer
	var idleC <-chan time.Time
	armIdle := func() {}
	if head.Watermark != nil {
		wms = newSourceWatermarks(head.Watermark, len(t.splits), clk.Now())
		armIdle = func() {
			next, ok := wms.markIdle(clk.Now())
			if !ok {
				idleC = nil
				return
			}
			if idleTimer == nil {
				idleTimer = clk.NewTimer(next.Sub(clk.Now()))
			} else {
				idleTimer.Stop()
				idleTimer.Reset(next.Sub(clk.Now()))
			}
			idleC = idleTimer.C()
		}
		defer func() {
			if idleTimer != nil {
				idleTimer.Stop()
			}
		}()
		armIdle()
	}
	// emitWatermark sends what the splits' watermarks now allow.
	emitWatermark := func() error {
		if wms == nil {
			return nil
		}
		wm, advance, goIdle := wms.next()
		switch {
		case advance:
			if t.align != nil {
				t.align.update(t, wm, true)
			}
			return t.watermark(ctx, wm)
		case goIdle:
			if t.align != nil {
				t.align.update(t, time.Time{}, false)
			}
			return t.broadcast(ctx, compute.Message{Kind: compute.KindWatermark, Idle: true})
		}
		return nil
	}
	if t.align != nil {
		// Whatever ends the task, it no longer holds its group back.
		defer t.align.update(t, time.Time{}, false)
	}
	live := len(t.splits)
	t.armProcessingTime()
	for live > 0 {
		// A source too far ahead of its alignment group takes no batch
		// until the group's slowest catches up; barriers and timers go on.
		evC := events
		var alignC <-chan struct{}
		held := false
		if t.align != nil {
			if alignC, held = t.align.hold(t); held {
				evC = nil
			}
		}
		select {
		case <-alignC:
			// Released or not, the splits were not idle meanwhile.
			if wms != nil {
				wms.touch(clk.Now())
				armIdle()
			}
		case ev := <-evC:
			switch {
			case ev.err == io.EOF:
				live--
				t.splitDone[ev.split] = true
				if wms != nil {
					wms.end(ev.split)
				}
			case ev.err != nil:
				return fmt.Errorf("node %q subtask %d: read: %w", head.ID, t.subtask, ev.err)
			default:
				t.positions[ev.split] = ev.pos
				if err := t.process(ctx, ev.batch); err != nil {
					return err
				}
				if wms != nil {
					wms.observe(ev.split, ev.wm, ev.hasWM, clk.Now())
					if idleC == nil {
						armIdle()
					}
				}
			}
			if err := emitWatermark(); err != nil {
				return err
			}
			t.armProcessingTime()
		case <-t.processingTimeC():
			if err := t.onProcessingTime(ctx); err != nil {
				return err
			}
		case b := <-t.triggers:
			if err := t.barrier(ctx, b); err != nil {
				return err
			}
		case <-idleC:
			if held {
				wms.touch(clk.Now())
			}
			armIdle()
			if err := emitWatermark(); err != nil {
				return err
			}
		case <-t.lingerC():
			if err := t.onLinger(ctx); err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	// The input has ended: every event-time timer downstream may fire.
	if err := t.watermark(ctx, compute.MaxWatermark); err != nil {
		return err
	}
	return t.finish(ctx)
}

// readSplit reads split i until it ends, handing batches (with their
// watermark candidates and, with positions, the split's position after
// them) to the source task.
func readSplit(ctx context.Context, i int, r connectors.SplitReader, wm *plan.WatermarkStrategy, positions bool, mem memory.Allocator, events chan<- splitEvent, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	defer r.Close()
	send := func(ev splitEvent) bool {
		select {
		case events <- ev:
			return true
		case <-ctx.Done():
			if ev.batch != nil {
				ev.batch.Release()
			}
			return false
		}
	}
	for {
		b, err := r.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				send(splitEvent{split: i, err: err})
			}
			return
		}
		ev := splitEvent{split: i, batch: b}
		if positions {
			ev.pos = bytes.Clone(r.Position())
		}
		if wm != nil {
			ev.wm, ev.hasWM, err = watermarkCandidate(ctx, mem, wm, b)
			if err != nil {
				b.Release()
				send(splitEvent{split: i, err: err})
				return
			}
		}
		if !send(ev) {
			return
		}
	}
}
