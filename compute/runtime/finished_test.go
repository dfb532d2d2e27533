package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// countingReader adds the rows it emits to rows.
type countingReader struct {
	connectors.SplitReader
	rows *atomic.Int64
}

func (r *countingReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	b, err := r.SplitReader.Next(ctx)
	if b != nil {
		r.rows.Add(b.NumRows())
	}
	return b, err
}

// ckptSignal is a slog.Handler that counts "checkpoint completed" records
// and signals each one on completed: tests wait on it instead of sleeping.
type ckptSignal struct {
	slog.Handler
	n         *atomic.Int64
	completed chan struct{}
}

func (h ckptSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "checkpoint completed" {
		h.n.Add(1)
		select {
		case h.completed <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h ckptSignal) WithAttrs(as []slog.Attr) slog.Handler {
	return ckptSignal{h.Handler.WithAttrs(as), h.n, h.completed}
}

func (h ckptSignal) WithGroup(name string) slog.Handler {
	return ckptSignal{h.Handler.WithGroup(name), h.n, h.completed}
}

// lateFailer fails the reader of split 0 while failures remain, each time
// after it has emitted some rows and two more checkpoints have completed
// since the previous failure (it waits for them: a blocked reader still
// lets barriers through).
type lateFailer struct {
	sig      ckptSignal
	failures atomic.Int64
	injected atomic.Int64
}

func (f *lateFailer) reader(s connectors.Split, r connectors.SplitReader) connectors.SplitReader {
	if s.ID != "0" {
		return r
	}
	return &lateFailingReader{SplitReader: r, f: f}
}

type lateFailingReader struct {
	connectors.SplitReader
	f       *lateFailer
	emitted int64
}

func (r *lateFailingReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	f := r.f
	if r.emitted >= 1000 && f.failures.Load() > 0 {
		for f.sig.n.Load() < 2*(f.injected.Load()+1) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-f.sig.completed:
			}
		}
		f.failures.Add(-1)
		f.injected.Add(1)
		return nil, errInjected
	}
	b, err := r.SplitReader.Next(ctx)
	if b != nil {
		r.emitted += b.NumRows()
	}
	return b, err
}

// TestCheckpointsAfterTaskFinished runs a window join of a short source and
// a long one (Nexmark q8's shape: persons end long before auctions). The
// short side's tasks finish early; checkpoints must go on without them, and
// restarts after that restore the short source at its end instead of
// reading it again. The committed output must be exact, and no state may be
// left unreachable.
func TestCheckpointsAfterTaskFinished(t *testing.T) {
	const keys = 37
	short, long := int64(2_000), int64(200_000)
	if raceEnabled {
		long = 50_000
	}
	spec, err := plan.ParseJobFile(fmt.Appendf(nil, `
name: eo-finished
parallelism: 2
state: {lsm: {url: "mem://", memtable_bytes: 262144}}
checkpoints: {interval: 0.02s, timeout: 60s, tolerable_failures: 100, retained: 2}
nodes:
  - id: s
    source:
      connector: test-sequence
      options: {rows: %d, keys: %d, splits: 2}
      watermark: {column: ts, max_out_of_orderness: 0s}
  - id: l
    source:
      connector: test-sequence
      options: {rows: %d, keys: %d, splits: 4}
      watermark: {column: ts, max_out_of_orderness: 0s}
  - id: ws
    inputs: [s]
    window:
      keys: [key]
      time_column: ts
      tumbling: {size: 0.05s}
      aggregates:
        - {name: cnt, function: count, expr: "*"}
  - id: wl
    inputs: [l]
    window:
      keys: [key]
      time_column: ts
      tumbling: {size: 0.05s}
      aggregates:
        - {name: cnt, function: count, expr: "*"}
  - id: j
    inputs: [ws, wl]
    join:
      left_keys: [key]
      right_keys: [key]
      left_prefix: s_
      right_prefix: l_
      window:
        left_time: window_start
        right_time: window_start
        tumbling: {size: 0.05s}
      columns:
        - {name: key, expr: s_key}
        - {name: start, expr: s_window_start}
        - {name: scnt, expr: s_cnt}
        - {name: lcnt, expr: l_cnt}
  - id: out
    inputs: [j]
    sink: {connector: blackhole}
`, short, keys, long, keys))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*plan.Node{}
	for _, n := range p.Nodes {
		nodes[n.ID] = n
	}
	var shortRows atomic.Int64
	nodes["s"].Source = wrapSource(nodes["s"].Source, func(_ connectors.Split, r connectors.SplitReader) connectors.SplitReader {
		return &countingReader{SplitReader: r, rows: &shortRows}
	})
	l := &lateFailer{sig: ckptSignal{Handler: testLogger(t).Handler(), n: new(atomic.Int64), completed: make(chan struct{}, 1)}}
	l.failures.Store(3)
	nodes["l"].Source = wrapSource(nodes["l"].Source, l.reader)
	sink := computetest.NewTxnCollector()
	nodes["out"].Sink = sink
	st, err := objstore.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sv, err := runtime.Run(ctx, p, runtime.Options{Allocator: mem, Logger: slog.New(l.sig)}, runtime.RunOptions{
		Storage: st,
		Restart: mustFixedDelay(t, 100),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Wait(); err != nil {
		t.Fatalf("job: %v", err)
	}

	// The model: both sides count the same ids in the short side's windows.
	n := map[string]int64{}
	for id := int64(0); id < short; id++ {
		n[fmt.Sprintf("%d@%d", id%keys, id/50*50)]++
	}
	var want []string
	for k, c := range n {
		want = append(want, fmt.Sprintf("%s s=%d l=%d", k, c, c))
	}
	slices.Sort(want)
	var got []string
	for _, r := range sink.Committed() {
		got = append(got, fmt.Sprintf("%v@%d s=%v l=%v", r["key"], r["start"].(time.Time).UnixMilli(), r["scnt"], r["lcnt"]))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("committed output differs from a run without failure: %d rows, want %d\n%s", len(got), len(want), firstDiff(got, want))
	}

	stats := sv.Stats()
	if stats.Restarts != 3 {
		t.Fatalf("%d restarts, want 3", stats.Restarts)
	}
	// Each failure struck after two more checkpoints completed; the short
	// source ends long before, so the second was taken after it had
	// finished, and a restart restores it at its end. Had checkpoints
	// stopped when it finished, the job would hang (the failing reader
	// waits for checkpoints) or every restart would read it again.
	if read := shortRows.Load(); read >= short*(1+stats.Restarts) {
		t.Errorf("the short source emitted %d rows over %d restarts: it was read again from its start each time", read, stats.Restarts)
	}
	if sink.Staged() != 0 {
		t.Errorf("%d transactions left staged", sink.Staged())
	}
	checkGarbage(t, st)
	t.Logf("%d restarts, %d checkpoints, short source read %d rows", stats.Restarts, stats.CheckpointsCompleted, shortRows.Load())
}
