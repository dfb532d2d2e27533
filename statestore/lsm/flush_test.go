package lsm

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

// A flush puts the blocks it writes into the block cache: reading every
// key back after it costs no block read (only each table's metadata),
// unless Options.DisableFlushCaching.
func TestFlushCachesBlocks(t *testing.T) {
	ctx := context.Background()
	for _, disable := range []bool{false, true} {
		opts := smallOpts(newMemStorage(t), clock.Real())
		opts.DisableCompaction = true
		opts.DisableFlushCaching = disable
		db := mustOpen(t, opts, fmt.Sprintf("op/%t", disable), nil, statestore.FullKeyGroupRange(8))
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
		if !disable && gets > int64(tables) {
			t.Errorf("reads after the flush made %d range GETs for %d tables, want at most one each (metadata)", gets, tables)
		}
		if disable && gets <= int64(tables) {
			t.Errorf("without flush caching, reads made %d range GETs for %d tables: blocks were cached anyway", gets, tables)
		}
	}
}
