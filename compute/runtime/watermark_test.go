package runtime_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/compute/stream"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// recorder passes batches through and checks event time against the
// watermarks it is given.
type recorder struct {
	compute.Stateless
	mu         *sync.Mutex
	errs       *[]string
	watermarks *[]time.Time
	last       time.Time
	rows       int
}

func (r *recorder) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, out compute.Emitter) error {
	ts := b.Column(3).(*array.Timestamp)
	for i := 0; i < ts.Len(); i++ {
		if t := time.UnixMilli(int64(ts.Value(i))).UTC(); !t.After(r.last) {
			r.mu.Lock()
			*r.errs = append(*r.errs, fmt.Sprintf("row at %d arrived after watermark %d", t.UnixMilli(), r.last.UnixMilli()))
			r.mu.Unlock()
		}
	}
	r.rows += ts.Len()
	return out.Emit(ctx, b)
}

func (r *recorder) ProcessWatermark(_ context.Context, wm time.Time, _ compute.Emitter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !wm.After(r.last) {
		*r.errs = append(*r.errs, fmt.Sprintf("watermark %d does not advance past %d", wm.UnixMilli(), r.last.UnixMilli()))
	}
	r.last = wm
	*r.watermarks = append(*r.watermarks, wm)
	return nil
}

// TestWatermarksEndToEnd runs event time through splits, a keyed exchange and
// a chain, and checks that watermarks advance, never pass a row still to come,
// and end at the maximum.
func TestWatermarksEndToEnd(t *testing.T) {
	for _, par := range []int{1, 3} {
		t.Run(fmt.Sprintf("parallelism=%d", par), func(t *testing.T) {
			env := stream.NewEnv("wm").SetBatchSize(50)
			src := env.FromSource("src", "test-sequence", stream.Options{"rows": 20000, "splits": 4}).SetParallelism(2)
			src.KeyBy("key").Filter("true").Name("check").SetParallelism(par).SinkTo("out", "blackhole", nil)
			spec, _ := env.Spec()
			spec.Nodes[0].GetSource().Watermark = &sluicev1.WatermarkSpec{Column: "ts", MaxOutOfOrderness: durationpb.New(5 * time.Millisecond)}
			p, _ := computetest.Build(t, spec)
			var mu sync.Mutex
			var errs []string
			wms := make([][]time.Time, par)
			recs := make([]*recorder, 0, par)
			for _, n := range p.Nodes {
				if n.ID == "check" {
					n.NewOperator = func() (compute.Operator, error) {
						mu.Lock()
						defer mu.Unlock()
						r := &recorder{mu: &mu, errs: &errs, watermarks: &wms[len(recs)]}
						recs = append(recs, r)
						return r, nil
					}
				}
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			job, err := runtime.Start(context.Background(), p, runtime.Options{Allocator: mem})
			if err != nil {
				t.Fatal(err)
			}
			if err := job.Wait(); err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				t.Error(e)
			}
			rows := 0
			for i, r := range recs {
				rows += r.rows
				w := wms[i]
				if len(w) < 2 || !w[len(w)-1].Equal(compute.MaxWatermark) {
					t.Errorf("subtask %d saw %d watermarks, last %v; want several ending at the maximum", i, len(w), w)
				}
			}
			if rows != 20000 {
				t.Errorf("%d rows passed, want 20000", rows)
			}
			m, _ := job.Metrics().Node("check")
			if !m.Watermark.Equal(compute.MaxWatermark) {
				t.Errorf("metrics watermark = %v, want the maximum", m.Watermark)
			}
		})
	}
}

func TestWatermarkSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		spec *sluicev1.WatermarkSpec
		want string
	}{
		{&sluicev1.WatermarkSpec{}, "source.watermark.column: the event-time column is required"},
		{&sluicev1.WatermarkSpec{Column: "tss"}, `no column "tss"`},
		{&sluicev1.WatermarkSpec{Column: "id"}, `column "id" has type int64, want a timestamp`},
		{&sluicev1.WatermarkSpec{Column: "ts", MaxOutOfOrderness: durationpb.New(-time.Second)}, "max_out_of_orderness: -1s must be a non-negative duration"},
		{&sluicev1.WatermarkSpec{Column: "ts", Expr: "id + 1"}, "want a timestamp"},
		{&sluicev1.WatermarkSpec{Column: "ts", Expr: "ts", MaxOutOfOrderness: durationpb.New(time.Second)}, "not both"},
		{&sluicev1.WatermarkSpec{Column: "ts", IdleTimeout: durationpb.New(-time.Second)}, "idle_timeout"},
		{&sluicev1.WatermarkSpec{Column: "ts", Alignment: &sluicev1.WatermarkAlignment{MaxDrift: durationpb.New(time.Second)}}, "source.watermark.alignment.group: the group name is required"},
		{&sluicev1.WatermarkSpec{Column: "ts", Alignment: &sluicev1.WatermarkAlignment{Group: "g"}}, "source.watermark.alignment.max_drift: 0s must be a positive duration"},
		{&sluicev1.WatermarkSpec{Column: "ts", Alignment: &sluicev1.WatermarkAlignment{Group: "g", MaxDrift: durationpb.New(-time.Second)}}, "max_drift: -1s must be a positive duration"},
	} {
		env := stream.NewEnv("bad")
		env.FromSource("src", "test-sequence", stream.Options{"rows": 1}).SinkTo("out", "blackhole", nil)
		spec, _ := env.Spec()
		spec.Nodes[0].GetSource().Watermark = tc.spec
		_, err := buildErr(spec)
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.spec, err, tc.want)
		}
	}
}
