package objstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/sluicedata/sluice/internal/clock"
)

// Op is a set of Storage operations, for fault rules.
type Op uint16

const (
	OpReadObject     Op = 1 << iota // Storage.ReadObject
	OpReadAt                        // Readable.ReadAt
	OpReadAll                       // Storage.ReadAll
	OpCreate                        // Storage.CreateObject
	OpWrite                         // Writable.Write
	OpFinish                        // Writable.Finish (publishes an object)
	OpCreateIfAbsent                // Storage.CreateIfAbsent (publishes an object)
	OpList                          // Storage.List
	OpDelete                        // Storage.Delete
	OpSize                          // Storage.Size

	// OpsRead are the operations that read.
	OpsRead = OpReadObject | OpReadAt | OpReadAll | OpList | OpSize
	// OpsWrite are the operations that write or delete.
	OpsWrite = OpCreate | OpWrite | OpFinish | OpCreateIfAbsent | OpDelete
	// OpsAll is every operation.
	OpsAll = OpsRead | OpsWrite
)

var opNames = []string{"read-object", "read-at", "read-all", "create", "write", "finish", "create-if-absent", "list", "delete", "size"}

func (o Op) String() string {
	var parts []string
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}

var (
	// ErrInjected is the default error of a fault Rule.
	ErrInjected = errors.New("objstore: injected fault")
	// ErrCrashed is returned by every operation of a FaultInjector after its
	// simulated crash.
	ErrCrashed = errors.New("objstore: simulated crash")
)

// Rule says which calls a FaultInjector fails or delays. A call matches if
// its operation is in Ops, its object name starts with Prefix, and at least
// AfterWrites publishing writes (Finish, CreateIfAbsent) have succeeded;
// then, with the given Probability, the rule fires: it waits Latency and,
// unless Err is nil with LatencyOnly set, fails the call.
type Rule struct {
	Ops         Op
	Prefix      string
	AfterWrites int
	// Probability of firing for a matching call, in (0, 1]. 0 means 1.
	Probability float64
	// Times limits how often the rule fires; 0 means no limit.
	Times int
	// Latency is waited (on the injector's clock) before the call.
	Latency time.Duration
	// LatencyOnly makes the rule delay the call without failing it.
	LatencyOnly bool
	// Err is the injected error; nil means ErrInjected.
	Err error

	fired int
}

// FaultOptions configure a FaultInjector.
type FaultOptions struct {
	// Clock times injected latency. Default clock.Real(), a real delay (for
	// benchmarks); tests inject a clock.Fake.
	Clock clock.Clock
	// Seed seeds the random choices of probabilistic rules.
	Seed uint64
}

// FaultInjector wraps a Storage and fails, delays or crashes chosen calls,
// so tests can simulate flaky object stores and a process dying between two
// writes. Safe for concurrent use.
type FaultInjector struct {
	inner Storage
	clock clock.Clock
	mu    struct {
		sync.Mutex
		rng        *rand.Rand
		rules      []*Rule
		writes     int // publishing writes that reached inner
		injected   int
		crashAt    int // crash on this publishing write number; 0 = none
		crashAfter bool
		crashed    bool
	}
}

var _ Storage = (*FaultInjector)(nil)

// NewFaultInjector wraps inner. With no rule it passes every call through.
func NewFaultInjector(inner Storage, opts FaultOptions) *FaultInjector {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	f := &FaultInjector{inner: inner, clock: opts.Clock}
	f.mu.rng = rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	return f
}

// AddRule adds a rule. Rules are checked in the order added; the first one
// that fires decides the call.
func (f *FaultInjector) AddRule(r Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.rules = append(f.mu.rules, &r)
}

// ClearRules removes every rule (not a pending crash).
func (f *FaultInjector) ClearRules() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.rules = nil
}

// CrashBeforeWrite makes the n-th publishing write (Finish or
// CreateIfAbsent) from now, n >= 1, crash before it reaches the storage:
// it and every later call fail with ErrCrashed, and the object is not
// written.
func (f *FaultInjector) CrashBeforeWrite(n int) { f.setCrash(n, false) }

// CrashAfterWrite makes the n-th publishing write from now, n >= 1, crash
// after it reached the storage: the object is written, but the call and
// every later one fail with ErrCrashed, as if the process died before it
// learned of the success.
func (f *FaultInjector) CrashAfterWrite(n int) { f.setCrash(n, true) }

func (f *FaultInjector) setCrash(n int, after bool) {
	if n < 1 {
		panic(fmt.Sprintf("objstore: crash on write %d: n must be >= 1", n))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.crashAt = f.mu.writes + n
	f.mu.crashAfter = after
}

// Crashed reports whether the simulated crash happened.
func (f *FaultInjector) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.crashed
}

// Writes returns the number of publishing writes that reached the storage.
func (f *FaultInjector) Writes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.writes
}

// Injected returns the number of calls a rule failed.
func (f *FaultInjector) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.injected
}

// fault applies the rules to one call: it waits any latency and returns the
// error to inject, or nil to let the call through.
func (f *FaultInjector) fault(ctx context.Context, op Op, name string) error {
	f.mu.Lock()
	if f.mu.crashed {
		f.mu.Unlock()
		return fmt.Errorf("objstore: %s %q: %w", op, name, ErrCrashed)
	}
	var fired *Rule
	for _, r := range f.mu.rules {
		if r.Ops&op == 0 || !strings.HasPrefix(name, r.Prefix) || f.mu.writes < r.AfterWrites || (r.Times > 0 && r.fired >= r.Times) {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && f.mu.rng.Float64() >= r.Probability {
			continue
		}
		r.fired++
		fired = r
		break
	}
	var err error
	if fired != nil && !fired.LatencyOnly {
		f.mu.injected++
		err = fired.Err
		if err == nil {
			err = ErrInjected
		}
		err = fmt.Errorf("objstore: %s %q: %w", op, name, err)
	}
	f.mu.Unlock()
	if fired != nil && fired.Latency > 0 {
		t := f.clock.NewTimer(fired.Latency)
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return err
}

// publish runs a publishing write under the crash rules.
func (f *FaultInjector) publish(ctx context.Context, op Op, name string, write func() error) error {
	if err := f.fault(ctx, op, name); err != nil {
		return err
	}
	f.mu.Lock()
	if f.mu.crashed {
		f.mu.Unlock()
		return fmt.Errorf("objstore: %s %q: %w", op, name, ErrCrashed)
	}
	if f.mu.crashAt == f.mu.writes+1 && !f.mu.crashAfter {
		f.mu.crashed = true
		f.mu.Unlock()
		return fmt.Errorf("objstore: %s %q: crashed before the write: %w", op, name, ErrCrashed)
	}
	f.mu.Unlock()
	err := write()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		f.mu.writes++
		if f.mu.crashAt == f.mu.writes && f.mu.crashAfter {
			f.mu.crashed = true
			return fmt.Errorf("objstore: %s %q: crashed after the write: %w", op, name, ErrCrashed)
		}
	}
	return err
}

// ReadObject implements Storage.
func (f *FaultInjector) ReadObject(ctx context.Context, name string) (Readable, int64, error) {
	if err := f.fault(ctx, OpReadObject, name); err != nil {
		return nil, 0, err
	}
	r, size, err := f.inner.ReadObject(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return &faultReadable{f: f, name: name, r: r}, size, nil
}

// ReadAll implements Storage.
func (f *FaultInjector) ReadAll(ctx context.Context, name string) ([]byte, error) {
	if err := f.fault(ctx, OpReadAll, name); err != nil {
		return nil, err
	}
	return f.inner.ReadAll(ctx, name)
}

// CreateObject implements Storage.
func (f *FaultInjector) CreateObject(ctx context.Context, name string) (Writable, error) {
	if err := f.fault(ctx, OpCreate, name); err != nil {
		return nil, err
	}
	w, err := f.inner.CreateObject(ctx, name)
	if err != nil {
		return nil, err
	}
	return &faultWritable{f: f, ctx: ctx, name: name, w: w}, nil
}

// CreateIfAbsent implements Storage.
func (f *FaultInjector) CreateIfAbsent(ctx context.Context, name string, data []byte) error {
	return f.publish(ctx, OpCreateIfAbsent, name, func() error { return f.inner.CreateIfAbsent(ctx, name, data) })
}

// List implements Storage.
func (f *FaultInjector) List(ctx context.Context, prefix string) ([]string, error) {
	if err := f.fault(ctx, OpList, prefix); err != nil {
		return nil, err
	}
	return f.inner.List(ctx, prefix)
}

// Delete implements Storage.
func (f *FaultInjector) Delete(ctx context.Context, name string) error {
	if err := f.fault(ctx, OpDelete, name); err != nil {
		return err
	}
	return f.inner.Delete(ctx, name)
}

// Size implements Storage.
func (f *FaultInjector) Size(ctx context.Context, name string) (int64, error) {
	if err := f.fault(ctx, OpSize, name); err != nil {
		return 0, err
	}
	return f.inner.Size(ctx, name)
}

// Close implements Storage. It closes the wrapped storage.
func (f *FaultInjector) Close() error { return f.inner.Close() }

type faultReadable struct {
	f    *FaultInjector
	name string
	r    Readable
}

func (r *faultReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	if err := r.f.fault(ctx, OpReadAt, r.name); err != nil {
		return err
	}
	return r.r.ReadAt(ctx, p, off)
}

func (r *faultReadable) Close() error { return r.r.Close() }

type faultWritable struct {
	f    *FaultInjector
	ctx  context.Context
	name string
	w    Writable
}

func (w *faultWritable) Write(p []byte) error {
	if err := w.f.fault(w.ctx, OpWrite, w.name); err != nil {
		return err
	}
	return w.w.Write(p)
}

func (w *faultWritable) Finish() error {
	err := w.f.publish(w.ctx, OpFinish, w.name, w.w.Finish)
	if err != nil {
		// A fault injected before the inner Finish leaves the inner writer
		// open; after it, Abort is a no-op.
		w.w.Abort()
	}
	return err
}

func (w *faultWritable) Abort() { w.w.Abort() }
