package sstable

import "github.com/sluicedata/sluice/statestore/sstable/base"

// The filter is a plain Bloom filter over user keys: nbits bits followed by
// one byte holding k, the number of probes. Probe i tests bit
// (h + i*delta) mod nbits, where h is base.KeyHash of the user key and delta
// is h rotated by 32 bits (double hashing).

type bloomBuilder struct {
	bitsPerKey int
	hashes     []uint64
}

func (b *bloomBuilder) add(ukey []byte) {
	h := base.KeyHash(ukey)
	if n := len(b.hashes); n > 0 && b.hashes[n-1] == h {
		return // versions of the same user key arrive together
	}
	b.hashes = append(b.hashes, h)
}

func bloomProbes(bitsPerKey int) int {
	k := bitsPerKey * 69 / 100 // ln 2 ≈ 0.69
	return min(max(k, 1), 30)
}

// finish returns the encoded filter, or nil when there are no keys.
func (b *bloomBuilder) finish() []byte {
	if len(b.hashes) == 0 {
		return nil
	}
	nbits := max(len(b.hashes)*b.bitsPerKey, 64)
	nbytes := (nbits + 7) / 8
	nbits = nbytes * 8
	k := bloomProbes(b.bitsPerKey)
	out := make([]byte, nbytes+1)
	for _, h := range b.hashes {
		delta := h>>32 | h<<32
		for i := 0; i < k; i++ {
			bit := h % uint64(nbits)
			out[bit/8] |= 1 << (bit % 8)
			h += delta
		}
	}
	out[nbytes] = byte(k)
	return out
}

// bloomMayContain reports whether filter may hold the user key whose
// base.KeyHash is h. A malformed or empty filter answers true (it can only
// cost a block read, never a wrong answer).
func bloomMayContain(filter []byte, h uint64) bool {
	if len(filter) < 2 {
		return true
	}
	nbytes := len(filter) - 1
	k := int(filter[nbytes])
	if k < 1 || k > 30 {
		return true
	}
	nbits := uint64(nbytes * 8)
	delta := h>>32 | h<<32
	for i := 0; i < k; i++ {
		bit := h % nbits
		if filter[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
		h += delta
	}
	return true
}
