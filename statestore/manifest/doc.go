// Package manifest owns the LSM's metadata: versions (the table references
// per level), version edits, the leveled compaction picker, checkpoint
// manifests and their object names, reference counts of table objects, the
// garbage-collection decision, and the books of the tables a store wrote
// that no manifest names yet (Unpublished). Everything here is pure: it reads and
// writes no storage, so it is tested with data-driven traces
// (testdata/*, update with -rewrite).
//
// # Invariants of a Version
//
//   - L0 is sorted newest first (MaxSeq descending); its tables may overlap.
//   - L1..L6 are each sorted by key and their visible ranges do not overlap.
//   - A reference (FileMeta) sees only the keys of its Clip key-group range;
//     the same object may be referenced twice with disjoint clips (two
//     shards that shared a table after a split, merged again).
//   - For one user key, a newer version is in a lower level (or earlier in
//     L0) than an older one.
//
// # Object layout of a job (all shards share one namespace)
//
//	sst/<shard>/<epoch>-<instance>-<num>.sst   tables, written once (any writer)
//	ckpt/<shard>/<checkpoint id>.manifest      Checkpoint, CreateIfAbsent
//	pin/<checkpoint id>                        savepoint pin (empty object)
//
// <shard> is EscapeShard(name); numbers are zero-padded so listings sort by
// id. A checkpoint manifest is published with a conditional create, so a
// stale writer of the same shard and id gets ErrAlreadyExists (fenced).
// Table names carry the writer (shard, epoch, random instance), so two
// writers never choose the same name.
//
// # Garbage collection rule
//
// Tables are shared between shards after a rescale (a split opens one
// checkpoint from several shards; a merge opens several), so a table is not
// owned by a shard but by the job namespace, and collection is computed
// over every shard's manifests:
//
//  1. Retention (SelectRetained): the manifests of the Policy.KeepLast
//     largest checkpoint ids in the namespace, of every id >= KeepFrom, and
//     of every pinned id are retained; the others are dropped.
//  2. An object is deleted (PlanGC) only if no retained manifest references
//     it, the running store does not hold it live, and it cannot be in
//     flight: a dropped manifest names it, or its writer is fenced (itself,
//     an older epoch of its shard, or an older epoch than one its shard
//     has since published with).
//  3. Objects are deleted before the dropped manifests.
//
// A table written by a shard that crashed before publishing and that no
// newer epoch of the same shard name ever publishes for (the shard
// disappeared in a rescale) is kept: collecting it safely needs the
// coordinator to say the writer is gone.
//
// Tables a store instance wrote that no manifest names do not wait for
// GC: Unpublished reports each as obsolete once its writing is done and no
// live version of the store holds it, and the store deletes it at once.
// Nothing else can reach such a table, since other shards and later
// instances find tables only through manifests.
//
// # Concurrency
//
// Versions, FileMetas and Checkpoints are immutable values, safe to share.
// Refs and Unpublished are not safe for concurrent use.
//
// # Usage
//
//	v2, err := v.Apply(&manifest.VersionEdit{Added: []manifest.NewFile{{Level: 0, Meta: f}}})
//	c := manifest.Pick(v2, manifest.PickerOptions{}, &cursor)
//	cp := manifest.NewCheckpoint(w, id, owned, lastSeq, v2)
//	err = st.CreateIfAbsent(ctx, manifest.ManifestName(w.Shard, id), cp.Encode())
//	retained, dropped := manifest.SelectRetained(listing, pins, manifest.Policy{KeepLast: 3})
//	plan := manifest.PlanGC(manifest.GCInput{Self: w, Retained: r, Dropped: d, Objects: ssts, Live: live})
package manifest
