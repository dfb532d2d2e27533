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
