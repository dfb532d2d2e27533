package operator_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/operator"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// benchWindow runs 4096-row batches through one window operator subtask on
// a memstore: 1000 keys, 1 ms of event time per row (so a 10 s window spans
// about 2.4 batches), a watermark after every batch. It reports ns/row.
func benchWindow(b *testing.B, assigner func(*sluicev1.WindowNode)) {
	const rows, keys = 4096, 1000
	node := &sluicev1.WindowNode{Keys: []string{"k"}, TimeColumn: "ts", Aggregates: []*sluicev1.Aggregate{
		{Name: "cnt", Function: "count", Expr: "*"},
		{Name: "s", Function: "sum", Expr: "v"},
		{Name: "mx", Function: "max", Expr: "v"},
	}}
	assigner(node)
	plan, err := operator.PlanWindow(node, winSchema)
	if err != nil {
		b.Fatal(err)
	}
	op, err := plan.NewOperator()
	if err != nil {
		b.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	ctx := context.Background()
	kg := exchange.KeyGroupRangeFor(0, 1, 128)
	store, err := memstore.NewRegistry(memstore.Options{}).Open(ctx, statestore.ShardOptions{Name: "bench"}, nil, kg)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	oc := &compute.OperatorContext{Node: "bench", Parallelism: 1, MaxParallelism: 128, KeyGroups: kg,
		Allocator: mem, Clock: clock.Real(), OpenStore: func(context.Context) (statestore.Store, error) { return store, nil }}
	if err := op.Open(ctx, oc); err != nil {
		b.Fatal(err)
	}
	defer op.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const nb = 64
	batches := make([]arrow.RecordBatch, nb)
	for i := range batches {
		rs := make([]winRow, rows)
		for j := range rs {
			v := rng.Int64N(1000)
			// Bidder-like skew: half the rows on 10% of the keys.
			k := rng.Int64N(keys)
			if rng.IntN(2) == 0 {
				k = rng.Int64N(keys / 10)
			}
			rs[j] = winRow{k: k, id: int64(j), ts: int64(i*rows + j), v: &v}
		}
		batches[i] = winBatch(mem, rs)
	}
	defer func() {
		for _, bt := range batches {
			bt.Release()
		}
	}()
	var out int64
	em := winCountEmitter{n: &out}
	b.ResetTimer()
	var base int64
	for i := 0; i < b.N; i++ {
		bt := batches[i%nb]
		if i%nb == 0 && i > 0 {
			base += nb * rows
		}
		if base != 0 {
			b.StopTimer()
			bt = shiftBatch(b, mem, bt, base)
			b.StartTimer()
		} else {
			bt.Retain()
		}
		if err := op.ProcessBatch(ctx, 0, bt, em); err != nil {
			b.Fatal(err)
		}
		wm := base + int64((i%nb+1)*rows) - 1000
		if err := op.ProcessWatermark(ctx, time.UnixMilli(wm), em); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	b.ReportMetric(float64(out)/float64(b.N), "results/batch")
}

// shiftBatch returns a copy of bt with ts moved forward by d ms.
func shiftBatch(b *testing.B, mem memory.Allocator, bt arrow.RecordBatch, d int64) arrow.RecordBatch {
	rs := make([]winRow, bt.NumRows())
	ks := bt.Column(0).(interface{ Value(int) int64 })
	vs := bt.Column(3).(interface{ Value(int) int64 })
	tsc := bt.Column(2).(interface{ Value(int) arrow.Timestamp })
	for j := range rs {
		v := vs.Value(j)
		rs[j] = winRow{k: ks.Value(j), id: int64(j), ts: int64(tsc.Value(j)) + d, v: &v}
	}
	return winBatch(mem, rs)
}

type winCountEmitter struct{ n *int64 }

func (e winCountEmitter) Emit(_ context.Context, b arrow.RecordBatch) error {
	*e.n += b.NumRows()
	b.Release()
	return nil
}

func (e winCountEmitter) EmitSide(_ context.Context, _ string, b arrow.RecordBatch) error {
	b.Release()
	return nil
}

func BenchmarkWindowTumbling(b *testing.B) {
	benchWindow(b, func(n *sluicev1.WindowNode) {
		n.Assigner = &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: durationpb.New(10 * time.Second)}}
	})
}

func BenchmarkWindowSliding(b *testing.B) {
	benchWindow(b, func(n *sluicev1.WindowNode) {
		n.Assigner = &sluicev1.WindowNode_Sliding{Sliding: &sluicev1.SlidingWindow{Size: durationpb.New(10 * time.Second), Slide: durationpb.New(2 * time.Second)}}
	})
}

func BenchmarkWindowSession(b *testing.B) {
	benchWindow(b, func(n *sluicev1.WindowNode) {
		n.Assigner = &sluicev1.WindowNode_Session{Session: &sluicev1.SessionWindow{Gap: durationpb.New(10 * time.Second)}}
	})
}
