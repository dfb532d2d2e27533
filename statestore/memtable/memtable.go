package memtable

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

var (
	// ErrArenaFull is returned by Add when the entry does not fit. The
	// memtable is unchanged; the caller freezes it and starts a new one.
	ErrArenaFull = errors.New("memtable: arena full")
	// ErrFrozen is returned by Add after Freeze.
	ErrFrozen = errors.New("memtable: frozen")
	// ErrDuplicate is returned by Add for an internal key (user key, seqnum,
	// kind) that is already present.
	ErrDuplicate = errors.New("memtable: duplicate internal key")
)

// MaxCapacity is the largest arena (node offsets are 32-bit).
const MaxCapacity = 1<<32 - 1<<10

// Options configure a Memtable.
type Options struct {
	// Capacity is the arena size in bytes: keys, values and skiplist nodes
	// all count against it. Default 64 MiB; at most MaxCapacity.
	Capacity int64
	// Seed seeds the node-height generator. Default 1; tests may vary it.
	Seed uint64
	// Arena, if it holds at least Capacity bytes, is memory to reuse for
	// the arena, typically what Release returned: reused memory costs
	// neither the page faults nor the zeroing of new memory. Its contents
	// do not matter. New takes it over.
	Arena []byte
	// IndexEntries, if set, is the number of entries the owner lets the
	// memtable hold (it freezes the memtable when they are in): the hash
	// index gets the power of two of buckets at or above it, but never
	// more than one per 64 arena bytes (the default). A large arena for
	// large values then does not spread a few entries over a large index.
	IndexEntries int64
}

// EnsureDefaults fills zero fields.
func (o *Options) EnsureDefaults() {
	if o.Capacity == 0 {
		o.Capacity = 64 << 20
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// Validate reports bad fields.
func (o *Options) Validate() error {
	if o.Capacity < 1<<10 || o.Capacity > MaxCapacity {
		return fmt.Errorf("memtable: Options.Capacity %d: must be in [1 KiB, %d]", o.Capacity, int64(MaxCapacity))
	}
	if o.IndexEntries < 0 {
		return fmt.Errorf("memtable: Options.IndexEntries %d: must not be negative", o.IndexEntries)
	}
	return nil
}

// Memtable is an arena-backed skiplist of internal keys plus a second
// skiplist, in the same arena, of range deletions. See the package doc for
// the concurrency contract.
type Memtable struct {
	arena     *arena
	points    *skiplist
	rangeDels *skiplist
	// rdView is the fragmented view of the range deletions, replaced at
	// the end of each writer session that added some; nil while there
	// are none.
	rdView atomic.Pointer[rangeDelView]

	mu struct {
		sync.Mutex // serializes writers
		rng        *rand.Rand
		w          Writer // the one writer session, while the lock is held
	}
	frozen       atomic.Bool
	numEntries   atomic.Int64
	numRangeDels atomic.Int64
}

// New returns an empty memtable.
func New(opts Options) (*Memtable, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	m := &Memtable{arena: newArena(uint32(opts.Capacity), opts.Arena)}
	idx, ok0 := newHashIndex(m.arena, uint32(opts.Capacity), opts.IndexEntries)
	var ok1, ok2 bool
	m.points, ok1 = newSkiplist(m.arena)
	m.rangeDels, ok2 = newSkiplist(m.arena)
	if !ok0 || !ok1 || !ok2 {
		return nil, fmt.Errorf("memtable: Options.Capacity %d: too small for the index and the skiplist heads", opts.Capacity)
	}
	m.points.idx = idx
	m.mu.rng = rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	m.mu.w.m = m
	return m, nil
}

// randomHeightLocked draws a height with P(h > l) = 4^-l from one random
// word: each level costs two zero bits.
func (m *Memtable) randomHeightLocked() int {
	h := 1 + bits.TrailingZeros64(m.mu.rng.Uint64())/bitsPerLevel
	return min(h, maxHeight)
}

// Writer adds entries to a memtable while holding its write lock, so a
// batch of entries costs one lock acquisition. Within one session, entries
// added in ascending internal-key order reuse the previous entry's search
// path (a splice) and cost O(1) comparisons for keys that are close in the
// list. Obtain one with BeginWrite and end it with Done; it must not be used
// after Done. A Writer belongs to one goroutine.
type Writer struct {
	m                 *Memtable
	points, rangeDels splice
	entries, dels     int64
	// newDels are the session's range deletions (keys in the arena), for
	// the view Done publishes.
	newDels []base.RangeDel
}

// BeginWrite starts a writer session: it takes the write lock, which Done
// releases. It fails with ErrFrozen (and holds no lock) after Freeze.
func (m *Memtable) BeginWrite() (*Writer, error) {
	m.mu.Lock()
	if m.frozen.Load() {
		m.mu.Unlock()
		return nil, ErrFrozen
	}
	w := &m.mu.w
	w.points.valid, w.rangeDels.valid = false, false
	w.entries, w.dels = 0, 0
	w.newDels = w.newDels[:0]
	return w, nil
}

// Done publishes the session's range deletions and entry counts and
// releases the write lock.
func (w *Writer) Done() {
	m := w.m
	if len(w.newDels) > 0 {
		m.rdView.Store(m.rdView.Load().add(w.newDels))
	}
	if w.entries != 0 {
		m.numEntries.Add(w.entries)
	}
	if w.dels != 0 {
		m.numRangeDels.Add(w.dels)
	}
	m.mu.Unlock()
}

// Add inserts an entry; see Memtable.Add. On error nothing was added and
// the session stays usable.
func (w *Writer) Add(ukey []byte, seq uint64, kind base.Kind, value []byte, expiry base.Expiry) error {
	k, err := base.NormalizeKind(kind, expiry)
	if err != nil {
		return fmt.Errorf("memtable: key %q: %w", ukey, err)
	}
	if len(ukey) < base.KeyGroupLen {
		return fmt.Errorf("memtable: key %q: user key shorter than the 2-byte key group", ukey)
	}
	if seq > base.SeqNumMax {
		return fmt.Errorf("memtable: key %q: seqnum %d exceeds 56 bits", ukey, seq)
	}
	m := w.m
	list, sp := m.points, &w.points
	if k == base.KindRangeDelete {
		if len(value) < base.KeyGroupLen || bytes.Compare(ukey, value) >= 0 {
			return fmt.Errorf("memtable: range deletion [%q, %q): end must be a key above start", ukey, value)
		}
		list, sp = m.rangeDels, &w.rangeDels
	}
	vlen := base.ValueSize(k, expiry, value)
	if uint64(vlen)+uint64(len(ukey)) > MaxCapacity {
		return ErrArenaFull
	}
	sk := makeSearchKey(ukey, base.MakeTrailer(seq, k))
	var h uint64
	if list.idx != nil {
		h = base.KeyHash(ukey)
	}
	node, res := list.insert(&sk, h, m.randomHeightLocked(), sp, k, expiry, value, vlen)
	switch res {
	case duplicate:
		return fmt.Errorf("%w: %s", ErrDuplicate, base.MakeInternalKey(ukey, seq, k))
	case full:
		return ErrArenaFull
	}
	if k == base.KindRangeDelete {
		w.dels++
		w.newDels = append(w.newDels, base.RangeDel{Start: m.arena.userKey(node), End: m.arena.value(node), SeqNum: seq})
	} else {
		w.entries++
	}
	return nil
}

// Set adds a value; expiry may be base.NoExpiry.
func (w *Writer) Set(ukey []byte, seq uint64, value []byte, expiry base.Expiry) error {
	return w.Add(ukey, seq, base.KindSet, value, expiry)
}

// Delete adds a point tombstone.
func (w *Writer) Delete(ukey []byte, seq uint64) error {
	return w.Add(ukey, seq, base.KindDelete, nil, base.NoExpiry)
}

// DeleteRange deletes user keys in [start, end) older than seq.
func (w *Writer) DeleteRange(start, end []byte, seq uint64) error {
	return w.Add(start, seq, base.KindRangeDelete, end, base.NoExpiry)
}

// Add inserts an entry. kind is KindSet (expiry may be set; the entry is
// stored as KindSetWithExpiry then), KindSetWithExpiry, KindDelete, or
// KindRangeDelete (value is the exclusive end key). User keys must be at
// least two bytes (the key group). The key and value are copied. Add is
// safe for concurrent use; concurrent writers are serialized. To add many
// entries, a Writer (BeginWrite) takes the lock once.
func (m *Memtable) Add(ukey []byte, seq uint64, kind base.Kind, value []byte, expiry base.Expiry) error {
	w, err := m.BeginWrite()
	if err != nil {
		return err
	}
	err = w.Add(ukey, seq, kind, value, expiry)
	w.Done()
	return err
}

// Set adds a value; expiry may be base.NoExpiry.
func (m *Memtable) Set(ukey []byte, seq uint64, value []byte, expiry base.Expiry) error {
	return m.Add(ukey, seq, base.KindSet, value, expiry)
}

// Delete adds a point tombstone.
func (m *Memtable) Delete(ukey []byte, seq uint64) error {
	return m.Add(ukey, seq, base.KindDelete, nil, base.NoExpiry)
}

// DeleteRange deletes user keys in [start, end) older than seq.
func (m *Memtable) DeleteRange(start, end []byte, seq uint64) error {
	return m.Add(start, seq, base.KindRangeDelete, end, base.NoExpiry)
}

// Freeze makes the memtable immutable: later Adds fail with ErrFrozen.
// Readers and iterators are unaffected. Freeze waits for an Add in progress.
func (m *Memtable) Freeze() {
	m.mu.Lock()
	m.frozen.Store(true)
	m.mu.Unlock()
}

// Release ends the memtable's life and returns its arena for New to reuse
// (Options.Arena). The caller guarantees that nothing uses the memtable any
// more: no reader, iterator or writer, and no key or value slice a read
// returned (they alias the arena). The memtable is frozen.
func (m *Memtable) Release() []byte {
	m.Freeze()
	return m.arena.buf
}

// Frozen reports whether Freeze was called.
func (m *Memtable) Frozen() bool { return m.frozen.Load() }

// Size returns the arena bytes in use.
func (m *Memtable) Size() int64 { return int64(m.arena.n.Load()) }

// Capacity returns the arena size.
func (m *Memtable) Capacity() int64 { return int64(len(m.arena.buf)) }

// Len returns the number of point entries.
func (m *Memtable) Len() int64 { return m.numEntries.Load() }

// NumRangeDels returns the number of range deletions.
func (m *Memtable) NumRangeDels() int64 { return m.numRangeDels.Load() }

// Empty reports whether nothing was added.
func (m *Memtable) Empty() bool { return m.Len() == 0 && m.NumRangeDels() == 0 }

// Get returns the newest entry for ukey with seqnum <= readSeq, honoring
// range deletions (a newer covering range deletion yields an entry of kind
// KindRangeDelete). ok is false when the memtable says nothing about ukey.
// The Value aliases the arena: it is immutable and lives as long as the
// memtable. Range deletions cost a binary search per run of the fragmented
// view (see rangeDelView), O(log² n) at worst for n range deletions.
func (m *Memtable) Get(ukey []byte, readSeq uint64) (e base.Entry, ok bool) {
	return m.GetHash(ukey, base.KeyHash(ukey), readSeq)
}

// GetHash is Get for a key whose base.KeyHash the caller computed.
func (m *Memtable) GetHash(ukey []byte, hash, readSeq uint64) (e base.Entry, ok bool) {
	e, ok = m.GetPointHash(ukey, hash, readSeq)
	var floor uint64
	if ok {
		floor = e.SeqNum
	}
	if s, found := m.MaxCoveringRangeDelAbove(ukey, readSeq, floor); found {
		return base.Entry{Kind: base.KindRangeDelete, SeqNum: s}, true
	}
	return e, ok
}

// GetPointHash is GetHash without the range deletions: the newest point
// entry (set or delete) of ukey with seqnum <= readSeq. A reader that
// consults several memtables and tables can look for the point first and
// ask MaxCoveringRangeDel only of the sources at least as new as the one
// that has it: a key no source has is absent whatever covers it.
func (m *Memtable) GetPointHash(ukey []byte, hash, readSeq uint64) (e base.Entry, ok bool) {
	if m.numEntries.Load() == 0 {
		// Counts are published when a writer session ends, before the
		// seqnums of its entries are readable.
		return base.Entry{}, false
	}
	sk := makeSearchKey(ukey, base.MakeTrailer(readSeq, base.KindMax))
	// The key's newest version, then on at level 0 past versions newer
	// than readSeq.
	n := m.points.idx.find(&sk, hash)
	for n != 0 && m.arena.cmp(n, &sk) < 0 {
		n = m.arena.next(n, 0)
	}
	if n == 0 || m.arena.cmpUser(n, &sk) != 0 {
		return base.Entry{}, false
	}
	k := m.arena.key(n)
	v, exp, _ := base.DecodeValue(k.Kind(), m.arena.value(n))
	return base.Entry{Kind: k.Kind(), SeqNum: k.SeqNum(), Value: v, Expiry: exp}, true
}

// MaxCoveringRangeDel returns the largest seqnum <= readSeq of the
// memtable's range deletions that cover ukey, and whether there is one.
func (m *Memtable) MaxCoveringRangeDel(ukey []byte, readSeq uint64) (uint64, bool) {
	return m.MaxCoveringRangeDelAbove(ukey, readSeq, 0)
}

// MaxCoveringRangeDelAbove returns the largest seqnum <= readSeq of the
// memtable's range deletions that cover ukey, if one is above floor (the
// seqnum of the point entry the caller found; 0 for none). Deletions at or
// below floor cannot hide that entry, and the runs that hold only such
// deletions are not searched.
func (m *Memtable) MaxCoveringRangeDelAbove(ukey []byte, readSeq, floor uint64) (uint64, bool) {
	rd := m.rdView.Load()
	if rd == nil {
		return 0, false
	}
	return rd.maxCovering(ukey, readSeq, floor)
}

// RangeDelFragments returns the range deletions of the writer sessions
// that ended (and of completed Adds) within [lo, hi) (nil bounds are
// unbounded), as non-overlapping fragments clipped to [lo, hi). It costs a
// binary search per run of the view plus the size of the result. The
// result and its keys are immutable; they may alias the arena.
func (m *Memtable) RangeDelFragments(lo, hi []byte) base.Fragments {
	if rd := m.rdView.Load(); rd != nil {
		return rd.fragments(lo, hi)
	}
	return nil
}

// RangeDels returns the range deletions present now, sorted by start key
// then seqnum descending, by a walk of all of them. The keys alias the
// arena and are immutable.
func (m *Memtable) RangeDels() []base.RangeDel {
	out := make([]base.RangeDel, 0, m.numRangeDels.Load())
	for n := m.rangeDels.first(); n != 0; n = m.arena.next(n, 0) {
		k := m.arena.key(n)
		out = append(out, base.RangeDel{Start: k.UserKey, End: m.arena.value(n), SeqNum: k.SeqNum()})
	}
	return out
}

// FlushNewest writes to w what a reader at or above the memtable's last
// seqnum sees: the newest version of each key (a tombstone included) unless
// a range deletion of the memtable covers it, in order, then every range
// deletion. An owner with no reader below that seqnum (the LSM: a flushed
// table serves reads that start after the flush) loses nothing, and the
// table holds one version per key. Call it on a frozen memtable. It does
// not Finish w.
//
// unseen, if not nil, is asked about the key of every newest version that
// is a point tombstone: when it reports that no older source (a table
// below the memtable) may hold the key, the tombstone hides nothing and is
// not written. Stream state is mostly written and deleted within one
// memtable (a window's accumulator, a join's rows): those keys then cost
// the table nothing. FlushNewest returns the number of tombstones dropped.
func (m *Memtable) FlushNewest(w *sstable.Writer, unseen func(userKey []byte) bool) (dropped int64, err error) {
	it := m.NewIter(IterOptions{HideRangeDeleted: true})
	var last []byte // the previous user key, in the arena
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if last != nil && bytes.Equal(k.UserKey, last) {
			// An older version; if the newest is covered, so is it.
			continue
		}
		last = k.UserKey
		if k.Kind() == base.KindDelete && unseen != nil && unseen(k.UserKey) {
			dropped++
			continue
		}
		if err := w.Add(k, it.Value(), it.Expiry()); err != nil {
			return dropped, err
		}
	}
	return dropped, m.flushRangeDels(w)
}

func (m *Memtable) flushRangeDels(w *sstable.Writer) error {
	for _, d := range m.RangeDels() {
		if err := w.AddRangeDel(d.Start, d.End, d.SeqNum); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes every entry to w in order: the point entries, then the range
// deletions. Call it on a frozen memtable; entries added concurrently with
// Flush may or may not be included. Flush does not Finish w.
func (m *Memtable) Flush(w *sstable.Writer) error {
	it := m.NewIter(IterOptions{})
	for ok := it.First(); ok; ok = it.Next() {
		if err := w.Add(it.Key(), it.Value(), it.Expiry()); err != nil {
			return err
		}
	}
	return m.flushRangeDels(w)
}
