package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/compute/stream"
	_ "github.com/sluicedata/sluice/connectors/blackhole"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"
)

func seq(rows int64, keys int64, splits int) stream.Options {
	return stream.Options{"rows": rows, "keys": keys, "splits": splits}
}

// keyGroupOwner computes, independently of the runtime's routing, which
// subtask owns the key of an int64 key value.
func keyGroupOwner(t *testing.T, key int64, parallelism, maxPar int) int {
	t.Helper()
	b := array.NewInt64Builder(memory.NewGoAllocator())
	b.Append(key)
	a := b.NewArray()
	defer a.Release()
	h := make([]uint64, 1)
	if err := exchange.HashColumns([]arrow.Array{a}, h); err != nil {
		t.Fatal(err)
	}
	kg := exchange.KeyGroupOf(h[0], maxPar)
	for s := 0; s < parallelism; s++ {
		if exchange.KeyGroupRangeFor(s, parallelism, maxPar).Contains(uint16(kg)) {
			return s
		}
	}
	t.Fatalf("no subtask owns key group %d", kg)
	return -1
}

// TestKeyedExchange checks, over random shapes, that every row reaches exactly
// one subtask: the one owning its key group.
func TestKeyedExchange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 12; iter++ {
		rows := int64(rng.IntN(20000))
		keys := int64(1 + rng.IntN(500))
		srcPar := 1 + rng.IntN(3)
		sinkPar := 1 + rng.IntN(5)
		maxPar := sinkPar + rng.IntN(300)
		batch := 1 + rng.IntN(3000)
		t.Run(fmt.Sprintf("rows=%d,keys=%d,src=%d,sink=%d,K=%d,batch=%d", rows, keys, srcPar, sinkPar, maxPar, batch), func(t *testing.T) {
			env := stream.NewEnv("keyed").SetMaxParallelism(maxPar).SetBatchSize(batch)
			env.FromSource("src", "test-sequence", seq(rows, keys, 2*srcPar)).SetParallelism(srcPar).
				KeyBy("key").
				SinkTo("out", "blackhole", nil).SetParallelism(sinkPar)
			spec, err := env.Spec()
			if err != nil {
				t.Fatal(err)
			}
			res := computetest.Run(t, spec)
			seen := make([]int, rows)
			owner := map[int64]int{}
			for s := 0; s < sinkPar; s++ {
				if !res.Sinks["out"].Flushed(s) {
					t.Errorf("subtask %d was not flushed", s)
				}
				for _, r := range res.Sinks["out"].SubtaskRows(s) {
					id, key := r["id"].(int64), r["key"].(int64)
					seen[id]++
					if want, ok := owner[key]; !ok {
						owner[key] = keyGroupOwner(t, key, sinkPar, maxPar)
					} else if want != s {
						t.Fatalf("key %d reached subtask %d, want %d", key, s, want)
					}
					if owner[key] != s {
						t.Fatalf("key %d reached subtask %d, owner is %d", key, s, owner[key])
					}
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("row %d arrived %d times", id, n)
				}
			}
			if m, _ := res.Metrics.Node("out"); m.RowsIn != rows {
				t.Errorf("sink metrics: %d rows in, want %d", m.RowsIn, rows)
			}
		})
	}
}

// TestStatelessPipeline runs filter and project through chains and exchanges
// at several parallelisms and compares with a direct computation.
func TestStatelessPipeline(t *testing.T) {
	const rows = 5000
	for _, par := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("parallelism=%d", par), func(t *testing.T) {
			env := stream.NewEnv("pipeline").SetBatchSize(333)
			env.FromSource("src", "test-sequence", seq(rows, 13, 4)).
				Filter("id % 3 <> 0 AND name IS NOT NULL").
				Rebalance().
				Select(stream.Col("id"), stream.As("double_key", "key * 2"), stream.As("upper_name", "upper(name)")).SetParallelism(par).
				SinkTo("out", "blackhole", nil)
			spec, err := env.Spec()
			if err != nil {
				t.Fatal(err)
			}
			res := computetest.Run(t, spec)
			got := map[int64]computetest.Row{}
			for _, r := range res.Rows("out") {
				id := r["id"].(int64)
				if _, dup := got[id]; dup {
					t.Fatalf("row %d twice", id)
				}
				got[id] = r
			}
			want := 0
			for id := int64(0); id < rows; id++ {
				if id%3 == 0 || id%7 == 3 { // filtered out, or name is NULL
					if _, ok := got[id]; ok {
						t.Fatalf("row %d should have been filtered out", id)
					}
					continue
				}
				want++
				r, ok := got[id]
				if !ok {
					t.Fatalf("row %d missing", id)
				}
				if r["double_key"] != (id%13)*2 || r["upper_name"] != fmt.Sprintf("N%d", id) {
					t.Fatalf("row %d = %v", id, r)
				}
			}
			if len(got) != want {
				t.Fatalf("got %d rows, want %d", len(got), want)
			}
		})
	}
}

// TestFailureStopsJob checks that a source error stops every task, names the
// node, and leaks neither memory nor goroutines.
func TestFailureStopsJob(t *testing.T) {
	env := stream.NewEnv("failing").SetBatchSize(100)
	env.FromSource("src", "test-sequence", stream.Options{"rows": 1_000_000, "splits": 2, "fail_at": 1000}).SetParallelism(2).
		KeyBy("key").
		Filter("id >= 0").SetParallelism(3).
		SinkTo("out", "blackhole", nil)
	spec, _ := env.Spec()
	p, _ := computetest.Build(t, spec)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	job, err := runtime.Start(context.Background(), p, runtime.Options{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	err = job.Wait()
	if err == nil || !strings.Contains(err.Error(), `node "src"`) || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("Wait() = %v, want the injected failure of node src", err)
	}
}

// TestCancel checks that cancelling an unbounded job stops it cleanly.
func TestCancel(t *testing.T) {
	env := stream.NewEnv("unbounded").SetBatchSize(10)
	env.FromSource("src", "test-sequence", stream.Options{"rows": 100, "splits": 2, "unbounded": true}).
		KeyBy("key").
		Filter("id >= 0").SetParallelism(2).
		SinkTo("out", "blackhole", nil)
	spec, _ := env.Spec()
	p, sinks := computetest.Build(t, spec)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	job, err := runtime.Start(ctx, p, runtime.Options{Allocator: mem, Clock: clock.NewFake(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := job.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait() = %v, want context.Canceled", err)
	}
	if sinks["out"].Flushed(0) || sinks["out"].Flushed(1) {
		t.Fatal("a cancelled job must not flush its sinks")
	}
}

// TestLinger checks that small pieces held back by a keyed exchange are sent
// once they have waited the linger time on the injected clock, and not before.
func TestLinger(t *testing.T) {
	const rows = 10
	env := stream.NewEnv("linger").SetBatchSize(4096).SetLinger(time.Second)
	env.FromSource("src", "test-sequence", stream.Options{"rows": rows, "keys": 5, "splits": 1, "unbounded": true}).
		KeyBy("key").
		SinkTo("out", "blackhole", nil).SetParallelism(2)
	spec, _ := env.Spec()
	p, sinks := computetest.Build(t, spec)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	fake := clock.NewFake(time.Unix(0, 0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	job, err := runtime.Start(ctx, p, runtime.Options{Allocator: mem, Clock: fake})
	if err != nil {
		t.Fatal(err)
	}
	select { // the source task arms its linger timer once the pieces are pending
	case <-fake.TimerArmed():
	case <-time.After(10 * time.Second):
		t.Fatal("no linger timer was armed")
	}
	if n := len(sinks["out"].Rows()); n != 0 {
		t.Fatalf("%d rows arrived before the linger time", n)
	}
	fake.Advance(999 * time.Millisecond)
	if n := len(sinks["out"].Rows()); n != 0 {
		t.Fatalf("%d rows arrived before the linger time", n)
	}
	fake.Advance(time.Millisecond)
	if !sinks["out"].WaitRows(rows, 10*time.Second) {
		t.Fatalf("after the linger time the sinks have %d rows, want %d", len(sinks["out"].Rows()), rows)
	}
	cancel()
	if err := job.Wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait() = %v", err)
	}
}

func buildErr(spec *sluicev1.JobSpec) (*plan.Plan, error) { return plan.Build(spec) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
