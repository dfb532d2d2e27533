package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/restart"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore/cache"
	"github.com/sluicedata/sluice/statestore/lsm"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/memstore"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// RunOptions are what Run adds to Options.
type RunOptions struct {
	// Storage, if set, is the job's folder in object storage for the LSM
	// state backend and checkpoint metadata, instead of <plan.State.URL>/<job>/.
	// Tests inject faults through it.
	Storage objstore.Storage
	// Resume starts the job from its latest completed checkpoint, if it has
	// one (and otherwise from the start, or from FromSavepoint).
	Resume bool
	// FromSavepoint starts the job from the savepoint (or retained
	// checkpoint) at this URL.
	FromSavepoint string
	// Restart replaces the plan's restart strategy.
	Restart restart.Strategy
}

// Supervisor runs a job with checkpoints and restarts: every attempt starts
// from the latest completed checkpoint (or the savepoint the job started
// from), and a failed attempt is restarted as the restart strategy allows.
type Supervisor struct {
	plan        *plan.Plan
	opts        Options
	ro          RunOptions
	callerState bool // opts.State was given: use it, without checkpoints

	storage  objstore.Storage     // the job's folder; nil with the memory backend
	counter  *objstore.Counter    // counts storage requests
	ckpts    *checkpoint.Store    // nil with the memory backend
	lsmOpts  *lsm.Options         // nil with the memory backend
	keepFrom atomic.Uint64        // oldest checkpoint id whose state GC keeps
	restore  *checkpoint.Metadata // what the next attempt restores
	strategy restart.Strategy

	cancel   context.CancelCauseFunc
	stopping atomic.Bool // stopped on purpose (with a savepoint)
	done     chan struct{}
	err      error

	mu struct {
		sync.Mutex
		job   *Job
		coord *checkpoint.Coordinator
		// changed is closed (and replaced) whenever coord changes.
		changed chan struct{}
	}
	gcMu     sync.Mutex     // one state collection at a time
	gcWG     sync.WaitGroup // background collections
	gcActive atomic.Bool
	stats    struct {
		attempts, restarts  atomic.Int64
		lastCheckpointBytes atomic.Int64
		checkpointBytes     atomic.Int64
		completed           atomic.Int64
	}
}

// Run starts p under a Supervisor. It returns an error at once for what
// can be checked before the job runs: a savepoint that does not exist, is
// corrupt or does not match the job, or state storage that cannot be
// opened. Nothing is deleted in those cases.
func Run(ctx context.Context, p *plan.Plan, opts Options, ro RunOptions) (*Supervisor, error) {
	callerState := opts.State != nil
	opts = opts.ensureDefaults()
	if !callerState {
		opts.State = nil // chosen by the plan's state backend
	}
	s := &Supervisor{plan: p, opts: opts, ro: ro, done: make(chan struct{}), callerState: callerState}
	s.strategy = ro.Restart
	if s.strategy == nil && p.NewRestart != nil {
		s.strategy = p.NewRestart()
	}
	if s.strategy == nil {
		s.strategy = restart.None()
	}
	if err := s.openBackend(ctx); err != nil {
		return nil, err
	}
	if err := s.loadRestore(ctx); err != nil {
		s.closeBackend()
		return nil, err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	s.cancel = cancel
	go func() {
		defer close(s.done)
		defer s.closeBackend()
		defer s.closeSinks()
		s.err = s.loop(runCtx)
		cancel(nil)
	}()
	return s, nil
}

// jobURL appends the job's folder to the prefix of a state URL.
func jobURL(raw, job string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("state.lsm.url %q: not a URL: %w", raw, err)
	}
	q := u.Query()
	q.Set("prefix", q.Get("prefix")+objstore.SafeSegment(job)+"/")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (s *Supervisor) openBackend(ctx context.Context) error {
	p := s.plan
	if s.callerState && s.ro.Storage == nil {
		return nil // the caller chose the backend; no durability
	}
	if p.State.Kind == plan.BackendMemory {
		return nil
	}
	st := s.ro.Storage
	shown := "(given storage)"
	if st == nil {
		u, err := jobURL(p.State.URL, p.Name)
		if err != nil {
			return err
		}
		if st, err = objstore.Open(ctx, u); err != nil {
			return fmt.Errorf("state.lsm.url: %w", err)
		}
		shown = p.State.URL
	}
	s.counter = objstore.NewCounter(st)
	s.storage = s.counter
	bc, err := cache.New(cache.Options{Capacity: p.State.BlockCacheBytes})
	if err != nil {
		return fmt.Errorf("state.lsm.block_cache_bytes: %w", err)
	}
	o := lsm.Options{
		Storage:         s.storage,
		URL:             shown,
		Clock:           s.opts.Clock,
		Logger:          s.opts.Logger,
		BlockCache:      bc,
		MemtableSize:    p.State.MemtableBytes,
		MemtableEntries: p.State.MemtableEntries,
		RetentionFunc: func() manifest.Policy {
			return manifest.Policy{KeepLast: 1, KeepFrom: max(s.keepFrom.Load(), 1)}
		},
	}
	if p.State.CacheDir != "" {
		d, err := cache.OpenDisk(cache.DiskOptions{Dir: p.State.CacheDir, Capacity: p.State.CacheBytes})
		if err != nil {
			return fmt.Errorf("state.lsm.cache_dir: %w", err)
		}
		o.Disk = d
	}
	s.lsmOpts = &o
	s.ckpts = checkpoint.NewStore(s.storage, shown)
	return nil
}

func (s *Supervisor) closeBackend() {
	if s.storage != nil && s.ro.Storage == nil {
		_ = s.storage.Close()
	}
}

// closeSinks releases sinks that hold resources for the whole job (a bucket).
func (s *Supervisor) closeSinks() {
	for _, n := range s.plan.Nodes {
		if c, ok := n.Sink.(io.Closer); ok && n.Kind == plan.Sink {
			if err := c.Close(); err != nil {
				s.opts.Logger.Warn("closing sink", "job", s.plan.Name, "node", n.ID, "err", err)
			}
		}
	}
}

// operators describes the plan's nodes for checkpoint compatibility.
func operators(p *plan.Plan) []checkpoint.Operator {
	ops := make([]checkpoint.Operator, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		ops = append(ops, checkpoint.Operator{ID: n.ID, Kind: n.Kind.String(), Parallelism: n.Parallelism, Signature: n.Signature, Stateful: n.Stateful})
	}
	return ops
}

// loadRestore finds what the first attempt restores and checks that it
// fits the job.
func (s *Supervisor) loadRestore(ctx context.Context) error {
	var md *checkpoint.Metadata
	if s.ro.FromSavepoint != "" {
		if s.ckpts == nil {
			return errors.New("--from-savepoint: the memory state backend cannot restore a savepoint; use the lsm backend")
		}
		var err error
		if md, err = checkpoint.Load(ctx, s.ro.FromSavepoint); err != nil {
			return err // names the savepoint and what is wrong
		}
	}
	if s.ro.Resume && s.ckpts != nil {
		latest, err := s.ckpts.Latest(ctx)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if latest != nil && (md == nil || latest.ID > md.ID) {
			md = latest
		}
	}
	if md == nil {
		return nil
	}
	if md.Job != s.plan.Name {
		s.opts.Logger.Warn("restoring a checkpoint of another job", "job", s.plan.Name, "checkpoint_job", md.Job)
	}
	if err := md.Compatible(operators(s.plan), s.plan.MaxParallelism); err != nil {
		return fmt.Errorf("checkpoint %d does not fit job %q: %w", md.ID, s.plan.Name, err)
	}
	s.restore = md
	return nil
}

// loop runs attempts until the job finishes, is stopped, or fails for good.
func (s *Supervisor) loop(ctx context.Context) error {
	for {
		err := s.runAttempt(ctx)
		switch {
		case err == nil:
			return nil
		case s.stopping.Load() && ctx.Err() != nil:
			return nil
		case ctx.Err() != nil:
			// Cancelled (or the caller's context ended) while the attempt
			// ran. That is the outcome even if the attempt had failed
			// first: the strategy would have restarted it. The failure is
			// kept beside the cause.
			if cause := context.Cause(ctx); !errors.Is(err, cause) {
				return errors.Join(cause, err)
			}
			return err
		}
		delay, ok := s.strategy.OnFailure(s.opts.Clock.Now())
		if !ok {
			return err
		}
		s.opts.Logger.Warn("job failed; restarting", "job", s.plan.Name, "err", err, "delay", delay, "strategy", s.strategy.String())
		if err := sleep(ctx, s.opts.Clock, delay); err != nil {
			return err
		}
		s.stats.restarts.Add(1)
		if s.ckpts != nil {
			latest, lerr := s.ckpts.Latest(ctx)
			if lerr != nil {
				return errors.Join(err, fmt.Errorf("restart: %w", lerr))
			}
			if latest != nil && (s.restore == nil || latest.ID > s.restore.ID) {
				s.restore = latest
			}
		}
	}
}

// sleep waits d on clk, or until ctx ends.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// runAttempt runs the job once, from s.restore.
func (s *Supervisor) runAttempt(ctx context.Context) error {
	s.stats.attempts.Add(1)
	p := s.plan
	a := &attempt{number: uint64(s.stats.attempts.Load())}
	if s.ckpts != nil {
		n, err := s.ckpts.NextAttempt(ctx)
		if err != nil {
			return fmt.Errorf("claiming an attempt number: %w", err)
		}
		a.number = n
	}
	a.restoreFrom(s.restore)
	if s.restore != nil && s.restore.Kind == checkpoint.Final {
		// The job finished before: make sure its output is committed.
		return s.recoverSinks(ctx, s.restore)
	}
	if err := s.recoverSinks(ctx, s.restore); err != nil {
		return err
	}
	opts := s.opts
	if s.lsmOpts != nil {
		opts.State = lsm.NewOpener(*s.lsmOpts)
	} else if !s.callerState {
		// The memory backend: every attempt starts from empty state.
		opts.State = memstore.NewRegistry(memstore.Options{Clock: opts.Clock})
	}
	var coord *checkpoint.Coordinator
	if s.ckpts != nil {
		first, err := s.ckpts.MaxID(ctx)
		if err != nil {
			return fmt.Errorf("listing checkpoints: %w", err)
		}
		first++
		if s.restore != nil && s.restore.ID >= first {
			first = s.restore.ID + 1
		}
		if s.restore != nil {
			s.keepFrom.Store(s.restore.ID)
		} else {
			s.keepFrom.Store(first)
		}
		a.makeCoord = func(j *Job) (Coordinator, error) {
			c, err := checkpoint.New(p.Checkpoints, checkpoint.Deps{
				Clock:          opts.Clock,
				Logger:         opts.Logger,
				Job:            p.Name,
				Attempt:        a.number,
				MaxParallelism: p.MaxParallelism,
				Operators:      operators(p),
				StateBackend:   p.State.Kind + " " + s.lsmOpts.URL,
				Store:          s.ckpts,
				FirstID:        first,
				Tasks:          j.taskIDs(),
				Inject:         j.inject,
				Commit:         s.commit,
				Pin:            func(ctx context.Context, id uint64) error { return lsm.Pin(ctx, s.storage, id) },
				Retain:         func(keepFrom uint64) { s.retained(j, a.number, keepFrom) },
				Fail:           func(err error) { j.cancel(err) },
			})
			if err != nil {
				return nil, err
			}
			coord = c
			return c, nil
		}
	}
	j, err := start(ctx, p, opts, a)
	if err != nil {
		return err
	}
	if coord != nil {
		coord.Start(ctx)
	}
	s.setRunning(j, coord)
	err = j.Wait()
	if coord != nil {
		if err == nil {
			a.mu.Lock()
			final := a.finals
			a.mu.Unlock()
			err = coord.Finish(ctx, final)
		}
		coord.Stop()
	}
	s.setRunning(j, nil)
	if coord != nil {
		// Every store of the attempt is closed: collect what it left that
		// no retained checkpoint reaches.
		s.gcWG.Wait()
		p := manifest.Policy{KeepLast: 1, KeepFrom: s.keepFrom.Load()}
		if last, ok := s.lastStateCheckpoint(ctx); !ok {
			p = manifest.Policy{} // the listing failed: collect nothing now
		} else if last == 0 {
			p.KeepNone = true
		} else {
			p.KeepUntil = last
		}
		if p.KeepLast > 0 || p.KeepNone {
			s.collect(ctx, p, a.number+1)
		}
	}
	return err
}

// lastStateCheckpoint returns the id of the newest retained checkpoint
// that holds state (a final commit holds none, nor does a checkpoint taken
// after every stateful task finished), else of the checkpoint the job
// restored if no retained checkpoint is newer; 0 if there is none. ok is
// false if the listing failed.
func (s *Supervisor) lastStateCheckpoint(ctx context.Context) (last uint64, ok bool) {
	ids, err := s.ckpts.List(ctx)
	if err != nil {
		return 0, false
	}
	newer := false
	for i := len(ids) - 1; i >= 0; i-- {
		md, err := s.ckpts.Read(ctx, ids[i])
		if err != nil {
			return 0, false
		}
		if md.Kind != checkpoint.Final && len(md.States) > 0 {
			return ids[i], true
		}
		newer = newer || s.restore != nil && ids[i] > s.restore.ID
	}
	if r := s.restore; r != nil && r.Kind != checkpoint.Final && len(r.States) > 0 && !newer {
		return r.ID, true
	}
	return 0, true
}

// collect deletes state that no retained checkpoint reaches (see
// lsm.Collect); writers of attempts below fencedBelow have stopped.
// Failures are logged: the next collection retries.
func (s *Supervisor) collect(ctx context.Context, p manifest.Policy, fencedBelow uint64) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if _, err := lsm.Collect(ctx, s.storage, p, fencedBelow); err != nil && ctx.Err() == nil {
		s.opts.Logger.Warn("state garbage collection failed", "job", s.plan.Name, "err", err)
	}
}

// recoverSinks commits the transactions of the checkpoint an attempt
// restores and aborts whatever else earlier attempts left in transactional
// sinks.
func (s *Supervisor) recoverSinks(ctx context.Context, md *checkpoint.Metadata) error {
	for _, n := range s.plan.Nodes {
		ts, ok := n.Sink.(connectors.TransactionalSink)
		if n.Kind != plan.Sink || !ok {
			continue
		}
		rc := connectors.RecoverContext{Job: s.plan.Name}
		if md != nil {
			for _, t := range md.Txns {
				if t.Node == n.ID {
					rc.Txns = append(rc.Txns, t.Txn)
				}
			}
		}
		if err := ts.Committer().Recover(ctx, rc); err != nil {
			return fmt.Errorf("node %q: recovering sink transactions: %w", n.ID, err)
		}
	}
	return nil
}

// commit commits the sink transactions of a completed checkpoint.
func (s *Supervisor) commit(ctx context.Context, txns []checkpoint.SinkTxn) error {
	byNode := map[string][]connectors.Txn{}
	for _, t := range txns {
		byNode[t.Node] = append(byNode[t.Node], t.Txn)
	}
	for _, n := range s.plan.Nodes {
		list := byNode[n.ID]
		if len(list) == 0 {
			continue
		}
		ts, ok := n.Sink.(connectors.TransactionalSink)
		if !ok {
			return fmt.Errorf("node %q: transactions for a sink that is not transactional", n.ID)
		}
		if err := ts.Committer().Commit(ctx, list); err != nil {
			return fmt.Errorf("node %q: committing: %w", n.ID, err)
		}
	}
	return nil
}

// retained is called after a checkpoint completed: state older than
// keepFrom may be collected, and the checkpoint's upload size is recorded.
func (s *Supervisor) retained(j *Job, attempt, keepFrom uint64) {
	s.keepFrom.Store(keepFrom)
	// Collect what older checkpoints and attempts left, in the background
	// (skipped while one still runs).
	if s.gcActive.CompareAndSwap(false, true) {
		s.gcWG.Add(1)
		go func() {
			defer s.gcWG.Done()
			defer s.gcActive.Store(false)
			s.collect(j.runCtx, manifest.Policy{KeepLast: 1, KeepFrom: keepFrom}, attempt)
		}()
	}
	s.stats.completed.Add(1)
	select {
	case <-j.done: // the final commit: no store took part
		return
	default:
	}
	var bytes int64
	for _, t := range j.tasks {
		for _, st := range t.stores {
			bytes += st.Metrics().LastCheckpointBytes
		}
	}
	s.stats.lastCheckpointBytes.Store(bytes)
	s.stats.checkpointBytes.Add(bytes)
}

func (s *Supervisor) setRunning(j *Job, coord *checkpoint.Coordinator) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.job, s.mu.coord = j, coord
	if s.mu.changed != nil {
		close(s.mu.changed)
	}
	s.mu.changed = make(chan struct{})
}

// TriggerSavepoint takes a savepoint of the job into dir (an object storage
// URL) and returns its URL. The job keeps running. While the job is
// (re)starting, it waits until it runs.
func (s *Supervisor) TriggerSavepoint(ctx context.Context, dir string) (string, error) {
	if s.ckpts == nil {
		return "", errors.New("savepoints need the lsm state backend")
	}
	for {
		s.mu.Lock()
		coord, changed := s.mu.coord, s.mu.changed
		if changed == nil {
			s.mu.changed = make(chan struct{})
			changed = s.mu.changed
		}
		s.mu.Unlock()
		if coord != nil {
			return coord.TriggerSavepoint(ctx, dir)
		}
		select {
		case <-changed:
		case <-s.done:
			return "", errors.New("the job has ended")
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// StopWithSavepoint takes a savepoint into dir, then stops the job; Wait
// then returns nil. A job started from the savepoint continues exactly
// where this one stopped.
func (s *Supervisor) StopWithSavepoint(ctx context.Context, dir string) (string, error) {
	u, err := s.TriggerSavepoint(ctx, dir)
	if err != nil {
		return "", err
	}
	s.stopping.Store(true)
	s.cancel(errStopped)
	return u, nil
}

var errStopped = errors.New("job stopped with a savepoint")

// Cancel stops the job without a savepoint. Wait returns context.Canceled.
func (s *Supervisor) Cancel() { s.cancel(context.Canceled) }

// Wait blocks until the job has finished, stopped, or failed for good.
func (s *Supervisor) Wait() error {
	<-s.done
	return s.err
}

// Stopped reports whether the job ended because StopWithSavepoint stopped it.
func (s *Supervisor) Stopped() bool { return s.stopping.Load() }

// Done is closed when the job has ended.
func (s *Supervisor) Done() <-chan struct{} { return s.done }

// Metrics returns the counters of the current attempt.
func (s *Supervisor) Metrics() Metrics {
	s.mu.Lock()
	j := s.mu.job
	s.mu.Unlock()
	if j == nil {
		return Metrics{}
	}
	return j.Metrics()
}

// SupervisorStats are counters over every attempt.
type SupervisorStats struct {
	Attempts, Restarts int64
	// CheckpointsCompleted counts checkpoints and savepoints completed.
	CheckpointsCompleted int64
	// LastCheckpointBytes and CheckpointBytes are the state bytes uploaded
	// by the last completed checkpoint and by all of them.
	LastCheckpointBytes, CheckpointBytes int64
	// Storage counts object-storage requests of the state backend.
	Storage objstore.CounterMetrics
}

// Stats returns counters over every attempt.
func (s *Supervisor) Stats() SupervisorStats {
	st := SupervisorStats{
		Attempts:             s.stats.attempts.Load(),
		Restarts:             s.stats.restarts.Load(),
		CheckpointsCompleted: s.stats.completed.Load(),
		LastCheckpointBytes:  s.stats.lastCheckpointBytes.Load(),
		CheckpointBytes:      s.stats.checkpointBytes.Load(),
	}
	if s.counter != nil {
		st.Storage = s.counter.Metrics()
	}
	return st
}
