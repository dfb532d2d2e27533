package sstable

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// IterOptions.SkipBlock: forward iteration asks it about every block it
// would read, with a span that holds every key of the block; a block it
// rejects is not read and only its entries are missing.
func TestSkipBlock(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 14))
	m := genModel(rng, 3000)
	data, meta := writeModel(t, m, WriterOptions{BlockSize: 512, Compression: CompressionNone})
	if meta.NumDataBlocks < 20 {
		t.Fatalf("%d blocks, want many", meta.NumDataBlocks)
	}
	f := &memFile{b: data}
	r, err := Open(ctx, f, ReaderOptions{Name: "skip.sst"})
	if err != nil {
		t.Fatal(err)
	}
	skips := 0
	for q := 0; q < 200; q++ {
		// Skip the blocks inside [lo, hi), a random span of keys.
		lo, hi := randUserKey(rng, 4, 60), randUserKey(rng, 4, 60)
		if bytes.Compare(lo, hi) > 0 {
			lo, hi = hi, lo
		}
		type span struct{ lo, hi []byte }
		var skipped []span
		asked := 0
		opts := IterOptions{SkipBlock: func(a, b []byte) bool {
			asked++
			if a != nil && bytes.Compare(a, b) > 0 {
				t.Fatalf("SkipBlock(%q, %q): inverted span", a, b)
			}
			if a != nil && bytes.Compare(a, lo) >= 0 && bytes.Compare(b, hi) < 0 {
				skipped = append(skipped, span{bytes.Clone(a), bytes.Clone(b)})
				return true
			}
			return false
		}}
		it := r.NewIter(ctx, opts)
		var ok bool
		start := 0
		if rng.IntN(2) == 0 {
			ok = it.First()
		} else {
			seek := randUserKey(rng, 4, 60)
			ok = it.SeekGE(seek)
			for start < len(m.points) && bytes.Compare(m.points[start].key.UserKey, seek) < 0 {
				start++
			}
		}
		var got []modelEntry
		for ; ok; ok = it.Next() {
			got = append(got, cur(it))
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		// Every entry returned is the model's next one that was not in
		// a skipped block; every one missing lies in a skipped span.
		j := 0
		for _, p := range m.points[start:] {
			if j < len(got) && base.Compare(got[j].key, p.key) == 0 {
				checkEntry(t, "skip iteration", got[j], p)
				j++
				continue
			}
			in := false
			for _, s := range skipped {
				in = in || bytes.Compare(s.lo, p.key.UserKey) <= 0 && bytes.Compare(p.key.UserKey, s.hi) <= 0
			}
			if !in {
				t.Fatalf("query %d: entry %s missing, in no skipped span %v", q, p.key, skipped)
			}
		}
		if j != len(got) {
			t.Fatalf("query %d: %d entries returned, %d matched the model", q, len(got), j)
		}
		if asked == 0 {
			t.Fatalf("query %d: SkipBlock never asked", q)
		}
		skips += len(skipped)
	}
	if skips == 0 {
		t.Fatal("no block was skipped")
	}
	// Skipping every block reads none.
	f.reads = 0
	it := r.NewIter(ctx, IterOptions{SkipBlock: func(a, b []byte) bool { return true }})
	if it.First() || it.SeekGE([]byte{0, 1}) || f.reads != 0 {
		t.Fatalf("skipping every block: valid iterator or %d reads", f.reads)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
}
