package sstable

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// Readable is a random-access source of table bytes: a local file, a byte
// slice, or a remote object read with ranged GETs (possibly through a disk
// cache).
//
// ReadAt fills p entirely from offset off or returns an error; a short read
// is an error. ReadAt may be called concurrently from several goroutines.
// Size returns the object's length and does not change.
type Readable interface {
	ReadAt(ctx context.Context, p []byte, off int64) error
	Size() int64
}

// BlockCache caches decoded (checksum-verified, decompressed) blocks keyed by
// (file id, block offset). Implementations must be safe for concurrent use.
// Cached slices are shared and must never be modified by anyone; Set hands
// ownership of block to the cache.
type BlockCache interface {
	Get(fileID, offset uint64) ([]byte, bool)
	Set(fileID, offset uint64, block []byte)
}

// ReaderOptions configure a Reader.
type ReaderOptions struct {
	// Name identifies the object in errors. Default "<unnamed>".
	Name string
	// FileID is the cache key of this table; it must be unique among the
	// tables sharing Cache. Required when Cache is set.
	FileID uint64
	// Cache, if set, holds decoded data blocks across reads.
	Cache BlockCache
	// TailSize, if set, is the length of the table's metadata region and
	// footer (Metadata.TailSize): Open then reads them with one request
	// instead of two (footer, then metadata). A wrong value costs at most
	// the second request.
	TailSize int64
}

// Reader reads a table. Open loads the footer, index, filter, range
// deletions and properties; data blocks are read on demand. A Reader is
// immutable after Open and safe for concurrent use. It holds no resources of
// its own: there is nothing to close.
type Reader struct {
	src       Readable
	opts      ReaderOptions
	size      int64
	dataEnd   uint64 // offset of the filter block: data blocks lie below it
	footer    footer
	index     []byte
	points    pointIndex
	filter    []byte
	rangeDels []base.RangeDel
	frags     base.Fragments
	// maxRangeDelSeq is the largest seqnum of the range deletions (0: none).
	maxRangeDelSeq uint64
	props          *Properties
}

// Open reads the table's metadata with two reads: the footer, then the
// contiguous metadata region (filter, range deletions, properties, index);
// or with one read of both when ReaderOptions.TailSize covers them.
func Open(ctx context.Context, src Readable, opts ReaderOptions) (*Reader, error) {
	if opts.Name == "" {
		opts.Name = "<unnamed>"
	}
	r := &Reader{src: src, opts: opts, size: src.Size()}
	if r.size < footerLen {
		return nil, r.corrupt(0, "object of %d bytes is shorter than the %d-byte footer", r.size, footerLen)
	}
	// tail holds the last bytes of the object, footer included.
	tailLen := min(max(opts.TailSize, footerLen), r.size)
	tail := make([]byte, tailLen)
	if err := src.ReadAt(ctx, tail, r.size-tailLen); err != nil {
		return nil, fmt.Errorf("sstable: read footer of %s: %w", opts.Name, err)
	}
	foff := r.size - footerLen
	f, err := decodeFooter(tail[tailLen-footerLen:], opts.Name, foff)
	if err != nil {
		return nil, err
	}
	r.footer = f
	// The metadata blocks are written in this order, back to back, right
	// before the footer.
	metaStart := f.filter.Offset
	if metaStart > uint64(foff) {
		return nil, r.corrupt(foff, "filter handle offset %d beyond footer", metaStart)
	}
	hs := []blockHandle{f.filter, f.rangeDel, f.props, f.index}
	next := metaStart
	for i, h := range hs {
		if h.Offset != next || h.Length > uint64(foff) {
			return nil, r.corrupt(foff+int64(16*i), "footer handle %d (%d,%d) out of place", i, h.Offset, h.Length)
		}
		next = h.Offset + h.Length + blockTrailerLen
	}
	if next != uint64(foff) {
		return nil, r.corrupt(foff, "metadata ends at %d, footer at %d", next, foff)
	}
	r.dataEnd = metaStart
	var meta []byte
	if tailStart := uint64(r.size - tailLen); tailStart <= metaStart {
		meta = tail[metaStart-tailStart : tailLen-footerLen]
	} else {
		meta = make([]byte, uint64(foff)-metaStart)
		if err := src.ReadAt(ctx, meta, int64(metaStart)); err != nil {
			return nil, fmt.Errorf("sstable: read metadata of %s: %w", opts.Name, err)
		}
	}
	sub := func(h blockHandle) ([]byte, error) {
		s := h.Offset - metaStart
		return r.decodeBlock(meta[s:s+h.Length+blockTrailerLen], h)
	}
	if r.filter, err = sub(f.filter); err != nil {
		return nil, err
	}
	propsRaw, err := sub(f.props)
	if err != nil {
		return nil, err
	}
	if r.props, err = decodeProperties(propsRaw); err != nil {
		return nil, r.corrupt(int64(f.props.Offset), "properties: %v", err)
	}
	if r.index, err = sub(f.index); err != nil {
		return nil, err
	}
	if r.points, err = r.buildPointIndex(r.index, int64(f.index.Offset)); err != nil {
		return nil, err
	}
	var bi blockIter
	rd, err := sub(f.rangeDel)
	if err != nil {
		return nil, err
	}
	if err := bi.init(rd, opts.Name, int64(f.rangeDel.Offset)); err != nil {
		return nil, err
	}
	for ok := bi.first(); ok; ok = bi.next() {
		if bi.ikey.Kind() != base.KindRangeDelete || bytes.Compare(bi.ikey.UserKey, bi.val) >= 0 {
			return nil, r.corrupt(int64(f.rangeDel.Offset), "bad range deletion %s", bi.ikey)
		}
		r.rangeDels = append(r.rangeDels, base.RangeDel{
			Start: bytes.Clone(bi.ikey.UserKey), End: bytes.Clone(bi.val), SeqNum: bi.ikey.SeqNum(),
		})
	}
	if bi.err != nil {
		return nil, bi.err
	}
	r.frags = base.Fragmentize(r.rangeDels)
	for _, d := range r.rangeDels {
		r.maxRangeDelSeq = max(r.maxRangeDelSeq, d.SeqNum)
	}
	return r, nil
}

func (r *Reader) corrupt(off int64, format string, args ...any) error {
	return &CorruptionError{Object: r.opts.Name, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

// decodeBlock verifies the checksum of b (payload plus trailer) and
// decompresses it.
func (r *Reader) decodeBlock(b []byte, h blockHandle) ([]byte, error) {
	n := int(h.Length)
	if len(b) != n+blockTrailerLen {
		return nil, r.corrupt(int64(h.Offset), "block of %d bytes, want %d", len(b), n+blockTrailerLen)
	}
	stored := binary.LittleEndian.Uint64(b[n+1:])
	if sum := xxhash.Sum64(b[:n+1]); sum != stored {
		return nil, r.corrupt(int64(h.Offset), "block checksum %#x, stored %#x", sum, stored)
	}
	c := Compression(b[n])
	out, err := decompress(c, b[:n])
	if err != nil {
		return nil, r.corrupt(int64(h.Offset), "decompress %s block: %v", c, err)
	}
	return out, nil
}

// readDataBlock returns the decoded data block at h, through the cache.
func (r *Reader) readDataBlock(ctx context.Context, h blockHandle) ([]byte, error) {
	if h.Offset > r.dataEnd || h.Length > r.dataEnd-h.Offset || r.dataEnd-h.Offset-h.Length < blockTrailerLen {
		return nil, r.corrupt(int64(h.Offset), "data block handle (%d,%d) beyond data end %d", h.Offset, h.Length, r.dataEnd)
	}
	if b := r.cachedDataBlock(h); b != nil {
		return b, nil
	}
	buf := make([]byte, h.Length+blockTrailerLen)
	if err := r.src.ReadAt(ctx, buf, int64(h.Offset)); err != nil {
		return nil, fmt.Errorf("sstable: read block of %s at offset %d: %w", r.opts.Name, h.Offset, err)
	}
	b, err := r.decodeBlock(buf, h)
	if err != nil {
		return nil, err
	}
	if r.opts.Cache != nil {
		r.opts.Cache.Set(r.opts.FileID, h.Offset, b)
	}
	return b, nil
}

// cachedDataBlock returns the data block at h if the block cache holds it,
// else nil. The caller has checked h against the data end, or will through
// readDataBlock.
func (r *Reader) cachedDataBlock(h blockHandle) []byte {
	if r.opts.Cache == nil {
		return nil
	}
	if b, ok := r.opts.Cache.Get(r.opts.FileID, h.Offset); ok {
		return b
	}
	return nil
}

// Properties returns the table properties. The result must not be modified.
func (r *Reader) Properties() *Properties { return r.props }

// Size returns the object size.
func (r *Reader) Size() int64 { return r.size }

// RangeDels returns the table's range deletions sorted by start key, then
// seqnum descending. The result must not be modified.
func (r *Reader) RangeDels() []base.RangeDel { return r.rangeDels }

// RangeDelFragments returns the range deletions as non-overlapping
// fragments. The result must not be modified.
func (r *Reader) RangeDelFragments() base.Fragments { return r.frags }

// MayContain consults the Bloom filter: false means the table has no point
// entry for ukey (a range deletion may still cover it).
func (r *Reader) MayContain(ukey []byte) bool { return bloomMayContain(r.filter, base.KeyHash(ukey)) }

// MayContainHash is MayContain for a key whose base.KeyHash the caller
// computed.
func (r *Reader) MayContainHash(hash uint64) bool { return bloomMayContain(r.filter, hash) }

// Get returns the newest entry for ukey. See GetAt.
func (r *Reader) Get(ctx context.Context, ukey []byte) (base.Entry, bool, error) {
	return r.GetAt(ctx, ukey, base.SeqNumMax)
}

// GetAt returns the newest entry for ukey with a sequence number <= readSeq,
// honoring this table's range deletions: if a visible range deletion covering
// ukey is newer than the newest point entry, the result has kind
// KindRangeDelete. ok is false when the table says nothing about ukey. The
// entry's Value aliases an immutable block; do not modify it.
func (r *Reader) GetAt(ctx context.Context, ukey []byte, readSeq uint64) (base.Entry, bool, error) {
	return r.GetAtHash(ctx, ukey, base.KeyHash(ukey), readSeq)
}

// GetAtHash is GetAt for a key whose base.KeyHash the caller computed.
func (r *Reader) GetAtHash(ctx context.Context, ukey []byte, hash, readSeq uint64) (base.Entry, bool, error) {
	e, found, err := r.GetPointAtHash(ctx, ukey, hash, readSeq)
	if err != nil {
		return base.Entry{}, false, err
	}
	if s, ok := r.MaxCoveringRangeDel(ukey, readSeq); ok && (!found || s > e.SeqNum) {
		return base.Entry{Kind: base.KindRangeDelete, SeqNum: s}, true, nil
	}
	return e, found, nil
}

// GetPointAtHash is GetAtHash without the range deletions: the newest
// point entry (set or delete) of ukey with seqnum <= readSeq. A reader of
// several tables can look for the point first and ask MaxCoveringRangeDel
// only of the tables at least as new as the one that has it.
func (r *Reader) GetPointAtHash(ctx context.Context, ukey []byte, hash, readSeq uint64) (base.Entry, bool, error) {
	if !bloomMayContain(r.filter, hash) {
		return base.Entry{}, false, nil
	}
	e, found, _, err := r.getPoint(ctx, ukey, readSeq, false)
	return e, found, err
}

// TryGetPointAtHash is GetPointAtHash answered from memory only: the
// filter, the index and the block cache. done is false when the answer
// needs a data block that is not cached; the caller then reads with
// GetPointAtHash. It never fails: a corrupt cached block leaves done
// false, so that GetPointAtHash reports it.
func (r *Reader) TryGetPointAtHash(ukey []byte, hash, readSeq uint64) (e base.Entry, found, done bool) {
	if !bloomMayContain(r.filter, hash) {
		return base.Entry{}, false, true
	}
	e, found, done, err := r.getPoint(context.Background(), ukey, readSeq, true)
	if err != nil {
		return base.Entry{}, false, false
	}
	return e, found, done
}

// MaxCoveringRangeDel returns the largest seqnum <= readSeq of the table's
// range deletions that cover ukey, and whether there is one.
func (r *Reader) MaxCoveringRangeDel(ukey []byte, readSeq uint64) (uint64, bool) {
	return r.frags.MaxCovering(ukey, readSeq)
}

// MaxCoveringRangeDelAbove is MaxCoveringRangeDel for a caller that only
// cares about deletions above floor (the seqnum of the point entry it
// found): a table whose deletions are all at or below floor is not
// searched.
func (r *Reader) MaxCoveringRangeDelAbove(ukey []byte, readSeq, floor uint64) (uint64, bool) {
	if r.maxRangeDelSeq <= floor {
		return 0, false
	}
	s, ok := r.frags.MaxCovering(ukey, readSeq)
	if !ok || s <= floor {
		return 0, false
	}
	return s, true
}

// pointScratch is the block iterator of one point read.
type pointScratch struct{ data blockIter }

var pointPool = sync.Pool{New: func() any { return new(pointScratch) }}

// put returns s to the pool, keeping only the key buffers (no block stays
// reachable from the pool).
func (s *pointScratch) put() {
	s.data = blockIter{key: s.data.key[:0]}
	pointPool.Put(s)
}

// getPoint finds ukey's newest point entry at or below readSeq. With
// cachedOnly, a data block missing from the cache ends the search with done
// false.
func (r *Reader) getPoint(ctx context.Context, ukey []byte, readSeq uint64, cachedOnly bool) (e base.Entry, found, done bool, err error) {
	target := base.MakeInternalKey(ukey, readSeq, base.KindMax)
	// A pooled iterator keeps its key buffer, so a point read allocates
	// nothing. The result aliases the block, never the buffer.
	s := pointPool.Get().(*pointScratch)
	defer s.put()
	data := &s.data
	for i := r.points.search(target); i < len(r.points.handles); i++ {
		h := r.points.handles[i]
		var b []byte
		if cachedOnly {
			if b = r.cachedDataBlock(h); b == nil {
				return base.Entry{}, false, false, nil
			}
		} else if b, err = r.readDataBlock(ctx, h); err != nil {
			return base.Entry{}, false, false, err
		}
		if err := data.init(b, r.opts.Name, int64(h.Offset)); err != nil {
			return base.Entry{}, false, false, err
		}
		if data.seekGE(target) {
			if !bytes.Equal(data.ikey.UserKey, ukey) {
				return base.Entry{}, false, true, nil
			}
			k := data.ikey.Kind()
			v, exp, vok := base.DecodeValue(k, data.val)
			if !vok || !k.Valid() || k == base.KindRangeDelete {
				return base.Entry{}, false, false, r.corrupt(int64(h.Offset), "bad entry %s", data.ikey)
			}
			return base.Entry{Kind: k, SeqNum: data.ikey.SeqNum(), Value: v, Expiry: exp}, true, true, nil
		}
		if data.err != nil {
			return base.Entry{}, false, false, data.err
		}
		// The block ended before target: continue with the next block.
	}
	return base.Entry{}, false, true, nil
}

// errIterClosed is returned by an iterator used after Close.
var errIterClosed = errors.New("sstable: iterator is closed")
