package lsm

import (
	"context"
	"encoding/binary"
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
	for i := 0; b.Loop(); i++ {
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
