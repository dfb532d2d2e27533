package sstable

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// WriterOptions configure a Writer. The zero value is valid.
type WriterOptions struct {
	// BlockSize is the target uncompressed size of a data block in bytes.
	// Default 32 KiB.
	BlockSize int
	// RestartInterval is the number of keys between restart points in data
	// blocks. Default 16.
	RestartInterval int
	// BloomBitsPerKey sets the Bloom filter density. Default 10 (about 1%
	// false positives). Negative disables the filter.
	BloomBitsPerKey int
	// Compression is the block codec. Default CompressionSnappy.
	Compression Compression
	// Cache, if set, receives a copy of each data block written, in the
	// decoded form a Reader caches (keyed by FileID and the block's
	// offset), so that reads of the table just written hit the cache.
	Cache BlockCache
	// FileID is the table's cache key, as the Reader will use it
	// (ReaderOptions.FileID). Used with Cache.
	FileID uint64
}

// EnsureDefaults fills zero fields with their defaults.
func (o *WriterOptions) EnsureDefaults() {
	if o.BlockSize == 0 {
		o.BlockSize = 32 << 10
	}
	if o.RestartInterval == 0 {
		o.RestartInterval = 16
	}
	if o.BloomBitsPerKey == 0 {
		o.BloomBitsPerKey = 10
	}
	if o.Compression == CompressionDefault {
		o.Compression = CompressionSnappy
	}
}

// Validate reports every bad field.
func (o *WriterOptions) Validate() error {
	var err error
	if o.BlockSize < 0 || o.BlockSize > 64<<20 {
		err = errors.Join(err, fmt.Errorf("sstable: WriterOptions.BlockSize %d: must be in [1, 64 MiB]", o.BlockSize))
	}
	if o.RestartInterval < 0 || o.RestartInterval > 1024 {
		err = errors.Join(err, fmt.Errorf("sstable: WriterOptions.RestartInterval %d: must be in [1, 1024]", o.RestartInterval))
	}
	if o.BloomBitsPerKey > 64 {
		err = errors.Join(err, fmt.Errorf("sstable: WriterOptions.BloomBitsPerKey %d: must be at most 64", o.BloomBitsPerKey))
	}
	if o.Compression >= compressionCount {
		err = errors.Join(err, fmt.Errorf("sstable: WriterOptions.Compression %d: unknown codec", o.Compression))
	}
	return err
}

// ErrWriterClosed is returned by a Writer used after Finish or Abort, or
// after an earlier write error.
var ErrWriterClosed = errors.New("sstable: writer is finished")

// Writer builds a table and streams it to an io.Writer. Point entries must
// be added in strictly increasing internal-key order; range deletions may be
// added in any order. A Writer must end in Finish or Abort. It is not safe
// for concurrent use.
type Writer struct {
	w      io.Writer
	opts   WriterOptions
	offset uint64

	data    blockWriter
	index   blockWriter
	bloom   bloomBuilder
	lastKey []byte // encoded internal key of the last point entry
	hasLast bool
	scratch []byte
	cbuf    []byte

	rangeDels []base.RangeDel
	props     Properties
	err       error
	done      bool
}

// NewWriter returns a Writer that writes to w. The options are defaulted and
// validated.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	tw := &Writer{w: w, opts: opts}
	tw.data.restartInterval = opts.RestartInterval
	tw.index.restartInterval = 1
	tw.bloom.bitsPerKey = max(opts.BloomBitsPerKey, 0)
	tw.props.Compression = opts.Compression
	if opts.BloomBitsPerKey > 0 {
		tw.props.BloomBitsPerKey = uint64(opts.BloomBitsPerKey)
	}
	return tw, nil
}

// Set adds a value. expiry may be base.NoExpiry.
func (w *Writer) Set(ukey []byte, seq uint64, value []byte, expiry base.Expiry) error {
	return w.Add(base.MakeInternalKey(ukey, seq, base.KindSet), value, expiry)
}

// Delete adds a point tombstone.
func (w *Writer) Delete(ukey []byte, seq uint64) error {
	return w.Add(base.MakeInternalKey(ukey, seq, base.KindDelete), nil, base.NoExpiry)
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

func (w *Writer) noteKeyGroups(lo, hi uint16) {
	if !w.props.HasKeys() {
		w.props.MinKeyGroup, w.props.MaxKeyGroup = lo, hi
		return
	}
	w.props.MinKeyGroup = min(w.props.MinKeyGroup, lo)
	w.props.MaxKeyGroup = max(w.props.MaxKeyGroup, hi)
}

func (w *Writer) noteSeq(seq uint64) {
	if !w.props.HasKeys() {
		w.props.MinSeqNum, w.props.MaxSeqNum = seq, seq
		return
	}
	w.props.MinSeqNum = min(w.props.MinSeqNum, seq)
	w.props.MaxSeqNum = max(w.props.MaxSeqNum, seq)
}

func (w *Writer) noteBounds(k base.InternalKey) {
	if !w.props.HasKeys() {
		w.props.SmallestKey, w.props.LargestKey = k.Clone(), k.Clone()
		return
	}
	if base.Compare(k, w.props.SmallestKey) < 0 {
		w.props.SmallestKey = k.Clone()
	}
	if base.Compare(k, w.props.LargestKey) > 0 {
		w.props.LargestKey = k.Clone()
	}
}

// Add adds a point entry: KindSet (with or without expiry),
// KindSetWithExpiry, or KindDelete. Keys must strictly increase in internal
// order; user keys must be at least two bytes (the key group). The value is
// copied.
func (w *Writer) Add(key base.InternalKey, value []byte, expiry base.Expiry) error {
	if w.done {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	kind, err := base.NormalizeKind(key.Kind(), expiry)
	if err != nil {
		return fmt.Errorf("sstable: key %s: %w", key, err)
	}
	if kind == base.KindRangeDelete {
		return fmt.Errorf("sstable: key %s: use AddRangeDel for range deletions", key)
	}
	kg, ok := base.KeyGroup(key.UserKey)
	if !ok {
		return fmt.Errorf("sstable: key %q: user key shorter than the 2-byte key group", key.UserKey)
	}
	if key.SeqNum() > base.SeqNumMax {
		return fmt.Errorf("sstable: key %s: seqnum exceeds 56 bits", key)
	}
	key.Trailer = base.MakeTrailer(key.SeqNum(), kind)
	w.scratch = key.AppendEncoded(w.scratch[:0])
	if w.hasLast {
		prev, _ := base.DecodeInternalKey(w.lastKey)
		if base.Compare(prev, key) >= 0 {
			return fmt.Errorf("sstable: key %s added after %s: keys must strictly increase", key, prev)
		}
	}
	w.noteKeyGroups(kg, kg)
	w.noteSeq(key.SeqNum())
	w.noteBounds(key)
	w.lastKey = append(w.lastKey[:0], w.scratch...)
	w.hasLast = true

	w.props.NumEntries++
	w.props.RawKeyBytes += uint64(len(key.UserKey))
	w.props.RawValueBytes += uint64(len(value))
	switch kind {
	case base.KindDelete:
		w.props.NumDeletions++
	case base.KindSetWithExpiry:
		if w.props.NumExpiring == 0 {
			w.props.MinExpiry, w.props.MaxExpiry = expiry, expiry
		} else {
			w.props.MinExpiry = min(w.props.MinExpiry, expiry)
			w.props.MaxExpiry = max(w.props.MaxExpiry, expiry)
		}
		w.props.NumExpiring++
	}
	if w.bloom.bitsPerKey > 0 {
		w.bloom.add(key.UserKey)
	}
	start := len(w.scratch)
	w.scratch = base.AppendValue(w.scratch, kind, expiry, value)
	w.data.add(w.scratch[:start], w.scratch[start:])
	if w.data.estimatedSize() >= w.opts.BlockSize {
		return w.flushData()
	}
	return nil
}

// AddRangeDel adds a deletion of user keys in [start, end) older than seq.
// Range deletions may be added in any order. start and end are copied.
func (w *Writer) AddRangeDel(start, end []byte, seq uint64) error {
	if w.done {
		return ErrWriterClosed
	}
	if w.err != nil {
		return w.err
	}
	lo, ok1 := base.KeyGroup(start)
	hi, ok2 := base.KeyGroup(end)
	if !ok1 || !ok2 {
		return fmt.Errorf("sstable: range deletion [%q, %q): keys shorter than the 2-byte key group", start, end)
	}
	if bytes.Compare(start, end) >= 0 {
		return fmt.Errorf("sstable: range deletion [%q, %q): start must be below end", start, end)
	}
	if seq > base.SeqNumMax {
		return fmt.Errorf("sstable: range deletion [%q, %q): seqnum %d exceeds 56 bits", start, end, seq)
	}
	if len(end) == base.KeyGroupLen && hi > lo {
		hi-- // an exclusive end at the very start of a group does not touch it
	}
	w.noteKeyGroups(lo, hi)
	w.noteSeq(seq)
	w.noteBounds(base.MakeInternalKey(start, seq, base.KindRangeDelete))
	w.props.NumRangeDeletions++
	if w.props.RangeDelEnd == nil || bytes.Compare(end, w.props.RangeDelEnd) > 0 {
		w.props.RangeDelEnd = append([]byte{}, end...)
	}
	w.rangeDels = append(w.rangeDels, base.RangeDel{
		Start: append([]byte{}, start...), End: append([]byte{}, end...), SeqNum: seq,
	})
	return nil
}

// EstimatedSize is the number of bytes written so far plus the pending data
// block.
func (w *Writer) EstimatedSize() uint64 {
	return w.offset + uint64(w.data.estimatedSize())
}

func (w *Writer) flushData() error {
	if w.data.empty() {
		return nil
	}
	raw := w.data.finish()
	h, err := w.writeBlock(raw, w.opts.Compression)
	if err != nil {
		return err
	}
	if w.opts.Cache != nil {
		// The cache owns what it gets; the writer reuses raw.
		w.opts.Cache.Set(w.opts.FileID, h.Offset, bytes.Clone(raw))
	}
	w.props.NumDataBlocks++
	w.props.DataBytes += h.Length + blockTrailerLen
	// The separator is the block's last key: every key in the block is <= it
	// and every key in later blocks is > it.
	w.index.add(w.data.lastKey, h.appendVarint(nil))
	w.data.reset()
	return nil
}

// writeBlock compresses, checksums and writes one block.
func (w *Writer) writeBlock(raw []byte, c Compression) (blockHandle, error) {
	var used Compression
	w.cbuf, used = compress(c, w.cbuf, raw)
	n := len(w.cbuf)
	w.cbuf = append(w.cbuf, byte(used))
	sum := xxhash.Sum64(w.cbuf)
	w.cbuf = append(w.cbuf, byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24),
		byte(sum>>32), byte(sum>>40), byte(sum>>48), byte(sum>>56))
	h := blockHandle{Offset: w.offset, Length: uint64(n)}
	if _, err := w.w.Write(w.cbuf); err != nil {
		return h, w.fail(fmt.Errorf("sstable: write block at offset %d: %w", w.offset, err))
	}
	w.offset += uint64(len(w.cbuf))
	return h, nil
}

// Metadata describes a finished table.
type Metadata struct {
	// Size is the total number of bytes written.
	Size uint64
	// TailSize is the length of the metadata region and footer at the end
	// of the table: a Reader opened with ReaderOptions.TailSize set to it
	// reads its metadata in one request.
	TailSize uint64
	Properties
}

// Finish writes the remaining blocks and the footer. The Writer cannot be
// used afterwards. Finish does not close the underlying io.Writer.
func (w *Writer) Finish() (*Metadata, error) {
	if w.done {
		return nil, ErrWriterClosed
	}
	w.done = true
	if w.err != nil {
		return nil, w.err
	}
	if err := w.flushData(); err != nil {
		return nil, err
	}
	var f footer
	var err error
	if f.filter, err = w.writeBlock(w.bloom.finish(), CompressionNone); err != nil {
		return nil, err
	}
	slices.SortFunc(w.rangeDels, func(a, b base.RangeDel) int {
		return base.Compare(base.MakeInternalKey(a.Start, a.SeqNum, base.KindRangeDelete),
			base.MakeInternalKey(b.Start, b.SeqNum, base.KindRangeDelete))
	})
	var rd blockWriter
	rd.restartInterval = 16
	for i, d := range w.rangeDels {
		if i > 0 && bytes.Equal(d.Start, w.rangeDels[i-1].Start) && d.SeqNum == w.rangeDels[i-1].SeqNum {
			return nil, w.fail(fmt.Errorf("sstable: two range deletions start at %q with seqnum %d", d.Start, d.SeqNum))
		}
		rd.add(base.MakeInternalKey(d.Start, d.SeqNum, base.KindRangeDelete).AppendEncoded(nil), d.End)
	}
	if f.rangeDel, err = w.writeBlock(rd.finish(), w.opts.Compression); err != nil {
		return nil, err
	}
	if f.props, err = w.writeBlock(w.props.encode(), CompressionNone); err != nil {
		return nil, err
	}
	if f.index, err = w.writeBlock(w.index.finish(), w.opts.Compression); err != nil {
		return nil, err
	}
	if _, err := w.w.Write(f.encode()); err != nil {
		return nil, w.fail(fmt.Errorf("sstable: write footer: %w", err))
	}
	w.offset += footerLen
	return &Metadata{Size: w.offset, TailSize: w.offset - f.filter.Offset, Properties: w.props}, nil
}

// Abort abandons the table. The caller discards whatever was written.
func (w *Writer) Abort() {
	w.done = true
	w.rangeDels = nil
}
