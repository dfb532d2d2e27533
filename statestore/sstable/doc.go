// Package sstable owns Sluice's immutable sorted table format: the Writer
// that streams a table to an io.Writer (a local file or an object-store
// upload) and the Reader that serves point lookups and iterators over any
// Readable (a file, memory, or ranged GETs through statestore/cache). The
// internal-key conventions shared with the memtable and the LSM live in the
// subpackage base.
//
// # Keys and entries
//
// User keys are opaque bytes that start with a 2-byte big-endian key group
// (design invariant 2); the Writer rejects shorter keys. An internal key is
// the user key plus a trailer, seqnum<<8 | kind (seqnums are 56 bits),
// ordered by user key ascending then trailer descending. Kinds: DEL (0),
// SET (1), SETEXP (2, a value with an expiry), RANGEDEL (3).
//
// Expiry is explicit per entry: a SETEXP value is stored as
// uvarint(uint64(expiry)) followed by the user value, where expiry is
// Unix nanoseconds (the representation statestore uses; 0 = none). Callers
// pass (KindSet, expiry) and the kind is normalized. Iterators and Get
// return the user value and the expiry separately, so a compaction filter
// sees every expiry; Properties.MinExpiry/MaxExpiry bound them per table.
//
// # File layout
//
//	+--------------------+  offset 0
//	| data block 0       |  entries, prefix-compressed, restart every 16 keys
//	| ...                |
//	| data block n-1     |
//	+--------------------+  footer.filter.Offset: the metadata region starts
//	| filter block       |  Bloom filter over user keys (never compressed)
//	| range-del block    |  key = internal key (start, seq, RANGEDEL), value = end
//	| properties block   |  tagged Properties (never compressed)
//	| index block        |  key = last internal key of data block i, value = handle i
//	+--------------------+
//	| footer (84 bytes)  |
//	+--------------------+
//
// Every block is followed by a 9-byte trailer:
//
//	| payload (len = handle.Length) | codec u8 | xxhash64(payload ‖ codec) u64 LE |
//
// codec is 1 none, 2 snappy, 3 s2, 4 zstd (a block that does not shrink by
// 1/8 is stored as none). A block handle (in the index) is
// uvarint(offset) uvarint(length); length excludes the trailer.
//
// A decoded data, index or range-del block is:
//
//	entry*  | restart[0] u32 LE | ... | restart[r-1] u32 LE | r u32 LE
//	entry = uvarint shared | uvarint unshared | uvarint valueLen | key[shared:] | value
//
// where key is the encoded internal key, user key ‖ trailer (u64 LE), and a
// restart entry has shared = 0. The index uses a restart interval of 1.
//
// The filter block is a Bloom filter over h = xxhash64(user key), blocked
// so that a lookup touches one cache line: nblocks 64-byte blocks of bits
// (nblocks = ceil(keys·bitsPerKey/512), at least 1) then one byte 0x80|k. A
// key's k bits all lie in block (h>>32)·nblocks >> 32; with x = uint32(h)|1,
// probe i tests bit x>>23 of the block, then x = x·0x9e3779b9 mod 2^32. Bit
// j of a block is bit j%64 of its little-endian u64 word j/64. Tables
// written before this layout end in a byte k in [1, 30] (high bit clear):
// nbits/8 bytes of bits where probe i tests bit (h + i·rot32(h)) mod nbits.
// The reader answers both; any other last byte, or a blocked filter that is
// not whole blocks, makes the filter answer "may contain". The properties
// block is a sequence of uvarint tag | uvarint len | bytes records; unknown
// tags are skipped.
//
// The footer, at size-84:
//
//	| filter handle: off u64, len u64 | range-del handle | properties handle |
//	| index handle | version u32 (=1) | xxhash64(previous 68 bytes) u64 |
//	| magic u64 = "sluicSST" |
//
// The four metadata blocks are contiguous, so Open reads the footer and then
// the whole metadata region: two reads, then data blocks on demand.
//
// # Corruption
//
// A checksum mismatch, a bad footer, a handle out of range, a short object
// or an undecodable block yields a *CorruptionError ("sstable: corruption in
// <name> at offset N: ...") matching ErrCorruption, never garbage and never a
// panic. Every byte of a table is covered by a checksum.
//
// # Range deletions
//
// A table's range deletions are loaded at Open and exposed by RangeDels and
// RangeDelFragments (non-overlapping fragments, for merging across tables).
// Get honors them: a covering range deletion newer than the newest point
// entry is returned as an entry of kind RANGEDEL so that a caller searching
// several levels stops. Iterators return raw point entries unless
// IterOptions.HideRangeDeleted is set.
//
// # Concurrency
//
// A Writer belongs to one goroutine and must end in Finish or Abort. A
// Reader is immutable after Open and safe for concurrent use; it holds no
// resources, so there is nothing to close. An Iter belongs to one goroutine.
// Slices returned by Get and Iter.Value alias immutable blocks: valid
// forever, never to be modified. Iter.Key is valid until the iterator moves.
// Readable and BlockCache implementations must be safe for concurrent use.
//
// # Usage
//
//	w, err := sstable.NewWriter(f, sstable.WriterOptions{Compression: sstable.CompressionZstd})
//	err = w.Set(key, seq, value, expiry)        // keys in internal order
//	err = w.AddRangeDel(start, end, seq)        // any order
//	meta, err := w.Finish()                     // meta.Properties
//
//	r, err := sstable.Open(ctx, readable, sstable.ReaderOptions{Name: "000042.sst", FileID: 42, Cache: blockCache})
//	e, ok, err := r.Get(ctx, key)               // e.Kind, e.Value, e.Expiry
//	it := r.NewIter(ctx, sstable.IterOptions{Lower: lo, Upper: hi})
//	for ok := it.First(); ok; ok = it.Next() { use(it.Key(), it.Value(), it.Expiry()) }
//	err = it.Close()
package sstable
