// Package base holds the vocabulary shared by the memtable, the table
// format and the LSM: internal keys (user key + 56-bit seqnum + 8-bit kind)
// and their order, entry kinds, the per-entry expiry and its value prefix,
// point-lookup results (Entry), and range deletions as fragments
// (Fragments: Fragmentize sweeps n deletions in O(n log n), MergeFragments
// merges fragment sets linearly, Clip and CoversSpan work on a key span)
// that answer "is this version deleted" by binary search, or in constant
// time for ascending keys (FragmentCursor).
//
// Everything here is a value type or immutable after construction and safe
// for concurrent use.
//
// Usage:
//
//	k := base.MakeInternalKey(ukey, seq, base.KindSet)
//	base.Compare(k, other)             // user key asc, then seqnum desc
//	frags := base.Fragmentize(dels)
//	if frags.Covers(ukey, seq, readSeq) { /* deleted */ }
package base
