package lsm

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

// recycleValue is the value version ver of key i: self-describing, so a
// reader can tell a valid value from bytes a recycled arena overwrote.
func recycleValue(i, ver int) []byte {
	return fmt.Appendf(nil, "key%04d-ver%06d-%s", i, ver, bytes.Repeat([]byte{byte('a' + (i+ver)%26)}, 40+i%50))
}

func checkRecycleValue(key, v []byte) error {
	var i, ver int
	if _, err := fmt.Sscanf(string(v), "key%04d-ver%06d-", &i, &ver); err != nil {
		return fmt.Errorf("key %q: malformed value %q", key, v)
	}
	if want := recycleValue(i, ver); !bytes.Equal(v, want) || !bytes.Equal(key, recycleKey(i)) {
		return fmt.Errorf("key %q: value %q is not key %d's version %d", key, v, i, ver)
	}
	return nil
}

func recycleKey(i int) []byte { return key(i%8, fmt.Sprintf("k%04d", i)) }

// Memtable arenas are recycled once no read uses them: a scan held open and
// MultiGets running across many memtable rotations and flushes still see
// intact values (run with -race: a reader of a recycled arena races with
// its new writer), and arenas are reused.
func TestMemtableArenaRecycling(t *testing.T) {
	ctx := context.Background()
	opts := smallOpts(newMemStorage(t), clock.Real())
	opts.MemtableSize = 64 << 10
	db := mustOpen(t, opts, "op/0", nil, statestore.FullKeyGroupRange(8))
	const keys = 400
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for ver := 0; ver < 60; ver++ {
			var b statestore.WriteBatch
			for i := 0; i < keys; i++ {
				b.Put(recycleKey(i), recycleValue(i, ver))
			}
			if err := db.Apply(ctx, &b); err != nil {
				errs <- err
				return
			}
		}
	}()
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				// A scan stepped through while writes go on.
				it, err := db.Scan(ctx, nil, nil)
				if err != nil {
					errs <- err
					return
				}
				for ok := it.First(); ok; ok = it.Next() {
					if err := checkRecycleValue(it.Key(), it.Value()); err != nil {
						errs <- err
						it.Close()
						return
					}
				}
				if err := it.Close(); err != nil {
					errs <- err
					return
				}
				ks := make([][]byte, 0, keys/4)
				for i := r; i < keys; i += 4 {
					ks = append(ks, recycleKey(i))
				}
				var bad error
				if err := db.MultiGet(ctx, ks, func(i int, v []byte) {
					if err := checkRecycleValue(ks[i], v); err != nil && bad == nil {
						bad = err
					}
				}); err != nil || bad != nil {
					errs <- fmt.Errorf("multiget: %v, %v", err, bad)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := db.m.arenaReuses.Load(); n == 0 {
		t.Fatalf("no memtable arena was reused in %d flushes", db.m.flushes.Load())
	}
}
