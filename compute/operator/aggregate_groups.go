package operator

import (
	"github.com/zeebo/xxh3"
)

// aggByteSet assigns dense ids (0, 1, ...) to distinct byte strings in order of
// first appearance. It is the per-batch group-by of the aggregate and top-n
// operators: reset keeps its memory, so a set reused across batches stops
// allocating once it has grown. Not safe for concurrent use.
type aggByteSet struct {
	buf    []byte
	offs   []int32 // key i is buf[offs[i]:offs[i+1]]
	hashes []uint64
	slots  []int32 // open addressing, linear probing; -1 = empty
	mask   uint64
}

func (s *aggByteSet) reset(expected int) {
	s.buf = s.buf[:0]
	s.offs = append(s.offs[:0], 0)
	s.hashes = s.hashes[:0]
	n := 16
	for n < 2*expected {
		n <<= 1
	}
	if cap(s.slots) < n {
		s.slots = make([]int32, n)
	}
	s.slots = s.slots[:n]
	for i := range s.slots {
		s.slots[i] = -1
	}
	s.mask = uint64(n - 1)
}

func (s *aggByteSet) len() int { return len(s.hashes) }

func (s *aggByteSet) key(id int32) []byte { return s.buf[s.offs[id]:s.offs[id+1]:s.offs[id+1]] }

func aggEqBytes(a, b []byte) bool { return string(a) == string(b) }

// add returns the id of k, adding it (copying its bytes) when new.
func (s *aggByteSet) add(k []byte) (id int32, added bool) {
	h := xxh3.Hash(k)
	for p := h & s.mask; ; p = (p + 1) & s.mask {
		g := s.slots[p]
		if g < 0 {
			id = int32(len(s.hashes))
			s.slots[p] = id
			s.hashes = append(s.hashes, h)
			s.buf = append(s.buf, k...)
			s.offs = append(s.offs, int32(len(s.buf)))
			if 2*len(s.hashes) > len(s.slots) {
				s.grow()
			}
			return id, true
		}
		if s.hashes[g] == h && aggEqBytes(s.key(g), k) {
			return g, false
		}
	}
}

func (s *aggByteSet) grow() {
	n := 2 * len(s.slots)
	s.slots = make([]int32, n)
	for i := range s.slots {
		s.slots[i] = -1
	}
	s.mask = uint64(n - 1)
	for g, h := range s.hashes {
		p := h & s.mask
		for s.slots[p] >= 0 {
			p = (p + 1) & s.mask
		}
		s.slots[p] = int32(g)
	}
}
