package manifest

import (
	"slices"
	"testing"
)

// TestKeepUntil: once a job has ended, checkpoints above its last completed
// one are dropped even when KeepLast would keep them; pins still win.
func TestKeepUntil(t *testing.T) {
	var names []string
	for _, id := range []uint64{3, 4, 5, 6, 7} {
		names = append(names, ManifestName("a", id), ManifestName("b", id))
	}
	ids := func(ms []string) []uint64 {
		var out []uint64
		for _, m := range ms {
			_, id, _ := ParseManifestName(m)
			out = append(out, id)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for _, tc := range []struct {
		p          Policy
		pins       []uint64
		kept, gone []uint64
	}{
		{Policy{KeepLast: 1, KeepFrom: 4}, nil, []uint64{4, 5, 6, 7}, []uint64{3}},
		{Policy{KeepLast: 1, KeepFrom: 4, KeepUntil: 5}, nil, []uint64{4, 5}, []uint64{3, 6, 7}},
		{Policy{KeepLast: 2, KeepUntil: 5}, nil, []uint64{4, 5}, []uint64{3, 6, 7}},
		{Policy{KeepLast: 1, KeepUntil: 5}, []uint64{7}, []uint64{5, 7}, []uint64{3, 4, 6}},
		{Policy{KeepNone: true}, []uint64{4}, []uint64{4}, []uint64{3, 5, 6, 7}},
	} {
		kept, gone := SelectRetained(names, tc.pins, tc.p)
		if !slices.Equal(ids(kept), tc.kept) || !slices.Equal(ids(gone), tc.gone) {
			t.Errorf("%+v pins %v: kept %v dropped %v, want %v and %v", tc.p, tc.pins, ids(kept), ids(gone), tc.kept, tc.gone)
		}
	}
}

// TestFencedBelow: tables no manifest names are deleted when their writer's
// epoch is below FencedBelow, and kept (maybe in flight) otherwise.
func TestFencedBelow(t *testing.T) {
	old := SSTName(Writer{Shard: "a", Epoch: 3, Instance: 1}, 1)
	cur := SSTName(Writer{Shard: "a", Epoch: 4, Instance: 2}, 1)
	for _, tc := range []struct {
		below uint64
		del   []string
	}{
		{0, nil},
		{4, []string{old}},
		{5, []string{old, cur}},
	} {
		plan := PlanGC(GCInput{Objects: []string{old, cur}, FencedBelow: tc.below})
		if !slices.Equal(plan.DeleteObjects, tc.del) {
			t.Errorf("FencedBelow %d: deleted %v, want %v", tc.below, plan.DeleteObjects, tc.del)
		}
	}
}
