package objstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/objstore/objstoretest"
)

// The wrappers must be transparent when they inject nothing.
func TestConformanceWrappers(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Storage {
		inner := mustOpen(t, "mem://", objstore.Options{})
		return objstore.NewCounter(objstore.NewFaultInjector(inner, objstore.FaultOptions{Seed: 1}))
	})
}

func TestFaultRules(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		rule objstore.Rule
		// calls: op per call, and whether it must fail.
		run  func(s objstore.Storage, i int) error
		want []bool
	}{
		{
			name: "always",
			rule: objstore.Rule{Ops: objstore.OpReadAll},
			run:  func(s objstore.Storage, i int) error { _, err := s.ReadAll(ctx, "obj"); return err },
			want: []bool{true, true, true},
		},
		{
			name: "other op untouched",
			rule: objstore.Rule{Ops: objstore.OpSize},
			run:  func(s objstore.Storage, i int) error { _, err := s.ReadAll(ctx, "obj"); return err },
			want: []bool{false, false},
		},
		{
			name: "times",
			rule: objstore.Rule{Ops: objstore.OpsRead, Times: 2, Err: boom},
			run:  func(s objstore.Storage, i int) error { _, err := s.Size(ctx, "obj"); return err },
			want: []bool{true, true, false, false},
		},
		{
			name: "prefix",
			rule: objstore.Rule{Ops: objstore.OpsAll, Prefix: "manifest/"},
			run: func(s objstore.Storage, i int) error {
				name := []string{"obj", "manifest/1", "obj"}[i]
				_, err := s.Size(ctx, name)
				if objstore.IsNotFound(err) {
					return nil
				}
				return err
			},
			want: []bool{false, true, false},
		},
		{
			name: "after writes",
			rule: objstore.Rule{Ops: objstore.OpCreateIfAbsent, AfterWrites: 2},
			run: func(s objstore.Storage, i int) error {
				return s.CreateIfAbsent(ctx, []string{"a", "b", "c", "d"}[i], nil)
			},
			want: []bool{false, false, true, true},
		},
		{
			name: "finish fails and publishes nothing",
			rule: objstore.Rule{Ops: objstore.OpFinish},
			run: func(s objstore.Storage, i int) error {
				w, err := s.CreateObject(ctx, "new")
				if err != nil {
					return err
				}
				_ = w.Write([]byte("x"))
				err = w.Finish()
				if _, serr := s.Size(ctx, "new"); !objstore.IsNotFound(serr) {
					t.Errorf("object visible after an injected Finish failure: %v", serr)
				}
				return err
			},
			want: []bool{true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := mustOpen(t, "mem://", objstore.Options{})
			if err := inner.CreateIfAbsent(ctx, "obj", []byte("x")); err != nil {
				t.Fatal(err)
			}
			f := objstore.NewFaultInjector(inner, objstore.FaultOptions{})
			defer f.Close()
			f.AddRule(tc.rule)
			injected := 0
			for i, fail := range tc.want {
				err := tc.run(f, i)
				if fail {
					injected++
					want := tc.rule.Err
					if want == nil {
						want = objstore.ErrInjected
					}
					if !errors.Is(err, want) {
						t.Fatalf("call %d = %v, want %v", i, err, want)
					}
				} else if err != nil {
					t.Fatalf("call %d = %v, want success", i, err)
				}
			}
			if f.Injected() != injected {
				t.Fatalf("Injected() = %d, want %d", f.Injected(), injected)
			}
		})
	}
}

func TestFaultProbability(t *testing.T) {
	ctx := context.Background()
	f := objstore.NewFaultInjector(mustOpen(t, "mem://", objstore.Options{}), objstore.FaultOptions{Seed: 42})
	defer f.Close()
	f.AddRule(objstore.Rule{Ops: objstore.OpList, Probability: 0.3})
	failed := 0
	const n = 2000
	for range n {
		if _, err := f.List(ctx, ""); err != nil {
			failed++
		}
	}
	// Binomial(2000, 0.3): mean 600, sd ~20.5; 6 sd either side.
	if failed < 477 || failed > 723 {
		t.Fatalf("%d of %d calls failed with probability 0.3", failed, n)
	}
}

func TestCrashBeforeWrite(t *testing.T) {
	ctx := context.Background()
	inner := mustOpen(t, "mem://", objstore.Options{})
	f := objstore.NewFaultInjector(inner, objstore.FaultOptions{})
	defer f.Close()
	f.CrashBeforeWrite(2)
	if err := f.CreateIfAbsent(ctx, "sst/1", []byte("1")); err != nil {
		t.Fatal(err)
	}
	w, err := f.CreateObject(ctx, "sst/2")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); !errors.Is(err, objstore.ErrCrashed) {
		t.Fatalf("second write = %v, want ErrCrashed", err)
	}
	if !f.Crashed() || f.Writes() != 1 {
		t.Fatalf("Crashed() = %v, Writes() = %d; want true, 1", f.Crashed(), f.Writes())
	}
	// The dead process can do nothing more.
	if _, err := f.ReadAll(ctx, "sst/1"); !errors.Is(err, objstore.ErrCrashed) {
		t.Fatalf("read after crash = %v", err)
	}
	// The storage itself holds exactly the first write.
	if names, _ := inner.List(ctx, ""); len(names) != 1 || names[0] != "sst/1" {
		t.Fatalf("storage after crash holds %q, want [sst/1]", names)
	}
}

func TestCrashAfterWrite(t *testing.T) {
	ctx := context.Background()
	inner := mustOpen(t, "mem://", objstore.Options{})
	f := objstore.NewFaultInjector(inner, objstore.FaultOptions{})
	defer f.Close()
	f.CrashAfterWrite(1)
	if err := f.CreateIfAbsent(ctx, "manifest/1", []byte("m")); !errors.Is(err, objstore.ErrCrashed) {
		t.Fatalf("write = %v, want ErrCrashed", err)
	}
	if err := f.CreateIfAbsent(ctx, "manifest/2", []byte("m")); !errors.Is(err, objstore.ErrCrashed) {
		t.Fatalf("write after crash = %v, want ErrCrashed", err)
	}
	if names, _ := inner.List(ctx, ""); len(names) != 1 || names[0] != "manifest/1" {
		t.Fatalf("storage after crash holds %q, want [manifest/1]: the crashing write must be durable", names)
	}
}

func TestFaultLatencyUsesClock(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(0, 0))
	f := objstore.NewFaultInjector(mustOpen(t, "mem://", objstore.Options{}), objstore.FaultOptions{Clock: clk})
	defer f.Close()
	f.AddRule(objstore.Rule{Ops: objstore.OpCreateIfAbsent, Latency: time.Second, LatencyOnly: true})
	done := make(chan error, 1)
	go func() { done <- f.CreateIfAbsent(ctx, "slow", []byte("x")) }()
	<-clk.TimerArmed()
	select {
	case err := <-done:
		t.Fatalf("call finished before the clock advanced: %v", err)
	default:
	}
	clk.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := f.Size(ctx, "slow"); err != nil {
		t.Fatalf("delayed write did not happen: %v", err)
	}
	// Cancelling the context ends the wait.
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- f.CreateIfAbsent(cctx, "cancelled", nil) }()
	<-clk.TimerArmed()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled delayed call = %v", err)
	}
}

func TestCounter(t *testing.T) {
	ctx := context.Background()
	c := objstore.NewCounter(mustOpen(t, "mem://", objstore.Options{}))
	defer c.Close()
	objstoretest.Put(t, ctx, c, "sst/1", make([]byte, 1000), 300)
	if err := c.CreateIfAbsent(ctx, "m/1", make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	_ = c.CreateIfAbsent(ctx, "m/1", make([]byte, 10)) // fails: exists
	w, _ := c.CreateObject(ctx, "aborted")
	_ = w.Write(make([]byte, 50))
	w.Abort()
	r, _, err := c.ReadObject(ctx, "sst/1")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.ReadAt(ctx, make([]byte, 100), 500)
	_ = r.ReadAt(ctx, make([]byte, 1000), 0)
	_, _ = c.ReadAll(ctx, "m/1")
	_, _ = c.ReadAll(ctx, "missing")
	_, _ = c.List(ctx, "")
	_, _ = c.Size(ctx, "m/1")
	_ = c.Delete(ctx, "m/1")
	var want objstore.CounterMetrics
	want.Kinds[objstore.ReqPut] = objstore.RequestMetrics{Requests: 3, Errors: 1, Bytes: 1010}
	want.Kinds[objstore.ReqHead] = objstore.RequestMetrics{Requests: 2}
	want.Kinds[objstore.ReqRangeGet] = objstore.RequestMetrics{Requests: 1, Bytes: 100}
	want.Kinds[objstore.ReqGet] = objstore.RequestMetrics{Requests: 3, Errors: 1, Bytes: 1010}
	want.Kinds[objstore.ReqList] = objstore.RequestMetrics{Requests: 1}
	want.Kinds[objstore.ReqDelete] = objstore.RequestMetrics{Requests: 1}
	got := c.Metrics()
	if got != want {
		t.Fatalf("metrics:\n got %s\nwant %s", got, want)
	}
	if tot := got.Total(); tot.Requests != 11 || tot.Errors != 2 {
		t.Fatalf("Total() = %+v", tot)
	}
	if d := got.Sub(got); d.Total() != (objstore.RequestMetrics{}) {
		t.Fatalf("m.Sub(m) = %s", d)
	}
}
