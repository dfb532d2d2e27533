package runtime_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/connectors"
)

// tsReader records the largest event time (column ts) its batches carry,
// calls before ahead of reading each batch and after with each batch.
type tsReader struct {
	connectors.SplitReader
	max    *atomic.Int64 // ms
	before func(ctx context.Context) error
	after  func(b arrow.RecordBatch)
}

func (r *tsReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.before != nil {
		if err := r.before(ctx); err != nil {
			return nil, err
		}
	}
	b, err := r.SplitReader.Next(ctx)
	if b != nil {
		ts := b.Column(3).(*array.Timestamp)
		if n := ts.Len(); n > 0 {
			r.max.Store(int64(ts.Value(n - 1)))
		}
		if r.after != nil {
			r.after(b)
		}
	}
	return b, err
}

// TestWatermarkAlignment runs a fast source and a slow one (each batch of
// the slow one waits for the test) in one alignment group, and checks that
// while the slow one runs, the fast one never reads far ahead of its event
// time, and that the fast one runs free once the slow one has ended.
// (TestAlignGroup checks the group's rules on their own.)
func TestWatermarkAlignment(t *testing.T) {
	const batch = 100 // rows, so 100 ms of event time, per batch
	const drift = 500 * time.Millisecond
	spec, err := plan.ParseJobFile(fmt.Appendf(nil, `
name: align
parallelism: 1
runtime: {batch_size: %d}
nodes:
  - id: slow
    source:
      connector: test-sequence
      options: {rows: 20000, keys: 3, splits: 1}
      watermark: {column: ts, max_out_of_orderness: 0s, alignment: {group: g, max_drift: %gs}}
  - id: fast
    source:
      connector: test-sequence
      options: {rows: 400000, keys: 3, splits: 1}
      watermark: {column: ts, max_out_of_orderness: 0s, alignment: {group: g, max_drift: %gs}}
  - id: out1
    inputs: [slow]
    sink: {connector: blackhole}
  - id: out2
    inputs: [fast]
    sink: {connector: blackhole}
`, batch, drift.Seconds(), drift.Seconds()))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	var slowMax, fastMax, worst atomic.Int64
	var slowDone atomic.Bool
	slowMax.Store(-1)
	tokens := make(chan struct{})
	for _, n := range p.Nodes {
		switch n.ID {
		case "slow":
			n.Source = wrapSource(n.Source, func(_ connectors.Split, r connectors.SplitReader) connectors.SplitReader {
				return &tsReader{SplitReader: r, max: &slowMax, before: func(ctx context.Context) error {
					select {
					case <-tokens:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				}}
			})
		case "fast":
			n.Source = wrapSource(n.Source, func(_ connectors.Split, r connectors.SplitReader) connectors.SplitReader {
				return &tsReader{SplitReader: r, max: &fastMax, after: func(b arrow.RecordBatch) {
					// How far ahead of the slow source's last batch this one
					// starts.
					first := int64(b.Column(3).(*array.Timestamp).Value(0))
					if slowDone.Load() {
						return
					}
					if ahead := first - slowMax.Load(); ahead > worst.Load() {
						worst.Store(ahead)
					}
				}}
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j, err := runtime.Start(ctx, p, runtime.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Let the slow source read its batches one at a time (its last Next,
	// after the last batch, takes a token too).
	for i := 0; i < 20000/batch+1; i++ {
		if i == 20000/batch-1 {
			slowDone.Store(true) // its last batch: the fast one may run free
		}
		select {
		case tokens <- struct{}{}:
		case <-j.Done():
			t.Fatalf("job ended early: %v", j.Wait())
		}
	}
	if err := j.Wait(); err != nil {
		t.Fatal(err)
	}
	// The fast source's reader runs ahead of its task by what the task's
	// channel buffers (2*splits+1 batches) plus the batch in hand; the task
	// takes batches while it is at most drift ahead of the slow one's
	// watermark, which trails its reader by one batch.
	bound := drift.Milliseconds() + (2+1+2)*batch
	if w := worst.Load(); w > bound {
		t.Errorf("the fast source read %d ms of event time ahead of the slow one, want at most %d", w, bound)
	}
	if fastMax.Load() != 400000-1 {
		t.Errorf("the fast source stopped at %d ms: it must run free once the slow one has ended", fastMax.Load())
	}
	t.Logf("fast source at most %d ms ahead (bound %d)", worst.Load(), bound)
}
