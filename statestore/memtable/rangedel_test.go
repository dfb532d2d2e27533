package memtable

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// TestRangeDelsModel adds many overlapping, nested and repeated range
// deletions among point entries, in writer sessions of random sizes (so
// the view goes through many runs and merges), with seqnums ascending as
// the LSM assigns them or in random order. After every session it checks
// Get at random read seqnums, iterators hiding range-deleted entries and
// RangeDelFragments against the naive model (a scan of every deletion).
func TestRangeDelsModel(t *testing.T) {
	for seed := uint64(0); seed < 8; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 11))
			mt, err := New(Options{Capacity: 16 << 20, Seed: seed + 1})
			if err != nil {
				t.Fatal(err)
			}
			ascending := seed%2 == 0
			const total = 2000
			seqs := rng.Perm(total)
			m := &model{}
			// A small key space: deletions overlap a lot.
			key := func() []byte {
				k := []byte{0, byte(rng.IntN(2))}
				return fmt.Appendf(k, "k%03d", rng.IntN(120))
			}
			next := 0
			for sess := 0; next < total; sess++ {
				w, err := mt.BeginWrite()
				if err != nil {
					t.Fatal(err)
				}
				n := 1 + rng.IntN([]int{1, 4, 40}[rng.IntN(3)])
				for ; n > 0 && next < total; n-- {
					seq := uint64(next + 1)
					if !ascending {
						seq = uint64(seqs[next] + 1)
					}
					next++
					uk := key()
					if rng.IntN(5) < 2 {
						end := key()
						if c := bytes.Compare(uk, end); c == 0 {
							continue
						} else if c > 0 {
							uk, end = end, uk
						}
						if err := w.DeleteRange(uk, end, seq); err != nil {
							t.Fatal(err)
						}
						m.dels = append(m.dels, base.RangeDel{Start: uk, End: end, SeqNum: seq})
						continue
					}
					v := fmt.Appendf(nil, "v%d", seq)
					if err := w.Set(uk, seq, v, 0); err != nil {
						t.Fatal(err)
					}
					m.points = append(m.points, entry{key: base.MakeInternalKey(uk, seq, base.KindSet), value: v})
				}
				w.Done()
				slices.SortFunc(m.points, func(a, b entry) int { return base.Compare(a.key, b.key) })
				if sess%50 != 0 && next < total {
					continue
				}
				for q := 0; q < 200; q++ {
					uk := key()
					readSeq := base.SeqNumMax
					if rng.IntN(2) == 0 {
						readSeq = uint64(rng.IntN(next + 2))
					}
					got, ok := mt.Get(uk, readSeq)
					want, wok := m.get(uk, readSeq)
					if ok != wok || got.Kind != want.Kind || got.SeqNum != want.SeqNum || !bytes.Equal(got.Value, want.Value) {
						t.Fatalf("session %d: Get(%q,%d) = %+v,%v; model %+v,%v", sess, uk, readSeq, got, ok, want, wok)
					}
				}
				checkIter(t, rng, m, func(o IterOptions) iterLike { return mt.NewIter(o) })
				var lo, hi []byte
				if rng.IntN(2) == 0 {
					lo = key()
				}
				if rng.IntN(2) == 0 {
					hi = key()
				}
				checkFragments(t, mt.RangeDelFragments(lo, hi), m.dels, lo, hi, key)
			}
			if v := mt.rdView.Load(); v != nil && len(v.runs) > 12 {
				t.Errorf("%d range deletions in %d runs", len(m.dels), len(v.runs))
			}
		})
	}
}

// checkFragments checks frags, the fragments of dels within [lo, hi), at
// keys drawn by key and at every fragment bound.
func checkFragments(t *testing.T, frags base.Fragments, dels []base.RangeDel, lo, hi []byte, key func() []byte) {
	t.Helper()
	var probes [][]byte
	for i, f := range frags {
		if bytes.Compare(f.Start, f.End) >= 0 || i > 0 && bytes.Compare(frags[i-1].End, f.Start) > 0 {
			t.Fatalf("fragments [%q,%q): bad fragment %d %v", lo, hi, i, frags)
		}
		probes = append(probes, f.Start, f.End)
	}
	for range 100 {
		probes = append(probes, key())
	}
	for _, k := range probes {
		in := (lo == nil || bytes.Compare(k, lo) >= 0) && (hi == nil || bytes.Compare(k, hi) < 0)
		var want []uint64
		for _, d := range dels {
			if in && bytes.Compare(d.Start, k) <= 0 && bytes.Compare(k, d.End) < 0 {
				want = append(want, d.SeqNum)
			}
		}
		slices.Sort(want)
		slices.Reverse(want)
		want = slices.Compact(want)
		var got []uint64
		if i := slices.IndexFunc(frags, func(f base.Fragment) bool {
			return bytes.Compare(f.Start, k) <= 0 && bytes.Compare(k, f.End) < 0
		}); i >= 0 {
			got = frags[i].SeqNums
		}
		if !slices.Equal(got, want) {
			t.Fatalf("fragments [%q,%q) at %q: seqnums %v, want %v", lo, hi, k, got, want)
		}
	}
}

// TestRangeDelsConcurrent runs a writer adding range deletions and points
// alongside readers (run with -race). A reader checks that a deletion whose
// Add returned covers the points below it, and that iterators see no
// deleted point.
func TestRangeDelsConcurrent(t *testing.T) {
	mt, err := New(Options{Capacity: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	const keys = 3000
	k := func(i int) []byte { return fmt.Appendf([]byte{0, 3}, "k%05d", i) }
	// Seqnums 1..keys: one point per key. Then deletions of [k(i), k(i+1))
	// at keys+1+i, in order.
	w, _ := mt.BeginWrite()
	for i := range keys {
		if err := w.Set(k(i), uint64(i+1), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	w.Done()
	var deleted atomic.Int64 // keys [0, deleted) are deleted
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < keys; {
			w, err := mt.BeginWrite()
			if err != nil {
				t.Error(err)
				return
			}
			for n := 1 + rng.IntN(8); n > 0 && i < keys; n-- {
				if err := w.DeleteRange(k(i), k(i+1), uint64(keys+1+i)); err != nil {
					t.Error(err)
				}
				i++
			}
			w.Done()
			deleted.Store(int64(i))
		}
	}()
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 5))
			for {
				d := int(deleted.Load())
				if d > 0 {
					i := rng.IntN(d)
					if e, ok := mt.Get(k(i), base.SeqNumMax); !ok || e.Kind != base.KindRangeDelete || e.SeqNum != uint64(keys+1+i) {
						t.Errorf("key %d of %d deleted: Get = %+v, %v", i, d, e, ok)
						return
					}
				}
				it := mt.NewIter(IterOptions{HideRangeDeleted: true, Upper: k(d)})
				if it.First() {
					t.Errorf("%d keys deleted, iterator sees %s", d, it.Key())
					return
				}
				if d == keys {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkGetWithRangeDels looks up present keys in a memtable of 256K
// points and dels range deletions among them, each added alone (the most
// runs for the view), each deleting a key's range.
func BenchmarkGetWithRangeDels(b *testing.B) {
	for _, dels := range []int{0, 1_000, 16_000} {
		b.Run(fmt.Sprintf("dels=%d", dels), func(b *testing.B) {
			const n = 1 << 18
			mt, _ := New(Options{Capacity: 1 << 30})
			value := make([]byte, 64)
			var kb, kb2 []byte
			seq := uint64(0)
			perDel := n / max(dels, 1)
			for i := 0; i < n; i++ {
				seq++
				if err := mt.Set(benchKey(kb, uint64(i)), seq, value, 0); err != nil {
					b.Fatal(err)
				}
				if dels > 0 && i%perDel == 0 {
					// Delete a range of keys that are not looked up.
					seq++
					start := append(benchKey(kb, uint64(n+i)), 'a')
					kb2 = append(append(kb2[:0], start[:len(start)-1]...), 'b')
					if err := mt.DeleteRange(start, kb2, seq); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := uint64(i*7919) % n
				if e, ok := mt.Get(benchKey(kb, j), base.SeqNumMax); !ok || e.Kind != base.KindSet {
					b.Fatal("missing key")
				}
			}
		})
	}
}
