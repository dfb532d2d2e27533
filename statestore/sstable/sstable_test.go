package sstable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable/base"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memFile is an in-memory Readable that counts reads.
type memFile struct {
	b     []byte
	reads int
}

func (f *memFile) ReadAt(_ context.Context, p []byte, off int64) error {
	f.reads++
	if off < 0 || off > int64(len(f.b)) || int64(len(p)) > int64(len(f.b))-off {
		return fmt.Errorf("memFile: read [%d,%d) beyond size %d", off, off+int64(len(p)), len(f.b))
	}
	copy(p, f.b[off:])
	return nil
}

func (f *memFile) Size() int64 { return int64(len(f.b)) }

// mapCache is a trivially correct BlockCache.
type mapCache struct {
	m          map[[2]uint64][]byte
	hits, sets int
}

func (c *mapCache) Get(id, off uint64) ([]byte, bool) {
	b, ok := c.m[[2]uint64{id, off}]
	if ok {
		c.hits++
	}
	return b, ok
}

func (c *mapCache) Set(id, off uint64, b []byte) {
	c.sets++
	c.m[[2]uint64{id, off}] = b
}

// modelEntry is one point entry of the model.
type modelEntry struct {
	key    base.InternalKey
	value  []byte
	expiry base.Expiry
}

type model struct {
	points []modelEntry // sorted by internal key
	dels   []base.RangeDel
}

func randUserKey(rng *rand.Rand, groups, suffixes int) []byte {
	k := []byte{0, byte(rng.IntN(groups))}
	n := rng.IntN(suffixes)
	if n > 0 {
		k = append(k, []byte(fmt.Sprintf("k%03d", n))...)
	}
	return k
}

// genModel makes random points (several versions per key, unique seqnums)
// and range deletions.
func genModel(rng *rand.Rand, n int) *model {
	m := &model{}
	seqs := rng.Perm(n + n/10 + 1)
	for i := 0; i < n; i++ {
		uk := randUserKey(rng, 4, 60)
		seq := uint64(seqs[i] + 1)
		e := modelEntry{}
		switch r := rng.IntN(10); {
		case r < 2:
			e.key = base.MakeInternalKey(uk, seq, base.KindDelete)
		case r < 5:
			e.key = base.MakeInternalKey(uk, seq, base.KindSetWithExpiry)
			e.expiry = base.Expiry(rng.Int64N(1<<62) - 1<<61)
			if e.expiry == 0 {
				e.expiry = 1
			}
			e.value = []byte(fmt.Sprintf("v%d-%s", seq, bytes.Repeat([]byte{'x'}, rng.IntN(40))))
		default:
			e.key = base.MakeInternalKey(uk, seq, base.KindSet)
			e.value = []byte(fmt.Sprintf("v%d-%s", seq, bytes.Repeat([]byte{'y'}, rng.IntN(200))))
		}
		m.points = append(m.points, e)
	}
	for i := n; i < len(seqs); i++ {
		if rng.IntN(3) != 0 {
			continue
		}
		a, b := randUserKey(rng, 4, 60), randUserKey(rng, 4, 60)
		if c := bytes.Compare(a, b); c == 0 {
			continue
		} else if c > 0 {
			a, b = b, a
		}
		m.dels = append(m.dels, base.RangeDel{Start: a, End: b, SeqNum: uint64(seqs[i] + 1)})
	}
	slices.SortFunc(m.points, func(a, b modelEntry) int { return base.Compare(a.key, b.key) })
	return m
}

// get is the model's GetAt.
func (m *model) get(ukey []byte, readSeq uint64) (base.Entry, bool) {
	var e base.Entry
	found := false
	for _, p := range m.points {
		if bytes.Equal(p.key.UserKey, ukey) && p.key.SeqNum() <= readSeq {
			e = base.Entry{Kind: p.key.Kind(), SeqNum: p.key.SeqNum(), Value: p.value, Expiry: p.expiry}
			found = true
			break
		}
	}
	var best uint64
	rdFound := false
	for _, d := range m.dels {
		if d.SeqNum <= readSeq && bytes.Compare(d.Start, ukey) <= 0 && bytes.Compare(ukey, d.End) < 0 && (!rdFound || d.SeqNum > best) {
			best, rdFound = d.SeqNum, true
		}
	}
	if rdFound && (!found || best > e.SeqNum) {
		return base.Entry{Kind: base.KindRangeDelete, SeqNum: best}, true
	}
	return e, found
}

// visible filters the model the way IterOptions does.
func (m *model) visible(o IterOptions) []modelEntry {
	readSeq := o.SeqNum
	if readSeq == 0 {
		readSeq = base.SeqNumMax
	}
	var out []modelEntry
	for _, p := range m.points {
		uk := p.key.UserKey
		if o.Lower != nil && bytes.Compare(uk, o.Lower) < 0 || o.Upper != nil && bytes.Compare(uk, o.Upper) >= 0 {
			continue
		}
		if p.key.SeqNum() > readSeq {
			continue
		}
		if o.HideRangeDeleted && slices.ContainsFunc(m.dels, func(d base.RangeDel) bool { return d.Covers(uk, p.key.SeqNum(), readSeq) }) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func writeModel(t testing.TB, m *model, opts WriterOptions) ([]byte, *Metadata) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.points {
		kind := p.key.Kind()
		if kind == base.KindSetWithExpiry && len(p.value)%2 == 0 {
			kind = base.KindSet // exercise normalization: SET + expiry => SETEXP
		}
		if err := w.Add(base.InternalKey{UserKey: p.key.UserKey, Trailer: base.MakeTrailer(p.key.SeqNum(), kind)}, p.value, p.expiry); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range m.dels {
		if err := w.AddRangeDel(d.Start, d.End, d.SeqNum); err != nil {
			t.Fatal(err)
		}
	}
	meta, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if int(meta.Size) != buf.Len() {
		t.Fatalf("Metadata.Size = %d, wrote %d bytes", meta.Size, buf.Len())
	}
	return buf.Bytes(), meta
}

func checkEntry(t *testing.T, what string, got modelEntry, want modelEntry) {
	t.Helper()
	if base.Compare(got.key, want.key) != 0 || !bytes.Equal(got.value, want.value) || got.expiry != want.expiry {
		t.Fatalf("%s: got %s=%q exp %d, want %s=%q exp %d", what, got.key, got.value, got.expiry, want.key, want.value, want.expiry)
	}
}

func cur(it *Iter) modelEntry {
	return modelEntry{key: it.Key().Clone(), value: it.Value(), expiry: it.Expiry()}
}

func randOpts(rng *rand.Rand) WriterOptions {
	return WriterOptions{
		BlockSize:       []int{1, 64, 512, 4096, 32 << 10}[rng.IntN(5)],
		RestartInterval: []int{1, 2, 16}[rng.IntN(3)],
		BloomBitsPerKey: []int{-1, 0, 4, 10}[rng.IntN(4)],
		Compression:     Compression(rng.IntN(int(compressionCount))),
	}
}

func TestRandomizedRoundTrip(t *testing.T) {
	ctx := context.Background()
	for iter := 0; iter < 25; iter++ {
		seed := uint64(iter)
		rng := rand.New(rand.NewPCG(seed, 7))
		m := genModel(rng, []int{0, 1, 5, 300, 3000}[iter%5])
		opts := randOpts(rng)
		t.Run(fmt.Sprintf("seed=%d/n=%d/%+v", seed, len(m.points), opts), func(t *testing.T) {
			data, meta := writeModel(t, m, opts)
			f := &memFile{b: data}
			var cache BlockCache
			if iter%2 == 0 {
				cache = &mapCache{m: map[[2]uint64][]byte{}}
			}
			r, err := Open(ctx, f, ReaderOptions{Name: "t.sst", FileID: 1, Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			if f.reads != 2 {
				t.Errorf("Open made %d reads, want 2", f.reads)
			}
			checkProps(t, m, r.Properties())
			if meta.NumEntries != r.Properties().NumEntries {
				t.Errorf("metadata entries %d != reader %d", meta.NumEntries, r.Properties().NumEntries)
			}
			if len(r.RangeDels()) != len(m.dels) {
				t.Fatalf("RangeDels: got %d want %d", len(r.RangeDels()), len(m.dels))
			}
			// Full scans forward and backward.
			all := m.visible(IterOptions{})
			it := r.NewIter(ctx, IterOptions{})
			i := 0
			for ok := it.First(); ok; ok = it.Next() {
				if i >= len(all) {
					t.Fatalf("scan: extra entry %s", it.Key())
				}
				checkEntry(t, fmt.Sprintf("scan[%d]", i), cur(it), all[i])
				i++
			}
			if it.Err() != nil || i != len(all) {
				t.Fatalf("scan: %d entries, want %d, err %v", i, len(all), it.Err())
			}
			i = len(all) - 1
			for ok := it.Last(); ok; ok = it.Prev() {
				checkEntry(t, fmt.Sprintf("rscan[%d]", i), cur(it), all[i])
				i--
			}
			if it.Err() != nil || i != -1 {
				t.Fatalf("reverse scan stopped at %d, err %v", i, it.Err())
			}
			it.Close()

			// Bounded, filtered iterators with seeks and direction changes.
			for q := 0; q < 60; q++ {
				o := IterOptions{HideRangeDeleted: rng.IntN(2) == 0}
				if rng.IntN(2) == 0 {
					o.Lower = randUserKey(rng, 5, 70)
				}
				if rng.IntN(2) == 0 {
					o.Upper = randUserKey(rng, 5, 70)
				}
				if rng.IntN(2) == 0 {
					o.SeqNum = uint64(rng.IntN(len(m.points) + 10))
				}
				want := m.visible(o)
				it := r.NewIter(ctx, o)
				seek := randUserKey(rng, 5, 70)
				var pos int
				var ok bool
				switch rng.IntN(4) {
				case 0:
					ok = it.SeekGE(seek)
					pos, _ = slices.BinarySearchFunc(want, seek, func(e modelEntry, k []byte) int { return bytes.Compare(e.key.UserKey, k) })
				case 1:
					ok = it.SeekLT(seek)
					pos, _ = slices.BinarySearchFunc(want, seek, func(e modelEntry, k []byte) int { return bytes.Compare(e.key.UserKey, k) })
					pos--
				case 2:
					ok, pos = it.First(), 0
				case 3:
					ok, pos = it.Last(), len(want)-1
				}
				for step := 0; step < 50; step++ {
					inRange := pos >= 0 && pos < len(want)
					if ok != inRange {
						t.Fatalf("query %d step %d opts %+v: valid=%v, model position %d of %d (err %v)", q, step, o, ok, pos, len(want), it.Err())
					}
					if !ok {
						break
					}
					checkEntry(t, fmt.Sprintf("query %d step %d", q, step), cur(it), want[pos])
					if rng.IntN(3) == 0 {
						ok, pos = it.Prev(), pos-1
					} else {
						ok, pos = it.Next(), pos+1
					}
				}
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
			}

			// Point lookups at random snapshots, present and absent keys.
			for q := 0; q < 300; q++ {
				uk := randUserKey(rng, 5, 70)
				readSeq := base.SeqNumMax
				if rng.IntN(2) == 0 {
					readSeq = uint64(rng.IntN(len(m.points) + 10))
				}
				want, wok := m.get(uk, readSeq)
				same := func(got base.Entry, ok bool) bool {
					return ok == wok && got.Kind == want.Kind && got.SeqNum == want.SeqNum && bytes.Equal(got.Value, want.Value) && got.Expiry == want.Expiry
				}
				// A cache-only read either answers like the model or
				// declines; after a full read has cached the block, it
				// answers whenever there is a cache.
				h := base.KeyHash(uk)
				// withRangeDels completes a point lookup as GetAt does.
				withRangeDels := func(e base.Entry, found bool) (base.Entry, bool) {
					if s, ok := r.MaxCoveringRangeDel(uk, readSeq); ok && (!found || s > e.SeqNum) {
						return base.Entry{Kind: base.KindRangeDelete, SeqNum: s}, true
					}
					return e, found
				}
				if got, ok, done := r.TryGetPointAtHash(uk, h, readSeq); done {
					if got, ok := withRangeDels(got, ok); !same(got, ok) {
						t.Fatalf("TryGetPointAtHash(%q, %d) before GetAt = %+v,%v; model %+v,%v", uk, readSeq, got, ok, want, wok)
					}
				}
				got, ok, err := r.GetAt(ctx, uk, readSeq)
				if err != nil {
					t.Fatal(err)
				}
				if !same(got, ok) {
					t.Fatalf("GetAt(%q, %d) = %+v,%v; model %+v,%v", uk, readSeq, got, ok, want, wok)
				}
				pe, pok, err := r.GetPointAtHash(ctx, uk, h, readSeq)
				if err != nil {
					t.Fatal(err)
				}
				if got, ok := withRangeDels(pe, pok); !same(got, ok) {
					t.Fatalf("GetPointAtHash(%q, %d) = %+v,%v; model %+v,%v", uk, readSeq, got, ok, want, wok)
				}
				got, ok, done := r.TryGetPointAtHash(uk, h, readSeq)
				if done && (ok != pok || got.SeqNum != pe.SeqNum || got.Kind != pe.Kind) {
					t.Fatalf("TryGetPointAtHash(%q, %d) after GetAt = %+v,%v; GetPointAtHash %+v,%v", uk, readSeq, got, ok, pe, pok)
				}
				if cache != nil && !done {
					t.Fatalf("TryGetPointAtHash(%q, %d) declined after GetAt cached its block", uk, readSeq)
				}
			}
		})
	}
}

func checkProps(t *testing.T, m *model, p *Properties) {
	t.Helper()
	var want Properties
	var keys []base.InternalKey
	var kgs []uint16
	var seqs []uint64
	var exps []base.Expiry
	for _, e := range m.points {
		want.NumEntries++
		want.RawKeyBytes += uint64(len(e.key.UserKey))
		want.RawValueBytes += uint64(len(e.value))
		if e.key.Kind() == base.KindDelete {
			want.NumDeletions++
		}
		if e.expiry != 0 {
			want.NumExpiring++
			exps = append(exps, e.expiry)
		}
		keys = append(keys, e.key)
		kgs = append(kgs, uint16(e.key.UserKey[1]))
		seqs = append(seqs, e.key.SeqNum())
	}
	for _, d := range m.dels {
		want.NumRangeDeletions++
		keys = append(keys, base.MakeInternalKey(d.Start, d.SeqNum, base.KindRangeDelete))
		kgs = append(kgs, uint16(d.Start[1]))
		endKG := uint16(d.End[1])
		if len(d.End) == 2 && endKG > uint16(d.Start[1]) {
			endKG--
		}
		kgs = append(kgs, endKG)
		seqs = append(seqs, d.SeqNum)
		if want.RangeDelEnd == nil || bytes.Compare(d.End, want.RangeDelEnd) > 0 {
			want.RangeDelEnd = d.End
		}
	}
	if len(keys) > 0 {
		want.SmallestKey = slices.MinFunc(keys, base.Compare)
		want.LargestKey = slices.MaxFunc(keys, base.Compare)
		want.MinKeyGroup, want.MaxKeyGroup = slices.Min(kgs), slices.Max(kgs)
		want.MinSeqNum, want.MaxSeqNum = slices.Min(seqs), slices.Max(seqs)
	}
	if len(exps) > 0 {
		want.MinExpiry, want.MaxExpiry = slices.Min(exps), slices.Max(exps)
	}
	type cmp struct {
		name      string
		got, want any
	}
	for _, c := range []cmp{
		{"NumEntries", p.NumEntries, want.NumEntries},
		{"NumDeletions", p.NumDeletions, want.NumDeletions},
		{"NumRangeDeletions", p.NumRangeDeletions, want.NumRangeDeletions},
		{"NumExpiring", p.NumExpiring, want.NumExpiring},
		{"RawKeyBytes", p.RawKeyBytes, want.RawKeyBytes},
		{"RawValueBytes", p.RawValueBytes, want.RawValueBytes},
		{"SmallestKey", p.SmallestKey.String(), want.SmallestKey.String()},
		{"LargestKey", p.LargestKey.String(), want.LargestKey.String()},
		{"RangeDelEnd", string(p.RangeDelEnd), string(want.RangeDelEnd)},
		{"MinKeyGroup", p.MinKeyGroup, want.MinKeyGroup},
		{"MaxKeyGroup", p.MaxKeyGroup, want.MaxKeyGroup},
		{"MinExpiry", p.MinExpiry, want.MinExpiry},
		{"MaxExpiry", p.MaxExpiry, want.MaxExpiry},
		{"MinSeqNum", p.MinSeqNum, want.MinSeqNum},
		{"MaxSeqNum", p.MaxSeqNum, want.MaxSeqNum},
	} {
		if c.got != c.want {
			t.Errorf("property %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// readAll opens data and touches every block; it returns the first error.
func readAll(data []byte) error {
	ctx := context.Background()
	r, err := Open(ctx, &memFile{b: data}, ReaderOptions{Name: "c.sst"})
	if err != nil {
		return err
	}
	it := r.NewIter(ctx, IterOptions{})
	for ok := it.First(); ok; ok = it.Next() {
	}
	return it.Close()
}

func TestCorruption(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 6; iter++ {
		m := genModel(rng, 400)
		opts := randOpts(rng)
		opts.BlockSize = 512
		data, _ := writeModel(t, m, opts)
		if err := readAll(data); err != nil {
			t.Fatalf("clean table: %v", err)
		}
		for trial := 0; trial < 200; trial++ {
			bad := bytes.Clone(data)
			pos := rng.IntN(len(bad))
			bad[pos] ^= byte(1 + rng.IntN(255))
			err := readAll(bad)
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("flip at %d of %d: err = %v, want corruption", pos, len(bad), err)
			}
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Object != "c.sst" || ce.Offset < 0 || ce.Offset > int64(len(bad)) {
				t.Fatalf("flip at %d: error %v lacks object name or offset", pos, err)
			}
		}
		for trial := 0; trial < 50; trial++ {
			n := rng.IntN(len(data))
			if err := readAll(data[:n]); !errors.Is(err, ErrCorruption) {
				t.Fatalf("truncate to %d of %d: err = %v, want corruption", n, len(data), err)
			}
		}
	}
}

func TestWriterRejectsBadInput(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := []byte{0, 1, 'a'}
	cases := []struct {
		name string
		err  error
	}{
		{"short key", w.Set([]byte{1}, 1, nil, 0)},
		{"delete with expiry", w.Add(base.MakeInternalKey(k, 1, base.KindDelete), nil, 5)},
		{"setexp without expiry", w.Add(base.MakeInternalKey(k, 1, base.KindSetWithExpiry), nil, 0)},
		{"rangedel via Add", w.Add(base.MakeInternalKey(k, 1, base.KindRangeDelete), []byte{0, 2}, 0)},
		{"empty range", w.AddRangeDel(k, k, 3)},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if err := w.Set(k, 5, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Set(k, 5, []byte("v"), 0); err == nil {
		t.Error("duplicate key accepted")
	}
	if err := w.Set(k, 6, []byte("v"), 0); err == nil {
		t.Error("out-of-order key (higher seqnum after lower) accepted")
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("second Finish: %v", err)
	}
	if _, err := NewWriter(&buf, WriterOptions{BlockSize: -1, RestartInterval: 5000, Compression: 99}); err == nil {
		t.Error("bad options accepted")
	}
}

// Open reads footer and metadata in one request when TailSize covers them,
// in two otherwise, and the table reads the same either way.
func TestOpenTailSize(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	m := genModel(rng, 2000)
	data, meta := writeModel(t, m, WriterOptions{BlockSize: 1 << 10})
	if meta.TailSize < footerLen || meta.TailSize >= meta.Size {
		t.Fatalf("TailSize %d of a %d-byte table", meta.TailSize, meta.Size)
	}
	for _, tc := range []struct {
		tail  int64
		reads int
	}{
		{0, 2},
		{int64(meta.TailSize) - 1, 2},
		{int64(meta.TailSize), 1},
		{int64(meta.TailSize) + 100, 1},
		{1 << 40, 1}, // clamped to the object
	} {
		f := &memFile{b: data}
		r, err := Open(ctx, f, ReaderOptions{Name: "t.sst", TailSize: tc.tail})
		if err != nil {
			t.Fatalf("TailSize %d: %v", tc.tail, err)
		}
		if f.reads != tc.reads {
			t.Errorf("TailSize %d: Open made %d reads, want %d", tc.tail, f.reads, tc.reads)
		}
		for _, p := range m.points[:50] {
			got, ok, err := r.Get(ctx, p.key.UserKey)
			want, wok := m.get(p.key.UserKey, base.SeqNumMax)
			if err != nil || ok != wok || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("TailSize %d: Get(%q) = %+v,%t,%v; model %+v,%t", tc.tail, p.key.UserKey, got, ok, err, want, wok)
			}
		}
	}
}
