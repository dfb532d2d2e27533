// Package memtable owns the LSM's in-memory write buffer: an insert-only
// skiplist of internal keys (see statestore/sstable/base) whose nodes, keys
// and values live in one fixed-size byte arena, plus a second skiplist in the
// same arena for range deletions.
//
// Entries: Add(ukey, seq, kind, value, expiry) with kinds SET (an expiry,
// Unix nanoseconds, makes it SETEXP), DEL and RANGEDEL (value = exclusive
// end). Values are stored as sstable stores them (expiry prefix for SETEXP),
// so a flush is a plain iteration (Flush). Get returns the newest version
// <= a read seqnum, honoring range deletions.
//
// Range deletions: besides their skiplist (for flushes), a fragmented,
// immutable view of them (see rangeDelView: a few base.Fragments runs,
// merged as they grow) answers "the newest range deletion covering key k
// at or below readSeq" with a binary search per run, O(log² n) for n
// deletions at worst, and gives iterators and RangeDelFragments the
// deletions within their bounds without a walk of them all.
//
// Point reads go through a hash index of the user keys (in the arena, one
// 4-byte bucket per 64 arena bytes) to the newest version of the key, then
// walk at most the key's newer versions: no skiplist search. A key the
// memtable does not hold usually costs the bucket alone (a bucket word
// carries a bitmap of its chain's key hashes). Iterators and flushes use
// the skiplist.
//
// Size accounting: Size is the arena bytes used (the index buckets
// included), Capacity its size. An Add that does not fit returns ErrArenaFull and changes nothing; the caller
// freezes this memtable and starts another. Freeze makes it immutable
// (ErrFrozen) while readers carry on; a checkpoint freezes and flushes.
//
// # Concurrency
//
// Writers are serialized by a mutex (single writer at a time, in the style of
// pebble's arenaskl but without its lock-free multi-writer insert). Readers
// (Get, iterators, RangeDels, RangeDelFragments, Size) take no locks: a node
// is fully written before it is linked, links are published bottom-up with
// atomic stores and read with atomic loads, so a reader sees either nothing
// or a complete node. Any number of readers may run alongside the writer; an
// Iter itself belongs to one goroutine. Returned keys and values alias the
// arena and are immutable for the memtable's lifetime, which ends with
// Release: the owner (the LSM) calls it once nothing uses the memtable, and
// New reuses the arena (Options.Arena) without the page faults of new
// memory. A writer session's range deletions take effect for readers when
// the session ends (Done publishes the new view with an atomic store), its
// point entries possibly earlier: as with the entry counts, readers must not
// rely on the seqnums of a session still in progress.
//
// Iter.Prev costs a search from the head (O(log n)): nodes keep a back
// link at level 0, but only for the writer (it is not published to
// readers). With it, a write of a key the memtable holds, drawn at height
// 1 (3 in 4), goes right before the key's first node without a search.
// The range-deletion view lives on the heap, outside the arena: Size does
// not count it (one or two 72-byte fragments per deletion).
//
// # Usage
//
//	mt, err := memtable.New(memtable.Options{Capacity: 64 << 20})
//	err = mt.Set(key, seq, value, expiry)      // errors.Is(err, memtable.ErrArenaFull) => rotate
//	e, ok := mt.Get(key, readSeq)
//	mt.Freeze()
//	w, _ := sstable.NewWriter(upload, sstable.WriterOptions{})
//	err = mt.Flush(w)
//	meta, err := w.Finish()
package memtable
