package memtable

import (
	"bytes"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// hashIndex maps every user key of the points skiplist to the key's first
// node in internal-key order, that is its newest version. A point read
// hashes the key, follows one short chain to that node and walks on at
// level 0 past versions newer than its read seqnum (versions of a key are
// adjacent in the list), instead of searching the skiplist from the head:
// about two cache misses instead of one per level.
//
// The buckets (uint32 words, 0 = empty) live at the start of the arena;
// each chain links the first nodes of distinct user keys through their
// hnext fields (plain node offsets). A bucket word packs the offset of the
// chain's first node, divided by 4 (nodes are 4-aligned), in its low
// offBits bits and, above them, a bitmap of the chain's keys: each key
// sets one bit chosen by its hash. A key whose bit is clear is in no chain
// node, so a lookup of a key the memtable lacks, the common case of a read
// that ends in the tables, usually reads the bucket alone. (There are at
// least 2 bitmap bits, 8 for a 64 MiB arena.) Bits are never cleared: the
// memtable only grows.
//
// The writer indexes a node after linking it into the skiplist. A new key
// is pushed on its bucket's chain (no chain walk): one atomic store of the
// bucket word sets the head and the key's bit together. A new first
// version of a known key takes the old first node's place in the chain (it
// points to the same successor, then its predecessor's link, or the bucket
// word with its bitmap unchanged, is swapped with an atomic store); a
// version that sorts after the key's first node changes nothing. Readers
// load links atomically, so a reader sees the chain before or after each
// swap, and either node leads it to the right version: a batch's seqnums
// are published only after the batch is in the memtable, so a reader never
// needs a version the index does not reach yet.
type hashIndex struct {
	a       *arena
	off     uint32 // offset of bucket 0
	mask    uint64
	offBits uint32 // low bits of a bucket word: the first node's offset / 4
	offMask uint32 // 1<<offBits - 1
	tagBits uint64 // bitmap bits of a bucket word: 32 - offBits
}

// bytesPerBucket sizes the index: one 4-byte bucket per 64 arena bytes
// (6% of the arena), one entry per two buckets for entries of ~128 bytes,
// about one per bucket for the small entries of stream state (a key of
// ~30 bytes, a counter): a lookup of a key the memtable lacks, the common
// case of a read that ends in the tables, finds an empty bucket or one
// whose bitmap rules the key out.
const bytesPerBucket = 64

// newHashIndex allocates the buckets of an arena of capacity bytes, all
// empty: a power of two, at least 4, one per bytesPerBucket arena bytes
// or, if fewer, the power of two at or above entries (when not 0).
func newHashIndex(a *arena, capacity uint32, entries int64) (*hashIndex, bool) {
	n := uint32(1) << (bits.Len32(max(capacity/bytesPerBucket, 4)) - 1)
	if entries > 0 && entries < int64(n) {
		n = max(uint32(1)<<bits.Len32(uint32(entries-1)), 4)
	}
	off, ok := a.alloc(4 * n)
	if !ok {
		return nil, false
	}
	if !a.zeroed {
		// Reused memory. (New memory is left untouched: its pages are
		// mapped as buckets fill.)
		clear(a.buf[off : off+4*n])
	}
	// Node offsets are below len(a.buf) <= MaxCapacity < 1<<32, so
	// offBits <= 30.
	offBits := uint32(bits.Len32(uint32(len(a.buf)-1) >> 2))
	return &hashIndex{
		a: a, off: off, mask: uint64(n - 1),
		offBits: offBits, offMask: 1<<offBits - 1, tagBits: uint64(32 - offBits),
	}, true
}

// bucket returns the offset of the bucket of hash h.
func (x *hashIndex) bucket(h uint64) uint32 { return x.off + 4*uint32(h&x.mask) }

// tag returns the bitmap bit of hash h, in place in a bucket word. It uses
// the hash's high half; the bucket number uses the low bits.
func (x *hashIndex) tag(h uint64) uint32 {
	return 1 << (x.offBits + uint32(((h>>32)*x.tagBits)>>32))
}

// head returns the first node of the chain of bucket word w.
func (x *hashIndex) head(w uint32) uint32 { return (w & x.offMask) << 2 }

func (x *hashIndex) load(link uint32) uint32 { return atomic.LoadUint32(x.a.u32(link)) }

func (x *hashIndex) store(link, v uint32) { atomic.StoreUint32(x.a.u32(link), v) }

// hnextLink is the offset of node's hnext field.
func hnextLink(node uint32) uint32 { return node + 28 }

// sameUserKey reports whether node's user key is k's.
func (a *arena) sameUserKey(node uint32, k *searchKey) bool {
	return a.prefix(node) == k.prefix && int(a.keyLen(node)) == len(k.ukey) && bytes.Equal(a.userKey(node), k.ukey)
}

// find returns the first node of k's user key, whose base.KeyHash is h, or
// 0 if the memtable has none.
func (x *hashIndex) find(k *searchKey, h uint64) uint32 {
	w := x.load(x.bucket(h))
	if w&x.tag(h) == 0 {
		return 0
	}
	for n := x.head(w); n != 0; n = x.load(hnextLink(n)) {
		if x.a.sameUserKey(n, k) {
			return n
		}
	}
	return 0
}

// lookup is find for the writer: it also returns the link that points to
// the node (the bucket, or the previous chain node's hnext), for replace.
func (x *hashIndex) lookup(k *searchKey, h uint64) (link, node uint32) {
	b := x.bucket(h)
	w := x.load(b)
	if w&x.tag(h) == 0 {
		return 0, 0
	}
	link = b
	for n := x.head(w); n != 0; n = x.load(link) {
		if x.a.sameUserKey(n, k) {
			return link, n
		}
		link = hnextLink(n)
	}
	return 0, 0
}

// push indexes node, just linked into the skiplist with a user key (of
// hash h) the memtable did not hold. Writers only (serialized by the
// memtable).
func (x *hashIndex) push(node uint32, h uint64) {
	b := x.bucket(h)
	w := x.load(b)
	x.store(hnextLink(node), x.head(w))
	x.store(b, node>>2|w&^x.offMask|x.tag(h))
}

// replace puts node, just linked into the skiplist as the new first version
// of its key (of hash h), in the chain in place of old, the previous first
// version, to which link points (see lookup). Writers only.
func (x *hashIndex) replace(link, old, node uint32, h uint64) {
	x.store(hnextLink(node), x.load(hnextLink(old)))
	if b := x.bucket(h); link == b {
		w := x.load(b)
		if x.head(w) != old {
			panic(fmt.Sprintf("memtable: hash index bucket %d leads to node %d, not to %d", b, x.head(w), old))
		}
		x.store(b, node>>2|w&^x.offMask)
		return
	}
	if n := x.load(link); n != old {
		panic(fmt.Sprintf("memtable: hash index link %d leads to node %d, not to %d", link, n, old))
	}
	x.store(link, node)
}
