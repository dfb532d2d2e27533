package memtable

import (
	"bytes"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// hashIndex maps every user key of the points skiplist to the key's first
// node in internal-key order, that is its newest version. A point read
// hashes the key, follows one short chain to that node and walks on at
// level 0 past versions newer than its read seqnum (versions of a key are
// adjacent in the list), instead of searching the skiplist from the head:
// about two cache misses instead of one per level. A key the memtable
// does not hold costs the chain walk alone.
//
// The buckets (uint32 node offsets, 0 = empty) live at the start of the
// arena; each chain links the first nodes of distinct user keys through
// their hnext fields. The writer indexes a node after linking it into the
// skiplist, where its neighbours tell the case: a new key is pushed on its
// bucket's chain (no chain walk); a new first version of a known key takes
// the old first node's place in the chain (it points to the same
// successor, then its predecessor's link is swapped with an atomic store);
// a version that sorts after the key's first node changes nothing. Readers load links
// atomically, so a reader sees the chain before or after each swap, and
// either node leads it to the right version: a batch's seqnums are
// published only after the batch is in the memtable, so a reader never
// needs a version the index does not reach yet.
type hashIndex struct {
	a    *arena
	off  uint32 // offset of bucket 0
	mask uint64
}

// bytesPerBucket sizes the index: one 4-byte bucket per 64 arena bytes
// (6% of the arena), one entry per two buckets for entries of ~128 bytes,
// about one per bucket for the small entries of stream state (a key of
// ~30 bytes, a counter): a lookup of a key the memtable lacks, the common
// case of a read that ends in the tables, walks a chain of one node or
// none.
const bytesPerBucket = 64

// newHashIndex allocates the buckets of an arena of capacity bytes, all
// empty: a power of two, at least 4.
func newHashIndex(a *arena, capacity uint32) (*hashIndex, bool) {
	n := uint32(1) << (bits.Len32(max(capacity/bytesPerBucket, 4)) - 1)
	off, ok := a.alloc(4 * n)
	if !ok {
		return nil, false
	}
	if !a.zeroed {
		// Reused memory. (New memory is left untouched: its pages are
		// mapped as buckets fill.)
		clear(a.buf[off : off+4*n])
	}
	return &hashIndex{a: a, off: off, mask: uint64(n - 1)}, true
}

// bucket returns the offset of ukey's bucket.
func (x *hashIndex) bucket(h uint64) uint32 { return x.off + 4*uint32(h&x.mask) }

func (x *hashIndex) load(link uint32) uint32 { return atomic.LoadUint32(x.a.u32(link)) }

func (x *hashIndex) store(link, node uint32) { atomic.StoreUint32(x.a.u32(link), node) }

// hnextLink is the offset of node's hnext field.
func hnextLink(node uint32) uint32 { return node + 28 }

// sameUserKey reports whether node's user key is k's.
func (a *arena) sameUserKey(node uint32, k *searchKey) bool {
	return a.prefix(node) == k.prefix && int(a.keyLen(node)) == len(k.ukey) && bytes.Equal(a.userKey(node), k.ukey)
}

// find returns the first node of k's user key, whose base.KeyHash is h, or
// 0 if the memtable has none.
func (x *hashIndex) find(k *searchKey, h uint64) uint32 {
	for n := x.load(x.bucket(h)); n != 0; n = x.load(hnextLink(n)) {
		if x.a.sameUserKey(n, k) {
			return n
		}
	}
	return 0
}

// push indexes node, just linked into the skiplist with key k, a user key
// the memtable did not hold. Writers only (serialized by the memtable).
func (x *hashIndex) push(node uint32, k *searchKey) {
	b := x.bucket(base.KeyHash(k.ukey))
	x.store(hnextLink(node), x.load(b))
	x.store(b, node)
}

// replace puts node, just linked into the skiplist as the new first version
// of key k, in the chain in place of old, the previous first version.
// Writers only.
func (x *hashIndex) replace(old, node uint32, k *searchKey) {
	link := x.bucket(base.KeyHash(k.ukey))
	for n := x.load(link); n != 0; n = x.load(link) {
		if n == old {
			x.store(hnextLink(node), x.load(hnextLink(old)))
			x.store(link, node)
			return
		}
		link = hnextLink(n)
	}
	// The index holds the first node of every key: an accounting bug.
	panic(fmt.Sprintf("memtable: hash index has no entry for the first version of key %q", k.ukey))
}
