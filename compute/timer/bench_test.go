package timer

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// BenchmarkRegisterFire registers one event-time timer for each of 4096
// keys (as a window operator does per new window), flushes, and fires them
// all with one watermark.
func BenchmarkRegisterFire(b *testing.B) {
	ctx := context.Background()
	mem := memory.NewGoAllocator()
	const k = 256
	clk := clock.NewFake(epoch)
	reg := memstore.NewRegistry(memstore.Options{Clock: clk})
	st, _ := reg.Open(ctx, statestore.ShardOptions{Name: "bench"}, nil, statestore.FullKeyGroupRange(k))
	defer st.Close()
	be, _ := state.Open(ctx, state.Options{Store: st, KeyGroups: statestore.FullKeyGroupRange(k), Clock: clk})
	enc, _ := state.NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	ts, err := Open(ctx, Options{Backend: be, Keys: enc})
	if err != nil {
		b.Fatal(err)
	}
	bld := array.NewInt64Builder(mem)
	for i := 0; i < 4096; i++ {
		bld.Append(int64(i))
	}
	col := bld.NewArray()
	bld.Release()
	defer col.Release()
	var kb state.KeyBatch
	if err := enc.Encode([]arrow.Array{col}, &kb); err != nil {
		b.Fatal(err)
	}
	ns := state.AppendOrderedInt64(nil, 10_000)
	fired := 0
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		wm := at(int64(n) * 10)
		for i := 0; i < kb.Len(); i++ {
			if err := ts.Register(EventTime, kb.At(i), ns, wm); err != nil {
				b.Fatal(err)
			}
		}
		if err := be.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := ts.AdvanceWatermark(ctx, wm, func(Timer) error { fired++; return nil }); err != nil {
			b.Fatal(err)
		}
		if err := be.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if fired != b.N*4096 {
		b.Fatalf("fired %d timers, want %d", fired, b.N*4096)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/timer")
}
