package state

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// batchRig is one backend with a value and an aggregating state, and a
// 4096-row batch of int64 keys over `distinct` keys.
type batchRig struct {
	ctx  context.Context
	st   statestore.Store
	be   *Backend
	vs   *ValueState
	as   *AggregatingState
	enc  *KeyEncoder
	cols []arrow.Array
	kb   KeyBatch
	val  []byte
}

func newBatchRig(tb testing.TB, mem memory.Allocator, rows, distinct int, ttl TTL) *batchRig {
	ctx := context.Background()
	clk := clock.NewFake(epoch)
	reg := memstore.NewRegistry(memstore.Options{Clock: clk})
	const k = 256
	st, err := reg.Open(ctx, statestore.ShardOptions{Name: "bench"}, nil, statestore.FullKeyGroupRange(k))
	if err != nil {
		tb.Fatal(err)
	}
	be, err := Open(ctx, Options{Store: st, KeyGroups: statestore.FullKeyGroupRange(k), Clock: clk})
	if err != nil {
		tb.Fatal(err)
	}
	vs, _ := be.Value(Descriptor{ID: 1, Name: "v", TTL: ttl})
	as, _ := be.Aggregating(Descriptor{ID: 2, Name: "sum", TTL: ttl}, sumAdd)
	enc, _ := NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	b := array.NewInt64Builder(mem)
	for i := 0; i < rows; i++ {
		b.Append(int64(i*7919) % int64(distinct))
	}
	r := &batchRig{ctx: ctx, st: st, be: be, vs: vs, as: as, enc: enc, cols: []arrow.Array{b.NewArray()}, val: make([]byte, 8)}
	b.Release()
	if err := enc.Encode(r.cols, &r.kb); err != nil {
		tb.Fatal(err)
	}
	// Populate every key.
	vs.PutBatch(&r.kb, Namespaces{}, func(i int) ([]byte, bool) { return r.val, true })
	if err := be.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	return r
}

func (r *batchRig) close() {
	release(r.cols)
	r.st.Close()
}

// step is the batch path of a keyed operator: encode, read all rows, write
// all rows, flush.
func (r *batchRig) step(tb testing.TB, sum *uint64) {
	if err := r.enc.Encode(r.cols, &r.kb); err != nil {
		tb.Fatal(err)
	}
	if err := r.vs.MultiGet(r.ctx, &r.kb, Namespaces{}, func(i int, v []byte) { *sum += uint64(v[0]) + 1 }); err != nil {
		tb.Fatal(err)
	}
	r.vs.PutBatch(&r.kb, Namespaces{}, func(i int) ([]byte, bool) {
		binary.LittleEndian.PutUint64(r.val, uint64(i))
		return r.val, true
	})
	if err := r.be.Flush(r.ctx); err != nil {
		tb.Fatal(err)
	}
}

// TestBatchPathAllocs bounds the allocations of one 4096-row batch through
// encode, MultiGet, PutBatch and Flush. The backend itself allocates nothing
// once warm; the budget is for the store (memstore allocates its hit list
// and one copy per put).
func TestBatchPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation budgets do not hold under the race detector")
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	for _, ttl := range []TTL{{}, {Duration: time.Hour}, {Duration: time.Hour, Update: OnReadAndWrite}} {
		// OnReadAndWrite turns every read into a write (applied by the
		// next read's flush), which memstore copies: 4096 more allocations.
		storePuts, readBudget := 4096.0, 2.0
		if ttl.Update == OnReadAndWrite {
			storePuts, readBudget = 2*4096, 2+4096+1 // +1: memstore's Apply
		}
		r := newBatchRig(t, mem, 4096, 1000, ttl)
		var sum uint64
		r.step(t, &sum)
		readAllocs := testing.AllocsPerRun(10, func() {
			if err := r.vs.MultiGet(r.ctx, &r.kb, Namespaces{}, func(i int, v []byte) { sum++ }); err != nil {
				t.Fatal(err)
			}
		})
		if err := r.be.Flush(r.ctx); err != nil {
			t.Fatal(err)
		}
		// memstore's MultiGet allocates its hit list once per call.
		if readAllocs > readBudget {
			t.Errorf("TTL %+v: MultiGet of 4096 rows: %.0f allocations, want <= %.0f", ttl, readAllocs, readBudget)
		}
		all := testing.AllocsPerRun(10, func() { r.step(t, &sum) })
		// memstore copies each put (4096) and allocates tree nodes; allow that
		// and no more than a handful of our own.
		if all > storePuts+200 {
			t.Errorf("TTL %+v: batch step: %.0f allocations for 4096 rows", ttl, all)
		}
		t.Logf("TTL %+v: MultiGet %.0f allocs/batch, full step %.0f allocs/batch (memstore puts: 4096)", ttl, readAllocs, all)
		r.close()
	}
}

// BenchmarkMultiGet reads 4096-row batches of int64 keys from memstore with
// one ValueState.MultiGet each (keys pre-encoded).
func BenchmarkMultiGet(b *testing.B) {
	for _, distinct := range []int{1000, 100000} {
		for _, ttl := range []TTL{{}, {Duration: time.Hour}} {
			b.Run(fmt.Sprintf("keys=%d/ttl=%v", distinct, ttl.Enabled()), func(b *testing.B) {
				mem := memory.NewGoAllocator()
				r := newBatchRig(b, mem, 4096, distinct, ttl)
				defer r.close()
				var sum uint64
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := r.vs.MultiGet(r.ctx, &r.kb, Namespaces{}, func(i int, v []byte) { sum += uint64(v[0]) }); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/row")
			})
		}
	}
}

// BenchmarkBatchStep is a keyed operator's full batch path: encode 4096
// keys, MultiGet, PutBatch, Flush (Apply) on memstore.
func BenchmarkBatchStep(b *testing.B) {
	mem := memory.NewGoAllocator()
	r := newBatchRig(b, mem, 4096, 10000, TTL{})
	defer r.close()
	var sum uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.step(b, &sum)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/row")
}

// BenchmarkAggregatingAdd folds 4096 rows into 10000 keys' accumulators per
// batch (one MultiGet and one Apply per batch).
func BenchmarkAggregatingAdd(b *testing.B) {
	mem := memory.NewGoAllocator()
	r := newBatchRig(b, mem, 4096, 10000, TTL{})
	defer r.close()
	one := binary.LittleEndian.AppendUint64(nil, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.as.Add(r.ctx, &r.kb, Namespaces{}, func(int) ([]byte, bool) { return one, true }); err != nil {
			b.Fatal(err)
		}
		if err := r.be.Flush(r.ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/row")
}

// BenchmarkEncode encodes 4096 int64 keys and their key groups.
func BenchmarkEncode(b *testing.B) {
	mem := memory.NewGoAllocator()
	r := newBatchRig(b, mem, 4096, 10000, TTL{})
	defer r.close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.enc.Encode(r.cols, &r.kb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/row")
}
