package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/cache"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/objstore/objstoretest"
)

func key(g int, s string) []byte {
	return append(statestore.AppendKeyGroup(nil, uint16(g)), s...)
}

func smallOpts(st objstore.Storage, clk clock.Clock) Options {
	o := Options{
		Storage:        st,
		Clock:          clk,
		MemtableSize:   16 << 10,
		TargetFileSize: 8 << 10,
		Picker:         manifest.PickerOptions{L0Trigger: 2, BaseLevelBytes: 16 << 10, Multiplier: 4},
		DisableAutoGC:  true,
	}
	o.Table.BlockSize = 1 << 10
	return o
}

func mustOpen(t *testing.T, opts Options, name string, from []statestore.Handle, owned statestore.KeyGroupRange) *DB {
	t.Helper()
	db, err := Open(context.Background(), opts, statestore.ShardOptions{Name: name, Epoch: 1}, from, owned)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustCheckpoint(t *testing.T, db *DB, id uint64) statestore.Handle {
	t.Helper()
	p, err := db.Checkpoint(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func fill(t *testing.T, db *DB, groups, perGroup int, tag string, m model, expiry int64) {
	t.Helper()
	var b statestore.WriteBatch
	for g := range groups {
		for i := range perGroup {
			k := key(g, fmt.Sprintf("k%05d", i))
			v := []byte(fmt.Sprintf("%s-%d-%d-%030d", tag, g, i, i))
			b.PutWithExpiryNanos(k, v, expiry)
			if m != nil {
				m[string(k)] = modelEntry{value: v, expiry: expiry}
			}
			if b.Len() >= 64 {
				if err := db.Apply(context.Background(), &b); err != nil {
					t.Fatal(err)
				}
				b.Reset()
			}
		}
	}
	if err := db.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

// Open reads the manifests and nothing else; rescaling 1 -> 4 -> 1 reads
// no table data until the first read.
func TestOpenReadsManifestsOnly(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1000, 0))
	st := newMemStorage(t)
	opts := smallOpts(st, clk)
	opts.DisableCompaction = true
	src := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	fill(t, src, 8, 200, "a", m, 0)
	h := mustCheckpoint(t, src, 1)
	src.Close()

	ranges, _ := statestore.SplitKeyGroups(8, 4)
	var hs []statestore.Handle
	for i, r := range ranges {
		db := mustOpen(t, opts, fmt.Sprintf("op/%d", i), []statestore.Handle{h}, r)
		om := db.LSMMetrics().ObjStore
		if om.Gets != 1 || om.RangeGets != 0 || om.Heads != 0 || om.Puts != 0 {
			t.Fatalf("open of split %d made requests %+v, want exactly one manifest GET", i, om)
		}
		checkScan(t, ctx, db, m, 0)
		// Writes after the split, then a checkpoint per shard.
		var b statestore.WriteBatch
		k := key(int(r.Start), "new")
		b.Put(k, []byte("x"))
		if err := db.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
		m[string(k)] = modelEntry{value: []byte("x")}
		hs = append(hs, mustCheckpoint(t, db, 2))
		db.Close()
	}
	merged := mustOpen(t, opts, "op/0", hs, statestore.FullKeyGroupRange(8))
	if om := merged.LSMMetrics().ObjStore; om.Gets != 4 || om.RangeGets != 0 {
		t.Fatalf("open of the merge made requests %+v, want four manifest GETs", om)
	}
	checkScan(t, ctx, merged, m, 0)
	// Shared tables appear once per old shard, each clipped.
	t.Logf("merged version:\n%s", merged.Version())
}

// Compaction drops expired entries, keys outside the owned range after a
// split, and entries the filter rejects; reads never return them before.
func TestCompactionFilter(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(1000, 0))
	st := newMemStorage(t)
	opts := smallOpts(st, clk)
	src := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	exp := clk.Now().Add(time.Minute).UnixNano()
	fill(t, src, 8, 100, "ttl", nil, exp)
	m := model{}
	fill(t, src, 8, 100, "keep", m, 0) // overwrites: nothing expiring is live
	var b statestore.WriteBatch
	for i := range 100 {
		k := key(2, fmt.Sprintf("exp%03d", i))
		b.PutWithExpiryNanos(k, []byte("soon"), exp)
		m[string(k)] = modelEntry{value: []byte("soon"), expiry: exp}
		k = key(3, fmt.Sprintf("drop%03d", i))
		b.Put(k, []byte("filtered"))
		m[string(k)] = modelEntry{value: []byte("filtered")}
	}
	if err := src.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	h := mustCheckpoint(t, src, 1)
	src.Close()

	clk.Advance(2 * time.Minute)
	half := statestore.KeyGroupRange{Start: 0, End: 4}
	opts.Filter = func(k, v []byte, exp int64) bool { return !bytes.Equal(v, []byte("filtered")) }
	db := mustOpen(t, opts, "op/0", []statestore.Handle{h}, half)
	checkScan(t, ctx, db, m, clk.Now().UnixNano()) // expired entries are hidden already
	// More writes trigger compactions over the old tables.
	fill(t, db, 4, 300, "more", m, 0)
	for id := uint64(2); id < 6; id++ {
		fill(t, db, 4, 100, fmt.Sprintf("r%d", id), m, 0)
		mustCheckpoint(t, db, id)
		if err := db.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	lm := db.LSMMetrics()
	if lm.Compactions == 0 || lm.ExpiredDropped == 0 || lm.OutOfRangeDropped == 0 || lm.FilterDropped == 0 {
		t.Fatalf("compactions %d, expired dropped %d, out of range dropped %d, filtered %d: want all > 0\n%s",
			lm.Compactions, lm.ExpiredDropped, lm.OutOfRangeDropped, lm.FilterDropped, db.Version())
	}
	for k, e := range m {
		if bytes.Equal(e.value, []byte("filtered")) {
			delete(m, k) // the filter declared them dead
		}
	}
	// Filtered keys may still be visible in tables no compaction touched
	// yet; every other key must read as the model says.
	it, err := db.Scan(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now().UnixNano()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if bytes.Equal(it.Value(), []byte("filtered")) {
			continue
		}
		n++
		if v, ok := m.get(it.Key(), now); !ok || !bytes.Equal(v, it.Value()) {
			t.Fatalf("scan: %q = %q, model %q %t", it.Key(), it.Value(), v, ok)
		}
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if want := len(m.scan(nil, nil, half, now)); n != want {
		t.Fatalf("scan found %d live keys, want %d", n, want)
	}
}

// A checkpoint uploads only what changed since the previous one.
func TestCheckpointIsIncremental(t *testing.T) {
	st := newMemStorage(t)
	opts := smallOpts(st, clock.NewFake(time.Unix(1000, 0)))
	opts.MemtableSize = 1 << 20
	opts.DisableCompaction = true
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	fill(t, db, 8, 2000, "a", nil, 0)
	mustCheckpoint(t, db, 1)
	full := db.LSMMetrics().LastCheckpointBytes
	var b statestore.WriteBatch
	for i := range 160 { // 1% of the keys
		b.Put(key(i%8, fmt.Sprintf("k%05d", i*10)), []byte("changed"))
	}
	if err := db.Apply(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	mustCheckpoint(t, db, 2)
	inc := db.LSMMetrics().LastCheckpointBytes
	t.Logf("full checkpoint %d bytes, after changing 1%%: %d bytes", full, inc)
	if full == 0 || inc*20 > full {
		t.Fatalf("incremental checkpoint uploaded %d bytes, full state %d: want < 5%%", inc, full)
	}
	// A checkpoint with no change uploads only its manifest.
	flushes := db.LSMMetrics().Flushes
	mustCheckpoint(t, db, 3)
	if m := db.LSMMetrics(); m.LastCheckpointBytes > 4<<10 || m.Flushes != flushes {
		t.Fatalf("empty checkpoint uploaded %d bytes with %d flushes", m.LastCheckpointBytes, m.Flushes)
	}
}

// A stale writer of the same shard and checkpoint id is fenced out.
func TestCheckpointFencing(t *testing.T) {
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	a := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	b := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	mustCheckpoint(t, a, 5)
	p, err := b.Checkpoint(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(context.Background()); !errors.Is(err, objstore.ErrAlreadyExists) {
		t.Fatalf("second writer of checkpoint 5: err = %v, want ErrAlreadyExists", err)
	}
	if _, err := a.Checkpoint(context.Background(), 5); err == nil {
		t.Fatal("a repeated checkpoint id was accepted")
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	db := mustOpen(t, opts, "op/0", nil, statestore.KeyGroupRange{Start: 2, End: 4})
	var b statestore.WriteBatch
	b.Put(key(5, "x"), []byte("v"))
	if err := db.Apply(ctx, &b); !errors.Is(err, statestore.ErrNotOwned) {
		t.Fatalf("put outside the range: %v", err)
	}
	if _, _, err := db.Get(ctx, []byte{1}); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := Open(ctx, opts, statestore.ShardOptions{Name: "x"}, []statestore.Handle{{Backend: "memory"}}, statestore.FullKeyGroupRange(8)); !errors.Is(err, statestore.ErrInvalidHandle) {
		t.Fatalf("foreign handle: %v", err)
	}
	h := statestore.Handle{Backend: Backend, KeyGroups: statestore.FullKeyGroupRange(8), Data: []byte(manifest.ManifestName("gone", 1))}
	if _, err := Open(ctx, opts, statestore.ShardOptions{Name: "x"}, []statestore.Handle{h}, statestore.FullKeyGroupRange(8)); !errors.Is(err, statestore.ErrHandleNotFound) {
		t.Fatalf("missing handle: %v", err)
	}
	if _, err := Open(ctx, Options{}, statestore.ShardOptions{Name: "x"}, nil, statestore.FullKeyGroupRange(8)); err == nil {
		t.Fatal("nil storage accepted")
	}
	db.Close()
	if _, _, err := db.Get(ctx, key(2, "a")); !errors.Is(err, statestore.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
}

// concurrencyStorage records the largest number of ranged reads in flight.
// Reads wait (up to a bound) until four are in flight together, so a
// serial reader is slow and still fails the test, while a parallel one
// passes at once.
type concurrencyStorage struct {
	objstore.Storage
	inflight, peak atomic.Int64
	hold           atomic.Bool
	once           sync.Once
	gate           chan struct{}
}

func (c *concurrencyStorage) ReadObject(ctx context.Context, name string) (objstore.Readable, int64, error) {
	r, n, err := c.Storage.ReadObject(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return &concurrencyReadable{Readable: r, c: c}, n, nil
}

type concurrencyReadable struct {
	objstore.Readable
	c *concurrencyStorage
}

func (r *concurrencyReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	n := r.c.inflight.Add(1)
	defer r.c.inflight.Add(-1)
	for {
		p := r.c.peak.Load()
		if n <= p || r.c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if r.c.hold.Load() {
		if n >= 4 {
			r.c.once.Do(func() { close(r.c.gate) })
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-r.c.gate:
		case <-t.C:
		}
		t.Stop()
	}
	return r.Readable.ReadAt(ctx, p, off)
}

// MultiGet issues the cold reads of one call in parallel.
func TestMultiGetParallel(t *testing.T) {
	ctx := context.Background()
	cs := &concurrencyStorage{Storage: newMemStorage(t)}
	opts := smallOpts(cs, clock.Real())
	opts.DisableCompaction = true
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	fill(t, db, 8, 300, "v", m, 0)
	h := mustCheckpoint(t, db, 1)
	db.Close()
	cold := mustOpen(t, opts, "op/0", []statestore.Handle{h}, statestore.FullKeyGroupRange(8))
	var keys [][]byte
	for g := range 8 {
		for i := 0; i < 300; i += 37 {
			keys = append(keys, key(g, fmt.Sprintf("k%05d", i)))
		}
	}
	cs.gate = make(chan struct{})
	cs.hold.Store(true)
	got := 0
	if err := cold.MultiGet(ctx, keys, func(i int, v []byte) {
		if w, _ := m.get(keys[i], 0); !bytes.Equal(v, w) {
			t.Errorf("key %q = %q, want %q", keys[i], v, w)
		}
		got++
	}); err != nil {
		t.Fatal(err)
	}
	if got != len(keys) {
		t.Fatalf("found %d of %d keys", got, len(keys))
	}
	if p := cs.peak.Load(); p < 4 {
		t.Fatalf("at most %d ranged reads were in flight, want >= 4", p)
	}
}

// The disk tier serves reads after the block cache is cold.
func TestDiskTier(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	disk, err := cache.OpenDisk(cache.DiskOptions{Dir: t.TempDir(), Capacity: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	opts := smallOpts(st, clock.Real())
	opts.Disk = disk
	opts.DisableCompaction = true
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	fill(t, db, 8, 200, "v", m, 0)
	h := mustCheckpoint(t, db, 1)
	db.Close()
	db2 := mustOpen(t, opts, "op/0", []statestore.Handle{h}, statestore.FullKeyGroupRange(8))
	checkScan(t, ctx, db2, m, 0)
	lm := db2.LSMMetrics()
	if lm.Tiers[statestore.TierDisk].Hits == 0 || lm.ObjStore.RangeGets != 0 {
		t.Fatalf("disk hits %d, remote range GETs %d: flushed tables should be served from disk", lm.Tiers[statestore.TierDisk].Hits, lm.ObjStore.RangeGets)
	}
}

// GC over a job whose shards share tables after a split: a table is
// deleted only when no shard's retained checkpoint references it.
func TestGCSharedAfterSplit(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	opts.Retention = manifest.Policy{KeepLast: 1}
	src := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	fill(t, src, 8, 200, "v", m, 0)
	h := mustCheckpoint(t, src, 1)
	src.Close()
	a := mustOpen(t, opts, "op/0", []statestore.Handle{h}, statestore.KeyGroupRange{Start: 0, End: 4})
	b := mustOpen(t, opts, "op/1", []statestore.Handle{h}, statestore.KeyGroupRange{Start: 4, End: 8})
	// Shard a rewrites its half completely; b does not touch the shared tables.
	for id := uint64(2); id < 6; id++ {
		fill(t, a, 4, 200, fmt.Sprintf("a%d", id), m, 0)
		mustCheckpoint(t, a, id)
		if err := a.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		hb := mustCheckpoint(t, b, id)
		if _, err := a.GC(ctx); err != nil {
			t.Fatal(err)
		}
		b.Close()
		b = mustOpen(t, opts, "op/1", []statestore.Handle{hb}, statestore.KeyGroupRange{Start: 4, End: 8})
	}
	if a.LSMMetrics().GCDeleted == 0 {
		t.Fatal("GC deleted nothing")
	}
	checkScan(t, ctx, b, m, 0) // b's tables, shared with a's past, are intact
	checkScan(t, ctx, a, m, 0)
}

// The LSM over real servers: the in-process S3 server and Azurite.
func TestRealServers(t *testing.T) {
	t.Run("s3", func(t *testing.T) {
		srv := objstoretest.StartS3(t)
		srv.CreateBucket(t, "state")
		st, err := objstore.Open(context.Background(), srv.URL("state", "prefix", "job-1/"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		realServerRun(t, st)
	})
	t.Run("azure", func(t *testing.T) {
		srv := objstoretest.StartAzurite(t)
		srv.CreateContainer(t, "state")
		st, err := objstore.OpenWith(context.Background(), srv.URL("state"), objstore.Options{Getenv: srv.Getenv})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		realServerRun(t, st)
	})
}

func realServerRun(t *testing.T, st objstore.Storage) {
	ctx := context.Background()
	opts := smallOpts(st, clock.Real())
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	fill(t, db, 8, 200, "v1", m, 0)
	h1 := mustCheckpoint(t, db, 1)
	fill(t, db, 4, 200, "v2", m, 0)
	mustCheckpoint(t, db, 2)
	if err := db.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	h3 := mustCheckpoint(t, db, 3)
	// Fencing with the server's conditional create.
	other := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	p, err := other.Checkpoint(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(ctx); !errors.Is(err, objstore.ErrAlreadyExists) {
		t.Fatalf("stale writer of checkpoint 3: %v, want ErrAlreadyExists", err)
	}
	if _, err := db.GCWith(ctx, manifest.Policy{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Checkpoint 1 was collected; 3 opens, split in two.
	if _, err := Open(ctx, opts, statestore.ShardOptions{Name: "op/0", Epoch: 2}, []statestore.Handle{h1}, statestore.FullKeyGroupRange(8)); !errors.Is(err, statestore.ErrHandleNotFound) {
		t.Fatalf("open of a collected checkpoint: %v", err)
	}
	for _, r := range []statestore.KeyGroupRange{{Start: 0, End: 3}, {Start: 3, End: 8}} {
		s := mustOpen(t, opts, "op/x", []statestore.Handle{h3}, r)
		checkScan(t, ctx, s, m, 0)
	}
}

// The first read of a table opened from a checkpoint costs a HEAD, one
// range GET for its metadata (the manifest carries its length) and one per
// data block.
func TestColdReadRequests(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	opts.DisableCompaction = true
	opts.MemtableSize = 1 << 20 // one table
	src := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	fill(t, src, 8, 50, "v", m, 0)
	h := mustCheckpoint(t, src, 1)
	src.Close()
	db := mustOpen(t, opts, "op/0", []statestore.Handle{h}, statestore.FullKeyGroupRange(8))
	if files := db.LSMMetrics().Levels[0].Files; files != 1 {
		t.Fatalf("%d tables, want 1:\n%s", files, db.Version())
	}
	k := key(3, "k00007")
	v, ok, err := db.Get(ctx, k)
	if want, _ := m.get(k, 0); err != nil || !ok || !bytes.Equal(v, want) {
		t.Fatalf("get %q = %q,%t,%v; want %q", k, v, ok, err, want)
	}
	if om := db.LSMMetrics().ObjStore; om.Heads != 1 || om.RangeGets != 2 {
		t.Fatalf("first read made %d HEADs and %d range GETs, want 1 and 2 (metadata, block)", om.Heads, om.RangeGets)
	}
}

// A checkpoint's size is its manifest plus the tables it names that the
// previous checkpoint did not, compaction outputs included.
func TestCheckpointBytesAreTheDelta(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	objects := func(h statestore.Handle) (map[string]uint64, int64) {
		b, err := st.ReadAll(ctx, string(h.Data))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := manifest.DecodeCheckpoint(string(h.Data), b)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for _, l := range cp.Levels {
			for _, f := range l {
				out[f.Object] = f.Size
			}
		}
		return out, int64(len(b))
	}
	prev := map[string]uint64{}
	for round := range 4 {
		fill(t, db, 8, 300, fmt.Sprintf("r%d", round), nil, 0)
		if err := db.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		h := mustCheckpoint(t, db, uint64(round+1))
		cur, want := objects(h)
		for o, size := range cur {
			if _, ok := prev[o]; !ok {
				want += int64(size)
			}
		}
		if got := db.LSMMetrics().LastCheckpointBytes; got != want {
			t.Fatalf("checkpoint %d: LastCheckpointBytes %d, want %d (manifest and new tables)", round+1, got, want)
		}
		prev = cur
	}
	if db.LSMMetrics().Compactions == 0 {
		t.Fatal("no compaction ran: the test should cover compaction outputs")
	}
}
