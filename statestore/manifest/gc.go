package manifest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Policy is the retention policy of a job's checkpoints.
type Policy struct {
	// KeepLast retains the manifests of the KeepLast largest checkpoint ids
	// present in the namespace (every shard's manifest of those ids). It
	// must be at least 1. Checkpoints that are in flight or failed count,
	// so a coordinator that runs c concurrent checkpoints needs KeepLast >=
	// c+1 for the last completed one to survive; or it sets KeepFrom.
	KeepLast int
	// KeepFrom, if non-zero, also retains every checkpoint id >= KeepFrom
	// (for example the last checkpoint the coordinator knows completed).
	KeepFrom uint64
	// KeepUntil, if non-zero, retains no checkpoint id above it (unless
	// pinned), whatever KeepLast says: once a job has ended, checkpoints
	// above its last completed one can only have failed.
	KeepUntil uint64
	// KeepNone retains no checkpoint but pinned ones, whatever the other
	// fields say: a job that has ended without any checkpoint holding state.
	KeepNone bool
}

// Validate reports a bad policy.
func (p Policy) Validate() error {
	if p.KeepLast < 1 && !p.KeepNone {
		return fmt.Errorf("manifest: Policy.KeepLast %d: must be at least 1", p.KeepLast)
	}
	return nil
}

// SelectRetained splits a listing of manifest names (other names are
// ignored) into those the policy retains and those it drops. Pinned ids are
// always retained. Both results are sorted.
func SelectRetained(manifests []string, pins []uint64, p Policy) (retained, dropped []string) {
	var ids []uint64
	for _, m := range manifests {
		if _, id, ok := ParseManifestName(m); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	switch {
	case p.KeepNone:
		ids = nil
	case p.KeepUntil != 0:
		n, _ := slices.BinarySearch(ids, p.KeepUntil+1)
		ids = ids[:n]
	}
	keep := map[uint64]bool{}
	for i := len(ids) - 1; i >= 0 && i >= len(ids)-p.KeepLast; i-- {
		keep[ids[i]] = true
	}
	for _, id := range ids {
		if p.KeepFrom != 0 && id >= p.KeepFrom {
			keep[id] = true
		}
	}
	for _, id := range pins {
		keep[id] = true
	}
	for _, m := range manifests {
		if _, id, ok := ParseManifestName(m); ok {
			if keep[id] {
				retained = append(retained, m)
			} else {
				dropped = append(dropped, m)
			}
		}
	}
	sort.Strings(retained)
	sort.Strings(dropped)
	return retained, dropped
}

// GCInput is everything a garbage-collection decision needs. PlanGC is a
// pure function of it.
type GCInput struct {
	// Self is the writer running the collection.
	Self Writer
	// Retained and Dropped are the decoded manifests, by name, as split by
	// SelectRetained.
	Retained map[string]*Checkpoint
	Dropped  map[string]*Checkpoint
	// Objects is the listing of SSTPrefix.
	Objects []string
	// Live holds the objects the running store still needs although no
	// retained manifest names them: tables of its live versions and open
	// iterators, uploads in flight, and tables of checkpoints not yet
	// durable.
	Live map[string]bool
	// FencedBelow, if non-zero, says every writer with an epoch below it
	// has stopped (the job attempts before the current one, or all of them
	// once the job has ended): what they wrote is never in flight.
	FencedBelow uint64
}

// GCPlan is a garbage-collection decision. The caller deletes the objects
// first and the manifests second, so that a crash in between leaves
// manifests that name missing objects only among dropped ones (which no
// one restores from) and the next run finishes the job.
type GCPlan struct {
	DeleteObjects   []string
	DeleteManifests []string
	// Kept explains, per listed object kept, why (for traces).
	Kept map[string]string
}

// PlanGC decides what to delete. The rule (design invariant 5): an object
// is deleted only when
//
//  1. no retained manifest of any shard of the job references it, and
//  2. it is not Live for the running store, and
//  3. it cannot be in flight: either a dropped manifest references it (it
//     was published, so its writer no longer writes it), or its writer is
//     fenced: the running store itself (Self, same instance), an older
//     epoch of Self's shard, an epoch below FencedBelow, or an epoch older
//     than that of some manifest the same shard published since.
//
// Objects whose names are not SST names are never touched. Every dropped
// manifest is deleted.
func PlanGC(in GCInput) GCPlan {
	plan := GCPlan{Kept: map[string]string{}}
	refs := NewRefs()
	newest := map[string]uint64{} // shard -> largest epoch that published
	note := func(cps map[string]*Checkpoint) {
		for _, cp := range cps {
			if e, ok := newest[cp.Shard]; !ok || cp.Epoch > e {
				newest[cp.Shard] = cp.Epoch
			}
		}
	}
	note(in.Retained)
	note(in.Dropped)
	for _, cp := range in.Retained {
		refs.AddCheckpoint(cp)
	}
	published := NewRefs()
	for _, cp := range in.Dropped {
		published.AddCheckpoint(cp)
	}
	for _, o := range in.Objects {
		w, _, ok := ParseSSTName(o)
		switch {
		case !ok:
			plan.Kept[o] = "not an sst name"
		case refs.Referenced(o):
			plan.Kept[o] = "retained manifest"
		case in.Live[o]:
			plan.Kept[o] = "live"
		case published.Referenced(o):
			plan.DeleteObjects = append(plan.DeleteObjects, o)
		case w == in.Self:
			plan.DeleteObjects = append(plan.DeleteObjects, o)
		case w.Shard == in.Self.Shard && w.Epoch < in.Self.Epoch:
			plan.DeleteObjects = append(plan.DeleteObjects, o)
		case w.Epoch < in.FencedBelow:
			plan.DeleteObjects = append(plan.DeleteObjects, o)
		case newestAbove(newest, w):
			plan.DeleteObjects = append(plan.DeleteObjects, o)
		default:
			plan.Kept[o] = "maybe in flight (writer " + w.String() + " not fenced)"
		}
	}
	for m := range in.Dropped {
		plan.DeleteManifests = append(plan.DeleteManifests, m)
	}
	sort.Strings(plan.DeleteObjects)
	sort.Strings(plan.DeleteManifests)
	return plan
}

func newestAbove(newest map[string]uint64, w Writer) bool {
	e, ok := newest[w.Shard]
	return ok && e > w.Epoch
}

// String prints the plan, for traces.
func (p GCPlan) String() string {
	var b strings.Builder
	for _, o := range p.DeleteObjects {
		fmt.Fprintf(&b, "delete %s\n", o)
	}
	for _, m := range p.DeleteManifests {
		fmt.Fprintf(&b, "delete %s\n", m)
	}
	keys := make([]string, 0, len(p.Kept))
	for k := range p.Kept {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "keep %s: %s\n", k, p.Kept[k])
	}
	if b.Len() == 0 {
		return "(nothing)\n"
	}
	return b.String()
}

// Refs counts references to objects. Not safe for concurrent use.
type Refs struct {
	n map[string]int
}

// NewRefs returns an empty count.
func NewRefs() *Refs { return &Refs{n: map[string]int{}} }

// Add counts one more reference to name.
func (r *Refs) Add(name string) { r.n[name]++ }

// Remove drops one reference to name; it panics if there is none (an
// internal accounting bug).
func (r *Refs) Remove(name string) {
	c := r.n[name]
	if c <= 0 {
		panic(fmt.Sprintf("manifest: refs: removing unreferenced object %s", name))
	}
	if c == 1 {
		delete(r.n, name)
		return
	}
	r.n[name] = c - 1
}

// AddVersion counts every reference of v.
func (r *Refs) AddVersion(v *Version) { v.Objects(func(f *FileMeta) { r.Add(f.Object) }) }

// RemoveVersion drops every reference of v.
func (r *Refs) RemoveVersion(v *Version) { v.Objects(func(f *FileMeta) { r.Remove(f.Object) }) }

// AddCheckpoint counts every reference of c.
func (r *Refs) AddCheckpoint(c *Checkpoint) { c.Objects(r.Add) }

// Referenced reports whether name has at least one reference.
func (r *Refs) Referenced(name string) bool { return r.n[name] > 0 }

// Count returns the number of references to name.
func (r *Refs) Count(name string) int { return r.n[name] }

// Len returns the number of distinct referenced objects.
func (r *Refs) Len() int { return len(r.n) }

// Names returns the referenced objects, sorted.
func (r *Refs) Names() []string {
	out := make([]string, 0, len(r.n))
	for k := range r.n {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
