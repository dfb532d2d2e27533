package memtable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// Arena layout of a node (offsets from the node's 4-aligned start):
//
//	0   keyLen   uint32
//	4   valLen   uint32  (stored value: expiry prefix + user value)
//	8   trailer  uint64
//	16  prefix   uint64  (the first 8 user-key bytes, big-endian, zero-padded)
//	24  height   uint32
//	28  hnext    uint32  (next node of the hash index chain, see index.go;
//	                     written when the node joins a chain, read only then)
//	32  prev     uint32  (the node before it at level 0; the writer's alone)
//	36  tower    [height]uint32 — next-node offsets, accessed atomically
//	..  key bytes, then value bytes
//
// The prefix decides most comparisons from the node header alone, so a
// search touches one cache line per node it passes instead of two (header
// and key bytes). Header fields are in native byte order: the arena never
// leaves the process.
//
// Offset 0 is the nil node; the arena never hands it out.
const (
	maxHeight      = 20
	nodeHeaderSize = 36
	// A node reaches level l+1 with probability 1/4 (two random bits per
	// level, see randomHeight).
	bitsPerLevel = 2
)

type arena struct {
	buf  []byte
	base unsafe.Pointer // &buf[0]
	n    atomic.Uint32  // bytes used; written only by the (single) writer
	// zeroed is whether buf is new memory, all zero (not reused).
	zeroed bool
}

// newArena returns an arena of capacity bytes: buf[:capacity] if buf is
// large enough (memory to reuse, whatever it holds), else new memory. An
// arena's bytes are not assumed zero: every field is written before it is
// read.
func newArena(capacity uint32, buf []byte) *arena {
	zeroed := false
	if uint64(cap(buf)) < uint64(capacity) {
		buf, zeroed = make([]byte, capacity), true
	}
	a := &arena{buf: buf[:capacity:capacity], zeroed: zeroed}
	a.base = unsafe.Pointer(&a.buf[0])
	a.n.Store(8) // reserve offset 0 as nil
	return a
}

// alloc reserves size bytes aligned to 4. It must be called by the single
// writer only. ok is false when the arena is full.
func (a *arena) alloc(size uint32) (uint32, bool) {
	off := (a.n.Load() + 3) &^ 3
	end := uint64(off) + uint64(size)
	if end > uint64(len(a.buf)) {
		return 0, false
	}
	a.n.Store(uint32(end))
	return off, true
}

// The accessors below read node fields with unchecked loads: node offsets
// come only from alloc, so every field of a linked node lies in the arena.

func (a *arena) ptr(off uint32) unsafe.Pointer { return unsafe.Add(a.base, off) }

func (a *arena) u32(off uint32) *uint32 { return (*uint32)(a.ptr(off)) }

func (a *arena) keyLen(node uint32) uint32 { return *a.u32(node) }

func (a *arena) valLen(node uint32) uint32 { return *a.u32(node + 4) }

func (a *arena) trailer(node uint32) uint64 { return *(*uint64)(a.ptr(node + 8)) }

func (a *arena) prefix(node uint32) uint64 { return *(*uint64)(a.ptr(node + 16)) }

func (a *arena) height(node uint32) uint32 { return *a.u32(node + 24) }

// prev returns the node before node at level 0 (the head for the first).
// Only the writer reads and writes it: readers never go backwards.
func (a *arena) prev(node uint32) uint32 { return *a.u32(node + 32) }

func (a *arena) setPrev(node, prev uint32) { *a.u32(node + 32) = prev }

func (a *arena) next(node uint32, level int) uint32 {
	return atomic.LoadUint32(a.u32(node + nodeHeaderSize + 4*uint32(level)))
}

func (a *arena) setNext(node uint32, level int, to uint32) {
	atomic.StoreUint32(a.u32(node+nodeHeaderSize+4*uint32(level)), to)
}

func (a *arena) userKey(node uint32) []byte {
	kl := a.keyLen(node)
	ks := node + nodeHeaderSize + 4*a.height(node)
	return unsafe.Slice((*byte)(a.ptr(ks)), kl)[:kl:kl]
}

func (a *arena) key(node uint32) base.InternalKey {
	return base.InternalKey{UserKey: a.userKey(node), Trailer: a.trailer(node)}
}

func (a *arena) value(node uint32) []byte {
	kl, vl := a.keyLen(node), a.valLen(node)
	vs := node + nodeHeaderSize + 4*a.height(node) + kl
	return unsafe.Slice((*byte)(a.ptr(vs)), vl)[:vl:vl]
}

// keyPrefix returns the first 8 bytes of ukey as a big-endian integer,
// zero-padded. prefix(a) < prefix(b) implies a < b in byte order, and a > b
// likewise; equal prefixes say nothing.
func keyPrefix(ukey []byte) uint64 {
	if len(ukey) >= 8 {
		return binary.BigEndian.Uint64(ukey)
	}
	var b [8]byte
	copy(b[:], ukey)
	return binary.BigEndian.Uint64(b[:])
}

// searchKey is an internal key with its prefix computed once per search.
type searchKey struct {
	ukey    []byte
	prefix  uint64
	trailer uint64
}

func makeSearchKey(ukey []byte, trailer uint64) searchKey {
	return searchKey{ukey: ukey, prefix: keyPrefix(ukey), trailer: trailer}
}

// cmp orders node against k in internal-key order: user key ascending,
// trailer descending. It reads the key bytes only on a prefix tie.
func (a *arena) cmp(node uint32, k *searchKey) int {
	if p := a.prefix(node); p != k.prefix {
		if p < k.prefix {
			return -1
		}
		return 1
	}
	if c := bytes.Compare(a.userKey(node), k.ukey); c != 0 {
		return c
	}
	switch t := a.trailer(node); {
	case t > k.trailer:
		return -1
	case t < k.trailer:
		return 1
	}
	return 0
}

// cmpUser orders node's user key against k's, ignoring trailers.
func (a *arena) cmpUser(node uint32, k *searchKey) int {
	if p := a.prefix(node); p != k.prefix {
		if p < k.prefix {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.userKey(node), k.ukey)
}

// skiplist is an insert-only skiplist of internal keys in an arena. One
// writer at a time may insert (callers serialize them); any number of
// readers may search concurrently without locks. A node is fully written
// before it is linked, and it is linked bottom-up with atomic stores, so a
// reader that reaches a node sees all of it.
type skiplist struct {
	a      *arena
	head   uint32
	height atomic.Uint32
	// idx, if set, maps each user key to its first node (the points list
	// has one; the range deletions do not).
	idx *hashIndex
}

func newSkiplist(a *arena) (*skiplist, bool) {
	head, ok := allocNode(a, nil, 0, 0, maxHeight)
	if !ok {
		return nil, false
	}
	s := &skiplist{a: a, head: head}
	s.height.Store(1)
	return s, true
}

func nodeSize(keyLen, valLen, height int) uint64 {
	return uint64(nodeHeaderSize+4*height) + uint64(keyLen) + uint64(valLen)
}

// allocNode allocates a node with nil links and writes its header and key.
// The caller writes the valLen value bytes at valueOffset.
func allocNode(a *arena, ukey []byte, trailer uint64, valLen int, height int) (uint32, bool) {
	size := nodeSize(len(ukey), valLen, height)
	if size > uint64(len(a.buf)) {
		return 0, false
	}
	off, ok := a.alloc(uint32(size))
	if !ok {
		return 0, false
	}
	*a.u32(off) = uint32(len(ukey))
	*a.u32(off + 4) = uint32(valLen)
	*(*uint64)(a.ptr(off + 8)) = trailer
	*(*uint64)(a.ptr(off + 16)) = keyPrefix(ukey)
	*a.u32(off + 24) = uint32(height)
	*a.u32(off + 32) = 0
	// The tower starts nil (the arena may be reused memory); insert sets
	// the links before it publishes the node, the heads keep them nil.
	clear(a.buf[off+nodeHeaderSize : off+nodeHeaderSize+4*uint32(height)])
	copy(a.buf[off+nodeHeaderSize+4*uint32(height):], ukey)
	return off, true
}

func valueOffset(node uint32, keyLen, height int) uint32 {
	return node + nodeHeaderSize + 4*uint32(height) + uint32(keyLen)
}

// splice is, per level, the nodes a key goes between: prev < key <= next
// (next 0 is the end of the list). A writer keeps the splice of its last
// insert so that a following larger key (an ascending batch) starts its
// search where the previous one ended instead of at the head.
type splice struct {
	prev, next [maxHeight]uint32
	// valid is false until a first full search; last is the internal key
	// of the last insert, in the arena.
	valid bool
	last  uint32
}

type insertResult int

const (
	inserted insertResult = iota
	duplicate
	full
)

// findSplice fills sp for k. With a valid splice whose last key is below
// k, it climbs from level 0 to the lowest level whose saved bracket still
// holds and searches down from there; otherwise it searches from the head.
func (s *skiplist) findSplice(k *searchKey, sp *splice) {
	a := s.a
	top := maxHeight - 1
	x := s.head
	if sp.valid && a.cmp(sp.last, k) < 0 {
		// Every saved prev is <= last < k; find the lowest level whose next
		// is still >= k (brackets loosen going up).
		l := 0
		for ; l < maxHeight; l++ {
			if n := sp.next[l]; n == 0 || a.cmp(n, k) >= 0 {
				break
			}
		}
		if l < maxHeight {
			if l == 0 {
				return
			}
			top = l - 1
			x = sp.prev[l]
		}
	} else {
		h := int(s.height.Load())
		for l := maxHeight - 1; l >= h; l-- {
			sp.prev[l], sp.next[l] = s.head, 0
		}
		top = h - 1
	}
	var known uint32 // a node already known to be >= k
	for l := top; l >= 0; l-- {
		for {
			n := a.next(x, l)
			if n == 0 || n == known || a.cmp(n, k) >= 0 {
				sp.prev[l], sp.next[l] = x, n
				known = n
				break
			}
			x = n
		}
	}
	sp.valid = true
}

// insert links a new node for k whose stored value (valLen bytes) is
// value in the form base.AppendValue gives for kind and expiry, and returns
// it. h is the base.KeyHash of k's user key if the list has an index. It
// finds the place with sp and leaves sp ready for the next, larger key.
// The node is complete before it is published. Writers must be serialized
// by the caller.
//
// A node of height 1 that is the new first version of a key the index
// holds (a write of a key written before, the common case of stream state:
// a value updated or deleted) needs no search: it goes right before the
// key's first node, whose prev link names its neighbour. Heights are drawn
// before the key is known, so the list keeps its shape.
func (s *skiplist) insert(k *searchKey, h uint64, height int, sp *splice, kind base.Kind, expiry base.Expiry, value []byte, valLen int) (uint32, insertResult) {
	a := s.a
	var link, first uint32 // the key's first node and the index link to it
	if s.idx != nil {
		link, first = s.idx.lookup(k, h)
		if first != 0 && height == 1 && a.trailer(first) < k.trailer {
			return s.insertFirst(k, h, link, first, sp, kind, expiry, value, valLen)
		}
	}
	s.findSplice(k, sp)
	if n := sp.next[0]; n != 0 && a.cmp(n, k) == 0 {
		return 0, duplicate
	}
	node, ok := allocNode(a, k.ukey, k.trailer, valLen, height)
	if !ok {
		return 0, full
	}
	prev0, next0 := sp.prev[0], sp.next[0]
	s.writeValue(node, k, height, kind, expiry, value, valLen)
	for l := 0; l < height; l++ {
		a.setNext(node, l, sp.next[l])
		a.setNext(sp.prev[l], l, node) // publishes the node at level l
		sp.prev[l] = node
	}
	a.setPrev(node, prev0)
	if next0 != 0 {
		a.setPrev(next0, node)
	}
	if uint32(height) > s.height.Load() {
		s.height.Store(uint32(height))
	}
	if s.idx != nil {
		// After the links: a reader that finds the node through the
		// index walks on from it at level 0.
		switch {
		case first == 0:
			s.idx.push(node, h)
		case next0 == first:
			s.idx.replace(link, first, node, h)
		case a.trailer(first) < k.trailer:
			// The index holds the first node of every key: an
			// accounting bug.
			panic(fmt.Sprintf("memtable: hash index has node %d for key %q, the new first version goes before node %d", first, k.ukey, next0))
		default:
			// An older version: the index keeps the first one.
		}
	}
	sp.last = node
	return node, inserted
}

// insertFirst links a node of height 1 for k right before first, the
// first node of k's user key, which sorts after k; link is the index link
// to first. sp stays valid for its last key: a node linked right after
// sp.prev[0] becomes sp.next[0].
func (s *skiplist) insertFirst(k *searchKey, h uint64, link, first uint32, sp *splice, kind base.Kind, expiry base.Expiry, value []byte, valLen int) (uint32, insertResult) {
	a := s.a
	node, ok := allocNode(a, k.ukey, k.trailer, valLen, 1)
	if !ok {
		return 0, full
	}
	s.writeValue(node, k, 1, kind, expiry, value, valLen)
	p := a.prev(first)
	a.setNext(node, 0, first)
	a.setNext(p, 0, node) // publishes the node
	a.setPrev(node, p)
	a.setPrev(first, node)
	s.idx.replace(link, first, node, h)
	if sp.prev[0] == p {
		sp.next[0] = node
	}
	return node, inserted
}

// writeValue writes the stored value of node, allocated for k with height.
func (s *skiplist) writeValue(node uint32, k *searchKey, height int, kind base.Kind, expiry base.Expiry, value []byte, valLen int) {
	if valLen > 0 {
		vs := valueOffset(node, len(k.ukey), height)
		base.AppendValue(s.a.buf[vs:vs:vs+uint32(valLen)], kind, expiry, value)
	}
}

// seekGE returns the first node >= k, or 0.
func (s *skiplist) seekGE(k *searchKey) uint32 {
	a := s.a
	x := s.head
	var known uint32
	for l := int(s.height.Load()) - 1; l >= 0; l-- {
		for {
			n := a.next(x, l)
			if n == 0 || n == known || a.cmp(n, k) >= 0 {
				known = n
				break
			}
			x = n
		}
	}
	return a.next(x, 0)
}

// seekLT returns the last node < k, or 0.
func (s *skiplist) seekLT(k *searchKey) uint32 {
	a := s.a
	x := s.head
	var known uint32
	for l := int(s.height.Load()) - 1; l >= 0; l-- {
		for {
			n := a.next(x, l)
			if n == 0 || n == known || a.cmp(n, k) >= 0 {
				known = n
				break
			}
			x = n
		}
	}
	if x == s.head {
		return 0
	}
	return x
}

// seekUserLT returns the last node whose user key is < ukey, or 0.
func (s *skiplist) seekUserLT(ukey []byte) uint32 {
	a := s.a
	k := makeSearchKey(ukey, 0)
	x := s.head
	var known uint32
	for l := int(s.height.Load()) - 1; l >= 0; l-- {
		for {
			n := a.next(x, l)
			if n == 0 || n == known || a.cmpUser(n, &k) >= 0 {
				known = n
				break
			}
			x = n
		}
	}
	if x == s.head {
		return 0
	}
	return x
}

func (s *skiplist) first() uint32 { return s.a.next(s.head, 0) }

func (s *skiplist) last() uint32 {
	x := s.head
	for l := int(s.height.Load()) - 1; l >= 0; l-- {
		for n := s.a.next(x, l); n != 0; n = s.a.next(x, l) {
			x = n
		}
	}
	if x == s.head {
		return 0
	}
	return x
}
