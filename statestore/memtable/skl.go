package memtable

import (
	"bytes"
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// Arena layout of a node (offsets from the node's 4-aligned start):
//
//	0   keyLen   uint32
//	4   valLen   uint32  (stored value: expiry prefix + user value)
//	8   trailer  uint64  (little-endian)
//	16  height   uint32
//	20  tower    [height]uint32 — next-node offsets, accessed atomically
//	..  key bytes, then value bytes
//
// Offset 0 is the nil node; the arena never hands it out.
const (
	maxHeight      = 20
	nodeHeaderSize = 20
	pBranch        = 4 // a node reaches level l+1 with probability 1/pBranch
)

type arena struct {
	buf []byte
	n   atomic.Uint32 // bytes used; written only by the (single) writer
}

func newArena(capacity uint32) *arena {
	a := &arena{buf: make([]byte, capacity)}
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

func (a *arena) u32(off uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(&a.buf[off]))
}

func (a *arena) next(node uint32, level int) uint32 {
	return atomic.LoadUint32(a.u32(node + nodeHeaderSize + 4*uint32(level)))
}

func (a *arena) setNext(node uint32, level int, to uint32) {
	atomic.StoreUint32(a.u32(node+nodeHeaderSize+4*uint32(level)), to)
}

func (a *arena) height(node uint32) uint32 { return binary.LittleEndian.Uint32(a.buf[node+16:]) }

func (a *arena) key(node uint32) base.InternalKey {
	kl := binary.LittleEndian.Uint32(a.buf[node:])
	ks := node + nodeHeaderSize + 4*a.height(node)
	return base.InternalKey{
		UserKey: a.buf[ks : ks+kl : ks+kl],
		Trailer: binary.LittleEndian.Uint64(a.buf[node+8:]),
	}
}

func (a *arena) value(node uint32) []byte {
	kl := binary.LittleEndian.Uint32(a.buf[node:])
	vl := binary.LittleEndian.Uint32(a.buf[node+4:])
	vs := node + nodeHeaderSize + 4*a.height(node) + kl
	return a.buf[vs : vs+vl : vs+vl]
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
}

func newSkiplist(a *arena) (*skiplist, bool) {
	head, ok := allocNode(a, base.InternalKey{}, 0, maxHeight, nil)
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

// allocNode allocates and fills a node, with nil links. storeValue writes
// the value bytes into dst (exactly valLen bytes).
func allocNode(a *arena, k base.InternalKey, valLen int, height int, storeValue func(dst []byte)) (uint32, bool) {
	size := nodeSize(len(k.UserKey), valLen, height)
	if size > uint64(len(a.buf)) {
		return 0, false
	}
	off, ok := a.alloc(uint32(size))
	if !ok {
		return 0, false
	}
	b := a.buf[off : uint64(off)+size]
	binary.LittleEndian.PutUint32(b[0:], uint32(len(k.UserKey)))
	binary.LittleEndian.PutUint32(b[4:], uint32(valLen))
	binary.LittleEndian.PutUint64(b[8:], k.Trailer)
	binary.LittleEndian.PutUint32(b[16:], uint32(height))
	ks := nodeHeaderSize + 4*height
	copy(b[ks:], k.UserKey)
	if storeValue != nil {
		storeValue(b[ks+len(k.UserKey):])
	}
	return off, true
}

// errDuplicate and errFull are returned by insert.
type insertResult int

const (
	inserted insertResult = iota
	duplicate
	full
)

// insert links a new node. Writers must be serialized by the caller.
func (s *skiplist) insert(k base.InternalKey, valLen int, height int, storeValue func([]byte)) insertResult {
	var prev [maxHeight]uint32
	var next [maxHeight]uint32
	h := int(s.height.Load())
	x := s.head
	for l := maxHeight - 1; l >= 0; l-- {
		if l >= h {
			prev[l], next[l] = s.head, 0
			continue
		}
		for {
			n := s.a.next(x, l)
			if n == 0 || base.Compare(s.a.key(n), k) >= 0 {
				prev[l], next[l] = x, n
				break
			}
			x = n
		}
	}
	if next[0] != 0 && base.Compare(s.a.key(next[0]), k) == 0 {
		return duplicate
	}
	node, ok := allocNode(s.a, k, valLen, height, storeValue)
	if !ok {
		return full
	}
	for l := 0; l < height; l++ {
		s.a.setNext(node, l, next[l])
		s.a.setNext(prev[l], l, node) // publishes the node at level l
	}
	if height > h {
		s.height.Store(uint32(height))
	}
	return inserted
}

// seekGE returns the first node >= k, or 0.
func (s *skiplist) seekGE(k base.InternalKey) uint32 {
	x := s.head
	for l := int(s.height.Load()) - 1; l >= 0; l-- {
		for {
			n := s.a.next(x, l)
			if n == 0 || base.Compare(s.a.key(n), k) >= 0 {
				break
			}
			x = n
		}
	}
	return s.a.next(x, 0)
}

// seekLT returns the last node < k, or 0.
func (s *skiplist) seekLT(k base.InternalKey) uint32 {
	x := s.head
	for l := int(s.height.Load()) - 1; l >= 0; l-- {
		for {
			n := s.a.next(x, l)
			if n == 0 || base.Compare(s.a.key(n), k) >= 0 {
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
	x := s.head
	for l := int(s.height.Load()) - 1; l >= 0; l-- {
		for {
			n := s.a.next(x, l)
			if n == 0 || bytes.Compare(s.a.key(n).UserKey, ukey) >= 0 {
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
