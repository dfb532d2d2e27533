package checkpoint

import (
	"context"
	"errors"
	"fmt"

	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// ackAll acknowledges checkpoint id from every task of the rig, the sink
// with one transaction.
func (r *rig) ackAll(id uint64) {
	for _, task := range r.deps.Tasks {
		var snap TaskSnapshot
		if strings.HasPrefix(task, "sink/") {
			snap.Txns = []SinkTxn{{Node: "sink", Checkpoint: id, Txn: connectors.Txn(fmt.Sprintf("t%d", id))}}
		}
		r.c.Ack(id, task, snap)
	}
}

func (r *rig) failures() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.mu.failed...)
}

// TestPublishStallTimesOut stalls the metadata write: the checkpoint's
// timeout cancels it, the checkpoint fails, and nothing is published.
func TestPublishStallTimesOut(t *testing.T) {
	r := newRig(t)
	r.cfg = Config{Interval: 10 * time.Second, Timeout: 30 * time.Second}
	r.start()
	r.clk.Advance(10 * time.Second)
	r.c.sync()
	r.fault.AddRule(objstore.Rule{Ops: objstore.OpCreateIfAbsent, Prefix: checkpointsDir, Latency: time.Hour, LatencyOnly: true})
	r.clk.Advance(5 * time.Second)
	r.ackAll(1)
	// Wait until the write is stalled.
	for r.faultClk.PendingTimers() == 0 {
		<-r.faultClk.TimerArmed()
	}
	r.clk.Advance(25 * time.Second)
	r.c.sync()
	fails := r.failures()
	if len(fails) != 1 || !strings.Contains(fails[0].Error(), "timed out: not published 30s after its trigger") {
		t.Fatalf("failures %v, want one naming the timeout", fails)
	}
	if s := r.c.Stats(); s.Failed != 1 || s.Completed != 0 {
		t.Fatalf("stats %+v", s)
	}
	r.fault.ClearRules()
	if ids, _ := r.store.List(context.Background()); len(ids) != 0 {
		t.Fatalf("published %v", ids)
	}
}

// TestCommitStallFailsJob blocks the commit: after Timeout the commit's
// context ends and the job fails; the checkpoint itself is published, so a
// restart recovers (and commits) it.
func TestCommitStallFailsJob(t *testing.T) {
	r := newRig(t)
	r.cfg = Config{Interval: 10 * time.Second, Timeout: time.Minute}
	entered := make(chan struct{})
	r.deps.Commit = func(ctx context.Context, txns []SinkTxn) error {
		close(entered)
		<-ctx.Done()
		return ctx.Err()
	}
	r.start()
	r.clk.Advance(10 * time.Second)
	r.c.sync()
	r.ackAll(1)
	<-entered
	r.clk.Advance(time.Minute)
	r.c.sync()
	fails := r.failures()
	if len(fails) != 1 || !strings.Contains(fails[0].Error(), "the commit took longer than the timeout 1m0s") {
		t.Fatalf("failures %v", fails)
	}
	if r.c.LastCompleted() != 0 {
		t.Fatalf("LastCompleted = %d after a failed commit", r.c.LastCompleted())
	}
	md, err := r.store.Latest(context.Background())
	if err != nil || md == nil || md.ID != 1 || len(md.Txns) != 1 {
		t.Fatalf("Latest = %+v, %v; want checkpoint 1 with its transaction", md, err)
	}
}

// TestCrashAfterPublishAndRestart crashes the process right after the
// metadata write reached storage. A new attempt finds the checkpoint, and
// its ids continue above every id the crashed one used.
func TestCrashAfterPublishAndRestart(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.cfg = Config{Interval: 10 * time.Second, TolerableFailures: 10}
	r.start()
	for id := uint64(1); id <= 3; id++ {
		r.clk.Advance(10 * time.Second)
		r.c.sync()
		if id == 3 {
			r.fault.CrashAfterWrite(1)
		}
		r.ackAll(id)
		r.c.sync()
	}
	if !r.fault.Crashed() {
		t.Fatal("no crash")
	}
	// The crashed process does not learn that 3 was published.
	if got := r.c.LastCompleted(); got != 2 {
		t.Fatalf("LastCompleted = %d, want 2", got)
	}
	r.clk.Advance(10 * time.Second) // 4 cannot even reserve its id
	r.c.Stop()

	// The next attempt, over the same (uncrashed) storage.
	s2 := NewStore(r.mem, "restarted")
	md, err := s2.Latest(ctx)
	if err != nil || md == nil || md.ID != 3 || string(md.Txns[0].Txn) != "t3" {
		t.Fatalf("Latest after the crash = %+v, %v; want checkpoint 3", md, err)
	}
	maxID, err := s2.MaxID(ctx)
	if err != nil || maxID < 4 {
		t.Fatalf("MaxID = %d, %v; want at least every id used (4)", maxID, err)
	}
	n, err := s2.NextAttempt(ctx)
	if err != nil || n != 1 {
		t.Fatalf("NextAttempt = %d, %v", n, err)
	}
}

// TestSavepointAPI uses the blocking TriggerSavepoint, and Stop while a
// savepoint is pending.
func TestSavepointAPI(t *testing.T) {
	r := newRig(t)
	r.start()
	ctx := context.Background()
	if _, err := r.c.TriggerSavepoint(ctx, ""); err == nil {
		t.Fatal("empty savepoint directory accepted")
	}
	done := make(chan struct{})
	var url string
	var err error
	go func() {
		defer close(done)
		url, err = r.c.TriggerSavepoint(ctx, "mem://?prefix=sp/")
	}()
	r.waitInjected(1)
	r.ackAll(1)
	<-done
	if err != nil || url != "mem://?prefix=sp/savepoint-job-1/" {
		t.Fatalf("TriggerSavepoint = %q, %v", url, err)
	}
	if data, err := r.sp.ReadAll(ctx, "savepoint-job-1/_metadata"); err != nil || !strings.Contains(string(data), `"kind": "savepoint"`) {
		t.Fatalf("savepoint metadata: %s, %v", data, err)
	}

	// A cancelled wait returns the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.c.TriggerSavepoint(cctx, "mem://"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled TriggerSavepoint: %v", err)
	}
	// A savepoint pending at Stop fails.
	spDone := make(chan struct{})
	var spErr error
	go func() {
		defer close(spDone)
		_, spErr = r.c.TriggerSavepoint(ctx, "mem://")
	}()
	r.waitInjected(3)
	r.c.Stop()
	<-spDone
	if !errors.Is(spErr, errStopped) {
		t.Fatalf("savepoint pending at Stop: %v", spErr)
	}
	if _, err := r.c.TriggerSavepoint(ctx, "mem://"); !errors.Is(err, errStopped) {
		t.Fatalf("TriggerSavepoint after Stop: %v", err)
	}
	if err := r.c.Finish(ctx, TaskSnapshot{}); !errors.Is(err, errStopped) {
		t.Fatalf("Finish after Stop: %v", err)
	}
	r.c.Stop() // idempotent
}

// waitInjected waits until n barriers were injected.
func (r *rig) waitInjected(n int) {
	for {
		r.c.sync()
		r.mu.Lock()
		got := len(r.mu.injected)
		r.mu.Unlock()
		if got >= n {
			return
		}
		<-r.injectedCh
	}
}

func TestStopBeforeStart(t *testing.T) {
	r := newRig(t)
	c, err := New(Config{}, r.deps)
	if err != nil {
		t.Fatal(err)
	}
	reply := c.requestSavepoint("mem://")
	c.Stop()
	if res := <-reply; !errors.Is(res.err, errStopped) {
		t.Fatalf("savepoint queued before Stop: %v", res.err)
	}
	c.Start(context.Background()) // no effect after Stop
	c.Stop()
}

// TestRealClock runs the coordinator on the real clock with tasks that
// acknowledge from their own goroutines, until five checkpoints completed.
func TestRealClock(t *testing.T) {
	ctx := context.Background()
	mem, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	tasks := []string{"a/0", "a/1", "b/0"}
	var c *Coordinator
	var wg sync.WaitGroup
	completed := make(chan uint64, 100)
	c, err = New(Config{Interval: 10 * time.Millisecond, Timeout: time.Minute, Retained: 2}, Deps{
		Clock:  clock.Real(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Job:    "real", MaxParallelism: 4,
		Operators: []Operator{{ID: "a", Kind: "source", Parallelism: 2}, {ID: "b", Kind: "sink", Parallelism: 1}},
		Store:     NewStore(mem, "mem://"),
		Tasks:     tasks,
		Inject: func(b compute.Barrier) {
			for _, task := range tasks {
				wg.Go(func() { c.Ack(b.CheckpointID, task, TaskSnapshot{}) })
			}
		},
		Commit: func(context.Context, []SinkTxn) error { return nil },
		Retain: func(keepFrom uint64) { completed <- keepFrom },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Start(ctx)
	for range 5 {
		<-completed
	}
	c.Stop()
	wg.Wait()
	if s := c.Stats(); s.Completed < 5 || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
	ids, _ := NewStore(mem, "").List(ctx)
	if len(ids) != 2 {
		t.Fatalf("retained %v, want 2", ids)
	}
}

// TestStopDuringPublish stops the coordinator while the metadata write is
// stalled: the checkpoint is aborted, and the job is not failed.
func TestStopDuringPublish(t *testing.T) {
	r := newRig(t)
	r.cfg = Config{Interval: 10 * time.Second}
	r.start()
	r.clk.Advance(10 * time.Second)
	r.c.sync()
	r.fault.AddRule(objstore.Rule{Ops: objstore.OpCreateIfAbsent, Prefix: checkpointsDir, Latency: time.Hour, LatencyOnly: true})
	r.ackAll(1)
	for r.faultClk.PendingTimers() == 0 {
		<-r.faultClk.TimerArmed()
	}
	r.c.Stop()
	if fails := r.failures(); len(fails) != 0 {
		t.Fatalf("Stop failed the job: %v", fails)
	}
	if s := r.c.Stats(); s.Aborted != 1 || s.Failed != 0 {
		t.Fatalf("stats %+v, want one aborted checkpoint", s)
	}
}

// TestStartContextEnds cancels Start's context: the coordinator stops and
// answers requests made afterwards.
func TestStartContextEnds(t *testing.T) {
	r := newRig(t)
	c, err := New(Config{Interval: 10 * time.Second}, r.deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)
	cancel()
	<-c.done
	if _, err := c.TriggerSavepoint(context.Background(), "mem://"); !errors.Is(err, errStopped) {
		t.Fatalf("TriggerSavepoint after the context ended: %v", err)
	}
	c.Stop()
}
