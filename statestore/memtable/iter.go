package memtable

import (
	"bytes"

	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// IterOptions bound and filter an iterator; the fields mean what they mean
// for sstable iterators.
type IterOptions = sstable.IterOptions

// Iter walks the point entries in internal-key order: every version,
// tombstones included. Range deletions are exposed by RangeDels. It sees
// entries added after its creation if it reaches them. An Iter is not safe
// for concurrent use, but many Iters may run alongside a writer.
type Iter struct {
	m       *Memtable
	opts    IterOptions
	readSeq uint64
	frags   base.FragmentCursor // with HideRangeDeleted
	hide    bool
	node    uint32
	key     base.InternalKey
	value   []byte
	expiry  base.Expiry
}

// NewIter returns an iterator. With HideRangeDeleted, the range deletions
// present at creation are applied: those within the bounds, taken from the
// fragmented view (see RangeDelFragments).
func (m *Memtable) NewIter(opts IterOptions) *Iter {
	it := &Iter{m: m, opts: opts, readSeq: opts.SeqNum}
	if it.readSeq == 0 {
		it.readSeq = base.SeqNumMax
	}
	if opts.HideRangeDeleted {
		if f := m.RangeDelFragments(opts.Lower, opts.Upper); len(f) > 0 {
			it.frags, it.hide = f.Cursor(), true
		}
	}
	return it
}

// Valid reports whether the iterator is on an entry.
func (it *Iter) Valid() bool { return it.node != 0 }

// Key returns the current key. It aliases the arena and stays valid for the
// memtable's lifetime.
func (it *Iter) Key() base.InternalKey { return it.key }

// Value returns the current user value (immutable, arena-backed).
func (it *Iter) Value() []byte { return it.value }

// Expiry returns the current entry's expiry.
func (it *Iter) Expiry() base.Expiry { return it.expiry }

// Err is always nil; it exists to match sstable.Iter.
func (it *Iter) Err() error { return nil }

// Close releases the iterator.
func (it *Iter) Close() error { it.node = 0; return nil }

func (it *Iter) load() {
	it.key = it.m.arena.key(it.node)
	it.value, it.expiry, _ = base.DecodeValue(it.key.Kind(), it.m.arena.value(it.node))
}

func (it *Iter) visible() bool {
	s := it.key.SeqNum()
	return s <= it.readSeq && !(it.hide && it.frags.Covers(it.key.UserKey, s, it.readSeq))
}

func (it *Iter) settleForward() bool {
	for ; it.node != 0; it.node = it.m.arena.next(it.node, 0) {
		it.load()
		if it.opts.Upper != nil && bytes.Compare(it.key.UserKey, it.opts.Upper) >= 0 {
			it.node = 0
			return false
		}
		if it.visible() {
			return true
		}
	}
	return false
}

func (it *Iter) settleBackward() bool {
	for it.node != 0 {
		it.load()
		if it.opts.Lower != nil && bytes.Compare(it.key.UserKey, it.opts.Lower) < 0 {
			it.node = 0
			return false
		}
		if it.visible() {
			return true
		}
		it.node = it.m.points.seekLT(keyOf(it.key))
	}
	return false
}

// SeekGE moves to the first entry with user key >= ukey (and >= Lower).
func (it *Iter) SeekGE(ukey []byte) bool {
	if it.opts.Lower != nil && bytes.Compare(ukey, it.opts.Lower) < 0 {
		ukey = it.opts.Lower
	}
	sk := makeSearchKey(ukey, base.MakeTrailer(base.SeqNumMax, base.KindMax))
	it.node = it.m.points.seekGE(&sk)
	return it.settleForward()
}

// SeekLT moves to the last entry with user key < ukey (and < Upper).
func (it *Iter) SeekLT(ukey []byte) bool {
	if it.opts.Upper != nil && bytes.Compare(ukey, it.opts.Upper) > 0 {
		ukey = it.opts.Upper
	}
	it.node = it.m.points.seekUserLT(ukey)
	return it.settleBackward()
}

// First moves to the first entry.
func (it *Iter) First() bool {
	if it.opts.Lower != nil {
		return it.SeekGE(it.opts.Lower)
	}
	it.node = it.m.points.first()
	return it.settleForward()
}

// Last moves to the last entry.
func (it *Iter) Last() bool {
	if it.opts.Upper != nil {
		return it.SeekLT(it.opts.Upper)
	}
	it.node = it.m.points.last()
	return it.settleBackward()
}

// Next moves to the next entry.
func (it *Iter) Next() bool {
	if it.node == 0 {
		return false
	}
	it.node = it.m.arena.next(it.node, 0)
	return it.settleForward()
}

// Prev moves to the previous entry. It costs a search (O(log n)); the
// skiplist has no back links.
func (it *Iter) Prev() bool {
	if it.node == 0 {
		return false
	}
	it.node = it.m.points.seekLT(keyOf(it.key))
	return it.settleBackward()
}

func keyOf(k base.InternalKey) *searchKey {
	sk := makeSearchKey(k.UserKey, k.Trailer)
	return &sk
}
