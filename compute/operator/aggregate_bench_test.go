package operator_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/operator"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// benchBatches builds batches of bid-like rows (k1 keys drawn from keys
// values) for the aggregate and top-n benchmarks.
func benchBatches(b *testing.B, mem memory.Allocator, keys, batches, rows int) []arrow.RecordBatch {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]arrow.RecordBatch, batches)
	for i := range out {
		rs := make([][]any, rows)
		for j := range rs {
			rs[j] = []any{int64(rng.IntN(keys)), "x", int64(rng.IntN(1_000_000)), float64(rng.IntN(100)), fmt.Sprint(rng.IntN(1000)),
				t0.Add(time.Duration(i*rows+j) * time.Millisecond)}
		}
		out[i] = buildBatch(b, mem, aggInputSchema(false), rs)
	}
	return out
}

func runBench(b *testing.B, newOp func() (compute.Operator, error), keys []int, nKeys int) {
	mem := memory.NewGoAllocator()
	const rows = 4096
	batches := benchBatches(b, mem, nKeys, 16, rows)
	defer func() {
		for _, bt := range batches {
			bt.Release()
		}
	}()
	st := newSubtasks(b, mem, aggInputSchema(false), keys, 1, 256, newOp)
	b.ResetTimer()
	for i := range b.N {
		bt := batches[i%len(batches)]
		bt.Retain()
		st.processDirect(bt)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

func BenchmarkAggregate(b *testing.B) {
	for _, tc := range []struct {
		name  string
		aggs  []aggCase
		nKeys int
	}{
		{"count_sum_min_max_avg/keys1k", appendOnlyAggs[:6], 1000},
		{"count_sum_min_max_avg/keys100k", appendOnlyAggs[:6], 100_000},
		{"q17_like/keys10k", appendOnlyAggs[:6], 10_000},
		{"count_distinct_s/keys10", []aggCase{appendOnlyAggs[0], appendOnlyAggs[19]}, 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			node := aggNode(tc.aggs)
			node.Keys = []string{"k1"}
			p, err := operator.PlanAggregate(node, aggInputSchema(false))
			if err != nil {
				b.Fatal(err)
			}
			runBench(b, p.NewOperator, p.Keys, tc.nKeys)
		})
	}
}

func BenchmarkTopN(b *testing.B) {
	for _, tc := range []struct {
		name  string
		limit int64
		desc  bool
		col   string
		nKeys int
	}{
		{"dedup_last/keys100k", 1, true, "ts", 100_000},
		{"top10_by_v/keys10k", 10, true, "v", 10_000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			spec := &sluicev1.TopNNode{PartitionBy: []string{"k1"}, OrderBy: []*sluicev1.SortKey{{Column: tc.col, Descending: tc.desc}}, Limit: tc.limit}
			p, err := operator.PlanTopN(spec, aggInputSchema(false))
			if err != nil {
				b.Fatal(err)
			}
			runBench(b, p.NewOperator, p.Keys, tc.nKeys)
		})
	}
}
