package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// mval is a model entry: a value and its expiry (0: none) in clock nanos.
type mval struct {
	v   string
	exp int64
}

type mkey struct {
	key int64
	ns  string
}

type mlistElem = mval

// model is the trivially correct model of the four states.
type model struct {
	values map[mkey]mval
	lists  map[mkey][]mlistElem
	maps   map[mkey]map[string]mval
	aggs   map[mkey]mval
}

func newModel() *model {
	return &model{values: map[mkey]mval{}, lists: map[mkey][]mlistElem{}, maps: map[mkey]map[string]mval{}, aggs: map[mkey]mval{}}
}

func live(v mval, now int64) bool { return v.exp == 0 || now < v.exp }

// rig is the system under test: a backend and its four states over one
// memstore, reopened on restore.
type rig struct {
	t    *testing.T
	k    int
	clk  *clock.Fake
	reg  *memstore.Registry
	enc  *KeyEncoder
	mem  memory.Allocator
	st   statestore.Store
	be   *Backend
	vs   *ValueState
	ls   *ListState
	ms   *MapState
	as   *AggregatingState
	ttls [4]TTL
}

func sumAdd(dst, acc []byte, has bool, in []byte) []byte {
	var s int64
	if has {
		s = int64(binary.LittleEndian.Uint64(acc))
	}
	s += int64(binary.LittleEndian.Uint64(in))
	return binary.LittleEndian.AppendUint64(dst, uint64(s))
}

func (r *rig) open(ctx context.Context, from []statestore.Handle, owned statestore.KeyGroupRange) {
	r.t.Helper()
	if r.st != nil {
		r.st.Close()
	}
	var err error
	r.st, err = r.reg.Open(ctx, statestore.ShardOptions{Name: "op"}, from, owned)
	if err != nil {
		r.t.Fatal(err)
	}
	r.be, err = Open(ctx, Options{Store: r.st, KeyGroups: owned, Clock: r.clk, Name: "model"})
	if err != nil {
		r.t.Fatal(err)
	}
	if r.vs, err = r.be.Value(Descriptor{ID: 1, Name: "value", TTL: r.ttls[0]}); err != nil {
		r.t.Fatal(err)
	}
	if r.ls, err = r.be.List(Descriptor{ID: 2, Name: "list", TTL: r.ttls[1]}); err != nil {
		r.t.Fatal(err)
	}
	if r.ms, err = r.be.Map(Descriptor{ID: 3, Name: "map", TTL: r.ttls[2]}); err != nil {
		r.t.Fatal(err)
	}
	if r.as, err = r.be.Aggregating(Descriptor{ID: 4, Name: "agg", TTL: r.ttls[3]}, sumAdd); err != nil {
		r.t.Fatal(err)
	}
}

// keys encodes int64 keys into a KeyBatch.
func (r *rig) keys(vs []int64) *KeyBatch {
	b := array.NewInt64Builder(r.mem)
	defer b.Release()
	b.AppendValues(vs, nil)
	a := b.NewArray()
	defer a.Release()
	var kb KeyBatch
	if err := r.enc.Encode([]arrow.Array{a}, &kb); err != nil {
		r.t.Fatal(err)
	}
	return &kb
}

func (r *rig) key(v int64) Key { return r.keys([]int64{v}).At(0) }

func i64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// TestRandomizedModel runs random operations on value, list, map and
// aggregating state with TTL on a fake clock, with flushes, sweeps and
// checkpoint/restore cycles, and compares every read with a Go-map model.
func TestRandomizedModel(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runModel(t, seed, 1500) })
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, 99))
	const k = 16
	clk := clock.NewFake(epoch)
	enc, err := NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, k: k, clk: clk, reg: memstore.NewRegistry(memstore.Options{Clock: clk}), enc: enc, mem: mem}
	const ttl = 100 * time.Millisecond
	for i := range r.ttls {
		switch rnd.IntN(3) {
		case 1:
			r.ttls[i] = TTL{Duration: ttl, Update: OnCreateAndWrite}
		case 2:
			r.ttls[i] = TTL{Duration: ttl, Update: OnReadAndWrite}
		}
	}
	t.Logf("TTLs: %+v", r.ttls)
	full := statestore.FullKeyGroupRange(k)
	r.open(ctx, nil, full)
	defer func() { r.st.Close() }()
	m := newModel()
	nss := []string{"", "w1", "w2"}
	randKey := func() int64 { return rnd.Int64N(12) - 3 }
	randNS := func() string { return nss[rnd.IntN(len(nss))] }
	now := func() int64 { return clk.Now().UnixNano() }
	expOf := func(i int) int64 {
		if !r.ttls[i].Enabled() {
			return 0
		}
		return now() + int64(r.ttls[i].Duration)
	}
	refresh := func(i int, v *mval) {
		if r.ttls[i].Enabled() && r.ttls[i].Update == OnReadAndWrite {
			v.exp = expOf(i)
		}
	}
	randBatch := func() ([]int64, []string) {
		n := 1 + rnd.IntN(10)
		ks := make([]int64, n)
		ns := make([]string, n)
		for i := range ks {
			ks[i], ns[i] = randKey(), randNS()
		}
		return ks, ns
	}
	nsBytes := func(ns []string) [][]byte {
		out := make([][]byte, len(ns))
		for i, s := range ns {
			out[i] = []byte(s)
		}
		return out
	}
	var seq int
	val := func() string { seq++; return fmt.Sprintf("v%d", seq) }

	for step := 0; step < steps; step++ {
		op := rnd.IntN(22)
		switch op {
		case 0, 1: // value put
			key, ns, v := randKey(), randNS(), val()
			r.vs.Put(r.key(key), []byte(ns), []byte(v))
			m.values[mkey{key, ns}] = mval{v, expOf(0)}
		case 2: // value delete
			key, ns := randKey(), randNS()
			r.vs.Delete(r.key(key), []byte(ns))
			delete(m.values, mkey{key, ns})
		case 3, 4: // value MultiGet
			ks, ns := randBatch()
			got := map[int]string{}
			if err := r.vs.MultiGet(ctx, r.keys(ks), RowNamespaces(nsBytes(ns)), func(i int, v []byte) {
				if _, dup := got[i]; dup {
					t.Fatalf("step %d: row %d reported twice", step, i)
				}
				got[i] = string(v)
			}); err != nil {
				t.Fatal(err)
			}
			want := map[int]string{}
			for i := range ks {
				if e, ok := m.values[mkey{ks[i], ns[i]}]; ok && live(e, now()) {
					want[i] = e.v
				}
			}
			for i := range ks { // refresh after computing want: duplicates read the same state
				if e, ok := m.values[mkey{ks[i], ns[i]}]; ok && live(e, now()) {
					refresh(0, &e)
					m.values[mkey{ks[i], ns[i]}] = e
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: value MultiGet %v %v: got %v want %v", step, ks, ns, got, want)
			}
		case 5: // value Get
			key, ns := randKey(), randNS()
			v, ok, err := r.vs.Get(ctx, r.key(key), []byte(ns))
			if err != nil {
				t.Fatal(err)
			}
			e, mok := m.values[mkey{key, ns}]
			mok = mok && live(e, now())
			if ok != mok || (ok && string(v) != e.v) {
				t.Fatalf("step %d: value Get(%d,%q) = %q,%v; model %q,%v", step, key, ns, v, ok, e.v, mok)
			}
			if mok {
				refresh(0, &e)
				m.values[mkey{key, ns}] = e
			}
		case 6, 7: // list AddBatch
			ks, ns := randBatch()
			vs := make([]string, len(ks))
			for i := range vs {
				vs[i] = val()
			}
			skip := rnd.IntN(len(ks) + 1) // one row skipped (or none)
			r.ls.AddBatch(r.keys(ks), RowNamespaces(nsBytes(ns)), func(i int) ([]byte, bool) {
				return []byte(vs[i]), i != skip
			})
			for i := range ks {
				if i != skip {
					mk := mkey{ks[i], ns[i]}
					m.lists[mk] = append(m.lists[mk], mval{vs[i], expOf(1)})
				}
			}
		case 8: // list Get
			key, ns := randKey(), randNS()
			var got []string
			if err := r.ls.Get(ctx, r.key(key), []byte(ns), func(v []byte) error {
				got = append(got, string(v))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var want []string
			mk := mkey{key, ns}
			for i, e := range m.lists[mk] {
				if live(e, now()) {
					want = append(want, e.v)
					refresh(1, &m.lists[mk][i])
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: list Get(%d,%q) = %v, want %v", step, key, ns, got, want)
			}
		case 9: // list Clear
			key, ns := randKey(), randNS()
			r.ls.Clear(r.key(key), []byte(ns))
			delete(m.lists, mkey{key, ns})
		case 10: // map put / delete
			key, ns, mk := randKey(), randNS(), fmt.Sprint("k", rnd.IntN(4))
			mm := m.maps[mkey{key, ns}]
			if mm == nil {
				mm = map[string]mval{}
				m.maps[mkey{key, ns}] = mm
			}
			if rnd.IntN(4) == 0 {
				r.ms.Delete(r.key(key), []byte(ns), []byte(mk))
				delete(mm, mk)
			} else {
				v := val()
				r.ms.Put(r.key(key), []byte(ns), []byte(mk), []byte(v))
				mm[mk] = mval{v, expOf(2)}
			}
		case 11: // map Iterate
			key, ns := randKey(), randNS()
			var got []string
			if err := r.ms.Iterate(ctx, r.key(key), []byte(ns), func(mk, v []byte) error {
				got = append(got, string(mk)+"="+string(v))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			var want []string
			mm := m.maps[mkey{key, ns}]
			for mk, e := range mm {
				if live(e, now()) {
					want = append(want, mk+"="+e.v)
					refresh(2, &e)
					mm[mk] = e
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: map Iterate(%d,%q) = %v, want %v", step, key, ns, got, want)
			}
		case 12: // map MultiGet
			ks, ns := randBatch()
			mks := make([][]byte, len(ks))
			for i := range mks {
				mks[i] = []byte(fmt.Sprint("k", rnd.IntN(4)))
			}
			got := map[int]string{}
			if err := r.ms.MultiGet(ctx, r.keys(ks), RowNamespaces(nsBytes(ns)), mks, func(i int, v []byte) { got[i] = string(v) }); err != nil {
				t.Fatal(err)
			}
			want := map[int]string{}
			for i := range ks {
				if e, ok := m.maps[mkey{ks[i], ns[i]}][string(mks[i])]; ok && live(e, now()) {
					want[i] = e.v
				}
			}
			for i := range ks {
				mm := m.maps[mkey{ks[i], ns[i]}]
				if e, ok := mm[string(mks[i])]; ok && live(e, now()) {
					refresh(2, &e)
					mm[string(mks[i])] = e
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: map MultiGet: got %v want %v", step, got, want)
			}
		case 13, 14: // aggregating Add
			ks, ns := randBatch()
			in := make([]int64, len(ks))
			for i := range in {
				in[i] = rnd.Int64N(100)
			}
			if err := r.as.Add(ctx, r.keys(ks), RowNamespaces(nsBytes(ns)), func(i int) ([]byte, bool) { return i64(in[i]), true }); err != nil {
				t.Fatal(err)
			}
			for i := range ks {
				mk := mkey{ks[i], ns[i]}
				e, ok := m.aggs[mk]
				var s int64
				if ok && live(e, now()) {
					fmt.Sscan(e.v, &s)
				}
				m.aggs[mk] = mval{fmt.Sprint(s + in[i]), expOf(3)}
			}
		case 15: // aggregating MultiGet
			ks, ns := randBatch()
			got := map[int]string{}
			if err := r.as.MultiGet(ctx, r.keys(ks), RowNamespaces(nsBytes(ns)), func(i int, v []byte) {
				got[i] = fmt.Sprint(int64(binary.LittleEndian.Uint64(v)))
			}); err != nil {
				t.Fatal(err)
			}
			want := map[int]string{}
			for i := range ks {
				if e, ok := m.aggs[mkey{ks[i], ns[i]}]; ok && live(e, now()) {
					want[i] = e.v
				}
			}
			for i := range ks {
				if e, ok := m.aggs[mkey{ks[i], ns[i]}]; ok && live(e, now()) {
					refresh(3, &e)
					m.aggs[mkey{ks[i], ns[i]}] = e
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: aggregating MultiGet %v %v: got %v want %v", step, ks, ns, got, want)
			}
		case 16, 17: // time passes
			clk.Advance(time.Duration(rnd.IntN(40)) * time.Millisecond)
		case 18:
			if err := r.be.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		case 19: // sweep
			if _, err := r.be.Sweep(ctx, 1+rnd.IntN(20)); err != nil {
				t.Fatal(err)
			}
		case 20: // forget a key entirely
			key := randKey()
			r.be.ClearKey(r.key(key))
			for mk := range m.values {
				if mk.key == key {
					delete(m.values, mk)
				}
			}
			for mk := range m.lists {
				if mk.key == key {
					delete(m.lists, mk)
				}
			}
			for mk := range m.maps {
				if mk.key == key {
					delete(m.maps, mk)
				}
			}
			for mk := range m.aggs {
				if mk.key == key {
					delete(m.aggs, mk)
				}
			}
		case 21: // checkpoint and restore into a fresh store
			p, err := r.be.Checkpoint(ctx, uint64(step))
			if err != nil {
				t.Fatal(err)
			}
			h, err := p.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r.open(ctx, []statestore.Handle{h}, full)
		}
	}
}

// TestRestoreClipped writes state for many keys, checkpoints, and opens the
// checkpoint clipped to each half of the key groups: each half sees exactly
// its keys, and list appends continue after the restored elements.
func TestRestoreClipped(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	const k = 16
	clk := clock.NewFake(epoch)
	enc, _ := NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	r := &rig{t: t, k: k, clk: clk, reg: memstore.NewRegistry(memstore.Options{Clock: clk}), enc: enc, mem: mem}
	r.open(ctx, nil, statestore.FullKeyGroupRange(k))
	ks := make([]int64, 200)
	for i := range ks {
		ks[i] = int64(i)
	}
	kb := r.keys(ks)
	r.vs.PutBatch(kb, Namespaces{}, func(i int) ([]byte, bool) { return i64(ks[i]), true })
	r.ls.AddBatch(kb, OneNamespace([]byte("n")), func(i int) ([]byte, bool) { return []byte("first"), true })
	p, err := r.be.Checkpoint(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.st.Close()
	for _, owned := range []statestore.KeyGroupRange{{Start: 0, End: 8}, {Start: 8, End: 16}} {
		r.st = nil
		r.open(ctx, []statestore.Handle{h}, owned)
		got := map[int]bool{}
		if err := r.vs.MultiGet(ctx, kb, Namespaces{}, func(i int, v []byte) {
			if int64(binary.LittleEndian.Uint64(v)) != ks[i] {
				t.Errorf("row %d: value %x", i, v)
			}
			got[i] = true
		}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i := range ks {
			if owned.Contains(kb.Group(i)) != got[i] {
				t.Fatalf("%v: key %d (group %d): visible=%v", owned, ks[i], kb.Group(i), got[i])
			}
			if got[i] {
				n++
			}
		}
		if n == 0 {
			t.Fatalf("%v: no key visible", owned)
		}
		// Appends after restore come after the restored elements.
		for i := range ks {
			if !owned.Contains(kb.Group(i)) {
				continue
			}
			r.ls.Add(kb.At(i), []byte("n"), []byte("second"))
			var got []string
			if err := r.ls.Get(ctx, kb.At(i), []byte("n"), func(v []byte) error { got = append(got, string(v)); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []string{"first", "second"}) {
				t.Fatalf("%v: key %d: list %v", owned, ks[i], got)
			}
		}
		r.st.Close()
	}
	r.st = nil
}

func TestRegisterErrors(t *testing.T) {
	env := newEnv(t, 16)
	be := env.be
	if _, err := be.Value(Descriptor{ID: 1, Name: "a"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d    Descriptor
		want string
	}{
		{Descriptor{ID: 1, Name: "b"}, "ID 1 is already used"},
		{Descriptor{ID: 2, Name: "a"}, "name is already used"},
		{Descriptor{ID: 0, Name: "c"}, "ID 0"},
		{Descriptor{ID: TimerStateID, Name: "c"}, "ID 240"},
		{Descriptor{ID: 3}, "Name is empty"},
		{Descriptor{ID: 3, Name: "c", TTL: TTL{Duration: -1}}, "TTL.Duration"},
	} {
		_, err := be.Value(tc.d)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("%+v: error %v, want it to mention %q", tc.d, err, tc.want)
		}
	}
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Error("Open without a store: want error")
	}
}
