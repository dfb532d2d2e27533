package sstable

import (
	"encoding/binary"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// pointIndex is the index block decoded once, at Open, for point reads: a
// binary search over a dense array of 8-byte key prefixes touches a few
// cache lines, where a search of the encoded block decodes an entry per
// probe. Iterators keep using the encoded block.
type pointIndex struct {
	prefixes []uint64           // keyPrefix of each separator's user key
	keys     []base.InternalKey // separators: the last key of each data block
	handles  []blockHandle
}

// keyPrefix returns the first 8 bytes of ukey as a big-endian integer,
// zero-padded: prefix(a) < prefix(b) implies a < b in byte order; equal
// prefixes say nothing.
func keyPrefix(ukey []byte) uint64 {
	if len(ukey) >= 8 {
		return binary.BigEndian.Uint64(ukey)
	}
	var b [8]byte
	copy(b[:], ukey)
	return binary.BigEndian.Uint64(b[:])
}

// buildPointIndex decodes index (at offset off of the object) into a
// pointIndex. The separators are copied into one buffer.
func (r *Reader) buildPointIndex(index []byte, off int64) (pointIndex, error) {
	var bi blockIter
	if err := bi.init(index, r.opts.Name, off); err != nil {
		return pointIndex{}, err
	}
	var p pointIndex
	var buf []byte
	var ends []int
	var trailers []uint64
	for ok := bi.first(); ok; ok = bi.next() {
		h, hok := decodeVarintHandle(bi.val)
		if !hok {
			return pointIndex{}, r.corrupt(off+int64(bi.offset), "bad block handle in index")
		}
		buf = append(buf, bi.ikey.UserKey...)
		ends = append(ends, len(buf))
		trailers = append(trailers, bi.ikey.Trailer)
		p.handles = append(p.handles, h)
	}
	if bi.err != nil {
		return pointIndex{}, bi.err
	}
	p.prefixes = make([]uint64, len(ends))
	p.keys = make([]base.InternalKey, len(ends))
	start := 0
	for i, end := range ends {
		uk := buf[start:end:end]
		p.prefixes[i] = keyPrefix(uk)
		p.keys[i] = base.InternalKey{UserKey: uk, Trailer: trailers[i]}
		start = end
	}
	return p, nil
}

// search returns the index of the first separator >= target, or the
// number of separators.
func (p *pointIndex) search(target base.InternalKey) int {
	tp := keyPrefix(target.UserKey)
	lo, hi := 0, len(p.prefixes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		pm := p.prefixes[m]
		if pm < tp || (pm == tp && base.Compare(p.keys[m], target) < 0) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
