package sstable

import "github.com/sluicedata/sluice/statestore/sstable/base"

// The filter is a Bloom filter over user keys, h = base.KeyHash(user key).
// Two layouts exist; the last byte of the filter says which.
//
// Blocked (written by this version): nblocks 64-byte blocks of bits, then
// one byte 0x80|k. A key sets and tests k bits in a single block, so a
// lookup touches one cache line. The block is (h>>32)·nblocks >> 32, the
// high half of h mapped onto [0, nblocks) by a multiply-shift. The probes
// come from the low half: x = uint32(h)|1, and probe i tests bit x>>23 of
// the block and then sets x = x·bloomProbeMul (mod 2^32). Bit j of a block
// is bit j%8 of its byte j/8, which is bit j%64 of its little-endian
// uint64 word j/64. Forcing x odd keeps the probe sequence from collapsing
// (x·c^i for an x with many trailing zero bits has few distinct top bits).
//
// Legacy (written before the blocked layout; still read): nbits bits, then
// one byte k in [1, 30]. Probe i tests bit (h + i·delta) mod nbits, delta =
// h rotated by 32 bits.

// bloomBlockedFlag marks the blocked layout in the filter's last byte; the
// low seven bits hold k.
const bloomBlockedFlag = 0x80

// bloomBlockBytes is the size of one block of the blocked layout: a cache
// line.
const bloomBlockBytes = 64

// bloomProbeMul steps the probe state of the blocked layout. Any odd
// constant with well-mixed bits would do; this one is 2^32 divided by the
// golden ratio, rounded to odd.
const bloomProbeMul = 0x9e3779b9

// bloomBlockedProbes[b] is k for the blocked layout at b bits per key: the
// smallest k whose false-positive rate is within 1% of the lowest any k
// reaches, by the model in TestBloomBlockedProbesTable. A blocked filter
// wants fewer probes than the k = 0.69·b of a plain one (at 10 bits per
// key: 6, 0.96% false positives; at 20: 11, 0.019%).
var bloomBlockedProbes = [...]uint8{0,
	1, 1, 2, 3, 3, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, // 1..16
	10, 10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14, 14, 15, // 17..32
	15, 15, 15, 16, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 18, 18, // 33..48
	18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, // 49..64
}

// bloomProbes returns k for the blocked layout at bitsPerKey.
func bloomProbes(bitsPerKey int) int {
	return int(bloomBlockedProbes[min(max(bitsPerKey, 1), len(bloomBlockedProbes)-1)])
}

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

// finish returns the encoded filter in the blocked layout, or nil when there
// are no keys.
func (b *bloomBuilder) finish() []byte {
	if len(b.hashes) == 0 {
		return nil
	}
	bitsPerKey := max(b.bitsPerKey, 1)
	nblocks := max((len(b.hashes)*bitsPerKey+8*bloomBlockBytes-1)/(8*bloomBlockBytes), 1)
	k := bloomProbes(bitsPerKey)
	out := make([]byte, nblocks*bloomBlockBytes+1)
	for _, h := range b.hashes {
		blk := bloomBlock(out, uint64(nblocks), h)
		x := uint32(h) | 1
		for i := 0; i < k; i++ {
			bit := x >> 23
			blk[bit>>3] |= 1 << (bit & 7)
			x *= bloomProbeMul
		}
	}
	out[nblocks*bloomBlockBytes] = bloomBlockedFlag | byte(k)
	return out
}

// bloomBlock returns the block of filter (nblocks blocks, then the trailer)
// that holds the bits of the key whose hash is h.
func bloomBlock(filter []byte, nblocks, h uint64) *[bloomBlockBytes]byte {
	off := ((h >> 32) * nblocks >> 32) * bloomBlockBytes
	return (*[bloomBlockBytes]byte)(filter[off : off+bloomBlockBytes])
}

// bloomMayContain reports whether filter may hold the user key whose
// base.KeyHash is h. A malformed, empty or unknown filter answers true (it
// can only cost a block read, never a wrong answer).
func bloomMayContain(filter []byte, h uint64) bool {
	if len(filter) < 2 {
		return true
	}
	nbytes := len(filter) - 1
	t := filter[nbytes]
	if t&bloomBlockedFlag == 0 {
		return bloomMayContainLegacy(filter[:nbytes], int(t), h)
	}
	k := int(t &^ bloomBlockedFlag)
	if k == 0 || nbytes%bloomBlockBytes != 0 {
		return true
	}
	blk := bloomBlock(filter, uint64(nbytes/bloomBlockBytes), h)
	x := uint32(h) | 1
	for i := 0; i < k; i++ {
		bit := x >> 23
		if blk[bit>>3]&(1<<(bit&7)) == 0 {
			return false
		}
		x *= bloomProbeMul
	}
	return true
}

// bloomMayContainLegacy answers for the legacy layout: bits is the filter
// without its trailer and k the trailer byte.
func bloomMayContainLegacy(bits []byte, k int, h uint64) bool {
	if k < 1 || k > 30 {
		return true
	}
	nbits := uint64(len(bits) * 8)
	delta := h>>32 | h<<32
	for i := 0; i < k; i++ {
		bit := h % nbits
		if bits[bit/8]&(1<<(bit%8)) == 0 {
			return false
		}
		h += delta
	}
	return true
}
