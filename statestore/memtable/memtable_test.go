package memtable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type entry struct {
	key    base.InternalKey
	value  []byte
	expiry base.Expiry
}

// model is a sorted slice of point entries plus a list of range deletions.
type model struct {
	points []entry
	dels   []base.RangeDel
}

func (m *model) get(ukey []byte, readSeq uint64) (base.Entry, bool) {
	var e base.Entry
	found := false
	for _, p := range m.points {
		if bytes.Equal(p.key.UserKey, ukey) && p.key.SeqNum() <= readSeq {
			e, found = base.Entry{Kind: p.key.Kind(), SeqNum: p.key.SeqNum(), Value: p.value, Expiry: p.expiry}, true
			break
		}
	}
	var best uint64
	rd := false
	for _, d := range m.dels {
		if d.SeqNum <= readSeq && bytes.Compare(d.Start, ukey) <= 0 && bytes.Compare(ukey, d.End) < 0 && (!rd || d.SeqNum > best) {
			best, rd = d.SeqNum, true
		}
	}
	if rd && (!found || best > e.SeqNum) {
		return base.Entry{Kind: base.KindRangeDelete, SeqNum: best}, true
	}
	return e, found
}

// keys returns the distinct user keys of the point entries.
func (m *model) keys() [][]byte {
	var out [][]byte
	for _, p := range m.points {
		if !slices.ContainsFunc(out, func(k []byte) bool { return bytes.Equal(k, p.key.UserKey) }) {
			out = append(out, p.key.UserKey)
		}
	}
	return out
}

func (m *model) visible(o IterOptions) []entry {
	readSeq := o.SeqNum
	if readSeq == 0 {
		readSeq = base.SeqNumMax
	}
	var out []entry
	for _, p := range m.points {
		uk := p.key.UserKey
		if o.Lower != nil && bytes.Compare(uk, o.Lower) < 0 || o.Upper != nil && bytes.Compare(uk, o.Upper) >= 0 || p.key.SeqNum() > readSeq {
			continue
		}
		if o.HideRangeDeleted && slices.ContainsFunc(m.dels, func(d base.RangeDel) bool { return d.Covers(uk, p.key.SeqNum(), readSeq) }) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func randKey(rng *rand.Rand) []byte {
	k := []byte{0, byte(rng.IntN(4))}
	switch n := rng.IntN(50); {
	case n == 0:
	case n < 10:
		// Long keys sharing their first 8 bytes: comparisons past the
		// node's key prefix.
		k = append(k, fmt.Sprintf("long-k%02d", n)...)
	default:
		k = append(k, fmt.Sprintf("k%02d", n)...)
	}
	return k
}

type fillOp struct {
	kind   base.Kind
	uk     []byte
	seq    uint64
	value  []byte
	expiry base.Expiry
}

// fill adds n random operations to mt and the model: one at a time or in
// Writer sessions, in random or ascending internal-key order.
func fill(t testing.TB, rng *rand.Rand, mt *Memtable, n int) *model {
	m := &model{}
	seqs := rng.Perm(n)
	var ops []fillOp
	for i := 0; i < n; i++ {
		seq := uint64(seqs[i] + 1)
		uk := randKey(rng)
		switch r := rng.IntN(20); {
		case r == 0:
			end := randKey(rng)
			if bytes.Compare(uk, end) >= 0 {
				continue
			}
			ops = append(ops, fillOp{kind: base.KindRangeDelete, uk: uk, seq: seq, value: end})
			m.dels = append(m.dels, base.RangeDel{Start: uk, End: end, SeqNum: seq})
		case r < 5:
			ops = append(ops, fillOp{kind: base.KindDelete, uk: uk, seq: seq})
			m.points = append(m.points, entry{key: base.MakeInternalKey(uk, seq, base.KindDelete)})
		case r < 9:
			exp := base.Expiry(rng.Int64N(1<<50) + 1)
			v := []byte(fmt.Sprintf("v%d", seq))
			ops = append(ops, fillOp{kind: base.KindSet, uk: uk, seq: seq, value: v, expiry: exp})
			m.points = append(m.points, entry{key: base.MakeInternalKey(uk, seq, base.KindSetWithExpiry), value: v, expiry: exp})
		default:
			v := bytes.Repeat([]byte{byte('a' + seq%26)}, rng.IntN(100))
			ops = append(ops, fillOp{kind: base.KindSet, uk: uk, seq: seq, value: v})
			m.points = append(m.points, entry{key: base.MakeInternalKey(uk, seq, base.KindSet), value: v})
		}
	}
	for len(ops) > 0 {
		var err error
		if rng.IntN(3) == 0 {
			o := ops[0]
			err = mt.Add(o.uk, o.seq, o.kind, o.value, o.expiry)
			ops = ops[1:]
		} else {
			sess := ops[:min(len(ops), 1+rng.IntN(200))]
			ops = ops[len(sess):]
			if rng.IntN(2) == 0 {
				slices.SortFunc(sess, func(a, b fillOp) int {
					return base.Compare(base.MakeInternalKey(a.uk, a.seq, a.kind), base.MakeInternalKey(b.uk, b.seq, b.kind))
				})
			}
			w, berr := mt.BeginWrite()
			if berr != nil {
				t.Fatal(berr)
			}
			for _, o := range sess {
				if err = w.Add(o.uk, o.seq, o.kind, o.value, o.expiry); err != nil {
					break
				}
			}
			w.Done()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(m.points, func(a, b entry) int { return base.Compare(a.key, b.key) })
	return m
}

// checkStructure checks the points skiplist: every level in strict
// internal-key order and a sublist of the level below, the writer's prev
// links the inverse of level 0, and the index leading every user key to its
// first node.
func checkStructure(t *testing.T, mt *Memtable) {
	t.Helper()
	s, a := mt.points, mt.arena
	var below map[uint32]bool
	for l := 0; l < maxHeight; l++ {
		on := map[uint32]bool{}
		prev := s.head
		for n := a.next(s.head, l); n != 0; prev, n = n, a.next(n, l) {
			on[n] = true
			if l == 0 && a.prev(n) != prev {
				t.Fatalf("node %s: prev link %d, level 0 predecessor %d", a.key(n), a.prev(n), prev)
			}
			if l > 0 && !below[n] {
				t.Fatalf("node %s at level %d is not at level %d", a.key(n), l, l-1)
			}
			if prev != s.head && base.Compare(a.key(prev), a.key(n)) >= 0 {
				t.Fatalf("level %d: %s before %s", l, a.key(prev), a.key(n))
			}
			if l == 0 && (prev == s.head || !bytes.Equal(a.userKey(prev), a.userKey(n))) {
				k := makeSearchKey(a.userKey(n), 0)
				if f := s.idx.find(&k, base.KeyHash(k.ukey)); f != n {
					t.Fatalf("index leads key %q to node %d, its first node is %d", k.ukey, f, n)
				}
			}
		}
		below = on
	}
}

type iterLike interface {
	First() bool
	Last() bool
	SeekGE([]byte) bool
	SeekLT([]byte) bool
	Next() bool
	Prev() bool
	Key() base.InternalKey
	Value() []byte
	Expiry() base.Expiry
	Err() error
	Close() error
}

func checkIter(t *testing.T, rng *rand.Rand, m *model, newIter func(IterOptions) iterLike) {
	t.Helper()
	for q := 0; q < 100; q++ {
		o := IterOptions{HideRangeDeleted: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 {
			o.Lower = randKey(rng)
		}
		if rng.IntN(2) == 0 {
			o.Upper = randKey(rng)
		}
		if rng.IntN(2) == 0 {
			o.SeqNum = uint64(rng.IntN(len(m.points) + 5))
		}
		want := m.visible(o)
		it := newIter(o)
		seek := randKey(rng)
		lb, _ := slices.BinarySearchFunc(want, seek, func(e entry, k []byte) int { return bytes.Compare(e.key.UserKey, k) })
		var ok bool
		var pos int
		switch rng.IntN(4) {
		case 0:
			ok, pos = it.SeekGE(seek), lb
		case 1:
			ok, pos = it.SeekLT(seek), lb-1
		case 2:
			ok, pos = it.First(), 0
		default:
			ok, pos = it.Last(), len(want)-1
		}
		for step := 0; step < 2*len(want)+2; step++ {
			if in := pos >= 0 && pos < len(want); ok != in {
				t.Fatalf("query %d step %d %+v: valid=%v, model pos %d of %d", q, step, o, ok, pos, len(want))
			}
			if !ok {
				break
			}
			w := want[pos]
			if base.Compare(it.Key(), w.key) != 0 || !bytes.Equal(it.Value(), w.value) || it.Expiry() != w.expiry {
				t.Fatalf("query %d step %d: got %s=%q/%d want %s=%q/%d", q, step, it.Key(), it.Value(), it.Expiry(), w.key, w.value, w.expiry)
			}
			if rng.IntN(4) == 0 {
				ok, pos = it.Prev(), pos-1
			} else {
				ok, pos = it.Next(), pos+1
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRandomizedModel(t *testing.T) {
	for seed := uint64(0); seed < 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		mt, err := New(Options{Capacity: 8 << 20, Seed: seed + 1})
		if err != nil {
			t.Fatal(err)
		}
		n := []int{0, 1, 10, 500, 3000}[seed%5]
		m := fill(t, rng, mt, n)
		checkStructure(t, mt)
		if got := mt.Len(); got != int64(len(m.points)) {
			t.Fatalf("Len = %d, want %d", got, len(m.points))
		}
		for q := 0; q < 500; q++ {
			uk := randKey(rng)
			readSeq := base.SeqNumMax
			if rng.IntN(2) == 0 {
				readSeq = uint64(rng.IntN(n + 5))
			}
			got, ok := mt.Get(uk, readSeq)
			want, wok := m.get(uk, readSeq)
			if ok != wok || got.Kind != want.Kind || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) || got.Expiry != want.Expiry {
				t.Fatalf("seed %d: Get(%q,%d) = %+v,%v; model %+v,%v", seed, uk, readSeq, got, ok, want, wok)
			}
		}
		checkIter(t, rng, m, func(o IterOptions) iterLike { return mt.NewIter(o) })

		// Flush to an sstable and check the same things on the table.
		mt.Freeze()
		if err := mt.Set([]byte{0, 0}, 99999, nil, 0); !errors.Is(err, ErrFrozen) {
			t.Fatalf("Add after Freeze: %v", err)
		}
		var buf bytes.Buffer
		w, err := sstable.NewWriter(&buf, sstable.WriterOptions{BlockSize: 256})
		if err != nil {
			t.Fatal(err)
		}
		if err := mt.Flush(w); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		r, err := sstable.Open(context.Background(), bytesReadable(buf.Bytes()), sstable.ReaderOptions{Name: "flush.sst"})
		if err != nil {
			t.Fatal(err)
		}
		checkIter(t, rng, m, func(o IterOptions) iterLike { return r.NewIter(context.Background(), o) })
		for q := 0; q < 200; q++ {
			uk := randKey(rng)
			got, ok, err := r.Get(context.Background(), uk)
			want, wok := m.get(uk, base.SeqNumMax)
			if err != nil || ok != wok || got.Kind != want.Kind || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("table Get(%q) = %+v,%v,%v; model %+v,%v", uk, got, ok, err, want, wok)
			}
		}

		// FlushNewest: one version per key, the same reads at the newest
		// seqnum.
		buf.Reset()
		if w, err = sstable.NewWriter(&buf, sstable.WriterOptions{BlockSize: 256}); err != nil {
			t.Fatal(err)
		}
		if _, err := mt.FlushNewest(w, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		if r, err = sstable.Open(context.Background(), bytesReadable(buf.Bytes()), sstable.ReaderOptions{Name: "newest.sst"}); err != nil {
			t.Fatal(err)
		}
		it := r.NewIter(context.Background(), sstable.IterOptions{})
		var prev []byte
		for ok := it.First(); ok; ok = it.Next() {
			k := it.Key()
			if prev != nil && bytes.Equal(prev, k.UserKey) {
				t.Fatalf("FlushNewest wrote two versions of %q", k.UserKey)
			}
			if vis := m.visible(IterOptions{HideRangeDeleted: true, Lower: k.UserKey, Upper: append(bytes.Clone(k.UserKey), 0)}); len(vis) == 0 || vis[0].key.SeqNum() != k.SeqNum() {
				t.Fatalf("FlushNewest wrote %s, not the newest visible version", k)
			}
			prev = bytes.Clone(k.UserKey)
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		for q := 0; q < 200; q++ {
			uk := randKey(rng)
			got, ok, err := r.Get(context.Background(), uk)
			want, wok := m.get(uk, base.SeqNumMax)
			if err != nil || ok != wok || got.Kind != want.Kind || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("newest table Get(%q) = %+v,%v,%v; model %+v,%v", uk, got, ok, err, want, wok)
			}
		}

		// FlushNewest with unseen keys: their tombstones are not written;
		// every key reads the same value or absence.
		unseen := func(uk []byte) bool { return len(uk)%2 == 0 }
		buf.Reset()
		if w, err = sstable.NewWriter(&buf, sstable.WriterOptions{BlockSize: 256}); err != nil {
			t.Fatal(err)
		}
		dropped, err := mt.FlushNewest(w, unseen)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		if r, err = sstable.Open(context.Background(), bytesReadable(buf.Bytes()), sstable.ReaderOptions{Name: "unseen.sst"}); err != nil {
			t.Fatal(err)
		}
		var wantDropped int64
		for _, k := range m.keys() {
			if e, ok := m.get(k, base.SeqNumMax); ok && e.Kind == base.KindDelete && unseen(k) {
				wantDropped++
			}
		}
		if dropped != wantDropped {
			t.Fatalf("FlushNewest dropped %d tombstones of unseen keys, want %d", dropped, wantDropped)
		}
		it = r.NewIter(context.Background(), sstable.IterOptions{})
		for ok := it.First(); ok; ok = it.Next() {
			if k := it.Key(); k.Kind() == base.KindDelete && unseen(k.UserKey) {
				t.Fatalf("FlushNewest wrote the tombstone %s of an unseen key", k)
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		for _, uk := range append(m.keys(), randKey(rng), randKey(rng)) {
			got, ok, err := r.Get(context.Background(), uk)
			want, wok := m.get(uk, base.SeqNumMax)
			live := ok && (got.Kind == base.KindSet || got.Kind == base.KindSetWithExpiry)
			wlive := wok && (want.Kind == base.KindSet || want.Kind == base.KindSetWithExpiry)
			if err != nil || live != wlive || live && (got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value)) {
				t.Fatalf("unseen table Get(%q) = %+v,%v,%v; model %+v,%v", uk, got, ok, err, want, wok)
			}
		}
	}
}

type bytesReadable []byte

func (b bytesReadable) ReadAt(_ context.Context, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > int64(len(b)) {
		return fmt.Errorf("read beyond end")
	}
	copy(p, b[off:])
	return nil
}

func (b bytesReadable) Size() int64 { return int64(len(b)) }

func TestArenaFull(t *testing.T) {
	mt, err := New(Options{Capacity: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	added := 0
	for {
		seq++
		err := mt.Set([]byte(fmt.Sprintf("\x00\x01key%05d", seq)), seq, make([]byte, 40), 0)
		if errors.Is(err, ErrArenaFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		added++
		if added > 1000 {
			t.Fatal("a 4 KiB arena took more than 1000 entries of 50 bytes")
		}
	}
	if mt.Size() > mt.Capacity() {
		t.Fatalf("Size %d exceeds Capacity %d", mt.Size(), mt.Capacity())
	}
	if added == 0 || int64(added) != mt.Len() {
		t.Fatalf("added %d, Len %d", added, mt.Len())
	}
	// Everything added before the failure is still readable.
	it := mt.NewIter(IterOptions{})
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	if n != added {
		t.Fatalf("iterated %d, added %d", n, added)
	}
	if _, err := New(Options{Capacity: 10}); err == nil {
		t.Fatal("tiny capacity accepted")
	}
}

func TestDuplicateAndBadInput(t *testing.T) {
	mt, _ := New(Options{Capacity: 1 << 20})
	k := []byte{0, 1, 'a'}
	if err := mt.Set(k, 5, []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := mt.Set(k, 5, []byte("w"), 0); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	for name, err := range map[string]error{
		"short key":      mt.Set([]byte{1}, 1, nil, 0),
		"delete+expiry":  mt.Add(k, 2, base.KindDelete, nil, 9),
		"empty range":    mt.DeleteRange(k, k, 3),
		"inverted range": mt.DeleteRange([]byte{0, 2}, []byte{0, 1}, 4),
		"bad kind":       mt.Add(k, 6, base.Kind(77), nil, 0),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestConcurrentReadersAndWriters runs writers and readers together (run
// with -race). Readers check that what they see is sorted and that every
// entry a writer finished adding is visible to Get.
func TestConcurrentReadersAndWriters(t *testing.T) {
	mt, err := New(Options{Capacity: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 2, 2000
	var done sync.WaitGroup
	var committed [writers]struct {
		mu sync.Mutex
		n  int
	}
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		done.Add(1)
		go func() {
			defer done.Done()
			for i := 0; i < perWriter; i++ {
				k := []byte(fmt.Sprintf("\x00\x07w%d-%06d", w, i))
				if err := mt.Set(k, uint64(w*perWriter+i+1), k, 0); err != nil {
					t.Error(err)
					return
				}
				committed[w].mu.Lock()
				committed[w].n = i + 1
				committed[w].mu.Unlock()
			}
		}()
	}
	var readers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for {
				select {
				case <-stop:
					return
				default:
				}
				w := rng.IntN(writers)
				committed[w].mu.Lock()
				n := committed[w].n
				committed[w].mu.Unlock()
				if n > 0 {
					i := rng.IntN(n)
					k := []byte(fmt.Sprintf("\x00\x07w%d-%06d", w, i))
					if e, ok := mt.Get(k, base.SeqNumMax); !ok || !bytes.Equal(e.Value, k) {
						t.Errorf("committed key %q not visible: %+v %v", k, e, ok)
						return
					}
				}
				it := mt.NewIter(IterOptions{})
				var prev base.InternalKey
				cnt := 0
				for ok := it.First(); ok && cnt < 200; ok = it.Next() {
					if cnt > 0 && base.Compare(prev, it.Key()) >= 0 {
						t.Errorf("iterator out of order: %s then %s", prev, it.Key())
						return
					}
					prev = it.Key()
					cnt++
				}
			}
		}()
	}
	done.Wait()
	close(stop)
	readers.Wait()
	if got := mt.Len(); got != writers*perWriter {
		t.Fatalf("Len = %d, want %d", got, writers*perWriter)
	}
}

// With 4 buckets (Options.IndexEntries 3 sizes an index so) every chain is long: Get through the hash index agrees
// with a skiplist search and the model for every key and read seqnum, with
// versions inserted in random seqnum order (so new first versions replace
// chain nodes in the middle of chains as well as at the head).
func TestHashIndexLongChains(t *testing.T) {
	for seed := uint64(0); seed < 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		mt, err := New(Options{Capacity: 4 << 20, Seed: seed + 1})
		if err != nil {
			t.Fatal(err)
		}
		// Four buckets, from a small capacity or from few entries.
		idx, ok := newHashIndex(mt.arena, 4*bytesPerBucket, 0)
		if seed%2 == 1 {
			idx, ok = newHashIndex(mt.arena, 4<<20, 3)
		}
		if !ok || idx.mask != 3 {
			t.Fatalf("small index: ok=%t mask=%d", ok, idx.mask)
		}
		mt.points.idx = idx
		n := 2000
		m := fill(t, rng, mt, n)
		checkStructure(t, mt)
		for q := 0; q < 3000; q++ {
			uk := randKey(rng)
			readSeq := base.SeqNumMax
			if rng.IntN(2) == 0 {
				readSeq = uint64(rng.IntN(n + 5))
			}
			got, ok := mt.Get(uk, readSeq)
			want, wok := m.get(uk, readSeq)
			if ok != wok || got.Kind != want.Kind || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) {
				t.Fatalf("seed %d: Get(%q,%d) = %+v,%v; model %+v,%v", seed, uk, readSeq, got, ok, want, wok)
			}
			sk := makeSearchKey(uk, base.MakeTrailer(readSeq, base.KindMax))
			viaList := mt.points.seekGE(&sk)
			first := mt.points.seekGE(&searchKey{ukey: uk, prefix: keyPrefix(uk), trailer: base.MakeTrailer(base.SeqNumMax, base.KindMax)})
			if first != 0 && mt.arena.cmpUser(first, &sk) != 0 {
				first = 0
			}
			if f := idx.find(&sk, base.KeyHash(uk)); f != first {
				t.Fatalf("seed %d: index finds node %d for %q, the skiplist's first version is %d (search at %d: %d)", seed, f, uk, first, readSeq, viaList)
			}
		}
	}
}

// A memtable on a reused arena behaves as on new memory, whatever the arena
// held: garbage first, then what the previous memtable left.
func TestReusedArena(t *testing.T) {
	const capacity = 4 << 20
	arena := make([]byte, capacity+1000)
	rng := rand.New(rand.NewPCG(42, 1))
	for i := range arena {
		arena[i] = byte(rng.Uint32())
	}
	for seed := uint64(0); seed < 4; seed++ {
		mt, err := New(Options{Capacity: capacity - int64(seed)*1000, Seed: seed + 1, Arena: arena})
		if err != nil {
			t.Fatal(err)
		}
		m := fill(t, rng, mt, 2000)
		for q := 0; q < 300; q++ {
			uk := randKey(rng)
			readSeq := base.SeqNumMax
			if rng.IntN(2) == 0 {
				readSeq = uint64(rng.IntN(2005))
			}
			got, ok := mt.Get(uk, readSeq)
			want, wok := m.get(uk, readSeq)
			if ok != wok || got.Kind != want.Kind || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) || got.Expiry != want.Expiry {
				t.Fatalf("seed %d: Get(%q,%d) = %+v,%v; model %+v,%v", seed, uk, readSeq, got, ok, want, wok)
			}
		}
		// Keys the memtable never held walk whole hash chains.
		for q := 0; q < 1000; q++ {
			if e, ok := mt.Get([]byte{0, 9, byte(q), byte(q >> 8)}, base.SeqNumMax); ok {
				t.Fatalf("seed %d: absent key %d found: %+v", seed, q, e)
			}
		}
		checkIter(t, rng, m, func(o IterOptions) iterLike { return mt.NewIter(o) })
		arena = mt.Release()
		if !mt.Frozen() {
			t.Fatal("released memtable not frozen")
		}
	}
}
