package lsm

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/sluicedata/sluice/statestore"
)

func BenchmarkApplyPut(b *testing.B) {
	ctx := context.Background()
	st := newMemStorage(b)
	db, err := Open(ctx, Options{Storage: st, MemtableSize: 256 << 20, DisableAutoGC: true}, statestore.ShardOptions{Name: "b"}, nil, statestore.FullKeyGroupRange(256))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 100)
	var wb statestore.WriteBatch
	var k []byte
	b.ReportAllocs()
	cpu0 := processCPU()
	n := 0
	defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(max(n, 1)), "cpu-ns/op") }()
	for i := 0; b.Loop(); i, n = i+1, n+1 {
		wb.Reset()
		k = statestore.AppendKeyGroup(k[:0], uint16(i%256))
		k = binary.BigEndian.AppendUint64(k, uint64(i)*0x9e3779b97f4a7c15)
		wb.Put(k, val)
		if err := db.Apply(ctx, &wb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetMemtable(b *testing.B) {
	ctx := context.Background()
	st := newMemStorage(b)
	db, err := Open(ctx, Options{Storage: st, MemtableSize: 256 << 20, DisableAutoGC: true}, statestore.ShardOptions{Name: "b"}, nil, statestore.FullKeyGroupRange(256))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 100)
	var wb statestore.WriteBatch
	const n = 100000
	key := func(i int) []byte {
		k := statestore.AppendKeyGroup(nil, uint16(i%256))
		return binary.BigEndian.AppendUint64(k, uint64(i)*0x9e3779b97f4a7c15)
	}
	for i := range n {
		wb.Put(key(i), val)
		if wb.Len() == 100 {
			db.Apply(ctx, &wb)
			wb.Reset()
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok, err := db.Get(ctx, key(i%n)); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// benchGetStore loads n random keys with one put per batch, like the local
// tier comparison of bench statestore; flushed moves them all to tables.
func benchGetStore(b *testing.B, n int, flushed bool) (*DB, func(i int) []byte) {
	ctx := context.Background()
	st := newMemStorage(b)
	db, err := Open(ctx, Options{Storage: st, MemtableSize: 64 << 20, DisableAutoGC: true}, statestore.ShardOptions{Name: "b"}, nil, statestore.FullKeyGroupRange(256))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	val := make([]byte, 100)
	key := func(i int) []byte {
		k := statestore.AppendKeyGroup(nil, uint16(i%256))
		return binary.BigEndian.AppendUint64(k, uint64(i)*0x9e3779b97f4a7c15)
	}
	var wb statestore.WriteBatch
	for _, i := range rand.New(rand.NewPCG(1, 1)).Perm(n) {
		wb.Reset()
		wb.Put(key(i), val)
		if err := db.Apply(ctx, &wb); err != nil {
			b.Fatal(err)
		}
	}
	if flushed {
		p, err := db.Checkpoint(ctx, 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}
	return db, key
}

// BenchmarkGetRandom reads random present keys of 200k loaded one per
// batch: some in memtables, most in tables (warm block cache).
func BenchmarkGetRandom(b *testing.B) {
	for _, flushed := range []bool{false, true} {
		b.Run(map[bool]string{false: "mixed", true: "tables"}[flushed], func(b *testing.B) {
			const n = 200_000
			db, key := benchGetStore(b, n, flushed)
			ctx := context.Background()
			keys := make([][]byte, n)
			rng := rand.New(rand.NewPCG(2, 2))
			for i := range keys {
				keys[i] = key(rng.IntN(n))
			}
			for i := range n { // warm the block cache
				if _, ok, err := db.Get(ctx, key(i)); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			i := 0
			for ; b.Loop(); i++ {
				if _, ok, err := db.Get(ctx, keys[i%len(keys)]); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(i), "cpu-ns/op")
		})
	}
}
