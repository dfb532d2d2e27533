package state

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// countEntries counts what the store shows (its own clock decides).
func countEntries(t *testing.T, st statestore.Store) int {
	it, err := st.Scan(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTTLStoreClockBehind gives the store a clock that lags the backend's:
// the store still shows expired entries, the backend never returns them,
// deletes them when it reads them, and the sweep deletes the rest in
// budgeted steps.
func TestTTLStoreClockBehind(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	storeClk := clock.NewFake(epoch)
	beClk := clock.NewFake(epoch)
	const k = 16
	reg := memstore.NewRegistry(memstore.Options{Clock: storeClk})
	st, err := reg.Open(ctx, statestore.ShardOptions{Name: "op"}, nil, statestore.FullKeyGroupRange(k))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	be, err := Open(ctx, Options{Store: st, KeyGroups: statestore.FullKeyGroupRange(k), Clock: beClk})
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := be.Value(Descriptor{ID: 1, Name: "v", TTL: TTL{Duration: time.Minute}})
	ms, _ := be.Map(Descriptor{ID: 2, Name: "m", TTL: TTL{Duration: time.Minute}})
	plain, _ := be.Value(Descriptor{ID: 3, Name: "plain"})
	enc, _ := NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	r := &rig{t: t, enc: enc, mem: mem}
	ks := make([]int64, 100)
	for i := range ks {
		ks[i] = int64(i)
	}
	kb := r.keys(ks)
	vs.PutBatch(kb, Namespaces{}, func(int) ([]byte, bool) { return []byte("x"), true })
	plain.PutBatch(kb, Namespaces{}, func(int) ([]byte, bool) { return []byte("p"), true })
	for i := 0; i < 50; i++ {
		ms.Put(kb.At(i), []byte("ns"), []byte("mk"), []byte("y"))
	}
	if err := be.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	metaEntries := countEntries(t, st) - 250 // list-sequence metadata, none here
	if metaEntries != 0 {
		t.Fatalf("store holds %d entries besides the 250 written", metaEntries)
	}
	beClk.Advance(time.Minute) // expired for the backend, not for the store
	// Never returned.
	n := 0
	if err := vs.MultiGet(ctx, kb, Namespaces{}, func(int, []byte) { n++ }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("MultiGet returned %d expired values", n)
	}
	// Cleanup on access: the reads above buffered 100 deletes.
	if err := be.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countEntries(t, st); got != 150 {
		t.Fatalf("after reading the expired values the store shows %d entries, want 150 (50 map + 100 plain)", got)
	}
	if m := be.Metrics(); m.ExpiredOnRead != 100 {
		t.Fatalf("ExpiredOnRead = %d, want 100", m.ExpiredOnRead)
	}
	// The sweep deletes the 50 expired map entries in steps of 7, and never
	// the 100 plain ones (no TTL, not even scanned).
	total := 0
	for i := 0; i < 20 && total < 50; i++ {
		s, err := be.Sweep(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if s.Scanned > 7 {
			t.Fatalf("sweep scanned %d entries with budget 7", s.Scanned)
		}
		total += s.Deleted
	}
	if err := be.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if total != 50 {
		t.Fatalf("sweep deleted %d entries, want 50", total)
	}
	if got := countEntries(t, st); got != 100 {
		t.Fatalf("after the sweep the store shows %d entries, want the 100 plain ones", got)
	}
	// Live entries survive a full pass.
	ms.Put(kb.At(0), []byte("ns"), []byte("mk"), []byte("z"))
	for i := 0; i < 5; i++ {
		if _, err := be.Sweep(ctx, 7); err != nil {
			t.Fatal(err)
		}
	}
	if v, ok, err := ms.Get(ctx, kb.At(0), []byte("ns"), []byte("mk")); err != nil || !ok || string(v) != "z" {
		t.Fatalf("live map entry after sweeps: %q %v %v", v, ok, err)
	}
}
