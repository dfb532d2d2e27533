package memtable

import (
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// rangeDelView is an immutable snapshot of a memtable's range deletions in
// fragmented form, for point reads and iterators. The writer publishes a
// new view (Memtable.rangeDels, an atomic pointer) at the end of each
// writer session that added range deletions; readers load it without
// locks and share it.
//
// Rebuilding one fragmented set per session would cost O(n) per session,
// O(n²) for a memtable with many small sessions, as a stream job makes.
// The view is instead a few runs, each the fragments (base.Fragments) of
// the range deletions of consecutive sessions, oldest first: a session's
// deletions become a new run, which is merged with the run before it while
// that one holds at most runRatio times as many deletions. Run sizes thus
// fall by more than runRatio from one run to the next, there are
// O(log n) runs, and each deletion takes part in O(log n) linear merges.
// A point read binary-searches the runs, newest first, and stops early once
// the runs left hold no newer deletion than the one found.
type rangeDelView struct {
	runs []rangeDelRun // oldest first
}

type rangeDelRun struct {
	frags          base.Fragments
	n              int    // range deletions merged into the run
	minSeq, maxSeq uint64 // bounds of their sequence numbers
}

// runRatio is how many times as many deletions a run holds as the next one
// at least. Larger means fewer runs to search and more merging.
const runRatio = 2

// add returns a view of v's deletions plus dels (which it does not
// retain). v may be nil.
func (v *rangeDelView) add(dels []base.RangeDel) *rangeDelView {
	r := rangeDelRun{frags: base.Fragmentize(dels), n: len(dels), minSeq: dels[0].SeqNum, maxSeq: dels[0].SeqNum}
	for _, d := range dels[1:] {
		r.minSeq, r.maxSeq = min(r.minSeq, d.SeqNum), max(r.maxSeq, d.SeqNum)
	}
	var runs []rangeDelRun
	if v != nil {
		runs = v.runs
	}
	for len(runs) > 0 && runs[len(runs)-1].n <= runRatio*r.n {
		p := runs[len(runs)-1]
		runs = runs[:len(runs)-1]
		r = rangeDelRun{
			frags: base.MergeFragments(p.frags, r.frags), n: p.n + r.n,
			minSeq: min(p.minSeq, r.minSeq), maxSeq: max(p.maxSeq, r.maxSeq),
		}
	}
	// A new slice: readers of v keep theirs.
	nv := &rangeDelView{runs: make([]rangeDelRun, len(runs)+1)}
	copy(nv.runs, runs)
	nv.runs[len(runs)] = r
	return nv
}

// maxCovering returns the largest sequence number <= readSeq of a range
// deletion covering ukey, if it is above floor: runs whose deletions are
// all at or below floor are not searched.
func (v *rangeDelView) maxCovering(ukey []byte, readSeq, floor uint64) (best uint64, found bool) {
	for i := len(v.runs) - 1; i >= 0; i-- {
		r := &v.runs[i]
		if r.minSeq > readSeq || r.maxSeq <= floor || found && r.maxSeq <= best {
			continue
		}
		if s, ok := r.frags.MaxCovering(ukey, readSeq); ok && (!found || s > best) {
			best, found = s, true
		}
	}
	if best <= floor {
		return 0, false
	}
	return best, found
}

// fragments returns the view's deletions within [lo, hi) (nil bounds are
// unbounded) as one fragmented set: O(log n) per run to find them, then
// linear in what it returns.
func (v *rangeDelView) fragments(lo, hi []byte) base.Fragments {
	var out base.Fragments
	for i := range v.runs {
		out = base.MergeFragments(out, v.runs[i].frags.Clip(lo, hi))
	}
	return out
}
