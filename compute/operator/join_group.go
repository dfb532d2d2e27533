package operator

import (
	"bytes"

	"github.com/zeebo/xxh3"

	"github.com/sluicedata/sluice/compute/state"
)

// grouper assigns dense group ids to distinct (key, namespace) pairs of one
// batch: an open-addressing hash table over bytes kept in one buffer, reused
// across batches, so that grouping allocates nothing once warm.
type grouper struct {
	slots []int32 // group id + 1; 0 = empty
	mask  uint64

	buf     []byte  // key | namespace of every group
	offs    []int32 // group g is buf[offs[g]:offs[g+1]]
	keyLens []int32 // length of the key part of group g
	groups  []uint16
	hashes  []uint64
	scratch []byte
}

func (g *grouper) reset(expect int) {
	size := 16
	for size < 2*expect {
		size <<= 1
	}
	if cap(g.slots) < size {
		g.slots = make([]int32, size)
	} else {
		g.slots = g.slots[:size]
		clear(g.slots)
	}
	g.mask = uint64(size - 1)
	g.buf = g.buf[:0]
	g.offs = append(g.offs[:0], 0)
	g.keyLens = g.keyLens[:0]
	g.groups = g.groups[:0]
	g.hashes = g.hashes[:0]
}

// len returns the number of groups.
func (g *grouper) len() int { return len(g.groups) }

// key returns the state key of group i (aliasing the grouper's buffer).
func (g *grouper) key(i int) state.Key {
	s := g.offs[i]
	return state.Key{Group: g.groups[i], Bytes: g.buf[s : s+g.keyLens[i] : s+g.keyLens[i]]}
}

// ns returns the namespace of group i.
func (g *grouper) ns(i int) []byte {
	return g.buf[g.offs[i]+g.keyLens[i] : g.offs[i+1] : g.offs[i+1]]
}

// add returns the group of (k, ns), creating it if new.
func (g *grouper) add(k state.Key, ns []byte) int32 {
	g.scratch = append(append(g.scratch[:0], k.Bytes...), ns...)
	h := xxh3.Hash(g.scratch)
	if 2*(len(g.groups)+1) > len(g.slots) {
		g.grow()
	}
	for i := h & g.mask; ; i = (i + 1) & g.mask {
		s := g.slots[i]
		if s == 0 {
			id := int32(len(g.groups))
			g.slots[i] = id + 1
			g.buf = append(g.buf, g.scratch...)
			g.offs = append(g.offs, int32(len(g.buf)))
			g.keyLens = append(g.keyLens, int32(len(k.Bytes)))
			g.groups = append(g.groups, k.Group)
			g.hashes = append(g.hashes, h)
			return id
		}
		id := s - 1
		if g.hashes[id] == h && bytes.Equal(g.buf[g.offs[id]:g.offs[id+1]], g.scratch) {
			return id
		}
	}
}

func (g *grouper) grow() {
	size := 2 * len(g.slots)
	g.slots = make([]int32, size)
	g.mask = uint64(size - 1)
	for id, h := range g.hashes {
		i := h & g.mask
		for g.slots[i] != 0 {
			i = (i + 1) & g.mask
		}
		g.slots[i] = int32(id) + 1
	}
}

// csr lists the members of each group: members of group g are
// rows[start[g]:start[g+1]], in the order they were added.
type csr struct {
	start []int32
	rows  []int32
}

// build fills c from of[i], the group of member i (or -1: no group).
func (c *csr) build(of []int32, groups int, member func(i int) int32) {
	c.start = growInt32(c.start, groups+1)
	clear(c.start)
	n := 0
	for _, g := range of {
		if g >= 0 {
			c.start[g+1]++
			n++
		}
	}
	for g := 1; g <= groups; g++ {
		c.start[g] += c.start[g-1]
	}
	c.rows = growInt32(c.rows, n)
	// Fill using start as cursors, then shift back.
	for i, g := range of {
		if g >= 0 {
			c.rows[c.start[g]] = member(i)
			c.start[g]++
		}
	}
	for g := groups; g > 0; g-- {
		c.start[g] = c.start[g-1]
	}
	c.start[0] = 0
}

func (c *csr) members(g int32) []int32 { return c.rows[c.start[g]:c.start[g+1]] }

func growInt32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n, n+n/4)
	}
	return s[:n]
}
