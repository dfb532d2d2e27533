package lsm

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"

	"github.com/sluicedata/sluice/statestore"
)

// applyKey is a point operation's place in Apply's order: the first 16
// bytes of its key, big-endian and zero-padded, and its index in the batch.
// Two keys whose words differ are ordered by them as by bytes.Compare (at
// the first differing byte, either both keys have a byte or the shorter
// key ended there and is a prefix of the other); equal words need the
// keys.
type applyKey struct {
	k0, k1 uint64
	i      int32
}

// applyKeys holds sortPointOps's scratch between calls.
var applyKeys = sync.Pool{New: func() any { return new([]applyKey) }}

// keyWord returns key[off:off+8] as a big-endian integer, zero-padded.
func keyWord(key []byte, off int) uint64 {
	if len(key) >= off+8 {
		return binary.BigEndian.Uint64(key[off:])
	}
	var b [8]byte
	if off < len(key) {
		copy(b[:], key[off:])
	}
	return binary.BigEndian.Uint64(b[:])
}

// sortPointOps appends to order the indexes of ops' point operations (not
// range deletions) in internal-key order: key ascending, then the later
// operation (the higher seqnum) first. Most comparisons are of two integer
// words held in the sorted records; keys are read only where 16 bytes tie.
func sortPointOps(ops []statestore.Op, order []int32) []int32 {
	p := applyKeys.Get().(*[]applyKey)
	keys := (*p)[:0]
	for i := range ops {
		if k := ops[i].Key; ops[i].Kind != statestore.OpDeleteRange {
			keys = append(keys, applyKey{k0: keyWord(k, 0), k1: keyWord(k, 8), i: int32(i)})
		}
	}
	slices.SortFunc(keys, func(a, b applyKey) int {
		switch {
		case a.k0 != b.k0:
			if a.k0 < b.k0 {
				return -1
			}
			return 1
		case a.k1 != b.k1:
			if a.k1 < b.k1 {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(ops[a.i].Key, ops[b.i].Key); c != 0 {
			return c
		}
		return int(b.i - a.i)
	})
	for _, k := range keys {
		order = append(order, k.i)
	}
	if cap(keys) <= maxApplyScratch {
		*p = keys[:0]
		applyKeys.Put(p)
	}
	return order
}
