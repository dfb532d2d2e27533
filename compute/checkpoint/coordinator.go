package checkpoint

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// Deps is what a Coordinator works with. Callbacks are called from the
// coordinator's goroutine, one at a time.
type Deps struct {
	// Clock times triggers and timeouts. Default clock.Real().
	Clock clock.Clock
	// Logger receives the coordinator's logs, with job and checkpoint
	// attributes. Default slog.Default().
	Logger *slog.Logger

	// Job, Attempt, MaxParallelism, Operators and StateBackend are recorded
	// in every checkpoint's metadata. Job is required.
	Job            string
	Attempt        uint64
	MaxParallelism int
	Operators      []Operator
	StateBackend   string

	// Store keeps the job's checkpoint metadata. Required.
	Store *Store
	// FirstID is the first checkpoint id to use: above every id the job
	// ever used (Store.MaxID()+1, or above the restored checkpoint). Default 1.
	FirstID uint64
	// Tasks are the tasks that must acknowledge every checkpoint, e.g.
	// "nodeID/subtask". Required, no duplicates.
	Tasks []string

	// Inject sends a barrier into every source task. It must not block.
	// Required.
	Inject func(b compute.Barrier)
	// Commit commits the sink transactions of a completed checkpoint. It
	// must be idempotent: a transaction that a task reported again in a
	// later ack may be committed again. A commit error fails the job
	// (through Fail). Required.
	Commit func(ctx context.Context, txns []SinkTxn) error
	// Pin, if set, is called before a savepoint's metadata is written, to
	// keep its state from garbage collection. An error fails the savepoint.
	Pin func(ctx context.Context, id uint64) error
	// Retain, if set, is called after every completed checkpoint, once old
	// checkpoints were deleted, with the oldest checkpoint id whose state
	// must be kept.
	Retain func(keepFrom uint64)
	// Aborted, if set, is called when a checkpoint failed or was aborted,
	// so tasks can drop what they upload for it.
	Aborted func(id uint64)
	// Fail, if set, is called once when the job must fail: more
	// consecutive checkpoint failures than tolerated, a commit error, or
	// another process publishing the same checkpoint. It must not block,
	// nor call Stop.
	Fail func(err error)
}

// Stats are counters of a Coordinator.
type Stats struct {
	// Triggered counts checkpoints and savepoints triggered.
	Triggered uint64
	// Completed counts checkpoints, savepoints and final commits published.
	Completed uint64
	// Failed counts checkpoints that timed out, were declined, or whose
	// metadata could not be published.
	Failed uint64
	// Aborted counts checkpoints abandoned without failing: subsumed by a
	// later one, or cut short by the final commit or Stop.
	Aborted uint64
	// InFlight is the number of checkpoints pending now.
	InFlight int
	// ConsecutiveFailures is the number of checkpoints that failed since the
	// last one completed.
	ConsecutiveFailures int
	// LastCompleted is the id of the last checkpoint whose transactions
	// were committed.
	LastCompleted uint64
	// LastDuration is the time from trigger to publication of the last
	// completed checkpoint.
	LastDuration time.Duration
}

// idBlock is how many checkpoint ids one reservation in the Store covers.
const idBlock = 100

var (
	errStopped   = errors.New("checkpoint coordinator stopped")
	errFinishing = errors.New("the job is finishing")
)

// Coordinator triggers a job's checkpoints, collects the tasks'
// acknowledgements, publishes the metadata of complete checkpoints, commits
// their sink transactions and deletes old ones. All its state is owned by
// one goroutine; its methods are safe for concurrent use and, except
// TriggerSavepoint and Finish, never wait for I/O.
type Coordinator struct {
	cfg   Config
	d     Deps
	log   *slog.Logger
	tasks map[string]bool

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu struct {
		sync.Mutex
		inbox    []event
		started  bool
		stopped  bool
		nextID   uint64 // the next id to allocate
		reserved uint64 // ids up to here are reserved in the store
		finalID  uint64 // 0 until FinalID
		stats    Stats
	}

	// Owned by the loop goroutine.
	pending     map[uint64]*pending
	carried     []carriedTxn            // transactions of failed or aborted checkpoints
	ended       map[string]finishedTask // tasks that finished their input
	nextTrigger time.Time
	lastEnd     time.Time // completion or abort of the last checkpoint
	failures    int       // consecutive
	failed      bool      // Fail was called
	finished    bool      // the final commit was published
}

type eventKind uint8

const (
	evAck eventKind = iota
	evDecline
	evTaskFinished
	evSavepoint
	evFinish
	evSync
)

type event struct {
	kind  eventKind
	id    uint64
	task  string
	snap  TaskSnapshot
	err   error
	dir   string
	ctx   context.Context
	reply chan result
}

type result struct {
	url string
	err error
}

type pending struct {
	id          uint64
	kind        Kind
	triggeredAt time.Time
	deadline    time.Time
	waiting     map[string]bool
	snap        TaskSnapshot
	dir         string      // savepoint directory
	reply       chan result // savepoint waiter
}

// finishedTask is what a task that ended its input left for the
// checkpoints after the last barrier it took.
type finishedTask struct {
	lastBarrier uint64
	positions   []SplitPosition
}

type carriedTxn struct {
	from uint64 // the checkpoint that failed or was aborted
	txn  SinkTxn
}

// New returns a coordinator for cfg, which it validates and completes with
// defaults. Errors name the field and its value.
func New(cfg Config, d Deps) (*Coordinator, error) {
	cfg.EnsureDefaults()
	err := cfg.Validate()
	need := func(ok bool, field string) {
		if !ok {
			err = errors.Join(err, fmt.Errorf("checkpoint coordinator: %s is required", field))
		}
	}
	need(d.Job != "", "Deps.Job")
	need(d.Store != nil, "Deps.Store")
	need(d.Inject != nil, "Deps.Inject")
	need(d.Commit != nil, "Deps.Commit")
	need(len(d.Tasks) > 0, "Deps.Tasks")
	for _, e := range checkOperators(d.Operators, d.MaxParallelism) {
		err = errors.Join(err, fmt.Errorf("checkpoint coordinator: Deps.Operators: %s", e))
	}
	tasks := make(map[string]bool, len(d.Tasks))
	for _, t := range d.Tasks {
		if tasks[t] {
			err = errors.Join(err, fmt.Errorf("checkpoint coordinator: Deps.Tasks lists %q twice", t))
		}
		tasks[t] = true
	}
	if err != nil {
		return nil, err
	}
	if d.Clock == nil {
		d.Clock = clock.Real()
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.FirstID == 0 {
		d.FirstID = 1
	}
	c := &Coordinator{
		cfg:     cfg,
		d:       d,
		log:     d.Logger.With("job", d.Job, "attempt", d.Attempt),
		tasks:   tasks,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: map[uint64]*pending{},
		ended:   map[string]finishedTask{},
	}
	c.mu.nextID = d.FirstID
	c.mu.reserved = d.FirstID - 1
	return c, nil
}

// Start starts the coordinator's goroutine. The first periodic checkpoint
// is triggered one Interval later. Cancelling ctx stops the coordinator as
// Stop does, except that Stop must still be called to wait for it. Calls
// after the first, or after Stop, do nothing.
func (c *Coordinator) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.started || c.mu.stopped {
		return
	}
	c.mu.started = true
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.nextTrigger = c.d.Clock.Now().Add(c.cfg.Interval)
	go c.run()
}

// Stop aborts the pending checkpoints, fails waiting TriggerSavepoint and
// Finish calls, and waits for the coordinator's goroutine to end.
// Idempotent.
func (c *Coordinator) Stop() {
	c.mu.Lock()
	started, already := c.mu.started, c.mu.stopped
	c.mu.stopped = true
	var orphans []event
	if !started {
		orphans, c.mu.inbox = c.mu.inbox, nil
	}
	c.mu.Unlock()
	for _, ev := range orphans {
		replyStopped(ev)
	}
	if !started {
		return
	}
	if !already {
		c.cancel()
	}
	<-c.done
}

func replyStopped(ev event) {
	if ev.reply != nil {
		ev.reply <- result{err: errStopped}
	}
}

// post queues ev for the loop. It reports false if the coordinator is
// stopped.
func (c *Coordinator) post(ev event) bool {
	c.mu.Lock()
	if c.mu.stopped {
		c.mu.Unlock()
		return false
	}
	c.mu.inbox = append(c.mu.inbox, ev)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// Ack records that task took its part of checkpoint id. Acks of unknown,
// completed or aborted checkpoints are ignored. A task must acknowledge
// checkpoints in the order of their ids.
func (c *Coordinator) Ack(id uint64, task string, snap TaskSnapshot) {
	c.post(event{kind: evAck, id: id, task: task, snap: snap})
}

// Decline records that task could not take its part of checkpoint id,
// which fails.
func (c *Coordinator) Decline(id uint64, task string, err error) {
	c.post(event{kind: evDecline, id: id, task: task, err: err})
}

// TaskFinished records that task has ended its input after taking the
// barrier of checkpoint lastBarrier (0: none): no later barrier reaches it.
// final is what it leaves: its sources' end positions and its sinks' last
// transactions, which hold every row it wrote.
//
// Checkpoints go on without it (as Flink's FLIP-147): every checkpoint
// after lastBarrier, pending or triggered later, counts the task as
// acknowledged with final's positions and no state, since a finished task
// has emitted everything its state could still produce and downstream
// tasks align on its end of input. final's transactions are committed by
// the first such checkpoint that completes (or by Finish). A restored
// finished task reads nothing and emits nothing.
func (c *Coordinator) TaskFinished(task string, lastBarrier uint64, final TaskSnapshot) {
	c.post(event{kind: evTaskFinished, id: lastBarrier, task: task, snap: final})
}

// TriggerSavepoint triggers a savepoint at once (regardless of Interval,
// MinPause and MaxConcurrent), waits until it is written under dir, an
// object storage URL, and returns its URL. If ctx ends first, it returns
// ctx's error and the savepoint goes on without a waiter.
func (c *Coordinator) TriggerSavepoint(ctx context.Context, dir string) (string, error) {
	if dir == "" {
		return "", errors.New("savepoint: the target directory is empty")
	}
	r, err := c.await(ctx, c.requestSavepoint(dir))
	return r.url, err
}

func (c *Coordinator) requestSavepoint(dir string) chan result {
	reply := make(chan result, 1)
	if !c.post(event{kind: evSavepoint, dir: dir, reply: reply}) {
		reply <- result{err: errStopped}
	}
	return reply
}

func (c *Coordinator) await(ctx context.Context, reply chan result) (result, error) {
	select {
	case r := <-reply:
		return r, r.err
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
}

// FinalID stops periodic checkpoints and savepoints and returns the id of
// the final commit: the same on every call.
func (c *Coordinator) FinalID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.finalID == 0 {
		c.mu.finalID = c.mu.nextID
		c.mu.nextID++
	}
	return c.mu.finalID
}

// Finish is called once the job has ended: it aborts pending checkpoints,
// publishes metadata of Kind Final with id FinalID() holding final's
// positions, states and transactions plus the transactions of failed or
// aborted checkpoints that tasks reported, commits those transactions and
// applies retention. The coordinator must have been started.
func (c *Coordinator) Finish(ctx context.Context, final TaskSnapshot) error {
	c.mu.Lock()
	started := c.mu.started
	c.mu.Unlock()
	if !started {
		return errors.New("final commit: the checkpoint coordinator was not started")
	}
	reply := make(chan result, 1)
	if !c.post(event{kind: evFinish, snap: final, ctx: ctx, reply: reply}) {
		return errStopped
	}
	_, err := c.await(ctx, reply)
	return err
}

// LastCompleted returns the id of the last checkpoint whose transactions
// were committed, 0 if none.
func (c *Coordinator) LastCompleted() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.stats.LastCompleted
}

// Stats returns the coordinator's counters.
func (c *Coordinator) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.stats
}

// sync waits until the loop has handled every event posted before and
// acted on the clock's current time. Tests use it.
func (c *Coordinator) sync() {
	reply := make(chan result, 1)
	if c.post(event{kind: evSync, reply: reply}) {
		<-reply
	}
}

func (c *Coordinator) stats(f func(s *Stats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.mu.stats)
}

func (c *Coordinator) finalTaken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.finalID != 0
}

// run is the coordinator's goroutine.
func (c *Coordinator) run() {
	defer close(c.done)
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	c.reserve(false)
	for {
		if c.ctx.Err() != nil {
			c.shutdown()
			return
		}
		// One reading of the clock per round: a trigger decided at a later
		// reading than the expiry would start a checkpoint beside one that
		// is overdue, before its failure starts the minimum pause.
		now := c.d.Clock.Now()
		c.expire(now)
		c.mu.Lock()
		events := c.mu.inbox
		c.mu.inbox = nil
		c.mu.Unlock()
		var syncs []chan result
		for _, ev := range events {
			if ev.kind == evSync {
				syncs = append(syncs, ev.reply)
				continue
			}
			c.handle(ev)
		}
		c.maybeTrigger(now)
		for _, s := range syncs {
			s <- result{}
		}

		var fire <-chan time.Time
		if at, ok := c.nextWake(); ok {
			d := at.Sub(c.d.Clock.Now())
			if timer == nil {
				timer = c.d.Clock.NewTimer(d)
			} else {
				if !timer.Stop() {
					select {
					case <-timer.C():
					default:
					}
				}
				timer.Reset(d)
			}
			fire = timer.C()
		}
		select {
		case <-c.wake:
		case <-fire:
		case <-c.ctx.Done():
		}
	}
}

// shutdown aborts everything pending and answers the requests left in the
// inbox; nothing is posted after Stop.
func (c *Coordinator) shutdown() {
	for _, p := range c.sortedPending() {
		c.abort(p, errStopped, false)
	}
	c.mu.Lock()
	c.mu.stopped = true // when Start's context ended, Stop was not called
	events := c.mu.inbox
	c.mu.inbox = nil
	c.mu.Unlock()
	for _, ev := range events {
		replyStopped(ev)
	}
}

func (c *Coordinator) handle(ev event) {
	switch ev.kind {
	case evAck:
		c.ack(ev.id, ev.task, ev.snap)
	case evDecline:
		p := c.pending[ev.id]
		if p == nil {
			c.log.Debug("decline of a checkpoint that is not pending", "checkpoint", ev.id, "task", ev.task, "err", ev.err)
			return
		}
		c.failCheckpoint(p, fmt.Errorf("declined by task %q: %w", ev.task, ev.err))
	case evTaskFinished:
		c.taskFinished(ev.task, ev.id, ev.snap)
	case evSavepoint:
		if err := c.cannotTrigger(); err != nil {
			ev.reply <- result{err: fmt.Errorf("savepoint: %w", err)}
			return
		}
		c.trigger(c.d.Clock.Now(), Savepoint, ev.dir, ev.reply)
	case evFinish:
		ev.reply <- result{err: c.finish(ev.ctx, ev.snap)}
	}
}

// cannotTrigger says why no checkpoint may start now, or returns nil.
func (c *Coordinator) cannotTrigger() error {
	switch {
	case c.failed:
		return errors.New("the job is failing")
	case len(c.ended) == len(c.tasks):
		return errFinishing
	case c.finalTaken():
		return errFinishing
	}
	return nil
}

// nextWake returns when the loop must next act on its own: the earliest
// checkpoint deadline or periodic trigger.
func (c *Coordinator) nextWake() (time.Time, bool) {
	at, ok := c.triggerAt()
	for _, p := range c.pending {
		if !ok || p.deadline.Before(at) {
			at, ok = p.deadline, true
		}
	}
	return at, ok
}

// triggerAt returns when the next periodic checkpoint may be triggered, if
// one may.
func (c *Coordinator) triggerAt() (time.Time, bool) {
	if c.cfg.Interval == 0 || len(c.pending) >= c.cfg.MaxConcurrent || c.cannotTrigger() != nil {
		return time.Time{}, false
	}
	at := c.nextTrigger
	if !c.lastEnd.IsZero() {
		if p := c.lastEnd.Add(c.cfg.MinPause); p.After(at) {
			at = p
		}
	}
	return at, true
}

func (c *Coordinator) maybeTrigger(now time.Time) {
	if at, ok := c.triggerAt(); ok && !now.Before(at) {
		c.nextTrigger = now.Add(c.cfg.Interval)
		c.trigger(now, Periodic, "", nil)
	}
}

// expire fails the checkpoints whose deadline has passed.
func (c *Coordinator) expire(now time.Time) {
	for _, p := range c.sortedPending() {
		if !now.Before(p.deadline) {
			c.failCheckpoint(p, fmt.Errorf("timed out: not complete %v after its trigger", c.cfg.Timeout))
		}
	}
}

func (c *Coordinator) sortedPending() []*pending {
	return slices.SortedFunc(maps.Values(c.pending), func(a, b *pending) int { return cmp.Compare(a.id, b.id) })
}

// reserve records ids in the store so that a later attempt starts above
// them. With forNext it makes sure the next id and one more (for FinalID)
// are reserved, and returns the error; otherwise it reserves ahead once
// and only logs an error.
func (c *Coordinator) reserve(forNext bool) error {
	c.mu.Lock()
	next, reserved := c.mu.nextID, c.mu.reserved
	c.mu.Unlock()
	if reserved >= next+1 {
		return nil
	}
	upTo := next + idBlock
	ctx, cancel := withClockDeadline(c.ctx, c.d.Clock, c.d.Clock.Now().Add(c.cfg.Timeout),
		fmt.Errorf("reserving checkpoint ids took longer than the timeout %v", c.cfg.Timeout))
	err := c.d.Store.ReserveIDs(ctx, upTo)
	err = withCause(ctx, err)
	cancel()
	if err != nil {
		if !forNext {
			c.log.Warn("could not reserve checkpoint ids; will retry at the next trigger", "up_to", upTo, "err", err)
		}
		return err
	}
	c.mu.Lock()
	c.mu.reserved = max(c.mu.reserved, upTo)
	c.mu.Unlock()
	return nil
}

// allocate returns a new checkpoint id.
func (c *Coordinator) allocate() (uint64, error) {
	if err := c.reserve(true); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.finalID != 0 {
		return 0, errFinishing
	}
	id := c.mu.nextID
	c.mu.nextID++
	return id, nil
}

func (c *Coordinator) trigger(now time.Time, kind Kind, dir string, reply chan result) {
	id, err := c.allocate()
	if err != nil {
		err = fmt.Errorf("triggering a %s: %w", kind, err)
		if reply != nil {
			reply <- result{err: err}
			return
		}
		if errors.Is(err, errFinishing) {
			return // FinalID was called since triggerAt: not a failure
		}
		c.stats(func(s *Stats) { s.Failed++ })
		c.lastEnd = now
		c.countFailure(err)
		return
	}
	p := &pending{
		id:          id,
		kind:        kind,
		triggeredAt: now,
		deadline:    now.Add(c.cfg.Timeout),
		waiting:     make(map[string]bool, len(c.tasks)-len(c.ended)),
		dir:         dir,
		reply:       reply,
	}
	for t := range c.tasks {
		if f, ok := c.ended[t]; ok {
			p.snap.Positions = append(p.snap.Positions, f.positions...)
		} else {
			p.waiting[t] = true
		}
	}
	c.pending[id] = p
	c.stats(func(s *Stats) { s.Triggered++; s.InFlight = len(c.pending) })
	c.log.Debug("checkpoint triggered", "checkpoint", id, "kind", kind)
	c.d.Inject(compute.Barrier{CheckpointID: id, Savepoint: kind == Savepoint, Timestamp: now})
}

func (c *Coordinator) ack(id uint64, task string, snap TaskSnapshot) {
	p := c.pending[id]
	if p == nil {
		c.log.Debug("ack of a checkpoint that is not pending", "checkpoint", id, "task", task)
		return
	}
	if !p.waiting[task] {
		if !c.tasks[task] {
			c.log.Warn("ack from an unknown task", "checkpoint", id, "task", task)
		}
		return
	}
	delete(p.waiting, task)
	p.snap.Positions = append(p.snap.Positions, snap.Positions...)
	p.snap.States = append(p.snap.States, snap.States...)
	p.snap.Txns = append(p.snap.Txns, snap.Txns...)
	if len(p.waiting) == 0 {
		c.complete(p)
	}
}

func (c *Coordinator) taskFinished(task string, lastBarrier uint64, final TaskSnapshot) {
	if !c.tasks[task] {
		c.log.Warn("unknown task finished", "task", task)
		return
	}
	if _, dup := c.ended[task]; dup {
		c.log.Warn("task finished twice", "task", task)
		return
	}
	c.ended[task] = finishedTask{lastBarrier: lastBarrier, positions: final.Positions}
	for _, t := range final.Txns {
		c.carried = append(c.carried, carriedTxn{from: lastBarrier, txn: t})
	}
	c.log.Info("a task finished its input; checkpoints go on without it", "task", task, "last_barrier", lastBarrier)
	// The checkpoints after its last barrier will not hear from it: it
	// counts as acknowledged with what it left. (It acknowledges the
	// others itself.)
	for _, p := range c.sortedPending() {
		if p.id <= lastBarrier || !p.waiting[task] {
			continue
		}
		delete(p.waiting, task)
		p.snap.Positions = append(p.snap.Positions, final.Positions...)
		if len(p.waiting) == 0 {
			c.complete(p)
		}
	}
}

// remove takes p out of the pending set.
func (c *Coordinator) remove(p *pending) {
	delete(c.pending, p.id)
	c.stats(func(s *Stats) { s.InFlight = len(c.pending) })
}

// carry keeps the transactions p collected for the next checkpoint that
// completes after it: their rows are part of the output.
func (c *Coordinator) carry(p *pending) {
	for _, t := range p.snap.Txns {
		c.carried = append(c.carried, carriedTxn{from: p.id, txn: t})
	}
}

// failCheckpoint fails p: a timeout, a decline or a publication error.
func (c *Coordinator) failCheckpoint(p *pending, cause error) {
	c.remove(p)
	c.carry(p)
	c.lastEnd = c.d.Clock.Now()
	c.stats(func(s *Stats) { s.Failed++ })
	if c.d.Aborted != nil {
		c.d.Aborted(p.id)
	}
	err := fmt.Errorf("%s %d failed: %w", p.kind, p.id, cause)
	if p.reply != nil {
		// A failed savepoint is the user's to retry; it does not count
		// against the job.
		c.log.Warn("savepoint failed", "checkpoint", p.id, "err", cause)
		p.reply <- result{err: err}
		return
	}
	c.countFailure(err)
}

// countFailure counts one failed periodic checkpoint and fails the job when
// there are too many in a row.
func (c *Coordinator) countFailure(err error) {
	c.failures++
	n := c.failures
	c.stats(func(s *Stats) { s.ConsecutiveFailures = n })
	c.log.Warn("checkpoint failed", "err", err, "consecutive_failures", n, "tolerable", c.cfg.TolerableFailures)
	if n > c.cfg.TolerableFailures {
		c.failJob(fmt.Errorf("checkpoints failed %d times in a row, more than tolerable_failures = %d; the last: %w", n, c.cfg.TolerableFailures, err))
	}
}

// abort abandons p without counting a failure. With keep, its transactions
// are carried to the next checkpoint.
func (c *Coordinator) abort(p *pending, cause error, keep bool) {
	c.remove(p)
	if keep {
		c.carry(p)
	}
	c.lastEnd = c.d.Clock.Now()
	c.stats(func(s *Stats) { s.Aborted++ })
	if c.d.Aborted != nil {
		c.d.Aborted(p.id)
	}
	c.log.Info("checkpoint aborted", "checkpoint", p.id, "kind", p.kind, "reason", cause)
	if p.reply != nil {
		p.reply <- result{err: fmt.Errorf("%s %d aborted: %w", p.kind, p.id, cause)}
	}
}

func (c *Coordinator) failJob(err error) {
	if c.failed {
		return
	}
	c.failed = true
	c.log.Error("checkpointing fails the job", "err", err)
	if c.d.Fail != nil {
		c.d.Fail(err)
	}
}

func (c *Coordinator) metadata(id uint64, kind Kind, triggered, completed time.Time, snap TaskSnapshot, txns []SinkTxn) *Metadata {
	return &Metadata{
		Job:            c.d.Job,
		ID:             id,
		Kind:           kind,
		Attempt:        c.d.Attempt,
		TriggeredAt:    triggered,
		CompletedAt:    completed,
		MaxParallelism: c.d.MaxParallelism,
		Operators:      c.d.Operators,
		StateBackend:   c.d.StateBackend,
		Positions:      snap.Positions,
		States:         snap.States,
		Txns:           txns,
	}
}

// complete publishes p, every task having acknowledged it, commits its
// transactions and applies retention. Pending checkpoints with smaller ids
// are subsumed: their transactions are committed with p.
func (c *Coordinator) complete(p *pending) {
	now := c.d.Clock.Now()
	var txns []SinkTxn
	for _, ct := range c.carried {
		if ct.from < p.id {
			txns = append(txns, ct.txn)
		}
	}
	var subsumed []*pending
	for _, q := range c.sortedPending() {
		if q.id < p.id {
			subsumed = append(subsumed, q)
			txns = append(txns, q.snap.Txns...)
		}
	}
	txns = dedupeTxns(append(txns, p.snap.Txns...))
	md := c.metadata(p.id, p.kind, p.triggeredAt, now, p.snap, txns)

	ctx, cancel := withClockDeadline(c.ctx, c.d.Clock, p.deadline,
		fmt.Errorf("timed out: not published %v after its trigger", c.cfg.Timeout))
	url, err := c.publish(ctx, p, md)
	err = withCause(ctx, err)
	cancel()
	if err != nil && c.ctx.Err() != nil {
		c.abort(p, errStopped, true) // stopping is no checkpoint failure
		return
	}
	if err != nil {
		if errors.Is(err, objstore.ErrAlreadyExists) && p.kind != Savepoint || errors.Is(err, errFenced) {
			c.failJob(fmt.Errorf("%s %d: another process published it first; this attempt is stale: %w", p.kind, p.id, err))
		}
		c.failCheckpoint(p, err)
		return
	}

	c.remove(p)
	c.failures = 0
	c.lastEnd = now
	c.stats(func(s *Stats) {
		s.Completed++
		s.ConsecutiveFailures = 0
		s.LastDuration = now.Sub(p.triggeredAt)
	})
	for _, q := range subsumed {
		c.abort(q, fmt.Errorf("subsumed by %s %d", p.kind, p.id), false)
	}
	c.carried = slices.DeleteFunc(c.carried, func(ct carriedTxn) bool { return ct.from < p.id })

	if err := c.commit(md); err != nil {
		if c.ctx.Err() == nil {
			c.failJob(err)
		}
		if p.reply != nil {
			p.reply <- result{url: url, err: err}
		}
		return
	}
	c.log.Info("checkpoint completed", "checkpoint", p.id, "kind", p.kind,
		"duration", now.Sub(p.triggeredAt), "states", len(md.States), "txns", len(md.Txns), "savepoint", url)
	c.retain()
	if p.reply != nil {
		p.reply <- result{url: url}
	}
}

var errFenced = errors.New("fenced")

// publish writes md: for a savepoint, pins its state and writes it to its
// directory first; then publishes it in the job's store.
func (c *Coordinator) publish(ctx context.Context, p *pending, md *Metadata) (string, error) {
	var url string
	if p.kind == Savepoint {
		if c.d.Pin != nil {
			if err := c.d.Pin(ctx, p.id); err != nil {
				return "", fmt.Errorf("pinning its state: %w", err)
			}
		}
		var err error
		if url, err = c.d.Store.WriteSavepoint(ctx, p.dir, md); err != nil {
			return "", err
		}
	}
	if err := c.d.Store.Write(ctx, md); err != nil {
		if url != "" {
			if errors.Is(err, objstore.ErrAlreadyExists) {
				err = fmt.Errorf("%w: %w", errFenced, err)
			}
			return "", fmt.Errorf("the savepoint was written to %s, but it could not be published to the job's checkpoints: %w", url, err)
		}
		return "", err
	}
	return url, nil
}

// commit commits md's transactions, in at most Timeout.
func (c *Coordinator) commit(md *Metadata) error {
	if len(md.Txns) == 0 {
		c.setLastCompleted(md.ID)
		return nil
	}
	ctx, cancel := withClockDeadline(c.ctx, c.d.Clock, c.d.Clock.Now().Add(c.cfg.Timeout),
		fmt.Errorf("the commit took longer than the timeout %v", c.cfg.Timeout))
	err := withCause(ctx, c.d.Commit(ctx, md.Txns))
	cancel()
	if err != nil {
		return fmt.Errorf("%s %d: committing %d sink transactions: %w", md.Kind, md.ID, len(md.Txns), err)
	}
	c.setLastCompleted(md.ID)
	return nil
}

func (c *Coordinator) setLastCompleted(id uint64) {
	c.stats(func(s *Stats) { s.LastCompleted = id })
}

// retain deletes all but the newest Retained checkpoints of the store and
// tells Retain the oldest one left.
func (c *Coordinator) retain() {
	ctx, cancel := withClockDeadline(c.ctx, c.d.Clock, c.d.Clock.Now().Add(c.cfg.Timeout),
		fmt.Errorf("retention took longer than the timeout %v", c.cfg.Timeout))
	defer cancel()
	ids, err := c.d.Store.List(ctx)
	if err != nil {
		c.log.Warn("retention: listing checkpoints failed; old ones stay until the next checkpoint", "err", withCause(ctx, err))
		return
	}
	if len(ids) == 0 {
		return
	}
	cut := max(len(ids)-c.cfg.Retained, 0)
	oldest := ids[cut]
	for _, id := range ids[:cut] {
		if err := c.d.Store.Delete(ctx, id); err != nil {
			c.log.Warn("retention: deleting a checkpoint failed; it is kept", "checkpoint", id, "err", withCause(ctx, err))
			oldest = min(oldest, id)
		}
	}
	if c.d.Retain != nil {
		c.d.Retain(oldest)
	}
}

// finish publishes and commits the final checkpoint.
func (c *Coordinator) finish(ctx context.Context, final TaskSnapshot) error {
	switch {
	case c.finished:
		return errors.New("final commit: already done")
	case c.failed:
		return errors.New("final commit: checkpointing has failed the job")
	}
	id := c.FinalID()
	for _, p := range c.sortedPending() {
		c.abort(p, errors.New("the job finished"), true)
	}
	txns := make([]SinkTxn, 0, len(c.carried)+len(final.Txns))
	for _, ct := range c.carried {
		txns = append(txns, ct.txn)
	}
	txns = dedupeTxns(append(txns, final.Txns...))
	now := c.d.Clock.Now()
	md := c.metadata(id, Final, now, now, final, txns)

	ctx, stop := mergeContexts(ctx, c.ctx)
	defer stop()
	wctx, cancel := withClockDeadline(ctx, c.d.Clock, now.Add(c.cfg.Timeout),
		fmt.Errorf("publishing the final commit took longer than the timeout %v", c.cfg.Timeout))
	err := withCause(wctx, c.d.Store.Write(wctx, md))
	cancel()
	if err != nil {
		return fmt.Errorf("final commit %d: %w", id, err)
	}
	c.finished = true
	c.carried = nil
	c.stats(func(s *Stats) { s.Completed++ })
	if err := c.commit(md); err != nil {
		return err
	}
	c.log.Info("final commit completed", "checkpoint", id, "txns", len(md.Txns))
	c.retain()
	return nil
}

// dedupeTxns drops repeated transactions (same node, subtask, checkpoint
// and bytes): a sink may report a transaction again in later acks until it
// is committed.
func dedupeTxns(txns []SinkTxn) []SinkTxn {
	slices.SortStableFunc(txns, compareTxn)
	return slices.CompactFunc(txns, func(a, b SinkTxn) bool { return compareTxn(a, b) == 0 })
}
