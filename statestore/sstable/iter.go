package sstable

import (
	"bytes"
	"context"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// IterOptions bound and filter an iterator.
type IterOptions struct {
	// Lower is the inclusive lower user-key bound; nil means unbounded.
	Lower []byte
	// Upper is the exclusive upper user-key bound; nil means unbounded.
	Upper []byte
	// SeqNum, if non-zero, hides entries with a larger sequence number.
	SeqNum uint64
	// HideRangeDeleted hides point entries covered by a visible range
	// deletion of this table. Range deletions of other tables are the
	// caller's business (see Reader.RangeDelFragments).
	HideRangeDeleted bool
	// SkipBlock, if set, is asked before forward positioning (First,
	// SeekGE, Next) reads a data block: every entry of the block has a
	// user key k with lo <= k <= hi (lo nil: no lower bound known).
	// Returning true skips the block unread, as if its entries were not
	// there; a compaction uses it to pass over blocks that newer range
	// deletions cover. It must not keep lo or hi.
	SkipBlock func(lo, hi []byte) bool
}

// Iter walks a table's point entries in internal-key order: every version of
// every user key, tombstones included. Range deletions are exposed
// separately by Reader.RangeDels. An Iter is not safe for concurrent use;
// make one per goroutine. Positioning methods return whether the iterator is
// on an entry; when they return false check Err.
type Iter struct {
	r       *Reader
	ctx     context.Context
	opts    IterOptions
	readSeq uint64
	index   blockIter
	data    blockIter
	valid   bool
	err     error
	value   []byte
	expiry  base.Expiry
	sepBuf  []byte // a separator's user key, for SkipBlock
}

// NewIter returns an iterator. ctx is used for the block reads it makes.
func (r *Reader) NewIter(ctx context.Context, opts IterOptions) *Iter {
	it := &Iter{r: r, ctx: ctx, opts: opts, readSeq: opts.SeqNum}
	if it.readSeq == 0 {
		it.readSeq = base.SeqNumMax
	}
	if err := it.index.init(r.index, r.opts.Name, int64(r.footer.index.Offset)); err != nil {
		it.err = err
	}
	return it
}

// Valid reports whether the iterator is on an entry.
func (it *Iter) Valid() bool { return it.valid }

// Err returns the first error the iterator met.
func (it *Iter) Err() error { return it.err }

// Key returns the current internal key. It is valid until the next
// positioning call.
func (it *Iter) Key() base.InternalKey { return it.data.ikey }

// Value returns the current user value (without expiry prefix). It aliases
// an immutable block and stays valid after the iterator moves.
func (it *Iter) Value() []byte { return it.value }

// Expiry returns the current entry's expiry, or base.NoExpiry.
func (it *Iter) Expiry() base.Expiry { return it.expiry }

// Close releases the iterator; it returns Err.
func (it *Iter) Close() error {
	err := it.err
	it.valid = false
	if it.err == nil {
		it.err = errIterClosed
	}
	return err
}

func (it *Iter) fail(err error) bool {
	if it.err == nil {
		it.err = err
	}
	it.valid = false
	return false
}

// loadBlock loads the data block the index iterator points at.
func (it *Iter) loadBlock() bool {
	h, ok := decodeVarintHandle(it.index.val)
	if !ok {
		return it.fail(it.r.corrupt(int64(it.r.footer.index.Offset), "bad block handle in index"))
	}
	b, err := it.r.readDataBlock(it.ctx, h)
	if err != nil {
		return it.fail(err)
	}
	if err := it.data.init(b, it.r.opts.Name, int64(h.Offset)); err != nil {
		return it.fail(err)
	}
	return true
}

// skipBlocks moves the index forward past the blocks opts.SkipBlock
// rejects, from the block it is on; prev is the user key of the separator
// before that block, nil if unknown. It reports whether the index is on a
// block.
func (it *Iter) skipBlocks(prev []byte) bool {
	for it.opts.SkipBlock != nil && it.opts.SkipBlock(prev, it.index.ikey.UserKey) {
		it.sepBuf = append(it.sepBuf[:0], it.index.ikey.UserKey...)
		prev = it.sepBuf
		if !it.index.next() {
			return false
		}
	}
	return true
}

// accept decodes the current entry and reports whether it is visible.
func (it *Iter) accept() (visible, ok bool) {
	k := it.data.ikey
	kind := k.Kind()
	if !kind.Valid() || kind == base.KindRangeDelete {
		return false, it.fail(it.r.corrupt(it.data.blockOff, "bad entry %s", k))
	}
	v, exp, vok := base.DecodeValue(kind, it.data.val)
	if !vok {
		return false, it.fail(it.r.corrupt(it.data.blockOff, "bad expiry prefix in %s", k))
	}
	it.value, it.expiry = v, exp
	if k.SeqNum() > it.readSeq {
		return false, true
	}
	if it.opts.HideRangeDeleted && it.r.frags.Covers(k.UserKey, k.SeqNum(), it.readSeq) {
		return false, true
	}
	return true, true
}

// settleForward moves forward from the data iterator's position (which may
// be exhausted) to the first visible entry within bounds.
func (it *Iter) settleForward() bool {
	for {
		if it.err != nil {
			return it.fail(it.err)
		}
		if !it.data.valid {
			if it.data.err != nil {
				return it.fail(it.data.err)
			}
			var prev []byte
			if it.opts.SkipBlock != nil {
				it.sepBuf = append(it.sepBuf[:0], it.index.ikey.UserKey...)
				prev = it.sepBuf
			}
			if !it.index.next() || !it.skipBlocks(prev) {
				if it.index.err != nil {
					return it.fail(it.index.err)
				}
				it.valid = false
				return false
			}
			if !it.loadBlock() {
				return false
			}
			it.data.first()
			continue
		}
		if it.opts.Upper != nil && bytes.Compare(it.data.ikey.UserKey, it.opts.Upper) >= 0 {
			it.valid = false
			return false
		}
		vis, ok := it.accept()
		if !ok {
			return false
		}
		if vis {
			it.valid = true
			return true
		}
		it.data.next()
	}
}

// settleBackward moves backward to the last visible entry within bounds.
func (it *Iter) settleBackward() bool {
	for {
		if it.err != nil {
			return it.fail(it.err)
		}
		if !it.data.valid {
			if it.data.err != nil {
				return it.fail(it.data.err)
			}
			if !it.index.prev() {
				if it.index.err != nil {
					return it.fail(it.index.err)
				}
				it.valid = false
				return false
			}
			if !it.loadBlock() {
				return false
			}
			it.data.last()
			continue
		}
		if it.opts.Lower != nil && bytes.Compare(it.data.ikey.UserKey, it.opts.Lower) < 0 {
			it.valid = false
			return false
		}
		vis, ok := it.accept()
		if !ok {
			return false
		}
		if vis {
			it.valid = true
			return true
		}
		it.data.prev()
	}
}

// SeekGE moves to the first entry whose user key is >= ukey (and >= Lower).
func (it *Iter) SeekGE(ukey []byte) bool {
	if it.err != nil {
		return false
	}
	if it.opts.Lower != nil && bytes.Compare(ukey, it.opts.Lower) < 0 {
		ukey = it.opts.Lower
	}
	target := base.MakeInternalKey(ukey, base.SeqNumMax, base.KindMax)
	if !it.index.seekGE(target) || !it.skipBlocks(nil) {
		if it.index.err != nil {
			return it.fail(it.index.err)
		}
		it.valid = false
		return false
	}
	if !it.loadBlock() {
		return false
	}
	it.data.seekGE(target)
	return it.settleForward()
}

// First moves to the first entry (at or after Lower).
func (it *Iter) First() bool {
	if it.opts.Lower != nil {
		return it.SeekGE(it.opts.Lower)
	}
	if it.err != nil {
		return false
	}
	if !it.index.first() || !it.skipBlocks(nil) {
		if it.index.err != nil {
			return it.fail(it.index.err)
		}
		it.valid = false
		return false
	}
	if !it.loadBlock() {
		return false
	}
	it.data.first()
	return it.settleForward()
}

// SeekLT moves to the last entry whose user key is < ukey (and < Upper).
func (it *Iter) SeekLT(ukey []byte) bool {
	if it.err != nil {
		return false
	}
	if it.opts.Upper != nil && bytes.Compare(ukey, it.opts.Upper) > 0 {
		ukey = it.opts.Upper
	}
	target := base.MakeInternalKey(ukey, base.SeqNumMax, base.KindMax)
	if !it.index.seekGE(target) {
		if it.index.err != nil {
			return it.fail(it.index.err)
		}
		return it.lastBlock()
	}
	if !it.loadBlock() {
		return false
	}
	if it.data.seekGE(target) {
		it.data.prev()
	} else if it.data.err == nil {
		it.data.last()
	}
	return it.settleBackward()
}

func (it *Iter) lastBlock() bool {
	if !it.index.last() {
		if it.index.err != nil {
			return it.fail(it.index.err)
		}
		it.valid = false
		return false
	}
	if !it.loadBlock() {
		return false
	}
	it.data.last()
	return it.settleBackward()
}

// Last moves to the last entry (before Upper).
func (it *Iter) Last() bool {
	if it.opts.Upper != nil {
		return it.SeekLT(it.opts.Upper)
	}
	if it.err != nil {
		return false
	}
	return it.lastBlock()
}

// Next moves to the next entry.
func (it *Iter) Next() bool {
	if !it.valid {
		return false
	}
	it.data.next()
	return it.settleForward()
}

// Prev moves to the previous entry.
func (it *Iter) Prev() bool {
	if !it.valid {
		return false
	}
	it.data.prev()
	return it.settleBackward()
}
