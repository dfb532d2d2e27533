package base

import (
	"bytes"
	"cmp"
	"slices"
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
// deletion that covers all of it, newest first, without duplicates.
type Fragment struct {
	Start, End []byte
	SeqNums    []uint64
}

// maxCovering returns the largest of fr's sequence numbers <= readSeq.
func (fr *Fragment) maxCovering(readSeq uint64) (uint64, bool) {
	for _, s := range fr.SeqNums {
		if s <= readSeq {
			return s, true
		}
	}
	return 0, false
}

// Fragments is a sorted, non-overlapping set of fragments built from
// possibly overlapping range deletions. It answers "is this version deleted"
// with one binary search. A Fragments value is immutable and safe for
// concurrent use; fragments may share their key and SeqNums slices with
// other Fragments values.
type Fragments []Fragment

// Fragmentize splits dels into non-overlapping fragments: one per span
// between consecutive distinct bounds (starts and ends) that some range
// deletion covers. dels is not modified; the fragments alias the start and
// end keys of dels. Empty range deletions (Start >= End) are ignored.
//
// It sweeps the sorted bounds once, keeping the range deletions that cover
// the current span ordered by sequence number: O(n log n) for n range
// deletions plus the size of the output (the sum of the fragments'
// sequence-number lists, which is O(n) unless many deletions overlap).
func Fragmentize(dels []RangeDel) Fragments {
	if len(dels) == 0 {
		return nil
	}
	starts := make([]RangeDel, 0, len(dels))
	for _, d := range dels {
		if bytes.Compare(d.Start, d.End) < 0 {
			starts = append(starts, d)
		}
	}
	if len(starts) == 0 {
		return nil
	}
	slices.SortFunc(starts, func(a, b RangeDel) int { return bytes.Compare(a.Start, b.Start) })
	ends := make([][]byte, len(starts))
	for i, d := range starts {
		ends[i] = d.End
	}
	slices.SortFunc(ends, bytes.Compare)

	// active holds the deletions covering the current position, by
	// sequence number descending.
	type span struct {
		end []byte
		seq uint64
	}
	var active []span
	// At most 2n-1 fragments; usually about one sequence number each.
	out := make(Fragments, 0, 2*len(starts)-1)
	seqs := make([]uint64, 0, 2*len(starts)) // shared backing of the SeqNums
	si, ei := 0, 0
	var pos []byte // start of the current fragment
	for si < len(starts) || ei < len(ends) {
		// The next bound: the smaller of the next start and the next end.
		var next []byte
		if si < len(starts) && bytes.Compare(starts[si].Start, ends[ei]) < 0 {
			next = starts[si].Start
		} else {
			next = ends[ei]
		}
		if len(active) > 0 {
			// Emit [pos, next) with the active set's sequence numbers.
			n := len(seqs)
			for _, a := range active {
				if len(seqs) == n || seqs[len(seqs)-1] != a.seq {
					seqs = append(seqs, a.seq)
				}
			}
			out = append(out, Fragment{Start: pos, End: next, SeqNums: seqs[n:len(seqs):len(seqs)]})
		}
		pos = next
		for ei < len(ends) && bytes.Equal(ends[ei], next) {
			ei++
		}
		active = slices.DeleteFunc(active, func(a span) bool { return bytes.Compare(a.end, next) <= 0 })
		for ; si < len(starts) && bytes.Equal(starts[si].Start, next); si++ {
			d := starts[si]
			i, _ := slices.BinarySearchFunc(active, d.SeqNum, func(a span, s uint64) int { return cmp.Compare(s, a.seq) })
			active = slices.Insert(active, i, span{end: d.End, seq: d.SeqNum})
		}
	}
	return out
}

// MergeFragments returns the fragments of the union of the range deletions
// the sets were built from. Two sets merge in one linear sweep over both:
// O(len(a) + len(b)) plus the sequence numbers of the spans both cover;
// more merge pairwise in rounds, O(n log k) for k sets. The sets are not
// modified; the result shares their keys and, where only one of them
// covers a span, its SeqNums. It may be one of the sets.
func MergeFragments(sets ...Fragments) Fragments {
	sets = slices.DeleteFunc(slices.Clone(sets), func(f Fragments) bool { return len(f) == 0 })
	if len(sets) == 0 {
		return nil
	}
	for len(sets) > 1 {
		n := 0
		for i := 0; i < len(sets); i += 2 {
			if i+1 < len(sets) {
				sets[n] = merge2(sets[i], sets[i+1])
			} else {
				sets[n] = sets[i]
			}
			n++
		}
		sets = sets[:n]
	}
	return sets[0]
}

// merge2 merges two non-empty sets; see MergeFragments.
func merge2(a, b Fragments) Fragments {
	out := make(Fragments, 0, len(a)+len(b))
	var pos []byte // the sweep position, once started
	started := false
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		// Drop the fragments that end at or before pos.
		for started && i < len(a) && bytes.Compare(a[i].End, pos) <= 0 {
			i++
		}
		for started && j < len(b) && bytes.Compare(b[j].End, pos) <= 0 {
			j++
		}
		var fa, fb *Fragment
		if i < len(a) {
			fa = &a[i]
		}
		if j < len(b) {
			fb = &b[j]
		}
		if fa == nil && fb == nil {
			break
		}
		// Move pos to the start of the first fragment at or above it.
		if lo := lowerStart(fa, fb); !started || bytes.Compare(lo, pos) > 0 {
			pos, started = lo, true
		}
		inA := fa != nil && bytes.Compare(fa.Start, pos) <= 0
		inB := fb != nil && bytes.Compare(fb.Start, pos) <= 0
		// The fragment ends at the first bound above pos.
		var end []byte
		for _, c := range [][]byte{boundAbove(fa, inA), boundAbove(fb, inB)} {
			if c != nil && (end == nil || bytes.Compare(c, end) < 0) {
				end = c
			}
		}
		switch {
		case inA && inB:
			out = append(out, Fragment{Start: pos, End: end, SeqNums: mergeSeqs(fa.SeqNums, fb.SeqNums)})
		case inA:
			out = append(out, Fragment{Start: pos, End: end, SeqNums: fa.SeqNums})
		case inB:
			out = append(out, Fragment{Start: pos, End: end, SeqNums: fb.SeqNums})
		}
		pos = end
	}
	return out
}

// lowerStart returns the smaller start of two fragments (nil: absent).
func lowerStart(a, b *Fragment) []byte {
	switch {
	case a == nil:
		return b.Start
	case b == nil:
		return a.Start
	case bytes.Compare(a.Start, b.Start) <= 0:
		return a.Start
	}
	return b.Start
}

// boundAbove is the next bound of f above the sweep position: its end if
// the position is inside f, else its start.
func boundAbove(f *Fragment, inside bool) []byte {
	switch {
	case f == nil:
		return nil
	case inside:
		return f.End
	}
	return f.Start
}

// mergeSeqs merges two descending lists without duplicates.
func mergeSeqs(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		var s uint64
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] > b[0]:
			s, a = a[0], a[1:]
		case len(a) == 0 || b[0] > a[0]:
			s, b = b[0], b[1:]
		default:
			s, a, b = a[0], a[1:], b[1:]
		}
		out = append(out, s)
	}
	return out
}

// search returns the index of the first fragment that ends above ukey.
func (f Fragments) search(ukey []byte) int {
	i, j := 0, len(f)
	for i < j {
		h := int(uint(i+j) >> 1)
		if bytes.Compare(f[h].End, ukey) <= 0 {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// find returns the fragment containing ukey, or nil.
func (f Fragments) find(ukey []byte) *Fragment {
	i := f.search(ukey)
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
	return fr.maxCovering(readSeq)
}

// Covers reports whether the version (ukey, seq) is deleted for a reader at
// readSeq.
func (f Fragments) Covers(ukey []byte, seq, readSeq uint64) bool {
	s, ok := f.MaxCovering(ukey, readSeq)
	return ok && s > seq
}

// CoversSpan reports whether every key in [lo, hi) is deleted for every
// version with a seqnum <= seq (for a reader that sees every deletion): the
// fragments cover the span without a gap, each with a deletion newer than
// seq. It costs a binary search plus the fragments in the span.
func (f Fragments) CoversSpan(lo, hi []byte, seq uint64) bool {
	if bytes.Compare(lo, hi) >= 0 {
		return true
	}
	for i := f.search(lo); i < len(f); i++ {
		fr := &f[i]
		if bytes.Compare(fr.Start, lo) > 0 || fr.SeqNums[0] <= seq {
			return false
		}
		if bytes.Compare(fr.End, hi) >= 0 {
			return true
		}
		lo = fr.End
	}
	return false
}

// Clip returns the parts of f within [lo, hi); nil bounds are unbounded.
// It finds them by binary search and copies only them: O(log n + k). The
// result may share f's backing array when no fragment needs trimming.
func (f Fragments) Clip(lo, hi []byte) Fragments {
	if lo != nil && hi != nil && bytes.Compare(lo, hi) >= 0 {
		return nil
	}
	i := 0
	if lo != nil {
		i = f.search(lo)
	}
	j := len(f)
	if hi != nil {
		// The first fragment at or above hi.
		a, b := i, len(f)
		for a < b {
			h := int(uint(a+b) >> 1)
			if bytes.Compare(f[h].Start, hi) < 0 {
				a = h + 1
			} else {
				b = h
			}
		}
		j = a
	}
	if i >= j {
		return nil
	}
	s := f[i:j:j]
	trimLo := lo != nil && bytes.Compare(s[0].Start, lo) < 0
	trimHi := hi != nil && bytes.Compare(s[len(s)-1].End, hi) > 0
	if !trimLo && !trimHi {
		return s
	}
	s = slices.Clone(s)
	if trimLo {
		s[0].Start = lo
	}
	if trimHi {
		s[len(s)-1].End = hi
	}
	return s
}

// A FragmentCursor answers Covers for keys in ascending order in amortized
// constant time (a key below the previous one costs a binary search). It
// belongs to one goroutine.
type FragmentCursor struct {
	f Fragments
	i int // the first fragment that ends above the last key
}

// Cursor returns a cursor over f.
func (f Fragments) Cursor() FragmentCursor { return FragmentCursor{f: f} }

// find returns the fragment containing ukey, or nil.
func (c *FragmentCursor) find(ukey []byte) *Fragment {
	f, i := c.f, c.i
	if i > 0 && bytes.Compare(f[i-1].End, ukey) > 0 {
		// Moved back.
		i = f[:i].search(ukey)
	} else {
		// Step a few fragments, then search the rest.
		for steps := 0; i < len(f) && bytes.Compare(f[i].End, ukey) <= 0; steps++ {
			if steps == 4 {
				i += f[i:].search(ukey)
				break
			}
			i++
		}
	}
	c.i = i
	if i < len(f) && bytes.Compare(f[i].Start, ukey) <= 0 {
		return &f[i]
	}
	return nil
}

// Covers reports whether the version (ukey, seq) is deleted for a reader
// at readSeq; see Fragments.Covers.
func (c *FragmentCursor) Covers(ukey []byte, seq, readSeq uint64) bool {
	fr := c.find(ukey)
	if fr == nil {
		return false
	}
	s, ok := fr.maxCovering(readSeq)
	return ok && s > seq
}
