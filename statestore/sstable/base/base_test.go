package base

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCompareOrder(t *testing.T) {
	a := MakeInternalKey([]byte("\x00\x01a"), 5, KindSet)
	cases := []struct {
		b    InternalKey
		want int
	}{
		{MakeInternalKey([]byte("\x00\x01a"), 5, KindSet), 0},
		{MakeInternalKey([]byte("\x00\x01a"), 4, KindSet), -1}, // newer first
		{MakeInternalKey([]byte("\x00\x01a"), 6, KindDelete), 1},
		{MakeInternalKey([]byte("\x00\x01a"), 5, KindDelete), -1}, // same seq: larger kind first
		{MakeInternalKey([]byte("\x00\x01b"), 100, KindSet), -1},
		{MakeInternalKey([]byte("\x00\x01"), 0, KindSet), 1},
	}
	for _, c := range cases {
		if got := Compare(a, c.b); got != c.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", a, c.b, got, c.want)
		}
	}
	enc := a.AppendEncoded(nil)
	if d, ok := DecodeInternalKey(enc); !ok || Compare(d, a) != 0 || d.SeqNum() != 5 || d.Kind() != KindSet {
		t.Fatalf("decode(encode(%s)) = %s", a, d)
	}
	if _, ok := DecodeInternalKey([]byte{1, 2}); ok {
		t.Fatal("short key decoded")
	}
}

func TestValueRoundTrip(t *testing.T) {
	for _, exp := range []Expiry{1, 127, 128, 1 << 40, -5, Expiry(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())} {
		kind, err := NormalizeKind(KindSet, exp)
		if err != nil || kind != KindSetWithExpiry {
			t.Fatalf("NormalizeKind(SET, %d) = %v, %v", exp, kind, err)
		}
		stored := AppendValue(nil, kind, exp, []byte("val"))
		if len(stored) != ValueSize(kind, exp, []byte("val")) {
			t.Fatalf("ValueSize mismatch for %d", exp)
		}
		v, e, ok := DecodeValue(kind, stored)
		if !ok || e != exp || string(v) != "val" {
			t.Fatalf("DecodeValue(%d) = %q, %d, %v", exp, v, e, ok)
		}
	}
	if _, _, ok := DecodeValue(KindSetWithExpiry, []byte{0x80}); ok {
		t.Fatal("truncated expiry decoded")
	}
	if _, err := NormalizeKind(KindDelete, 3); err == nil {
		t.Fatal("delete with expiry accepted")
	}
	now := time.Unix(100, 0)
	if !ExpiryFromTime(now).Expired(now) || ExpiryFromTime(now.Add(time.Nanosecond)).Expired(now) || NoExpiry.Expired(now) {
		t.Fatal("Expired boundary wrong")
	}
}

func TestFragmentsMatchLinearScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	key := func() []byte { return []byte(fmt.Sprintf("%02d", rng.IntN(30))) }
	for iter := 0; iter < 200; iter++ {
		var dels []RangeDel
		for i := rng.IntN(8); i > 0; i-- {
			a, b := key(), key()
			if bytes.Compare(a, b) > 0 {
				a, b = b, a
			}
			dels = append(dels, RangeDel{Start: a, End: b, SeqNum: uint64(rng.IntN(20))})
		}
		f := Fragmentize(dels)
		for q := 0; q < 100; q++ {
			k, seq, readSeq := key(), uint64(rng.IntN(20)), uint64(rng.IntN(22))
			want := false
			for _, d := range dels {
				want = want || d.Covers(k, seq, readSeq)
			}
			if got := f.Covers(k, seq, readSeq); got != want {
				t.Fatalf("dels %v: Covers(%s, %d, %d) = %v, want %v", dels, k, seq, readSeq, got, want)
			}
		}
	}
}
