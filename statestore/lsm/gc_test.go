package lsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// RetentionFunc's KeepFrom keeps a checkpoint that KeepLast alone drops:
// checkpoints 3 and 4 stand for ones in flight or failed above the last
// completed checkpoint 2, which must stay restorable.
func TestGCRetentionFunc(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	var keepFrom atomic.Uint64
	opts.RetentionFunc = func() manifest.Policy {
		return manifest.Policy{KeepLast: 1, KeepFrom: keepFrom.Load()}
	}
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	var h2 statestore.Handle
	var at2 model
	for id := uint64(1); id <= 4; id++ {
		fill(t, db, 8, 100, fmt.Sprintf("v%d", id), m, 0)
		h := mustCheckpoint(t, db, id)
		if err := db.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		if id == 2 {
			h2, at2 = h, m.clone()
		}
	}
	keepFrom.Store(2)
	plan, err := db.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(plan.DeleteManifests, ","); got != manifest.ManifestName("op/0", 1) {
		t.Fatalf("GC with KeepFrom 2 deleted manifests %q, want only checkpoint 1's", got)
	}
	restored := mustOpen(t, opts, "op/0", []statestore.Handle{h2}, statestore.FullKeyGroupRange(8))
	checkScan(t, ctx, restored, at2, 0)
	restored.Close()

	// KeepLast 1 alone drops checkpoint 2.
	keepFrom.Store(0)
	if _, err := db.GC(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, opts, statestore.ShardOptions{Name: "op/0", Epoch: 1}, []statestore.Handle{h2}, statestore.FullKeyGroupRange(8))
	if !errors.Is(err, statestore.ErrHandleNotFound) {
		t.Fatalf("open of checkpoint 2 after GC with KeepLast 1: err %v, want ErrHandleNotFound", err)
	}
	checkScan(t, ctx, db, m, 0)
}

// An invalid RetentionFunc result fails Open, and fails a later GC without
// deleting anything.
func TestGCRetentionFuncInvalid(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real())
	var keepLast atomic.Int64
	keepLast.Store(-1)
	opts.RetentionFunc = func() manifest.Policy { return manifest.Policy{KeepLast: int(keepLast.Load())} }
	_, err := Open(ctx, opts, statestore.ShardOptions{Name: "op/0", Epoch: 1}, nil, statestore.FullKeyGroupRange(8))
	if err == nil || !strings.Contains(err.Error(), "Options.RetentionFunc") || !strings.Contains(err.Error(), "KeepLast -1") {
		t.Fatalf("open with RetentionFunc returning KeepLast -1: err %v, want one naming the field and the value", err)
	}
	keepLast.Store(0) // defaults to 3, like Retention
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	for id := uint64(1); id <= 5; id++ {
		fill(t, db, 8, 50, fmt.Sprintf("v%d", id), m, 0)
		mustCheckpoint(t, db, id)
	}
	if err := db.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	keepLast.Store(-1)
	before, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.GC(ctx); err == nil || !strings.Contains(err.Error(), "Options.RetentionFunc") {
		t.Fatalf("GC with RetentionFunc returning KeepLast -1: err %v, want one naming the field", err)
	}
	after, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("failed GC changed the namespace from %d to %d objects", len(before), len(after))
	}
	keepLast.Store(0)
	plan, err := db.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.DeleteManifests) != 2 {
		t.Fatalf("GC with the default KeepLast 3 over 5 checkpoints deleted manifests %v, want 2", plan.DeleteManifests)
	}
	checkScan(t, ctx, db, m, 0)
}

// unreferenced returns the tables in storage that neither a manifest in
// storage nor the current version of one of dbs names.
func unreferenced(t *testing.T, ctx context.Context, st objstore.Storage, dbs ...*DB) []string {
	t.Helper()
	refs := manifest.NewRefs()
	names, err := st.List(ctx, manifest.ManifestPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := st.ReadAll(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := manifest.DecodeCheckpoint(n, b)
		if err != nil {
			t.Fatal(err)
		}
		refs.AddCheckpoint(cp)
	}
	for _, db := range dbs {
		db.mu.Lock()
		refs.AddVersion(db.mu.current.v)
		db.mu.Unlock()
	}
	objs, err := st.List(ctx, manifest.SSTPrefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		if !refs.Referenced(o) {
			out = append(out, o)
		}
	}
	return out
}

// Compaction inputs that no manifest names are deleted as soon as no
// version holds them, without a GC; an open iterator keeps its tables, a
// checkpoint's tables stay restorable.
func TestObsoleteTablesDeletedAtOnce(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage(t)
	opts := smallOpts(st, clock.Real()) // DisableAutoGC: no GC runs
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	m := model{}
	fill(t, db, 8, 200, "a", m, 0)
	h1 := mustCheckpoint(t, db, 1)
	at1 := m.clone()
	fill(t, db, 8, 200, "b", m, 0)
	if err := db.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// An iterator opened now holds the current version through the
	// compactions the next rewrites cause.
	it, err := db.Scan(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	atIter := m.clone()
	for round := range 6 {
		fill(t, db, 8, 200, fmt.Sprintf("r%d", round), m, 0)
		if err := db.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if db.LSMMetrics().ObsoleteDeleted == 0 {
		t.Fatal("no table deleted while an iterator was open; the rewrites should have made some obsolete")
	}
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatalf("iterator over compacted-away tables: %v", err)
	}
	if want := atIter.scan(nil, nil, db.Owned(), 0); !slices.Equal(got, want) {
		t.Fatalf("iterator opened before the compactions: %d entries, want %d", len(got), len(want))
	}
	if err := db.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if extra := unreferenced(t, ctx, st, db); len(extra) > 0 {
		t.Fatalf("after a compaction-heavy run without GC, %d tables are named by no manifest and no live version: %v", len(extra), extra)
	}
	lm := db.LSMMetrics()
	if lm.Compactions < 5 || lm.GCRuns != 0 {
		t.Fatalf("%d compactions, %d GC runs: want a compaction-heavy run without GC", lm.Compactions, lm.GCRuns)
	}
	t.Logf("%d flushes, %d compactions, %d obsolete tables deleted", lm.Flushes, lm.Compactions, lm.ObsoleteDeleted)
	// Checkpoint 1's tables were compacted away too, but stay.
	restored := mustOpen(t, opts, "op/0", []statestore.Handle{h1}, statestore.FullKeyGroupRange(8))
	checkScan(t, ctx, restored, at1, 0)
	checkScan(t, ctx, db, m, 0)
}
