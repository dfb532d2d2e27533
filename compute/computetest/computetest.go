// Package computetest is an in-process harness for running jobs in tests: it
// builds a plan from a spec, replaces every sink with a collector, runs the
// job on a checked Arrow allocator, and returns what each sink received as Go
// rows, failing the test if any Arrow memory leaked.
//
//	res := computetest.Run(t, spec)
//	rows := res.Rows("out") // []map[string]any, one per row
package computetest

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/connectors"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/lsm"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// Row is one row as Go values: int64, uint64, float64, bool, string,
// time.Time (UTC) or nil for NULL, by column name.
type Row map[string]any

// Collector is a sink that keeps every row, per subtask.
type Collector struct {
	mu struct {
		sync.Mutex
		rows    map[int][]Row
		flushed map[int]bool
	}
	arrived chan struct{} // signalled after every write
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	c := &Collector{arrived: make(chan struct{}, 1)}
	c.mu.rows = map[int][]Row{}
	c.mu.flushed = map[int]bool{}
	return c
}

var _ connectors.Sink = (*Collector)(nil)

// Check implements connectors.Sink.
func (c *Collector) Check(*arrow.Schema) error { return nil }

// Open implements connectors.Sink.
func (c *Collector) Open(_ context.Context, sc connectors.SinkContext) (connectors.SinkWriter, error) {
	return &collectWriter{c: c, subtask: sc.Subtask}, nil
}

// Rows returns every row received, from all subtasks.
func (c *Collector) Rows() []Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	var subs []int
	for s := range c.mu.rows {
		subs = append(subs, s)
	}
	sort.Ints(subs)
	var out []Row
	for _, s := range subs {
		out = append(out, c.mu.rows[s]...)
	}
	return out
}

// WaitRows blocks until the collector holds at least n rows, or until
// timeout has passed; it reports whether n rows arrived. It waits on a signal
// from the writers, not by polling.
func (c *Collector) WaitRows(n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		have := 0
		for _, rs := range c.mu.rows {
			have += len(rs)
		}
		c.mu.Unlock()
		if have >= n {
			return true
		}
		select {
		case <-c.arrived:
		case <-deadline.C:
			return false
		}
	}
}

// SubtaskRows returns the rows received by one subtask.
func (c *Collector) SubtaskRows(subtask int) []Row {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Row(nil), c.mu.rows[subtask]...)
}

// Flushed reports whether the subtask's writer was flushed (end of input).
func (c *Collector) Flushed(subtask int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.flushed[subtask]
}

type collectWriter struct {
	c       *Collector
	subtask int
}

func (w *collectWriter) Write(_ context.Context, b arrow.RecordBatch) error {
	rows := BatchRows(b)
	b.Release()
	w.c.mu.Lock()
	w.c.mu.rows[w.subtask] = append(w.c.mu.rows[w.subtask], rows...)
	w.c.mu.Unlock()
	select {
	case w.c.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (w *collectWriter) Flush(context.Context) error {
	w.c.mu.Lock()
	w.c.mu.flushed[w.subtask] = true
	w.c.mu.Unlock()
	return nil
}

func (w *collectWriter) Close() error { return nil }

// BatchRows converts a batch to Go rows.
func BatchRows(b arrow.RecordBatch) []Row {
	rows := make([]Row, b.NumRows())
	for i := range rows {
		rows[i] = Row{}
	}
	for c, col := range b.Columns() {
		name := b.ColumnName(c)
		for i := range rows {
			rows[i][name] = Value(col, i)
		}
	}
	return rows
}

// Value returns row i of a as a Go value.
func Value(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Uint8:
		return uint64(a.Value(i))
	case *array.Uint16:
		return uint64(a.Value(i))
	case *array.Uint32:
		return uint64(a.Value(i))
	case *array.Uint64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String: // copied: the array's memory may be reused after release
		return strings.Clone(a.Value(i))
	case *array.LargeString:
		return strings.Clone(a.Value(i))
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC()
	case *array.Date32:
		return a.Value(i).ToTime()
	}
	return a.ValueStr(i)
}

// Result is what a job run produced.
type Result struct {
	Metrics runtime.Metrics
	Sinks   map[string]*Collector
}

// Rows returns the rows collected by the named sink node.
func (r *Result) Rows(sink string) []Row { return r.Sinks[sink].Rows() }

// Build builds spec into a plan, failing the test on error, and replaces every
// sink with a collector.
func Build(t testing.TB, spec *sluicev1.JobSpec) (*plan.Plan, map[string]*Collector) {
	t.Helper()
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	sinks := map[string]*Collector{}
	for _, n := range p.Nodes {
		if n.Kind == plan.Sink {
			c := NewCollector()
			n.Sink = c
			sinks[n.ID] = c
		}
	}
	return p, sinks
}

// Run builds and runs spec to completion on a checked allocator, with a
// one-minute bound, and fails the test on error or leaked memory. State is
// kept in memory.
func Run(t testing.TB, spec *sluicev1.JobSpec) *Result {
	t.Helper()
	return RunWith(t, spec, RunOptions{})
}

// RunOptions change how RunWith runs a job.
type RunOptions struct {
	// State is the state backend; nil means in memory (statestore/memstore).
	State statestore.Opener
}

// LSM returns the LSM state backend over a fresh in-memory bucket, with
// small memtables so that state reaches tables, compactions run and reads
// go through every tier.
func LSM(t testing.TB) statestore.Opener {
	t.Helper()
	st, err := objstore.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	return lsm.NewOpener(lsm.Options{Storage: st, MemtableSize: 256 << 10})
}

// RunWith is Run with options.
func RunWith(t testing.TB, spec *sluicev1.JobSpec, o RunOptions) *Result {
	t.Helper()
	p, sinks := Build(t, spec)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job, err := runtime.Start(ctx, p, runtime.Options{Allocator: mem, State: o.State})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := job.Wait(); err != nil {
		t.Fatalf("run: %v", err)
	}
	return &Result{Metrics: job.Metrics(), Sinks: sinks}
}
