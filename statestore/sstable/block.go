package sstable

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// blockWriter builds a block of prefix-compressed entries:
//
//	entry:   uvarint shared | uvarint unshared | uvarint valueLen | key[shared:] | value
//	trailer: restart offsets (uint32 LE each) | restart count (uint32 LE)
//
// Every restartInterval-th entry stores its whole key (shared = 0) and its
// offset is a restart point, so a reader can binary-search restart points.
type blockWriter struct {
	restartInterval int
	buf             []byte
	restarts        []uint32
	lastKey         []byte
	count           int
}

func (w *blockWriter) add(key, value []byte) {
	shared := 0
	if w.count%w.restartInterval == 0 {
		w.restarts = append(w.restarts, uint32(len(w.buf)))
	} else {
		n := min(len(key), len(w.lastKey))
		for shared < n && key[shared] == w.lastKey[shared] {
			shared++
		}
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)-shared))
	w.buf = binary.AppendUvarint(w.buf, uint64(len(value)))
	w.buf = append(w.buf, key[shared:]...)
	w.buf = append(w.buf, value...)
	w.lastKey = append(w.lastKey[:0], key...)
	w.count++
}

func (w *blockWriter) empty() bool { return w.count == 0 }

func (w *blockWriter) estimatedSize() int { return len(w.buf) + 4*len(w.restarts) + 4 }

// finish returns the block bytes; they stay valid until the next reset.
func (w *blockWriter) finish() []byte {
	for _, r := range w.restarts {
		w.buf = binary.LittleEndian.AppendUint32(w.buf, r)
	}
	return binary.LittleEndian.AppendUint32(w.buf, uint32(len(w.restarts)))
}

func (w *blockWriter) reset() {
	w.buf = w.buf[:0]
	w.restarts = w.restarts[:0]
	w.lastKey = w.lastKey[:0]
	w.count = 0
}

// blockIter walks one decoded block. Keys are encoded internal keys. A
// blockIter never panics on malformed input: it records a corruption error
// and becomes invalid.
type blockIter struct {
	data        []byte // whole block
	dataEnd     int    // end of the entry region (start of restart array)
	numRestarts int

	offset     int // offset of the current entry
	nextOffset int // offset of the entry after it
	key        []byte
	ikey       base.InternalKey
	val        []byte
	valid      bool
	err        error

	// corruption context
	name     string
	blockOff int64
}

func (it *blockIter) init(block []byte, name string, blockOff int64) error {
	*it = blockIter{key: it.key[:0], name: name, blockOff: blockOff}
	if len(block) < 4 {
		return it.corrupt(0, "block of %d bytes has no restart count", len(block))
	}
	n := int(binary.LittleEndian.Uint32(block[len(block)-4:]))
	if n < 0 || n > (len(block)-4)/4 {
		return it.corrupt(len(block)-4, "restart count %d does not fit block of %d bytes", n, len(block))
	}
	it.data = block
	it.numRestarts = n
	it.dataEnd = len(block) - 4 - 4*n
	if n == 0 && it.dataEnd != 0 {
		return it.corrupt(0, "entries without restart points")
	}
	// Restart offsets are not validated here (that would cost O(restarts)
	// per block visit); decodeAt bounds-checks every offset it is given.
	return nil
}

func (it *blockIter) corrupt(off int, format string, args ...any) error {
	err := &CorruptionError{Object: it.name, Offset: it.blockOff + int64(off), Reason: fmt.Sprintf(format, args...)}
	if it.err == nil {
		it.err = err
	}
	it.valid = false
	return err
}

func (it *blockIter) restart(i int) int {
	return int(binary.LittleEndian.Uint32(it.data[it.dataEnd+4*i:]))
}

// seekRestart positions on restart point i and decodes it.
func (it *blockIter) seekRestart(i int) bool {
	it.key = it.key[:0]
	return it.decodeAt(it.restart(i))
}

// decodeAt decodes the entry at off, whose predecessor's key is in it.key
// (ignored when the entry is a restart point with shared == 0).
func (it *blockIter) decodeAt(off int) bool {
	if off >= it.dataEnd {
		it.valid = false
		return false
	}
	p := it.data[off:it.dataEnd]
	shared, unshared, vlen, h := entryHeader(p)
	if h <= 0 {
		it.corrupt(off, "bad entry header")
		return false
	}
	rest := uint64(len(p) - h)
	if shared > uint64(len(it.key)) || unshared > rest || vlen > rest-unshared {
		it.corrupt(off, "entry lengths (%d,%d,%d) overflow block", shared, unshared, vlen)
		return false
	}
	it.key = append(it.key[:shared], p[h:h+int(unshared)]...)
	k, ok := base.DecodeInternalKey(it.key)
	if !ok {
		it.corrupt(off, "key of %d bytes is shorter than a trailer", len(it.key))
		return false
	}
	vs := h + int(unshared)
	it.ikey = k
	it.val = p[vs : vs+int(vlen) : vs+int(vlen)]
	it.offset = off
	it.nextOffset = off + vs + int(vlen)
	it.valid = true
	return true
}

// uvarint decodes the uvarint at the start of p, with a fast path for the
// one-byte case that lengths in a block usually are.
func uvarint(p []byte) (uint64, int) {
	if len(p) > 0 && p[0] < 0x80 {
		return uint64(p[0]), 1
	}
	return binary.Uvarint(p)
}

// entryHeader decodes the three lengths that start an entry and the header
// length h, or h <= 0 if they are malformed.
func entryHeader(p []byte) (shared, unshared, vlen uint64, h int) {
	shared, n1 := uvarint(p)
	if n1 <= 0 {
		return 0, 0, 0, -1
	}
	unshared, n2 := uvarint(p[n1:])
	if n2 <= 0 {
		return 0, 0, 0, -1
	}
	vlen, n3 := uvarint(p[n1+n2:])
	if n3 <= 0 {
		return 0, 0, 0, -1
	}
	return shared, unshared, vlen, n1 + n2 + n3
}

// restartKey returns the key of the entry at restart point i without
// copying it: a restart entry shares no bytes with its predecessor, so its
// key lies whole in the block.
func (it *blockIter) restartKey(i int) (base.InternalKey, bool) {
	off := it.restart(i)
	if off >= it.dataEnd {
		it.corrupt(it.dataEnd+4*i, "restart point %d at offset %d is beyond the entries (%d bytes)", i, off, it.dataEnd)
		return base.InternalKey{}, false
	}
	p := it.data[off:it.dataEnd]
	shared, unshared, _, h := entryHeader(p)
	if h <= 0 {
		it.corrupt(off, "bad entry header")
		return base.InternalKey{}, false
	}
	if shared != 0 || unshared > uint64(len(p)-h) {
		it.corrupt(off, "restart entry lengths (%d,%d) overflow block", shared, unshared)
		return base.InternalKey{}, false
	}
	k, ok := base.DecodeInternalKey(p[h : h+int(unshared)])
	if !ok {
		it.corrupt(off, "key of %d bytes is shorter than a trailer", unshared)
		return base.InternalKey{}, false
	}
	return k, true
}

func (it *blockIter) first() bool {
	if it.err != nil || it.numRestarts == 0 {
		it.valid = false
		return false
	}
	return it.seekRestart(0)
}

func (it *blockIter) next() bool {
	if !it.valid {
		return false
	}
	return it.decodeAt(it.nextOffset)
}

func (it *blockIter) last() bool {
	if it.err != nil || it.numRestarts == 0 {
		it.valid = false
		return false
	}
	if !it.seekRestart(it.numRestarts - 1) {
		return false
	}
	for it.nextOffset < it.dataEnd {
		if !it.decodeAt(it.nextOffset) {
			return false
		}
	}
	return true
}

// prev moves to the entry before the current one.
func (it *blockIter) prev() bool {
	if !it.valid {
		return false
	}
	target := it.offset
	if target == 0 {
		it.valid = false
		return false
	}
	// Largest restart point strictly before target.
	lo, hi := 0, it.numRestarts
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if it.restart(m) < target {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		it.corrupt(target, "no restart point before entry")
		return false
	}
	if !it.seekRestart(lo - 1) {
		return false
	}
	for it.nextOffset < target {
		if !it.decodeAt(it.nextOffset) {
			return false
		}
	}
	if it.nextOffset != target {
		it.corrupt(it.offset, "entries do not chain to offset %d", target)
		return false
	}
	return true
}

// seekGE positions on the first entry >= target.
func (it *blockIter) seekGE(target base.InternalKey) bool {
	if it.err != nil || it.numRestarts == 0 {
		it.valid = false
		return false
	}
	// Find the first restart whose key is > target; start scanning from the
	// restart before it. Restart keys are compared in place.
	lo, hi := 0, it.numRestarts
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		k, ok := it.restartKey(m)
		if !ok {
			return false
		}
		if base.Compare(k, target) > 0 {
			hi = m
		} else {
			lo = m + 1
		}
	}
	start := max(lo-1, 0)
	if !it.seekRestart(start) {
		return false
	}
	for base.Compare(it.ikey, target) < 0 {
		if !it.decodeAt(it.nextOffset) {
			return false
		}
	}
	return true
}
