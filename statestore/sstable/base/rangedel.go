package base

import (
	"bytes"
	"slices"
	"sort"
)

// RangeDel deletes user keys in [Start, End) with sequence numbers below
// SeqNum.
type RangeDel struct {
	Start, End []byte
	SeqNum     uint64
}

// Covers reports whether d deletes the version (ukey, seq) for a reader at
// readSeq: d is visible (d.SeqNum <= readSeq), newer than the version, and
// its span contains ukey.
func (d RangeDel) Covers(ukey []byte, seq, readSeq uint64) bool {
	return d.SeqNum <= readSeq && d.SeqNum > seq &&
		bytes.Compare(d.Start, ukey) <= 0 && bytes.Compare(ukey, d.End) < 0
}

// Fragment is a span [Start, End) and the sequence numbers of every range
// deletion that covers all of it, newest first.
type Fragment struct {
	Start, End []byte
	SeqNums    []uint64
}

// Fragments is a sorted, non-overlapping set of fragments built from
// possibly overlapping range deletions. It answers "is this version deleted"
// with one binary search. A Fragments value is immutable and safe for
// concurrent use.
type Fragments []Fragment

// Fragmentize splits dels into non-overlapping fragments. dels is not
// modified; the fragments alias the start and end keys of dels.
func Fragmentize(dels []RangeDel) Fragments {
	if len(dels) == 0 {
		return nil
	}
	bounds := make([][]byte, 0, 2*len(dels))
	for _, d := range dels {
		if bytes.Compare(d.Start, d.End) < 0 {
			bounds = append(bounds, d.Start, d.End)
		}
	}
	slices.SortFunc(bounds, bytes.Compare)
	bounds = slices.CompactFunc(bounds, bytes.Equal)
	var out Fragments
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		var seqs []uint64
		for _, d := range dels {
			if bytes.Compare(d.Start, lo) <= 0 && bytes.Compare(hi, d.End) <= 0 {
				seqs = append(seqs, d.SeqNum)
			}
		}
		if len(seqs) == 0 {
			continue
		}
		slices.Sort(seqs)
		slices.Reverse(seqs)
		out = append(out, Fragment{Start: lo, End: hi, SeqNums: slices.Compact(seqs)})
	}
	return out
}

// find returns the fragment containing ukey, or nil.
func (f Fragments) find(ukey []byte) *Fragment {
	i := sort.Search(len(f), func(i int) bool { return bytes.Compare(ukey, f[i].End) < 0 })
	if i < len(f) && bytes.Compare(f[i].Start, ukey) <= 0 {
		return &f[i]
	}
	return nil
}

// MaxCovering returns the largest sequence number <= readSeq of a range
// deletion that covers ukey, and whether there is one.
func (f Fragments) MaxCovering(ukey []byte, readSeq uint64) (uint64, bool) {
	fr := f.find(ukey)
	if fr == nil {
		return 0, false
	}
	for _, s := range fr.SeqNums {
		if s <= readSeq {
			return s, true
		}
	}
	return 0, false
}

// Covers reports whether the version (ukey, seq) is deleted for a reader at
// readSeq.
func (f Fragments) Covers(ukey []byte, seq, readSeq uint64) bool {
	s, ok := f.MaxCovering(ukey, readSeq)
	return ok && s > seq
}
