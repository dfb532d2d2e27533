package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/restart"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// windowJob counts rows per key and 50 ms tumbling window of the sequence's
// event time, with the LSM state backend and frequent checkpoints.
func windowJob(t *testing.T, rows, keys int64, interval string) *plan.Plan {
	t.Helper()
	return windowJobWith(t, rows, keys, interval, "")
}

// windowJobWith is windowJob with more source options, e.g. ", unbounded: true".
func windowJobWith(t *testing.T, rows, keys int64, interval, sourceOpts string) *plan.Plan {
	t.Helper()
	spec, err := plan.ParseJobFile([]byte(fmt.Sprintf(`
name: eo-window
parallelism: 2
state: {lsm: {url: "mem://", memtable_bytes: 262144}}
checkpoints: {interval: %s, timeout: 60s, tolerable_failures: 100, retained: 2}
nodes:
  - id: src
    source:
      connector: test-sequence
      options: {rows: %d, keys: %d, splits: 4%s}
      watermark: {column: ts, max_out_of_orderness: 0s}
  - id: win
    inputs: [src]
    window:
      keys: [key]
      time_column: ts
      tumbling: {size: 0.05s}
      aggregates:
        - {name: cnt, function: count, expr: "*"}
        - {name: total, function: sum, expr: id}
  - id: out
    inputs: [win]
    sink: {connector: blackhole}
`, interval, rows, keys, sourceOpts)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// windowModel is what windowJob must output: one row per key and window.
func windowModel(rows, keys int64) []string {
	type k struct{ key, win int64 }
	n, total := map[k]int64{}, map[k]int64{}
	for id := int64(0); id < rows; id++ {
		kk := k{id % keys, id / 50}
		n[kk]++
		total[kk] += id
	}
	var out []string
	for kk, c := range n {
		out = append(out, fmt.Sprintf("%d@%d n=%d total=%d", kk.key, kk.win*50, c, total[kk]))
	}
	slices.Sort(out)
	return out
}

func windowRows(t *testing.T, rows []computetest.Row) []string {
	t.Helper()
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%v@%d n=%v total=%v", r["key"], r["window_start"].(time.Time).UnixMilli(), r["cnt"], r["total"]))
	}
	slices.Sort(out)
	return out
}

// wrapSource returns src with every split reader it opens passed through
// wrap: the tests count, gate or fail reads this way.
func wrapSource(src connectors.Source, wrap func(connectors.Split, connectors.SplitReader) connectors.SplitReader) connectors.Source {
	return wrappedSource{src, wrap}
}

type wrappedSource struct {
	connectors.Source
	wrap func(connectors.Split, connectors.SplitReader) connectors.SplitReader
}

func (w wrappedSource) Open(ctx context.Context, s connectors.Split, pos connectors.Position, opts connectors.ReadOptions) (connectors.SplitReader, error) {
	r, err := w.Source.Open(ctx, s, pos, opts)
	if err != nil {
		return nil, err
	}
	return w.wrap(s, r), nil
}

// flaky fails the readers it wraps at random moments while failures
// remain.
type flaky struct {
	failures atomic.Int64
	seed     atomic.Uint64
}

func (f *flaky) reader(_ connectors.Split, r connectors.SplitReader) connectors.SplitReader {
	return &flakyReader{SplitReader: r, f: f, rng: rand.New(rand.NewPCG(f.seed.Add(1), 7))}
}

type flakyReader struct {
	connectors.SplitReader
	f   *flaky
	rng *rand.Rand
}

var errInjected = errors.New("injected source failure")

func (r *flakyReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	odds := 400 // about one failure per 1.6M rows per split
	if raceEnabled {
		odds = 8
	}
	if r.rng.IntN(odds) == 0 && r.f.failures.Add(-1) >= 0 {
		return nil, errInjected
	}
	return r.SplitReader.Next(ctx)
}

// TestSupervisorExactlyOnce fails a windowed job at random moments, many
// times, and checks that the committed output of its transactional sink is
// exactly the output of a run without failure: each restart resumes from
// the last completed checkpoint (state in the LSM, source positions, sink
// transactions), and transactions of a failed attempt are aborted.
func TestSupervisorExactlyOnce(t *testing.T) {
	rows, keys := int64(200_000), int64(37)
	if raceEnabled {
		rows = 40_000
	}
	for _, tc := range []struct {
		name     string
		failures int64
		faults   bool // also fail object-storage writes and commits
		stalls   bool // stall object-storage writes past the checkpoint timeout
	}{
		{"no failures", 0, false, false},
		{"source failures", 12, false, false},
		{"storage and commit faults", 6, true, false},
		{"storage stalls", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			p := windowJob(t, rows, keys, "0.02s")
			src := &flaky{}
			src.failures.Store(tc.failures)
			p.Nodes[0].Source = wrapSource(p.Nodes[0].Source, src.reader)
			sink := computetest.NewTxnCollector()
			p.Nodes[len(p.Nodes)-1].Sink = sink
			base, err := objstore.Open(context.Background(), "mem://")
			if err != nil {
				t.Fatal(err)
			}
			var st objstore.Storage = base
			if tc.faults {
				fi := objstore.NewFaultInjector(base, objstore.FaultOptions{Seed: 3})
				fi.AddRule(objstore.Rule{Ops: objstore.OpFinish | objstore.OpCreateIfAbsent, Probability: 0.05, Times: 8})
				st = fi
				sink.FailCommits.Store(3)
			}
			if tc.stalls {
				// Checkpoints whose uploads stall time out; the job goes on
				// (the failures are tolerated), and whether later ones
				// complete before the input ends depends on timing: the
				// output must be exact either way.
				fi := objstore.NewFaultInjector(base, objstore.FaultOptions{Seed: 5})
				fi.AddRule(objstore.Rule{Ops: objstore.OpFinish, Prefix: "sst/", Probability: 0.1, Times: 3, Latency: 2 * time.Second, LatencyOnly: true})
				st = fi
				p.Checkpoints.Timeout = 1500 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			sv, err := runtime.Run(ctx, p, runtime.Options{Allocator: mem, Logger: testLogger(t)}, runtime.RunOptions{
				Storage: st,
				Restart: mustFixedDelay(t, 1000),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := sv.Wait(); err != nil {
				t.Fatalf("job: %v", err)
			}
			got := windowRows(t, sink.Committed())
			want := windowModel(rows, keys)
			if !slices.Equal(got, want) {
				t.Fatalf("committed output differs from a run without failure: %d rows, want %d\n%s", len(got), len(want), firstDiff(got, want))
			}
			stats := sv.Stats()
			if tc.failures > 0 && stats.Restarts == 0 {
				t.Errorf("no restart happened")
			}
			if sink.Staged() != 0 {
				t.Errorf("%d transactions left staged", sink.Staged())
			}
			if tc.failures > 0 && stats.CheckpointsCompleted == 0 {
				t.Errorf("no checkpoint completed: restarts never restored state")
			}
			checkGarbage(t, base)
			t.Logf("%d restarts, %d checkpoints, %d state bytes uploaded", stats.Restarts, stats.CheckpointsCompleted, stats.CheckpointBytes)
		})
	}
}

// checkGarbage checks that the job's folder holds only what the retained
// checkpoints reach.
func checkGarbage(t *testing.T, st objstore.Storage) {
	t.Helper()
	garbage, err := runtime.UnreachableState(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(garbage) > 0 {
		t.Errorf("%d state objects are not reachable from retained checkpoints, e.g. %v", len(garbage), garbage[:min(3, len(garbage))])
	}
}

func firstDiff(got, want []string) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("at %d: got %q, want %q", i, g, w)
		}
	}
	return "(equal)"
}

func mustFixedDelay(t *testing.T, attempts int) restart.Strategy {
	t.Helper()
	s, err := restart.NewFixedDelay(restart.FixedDelayConfig{Attempts: attempts, Delay: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testLogger logs through t, so a failing test shows what the job did.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// failingReader fails its third read.
type failingReader struct {
	connectors.SplitReader
	reads int
}

var errReadFailed = errors.New("read failed")

func (r *failingReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.reads++; r.reads == 3 {
		return nil, errReadFailed
	}
	return r.SplitReader.Next(ctx)
}

// heldSink is a sink whose writers' Close (in the attempt's teardown) waits
// until released.
type heldSink struct {
	connectors.Sink
	closing, release chan struct{}
}

func (s heldSink) Open(ctx context.Context, sc connectors.SinkContext) (connectors.SinkWriter, error) {
	w, err := s.Sink.Open(ctx, sc)
	if err != nil {
		return nil, err
	}
	return heldWriter{w, s}, nil
}

type heldWriter struct {
	connectors.SinkWriter
	s heldSink
}

func (w heldWriter) Close() error {
	close(w.s.closing)
	<-w.s.release
	return w.SinkWriter.Close()
}

// TestCancelWhileFailing cancels a job while an attempt that failed is
// being torn down (its restart strategy would restart it): Wait returns
// context.Canceled, with the failure beside it, as Cancel promises, and not
// the failure alone as if the job had failed for good.
func TestCancelWhileFailing(t *testing.T) {
	spec, err := plan.ParseJobFile([]byte(`
name: cancel-while-failing
state: {memory: {}}
runtime: {batch_size: 10}
restart: {fixed_delay: {attempts: 100, delay: 0.01s}}
nodes:
  - {id: src, source: {connector: test-sequence, options: {rows: 1000000, splits: 1}}}
  - {id: out, inputs: [src], sink: {connector: blackhole}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	p.Nodes[0].Source = wrapSource(p.Nodes[0].Source, func(_ connectors.Split, r connectors.SplitReader) connectors.SplitReader {
		return &failingReader{SplitReader: r}
	})
	closing, release := make(chan struct{}), make(chan struct{})
	p.Nodes[1].Sink = heldSink{p.Nodes[1].Sink, closing, release}
	sv, err := runtime.Run(context.Background(), p, runtime.Options{}, runtime.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-closing // the first attempt failed and is being torn down
	sv.Cancel()
	close(release)
	err = sv.Wait()
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errReadFailed) {
		t.Fatalf("Wait() = %v, want context.Canceled and the read failure", err)
	}
}
