package operator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/operator"
)

// joinCountSink counts and releases what the operator emits.
type joinCountSink struct{ rows int64 }

func (s *joinCountSink) Emit(_ context.Context, b arrow.RecordBatch) error {
	s.rows += b.NumRows()
	b.Release()
	return nil
}

// BenchmarkJoin measures ns per input row through one join subtask with the
// in-memory store: batches of 1024 rows alternate between the sides; event
// time advances 1 ms per row and the watermark trails it by 100 ms after
// each batch. Interval and window joins draw keys from `keys` distinct
// values. The regular join is shaped like q3/q20: every left row has a new
// key (a person, an auction) and right rows pick a random earlier left key,
// so each right row joins one left row while both states grow.
//
//	go test -run - -bench BenchmarkJoin -benchtime 300x ./compute/operator/
func BenchmarkJoin(b *testing.B) {
	for _, kind := range []string{"regular", "interval", "tumbling", "sliding"} {
		for _, keys := range []int{1000, 100_000} {
			if kind == "regular" && keys != 1000 {
				continue
			}
			b.Run(fmt.Sprintf("%s/keys%d", kind, keys), func(b *testing.B) {
				mem := memory.NewGoAllocator()
				spec := joinSpec(kind)
				spec.Condition = ""
				p, err := operator.PlanJoin(spec, joinLeftSchema, joinRightSchema)
				if err != nil {
					b.Fatal(err)
				}
				rig := newJoinRig(b, mem, p, 1)
				sink := &joinCountSink{}
				ctx := context.Background()
				rng := rand.New(rand.NewPCG(1, 2))
				const batch = 1024
				var now int64 = 1_000_000
				// A pool of pre-built batches per side, reused with new times
				// would change their contents; build them as we go outside
				// the timer instead.
				b.ReportAllocs()
				b.ResetTimer()
				rows := 0
				var nextKey int64
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					side := i % 2
					rs := make([]*jrow, batch)
					for j := range rs {
						now++
						k := int64(rng.IntN(keys))
						if kind == "regular" {
							if side == 0 {
								k = nextKey
								nextKey++
							} else {
								k = rng.Int64N(nextKey)
							}
						}
						rs[j] = &jrow{k: joinPtr(k), t: joinPtr(now - rng.Int64N(20)), s: joinPtr("name"), n: int32(j), f: joinPtr(0.5), rs: "xx"}
					}
					bt := joinBatch(mem, side, rs)
					b.StartTimer()
					if err := rig.ops[0].ProcessBatch(ctx, side, bt, sink); err != nil {
						b.Fatal(err)
					}
					if err := rig.ops[0].ProcessWatermark(ctx, time.UnixMilli(now-100), sink); err != nil {
						b.Fatal(err)
					}
					rows += batch
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
				b.ReportMetric(float64(sink.rows)/float64(rows), "out/row")
				_ = rig.ops[0].ProcessWatermark(ctx, compute.MaxWatermark, sink)
				rig.close()
			})
		}
	}
}
