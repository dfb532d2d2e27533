package memstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tidwall/btree"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

// Backend is the statestore.Handle.Backend of memstore checkpoints.
const Backend = "memory"

// Options configure a Registry and the stores it opens.
type Options struct {
	// Clock decides which entries have expired. Default: clock.Real().
	Clock clock.Clock
}

// EnsureDefaults fills unset fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
}

// entry is one key and its value. Entries in a tree are immutable: Apply
// replaces them, so readers may hold their slices without a lock.
type entry struct {
	key    []byte
	value  []byte
	expiry int64
}

func lessEntry(a, b entry) bool { return bytes.Compare(a.key, b.key) < 0 }

type tree = btree.BTreeG[entry]

func newTree() *tree {
	return btree.NewBTreeGOptions(lessEntry, btree.Options{NoLocks: true})
}

// snapshot is a registered checkpoint: a frozen tree nobody writes to.
type snapshot struct {
	tree      *tree
	keyGroups statestore.KeyGroupRange
	liveBytes int64
}

// Registry holds the checkpoints of the stores it opened and implements
// statestore.Opener. Handles are only valid with the Registry that made
// them. Create one per process (or per test) with NewRegistry.
type Registry struct {
	opts Options
	id   uint64 // random, so handles of another registry are recognised
	mu   struct {
		sync.Mutex
		next  uint64
		snaps map[uint64]*snapshot
	}
}

var _ statestore.Opener = (*Registry)(nil)

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	opts.EnsureDefaults()
	var b [8]byte
	_, _ = rand.Read(b[:])
	r := &Registry{opts: opts, id: binary.BigEndian.Uint64(b[:])}
	r.mu.snaps = make(map[uint64]*snapshot)
	return r
}

// Checkpoints returns the number of checkpoints the registry holds.
func (r *Registry) Checkpoints() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.snaps)
}

// Release forgets the checkpoint h refers to, freeing its memory once no
// store shares its nodes. Opening h afterwards fails with
// statestore.ErrHandleNotFound. Releasing twice is not an error.
func (r *Registry) Release(h statestore.Handle) error {
	id, err := r.snapshotID(h)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.mu.snaps, id)
	return nil
}

func (r *Registry) register(t *tree, liveBytes int64, shard string, ckpt uint64, kg statestore.KeyGroupRange) statestore.Handle {
	r.mu.Lock()
	r.mu.next++
	id := r.mu.next
	r.mu.snaps[id] = &snapshot{tree: t, keyGroups: kg, liveBytes: liveBytes}
	r.mu.Unlock()
	data := binary.BigEndian.AppendUint64(nil, r.id)
	data = binary.BigEndian.AppendUint64(data, id)
	return statestore.Handle{
		Backend:    Backend,
		URL:        fmt.Sprintf("mem://registry-%016x/snapshot-%d", r.id, id),
		Shard:      shard,
		Checkpoint: ckpt,
		KeyGroups:  kg,
		Data:       data,
	}
}

func (r *Registry) snapshotID(h statestore.Handle) (uint64, error) {
	if h.Backend != Backend {
		return 0, fmt.Errorf("%w: %v: backend is %q, want %q", statestore.ErrInvalidHandle, h, h.Backend, Backend)
	}
	if len(h.Data) != 16 {
		return 0, fmt.Errorf("%w: %v: data is %d bytes, want 16", statestore.ErrInvalidHandle, h, len(h.Data))
	}
	if reg := binary.BigEndian.Uint64(h.Data); reg != r.id {
		return 0, fmt.Errorf("%w: %v: made by registry %016x, this is registry %016x", statestore.ErrInvalidHandle, h, reg, r.id)
	}
	return binary.BigEndian.Uint64(h.Data[8:]), nil
}

// Open implements statestore.Opener. Handles whose key-group range does not
// overlap owned are ignored; the ranges of the others, clipped to owned, must
// not overlap each other.
func (r *Registry) Open(ctx context.Context, shard statestore.ShardOptions, from []statestore.Handle, owned statestore.KeyGroupRange) (statestore.Store, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if shard.Name == "" {
		return nil, fmt.Errorf("memstore: open: ShardOptions.Name is empty")
	}
	if err := owned.Validate(); err != nil {
		return nil, fmt.Errorf("memstore: open shard %q: %w", shard.Name, err)
	}
	var use []*snapshot
	var useHandles []statestore.Handle
	r.mu.Lock()
	for _, h := range from {
		id, err := r.snapshotID(h)
		if err != nil {
			r.mu.Unlock()
			return nil, fmt.Errorf("memstore: open shard %q: %w", shard.Name, err)
		}
		if !h.KeyGroups.Overlaps(owned) {
			continue
		}
		snap, ok := r.mu.snaps[id]
		if !ok {
			r.mu.Unlock()
			return nil, fmt.Errorf("memstore: open shard %q: %w: %v", shard.Name, statestore.ErrHandleNotFound, h)
		}
		for i, prev := range useHandles {
			if prev.KeyGroups.Intersect(owned).Overlaps(h.KeyGroups.Intersect(owned)) {
				r.mu.Unlock()
				return nil, fmt.Errorf("memstore: open shard %q: %w: handles %d (%v) and %d (%v) overlap within %v",
					shard.Name, statestore.ErrInvalidHandle, i, prev.KeyGroups, len(useHandles), h.KeyGroups, owned)
			}
		}
		use = append(use, snap)
		useHandles = append(useHandles, h)
	}
	var t *tree
	var liveBytes int64
	if len(use) == 1 && use[0].keyGroups.Intersect(owned) == use[0].keyGroups {
		// Everything the snapshot holds is owned: share its nodes.
		t = use[0].tree.Copy()
		liveBytes = use[0].liveBytes
	}
	r.mu.Unlock()

	if t == nil {
		// Clip and union. The snapshots are frozen, so no lock is needed.
		t = newTree()
		now := r.opts.Clock.Now().UnixNano()
		for _, snap := range use {
			lo, hi := snap.keyGroups.Intersect(owned).KeyBounds()
			snap.tree.Ascend(entry{key: lo}, func(e entry) bool {
				if bytes.Compare(e.key, hi) >= 0 {
					return false
				}
				if !statestore.Expired(e.expiry, now) {
					t.Set(e)
					liveBytes += entrySize(e)
				}
				return true
			})
		}
	}
	s := &store{reg: r, shard: shard, owned: owned, clock: r.opts.Clock}
	s.mu.tree = t
	s.mu.liveBytes = liveBytes
	return s, nil
}

func entrySize(e entry) int64 { return int64(len(e.key) + len(e.value)) }

// store is one shard's state.
type store struct {
	reg   *Registry
	shard statestore.ShardOptions
	owned statestore.KeyGroupRange
	clock clock.Clock

	mu struct {
		sync.RWMutex
		tree      *tree
		liveBytes int64 // key and value bytes in tree, expired included
		closed    bool
	}
	m counters
}

var _ statestore.Store = (*store)(nil)

type counters struct {
	gets, multiGets, lookups, found, scans        atomic.Int64
	batches, puts, deletes, deleteRanges, written atomic.Int64
	ckptStarted, ckptCompleted                    atomic.Int64
}

func (s *store) errClosed(op string) error {
	return fmt.Errorf("memstore: %s on shard %q: %w", op, s.shard.Name, statestore.ErrClosed)
}

// lookupLocked returns the live value of key, or false. s.mu is held.
func (s *store) lookupLocked(key []byte, now int64) ([]byte, bool) {
	if !s.owned.ContainsKey(key) {
		return nil, false
	}
	e, ok := s.mu.tree.Get(entry{key: key})
	if !ok || statestore.Expired(e.expiry, now) {
		return nil, false
	}
	return e.value, true
}

func checkKey(op string, i int, key []byte) error {
	if len(key) < statestore.KeyGroupBytes {
		return fmt.Errorf("memstore: %s: %w: key %d (%x) is %d bytes, want >= %d", op, statestore.ErrInvalidKey, i, key, len(key), statestore.KeyGroupBytes)
	}
	return nil
}

// Get implements statestore.Store.
func (s *store) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if err := checkKey("get", 0, key); err != nil {
		return nil, false, err
	}
	now := s.clock.Now().UnixNano()
	s.mu.RLock()
	if s.mu.closed {
		s.mu.RUnlock()
		return nil, false, s.errClosed("get")
	}
	v, ok := s.lookupLocked(key, now)
	s.mu.RUnlock()
	s.m.gets.Add(1)
	s.m.lookups.Add(1)
	if !ok {
		return nil, false, nil
	}
	s.m.found.Add(1)
	return bytes.Clone(v), true, nil
}

// MultiGet implements statestore.Store. found runs without the lock held.
func (s *store) MultiGet(ctx context.Context, keys [][]byte, found func(i int, value []byte)) error {
	for i, k := range keys {
		if err := checkKey("multiget", i, k); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sc := multiGetScratchPool.Get().(*multiGetScratch)
	defer multiGetScratchPool.Put(sc)
	hits := sc.hits[:0]
	defer func() { clear(hits); sc.hits = hits[:0] }() // drop value references
	// Look the keys up in key order with a path hint: neighbouring keys
	// share most of their path, so each search starts where the last one
	// ended and walks nodes that are already in cache.
	sc.order = sortedOrder(keys, sc.order)
	order := sc.order
	var hint btree.PathHint
	now := s.clock.Now().UnixNano()
	s.mu.RLock()
	if s.mu.closed {
		s.mu.RUnlock()
		return s.errClosed("multiget")
	}
	t := s.mu.tree
	for _, i := range order {
		k := keys[i]
		if !s.owned.ContainsKey(k) {
			continue
		}
		if e, ok := t.GetHint(entry{key: k}, &hint); ok && !statestore.Expired(e.expiry, now) {
			hits = append(hits, hit{int(i), e.value})
		}
	}
	s.mu.RUnlock()
	s.m.multiGets.Add(1)
	s.m.lookups.Add(int64(len(keys)))
	s.m.found.Add(int64(len(hits)))
	// Entry values are immutable, so handing them out after unlocking is safe.
	for _, h := range hits {
		found(h.i, h.v)
	}
	return nil
}

// Apply implements statestore.Store.
func (s *store) Apply(ctx context.Context, b *statestore.WriteBatch) error {
	if err := b.Validate(s.owned); err != nil {
		return fmt.Errorf("memstore: apply on shard %q: %w", s.shard.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	lo, hi := s.owned.KeyBounds()
	var puts, dels, ranges, written int64
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return s.errClosed("apply")
	}
	t := s.mu.tree
	var hint btree.PathHint
	ops := decodeBatch(b)
	defer putOps(ops)
	for seg := ops.ops; len(seg) > 0; {
		// A run of puts and deletes is applied in key order (stable, so a
		// later op on a key still wins) with a path hint; delete-ranges
		// split the runs and keep their place.
		n := 0
		for n < len(seg) && seg[n].Kind != statestore.OpDeleteRange {
			n++
		}
		run := seg[:n]
		if len(run) > 1 {
			// Sort by key, then by position: a later op on a key still
			// wins. (An unstable sort of op structs with the position as
			// tie-break moves less than a stable sort.)
			idx := slices.Grow(ops.idx[:0], len(run))[:len(run)]
			for i := range idx {
				idx[i] = int32(i)
			}
			slices.SortFunc(idx, func(a, b int32) int {
				if c := bytes.Compare(run[a].Key, run[b].Key); c != 0 {
					return c
				}
				return int(a - b)
			})
			sorted := slices.Grow(ops.sorted[:0], len(run))
			for _, i := range idx {
				sorted = append(sorted, run[i])
			}
			ops.idx, ops.sorted, run = idx, sorted, sorted
		}
		for _, op := range run {
			switch op.Kind {
			case statestore.OpPut:
				buf := make([]byte, len(op.Key)+len(op.Value))
				copy(buf, op.Key)
				copy(buf[len(op.Key):], op.Value)
				if prev, ok := t.SetHint(entry{key: buf[:len(op.Key):len(op.Key)], value: buf[len(op.Key):], expiry: op.Expiry}, &hint); ok {
					s.mu.liveBytes -= entrySize(prev)
				}
				s.mu.liveBytes += int64(len(buf))
				puts++
				written += int64(len(buf))
			case statestore.OpDelete:
				if prev, ok := t.DeleteHint(entry{key: op.Key}, &hint); ok {
					s.mu.liveBytes -= entrySize(prev)
				}
				dels++
				written += int64(len(op.Key))
			}
		}
		seg = seg[n:]
		if len(seg) == 0 {
			break
		}
		op := seg[0]
		seg = seg[1:]
		start, end := op.Key, op.End
		if bytes.Compare(start, lo) < 0 {
			start = lo
		}
		if bytes.Compare(end, hi) > 0 {
			end = hi
		}
		var doomed [][]byte
		t.Ascend(entry{key: start}, func(e entry) bool {
			if bytes.Compare(e.key, end) >= 0 {
				return false
			}
			doomed = append(doomed, e.key)
			return true
		})
		for _, k := range doomed {
			if prev, ok := t.Delete(entry{key: k}); ok {
				s.mu.liveBytes -= entrySize(prev)
			}
		}
		ranges++
		written += int64(len(op.Key) + len(op.End))
	}
	s.m.batches.Add(1)
	s.m.puts.Add(puts)
	s.m.deletes.Add(dels)
	s.m.deleteRanges.Add(ranges)
	s.m.written.Add(written)
	return nil
}

// snapshotTree returns a copy-on-write copy of the current tree and its
// size.
func (s *store) snapshotTree(op string) (*tree, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, 0, s.errClosed(op)
	}
	// Copy updates the source tree's copy-on-write id, so it needs the
	// exclusive lock.
	return s.mu.tree.Copy(), s.mu.liveBytes, nil
}

// Scan implements statestore.Store.
func (s *store) Scan(ctx context.Context, lower, upper []byte) (statestore.Iterator, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, _, err := s.snapshotTree("scan")
	if err != nil {
		return nil, err
	}
	s.m.scans.Add(1)
	lo, hi := s.owned.KeyBounds()
	if lower != nil && bytes.Compare(lower, lo) > 0 {
		lo = bytes.Clone(lower)
	}
	if upper != nil && bytes.Compare(upper, hi) < 0 {
		hi = bytes.Clone(upper)
	}
	return &iterator{s: s, it: t.Iter(), lower: lo, upper: hi, now: s.clock.Now().UnixNano()}, nil
}

// purgeExpired deletes entries that a scan skipped as expired, unless they
// have been rewritten since. Expired entries are invisible anyway; this frees
// their memory, so that a sweep over the key space (compute/state's Sweep)
// reclaims them even though it cannot see them.
func (s *store) purgeExpired(skipped []entry, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return
	}
	var hint btree.PathHint
	for _, e := range skipped {
		cur, ok := s.mu.tree.GetHint(entry{key: e.key}, &hint)
		if !ok || cur.expiry != e.expiry || !statestore.Expired(cur.expiry, now) {
			continue
		}
		if prev, ok := s.mu.tree.DeleteHint(entry{key: e.key}, &hint); ok {
			s.mu.liveBytes -= entrySize(prev)
		}
	}
}

// Checkpoint implements statestore.Store. The snapshot is taken and
// registered before it returns, so the Pending is already resolved.
func (s *store) Checkpoint(ctx context.Context, id uint64) (statestore.Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t, size, err := s.snapshotTree("checkpoint")
	if err != nil {
		return nil, err
	}
	s.m.ckptStarted.Add(1)
	h := s.reg.register(t, size, s.shard.Name, id, s.owned)
	s.m.ckptCompleted.Add(1)
	return statestore.Resolved(h, nil), nil
}

// Metrics implements statestore.Store. memstore counts every read as a
// memtable-tier lookup.
func (s *store) Metrics() statestore.Metrics {
	var m statestore.Metrics
	m.Gets = s.m.gets.Load()
	m.MultiGets = s.m.multiGets.Load()
	m.KeysLookedUp = s.m.lookups.Load()
	m.KeysFound = s.m.found.Load()
	m.Scans = s.m.scans.Load()
	m.Tiers[statestore.TierMemtable] = statestore.TierMetrics{Hits: m.KeysFound, Misses: m.KeysLookedUp - m.KeysFound}
	m.Batches = s.m.batches.Load()
	m.Puts = s.m.puts.Load()
	m.Deletes = s.m.deletes.Load()
	m.DeleteRanges = s.m.deleteRanges.Load()
	m.BytesWritten = s.m.written.Load()
	m.CheckpointsStarted = s.m.ckptStarted.Load()
	m.CheckpointsCompleted = s.m.ckptCompleted.Load()
	s.mu.RLock()
	if !s.mu.closed {
		m.LiveKeys = int64(s.mu.tree.Len())
		m.LiveBytes = s.mu.liveBytes
	}
	s.mu.RUnlock()
	m.Tiers[statestore.TierMemtable].SizeBytes = m.LiveBytes
	return m
}

// Close implements statestore.Store.
func (s *store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.closed = true
	s.mu.tree = nil
	return nil
}

// iterator walks a private copy-on-write copy of a store's tree.
type iterator struct {
	s            *store
	skipped      []entry // expired entries passed over, purged on Close
	it           btree.IterG[entry]
	lower, upper []byte
	now          int64
	valid        bool
	closed       bool
	cur          entry
}

var _ statestore.Iterator = (*iterator)(nil)

// settle skips expired entries from the iterator's current position.
func (i *iterator) settle(ok bool) bool {
	for ok {
		e := i.it.Item()
		if bytes.Compare(e.key, i.upper) >= 0 {
			break
		}
		if !statestore.Expired(e.expiry, i.now) {
			i.cur, i.valid = e, true
			return true
		}
		if len(i.skipped) < maxPurgePerScan {
			i.skipped = append(i.skipped, e)
		}
		ok = i.it.Next()
	}
	i.cur, i.valid = entry{}, false
	return false
}

func (i *iterator) First() bool { return i.SeekGE(nil) }

func (i *iterator) SeekGE(key []byte) bool {
	if i.closed {
		return false
	}
	if bytes.Compare(key, i.lower) < 0 {
		key = i.lower
	}
	return i.settle(i.it.Seek(entry{key: key}))
}

func (i *iterator) Next() bool {
	if !i.valid {
		return false
	}
	return i.settle(i.it.Next())
}

func (i *iterator) Valid() bool   { return i.valid }
func (i *iterator) Key() []byte   { return i.cur.key }
func (i *iterator) Value() []byte { return i.cur.value }
func (i *iterator) Error() error  { return nil }

// maxPurgePerScan bounds the expired entries one scan collects for purging.
const maxPurgePerScan = 1 << 16

func (i *iterator) Close() error {
	if !i.closed {
		i.closed, i.valid = true, false
		i.it.Release()
		if len(i.skipped) > 0 {
			i.s.purgeExpired(i.skipped, i.now)
			i.skipped = nil
		}
	}
	return nil
}

// batchOps is decoded-batch scratch, pooled.
type batchOps struct {
	ops, sorted []statestore.Op
	idx         []int32
}

var opsPool = sync.Pool{New: func() any { return new(batchOps) }}

// decodeBatch decodes b's operations into pooled scratch; the ops alias b.
func decodeBatch(b *statestore.WriteBatch) *batchOps {
	ops := opsPool.Get().(*batchOps)
	ops.ops = slices.Grow(ops.ops[:0], b.Len())
	r := b.Reader()
	for {
		op, ok := r.Next()
		if !ok {
			return ops
		}
		ops.ops = append(ops.ops, op)
	}
}

func putOps(ops *batchOps) {
	// Drop references to the batch's buffer.
	clear(ops.ops)
	clear(ops.sorted[:cap(ops.sorted)])
	ops.ops, ops.sorted = ops.ops[:0], ops.sorted[:0]
	opsPool.Put(ops)
}

// sortedOrder returns the indexes of keys in key order.
// hit is a key of a MultiGet that was found.
type hit struct {
	i int
	v []byte
}

// multiGetScratch is the per-call scratch of MultiGet, pooled so that the
// batch read path does not allocate.
type multiGetScratch struct {
	hits  []hit
	order []int32
}

var multiGetScratchPool = sync.Pool{New: func() any { return new(multiGetScratch) }}

// sortedOrder returns the indices of keys in key order, reusing dst.
func sortedOrder(keys [][]byte, dst []int32) []int32 {
	order := slices.Grow(dst[:0], len(keys))[:len(keys)]
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return bytes.Compare(keys[a], keys[b]) })
	return order
}
