package lsm

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore/cache"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/sstable"
)

// Options configure the LSM stores of one job. One Options (and so one
// Storage namespace and one block cache) is shared by every shard the
// process opens.
type Options struct {
	// Storage is the job's namespace in object storage: every shard's tables
	// and manifests live under it (see the manifest package for the
	// layout). Required.
	Storage objstore.Storage
	// URL describes Storage for people; handles carry URL + "/" + the
	// manifest name. Optional.
	URL string
	// Clock decides expiry. Default clock.Real().
	Clock clock.Clock
	// Logger receives background errors. Default: discard.
	Logger *slog.Logger
	// BlockCache holds decoded blocks in memory. Default: a private 64 MiB
	// cache per store.
	BlockCache *cache.Cache
	// Disk is the local disk tier. Default: none (blocks missing from the
	// block cache are read from Storage with range GETs).
	Disk *cache.Disk
	// MemtableSize is the largest arena of one memtable. A store starts with
	// a 256 KiB arena (or MemtableSize if smaller) and quadruples it each
	// time one fills up. Default 128 MiB: a stream job's windows and joins
	// mostly write entries that die within the window, and those that die
	// in the memtable cost no flush, no compaction and no table read
	// (Nexmark q7 keeps 10 s of bids in its join, chunks of ~180 KB).
	MemtableSize int64
	// MemtableEntries is the most point entries of one memtable: one that
	// holds them is frozen and flushed as a full one is, and the next one
	// does not grow. Default 512 Ki. A skiplist's cost per insert and a
	// hash index's per lookup grow with the entries, not with their bytes:
	// a state of small entries (Nexmark q8's windows, ~80 bytes each)
	// reaches this limit at ~40 MB and ran slower with larger memtables,
	// while a state of large values uses all of MemtableSize. The hash
	// index is sized for it (memtable.Options.IndexEntries).
	MemtableEntries int64
	// MaxFrozenMemtables is the number of frozen memtables waiting for
	// their flush beyond which Apply stalls. Default 4.
	MaxFrozenMemtables int
	// L0StopWrites is the number of L0 tables at which Apply stalls until
	// compaction catches up. Default 24.
	L0StopWrites int
	// Picker tunes leveled compaction.
	Picker manifest.PickerOptions
	// TargetFileSize is the size at which compaction starts a new output
	// table. Default 8 MiB.
	TargetFileSize uint64
	// Table configures the tables written by flushes and compactions.
	Table sstable.WriterOptions
	// Retention is the checkpoint retention policy. Default KeepLast 3.
	Retention manifest.Policy
	// RetentionFunc, if set, replaces Retention: every garbage collection
	// (automatic after each completed checkpoint and on open, and DB.GC)
	// uses the policy it returns at that moment. A checkpoint coordinator
	// that shares one Options between the shards of a job points it at the
	// oldest checkpoint id it still retains (KeepFrom), so checkpoints in
	// flight or failed above the last completed one never make that one's
	// manifests collectable. Its result gets Retention's default (KeepLast
	// 0 means 3) and is validated like Retention; a GC with an invalid
	// result fails and deletes nothing. It must be safe for concurrent use.
	RetentionFunc func() manifest.Policy
	// DisableAutoGC turns off garbage collection after every completed
	// checkpoint and on open; DB.GC still works.
	DisableAutoGC bool
	// DisableCompaction turns off background compaction (tests).
	DisableCompaction bool
	// Filter, if set, is consulted by compaction for every live entry:
	// returning false drops it (for example window state older than the
	// watermark). It must be safe for concurrent use and must not keep
	// key or value.
	Filter func(key, value []byte, expiry int64) bool
	// MultiGetConcurrency bounds the parallel table lookups of one
	// MultiGet. Default 32.
	MultiGetConcurrency int
	// WarmUp makes Open prefetch every block of the opened tables in the
	// background.
	WarmUp bool
	// CacheFlushedBlocks makes flushes put the data blocks they write into
	// the block cache (as RocksDB's prepopulate_block_cache for flushes),
	// so that state read back soon after its flush costs no read and no
	// decompression. Off by default: it allocates and copies every flushed
	// block, which costs more than the reads it saves when tables are local
	// or kept by the disk tier (Disk), which flushes populate anyway.
	CacheFlushedBlocks bool
}

// Defaults of Options.MemtableSize and Options.MemtableEntries.
const (
	DefaultMemtableSize    = 128 << 20
	DefaultMemtableEntries = 512 << 10
)

// defaultKeepLast is the default of Policy.KeepLast.
const defaultKeepLast = 3

// EnsureDefaults fills zero fields.
func (o *Options) EnsureDefaults() {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MemtableSize == 0 {
		o.MemtableSize = DefaultMemtableSize
	}
	if o.MemtableEntries == 0 {
		o.MemtableEntries = DefaultMemtableEntries
	}
	if o.MaxFrozenMemtables == 0 {
		o.MaxFrozenMemtables = 4
	}
	if o.L0StopWrites == 0 {
		o.L0StopWrites = 24
	}
	o.Picker.EnsureDefaults()
	if o.TargetFileSize == 0 {
		o.TargetFileSize = 8 << 20
	}
	if o.Retention.KeepLast == 0 {
		o.Retention.KeepLast = defaultKeepLast
	}
	if o.MultiGetConcurrency == 0 {
		o.MultiGetConcurrency = 32
	}
}

// Validate reports every bad field.
func (o *Options) Validate() error {
	var err error
	if o.Storage == nil {
		err = errors.Join(err, errors.New("lsm: Options.Storage is nil"))
	}
	if o.MemtableSize < 4<<10 || o.MemtableSize > 1<<31 {
		err = errors.Join(err, fmt.Errorf("lsm: Options.MemtableSize %d: must be in [4 KiB, 2 GiB]", o.MemtableSize))
	}
	if o.MemtableEntries < 1 {
		err = errors.Join(err, fmt.Errorf("lsm: Options.MemtableEntries %d: must be at least 1", o.MemtableEntries))
	}
	if o.MaxFrozenMemtables < 1 {
		err = errors.Join(err, fmt.Errorf("lsm: Options.MaxFrozenMemtables %d: must be at least 1", o.MaxFrozenMemtables))
	}
	pk := o.Picker
	pk.EnsureDefaults()
	if o.L0StopWrites <= pk.L0MaxTables {
		// Below L0MinBytes, compaction starts only at L0MaxTables tables.
		err = errors.Join(err, fmt.Errorf("lsm: Options.L0StopWrites %d: must exceed Picker.L0MaxTables %d (default 3 * L0Trigger)", o.L0StopWrites, pk.L0MaxTables))
	}
	if pk.L0MaxTables < pk.L0Trigger {
		err = errors.Join(err, fmt.Errorf("lsm: Options.Picker.L0MaxTables %d: must be at least L0Trigger %d", pk.L0MaxTables, pk.L0Trigger))
	}
	if o.MultiGetConcurrency < 1 {
		err = errors.Join(err, fmt.Errorf("lsm: Options.MultiGetConcurrency %d: must be at least 1", o.MultiGetConcurrency))
	}
	if e := o.Retention.Validate(); e != nil {
		err = errors.Join(err, fmt.Errorf("lsm: Options.Retention: %w", e))
	}
	if o.RetentionFunc != nil {
		if _, e := o.retention(); e != nil {
			err = errors.Join(err, e)
		}
	}
	tw := o.Table
	tw.EnsureDefaults()
	if e := tw.Validate(); e != nil {
		err = errors.Join(err, fmt.Errorf("lsm: Options.Table: %w", e))
	}
	return err
}

// retention returns the policy a garbage collection uses now:
// RetentionFunc's result (with Retention's default filled in) if set,
// Retention otherwise.
func (o *Options) retention() (manifest.Policy, error) {
	if o.RetentionFunc == nil {
		return o.Retention, nil
	}
	p := o.RetentionFunc()
	if p.KeepLast == 0 {
		p.KeepLast = defaultKeepLast
	}
	if err := p.Validate(); err != nil {
		return manifest.Policy{}, fmt.Errorf("lsm: Options.RetentionFunc returned %+v: %w", p, err)
	}
	return p, nil
}
