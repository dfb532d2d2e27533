package cache

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// entryOverhead approximates the bookkeeping bytes charged per cached block
// on top of its length.
const entryOverhead = 96

// Options configure a block cache.
type Options struct {
	// Capacity bounds the bytes held (block lengths plus a fixed per-entry
	// overhead). Required.
	Capacity int64
	// Shards is the number of independently locked shards. Default 16.
	// Each shard holds Capacity/Shards bytes.
	Shards int
}

// EnsureDefaults fills zero fields.
func (o *Options) EnsureDefaults() {
	if o.Shards == 0 {
		o.Shards = 16
	}
}

// Validate reports bad fields.
func (o *Options) Validate() error {
	var err error
	if o.Capacity <= 0 {
		err = errors.Join(err, fmt.Errorf("cache: Options.Capacity %d: must be positive", o.Capacity))
	}
	if o.Shards < 1 || o.Shards > 1024 {
		err = errors.Join(err, fmt.Errorf("cache: Options.Shards %d: must be in [1, 1024]", o.Shards))
	}
	return err
}

// Metrics is a point-in-time snapshot of a block cache.
type Metrics struct {
	Hits, Misses uint64
	Inserts      uint64
	Evictions    uint64
	// Rejected counts blocks too large for a shard.
	Rejected uint64
	Bytes    int64 // charged bytes held now
	Entries  int64
	Capacity int64
}

type blockKey struct{ fileID, offset uint64 }

type blockEntry struct {
	key        blockKey
	value      []byte
	charge     int64
	referenced atomic.Bool
	prev, next *blockEntry // CLOCK ring
}

type shard struct {
	capacity int64
	mu       struct {
		sync.RWMutex
		m     map[blockKey]*blockEntry
		hand  *blockEntry // next candidate for eviction; nil when empty
		bytes int64
	}
	hits, misses, inserts, evictions, rejected atomic.Uint64
}

// Cache is a sharded in-memory cache of immutable blocks keyed by (file id,
// offset) and bounded by bytes, with CLOCK eviction per shard. It implements
// sstable.BlockCache. All methods are safe for concurrent use; Get takes only
// a shared lock.
type Cache struct {
	shards   []shard
	capacity int64
}

// New returns a block cache.
func New(opts Options) (*Cache, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Cache{shards: make([]shard, opts.Shards), capacity: opts.Capacity}
	per := opts.Capacity / int64(opts.Shards)
	for i := range c.shards {
		c.shards[i].capacity = max(per, 1)
		c.shards[i].mu.m = make(map[blockKey]*blockEntry)
	}
	return c, nil
}

func (c *Cache) shard(k blockKey) *shard {
	h := k.fileID*0x9e3779b97f4a7c15 ^ k.offset*0xc2b2ae3d27d4eb4f
	h ^= h >> 31
	return &c.shards[h%uint64(len(c.shards))]
}

// Get returns the cached block. The slice is shared: do not modify it.
func (c *Cache) Get(fileID, offset uint64) ([]byte, bool) {
	k := blockKey{fileID, offset}
	s := c.shard(k)
	s.mu.RLock()
	e := s.mu.m[k]
	var v []byte
	if e != nil {
		e.referenced.Store(true)
		v = e.value
	}
	s.mu.RUnlock()
	if e == nil {
		s.misses.Add(1)
		return nil, false
	}
	s.hits.Add(1)
	return v, true
}

// Set caches block, replacing any block at the same key. The cache takes
// ownership of block: nobody may modify it afterwards. A block larger than a
// shard's capacity is not cached.
func (c *Cache) Set(fileID, offset uint64, block []byte) {
	k := blockKey{fileID, offset}
	s := c.shard(k)
	charge := int64(len(block)) + entryOverhead
	if charge > s.capacity {
		s.rejected.Add(1)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.mu.m[k]; old != nil {
		s.removeLocked(old)
	}
	e := &blockEntry{key: k, value: block, charge: charge}
	s.mu.m[k] = e
	if s.mu.hand == nil {
		e.prev, e.next = e, e
		s.mu.hand = e
	} else {
		// Insert just behind the hand, so a new entry gets a full sweep
		// before it is considered.
		h := s.mu.hand
		e.prev, e.next = h.prev, h
		h.prev.next = e
		h.prev = e
	}
	s.mu.bytes += charge
	s.inserts.Add(1)
	for s.mu.bytes > s.capacity {
		h := s.mu.hand
		if h.referenced.Swap(false) {
			s.mu.hand = h.next
			continue
		}
		s.removeLocked(h)
		s.evictions.Add(1)
	}
}

func (s *shard) removeLocked(e *blockEntry) {
	delete(s.mu.m, e.key)
	s.mu.bytes -= e.charge
	if e.next == e {
		s.mu.hand = nil
	} else {
		e.prev.next = e.next
		e.next.prev = e.prev
		if s.mu.hand == e {
			s.mu.hand = e.next
		}
	}
	e.prev, e.next = nil, nil
}

// EvictFile drops every block of fileID, for example after the table is
// deleted. It scans the whole cache.
func (c *Cache) EvictFile(fileID uint64) {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.mu.m {
			if k.fileID == fileID {
				s.removeLocked(e)
			}
		}
		s.mu.Unlock()
	}
}

// Metrics returns a snapshot.
func (c *Cache) Metrics() Metrics {
	m := Metrics{Capacity: c.capacity}
	for i := range c.shards {
		s := &c.shards[i]
		m.Hits += s.hits.Load()
		m.Misses += s.misses.Load()
		m.Inserts += s.inserts.Load()
		m.Evictions += s.evictions.Load()
		m.Rejected += s.rejected.Load()
		s.mu.RLock()
		m.Bytes += s.mu.bytes
		m.Entries += int64(len(s.mu.m))
		s.mu.RUnlock()
	}
	return m
}
