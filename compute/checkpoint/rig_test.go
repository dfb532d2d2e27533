package checkpoint

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/objstore"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testOperators is the job every coordinator test checkpoints.
var testOperators = []Operator{
	{ID: "src", Kind: "source", Parallelism: 2},
	{ID: "agg", Kind: "aggregate", Parallelism: 2, Signature: "agg(k)", Stateful: true},
	{ID: "sink", Kind: "sink", Parallelism: 2},
}

// recorder is a Storage that logs publishing writes and deletes to a trace.
type recorder struct {
	objstore.Storage
	name string
	log  func(format string, args ...any)
}

func (r *recorder) CreateIfAbsent(ctx context.Context, name string, data []byte) error {
	err := r.Storage.CreateIfAbsent(ctx, name, data)
	what := name
	if strings.HasSuffix(name, metadataName) {
		if md, derr := Decode(data); derr == nil {
			what = fmt.Sprintf("%s: %s", name, summarize(md))
		}
	}
	if err != nil {
		r.log("%s: put %s: FAILED: %v", r.name, what, err)
	} else {
		r.log("%s: put %s", r.name, what)
	}
	return err
}

func (r *recorder) Delete(ctx context.Context, name string) error {
	err := r.Storage.Delete(ctx, name)
	if err != nil {
		r.log("%s: delete %s: FAILED: %v", r.name, name, err)
	} else {
		r.log("%s: delete %s", r.name, name)
	}
	return err
}

// nopClose keeps a shared storage open when a Store closes it.
type nopClose struct{ objstore.Storage }

func (nopClose) Close() error { return nil }

// summarize prints the interesting fields of md in one line.
func summarize(md *Metadata) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("%s %d attempt=%d", md.Kind, md.ID, md.Attempt))
	if len(md.Positions) > 0 {
		var ps []string
		for _, p := range md.Positions {
			ps = append(ps, fmt.Sprintf("%s/%s=%s", p.Node, p.Split, p.Position))
		}
		parts = append(parts, "pos=["+strings.Join(ps, " ")+"]")
	}
	if len(md.States) > 0 {
		var ss []string
		for _, s := range md.States {
			ss = append(ss, fmt.Sprintf("%s/%d@%d", s.Node, s.Subtask, s.Handle.Checkpoint))
		}
		parts = append(parts, "states=["+strings.Join(ss, " ")+"]")
	}
	if len(md.Txns) > 0 {
		parts = append(parts, "txns=["+txnList(md.Txns)+"]")
	}
	return strings.Join(parts, " ")
}

func txnList(txns []SinkTxn) string {
	var ts []string
	for _, t := range txns {
		ts = append(ts, string(t.Txn))
	}
	return strings.Join(ts, " ")
}

// rig runs a Coordinator on a fake clock over in-memory storage, with
// callbacks that record what happens.
type rig struct {
	t   *testing.T
	clk *clock.Fake
	mem objstore.Storage // under fault
	// faultClk times injected latency, apart from clk: a test waits on it
	// to know that a storage call is stalled.
	faultClk *clock.Fake
	// injectedCh is signalled after each injected barrier.
	injectedCh chan struct{}
	fault      *objstore.FaultInjector
	sp         objstore.Storage // savepoint directories
	store      *Store
	cfg        Config
	deps       Deps
	c          *Coordinator

	mu struct {
		sync.Mutex
		trace     []string
		commitErr error
		committed []SinkTxn
		injected  []compute.Barrier
		failed    []error
		retained  []uint64
	}
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, clk: clock.NewFake(t0), faultClk: clock.NewFake(t0), injectedCh: make(chan struct{}, 1)}
	ctx := context.Background()
	mem, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	spMem, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close(); spMem.Close() })
	r.mem = mem
	r.fault = objstore.NewFaultInjector(mem, objstore.FaultOptions{Clock: r.faultClk})
	r.sp = &recorder{Storage: spMem, name: "sp", log: r.logf}
	r.store = NewStore(&recorder{Storage: r.fault, name: "store", log: r.logf}, "mem://test")
	r.store.open = func(context.Context, string) (objstore.Storage, error) { return nopClose{r.sp}, nil }
	r.deps = Deps{
		Clock:          r.clk,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		Job:            "job",
		Attempt:        1,
		MaxParallelism: 8,
		Operators:      testOperators,
		StateBackend:   "lsm mem://test",
		Store:          r.store,
		FirstID:        1,
		Tasks:          []string{"src/0", "src/1", "sink/0", "sink/1"},
		Inject: func(b compute.Barrier) {
			r.mu.Lock()
			r.mu.injected = append(r.mu.injected, b)
			r.mu.Unlock()
			kind := "checkpoint"
			if b.Savepoint {
				kind = "savepoint"
			}
			r.logf("inject %s %d at %s", kind, b.CheckpointID, r.rel(b.Timestamp))
			select {
			case r.injectedCh <- struct{}{}:
			default:
			}
		},
		Commit: func(ctx context.Context, txns []SinkTxn) error {
			r.mu.Lock()
			err := r.mu.commitErr
			if err == nil {
				r.mu.committed = append(r.mu.committed, txns...)
			}
			r.mu.Unlock()
			if err != nil {
				r.logf("commit %s: FAILED: %v", txnList(txns), err)
				return err
			}
			r.logf("commit %s", txnList(txns))
			return nil
		},
		Pin: func(ctx context.Context, id uint64) error {
			r.logf("pin %d", id)
			return nil
		},
		Retain: func(keepFrom uint64) {
			r.mu.Lock()
			r.mu.retained = append(r.mu.retained, keepFrom)
			r.mu.Unlock()
			r.logf("retain from %d", keepFrom)
		},
		Aborted: func(id uint64) { r.logf("aborted %d", id) },
		Fail: func(err error) {
			r.mu.Lock()
			r.mu.failed = append(r.mu.failed, err)
			r.mu.Unlock()
			r.logf("FAIL JOB: %v", err)
		},
	}
	return r
}

func (r *rig) rel(ts time.Time) string { return "+" + ts.Sub(t0).String() }

func (r *rig) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.trace = append(r.mu.trace, fmt.Sprintf(format, args...))
}

func (r *rig) takeTrace() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	tr := r.mu.trace
	r.mu.trace = nil
	return tr
}

func (r *rig) start() {
	c, err := New(r.cfg, r.deps)
	if err != nil {
		r.t.Fatal(err)
	}
	r.c = c
	c.Start(context.Background())
	r.t.Cleanup(c.Stop)
}

// parseSnap parses snapshot arguments:
//
//	pos=NODE:SPLIT:POSITION  state=NODE:SUBTASK  txn=NODE:SUBTASK:CHECKPOINT
func parseSnap(t *testing.T, id uint64, args []string) TaskSnapshot {
	var s TaskSnapshot
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		f := strings.Split(v, ":")
		switch k {
		case "pos":
			s.Positions = append(s.Positions, SplitPosition{Node: f[0], Split: f[1], Position: connectors.Position(f[2])})
		case "state":
			sub, _ := strconv.Atoi(f[1])
			s.States = append(s.States, StateHandle{Node: f[0], Subtask: sub,
				Handle: statestore.Handle{Backend: "test", Shard: v, Checkpoint: id}})
		case "txn":
			sub, _ := strconv.Atoi(f[1])
			ck, _ := strconv.ParseUint(f[2], 10, 64)
			s.Txns = append(s.Txns, SinkTxn{Node: f[0], Subtask: sub, Checkpoint: ck,
				Txn: connectors.Txn(fmt.Sprintf("%s/%d@%d", f[0], sub, ck))})
		default:
			t.Fatalf("bad snapshot argument %q", a)
		}
	}
	return s
}

// listStore returns every object of the job's store, sorted.
func (r *rig) listStore() []string {
	names, err := r.fault.List(context.Background(), "")
	if err != nil {
		r.t.Fatal(err)
	}
	return slices.Sorted(slices.Values(names))
}
