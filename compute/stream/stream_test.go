package stream_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/stream"
)

// TestStatefulBuilderMatchesJobFile checks that the builder's window, join,
// aggregate and top-n nodes are the ones a job file describes.
func TestStatefulBuilderMatchesJobFile(t *testing.T) {
	const file = `
name: b
nodes:
  - id: bid
    source:
      connector: nexmark
      options: {stream: bid}
      watermark: {column: dateTime, max_out_of_orderness: 4s}
  - id: auction
    source: {connector: nexmark, options: {stream: auction}}
  - id: sessions
    inputs: [bid]
    window:
      keys: [bidder]
      time_column: dateTime
      session: {gap: 10s}
      allowed_lateness: 1s
      aggregates: [{name: bids, function: count}]
  - id: late
    inputs: ["sessions:late"]
    sink: {connector: blackhole}
  - id: j
    inputs: [bid, auction]
    join: {left_keys: [auction], right_keys: [id], right_prefix: a_}
  - id: agg
    inputs: [j]
    aggregate: {keys: [a_category], aggregates: [{name: top, function: max, expr: price}]}
  - id: top
    inputs: [bid]
    top_n: {partition_by: [auction], order_by: [{column: price, descending: true}], limit: 10, row_number: rn}
  - {id: out1, inputs: [sessions], sink: {connector: blackhole}}
  - {id: out2, inputs: [agg], sink: {connector: blackhole}}
  - {id: out3, inputs: [top], sink: {connector: blackhole}}
`
	want, err := plan.ParseJobFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	env := stream.NewEnv("b")
	bid := env.FromSource("bid", "nexmark", stream.Options{"stream": "bid"}).
		WithWatermark("dateTime", stream.WatermarkOptions{MaxOutOfOrderness: 4 * time.Second})
	auction := env.FromSource("auction", "nexmark", stream.Options{"stream": "auction"})
	sessions := bid.Window([]string{"bidder"}, stream.Session(10*time.Second),
		stream.WindowOptions{TimeColumn: "dateTime", AllowedLateness: time.Second}, stream.Count("bids")).Name("sessions")
	sessions.LateRows().SinkTo("late", "blackhole", nil)
	agg := bid.Join(auction, []string{"auction"}, []string{"id"}, stream.JoinOptions{RightPrefix: "a_"}).Name("j").
		GroupAggregate([]string{"a_category"}, stream.Max("top", "price")).Name("agg")
	top := bid.TopN(10, []string{"auction"}, []stream.SortKey{stream.Desc("price")}, "rn").Name("top")
	sessions.SinkTo("out1", "blackhole", nil)
	agg.SinkTo("out2", "blackhole", nil)
	top.SinkTo("out3", "blackhole", nil)
	got, err := env.Spec()
	if err != nil {
		t.Fatal(err)
	}
	// The job file lists nodes in a different order; compare by id.
	byID := map[string]proto.Message{}
	for _, n := range got.Nodes {
		byID[n.Id] = n
	}
	if len(got.Nodes) != len(want.Nodes) {
		t.Fatalf("builder made %d nodes, the file has %d", len(got.Nodes), len(want.Nodes))
	}
	for _, n := range want.Nodes {
		if !proto.Equal(byID[n.Id], n) {
			t.Errorf("node %q:\nbuilder %v\nfile    %v", n.Id, byID[n.Id], n)
		}
	}
}

func TestWithWatermarkOnNonSource(t *testing.T) {
	env := stream.NewEnv("x")
	env.FromSource("s", "nexmark", nil).Filter("true").WithWatermark("dateTime", stream.WatermarkOptions{})
	if _, err := env.Spec(); err == nil {
		t.Fatal("WithWatermark on a filter must be an error")
	}
}
