package operator_test

import (
	"testing"

	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// Count windows on the generic path, with benchWindow's input (4096-row
// batches, 1000 skewed keys, memstore). Tumbling count windows aggregate
// incrementally; sliding ones buffer rows (count evictor) and re-read them
// at every fire.

func BenchmarkWindowCountTumbling(b *testing.B) {
	benchWindow(b, func(n *sluicev1.WindowNode) {
		n.Assigner = &sluicev1.WindowNode_Count{Count: &sluicev1.CountWindow{Size: 10}}
	})
}

func BenchmarkWindowCountSliding(b *testing.B) {
	benchWindow(b, func(n *sluicev1.WindowNode) {
		n.Assigner = &sluicev1.WindowNode_Count{Count: &sluicev1.CountWindow{Size: 10, Slide: 5}}
	})
}

func BenchmarkWindowTumblingContinuous(b *testing.B) {
	benchWindow(b, func(n *sluicev1.WindowNode) {
		n.Assigner = &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: dur(10_000)}}
		n.Trigger = &sluicev1.Trigger{Kind: &sluicev1.Trigger_Continuous{Continuous: &sluicev1.ContinuousTrigger{Interval: dur(1000)}}}
	})
}
