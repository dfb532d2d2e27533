package sstable

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// A writer with WriterOptions.Cache puts every data block in the cache as
// the Reader would: reading the whole table then reads no data block from
// the object (only the footer and the metadata), and the reads agree with
// the model.
func TestWriterCachesBlocks(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 9))
	m := genModel(rng, 3000)
	c := &mapCache{m: map[[2]uint64][]byte{}}
	for _, codec := range []Compression{CompressionNone, CompressionSnappy, CompressionZstd} {
		const id = 77
		clear(c.m)
		data, meta := writeModel(t, m, WriterOptions{BlockSize: 1 << 10, Compression: codec, Cache: c, FileID: id})
		if len(c.m) == 0 || len(c.m) != int(meta.NumDataBlocks) {
			t.Fatalf("%s: %d blocks cached, %d written", codec, len(c.m), meta.NumDataBlocks)
		}
		// The cached blocks are those a Reader decodes.
		f := &memFile{b: data}
		plain, err := Open(ctx, f, ReaderOptions{Name: "plain.sst"})
		if err != nil {
			t.Fatal(err)
		}
		for k, b := range c.m {
			h := blockHandle{Offset: k[1]}
			if k[0] != id {
				t.Fatalf("%s: block cached under file id %d, want %d", codec, k[0], id)
			}
			// Find the block's length in the index.
			it := plain.NewIter(ctx, IterOptions{})
			for ok := it.index.first(); ok; ok = it.index.next() {
				if hh, _ := decodeVarintHandle(it.index.val); hh.Offset == h.Offset {
					h = hh
				}
			}
			it.Close()
			want, err := plain.readDataBlock(ctx, h)
			if err != nil || !bytes.Equal(b, want) {
				t.Fatalf("%s: cached block at %d differs from the decoded block (%v)", codec, h.Offset, err)
			}
		}
		f.reads = 0
		r, err := Open(ctx, f, ReaderOptions{Name: "cached.sst", FileID: id, Cache: c})
		if err != nil {
			t.Fatal(err)
		}
		opened := f.reads
		it := r.NewIter(ctx, IterOptions{})
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		for _, p := range m.points[:100] {
			got, ok, err := r.Get(ctx, p.key.UserKey)
			want, wok := m.get(p.key.UserKey, base.SeqNumMax)
			if err != nil || ok != wok || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("%s: Get(%q) = %+v,%t,%v; model %+v,%t", codec, p.key.UserKey, got, ok, err, want, wok)
			}
		}
		if n != len(m.points) || f.reads != opened {
			t.Fatalf("%s: iterated %d of %d entries with %d object reads after Open, want 0", codec, n, len(m.points), f.reads-opened)
		}
	}
}
