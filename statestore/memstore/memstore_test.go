package memstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const numKeyGroups = 16

type modelEntry struct {
	value  string
	expiry int64
}

// model is the trivially correct reference: a map from key to value.
type model map[string]modelEntry

func (m model) live(key string, now int64) (string, bool) {
	e, ok := m[key]
	if !ok || statestore.Expired(e.expiry, now) {
		return "", false
	}
	return e.value, true
}

type shard struct {
	s     statestore.Store
	owned statestore.KeyGroupRange
}

type harness struct {
	t      *testing.T
	rng    *rand.Rand
	clk    *clock.Fake
	reg    *Registry
	model  model
	shards []shard
	ckpt   uint64
	epoch  uint64
}

func (h *harness) now() int64 { return h.clk.Now().UnixNano() }

func (h *harness) randKey() []byte {
	k := statestore.AppendKeyGroup(nil, uint16(h.rng.IntN(numKeyGroups)))
	for range h.rng.IntN(3) {
		k = append(k, byte('a'+h.rng.IntN(3)))
	}
	return k
}

func (h *harness) randKeyIn(r statestore.KeyGroupRange) []byte {
	k := statestore.AppendKeyGroup(nil, r.Start+uint16(h.rng.IntN(r.Len())))
	for range h.rng.IntN(3) {
		k = append(k, byte('a'+h.rng.IntN(3)))
	}
	return k
}

// randBound returns nil (unbounded) sometimes, else a random key prefix.
func (h *harness) randBound() []byte {
	if h.rng.IntN(5) == 0 {
		return nil
	}
	k := h.randKey()
	return k[:h.rng.IntN(len(k)+1)]
}

func (h *harness) rescale(parallelism int) {
	t := h.t
	ctx := context.Background()
	var handles []statestore.Handle
	h.ckpt++
	for _, sh := range h.shards {
		p, err := sh.s.Checkpoint(ctx, h.ckpt)
		if err != nil {
			t.Fatal(err)
		}
		hd, err := p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hd.KeyGroups != sh.owned || hd.Checkpoint != h.ckpt {
			t.Fatalf("handle %v: want key groups %v, checkpoint %d", hd, sh.owned, h.ckpt)
		}
		// Handles must survive serialization, as checkpoint metadata.
		b, _ := hd.MarshalBinary()
		var back statestore.Handle
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		handles = append(handles, back)
		if err := sh.s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ranges, err := statestore.SplitKeyGroups(numKeyGroups, parallelism)
	if err != nil {
		t.Fatal(err)
	}
	h.epoch++
	h.shards = h.shards[:0]
	for i, r := range ranges {
		s, err := h.reg.Open(ctx, statestore.ShardOptions{Name: fmt.Sprintf("op/%d", i), Epoch: h.epoch}, handles, r)
		if err != nil {
			t.Fatal(err)
		}
		h.shards = append(h.shards, shard{s: s, owned: r})
	}
	// Old checkpoints are no longer needed: the new stores must not depend
	// on them.
	for _, hd := range handles {
		if err := h.reg.Release(hd); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) applyBatch(sh shard) {
	t := h.t
	var b statestore.WriteBatch
	pending := model{}
	deleted := map[string]bool{}
	type rangeDel struct{ lo, hi []byte }
	type step struct {
		put   bool
		key   string
		e     modelEntry
		isDel bool
		rd    *rangeDel
	}
	var steps []step
	bad := false
	for range 1 + h.rng.IntN(8) {
		switch h.rng.IntN(10) {
		case 0, 1, 2, 3:
			k := h.randKeyIn(sh.owned)
			v := fmt.Sprintf("v%d", h.rng.IntN(1000))
			b.Put(k, []byte(v))
			steps = append(steps, step{put: true, key: string(k), e: modelEntry{value: v}})
		case 4, 5:
			k := h.randKeyIn(sh.owned)
			v := fmt.Sprintf("t%d", h.rng.IntN(1000))
			exp := h.now() + int64(time.Duration(h.rng.IntN(60)-10)*time.Second)
			b.PutWithExpiryNanos(k, []byte(v), exp)
			steps = append(steps, step{put: true, key: string(k), e: modelEntry{value: v, expiry: exp}})
		case 6, 7:
			k := h.randKeyIn(sh.owned)
			b.Delete(k)
			steps = append(steps, step{isDel: true, key: string(k)})
		case 8:
			lo, hi := h.randKey(), h.randKey()
			if bytes.Compare(lo, hi) > 0 {
				lo, hi = hi, lo
			}
			b.DeleteRange(lo, hi)
			rd := rangeDel{lo, hi}
			steps = append(steps, step{rd: &rd})
		case 9:
			if h.rng.IntN(4) == 0 && sh.owned.Len() < numKeyGroups {
				// A key outside the owned range: the whole batch must fail.
				k := h.randKey()
				for sh.owned.ContainsKey(k) {
					k = h.randKey()
				}
				b.Put(k, []byte("nope"))
				bad = true
			}
		}
	}
	_ = pending
	_ = deleted
	err := sh.s.Apply(context.Background(), &b)
	if bad {
		if !errors.Is(err, statestore.ErrNotOwned) {
			t.Fatalf("apply with an unowned key: err = %v, want ErrNotOwned", err)
		}
		return // nothing applied
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		switch {
		case st.put:
			h.model[st.key] = st.e
		case st.isDel:
			delete(h.model, st.key)
		case st.rd != nil:
			for k := range h.model {
				if k >= string(st.rd.lo) && k < string(st.rd.hi) && sh.owned.ContainsKey([]byte(k)) {
					delete(h.model, k)
				}
			}
		}
	}
}

func (h *harness) checkGet(sh shard) {
	k := h.randKey()
	v, ok, err := sh.s.Get(context.Background(), k)
	if err != nil {
		h.t.Fatal(err)
	}
	wv, wok := h.model.live(string(k), h.now())
	if !sh.owned.ContainsKey(k) {
		wv, wok = "", false
	}
	if ok != wok || string(v) != wv {
		h.t.Fatalf("Get(%x) on %v = %q,%v; model %q,%v", k, sh.owned, v, ok, wv, wok)
	}
}

func (h *harness) checkMultiGet(sh shard) {
	keys := make([][]byte, h.rng.IntN(20))
	for i := range keys {
		keys[i] = h.randKey()
	}
	got := make([]*string, len(keys))
	err := sh.s.MultiGet(context.Background(), keys, func(i int, v []byte) {
		if got[i] != nil {
			h.t.Fatalf("MultiGet reported index %d twice", i)
		}
		s := string(v)
		got[i] = &s
	})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, k := range keys {
		wv, wok := h.model.live(string(k), h.now())
		wok = wok && sh.owned.ContainsKey(k)
		if (got[i] != nil) != wok || (wok && *got[i] != wv) {
			h.t.Fatalf("MultiGet key %d (%x) on %v = %v; model %q,%v", i, k, sh.owned, got[i], wv, wok)
		}
	}
}

func (h *harness) checkScan(sh shard) {
	lo, hi := h.randBound(), h.randBound()
	it, err := sh.s.Scan(context.Background(), lo, hi)
	if err != nil {
		h.t.Fatal(err)
	}
	defer it.Close()
	now := h.now()
	var want []string
	for k := range h.model {
		if _, ok := h.model.live(k, now); !ok || !sh.owned.ContainsKey([]byte(k)) {
			continue
		}
		if (lo == nil || k >= string(lo)) && (hi == nil || k < string(hi)) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	var seek []byte
	if h.rng.IntN(2) == 0 {
		seek = h.randKey()
		i, _ := slices.BinarySearch(want, string(seek))
		want = want[i:]
	}
	var got []string
	ok := it.First()
	if seek != nil {
		ok = it.SeekGE(seek)
	}
	for ; ok; ok = it.Next() {
		if !it.Valid() {
			h.t.Fatal("iterator returned true but is not valid")
		}
		if string(it.Value()) != h.model[string(it.Key())].value {
			h.t.Fatalf("scan value of %x = %q, model %q", it.Key(), it.Value(), h.model[string(it.Key())].value)
		}
		got = append(got, string(it.Key()))
	}
	if it.Valid() || it.Error() != nil {
		h.t.Fatalf("exhausted iterator: valid=%v err=%v", it.Valid(), it.Error())
	}
	if !slices.Equal(got, want) {
		h.t.Fatalf("Scan(%x, %x) seek %x on %v:\n got %q\nwant %q", lo, hi, seek, sh.owned, got, want)
	}
}

func TestModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			clk := clock.NewFake(time.Unix(1_000_000, 0))
			h := &harness{
				t:     t,
				rng:   rand.New(rand.NewPCG(seed, 99)),
				clk:   clk,
				reg:   NewRegistry(Options{Clock: clk}),
				model: model{},
			}
			h.shards = nil
			s, err := h.reg.Open(context.Background(), statestore.ShardOptions{Name: "op/0"}, nil, statestore.FullKeyGroupRange(numKeyGroups))
			if err != nil {
				t.Fatal(err)
			}
			h.shards = append(h.shards, shard{s: s, owned: statestore.FullKeyGroupRange(numKeyGroups)})
			for range 2000 {
				sh := h.shards[h.rng.IntN(len(h.shards))]
				switch op := h.rng.IntN(100); {
				case op < 40:
					h.applyBatch(sh)
				case op < 55:
					h.checkGet(sh)
				case op < 70:
					h.checkMultiGet(sh)
				case op < 85:
					h.checkScan(sh)
				case op < 97:
					clk.Advance(time.Duration(h.rng.IntN(10)) * time.Second)
				default:
					h.rescale(1 + h.rng.IntN(4))
				}
			}
			for _, sh := range h.shards {
				if err := sh.s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if n := h.reg.Checkpoints(); n != 0 {
				t.Fatalf("registry holds %d checkpoints after all were released", n)
			}
		})
	}
}

func openEmpty(t *testing.T, reg *Registry, r statestore.KeyGroupRange) statestore.Store {
	t.Helper()
	s, err := reg.Open(context.Background(), statestore.ShardOptions{Name: "op/" + r.String()}, nil, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func key(g uint16, s string) []byte { return append(statestore.AppendKeyGroup(nil, g), s...) }

func TestScanIsPointInTime(t *testing.T) {
	ctx := context.Background()
	s := openEmpty(t, NewRegistry(Options{}), statestore.FullKeyGroupRange(4))
	var b statestore.WriteBatch
	b.Put(key(1, "a"), []byte("1"))
	b.Put(key(1, "b"), []byte("2"))
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	it, err := s.Scan(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	b.Reset()
	b.Put(key(1, "a"), []byte("changed"))
	b.Delete(key(1, "b"))
	b.Put(key(1, "c"), []byte("new"))
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, string(it.Key()[2:])+"="+string(it.Value()))
	}
	if want := []string{"a=1", "b=2"}; !slices.Equal(got, want) {
		t.Fatalf("scan opened before the write saw %q, want %q", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	reg := NewRegistry(Options{})
	other := NewRegistry(Options{})
	full := statestore.FullKeyGroupRange(8)
	checkpoint := func(reg *Registry, r statestore.KeyGroupRange) statestore.Handle {
		s := openEmpty(t, reg, r)
		p, err := s.Checkpoint(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	lo := checkpoint(reg, statestore.KeyGroupRange{Start: 0, End: 4})
	hi := checkpoint(reg, statestore.KeyGroupRange{Start: 4, End: 8})
	overlapping := checkpoint(reg, statestore.KeyGroupRange{Start: 2, End: 6})
	foreign := checkpoint(other, full)
	released := checkpoint(reg, full)
	if err := reg.Release(released); err != nil {
		t.Fatal(err)
	}
	wrongBackend := lo
	wrongBackend.Backend = "lsm"
	short := lo
	short.Data = short.Data[:3]
	for _, tc := range []struct {
		name  string
		from  []statestore.Handle
		owned statestore.KeyGroupRange
		want  error
	}{
		{"union", []statestore.Handle{lo, hi}, full, nil},
		{"overlap", []statestore.Handle{lo, overlapping}, full, statestore.ErrInvalidHandle},
		{"overlap outside owned is fine", []statestore.Handle{lo, overlapping}, statestore.KeyGroupRange{Start: 0, End: 2}, nil},
		{"foreign registry", []statestore.Handle{foreign}, full, statestore.ErrInvalidHandle},
		{"released", []statestore.Handle{released}, full, statestore.ErrHandleNotFound},
		{"wrong backend", []statestore.Handle{wrongBackend}, full, statestore.ErrInvalidHandle},
		{"short data", []statestore.Handle{short}, full, statestore.ErrInvalidHandle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := reg.Open(ctx, statestore.ShardOptions{Name: "x"}, tc.from, tc.owned)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := reg.Open(ctx, statestore.ShardOptions{}, nil, full); err == nil {
		t.Error("Open without a shard name succeeded")
	}
	if _, err := reg.Open(ctx, statestore.ShardOptions{Name: "x"}, nil, statestore.KeyGroupRange{Start: 5, End: 2}); err == nil {
		t.Error("Open with an inverted range succeeded")
	}
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s, err := NewRegistry(Options{}).Open(ctx, statestore.ShardOptions{Name: "x"}, nil, statestore.FullKeyGroupRange(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	var b statestore.WriteBatch
	b.Put(key(0, "a"), nil)
	_, _, errGet := s.Get(ctx, key(0, "a"))
	errMulti := s.MultiGet(ctx, [][]byte{key(0, "a")}, func(int, []byte) {})
	_, errScan := s.Scan(ctx, nil, nil)
	_, errCkpt := s.Checkpoint(ctx, 1)
	for i, err := range []error{errGet, errMulti, s.Apply(ctx, &b), errScan, errCkpt} {
		if !errors.Is(err, statestore.ErrClosed) {
			t.Errorf("call %d after Close = %v, want ErrClosed", i, err)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	ctx := context.Background()
	s := openEmpty(t, NewRegistry(Options{}), statestore.FullKeyGroupRange(2))
	if _, _, err := s.Get(ctx, []byte{1}); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Errorf("Get(short key) = %v", err)
	}
	if err := s.MultiGet(ctx, [][]byte{key(0, ""), {}}, func(int, []byte) {}); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Errorf("MultiGet(short key) = %v", err)
	}
	var b statestore.WriteBatch
	b.Put(key(0, "ok"), nil)
	b.Delete([]byte{0})
	if err := s.Apply(ctx, &b); !errors.Is(err, statestore.ErrInvalidKey) {
		t.Errorf("Apply(short key) = %v", err)
	}
	if _, ok, _ := s.Get(ctx, key(0, "ok")); ok {
		t.Error("a failed batch was partly applied")
	}
}

func TestMultiGetCallbackMayReenter(t *testing.T) {
	ctx := context.Background()
	s := openEmpty(t, NewRegistry(Options{}), statestore.FullKeyGroupRange(2))
	var b statestore.WriteBatch
	b.Put(key(0, "a"), []byte("1"))
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := s.MultiGet(ctx, [][]byte{key(0, "a")}, func(i int, v []byte) {
		calls++
		var w statestore.WriteBatch
		w.Put(key(0, "b"), v)
		if err := s.Apply(ctx, &w); err != nil {
			t.Error(err)
		}
	})
	if err != nil || calls != 1 {
		t.Fatalf("MultiGet = %v, %d calls", err, calls)
	}
	if v, ok, _ := s.Get(ctx, key(0, "b")); !ok || string(v) != "1" {
		t.Fatalf("write from the callback: %q, %v", v, ok)
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	s := openEmpty(t, NewRegistry(Options{}), statestore.FullKeyGroupRange(2))
	var b statestore.WriteBatch
	b.Put(key(0, "a"), []byte("123"))
	b.Put(key(0, "b"), []byte("45"))
	b.Put(key(0, "a"), []byte("6"))
	b.Delete(key(0, "b"))
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	_ = s.MultiGet(ctx, [][]byte{key(0, "a"), key(0, "b"), key(1, "")}, func(int, []byte) {})
	m := s.Metrics()
	want := statestore.Metrics{MultiGets: 1, KeysLookedUp: 3, KeysFound: 1, Batches: 1, Puts: 3, Deletes: 1,
		BytesWritten: (3 + 3) + (3 + 2) + (3 + 1) + 3, LiveKeys: 1, LiveBytes: 3 + 1}
	want.Tiers[statestore.TierMemtable] = statestore.TierMetrics{Hits: 1, Misses: 2, SizeBytes: 3 + 1}
	if m != want {
		t.Fatalf("metrics:\n got %+v\nwant %+v", m, want)
	}
}

// TestConcurrent runs readers, writers, scans and checkpoints at once; run
// with -race.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	reg := NewRegistry(Options{})
	s := openEmpty(t, reg, statestore.FullKeyGroupRange(8))
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			var b statestore.WriteBatch
			for i := range 300 {
				k := key(uint16(rng.IntN(8)), fmt.Sprint(rng.IntN(50)))
				switch w {
				case 0:
					b.Reset()
					b.Put(k, []byte(fmt.Sprint(i)))
					if rng.IntN(10) == 0 {
						b.DeleteRange(key(0, ""), key(1, ""))
					}
					if err := s.Apply(ctx, &b); err != nil {
						t.Error(err)
						return
					}
				case 1:
					if err := s.MultiGet(ctx, [][]byte{k, k}, func(int, []byte) {}); err != nil {
						t.Error(err)
						return
					}
				case 2:
					it, err := s.Scan(ctx, nil, nil)
					if err != nil {
						t.Error(err)
						return
					}
					var prev []byte
					for ok := it.First(); ok; ok = it.Next() {
						if prev != nil && bytes.Compare(prev, it.Key()) >= 0 {
							t.Errorf("scan out of order: %x then %x", prev, it.Key())
						}
						prev = bytes.Clone(it.Key())
					}
					it.Close()
				case 3:
					p, err := s.Checkpoint(ctx, uint64(i))
					if err != nil {
						t.Error(err)
						return
					}
					h, err := p.Wait(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					s2, err := reg.Open(ctx, statestore.ShardOptions{Name: "copy"}, []statestore.Handle{h}, statestore.KeyGroupRange{Start: 0, End: 4})
					if err != nil {
						t.Error(err)
						return
					}
					s2.Close()
					_ = reg.Release(h)
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkMultiGet(b *testing.B) {
	ctx := context.Background()
	s, _ := NewRegistry(Options{}).Open(ctx, statestore.ShardOptions{Name: "bench"}, nil, statestore.FullKeyGroupRange(256))
	defer s.Close()
	var wb statestore.WriteBatch
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = key(uint16(i%256), fmt.Sprintf("key-%08d", i))
		wb.Put(keys[i], make([]byte, 64))
	}
	if err := s.Apply(ctx, &wb); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = s.MultiGet(ctx, keys, func(int, []byte) {})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
}

func BenchmarkApply(b *testing.B) {
	ctx := context.Background()
	s, _ := NewRegistry(Options{}).Open(ctx, statestore.ShardOptions{Name: "bench"}, nil, statestore.FullKeyGroupRange(256))
	defer s.Close()
	var wb statestore.WriteBatch
	val := make([]byte, 64)
	kbuf := make([]byte, 0, 32)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		wb.Reset()
		for j := range 1024 {
			kbuf = fmt.Appendf(statestore.AppendKeyGroup(kbuf[:0], uint16(j%256)), "key-%08d", (i*1024+j)%100000)
			wb.Put(kbuf, val)
		}
		if err := s.Apply(ctx, &wb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1024), "ns/put")
}

// benchState is a store of n keys (hash-ordered, as operators write them)
// and a batch of 4096 of those keys in random order.
func benchState(b *testing.B, n int) (statestore.Store, [][]byte) {
	ctx := context.Background()
	s, _ := NewRegistry(Options{}).Open(ctx, statestore.ShardOptions{Name: "bench"}, nil, statestore.FullKeyGroupRange(256))
	b.Cleanup(func() { s.Close() })
	mk := func(i int) []byte {
		h := uint64(i) * 0x9e3779b97f4a7c15
		return binary.BigEndian.AppendUint64(statestore.AppendKeyGroup(nil, uint16(h>>56)), h)
	}
	var wb statestore.WriteBatch
	for i := range n {
		wb.Put(mk(i), make([]byte, 64))
		if wb.Len() == 4096 || i == n-1 {
			if err := s.Apply(ctx, &wb); err != nil {
				b.Fatal(err)
			}
			wb.Reset()
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = mk(rng.IntN(n))
	}
	return s, keys
}

// BenchmarkMultiGet4096 looks up 4096 random present keys per call in a
// store of 200k keys, as the aggregate and window operators do per batch.
func BenchmarkMultiGet4096(b *testing.B) {
	s, keys := benchState(b, 200_000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_ = s.MultiGet(ctx, keys, func(int, []byte) { n++ })
		if n != len(keys) {
			b.Fatalf("found %d of %d", n, len(keys))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
}

// BenchmarkApply4096 applies batches of 4096 puts of random existing keys
// to a store of 200k keys, as the aggregate and window operators do.
func BenchmarkApply4096(b *testing.B) {
	s, keys := benchState(b, 200_000)
	ctx := context.Background()
	val := make([]byte, 64)
	var wb statestore.WriteBatch
	b.ReportAllocs()
	for b.Loop() {
		wb.Reset()
		for _, k := range keys {
			wb.Put(k, val)
		}
		if err := s.Apply(ctx, &wb); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/put")
}

// TestScanPurgesExpired checks that entries a scan passes over as expired are
// freed when the scan closes, unless they were rewritten in the meantime.
func TestScanPurgesExpired(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Unix(100, 0))
	reg := NewRegistry(Options{Clock: clk})
	s, err := reg.Open(ctx, statestore.ShardOptions{Name: "purge"}, nil, statestore.FullKeyGroupRange(4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b statestore.WriteBatch
	soon := clk.Now().Add(time.Second)
	b.PutWithExpiry(key(0, "a"), []byte("1"), soon)
	b.PutWithExpiry(key(1, "b"), []byte("2"), soon)
	b.Put(key(2, "c"), []byte("3"))
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	it, err := s.Scan(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	// "b" is rewritten while the scan is open: the purge must keep it.
	b.Reset()
	b.Put(key(1, "b"), []byte("new"))
	if err := s.Apply(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("the scan saw %d live entries, want 1", n)
	}
	if got := s.Metrics().LiveKeys; got != 2 {
		t.Fatalf("after the scan %d keys are held, want 2 (the expired \"a\" purged, the rewritten \"b\" kept)", got)
	}
	if v, ok, err := s.Get(ctx, key(1, "b")); err != nil || !ok || string(v) != "new" {
		t.Fatalf("Get(b) = %q, %v, %v", v, ok, err)
	}
}
