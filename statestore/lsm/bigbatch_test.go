package lsm_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/lsm"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// TestBatchLargerThanMemtable applies batches far larger than the memtable,
// of a few huge values and of many small entries: each gets a memtable of
// its own, and every entry reads back.
func TestBatchLargerThanMemtable(t *testing.T) {
	ctx := context.Background()
	st, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	db, err := lsm.Open(ctx, lsm.Options{Storage: st, MemtableSize: 64 << 10}, statestore.ShardOptions{Name: "big", Epoch: 1}, nil, statestore.KeyGroupRange{Start: 0, End: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := func(i int) []byte { return binary.BigEndian.AppendUint32([]byte{0, 1}, uint32(i)) }
	shapes := []struct{ n, size int }{{3, 300 << 10}, {2, 2 << 20}, {20000, 10}, {3, 10}}
	next := 0
	for _, sh := range shapes {
		var b statestore.WriteBatch
		for i := 0; i < sh.n; i++ {
			v := make([]byte, sh.size)
			binary.BigEndian.PutUint32(v, uint32(next+i))
			b.Put(key(next+i), v)
		}
		if err := db.Apply(ctx, &b); err != nil {
			t.Fatalf("batch of %d x %d bytes: %v", sh.n, sh.size, err)
		}
		for i := 0; i < sh.n; i++ {
			v, ok, err := db.Get(ctx, key(next+i))
			if err != nil || !ok || len(v) != sh.size || binary.BigEndian.Uint32(v) != uint32(next+i) {
				t.Fatalf("key %d: ok %v, %d bytes, err %v", next+i, ok, len(v), err)
			}
		}
		next += sh.n
	}
}
