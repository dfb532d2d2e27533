package state

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// testEnv is a memstore registry and a backend over a fresh store.
type testEnv struct {
	clk *clock.Fake
	reg *memstore.Registry
	st  statestore.Store
	be  *Backend
}

func newEnv(t testing.TB, k int) *testEnv {
	t.Helper()
	clk := clock.NewFake(epoch)
	reg := memstore.NewRegistry(memstore.Options{Clock: clk})
	ctx := context.Background()
	st, err := reg.Open(ctx, statestore.ShardOptions{Name: "op/0"}, nil, statestore.FullKeyGroupRange(k))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	be, err := Open(ctx, Options{Store: st, KeyGroups: statestore.FullKeyGroupRange(k), Clock: clk, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{clk: clk, reg: reg, st: st, be: be}
}

func int64Keys(t testing.TB, mem memory.Allocator, k int, vs []int64) (*KeyEncoder, *KeyBatch) {
	t.Helper()
	enc, err := NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewInt64Builder(mem)
	defer b.Release()
	b.AppendValues(vs, nil)
	a := b.NewArray()
	defer a.Release()
	var kb KeyBatch
	if err := enc.Encode([]arrow.Array{a}, &kb); err != nil {
		t.Fatal(err)
	}
	return enc, &kb
}

func TestValueSmoke(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	env := newEnv(t, 128)
	ctx := context.Background()
	vs, err := env.be.Value(Descriptor{ID: 1, Name: "v"})
	if err != nil {
		t.Fatal(err)
	}
	_, kb := int64Keys(t, mem, 128, []int64{1, 2, 3, 2})
	vs.Put(kb.At(0), nil, []byte("one"))
	vs.Put(kb.At(1), nil, []byte("two"))
	got := map[int]string{}
	if err := vs.MultiGet(ctx, kb, Namespaces{}, func(i int, v []byte) { got[i] = string(v) }); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{0: "one", 1: "two", 3: "two"}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i, w := range want {
		if got[i] != w {
			t.Fatalf("row %d: got %q want %q", i, got[i], w)
		}
	}
}
