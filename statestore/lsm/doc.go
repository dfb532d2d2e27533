// Package lsm is Sluice's tiered LSM tree: a statestore.Store whose source
// of truth is object storage. It owns the write path (memtables, flushes),
// the read path (memtable -> frozen memtables -> L0 -> L1..L6, through the
// block cache, the local disk tier and range GETs), leveled compaction with
// a compaction filter, checkpoints, opening (recovery and rescaling) and
// garbage collection. Table format, memtable, caches, object storage and
// metadata live in the sibling packages sstable, memtable, cache, objstore
// and manifest.
//
// # Writes and durability
//
// Apply assigns a batch a contiguous range of sequence numbers, adds it to
// the mutable memtable and then publishes the batch's last sequence number:
// readers read at the published number, so they see a batch whole or not at
// all. There is no write-ahead log (design invariant 3): state is durable
// once a checkpoint's manifest is. A full memtable (MemtableSize bytes or
// MemtableEntries entries) is frozen and flushed in the background; the
// table is streamed straight to object storage (and into the disk tier; into
// the block cache with CacheFlushedBlocks), then a new in-memory version is
// installed. A flush writes only the newest version of each key that the
// memtable's own range deletions leave: every read of the table starts after
// it, at a higher sequence number. Nor does it write the tombstone of a key
// that no table below may hold (their Bloom filters say so): stream state
// written and deleted within one memtable costs the table nothing. A
// memtable's arena is
// reused by a later memtable once the memtable is flushed and no read holds
// it. Apply stalls only when more than MaxFrozenMemtables wait for their
// flush or L0 reaches L0StopWrites tables; stall time is in LSMMetrics. If
// background work failed, a stalled Apply returns that error instead of
// waiting (and the work is retried).
//
// # Reads
//
// A point read looks for the key's newest point entry in the memtables,
// then in the candidate tables (every L0 table whose range holds the key,
// then one per level), newest first, and stops at the first it finds. Only
// then does it check range deletions, and only those newer than the entry
// in the sources at least as new as the one that holds it: a key no source
// holds, the most common read of a stream job, searches none. MultiGet
// answers in the calling goroutine what the memtables, open tables and
// cached blocks hold, and hands only the keys that need a table opened or a
// block read to Options.MultiGetConcurrency workers.
//
// # Checkpoints
//
// Checkpoint(id) freezes the memtable and returns a Pending at once. The
// flusher uploads the frozen memtables in order; right after the one the
// checkpoint covers is installed, it writes the checkpoint manifest (the
// current version and the last sequence number) with CreateIfAbsent under
// ckpt/<shard>/<id>.manifest, then resolves the Pending with a Handle
// whose Data is the manifest name. Tables already in object storage are
// only referenced, so a checkpoint uploads the new tables and one small
// manifest: incremental by construction. LastCheckpointBytes is that: the
// manifest plus the tables it names that the previous checkpoint did not
// (flush and compaction outputs alike). A second writer of the same shard
// and id gets ErrAlreadyExists and its checkpoint fails (fencing). A failed
// flush fails every queued checkpoint; the memtable stays queued and is
// retried.
//
// # Open: recovery and rescaling without download
//
// Open reads the manifests of the given handles and nothing else. The
// version of the new store is the union of their levels, each table
// reference clipped to the handle's range intersected with the owned range
// (manifest.Merge). Blocks are fetched lazily; Options.WarmUp prefetches
// them in the background. Keys outside a reference's clip are invisible
// and compaction drops them (OutOfRangeDropped). The sequence numbers of
// the new store continue above every handle's.
//
// # Compaction
//
// One background goroutine runs the compaction manifest.Pick chooses (L0
// by table count once it holds Picker.L0MinBytes or its L1 overlap is at
// most Picker.L0CheapRatio times its size, or at L0MaxTables tables; other
// levels by size against a geometric target). The
// compaction filter drops shadowed versions, entries covered by range
// deletions, expired entries, entries Options.Filter rejects and keys
// outside the owned range; a dropped live entry becomes a tombstone unless
// the output is the bottommost data for its key range, so an older version
// never reappears.
//
// # Garbage collection
//
// See the manifest package for the rule: retention is over the whole job
// namespace (every shard's manifests), because tables are shared between
// shards after a rescale; an object is deleted only when no retained
// manifest references it, the running store does not hold it (live
// versions, open iterators, uploads in flight, checkpoints not yet
// durable), and its writer cannot still be writing it. While a collection
// lists the namespace, every object that becomes live is remembered, so a
// table published or installed concurrently is never collected. GC runs
// after every completed checkpoint and on open (which removes what a
// crashed predecessor with an older epoch left), unless DisableAutoGC.
// Pin and Unpin mark savepoints.
//
// Tables do not wait for GC when nothing can need them: a table this
// instance wrote that no manifest names yet (no checkpoint was taken while
// a version held it) is deleted as soon as it is replaced by a compaction
// and no live version (held by reads, iterators, compactions or a
// checkpoint being published) references it any more; a table whose
// upload or compaction failed goes at once too (manifest.Unpublished
// keeps the books). Tables a manifest names are deleted only by GC.
// A coordinator that may have failed
// checkpoints with ids above the last completed one sets KeepFrom through
// Options.RetentionFunc (or passes it to GCWith).
//
// # Concurrency
//
// Every DB method is safe for concurrent use. Apply and Checkpoint are
// serialized with each other; reads take a reference to a consistent view
// (memtables, version, sequence number) under a short lock and run without
// it. An Iterator belongs to one goroutine and holds its view (and so its
// tables) until Close. Background goroutines: one flusher, one compactor,
// one collector (and a warm-up); Close stops them and fails pending
// checkpoints with ErrClosed.
//
// # Usage
//
//	st, _ := objstore.Open(ctx, "s3://bucket?prefix=job-7/")
//	opener := lsm.NewOpener(lsm.Options{Storage: st, Disk: disk, BlockCache: bc})
//	s, _ := opener.Open(ctx, statestore.ShardOptions{Name: "agg/0", Epoch: 3}, nil, owned)
//	_ = s.Apply(ctx, &batch)
//	p, _ := s.Checkpoint(ctx, 42)
//	h, _ := p.Wait(ctx)
//	// rescale 1 -> 2 without download:
//	a, _ := opener.Open(ctx, statestore.ShardOptions{Name: "agg/0", Epoch: 4}, []statestore.Handle{h}, left)
//	b, _ := opener.Open(ctx, statestore.ShardOptions{Name: "agg/1", Epoch: 4}, []statestore.Handle{h}, right)
package lsm
