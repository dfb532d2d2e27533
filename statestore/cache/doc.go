// Package cache owns the two caching tiers between the LSM and object
// storage (design: memtable -> block cache -> local disk -> object store).
//
// Cache is the in-memory block cache: decoded table blocks keyed by (file
// id, offset), bounded by bytes (block length plus a fixed overhead per
// entry), split into independently locked shards, each evicting with CLOCK
// (a hit only sets a bit, under a shared lock). It implements
// sstable.BlockCache. Metrics returns hits, misses, inserts, evictions and
// bytes.
//
// Disk is the local disk tier: remote objects are cached in fixed-size
// chunks (default 256 KiB), one file per chunk named
// <xxhash64(object name)>-<chunk index>.chunk, each holding a header
// (magic, object name, length, xxhash64 of the data) and the data. Disk
// bounds the bytes of chunk files and evicts least recently used chunks.
// OpenDisk rebuilds the index from the directory (oldest mtime first) and
// removes leftover temporary files. Object(name, size, remote) returns a
// read-through view implementing sstable.Readable: a miss reads the whole
// chunk from the remote, writes it (temp file + rename) and indexes it;
// concurrent misses on one chunk share one remote read. Populate writes a
// whole object (a table just uploaded); Evict drops one.
//
// The disk is only a cache (design invariant 7): a missing, truncated or
// corrupt chunk file, or a wiped directory, is detected (name, length and
// checksum are verified on every read), counted in LocalErrors and served
// from the remote; the directory is recreated on the next write. Local write
// failures are never read errors. Metrics: hits, misses, bytes read remote,
// bytes evicted, bytes written.
//
// # Concurrency
//
// Cache, Disk and Object are safe for concurrent use. Blocks handed to
// Cache.Set are owned by the cache and must never be modified; Get returns
// shared slices. Only one Disk may use a directory at a time. When a miss is
// shared, a context cancellation of the goroutine doing the remote read
// fails the waiters too.
//
// # Usage
//
//	bc, err := cache.New(cache.Options{Capacity: 512 << 20})
//	dc, err := cache.OpenDisk(cache.DiskOptions{Dir: dir, Capacity: 20 << 30})
//	obj := dc.Object("tables/000042.sst", size, remoteReader)
//	r, err := sstable.Open(ctx, obj, sstable.ReaderOptions{Name: "000042.sst", FileID: 42, Cache: bc})
package cache
