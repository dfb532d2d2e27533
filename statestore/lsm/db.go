package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/cache"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/memtable"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
	"golang.org/x/sync/errgroup"
)

// minMemtable is the arena size a store starts with; arenas grow
// (memtableGrowth times on each fill) up to Options.MemtableSize and shrink
// after checkpoints that found them mostly empty.
const minMemtable = 256 << 10

// memtableGrowth is the factor by which a memtable that filled up is
// followed by a larger one. Growing fast matters: every small memtable is a
// small L0 table that point reads check until a compaction, and a shard
// that fills one arena is likely to fill the next. With 4, a busy shard
// reaches a 16 MiB arena after 3 fills (5.25 MiB in small tables) instead
// of 6 (16 MiB).
const memtableGrowth = 4

// Backend is the Handle.Backend of LSM checkpoints.
const Backend = "lsm"

// DB is one shard's tiered LSM. It implements statestore.Store. See the
// package doc for the concurrency contract.
type DB struct {
	opts  Options
	shard statestore.ShardOptions
	owned statestore.KeyGroupRange
	ownLo []byte
	ownHi []byte
	self  manifest.Writer
	st    *countingStorage
	bc    *cache.Cache
	tc    *tableCache

	// writeMu serializes Apply and Checkpoint (sequence number order).
	writeMu sync.Mutex
	// applyOps and applyOrder are Apply's scratch (guarded by writeMu):
	// a batch's operations and the order it inserts them in.
	applyOps   []statestore.Op
	applyOrder []int32
	// seq is the largest sequence number visible to readers.
	seq atomic.Uint64

	mu struct {
		sync.Mutex
		cond  *sync.Cond
		mem   *memtable.Memtable
		queue []*flushItem // frozen memtables and checkpoints, oldest first
		// mems is mem and the frozen memtables of queue, newest first, as
		// readers see them; nil when mem or queue changed since it was
		// built (memsChangedLocked). Readers share it: never modify it.
		mems *memList
		// memRefs counts, per memtable, the live lists holding it (the
		// current one, and older ones read states still hold), plus one
		// while it is mem or queued. At zero its arena is recycled.
		memRefs map[*memtable.Memtable]int
		// freeArena is the arena of the last memtable that went, for the
		// next one (no page faults on new memory).
		freeArena []byte
		current   *version
		live      map[*version]struct{}
		inflight  map[string]int // objects being written or pinned by pending work
		nextFile  uint64
		lastCkpt  uint64
		hasCkpt   bool
		closed    bool
		bgErr     error
		cursor    [manifest.NumLevels][]byte
		gcActive  bool
		gcSeen    map[string]bool
		// unpub tracks the tables this instance wrote that no manifest
		// names; those it reports obsolete wait in obsolete for the
		// deleter (deleting while it works on a batch).
		unpub    *manifest.Unpublished
		obsolete []manifest.Obsolete
		deleting bool
	}

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	flushCh   chan struct{}
	compactCh chan struct{}
	gcCh      chan struct{}
	deleteCh  chan struct{}
	gcMu      sync.Mutex // one GC at a time

	// ckptObjects are the tables of the last published checkpoint (or of
	// the opened handles): a checkpoint's size is what it adds to them.
	// Owned by the flusher.
	ckptObjects map[string]bool

	m counters
}

var _ statestore.Store = (*DB)(nil)

type counters struct {
	gets, multiGets, lookups, found, scans        atomic.Int64
	memHits, memMisses                            atomic.Int64
	batches, puts, deletes, deleteRanges, written atomic.Int64
	ckptStarted, ckptCompleted, ckptFailed        atomic.Int64
	lastCkptBytes, lastCkptNanos                  atomic.Int64
	flushes, flushBytes, tombstonesDropped        atomic.Int64
	compactions, compactionBytes, compactionIn    atomic.Int64
	expired, outOfRange, filtered                 atomic.Int64
	stallNanos, stalls                            atomic.Int64
	gcRuns, gcDeleted, obsoleteDeleted            atomic.Int64
	arenaReuses, compactionSkipped, blocksSkipped atomic.Int64 // for tests
}

// memList is a list of memtables as readers see them, newest first, with
// the number of read states holding it (guarded by DB.mu).
type memList struct {
	mems    []*memtable.Memtable
	readers int
}

// version is a manifest.Version with a reference count (guarded by DB.mu)
// and, per table, its open Reader once a point read looked it up: readers
// of the version find tables by position, without a table-cache lookup.
// A table stays open while a version names it.
type version struct {
	v       *manifest.Version
	refs    int
	readers [manifest.NumLevels][]atomic.Pointer[sstable.Reader]
}

func newVersion(v *manifest.Version) *version {
	nv := &version{v: v, refs: 1}
	for l := range nv.readers {
		nv.readers[l] = make([]atomic.Pointer[sstable.Reader], len(v.Levels[l]))
	}
	return nv
}

// flushItem is a frozen memtable (or none) and the checkpoints that
// complete once it is flushed.
type flushItem struct {
	mem   *memtable.Memtable // nil: nothing to flush
	seq   uint64             // last sequence number it holds
	ckpts []*pendingCheckpoint
}

type pendingCheckpoint struct {
	id      uint64
	p       *statestore.Promise
	started time.Time
}

// NewOpener returns a statestore.Opener that opens LSM stores with opts.
func NewOpener(opts Options) statestore.Opener {
	return statestore.OpenerFunc(func(ctx context.Context, shard statestore.ShardOptions, from []statestore.Handle, owned statestore.KeyGroupRange) (statestore.Store, error) {
		return Open(ctx, opts, shard, from, owned)
	})
}

// Open opens a shard's store from zero or more checkpoint handles, clipped
// to owned. It reads the handles' manifests and nothing else: table blocks
// are fetched on first use (or by the warm-up, if enabled). With no handle
// the store starts empty. Handles whose range does not overlap owned are
// skipped; the others, clipped to owned, must not overlap each other.
func Open(ctx context.Context, opts Options, shard statestore.ShardOptions, from []statestore.Handle, owned statestore.KeyGroupRange) (*DB, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if shard.Name == "" {
		return nil, errors.New("lsm: open: ShardOptions.Name is empty")
	}
	if err := owned.Validate(); err != nil {
		return nil, fmt.Errorf("lsm: open shard %q: %w", shard.Name, err)
	}
	st := &countingStorage{Storage: opts.Storage}
	var cps []*manifest.Checkpoint
	var used []statestore.Handle
	for i, h := range from {
		if h.Backend != Backend {
			return nil, fmt.Errorf("lsm: open shard %q: %w: handle %d is from backend %q, want %q", shard.Name, statestore.ErrInvalidHandle, i, h.Backend, Backend)
		}
		if !h.KeyGroups.Overlaps(owned) {
			continue
		}
		for j, p := range used {
			if p.KeyGroups.Intersect(owned).Overlaps(h.KeyGroups.Intersect(owned)) {
				return nil, fmt.Errorf("lsm: open shard %q: %w: handles %d (%v) and %d (%v) overlap within %v", shard.Name, statestore.ErrInvalidHandle, j, p.KeyGroups, i, h.KeyGroups, owned)
			}
		}
		name := string(h.Data)
		if _, _, ok := manifest.ParseManifestName(name); !ok {
			return nil, fmt.Errorf("lsm: open shard %q: %w: handle %d names manifest %q", shard.Name, statestore.ErrInvalidHandle, i, name)
		}
		b, err := st.ReadAll(ctx, name)
		if objstore.IsNotFound(err) {
			return nil, fmt.Errorf("lsm: open shard %q: %w: %v", shard.Name, statestore.ErrHandleNotFound, h)
		}
		if err != nil {
			return nil, fmt.Errorf("lsm: open shard %q: read manifest %s: %w", shard.Name, name, err)
		}
		cp, err := manifest.DecodeCheckpoint(name, b)
		if err != nil {
			return nil, fmt.Errorf("lsm: open shard %q: %w", shard.Name, err)
		}
		cps = append(cps, cp)
		used = append(used, h)
	}
	v, err := manifest.Merge(owned, cps...)
	if err != nil {
		return nil, fmt.Errorf("lsm: open shard %q: %w", shard.Name, err)
	}
	var lastSeq uint64
	for _, cp := range cps {
		lastSeq = max(lastSeq, cp.LastSeq)
	}
	bc := opts.BlockCache
	if bc == nil {
		bc, err = cache.New(cache.Options{Capacity: 64 << 20})
		if err != nil {
			return nil, err
		}
	}
	d := &DB{
		opts: opts, shard: shard, owned: owned, st: st, bc: bc,
		self:      manifest.Writer{Shard: shard.Name, Epoch: shard.Epoch, Instance: rand.Uint64()},
		flushCh:   make(chan struct{}, 1),
		compactCh: make(chan struct{}, 1),
		gcCh:      make(chan struct{}, 1),
		deleteCh:  make(chan struct{}, 1),
	}
	d.ownLo, d.ownHi = owned.KeyBounds()
	d.tc = &tableCache{st: st, bc: bc, disk: opts.Disk, items: map[string]*tableItem{}}
	d.seq.Store(max(lastSeq, 1)) // seqnum 0 would mean "no bound" to iterators
	d.mu.cond = sync.NewCond(&d.mu.Mutex)
	d.mu.memRefs = map[*memtable.Memtable]int{}
	d.mu.mem, err = d.newMemtableLocked(min(opts.MemtableSize, minMemtable))
	if err != nil {
		return nil, err
	}
	d.mu.current = newVersion(v)
	d.mu.live = map[*version]struct{}{d.mu.current: {}}
	d.ckptObjects = map[string]bool{}
	v.Objects(func(f *manifest.FileMeta) { d.ckptObjects[f.Object] = true })
	d.mu.inflight = map[string]int{}
	d.mu.unpub = manifest.NewUnpublished()
	d.mu.nextFile = 1
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(3)
	go d.flushLoop()
	go d.gcLoop()
	go d.deleteLoop()
	if !opts.DisableCompaction {
		d.wg.Add(1)
		go d.compactLoop()
		d.signal(d.compactCh)
	}
	if !opts.DisableAutoGC {
		d.signal(d.gcCh) // removes orphans a crashed predecessor left
	}
	if opts.WarmUp {
		d.wg.Add(1)
		go d.warmUp(v)
	}
	return d, nil
}

func (d *DB) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (d *DB) errClosed(op string) error {
	return fmt.Errorf("lsm: %s on shard %q: %w", op, d.shard.Name, statestore.ErrClosed)
}

// readState is a consistent view for one read: memtables newest first, a
// referenced version, and the read sequence number. The memtables' values
// are valid until release.
type readState struct {
	mems []*memtable.Memtable
	ml   *memList
	v    *version
	seq  uint64
	now  int64
}

// acquire returns a read view; release it with release. It allocates
// nothing: the memtable list is rebuilt only after it changed.
func (d *DB) acquire(op string) (readState, error) {
	now := d.opts.Clock.Now().UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return readState{}, d.errClosed(op)
	}
	ml := d.mu.mems
	if ml == nil {
		mems := make([]*memtable.Memtable, 0, 1+len(d.mu.queue))
		mems = append(mems, d.mu.mem)
		for i := len(d.mu.queue) - 1; i >= 0; i-- {
			if m := d.mu.queue[i].mem; m != nil {
				mems = append(mems, m)
			}
		}
		for _, m := range mems {
			d.mu.memRefs[m]++
		}
		ml = &memList{mems: mems}
		d.mu.mems = ml
	}
	ml.readers++
	rs := readState{mems: ml.mems, ml: ml, v: d.mu.current, seq: d.seq.Load(), now: now}
	rs.v.refs++
	return rs, nil
}

// memsChangedLocked notes that mem or queue changed.
func (d *DB) memsChangedLocked() {
	if ml := d.mu.mems; ml != nil {
		d.mu.mems = nil
		if ml.readers == 0 {
			d.dropMemListLocked(ml)
		}
	}
}

func (d *DB) release(rs *readState) {
	d.mu.Lock()
	d.unrefLocked(rs.v)
	if ml := rs.ml; ml != nil {
		ml.readers--
		if ml.readers == 0 && ml != d.mu.mems {
			d.dropMemListLocked(ml)
		}
	}
	d.mu.Unlock()
}

// dropMemListLocked forgets a list that no read state holds and that is
// not current.
func (d *DB) dropMemListLocked(ml *memList) {
	for _, m := range ml.mems {
		d.unrefMemLocked(m)
	}
}

// newMemtableLocked returns a memtable of size bytes (at most
// memtable.MaxCapacity), on the free arena if that is large enough,
// holding the DB's reference.
func (d *DB) newMemtableLocked(size int64) (*memtable.Memtable, error) {
	size = min(size, memtable.MaxCapacity)
	var arena []byte
	if int64(cap(d.mu.freeArena)) >= size {
		arena, d.mu.freeArena = d.mu.freeArena, nil
		d.m.arenaReuses.Add(1)
	}
	m, err := memtable.New(memtable.Options{Capacity: size, Arena: arena, IndexEntries: d.opts.MemtableEntries})
	if err != nil {
		return nil, err
	}
	d.mu.memRefs[m] = 1
	return m, nil
}

// unrefMemLocked drops a reference to m (a list's, or the DB's when m
// stops being mem or queued). After the last one nothing can use m: its
// arena becomes the free arena if it is the larger.
func (d *DB) unrefMemLocked(m *memtable.Memtable) {
	n := d.mu.memRefs[m] - 1
	if n > 0 {
		d.mu.memRefs[m] = n
		return
	}
	delete(d.mu.memRefs, m)
	if buf := m.Release(); cap(buf) > cap(d.mu.freeArena) {
		d.mu.freeArena = buf
	}
}

func (d *DB) unrefLocked(v *version) {
	v.refs--
	if v.refs == 0 {
		delete(d.mu.live, v)
		n := len(d.mu.obsolete)
		d.mu.obsolete = d.mu.unpub.RemoveVersion(v.v, d.mu.obsolete)
		if len(d.mu.obsolete) > n {
			d.signal(d.deleteCh)
		}
	}
}

// installLocked makes v the current version.
func (d *DB) installLocked(v *manifest.Version) {
	old := d.mu.current
	d.mu.current = newVersion(v)
	d.mu.live[d.mu.current] = struct{}{}
	d.mu.unpub.AddVersion(v)
	if d.mu.gcActive {
		v.Objects(func(f *manifest.FileMeta) { d.mu.gcSeen[f.Object] = true })
	}
	d.unrefLocked(old)
	d.mu.cond.Broadcast()
}

// resolve turns the newest entry for a key into a value.
func resolve(e base.Entry, now int64) ([]byte, bool) {
	if !e.Kind.IsSet() || statestore.Expired(int64(e.Expiry), now) {
		return nil, false
	}
	return e.Value, true
}

// live resolves e, the newest point entry of key at rs's seqnum: its
// value, unless e is a deletion, has expired, or a range deletion newer
// than e covers key in one of mems or tables, the sources at least as new
// as the one that holds e.
//
// Reads look for the point entry first and check the range deletions only
// then: a key that no source holds is absent whatever covers it, so the
// most common lookup of a stream job, of a key that does not exist yet,
// searches no range deletion.
func (rs *readState) live(e base.Entry, key []byte, mems []*memtable.Memtable, tables []*sstable.Reader) ([]byte, bool) {
	v, ok := resolve(e, rs.now)
	if !ok {
		return nil, false
	}
	// Only deletions newer than e can hide it: the sources search nothing
	// older.
	for _, m := range mems {
		if _, found := m.MaxCoveringRangeDelAbove(key, rs.seq, e.SeqNum); found {
			return nil, false
		}
	}
	for _, r := range tables {
		if _, found := r.MaxCoveringRangeDelAbove(key, rs.seq, e.SeqNum); found {
			return nil, false
		}
	}
	return v, true
}

// getMem looks key up in the memtables. done reports whether they decided,
// that is whether one holds a point entry for key; if not, the tables do,
// and a memtable's range deletions are checked against what they find.
// hash is the key's base.KeyHash.
func getMem(rs *readState, key []byte, hash uint64) (value []byte, ok, done bool) {
	for i, m := range rs.mems {
		if e, found := m.GetPointHash(key, hash, rs.seq); found {
			v, ok := rs.live(e, key, rs.mems[:i+1], nil)
			return v, ok, true
		}
	}
	return nil, false, false
}

// tableCand is a table that may hold a key, with the version's slot that
// caches its open reader.
type tableCand struct {
	f    *manifest.FileMeta
	slot *atomic.Pointer[sstable.Reader]
}

// candidates appends to cands the tables of rs's version whose key range
// holds key, newest first: every such table of L0, then at most one per
// level.
func candidates(rs *readState, key []byte, cands []tableCand) []tableCand {
	v := rs.v.v
	for i, f := range v.Levels[0] {
		if f.ContainsKey(key) {
			cands = append(cands, tableCand{f, &rs.v.readers[0][i]})
		}
	}
	for l := 1; l < manifest.NumLevels; l++ {
		files := v.Levels[l]
		// First reference whose upper bound is above key.
		i, j := 0, len(files)
		for i < j {
			h := int(uint(i+j) >> 1)
			if files[h].EndsAtOrBefore(key) {
				i = h + 1
			} else {
				j = h
			}
		}
		if i < len(files) && files[i].ContainsKey(key) {
			cands = append(cands, tableCand{files[i], &rs.v.readers[l][i]})
		}
	}
	return cands
}

// tryGetTables is getTables answered from memory: open tables and cached
// blocks. done is false when the answer needs a table opened or a block
// read; the caller then calls getTables.
func (d *DB) tryGetTables(rs *readState, key []byte, hash uint64) (value []byte, ok, done bool) {
	var buf [16]tableCand
	var rbuf [16]*sstable.Reader
	readers := rbuf[:0]
	for _, c := range candidates(rs, key, buf[:0]) {
		r := c.slot.Load()
		if r == nil {
			if r = d.tc.lookup(c.f.Object); r == nil {
				return nil, false, false
			}
			c.slot.Store(r)
		}
		readers = append(readers, r)
		e, found, done := r.TryGetPointAtHash(key, hash, rs.seq)
		if !done {
			return nil, false, false
		}
		if found {
			v, ok := rs.live(e, key, rs.mems, readers)
			return v, ok, true
		}
	}
	return nil, false, true
}

// getTables looks key up in the version's tables, newest first. Tables not
// opened yet among the candidates are opened in parallel first, so the
// first read after Open costs about one round of metadata reads whatever
// the number of tables.
func (d *DB) getTables(ctx context.Context, rs *readState, key []byte, hash uint64) ([]byte, bool, error) {
	var buf [16]tableCand
	cands := candidates(rs, key, buf[:0])
	// The tables are usually open and known to the version.
	var rbuf [16]*sstable.Reader
	readers := rbuf[:0]
	closed := false
	for _, c := range cands {
		r := c.slot.Load()
		if r == nil {
			if r = d.tc.lookup(c.f.Object); r != nil {
				c.slot.Store(r)
			}
		}
		readers = append(readers, r)
		closed = closed || r == nil
	}
	if closed {
		files := make([]*manifest.FileMeta, len(cands))
		for i, c := range cands {
			files[i] = c.f
		}
		if err := d.openTables(ctx, files); err != nil {
			return nil, false, err
		}
	}
	for i, c := range cands {
		r := readers[i]
		if r == nil {
			var err error
			if r, err = d.tc.get(ctx, c.f); err != nil {
				return nil, false, err
			}
			c.slot.Store(r)
			readers[i] = r
		}
		e, found, err := r.GetPointAtHash(ctx, key, hash, rs.seq)
		if err != nil {
			return nil, false, err
		}
		if found {
			val, ok := rs.live(e, key, rs.mems, readers[:i+1])
			return val, ok, nil
		}
	}
	return nil, false, nil
}

// openTables opens the tables among files that are not open yet, in
// parallel when there are several.
func (d *DB) openTables(ctx context.Context, files []*manifest.FileMeta) error {
	var closed []*manifest.FileMeta
	for _, f := range files {
		if !d.tc.isOpen(f.Object) {
			closed = append(closed, f)
		}
	}
	if len(closed) < 2 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, f := range closed {
		g.Go(func() error {
			_, err := d.tc.get(gctx, f)
			return err
		})
	}
	return g.Wait()
}

func checkKey(op string, i int, key []byte) error {
	if len(key) < statestore.KeyGroupBytes {
		return fmt.Errorf("lsm: %s: %w: key %d (%x) is %d bytes, want >= %d", op, statestore.ErrInvalidKey, i, key, len(key), statestore.KeyGroupBytes)
	}
	return nil
}

// Get implements statestore.Store.
func (d *DB) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	if err := checkKey("get", 0, key); err != nil {
		return nil, false, err
	}
	d.m.gets.Add(1)
	d.m.lookups.Add(1)
	if !d.owned.ContainsKey(key) {
		return nil, false, nil
	}
	rs, err := d.acquire("get")
	if err != nil {
		return nil, false, err
	}
	defer d.release(&rs)
	h := base.KeyHash(key)
	v, ok, done := getMem(&rs, key, h)
	if done {
		d.m.memHits.Add(1)
	} else {
		d.m.memMisses.Add(1)
		v, ok, err = d.getTables(ctx, &rs, key, h)
		if err != nil {
			return nil, false, fmt.Errorf("lsm: get %x on shard %q: %w", key, d.shard.Name, err)
		}
	}
	if !ok {
		return nil, false, nil
	}
	d.m.found.Add(1)
	// make+copy skips zeroing the new slice (bytes.Clone does not).
	out := make([]byte, len(v))
	copy(out, v)
	return out, true, nil
}

// MultiGet implements statestore.Store. Keys that the memtables, the open
// tables and the cached blocks answer are looked up in the calling
// goroutine; the others, which need a table opened or a block read, are
// looked up in parallel, at most Options.MultiGetConcurrency at a time, so
// the cold reads of one call overlap.
func (d *DB) MultiGet(ctx context.Context, keys [][]byte, found func(i int, value []byte)) error {
	for i, k := range keys {
		if err := checkKey("multiget", i, k); err != nil {
			return err
		}
	}
	d.m.multiGets.Add(1)
	d.m.lookups.Add(int64(len(keys)))
	rs, err := d.acquire("multiget")
	if err != nil {
		return err
	}
	defer d.release(&rs)
	type res struct {
		v  []byte
		ok bool
	}
	out := make([]res, len(keys))
	type coldKey struct {
		i    int
		hash uint64
	}
	var cold []coldKey
	for i, k := range keys {
		if !d.owned.ContainsKey(k) {
			continue
		}
		h := base.KeyHash(k)
		v, ok, done := getMem(&rs, k, h)
		if done {
			d.m.memHits.Add(1)
			out[i] = res{v, ok}
			continue
		}
		d.m.memMisses.Add(1)
		// Most table lookups are answered by open tables and cached
		// blocks: done here, they cost no goroutine and no
		// synchronization. Only the keys that need a read go to the
		// workers below.
		if v, ok, done := d.tryGetTables(&rs, k, h); done {
			out[i] = res{v, ok}
			continue
		}
		cold = append(cold, coldKey{i, h})
	}
	if len(cold) == 1 {
		i := cold[0].i
		v, ok, err := d.getTables(ctx, &rs, keys[i], cold[0].hash)
		if err != nil {
			return fmt.Errorf("lsm: multiget key %d (%x) on shard %q: %w", i, keys[i], d.shard.Name, err)
		}
		out[i] = res{v, ok}
	} else if len(cold) > 1 {
		// A fixed set of workers takes the keys in turn: as many lookups
		// in flight as before, without a goroutine per key when the
		// blocks are cached.
		g, gctx := errgroup.WithContext(ctx)
		var next atomic.Int64
		for range min(len(cold), d.opts.MultiGetConcurrency) {
			g.Go(func() error {
				for {
					j := int(next.Add(1)) - 1
					if j >= len(cold) {
						return nil
					}
					if err := gctx.Err(); err != nil {
						return err
					}
					i := cold[j].i
					v, ok, err := d.getTables(gctx, &rs, keys[i], cold[j].hash)
					if err != nil {
						return fmt.Errorf("lsm: multiget key %d (%x) on shard %q: %w", i, keys[i], d.shard.Name, err)
					}
					out[i] = res{v, ok}
				}
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	n := 0
	for i, r := range out {
		if r.ok {
			n++
			found(i, r.v)
		}
	}
	d.m.found.Add(int64(n))
	return nil
}

// maxApplyScratch is the most operations whose scratch Apply keeps for the
// next batch (80 bytes each).
const maxApplyScratch = 1 << 16

// batchNeed bounds the arena bytes a batch takes in a memtable.
func batchNeed(b *statestore.WriteBatch) int64 {
	return int64(b.Size()) + int64(b.Len())*128
}

// Apply implements statestore.Store.
func (d *DB) Apply(ctx context.Context, b *statestore.WriteBatch) error {
	if err := b.Validate(d.owned); err != nil {
		return fmt.Errorf("lsm: apply on shard %q: %w", d.shard.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	need := batchNeed(b)
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return d.errClosed("apply")
	}
	if full := d.mu.mem.Size()+need > d.mu.mem.Capacity(); full || d.mu.mem.Len() >= d.opts.MemtableEntries {
		if err := d.rotateLocked(need, full); err != nil {
			d.mu.Unlock()
			return err
		}
	}
	if err := d.stallLocked(ctx); err != nil {
		d.mu.Unlock()
		return err
	}
	mem := d.mu.mem
	d.mu.Unlock()

	// Operation i gets seqnum first+i. Point operations go into the
	// memtable in internal-key order (key ascending, then newest first), so
	// each insert starts from the previous one's place in the skiplist
	// instead of from its head.
	first := d.seq.Load() + 1
	ops := d.applyOps[:0]
	order := d.applyOrder[:0]
	r := b.Reader()
	for {
		op, ok := r.Next()
		if !ok {
			break
		}
		ops = append(ops, op)
	}
	order = sortPointOps(ops, order)
	var puts, dels, ranges, written int64
	w, err := mem.BeginWrite() // one lock for the whole batch
	if err != nil {
		// Only this goroutine (holding writeMu) freezes the memtable.
		panic(fmt.Sprintf("lsm: apply on shard %q: %v", d.shard.Name, err))
	}
	add := func(i int) {
		op := &ops[i]
		seq := first + uint64(i)
		var err error
		switch op.Kind {
		case statestore.OpPut:
			err = w.Set(op.Key, seq, op.Value, base.Expiry(op.Expiry))
			puts++
			written += int64(len(op.Key) + len(op.Value))
		case statestore.OpDelete:
			err = w.Delete(op.Key, seq)
			dels++
			written += int64(len(op.Key))
		case statestore.OpDeleteRange:
			start, end := op.Key, op.End
			if bytes.Compare(start, d.ownLo) < 0 {
				start = d.ownLo
			}
			if bytes.Compare(end, d.ownHi) > 0 {
				end = d.ownHi
			}
			if bytes.Compare(start, end) < 0 {
				err = w.DeleteRange(start, end, seq)
			}
			ranges++
			written += int64(len(op.Key) + len(op.End))
		}
		if err != nil {
			w.Done()
			// The room was reserved above, so this is a bug.
			panic(fmt.Sprintf("lsm: apply on shard %q: memtable rejected op at seq %d: %v", d.shard.Name, seq, err))
		}
	}
	for _, i := range order {
		add(int(i))
	}
	if len(order) < len(ops) {
		for i := range ops {
			if ops[i].Kind == statestore.OpDeleteRange {
				add(i)
			}
		}
	}
	seq := first + uint64(len(ops)) - 1
	clear(ops) // drop the references to b's buffer
	if cap(ops) > maxApplyScratch {
		ops, order = nil, nil
	}
	d.applyOps, d.applyOrder = ops[:0], order[:0]
	w.Done()
	d.seq.Store(seq)
	d.m.batches.Add(1)
	d.m.puts.Add(puts)
	d.m.deletes.Add(dels)
	d.m.deleteRanges.Add(ranges)
	d.m.written.Add(written)
	return nil
}

// entriesCap is the largest arena worth giving a memtable like m: room for
// MemtableEntries entries of m's average size (the arena bytes it used per
// entry) and a quarter more, rounded up to a power of two, so that arenas
// of one shard keep one size and are reused. Stream state of small
// entries (~80 bytes) thus gets 64 MiB arenas, never MemtableSize ones it
// would fill only to MemtableEntries: every new arena costs page faults.
// With too few entries to tell, MemtableSize.
func (d *DB) entriesCap(m *memtable.Memtable) int64 {
	n := m.Len()
	if n < 4096 {
		return d.opts.MemtableSize
	}
	per := m.Size() / n
	if d.opts.MemtableEntries > d.opts.MemtableSize/per {
		return d.opts.MemtableSize // (and no overflow below)
	}
	want := per * d.opts.MemtableEntries / 4 * 5
	if want >= d.opts.MemtableSize {
		return d.opts.MemtableSize
	}
	return max(int64(1)<<bits.Len64(uint64(want-1)), minMemtable)
}

// rotateLocked freezes the memtable and starts one with room for need.
// full says whether the arena filled up; it is false when the memtable
// reached MemtableEntries (the next arena then does not grow).
func (d *DB) rotateLocked(need int64, full bool) error {
	old := d.mu.mem
	if old.Empty() {
		d.unrefMemLocked(old)
	} else {
		old.Freeze()
		d.mu.queue = append(d.mu.queue, &flushItem{mem: old, seq: d.seq.Load()})
		d.signal(d.flushCh)
	}
	d.memsChangedLocked()
	// A memtable that filled up is followed by a larger one, up to
	// MemtableSize, while small shards keep small arenas; one that reached
	// MemtableEntries by one of the same size.
	// A batch larger than that gets a memtable of its own, grown until the
	// batch fits beside the memtable's own structures (its index).
	size := old.Capacity()
	if full {
		size *= memtableGrowth
	}
	size = max(min(size, d.opts.MemtableSize, d.entriesCap(old)), need+4<<10)
	for {
		m, err := d.newMemtableLocked(size)
		if err != nil {
			return fmt.Errorf("lsm: apply on shard %q: batch of %d bytes: %w", d.shard.Name, need, err)
		}
		if m.Size()+need <= m.Capacity() {
			d.mu.mem = m
			return nil
		}
		d.unrefMemLocked(m)
		if size >= memtable.MaxCapacity {
			return fmt.Errorf("lsm: apply on shard %q: a batch of %d bytes does not fit a memtable of at most %d bytes", d.shard.Name, need, memtable.MaxCapacity)
		}
		size *= 2
	}
}

// stallLocked waits while too many memtables wait for their flush or L0
// has too many tables: the last resort against running out of memory.
func (d *DB) stallLocked(ctx context.Context) error {
	stalled := false
	var start time.Time
	defer func() {
		if stalled {
			d.m.stallNanos.Add(int64(d.opts.Clock.Now().Sub(start)))
		}
	}()
	for {
		if d.mu.closed {
			return d.errClosed("apply")
		}
		frozen := 0
		for _, it := range d.mu.queue {
			if it.mem != nil {
				frozen++
			}
		}
		l0ok := d.opts.DisableCompaction || len(d.mu.current.v.Levels[0]) < d.opts.L0StopWrites
		if frozen <= d.opts.MaxFrozenMemtables && l0ok {
			return nil
		}
		if d.mu.bgErr != nil {
			d.signal(d.flushCh) // retry the failed work
			d.signal(d.compactCh)
			return fmt.Errorf("lsm: apply on shard %q: writes stalled and background work failed: %w", d.shard.Name, d.mu.bgErr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !stalled {
			stalled = true
			start = d.opts.Clock.Now()
			d.m.stalls.Add(1)
			d.signal(d.flushCh)
			d.signal(d.compactCh)
		}
		d.mu.cond.Wait()
	}
}

// Checkpoint implements statestore.Store: it freezes the memtable and
// returns; the flush and the manifest upload run in the background.
func (d *DB) Checkpoint(ctx context.Context, id uint64) (statestore.Pending, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return nil, d.errClosed("checkpoint")
	}
	if d.mu.hasCkpt && id <= d.mu.lastCkpt {
		return nil, fmt.Errorf("lsm: checkpoint on shard %q: id %d is not above the previous id %d", d.shard.Name, id, d.mu.lastCkpt)
	}
	d.mu.hasCkpt, d.mu.lastCkpt = true, id
	pc := &pendingCheckpoint{id: id, p: statestore.NewPromise(), started: d.opts.Clock.Now()}
	seq := d.seq.Load()
	switch {
	case !d.mu.mem.Empty():
		d.mu.mem.Freeze()
		d.mu.queue = append(d.mu.queue, &flushItem{mem: d.mu.mem, seq: seq, ckpts: []*pendingCheckpoint{pc}})
		// The next arena is sized by how full this one got.
		size := d.mu.mem.Capacity()
		if used := d.mu.mem.Size(); used < size/4 {
			size = max(size/2, min(d.opts.MemtableSize, minMemtable))
		} else if used > size/2 {
			size = min(2*size, d.opts.MemtableSize, max(d.entriesCap(d.mu.mem), size))
		}
		m, err := d.newMemtableLocked(size)
		if err != nil {
			return nil, err
		}
		d.mu.mem = m
	case len(d.mu.queue) > 0:
		last := d.mu.queue[len(d.mu.queue)-1]
		last.ckpts = append(last.ckpts, pc)
	default:
		d.mu.queue = append(d.mu.queue, &flushItem{seq: seq, ckpts: []*pendingCheckpoint{pc}})
	}
	d.memsChangedLocked()
	d.m.ckptStarted.Add(1)
	d.signal(d.flushCh)
	return pc.p, nil
}

// Close implements statestore.Store. Pending checkpoints fail with
// ErrClosed; background work stops; nothing durable is deleted.
func (d *DB) Close() error {
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return nil
	}
	d.mu.closed = true
	d.mu.cond.Broadcast()
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	for _, it := range d.mu.queue {
		for _, c := range it.ckpts {
			if c.p.Resolve(statestore.Handle{}, d.errClosed("checkpoint")) {
				d.m.ckptFailed.Add(1)
			}
		}
	}
	d.mu.queue = nil
	d.memsChangedLocked()
	d.mu.Unlock()
	d.tc.close()
	return nil
}

// Owned returns the key-group range the store owns.
func (d *DB) Owned() statestore.KeyGroupRange { return d.owned }

// Version returns a description of the current version (levels and
// tables), for debugging and tests.
func (d *DB) Version() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mu.current.v.String()
}

// WaitIdle blocks until no flush is queued, no compaction is due and no
// obsolete table waits for its deletion, or ctx ends. For tests and
// benchmarks.
func (d *DB) WaitIdle(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		d.mu.Lock()
		d.mu.cond.Broadcast()
		d.mu.Unlock()
	})
	defer stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if d.mu.closed {
			return d.errClosed("wait")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.mu.bgErr != nil {
			d.signal(d.flushCh) // retry the failed work
			d.signal(d.compactCh)
			return d.mu.bgErr
		}
		busy := len(d.mu.queue) > 0 || len(d.mu.obsolete) > 0 || d.mu.deleting
		if !busy && !d.opts.DisableCompaction {
			busy = manifest.Pick(d.mu.current.v, d.opts.Picker, nil) != nil
		}
		if !busy {
			return nil
		}
		d.signal(d.flushCh)
		d.signal(d.compactCh)
		d.mu.cond.Wait()
	}
}

func (d *DB) setBGErr(err error) {
	d.mu.Lock()
	d.mu.bgErr = err
	d.mu.cond.Broadcast()
	d.mu.Unlock()
}

func (d *DB) handleName(name string) string {
	if d.opts.URL == "" {
		return name
	}
	return strings.TrimSuffix(d.opts.URL, "/") + "/" + name
}
