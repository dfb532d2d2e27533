package lsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
)

var errCrashed = errors.New("process crashed")

// crashStorage simulates a process dying at its k-th object write (table
// finish, conditional create or delete): from then on every request fails.
// With after set, the k-th write reaches the server before the crash (the
// response is lost).
type crashStorage struct {
	objstore.Storage
	mu      sync.Mutex
	at      int
	after   bool
	writes  int
	crashed bool
}

// write decides the fate of one write: do it or not, and the error.
func (c *crashStorage) write() (do bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return false, errCrashed
	}
	c.writes++
	if c.writes == c.at {
		c.crashed = true
		return c.after, errCrashed
	}
	return true, nil
}

func (c *crashStorage) alive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed {
		return errCrashed
	}
	return nil
}

func (c *crashStorage) ReadObject(ctx context.Context, name string) (objstore.Readable, int64, error) {
	if err := c.alive(); err != nil {
		return nil, 0, err
	}
	return c.Storage.ReadObject(ctx, name)
}

func (c *crashStorage) ReadAll(ctx context.Context, name string) ([]byte, error) {
	if err := c.alive(); err != nil {
		return nil, err
	}
	return c.Storage.ReadAll(ctx, name)
}

func (c *crashStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := c.alive(); err != nil {
		return nil, err
	}
	return c.Storage.List(ctx, prefix)
}

func (c *crashStorage) CreateObject(ctx context.Context, name string) (objstore.Writable, error) {
	if err := c.alive(); err != nil {
		return nil, err
	}
	w, err := c.Storage.CreateObject(ctx, name)
	if err != nil {
		return nil, err
	}
	return &crashWritable{Writable: w, c: c}, nil
}

func (c *crashStorage) CreateIfAbsent(ctx context.Context, name string, data []byte) error {
	do, err := c.write()
	if do {
		if e := c.Storage.CreateIfAbsent(ctx, name, data); e != nil {
			return e
		}
	}
	return err
}

func (c *crashStorage) Delete(ctx context.Context, name string) error {
	do, err := c.write()
	if do {
		if e := c.Storage.Delete(ctx, name); e != nil {
			return e
		}
	}
	return err
}

type crashWritable struct {
	objstore.Writable
	c *crashStorage
}

func (w *crashWritable) Write(p []byte) error {
	if err := w.c.alive(); err != nil {
		return err
	}
	return w.Writable.Write(p)
}

func (w *crashWritable) Finish() error {
	do, err := w.c.write()
	if !do {
		w.Writable.Abort()
		return err
	}
	if e := w.Writable.Finish(); e != nil {
		return e
	}
	return err
}

// crashSequence runs flushes, compactions, checkpoints and GC against st,
// then rewrites without a checkpoint or GC (so compaction inputs are
// deleted at once), and returns the last completed checkpoint and the
// state it holds. It stops at the first error (the crash). A run that does
// not crash ends with a check that every table in st is named by a
// manifest or the live version.
func crashSequence(t *testing.T, ctx context.Context, opts Options, st objstore.Storage) (last *statestore.Handle, lastState model, n int, err error) {
	opts.Storage = st
	db, err := Open(ctx, opts, statestore.ShardOptions{Name: "op/0", Epoch: 1}, nil, statestore.FullKeyGroupRange(numKeyGroups))
	if err != nil {
		return nil, nil, 0, err
	}
	defer db.Close()
	m := model{}
	put := func(round, i int) error {
		var b statestore.WriteBatch
		k := fmt.Appendf(statestore.AppendKeyGroup(nil, uint16(i%numKeyGroups)), "key%04d", i)
		if round > 0 && i%5 == 0 {
			b.Delete(k)
			delete(m, string(k))
		} else {
			v := fmt.Appendf(nil, "value-%d-%d-%040d", round, i, i)
			b.Put(k, v)
			m[string(k)] = modelEntry{value: v}
		}
		if round == 2 && i == 50 {
			lo := statestore.AppendKeyGroup(nil, 3)
			b.DeleteRange(lo, statestore.AppendKeyGroup(nil, 4))
			for k := range m {
				if statestore.KeyGroupOf([]byte(k)) == 3 {
					delete(m, k)
				}
			}
		}
		return db.Apply(ctx, &b)
	}
	for round := range 4 {
		for i := range 300 {
			if err := put(round, i*(round+1)%300); err != nil {
				return last, lastState, round, err
			}
		}
		p, err := db.Checkpoint(ctx, uint64(round+1))
		if err != nil {
			return last, lastState, round, err
		}
		h, err := p.Wait(ctx)
		if err != nil {
			return last, lastState, round, err
		}
		last, lastState = &h, m.clone()
		if err := db.WaitIdle(ctx); err != nil {
			return last, lastState, round, err
		}
		if _, err := db.GC(ctx); err != nil {
			return last, lastState, round, err
		}
	}
	for round := 4; round < 7; round++ {
		for i := range 300 {
			if err := put(round, i*(round+1)%300); err != nil {
				return last, lastState, 4, err
			}
		}
	}
	if err := db.WaitIdle(ctx); err != nil {
		return last, lastState, 4, err
	}
	if cs, ok := st.(*crashStorage); ok {
		// A crash in a background deletion surfaces nowhere else.
		if err := cs.alive(); err != nil {
			return last, lastState, 4, err
		}
	}
	if extra := unreferenced(t, ctx, st, db); len(extra) > 0 {
		t.Fatalf("after rewrites without a checkpoint, %d tables are named by no manifest and not live: %v", len(extra), extra)
	}
	return last, lastState, 4, nil
}

// verifyRecovery reopens from h (a newer epoch, as after a crash), checks
// the state, that no object a retained manifest names is missing, and
// that the store keeps working.
func verifyRecovery(t *testing.T, ctx context.Context, opts Options, st objstore.Storage, h *statestore.Handle, want model) {
	t.Helper()
	opts.Storage = st
	var from []statestore.Handle
	if h != nil {
		from = []statestore.Handle{*h}
	}
	db, err := Open(ctx, opts, statestore.ShardOptions{Name: "op/0", Epoch: 2}, from, statestore.FullKeyGroupRange(numKeyGroups))
	if err != nil {
		t.Fatalf("reopen from %v: %v", h, err)
	}
	defer db.Close()
	if _, err := db.GC(ctx); err != nil { // removes the crashed writer's orphans
		t.Fatal(err)
	}
	checkScan(t, ctx, db, want, 0)
	// No object that a retained checkpoint needs is missing.
	names, err := st.List(ctx, manifest.ManifestPrefix)
	if err != nil {
		t.Fatal(err)
	}
	p := opts.Retention
	if h != nil {
		p.KeepFrom = h.Checkpoint
	}
	retained, _ := manifest.SelectRetained(names, nil, p)
	objs, err := st.List(ctx, manifest.SSTPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range retained {
		b, err := st.ReadAll(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		cp, err := manifest.DecodeCheckpoint(n, b)
		if err != nil {
			t.Fatal(err)
		}
		cp.Objects(func(o string) {
			if _, ok := slices.BinarySearch(objs, o); !ok {
				t.Fatalf("retained manifest %s names missing object %s", n, o)
			}
		})
	}
	// The recovered store takes a checkpoint and reopens from it.
	var b statestore.WriteBatch
	k := statestore.AppendKeyGroup([]byte(nil), 1)
	k = append(k, "after-crash"...)
	b.Put(k, []byte("v"))
	if err := db.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	want = want.clone()
	want[string(k)] = modelEntry{value: []byte("v")}
	var id uint64 = 100
	pend, err := db.Checkpoint(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := pend.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db2, err := Open(ctx, opts, statestore.ShardOptions{Name: "op/0", Epoch: 3}, []statestore.Handle{h2}, statestore.FullKeyGroupRange(numKeyGroups))
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	checkScan(t, ctx, db2, want, 0)
}

func checkScan(t *testing.T, ctx context.Context, db *DB, want model, now int64) {
	t.Helper()
	it, err := db.Scan(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if w := want.scan(nil, nil, db.Owned(), now); !slices.Equal(got, w) {
		t.Fatalf("scan after recovery: got %d entries, want %d\n got %.300q\nwant %.300q", len(got), len(w), got, w)
	}
}

func TestCrashAtEveryWrite(t *testing.T) {
	ctx := context.Background()
	opts := Options{
		Clock:          clock.NewFake(time.Unix(1_000_000, 0)),
		MemtableSize:   8 << 10,
		TargetFileSize: 4 << 10,
		Picker:         manifest.PickerOptions{L0Trigger: 2, BaseLevelBytes: 8 << 10, Multiplier: 3},
		Retention:      manifest.Policy{KeepLast: 1},
		DisableAutoGC:  true,
	}
	opts.Table.BlockSize = 512
	// The number of writes of a full run (the background order varies a
	// little, so the loop below runs until a run completes uncrashed).
	full := &crashStorage{Storage: newMemStorage(t)}
	if _, _, n, err := crashSequence(t, ctx, opts, full); err != nil || n != 4 {
		t.Fatalf("uncrashed run: %d rounds, %v", n, err)
	}
	t.Logf("a full run makes %d object writes", full.writes)
	crashes := 0
	for k := 1; ; k++ {
		if k > 3*full.writes {
			t.Fatalf("still crashing at write %d of a run that needs %d", k, full.writes)
		}
		done := false
		for _, after := range []bool{false, true} {
			mem := newMemStorage(t)
			cs := &crashStorage{Storage: mem, at: k, after: after}
			last, state, _, err := crashSequence(t, ctx, opts, cs)
			if err == nil {
				done = true
				break
			}
			if !errors.Is(err, errCrashed) {
				t.Fatalf("crash at write %d (after=%t): unexpected error %v", k, after, err)
			}
			crashes++
			verifyRecovery(t, ctx, opts, mem, last, state)
		}
		if done {
			break
		}
	}
	t.Logf("verified recovery after %d crashes", crashes)
}
