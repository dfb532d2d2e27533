package oracle

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/restart"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// eoConfig sizes the exactly-once test. The long build tag replaces
// eoScale with a bigger one (eo_long_test.go).
type eoConfig struct {
	// Kills is the number of times the job is killed (at least 20); every
	// InProcessEvery-th kill is an in-process attempt with injected faults
	// that is cancelled, the others SIGKILL a child `sluice run --resume`.
	Kills, InProcessEvery int
	// KillAfter is the range a child runs for before its SIGKILL;
	// InProcessFor the range an in-process attempt runs for.
	KillAfter, InProcessFor [2]time.Duration
	// Settings of the job.
	Settings eoSettings
}

var eoScale = eoConfig{
	Kills:          20,
	InProcessEvery: 5,
	KillAfter:      [2]time.Duration{300 * time.Millisecond, 1200 * time.Millisecond},
	InProcessFor:   [2]time.Duration{time.Second, 3 * time.Second},
	Settings: eoSettings{
		// About 20 s of wall time at full pace (the rate), 250 s of event
		// time: 125 slides of q5's window and 25 windows of q8. The 20
		// kills take about 15 s, so the job is still running at the last
		// one even when restarts are quick.
		Events:         500_000,
		Rate:           25_000,
		FirstEventRate: 2_000,
		Seed:           7,
		Interval:       200 * time.Millisecond,
		Timeout:        2 * time.Second,
		Format:         "parquet",
	},
}

// eoSeed returns the seed of the kill moments: SLUICE_EO_SEED, or else
// the clock. It is logged so that a failing run can be repeated (as far as
// timing allows).
func eoSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("SLUICE_EO_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SLUICE_EO_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// TestExactlyOnceUnderFailure runs Nexmark q5 and q8 into the Parquet file
// sink on the LSM state backend, with a checkpoint every 200 ms, and kills
// the job at random moments: mostly with SIGKILL of a child `sluice run
// --resume` process, and sometimes as an in-process attempt whose object
// store fails and stalls writes during checkpoint uploads and metadata
// publication, whose source fails and whose sink commits fail, cancelled at
// a random moment. Each start resumes from the latest completed
// checkpoint. Then the job runs to its end. DuckDB reads the committed
// Parquet files, which must equal those of a run without failure as
// multisets. After every kill, what a reader sees must be committed rows
// of that result (nothing duplicated, nothing uncommitted); at the end the
// state folder must hold only what retained checkpoints reach, and the sink
// folder only committed files.
func TestExactlyOnceUnderFailure(t *testing.T) {
	cfg := eoScale
	if cfg.Kills < 20 {
		t.Fatalf("eoScale.Kills is %d; the test kills the job at least 20 times", cfg.Kills)
	}
	bin := sluiceBinary(t)
	seed := eoSeed(t)
	t.Logf("seed %d (repeat with SLUICE_EO_SEED=%d)", seed, seed)
	db := openDuckDB(t)
	for i, q := range []string{"q5", "q8"} {
		t.Run(q, func(t *testing.T) {
			exactlyOnce(t, cfg, bin, db, q, seed+uint64(i))
		})
	}
}

func exactlyOnce(t *testing.T, cfg eoConfig, bin string, db *Dataset, q string, seed uint64) {
	root := t.TempDir()
	for _, d := range []string{"ref", "run", "logs"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ref := newEOJob(t, q, filepath.Join(root, "ref"), cfg.Settings)
	job := newEOJob(t, q, filepath.Join(root, "run"), cfg.Settings)
	refOut := sinkOutput{dir: ref.Out, format: cfg.Settings.Format}
	out := sinkOutput{dir: job.Out, format: cfg.Settings.Format}

	// The reference: the same job, run once without failure and without
	// the pacing of its sources.
	start := time.Now()
	runClean(t, ref.plan(t, true))
	t.Logf("%s: run without failure: %s, %d rows committed", q, time.Since(start).Round(time.Millisecond), refOut.count(t, db))

	st := job.storage(t)
	defer st.Close()
	rng := rand.New(rand.NewPCG(seed, 0x6b696c6c))
	pick := func(r [2]time.Duration, extra time.Duration) time.Duration {
		return r[0] + extra + time.Duration(rng.Int64N(int64(r[1]-r[0])))
	}
	var (
		sigkills, inProcess, advanced int
		restarts                      int64
		last                          uint64
		stalled                       int
		extra                         time.Duration // added to kill moments while the job makes no progress
	)
	start = time.Now()
	for k := 1; k <= cfg.Kills; k++ {
		var (
			finished bool
			what     string
		)
		if k%cfg.InProcessEvery == 0 {
			d := pick(cfg.InProcessFor, extra)
			var r int64
			finished, r = faultyAttempt(t, job, d, rng.Uint64())
			restarts += r
			inProcess++
			what = fmt.Sprintf("in-process attempt with injected faults (%d restarts), cancelled after %s", r, d)
		} else {
			d := pick(cfg.KillAfter, extra)
			finished = killedChild(t, bin, job, filepath.Join(root, "logs", fmt.Sprintf("run-%02d.log", k)), d)
			sigkills++
			what = fmt.Sprintf("SIGKILL after %s", d)
		}
		if finished {
			t.Errorf("%s: the job finished after %d kills, before all %d: its sources need more events or a lower rate", q, k-1, cfg.Kills)
			break
		}
		latest := latestCheckpoint(t, st)
		if latest > last {
			advanced++
			stalled, extra = 0, 0
		} else if stalled++; stalled >= 2 {
			// Attempts die before their first checkpoint completes (a
			// loaded machine): give the next ones longer.
			extra += cfg.Settings.Interval * 2
		}
		t.Logf("%s: kill %d: %s; latest checkpoint %d (+%d)", q, k, what, latest, latest-last)
		last = latest
		// Whatever a reader sees now is committed output of the run
		// without failure: never a duplicate, never an uncommitted file.
		out.checkVisible(t, db)
		if out.count(t, db) > 0 {
			if n, rows := exceptAll(t, db, out, refOut); n > 0 {
				t.Fatalf("%s: after kill %d a reader sees %d rows the run without failure does not have (duplicates?), e.g. %v", q, k, n, rows)
			}
		}
	}
	t.Logf("%s: %d SIGKILLs and %d in-process attempts (%d injected restarts) in %s; the latest checkpoint advanced between %d of them",
		q, sigkills, inProcess, restarts, time.Since(start).Round(time.Millisecond), advanced)
	if advanced < cfg.Kills/4 {
		t.Errorf("%s: the latest checkpoint advanced between only %d of %d kills: recovery from checkpoints was hardly exercised", q, advanced, cfg.Kills)
	}

	// Let the job finish.
	c := startChild(t, bin, job.Root, filepath.Join(root, "logs", "final.log"), "run", "--resume", job.Path)
	timeout := time.NewTimer(3 * time.Minute)
	defer timeout.Stop()
	select {
	case <-c.done:
	case <-timeout.C:
		c.kill()
		t.Fatalf("%s: the final run did not finish within 3 minutes:\n%s", q, c.output())
	}
	if code := c.exitCode(); code != 0 {
		t.Fatalf("%s: the final `sluice run --resume` exited with %d:\n%s", q, code, c.output())
	}
	t.Logf("%s: final run: %s", q, c.output())

	compareOutputs(t, db, out, refOut)
	out.checkNothingPending(t, db)
	garbage, err := runtime.UnreachableState(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(garbage) > 0 {
		t.Errorf("%s: %d objects in the state folder are not reachable from retained checkpoints, e.g. %v", q, len(garbage), garbage[:min(5, len(garbage))])
	}
}

// runClean runs p in process to its end, without failure.
func runClean(t *testing.T, p *plan.Plan) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sv, err := runtime.Run(ctx, p, runtime.Options{Allocator: mem, Logger: warnLogger(t)}, runtime.RunOptions{Restart: restart.None()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Wait(); err != nil {
		t.Fatalf("the run without failure failed: %v", err)
	}
}

// killedChild runs `sluice run --resume` on the job and SIGKILLs it after
// d. It reports whether the job finished before that.
func killedChild(t *testing.T, bin string, j *eoJob, logPath string, d time.Duration) bool {
	t.Helper()
	c := startChild(t, bin, j.Root, logPath, "run", "--resume", "--quiet", j.Path)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c.done:
		if code := c.exitCode(); code != 0 {
			t.Fatalf("`sluice run --resume` exited with %d before it was killed:\n%s", code, c.output())
		}
		return true
	case <-timer.C:
		c.kill()
		return false
	}
}

// faultyAttempt runs the job in this process from its latest checkpoint
// for d, with faults: the object store fails a share of the writes of
// checkpoint uploads (tables and state manifests) and of checkpoint
// metadata publication, and stalls some of both beyond the checkpoint
// timeout; the sources fail now and then and so do sink commits. The supervisor
// restarts the job after each failure. Then the attempt is cancelled. It
// reports whether the job finished first, and the number of restarts.
func faultyAttempt(t *testing.T, j *eoJob, d time.Duration, seed uint64) (bool, int64) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	base := j.storage(t)
	defer base.Close()
	fi := objstore.NewFaultInjector(base, objstore.FaultOptions{Seed: seed})
	publish := objstore.OpFinish | objstore.OpCreateIfAbsent
	// Stalls longer than the checkpoint timeout, of a table upload and of
	// the metadata's publication: the checkpoint times out.
	stall := j.Settings.Timeout + time.Second
	fi.AddRule(objstore.Rule{Ops: objstore.OpFinish, Prefix: "sst/", Probability: 0.03, Latency: stall, LatencyOnly: true})
	fi.AddRule(objstore.Rule{Ops: objstore.OpCreateIfAbsent, Prefix: "checkpoints/", Probability: 0.05, Latency: stall, LatencyOnly: true})
	fi.AddRule(objstore.Rule{Ops: publish, Prefix: "sst/", Probability: 0.1})
	fi.AddRule(objstore.Rule{Ops: publish, Prefix: "ckpt/", Probability: 0.1})
	fi.AddRule(objstore.Rule{Ops: objstore.OpCreateIfAbsent, Prefix: "checkpoints/", Probability: 0.15})
	f := newFaults(seed, 2, 2)
	p := j.plan(t, false)
	for _, n := range p.Nodes {
		switch n.Kind {
		case plan.Source:
			n.Source = &flakySource{Source: n.Source, f: f}
		case plan.Sink:
			ts, ok := n.Sink.(connectors.TransactionalSink)
			if !ok {
				t.Fatalf("node %q: the %s file sink is not transactional", n.ID, j.Settings.Format)
			}
			n.Sink = &flakySink{TransactionalSink: ts, f: f}
		}
	}
	strategy, err := restart.NewFixedDelay(restart.FixedDelayConfig{Attempts: 1000, Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sv, err := runtime.Run(context.Background(), p, runtime.Options{Allocator: mem, Logger: warnLogger(t)},
		runtime.RunOptions{Resume: true, Storage: fi, Restart: strategy})
	if err != nil {
		t.Fatal(err)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	finished := false
	select {
	case <-sv.Done():
		finished = true
	case <-timer.C:
		sv.Cancel()
	}
	err = sv.Wait()
	switch {
	case finished && err != nil:
		t.Fatalf("the in-process attempt failed: %v", err)
	case !finished && err != nil && !errors.Is(err, context.Canceled):
		t.Fatalf("the in-process attempt failed before it was cancelled: %v", err)
	}
	st := sv.Stats()
	t.Logf("in-process attempt: %d restarts, %d checkpoints, %d storage faults, %d source and sink faults",
		st.Restarts, st.CheckpointsCompleted, fi.Injected(), f.injected.Load())
	return finished, st.Restarts
}
