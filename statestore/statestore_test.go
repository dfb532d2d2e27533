package statestore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKeyGroupRange(t *testing.T) {
	tests := []struct {
		r, o       KeyGroupRange
		empty      bool
		len        int
		inter      KeyGroupRange
		contains   []uint16
		notContain []uint16
	}{
		{r: KeyGroupRange{}, o: KeyGroupRange{0, 10}, empty: true, len: 0, inter: KeyGroupRange{}, notContain: []uint16{0, 1}},
		{r: KeyGroupRange{0, 10}, o: KeyGroupRange{5, 20}, len: 10, inter: KeyGroupRange{5, 10}, contains: []uint16{0, 9}, notContain: []uint16{10, 65535}},
		{r: KeyGroupRange{5, 6}, o: KeyGroupRange{6, 20}, len: 1, inter: KeyGroupRange{}, contains: []uint16{5}, notContain: []uint16{4, 6}},
		{r: KeyGroupRange{7, 3}, o: KeyGroupRange{0, 100}, empty: true, len: 0, inter: KeyGroupRange{}, notContain: []uint16{3, 5, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.r.String(), func(t *testing.T) {
			if got := tc.r.Empty(); got != tc.empty {
				t.Errorf("Empty() = %v, want %v", got, tc.empty)
			}
			if got := tc.r.Len(); got != tc.len {
				t.Errorf("Len() = %d, want %d", got, tc.len)
			}
			if got := tc.r.Intersect(tc.o); got != tc.inter {
				t.Errorf("Intersect(%v) = %v, want %v", tc.o, got, tc.inter)
			}
			if got := tc.o.Intersect(tc.r); got != tc.inter {
				t.Errorf("Intersect is not symmetric: %v", got)
			}
			for _, g := range tc.contains {
				if !tc.r.Contains(g) || !tc.r.ContainsKey(AppendKeyGroup(nil, g)) {
					t.Errorf("Contains(%d) = false, want true", g)
				}
			}
			for _, g := range tc.notContain {
				if tc.r.Contains(g) || tc.r.ContainsKey(append(AppendKeyGroup(nil, g), 'x')) {
					t.Errorf("Contains(%d) = true, want false", g)
				}
			}
		})
	}
	if (KeyGroupRange{0, 10}).ContainsKey([]byte{0}) {
		t.Error("ContainsKey accepted a 1-byte key")
	}
}

func TestKeyGroupRangeKeyBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		a, b := uint16(rng.IntN(MaxKeyGroups+1)), uint16(rng.IntN(MaxKeyGroups+1))
		r := KeyGroupRange{min(a, b), max(a, b)}
		lo, hi := r.KeyBounds()
		g := uint16(rng.IntN(1 << 16))
		key := append(AppendKeyGroup(nil, g), byte(rng.IntN(256)), byte(rng.IntN(256)))
		inBounds := bytes.Compare(key, lo) >= 0 && bytes.Compare(key, hi) < 0
		if inBounds != r.ContainsKey(key) {
			t.Fatalf("range %v bounds [%x,%x): key %x in bounds=%v, ContainsKey=%v", r, lo, hi, key, inBounds, r.ContainsKey(key))
		}
	}
}

func TestKeyGroupRangeValidate(t *testing.T) {
	for _, tc := range []struct {
		r  KeyGroupRange
		ok bool
	}{
		{KeyGroupRange{0, 0}, true},
		{KeyGroupRange{0, MaxKeyGroups}, true},
		{KeyGroupRange{3, 2}, false},
		{KeyGroupRange{0, MaxKeyGroups + 1}, false},
	} {
		if err := tc.r.Validate(); (err == nil) != tc.ok {
			t.Errorf("%v.Validate() = %v, want ok=%v", tc.r, err, tc.ok)
		}
	}
}

func TestSplitKeyGroups(t *testing.T) {
	for _, tc := range []struct{ k, p int }{{256, 1}, {256, 3}, {256, 256}, {7, 4}, {MaxKeyGroups, 100}} {
		rs, err := SplitKeyGroups(tc.k, tc.p)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != tc.p {
			t.Fatalf("k=%d p=%d: %d ranges", tc.k, tc.p, len(rs))
		}
		next := uint16(0)
		for i, r := range rs {
			if r.Start != next || r.Empty() {
				t.Fatalf("k=%d p=%d: range %d is %v, want start %d and non-empty", tc.k, tc.p, i, r, next)
			}
			if d := r.Len() - tc.k/tc.p; d < 0 || d > 1 {
				t.Fatalf("k=%d p=%d: range %d has %d groups", tc.k, tc.p, i, r.Len())
			}
			next = r.End
		}
		if int(next) != tc.k {
			t.Fatalf("k=%d p=%d: ranges end at %d", tc.k, tc.p, next)
		}
	}
	for _, tc := range []struct{ k, p int }{{0, 1}, {MaxKeyGroups + 1, 1}, {10, 0}, {10, 11}} {
		if _, err := SplitKeyGroups(tc.k, tc.p); err == nil {
			t.Errorf("SplitKeyGroups(%d, %d) succeeded", tc.k, tc.p)
		}
	}
}

func randBytes(rng *rand.Rand, max int) []byte {
	b := make([]byte, rng.IntN(max+1))
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

func TestWriteBatchRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var b WriteBatch
	for round := range 20 {
		b.Reset()
		var want []Op
		for range rng.IntN(200) {
			op := Op{Key: randBytes(rng, 40)}
			switch rng.IntN(4) {
			case 0:
				op.Kind, op.Value = OpPut, randBytes(rng, 300)
				b.Put(op.Key, op.Value)
			case 1:
				op.Kind, op.Value = OpPut, randBytes(rng, 300)
				op.Expiry = rng.Int64N(1<<62) + 1
				b.PutWithExpiryNanos(op.Key, op.Value, op.Expiry)
			case 2:
				op.Kind = OpDelete
				b.Delete(op.Key)
			case 3:
				op.Kind, op.End = OpDeleteRange, randBytes(rng, 40)
				b.DeleteRange(op.Key, op.End)
			}
			want = append(want, Op{Kind: op.Kind, Key: append([]byte{}, op.Key...), Value: op.Value, End: op.End, Expiry: op.Expiry})
			clear(op.Key) // the batch must have copied the bytes
		}
		if b.Len() != len(want) {
			t.Fatalf("round %d: Len() = %d, want %d", round, b.Len(), len(want))
		}
		i := 0
		for op := range b.All() {
			w := want[i]
			if op.Kind != w.Kind || !bytes.Equal(op.Key, w.Key) || !bytes.Equal(op.Value, w.Value) || !bytes.Equal(op.End, w.End) || op.Expiry != w.Expiry {
				t.Fatalf("round %d op %d: got %+v, want %+v", round, i, op, w)
			}
			i++
		}
		if i != len(want) {
			t.Fatalf("round %d: decoded %d ops, want %d", round, i, len(want))
		}
	}
}

func TestWriteBatchPutWithExpiryTime(t *testing.T) {
	var b WriteBatch
	at := time.Unix(1700000000, 123)
	b.PutWithExpiry([]byte("k1"), []byte("v"), at)
	b.PutWithExpiry([]byte("k2"), []byte("v"), time.Time{})
	r := b.Reader()
	op, _ := r.Next()
	if op.Expiry != at.UnixNano() {
		t.Errorf("expiry = %d, want %d", op.Expiry, at.UnixNano())
	}
	op, _ = r.Next()
	if op.Expiry != NoExpiry {
		t.Errorf("zero time gave expiry %d, want NoExpiry", op.Expiry)
	}
}

func TestWriteBatchValidate(t *testing.T) {
	owned := KeyGroupRange{10, 20}
	k := func(g uint16, s string) []byte { return append(AppendKeyGroup(nil, g), s...) }
	for _, tc := range []struct {
		name string
		fill func(b *WriteBatch)
		want error
	}{
		{"ok", func(b *WriteBatch) { b.Put(k(10, "a"), nil); b.Delete(k(19, "")); b.DeleteRange(k(0, ""), k(30, "")) }, nil},
		{"short key", func(b *WriteBatch) { b.Put([]byte{1}, nil) }, ErrInvalidKey},
		{"put not owned", func(b *WriteBatch) { b.Put(k(20, "a"), nil) }, ErrNotOwned},
		{"delete not owned", func(b *WriteBatch) { b.Delete(k(9, "a")) }, ErrNotOwned},
		{"inverted range", func(b *WriteBatch) { b.DeleteRange(k(15, "b"), k(15, "a")) }, ErrInvalidKey},
	} {
		var b WriteBatch
		tc.fill(&b)
		if err := b.Validate(owned); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Validate() = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestWriteBatchReuseDoesNotAllocate(t *testing.T) {
	var b WriteBatch
	key, val := make([]byte, 16), make([]byte, 100)
	fill := func() {
		b.Reset()
		for range 100 {
			b.Put(key, val)
			b.PutWithExpiryNanos(key, val, 5)
			b.Delete(key)
		}
	}
	fill()
	if n := testing.AllocsPerRun(50, fill); n != 0 {
		t.Errorf("refilling a reset batch allocated %v times per run, want 0", n)
	}
}

func TestValueEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		v := randBytes(rng, 50)
		exp := NoExpiry
		if rng.IntN(2) == 0 {
			exp = rng.Int64() | 1
		}
		enc := EncodeValue(nil, v, exp)
		if len(enc) != EncodedValueLen(len(v), exp) {
			t.Fatalf("EncodedValueLen = %d, encoded %d bytes", EncodedValueLen(len(v), exp), len(enc))
		}
		got, gotExp, err := DecodeValue(enc)
		if err != nil || !bytes.Equal(got, v) || gotExp != exp {
			t.Fatalf("DecodeValue(EncodeValue(%x, %d)) = %x, %d, %v", v, exp, got, gotExp, err)
		}
	}
	for _, bad := range [][]byte{nil, {0x02, 'a'}, {0x80}, {0x01, 1, 2, 3}} {
		if _, _, err := DecodeValue(bad); !IsCorruption(err) {
			t.Errorf("DecodeValue(%x) = %v, want a corruption error", bad, err)
		}
	}
}

func TestExpired(t *testing.T) {
	for _, tc := range []struct {
		exp, now int64
		want     bool
	}{{NoExpiry, 1 << 62, false}, {100, 99, false}, {100, 100, true}, {100, 101, true}} {
		if got := Expired(tc.exp, tc.now); got != tc.want {
			t.Errorf("Expired(%d, %d) = %v, want %v", tc.exp, tc.now, got, tc.want)
		}
	}
	if ExpiryOf(time.Unix(0, 0)) == NoExpiry {
		t.Error("ExpiryOf(Unix epoch) collided with NoExpiry")
	}
}

func TestCorruption(t *testing.T) {
	base := errors.New("boom")
	err := fmt.Errorf("reading sst 7: %w", MarkCorruption(base))
	if !IsCorruption(err) || !errors.Is(err, base) {
		t.Errorf("wrapped corruption lost its kind or cause: %v", err)
	}
	if IsCorruption(base) || IsCorruption(ErrClosed) || MarkCorruption(nil) != nil {
		t.Error("non-corruption error classified as corruption")
	}
	if err := CorruptionErrorf("block %d checksum mismatch", 3); !IsCorruption(err) || err.Error() != "statestore: corruption: block 3 checksum mismatch" {
		t.Errorf("CorruptionErrorf = %q", err)
	}
}

func TestHandleEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		h := Handle{
			Backend:    fmt.Sprintf("b%x", randBytes(rng, 10)),
			URL:        fmt.Sprintf("mem://%x", randBytes(rng, 60)),
			Shard:      fmt.Sprintf("op/%x", randBytes(rng, 20)),
			Checkpoint: rng.Uint64(),
			KeyGroups:  KeyGroupRange{uint16(rng.IntN(100)), uint16(100 + rng.IntN(100))},
			Data:       randBytes(rng, 100),
		}
		if len(h.Data) == 0 {
			h.Data = nil
		}
		b, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Handle
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("binary round trip: got %+v, want %+v", got, h)
		}
		j, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		got = Handle{}
		if err := json.Unmarshal(j, &got); err != nil || !reflect.DeepEqual(got, h) {
			t.Fatalf("json round trip: got %+v, %v; want %+v", got, err, h)
		}
		// Every truncation must be rejected, never panic.
		for n := range len(b) {
			var x Handle
			if err := x.UnmarshalBinary(b[:n]); !errors.Is(err, ErrInvalidHandle) {
				t.Fatalf("truncated to %d of %d bytes: err = %v", n, len(b), err)
			}
		}
	}
}

func TestPromise(t *testing.T) {
	p := NewPromise()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on canceled ctx = %v", err)
	}
	want := Handle{Backend: "x", Checkpoint: 4}
	got := make(chan Handle)
	go func() {
		h, _ := p.Wait(context.Background())
		got <- h
	}()
	if !p.Resolve(want, nil) || p.Resolve(Handle{}, errors.New("late")) {
		t.Fatal("only the first Resolve should take effect")
	}
	if h := <-got; !reflect.DeepEqual(h, want) {
		t.Fatalf("Wait = %+v, want %+v", h, want)
	}
	if h, err := p.Wait(ctx); err != nil || h.Checkpoint != 4 {
		t.Fatalf("Wait after resolve with canceled ctx = %+v, %v", h, err)
	}
}
