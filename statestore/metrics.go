package statestore

import "time"

// Tier names a level of the storage hierarchy, from fastest to slowest.
type Tier int

const (
	// TierMemtable is the in-memory write buffer (memstore counts all its
	// reads here).
	TierMemtable Tier = iota
	// TierBlockCache is the in-memory cache of decoded SST blocks.
	TierBlockCache
	// TierDisk is the local-disk cache of SST blocks.
	TierDisk
	// TierRemote is object storage.
	TierRemote
	// NumTiers is the number of tiers.
	NumTiers
)

func (t Tier) String() string {
	switch t {
	case TierMemtable:
		return "memtable"
	case TierBlockCache:
		return "block_cache"
	case TierDisk:
		return "disk"
	case TierRemote:
		return "remote"
	}
	return "unknown"
}

// TierMetrics count lookups served by one tier. A lookup that misses a tier
// falls through to the next one.
type TierMetrics struct {
	Hits      int64 // lookups answered by this tier
	Misses    int64 // lookups that fell through to the next tier
	BytesRead int64 // bytes read from this tier
	// SizeBytes is how much the tier holds now (memtable or cache size; for
	// the remote tier, the live size of the shard's objects).
	SizeBytes int64
}

// Metrics is a point-in-time snapshot of one Store's counters. Counters are
// cumulative since Open. Backends fill what they have and leave the rest
// zero.
type Metrics struct {
	// Reads.
	Gets         int64 // Get calls
	MultiGets    int64 // MultiGet calls
	KeysLookedUp int64 // keys across Get and MultiGet
	KeysFound    int64 // of those, present and live
	Scans        int64 // Scan calls
	Tiers        [NumTiers]TierMetrics

	// Writes.
	Batches      int64 // Apply calls that succeeded
	Puts         int64
	Deletes      int64
	DeleteRanges int64
	BytesWritten int64 // user key and value bytes applied

	// Contents (approximate).
	LiveKeys  int64
	LiveBytes int64

	// Checkpoints.
	CheckpointsStarted   int64
	CheckpointsCompleted int64
	CheckpointsFailed    int64
	LastCheckpointBytes  int64         // bytes uploaded by the last completed checkpoint
	LastCheckpointTime   time.Duration // from Checkpoint to durable, last completed

	// Background work (the LSM fills these).
	Flushes           int64
	Compactions       int64
	CompactionBytes   int64
	ExpiredDropped    int64 // entries dropped by the TTL compaction filter
	OutOfRangeDropped int64 // entries dropped because their key group is not owned
}
