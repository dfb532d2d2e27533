package lsm

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

// With Options.CacheFlushedBlocks, a flush puts the blocks it writes into
// the block cache: reading every key back after it costs no block read
// (only each table's metadata). Without, the reads read blocks.
func TestFlushCachesBlocks(t *testing.T) {
	ctx := context.Background()
	for _, cache := range []bool{true, false} {
		opts := smallOpts(newMemStorage(t), clock.Real())
		opts.DisableCompaction = true
		opts.CacheFlushedBlocks = cache
		db := mustOpen(t, opts, fmt.Sprintf("op/%t", cache), nil, statestore.FullKeyGroupRange(8))
		m := model{}
		fill(t, db, 8, 100, "v", m, 0)
		mustCheckpoint(t, db, 1)
		tables := db.LSMMetrics().Levels[0].Files
		before := db.LSMMetrics().ObjStore.RangeGets
		for k, want := range m {
			v, ok, err := db.Get(ctx, []byte(k))
			if err != nil || !ok || !bytes.Equal(v, want.value) {
				t.Fatalf("get %q = %q,%t,%v; want %q", k, v, ok, err, want.value)
			}
		}
		gets := db.LSMMetrics().ObjStore.RangeGets - before
		if tables < 2 {
			t.Fatalf("%d tables, want several", tables)
		}
		if cache && gets > int64(tables) {
			t.Errorf("reads after the flush made %d range GETs for %d tables, want at most one each (metadata)", gets, tables)
		}
		if !cache && gets <= int64(tables) {
			t.Errorf("without flush caching, reads made %d range GETs for %d tables: blocks were cached anyway", gets, tables)
		}
	}
}

// A compaction does not read an input table whose whole range a newer
// input's range deletion covers; when one key escapes the deletion, it
// reads only the blocks that are not covered. Either way the result is the
// same as without the shortcut.
func TestCompactionSkipsDeletedTables(t *testing.T) {
	for _, from := range []string{"", "k00001"} {
		t.Run("from="+from, func(t *testing.T) {
			ctx := context.Background()
			opts := smallOpts(newMemStorage(t), clock.Real())
			opts.DisableCompaction = true
			opts.MemtableSize = 1 << 20 // a table per checkpoint
			db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
			old := model{}
			fill(t, db, 4, 60, "old", old, 0) // groups 0..3
			mustCheckpoint(t, db, 1)
			var b statestore.WriteBatch
			b.DeleteRange(key(0, from), key(4, ""))
			if err := db.Apply(ctx, &b); err != nil {
				t.Fatal(err)
			}
			m := model{}
			fill(t, db, 6, 20, "new", m, 0) // groups 0..5
			if from != "" {
				k := string(key(0, "k00000"))
				if _, ok := m[k]; !ok {
					m[k] = old[k]
				}
			}
			mustCheckpoint(t, db, 2)
			if n := db.LSMMetrics().Levels[0].Files; n != 2 {
				t.Fatalf("%d L0 tables, want 2\n%s", n, db.Version())
			}
			if !db.compactOne() {
				t.Fatalf("no compaction picked\n%s", db.Version())
			}
			got := map[string]string{}
			it, err := db.Scan(ctx, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for ok := it.First(); ok; ok = it.Next() {
				got[string(it.Key())] = string(it.Value())
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			for k, e := range m {
				if got[k] != string(e.value) {
					t.Fatalf("key %q = %q, want %q\n%s", k, got[k], e.value, db.Version())
				}
			}
			if len(got) != len(m) {
				t.Fatalf("scan found %d keys, want %d\n%s", len(got), len(m), db.Version())
			}
			if skipped, want := db.m.compactionSkipped.Load(), int64(map[bool]int{true: 1}[from == ""]); skipped != want {
				t.Fatalf("%d tables skipped, want %d", skipped, want)
			}
			// With one key left, the blocks after the first are covered.
			if blocks := db.m.blocksSkipped.Load(); from != "" && blocks == 0 {
				t.Fatal("no block skipped")
			}
		})
	}
}

// A flush does not write the tombstones of keys that no table below the
// memtable holds (written and deleted within it), and keeps those that hide
// a flushed version. The keys are within the flushed table's range and the
// table is open, so its Bloom filter decides. A memtable of nothing but
// such tombstones flushes no table. Reads after a restore agree.
func TestFlushDropsUnseenTombstones(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	opts.DisableCompaction = true
	opts.MemtableSize = 1 << 20 // a table per checkpoint
	kgs := statestore.FullKeyGroupRange(8)
	db := mustOpen(t, opts, "op/0", nil, kgs)
	apply := func(f func(b *statestore.WriteBatch)) {
		t.Helper()
		var b statestore.WriteBatch
		f(&b)
		if err := db.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	dropped := func() int64 { return db.LSMMetrics().FlushTombstonesDropped }
	tables := func() int { return db.LSMMetrics().Levels[0].Files }
	// Checkpoint 1 flushes "a-old" and "z-old": a table whose range covers
	// every key below.
	apply(func(b *statestore.WriteBatch) {
		b.Put(key(1, "a-old"), []byte("v"))
		b.Put(key(1, "z-old"), []byte("v"))
	})
	mustCheckpoint(t, db, 1)
	if _, ok, err := db.Get(ctx, key(1, "z-old")); err != nil || !ok {
		t.Fatalf("get z-old: %t, %v", ok, err)
	}
	// brief puts n keys prefix000.., then deletes them in a later batch
	// that more adds to.
	brief := func(prefix string, n int, more func(b *statestore.WriteBatch)) {
		t.Helper()
		apply(func(b *statestore.WriteBatch) {
			for i := range n {
				b.Put(key(1, fmt.Sprintf("%s%03d", prefix, i)), []byte("v"))
			}
		})
		apply(func(b *statestore.WriteBatch) {
			for i := range n {
				b.Delete(key(1, fmt.Sprintf("%s%03d", prefix, i)))
			}
			more(b)
		})
	}
	brief("m-new", 100, func(b *statestore.WriteBatch) {
		b.Delete(key(1, "a-old"))
		b.Delete(key(1, "m-never"))
		b.Put(key(1, "m-live"), []byte("w"))
	})
	mustCheckpoint(t, db, 2)
	if n := tables(); n != 2 {
		t.Fatalf("%d L0 tables, want 2\n%s", n, db.Version())
	}
	// 101 unseen keys (m-new*, m-never); a Bloom false positive could keep
	// one or two. The tombstone of a-old stays.
	if d := dropped(); d < 99 || d > 101 {
		t.Fatalf("%d tombstones dropped, want 101 (at least 99)", d)
	}
	// Checkpoint 3: nothing but keys written and deleted in one memtable.
	before := dropped()
	brief("m-brief", 50, func(*statestore.WriteBatch) {})
	h := mustCheckpoint(t, db, 3)
	if d := dropped() - before; d < 48 {
		t.Fatalf("%d tombstones of short-lived keys dropped, want about 50", d)
	}
	if n := tables(); n != 2 && dropped()-before == 50 {
		t.Fatalf("%d L0 tables after a flush of nothing but unseen tombstones, want 2\n%s", n, db.Version())
	}
	t.Logf("dropped %d tombstones at checkpoint 2, %d at 3; %d L0 tables", before, dropped()-before, tables())
	check := func(db *DB, what string) {
		t.Helper()
		for k, want := range map[string]string{"a-old": "", "z-old": "v", "m-new007": "", "m-never": "", "m-live": "w", "m-brief003": ""} {
			v, ok, err := db.Get(ctx, key(1, k))
			if err != nil || ok != (want != "") || string(v) != want {
				t.Fatalf("%s: get %q = %q,%t,%v; want %q", what, k, v, ok, err, want)
			}
		}
	}
	check(db, "after the flushes")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, opts, "op/0", []statestore.Handle{h}, kgs)
	defer db.Close()
	check(db, "restored")
}

// openEntriesDB opens a shard without compaction whose memtables hold at
// most size bytes and entries entries, and returns it with a function that
// reads its memtable's arena size.
func openEntriesDB(t *testing.T, size, entries int64) (*DB, func() int64) {
	opts := smallOpts(newMemStorage(t), clock.Real())
	opts.DisableCompaction = true
	opts.MemtableSize = size
	opts.MemtableEntries = entries
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	return db, func() int64 {
		db.mu.Lock()
		defer db.mu.Unlock()
		return db.mu.mem.Capacity()
	}
}

// A memtable that reaches Options.MemtableEntries is flushed like a full
// one, and the next one has the same arena; arenas that fill up grow. Every
// key reads back.
func TestMemtableEntriesLimit(t *testing.T) {
	ctx := context.Background()
	db, capacity := openEntriesDB(t, 4<<20, 200)
	start := capacity()
	m := model{}
	// 1000 small entries in batches of 64: a memtable takes 4 batches.
	fill(t, db, 8, 125, "v", m, 0)
	if got := capacity(); got != start {
		t.Errorf("arena %d bytes after memtables that reached MemtableEntries, want %d (no growth)", got, start)
	}
	mustCheckpoint(t, db, 1)
	if n := db.LSMMetrics().Flushes; n < 4 {
		t.Errorf("%d flushes of 1000 entries at 200 entries per memtable, want at least 4", n)
	}
	// Large values fill the arena before the entry limit: it grows.
	var b statestore.WriteBatch
	for i := range 20 {
		b.Put(key(1, fmt.Sprintf("big%02d", i)), bytes.Repeat([]byte{'x'}, 64<<10))
		if err := db.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
		b.Reset()
	}
	if got := capacity(); got <= start {
		t.Errorf("arena %d bytes after large values filled it, want more than %d", got, start)
	}
	for k, want := range m {
		v, ok, err := db.Get(ctx, []byte(k))
		if err != nil || !ok || !bytes.Equal(v, want.value) {
			t.Fatalf("get %q = %q,%t,%v; want %q", k, v, ok, err, want.value)
		}
	}
}

// Arenas of a shard whose memtables reach MemtableEntries stop growing at
// the size those entries need (rounded up to a power of two), through
// fills and checkpoints alike, well below MemtableSize.
func TestArenaCappedByEntries(t *testing.T) {
	ctx := context.Background()
	const entries = 6000
	db, capacity := openEntriesDB(t, 64<<20, entries)
	var maxCap int64
	var b statestore.WriteBatch
	for i := range 128 << 10 {
		b.Put(key(i%8, fmt.Sprintf("k%07d", i)), []byte("a value of about forty bytes, like a sum"))
		if b.Len() < 64 {
			continue
		}
		if err := db.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
		b.Reset()
		if (i+1)%(16<<10) == 0 {
			mustCheckpoint(t, db, uint64(i+1))
		}
		maxCap = max(maxCap, capacity())
	}
	// About 100 arena bytes per entry: 6000 of them and a quarter more
	// need 1 MiB. (Checkpoints that find an arena more than half full
	// would double it otherwise.)
	if maxCap > 1<<20 {
		t.Fatalf("largest arena %d bytes for memtables of %d entries, want at most 1 MiB", maxCap, entries)
	}
	t.Logf("largest arena %d bytes", maxCap)
}
