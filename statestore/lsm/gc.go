package lsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/sstable"
)

func (d *DB) gcLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.gcCh:
		}
		if _, err := d.GC(d.ctx); err != nil && d.ctx.Err() == nil {
			d.opts.Logger.Warn("lsm gc failed", "shard", d.shard.Name, "err", err)
		}
	}
}

// deleteLoop deletes the tables the Unpublished tracker reports obsolete:
// written by this instance, named by no manifest, held by no live version
// and no longer being written. Nothing else can reach them (see
// manifest.Unpublished), so they go right away instead of at the next
// GC, which keeps the namespace (and a file:// disk) from filling up with
// compaction inputs between checkpoints. A failed deletion is logged and
// left to GC, which collects unnamed tables of its own instance; so are the
// ones still queued when the store closes.
func (d *DB) deleteLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.deleteCh:
		}
		for {
			d.mu.Lock()
			batch := d.mu.obsolete
			d.mu.obsolete = nil
			d.mu.deleting = len(batch) > 0
			d.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, o := range batch {
				d.tc.evict(o.Object)
				if d.opts.Disk != nil {
					d.opts.Disk.Evict(o.Object, int64(o.Size))
				}
				if err := d.st.Delete(d.ctx, o.Object); err != nil {
					if d.ctx.Err() == nil {
						d.opts.Logger.Warn("lsm: delete of an obsolete table failed; GC will collect it", "shard", d.shard.Name, "table", o.Object, "err", err)
					}
					continue
				}
				d.m.obsoleteDeleted.Add(1)
			}
			d.mu.Lock()
			d.mu.deleting = false
			d.mu.cond.Broadcast()
			d.mu.Unlock()
		}
	}
}

// GC runs one garbage collection over the job namespace with the policy of
// Options.RetentionFunc, or Options.Retention if it is unset (see the
// manifest package for the rule), and returns what it deleted. It is safe
// to run while the store serves reads, writes and checkpoints, and from
// several shards at once.
func (d *DB) GC(ctx context.Context) (manifest.GCPlan, error) {
	p, err := d.opts.retention()
	if err != nil {
		return manifest.GCPlan{}, fmt.Errorf("lsm: gc on shard %q: %w", d.shard.Name, err)
	}
	return d.GCWith(ctx, p)
}

// GCWith is GC with an explicit policy (the coordinator may pass KeepFrom =
// the last completed checkpoint of the job).
func (d *DB) GCWith(ctx context.Context, p manifest.Policy) (manifest.GCPlan, error) {
	if err := p.Validate(); err != nil {
		return manifest.GCPlan{}, err
	}
	d.gcMu.Lock()
	defer d.gcMu.Unlock()
	// Every object live now or becoming live while the listings run is
	// remembered in gcSeen.
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return manifest.GCPlan{}, d.errClosed("gc")
	}
	d.mu.gcActive = true
	d.mu.gcSeen = map[string]bool{}
	for v := range d.mu.live {
		v.v.Objects(func(f *manifest.FileMeta) { d.mu.gcSeen[f.Object] = true })
	}
	for n := range d.mu.inflight {
		d.mu.gcSeen[n] = true
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.mu.gcActive = false
		d.mu.gcSeen = nil
		d.mu.Unlock()
	}()
	plan, err := d.planGC(ctx, p)
	if err != nil {
		return manifest.GCPlan{}, fmt.Errorf("lsm: gc on shard %q: %w", d.shard.Name, err)
	}
	for _, o := range plan.DeleteObjects {
		if err := d.st.Delete(ctx, o); err != nil {
			return plan, fmt.Errorf("lsm: gc on shard %q: %w", d.shard.Name, err)
		}
		d.tc.evict(o)
		d.m.gcDeleted.Add(1)
	}
	for _, m := range plan.DeleteManifests {
		if err := d.st.Delete(ctx, m); err != nil {
			return plan, fmt.Errorf("lsm: gc on shard %q: %w", d.shard.Name, err)
		}
		d.m.gcDeleted.Add(1)
	}
	d.m.gcRuns.Add(1)
	return plan, nil
}

func (d *DB) planGC(ctx context.Context, p manifest.Policy) (manifest.GCPlan, error) {
	in, err := listNamespace(ctx, d.st, p)
	if err != nil {
		return manifest.GCPlan{}, err
	}
	in.Self = d.self
	d.mu.Lock()
	in.Live = d.mu.gcSeen
	for v := range d.mu.live {
		v.v.Objects(func(f *manifest.FileMeta) { in.Live[f.Object] = true })
	}
	for n := range d.mu.inflight {
		in.Live[n] = true
	}
	in.Live = cloneSet(in.Live)
	d.mu.Unlock()
	return manifest.PlanGC(in), nil
}

// listNamespace reads what a collection over the job namespace decides on:
// the manifests split by p (and pins), and the table listing.
func listNamespace(ctx context.Context, st objstore.Storage, p manifest.Policy) (manifest.GCInput, error) {
	in := manifest.GCInput{Retained: map[string]*manifest.Checkpoint{}, Dropped: map[string]*manifest.Checkpoint{}}
	names, err := st.List(ctx, manifest.ManifestPrefix)
	if err != nil {
		return in, err
	}
	pinNames, err := st.List(ctx, manifest.PinPrefix)
	if err != nil {
		return in, err
	}
	var pins []uint64
	for _, n := range pinNames {
		if id, ok := manifest.ParsePinName(n); ok {
			pins = append(pins, id)
		}
	}
	retained, dropped := manifest.SelectRetained(names, pins, p)
	for _, n := range retained {
		b, err := st.ReadAll(ctx, n)
		if err != nil {
			return in, err // a retained manifest must be readable to collect safely
		}
		cp, err := manifest.DecodeCheckpoint(n, b)
		if err != nil {
			return in, err
		}
		in.Retained[n] = cp
	}
	for _, n := range dropped {
		b, err := st.ReadAll(ctx, n)
		if objstore.IsNotFound(err) {
			continue
		}
		if err != nil {
			return in, err
		}
		cp, err := manifest.DecodeCheckpoint(n, b)
		if err != nil {
			// Unreadable and dropped: delete it, but rely on nothing it says.
			in.Dropped[n] = &manifest.Checkpoint{Shard: "\x00unreadable"}
			continue
		}
		in.Dropped[n] = cp
	}
	in.Objects, err = st.List(ctx, manifest.SSTPrefix)
	return in, err
}

// Collect runs a garbage collection over the job namespace in storage
// without a running store: for the checkpoint coordinator, after a
// checkpoint completed and when a job has ended. Tables of writers whose
// epoch is below fencedBelow count as fenced (those attempts are known to
// have stopped, so nothing they wrote is in flight); tables of other
// writers not named by a manifest are kept. Objects are deleted before
// manifests, as DB.GC does.
func Collect(ctx context.Context, storage objstore.Storage, p manifest.Policy, fencedBelow uint64) (manifest.GCPlan, error) {
	if err := p.Validate(); err != nil {
		return manifest.GCPlan{}, err
	}
	in, err := listNamespace(ctx, storage, p)
	if err != nil {
		return manifest.GCPlan{}, fmt.Errorf("lsm: collect: %w", err)
	}
	in.FencedBelow = fencedBelow
	plan := manifest.PlanGC(in)
	for _, o := range plan.DeleteObjects {
		if err := storage.Delete(ctx, o); err != nil && !objstore.IsNotFound(err) {
			return plan, fmt.Errorf("lsm: collect: %w", err)
		}
	}
	for _, m := range plan.DeleteManifests {
		if err := storage.Delete(ctx, m); err != nil && !objstore.IsNotFound(err) {
			return plan, fmt.Errorf("lsm: collect: %w", err)
		}
	}
	return plan, nil
}

func cloneSet(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Pin marks checkpoint id of the job in storage as a savepoint: GC keeps
// every shard's manifest of it, and their tables, until Unpin.
func Pin(ctx context.Context, st objstore.Storage, id uint64) error {
	err := st.CreateIfAbsent(ctx, manifest.PinName(id), nil)
	if err != nil && !errors.Is(err, objstore.ErrAlreadyExists) {
		return fmt.Errorf("lsm: pin checkpoint %d: %w", id, err)
	}
	return nil
}

// Unpin removes a pin made by Pin.
func Unpin(ctx context.Context, st objstore.Storage, id uint64) error {
	if err := st.Delete(ctx, manifest.PinName(id)); err != nil {
		return fmt.Errorf("lsm: unpin checkpoint %d: %w", id, err)
	}
	return nil
}

// warmUp reads every data block of v's tables into the caches.
func (d *DB) warmUp(v *manifest.Version) {
	defer d.wg.Done()
	start := time.Now()
	n := 0
	v.Objects(func(f *manifest.FileMeta) {
		if d.ctx.Err() != nil {
			return
		}
		r, err := d.tc.get(d.ctx, f)
		if err != nil {
			return
		}
		it := r.NewIter(d.ctx, sstable.IterOptions{})
		for ok := it.First(); ok; ok = it.Next() {
		}
		it.Close()
		n++
	})
	d.opts.Logger.Debug("lsm warm-up done", "shard", d.shard.Name, "tables", n, "took", time.Since(start))
}

// Metrics implements statestore.Store.
func (d *DB) Metrics() statestore.Metrics {
	return d.LSMMetrics().Metrics
}

// LSMMetrics extends statestore.Metrics with what only the LSM has.
type LSMMetrics struct {
	statestore.Metrics
	FlushBytes    int64
	CompactionIn  int64 // bytes read by compactions
	FilterDropped int64 // entries dropped by Options.Filter
	// FlushTombstonesDropped counts point tombstones flushes did not
	// write: no table below the memtable could hold their keys.
	FlushTombstonesDropped int64
	Stalls                 int64
	StallTime              time.Duration
	GCRuns                 int64
	GCDeleted              int64 // objects deleted by GC
	// ObsoleteDeleted counts tables deleted as soon as no version held
	// them: compaction inputs and failed outputs that no manifest named.
	ObsoleteDeleted int64
	Levels          [manifest.NumLevels]LevelMetrics
	ObjStore        ObjStoreMetrics
	BlockCacheBytes int64
}

// LevelMetrics describe one level.
type LevelMetrics struct {
	Files int
	Bytes uint64
}

// LSMMetrics returns a snapshot of the store's counters.
func (d *DB) LSMMetrics() LSMMetrics {
	var m LSMMetrics
	m.Gets = d.m.gets.Load()
	m.MultiGets = d.m.multiGets.Load()
	m.KeysLookedUp = d.m.lookups.Load()
	m.KeysFound = d.m.found.Load()
	m.Scans = d.m.scans.Load()
	m.Batches = d.m.batches.Load()
	m.Puts = d.m.puts.Load()
	m.Deletes = d.m.deletes.Load()
	m.DeleteRanges = d.m.deleteRanges.Load()
	m.BytesWritten = d.m.written.Load()
	m.CheckpointsStarted = d.m.ckptStarted.Load()
	m.CheckpointsCompleted = d.m.ckptCompleted.Load()
	m.CheckpointsFailed = d.m.ckptFailed.Load()
	m.LastCheckpointBytes = d.m.lastCkptBytes.Load()
	m.LastCheckpointTime = time.Duration(d.m.lastCkptNanos.Load())
	m.Flushes = d.m.flushes.Load()
	m.Compactions = d.m.compactions.Load()
	m.CompactionBytes = d.m.compactionBytes.Load()
	m.ExpiredDropped = d.m.expired.Load()
	m.OutOfRangeDropped = d.m.outOfRange.Load()
	m.FlushBytes = d.m.flushBytes.Load()
	m.CompactionIn = d.m.compactionIn.Load()
	m.FilterDropped = d.m.filtered.Load()
	m.FlushTombstonesDropped = d.m.tombstonesDropped.Load()
	m.Stalls = d.m.stalls.Load()
	m.StallTime = time.Duration(d.m.stallNanos.Load())
	m.GCRuns = d.m.gcRuns.Load()
	m.GCDeleted = d.m.gcDeleted.Load()
	m.ObsoleteDeleted = d.m.obsoleteDeleted.Load()
	m.ObjStore = d.st.snapshot()

	m.Tiers[statestore.TierMemtable] = statestore.TierMetrics{Hits: d.m.memHits.Load(), Misses: d.m.memMisses.Load()}
	bm := d.bc.Metrics()
	m.Tiers[statestore.TierBlockCache] = statestore.TierMetrics{Hits: int64(bm.Hits), Misses: int64(bm.Misses), SizeBytes: bm.Bytes}
	m.BlockCacheBytes = bm.Bytes
	if d.opts.Disk != nil {
		dm := d.opts.Disk.Metrics()
		m.Tiers[statestore.TierDisk] = statestore.TierMetrics{Hits: int64(dm.Hits), Misses: int64(dm.Misses), SizeBytes: dm.Bytes, BytesRead: int64(dm.BytesReadRemote)}
	}
	m.Tiers[statestore.TierRemote] = statestore.TierMetrics{Hits: m.ObjStore.RangeGets, BytesRead: m.ObjStore.RangeGetBytes + m.ObjStore.GetBytes}
	d.mu.Lock()
	if !d.mu.closed {
		v := d.mu.current.v
		for l := range manifest.NumLevels {
			m.Levels[l] = LevelMetrics{Files: len(v.Levels[l]), Bytes: v.LevelSize(l)}
			m.Tiers[statestore.TierRemote].SizeBytes += int64(v.LevelSize(l))
		}
		size := d.mu.mem.Size()
		for _, it := range d.mu.queue {
			if it.mem != nil {
				size += it.mem.Size()
			}
		}
		m.Tiers[statestore.TierMemtable].SizeBytes = size
	}
	d.mu.Unlock()
	return m
}
