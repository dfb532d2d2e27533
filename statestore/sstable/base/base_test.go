package base

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
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

// randDels returns up to n random range deletions over a small key space
// (so they overlap, nest and share bounds), some empty.
func randDels(rng *rand.Rand, n int, keys int) []RangeDel {
	key := func() []byte { return []byte(fmt.Sprintf("%03d", rng.IntN(keys))) }
	var dels []RangeDel
	for i := rng.IntN(n + 1); i > 0; i-- {
		a, b := key(), key()
		if bytes.Compare(a, b) > 0 && rng.IntN(10) > 0 {
			a, b = b, a
		}
		dels = append(dels, RangeDel{Start: a, End: b, SeqNum: uint64(rng.IntN(3 * n))})
	}
	return dels
}

// checkWellFormed checks that f is sorted, non-overlapping, without empty
// spans, and that each fragment's sequence numbers are strictly
// descending.
func checkWellFormed(t *testing.T, f Fragments) {
	t.Helper()
	for i, fr := range f {
		if bytes.Compare(fr.Start, fr.End) >= 0 || len(fr.SeqNums) == 0 {
			t.Fatalf("fragment %d [%s,%s) %v: empty", i, fr.Start, fr.End, fr.SeqNums)
		}
		if i > 0 && bytes.Compare(f[i-1].End, fr.Start) > 0 {
			t.Fatalf("fragments %d and %d overlap: %v", i-1, i, f)
		}
		for j := 1; j < len(fr.SeqNums); j++ {
			if fr.SeqNums[j-1] <= fr.SeqNums[j] {
				t.Fatalf("fragment %d seqnums %v not strictly descending", i, fr.SeqNums)
			}
		}
	}
}

// naiveFragments is the quadratic definition: every span between
// consecutive distinct bounds, with the seqnums of the deletions that
// contain it.
func naiveFragments(dels []RangeDel) Fragments {
	var bounds [][]byte
	for _, d := range dels {
		if bytes.Compare(d.Start, d.End) < 0 {
			bounds = append(bounds, d.Start, d.End)
		}
	}
	slices.SortFunc(bounds, bytes.Compare)
	bounds = slices.CompactFunc(bounds, bytes.Equal)
	var out Fragments
	for i := 0; i+1 < len(bounds); i++ {
		var seqs []uint64
		for _, d := range dels {
			if bytes.Compare(d.Start, bounds[i]) <= 0 && bytes.Compare(bounds[i+1], d.End) <= 0 {
				seqs = append(seqs, d.SeqNum)
			}
		}
		if len(seqs) > 0 {
			slices.Sort(seqs)
			slices.Reverse(seqs)
			out = append(out, Fragment{Start: bounds[i], End: bounds[i+1], SeqNums: slices.Compact(seqs)})
		}
	}
	return out
}

func fragmentsEqual(a, b Fragments) bool {
	return slices.EqualFunc(a, b, func(x, y Fragment) bool {
		return bytes.Equal(x.Start, y.Start) && bytes.Equal(x.End, y.End) && slices.Equal(x.SeqNums, y.SeqNums)
	})
}

// Fragmentize and MergeFragments agree with the quadratic definition, and
// Clip and FragmentCursor with a scan of the range deletions.
func TestFragmentsModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for iter := 0; iter < 2000; iter++ {
		n := []int{0, 1, 3, 10, 60}[iter%5]
		keys := []int{5, 30, 200}[iter%3]
		x, y := randDels(rng, n, keys), randDels(rng, n, keys)
		fx := Fragmentize(x)
		checkWellFormed(t, fx)
		if want := naiveFragments(x); !fragmentsEqual(fx, want) {
			t.Fatalf("Fragmentize(%v)\n = %v\nwant %v", x, fx, want)
		}
		all := append(slices.Clone(x), y...)
		merged := MergeFragments(fx, Fragmentize(y))
		if h := len(y) / 3; iter%2 == 0 {
			// Several sets, one empty.
			merged = MergeFragments(Fragmentize(y[:h]), fx, nil, Fragmentize(y[h:2*h]), Fragmentize(y[2*h:]))
		}
		checkWellFormed(t, merged)
		if want := naiveFragments(all); !fragmentsEqual(merged, want) {
			t.Fatalf("MergeFragments(%v, %v)\n = %v\nwant %v", x, y, merged, want)
		}
		// Clip: the fragments of the deletions clipped to [lo, hi).
		var lo, hi []byte
		if rng.IntN(3) > 0 {
			lo = []byte(fmt.Sprintf("%03d", rng.IntN(keys)))
		}
		if rng.IntN(3) > 0 {
			hi = []byte(fmt.Sprintf("%03d", rng.IntN(keys)))
		}
		var clipped []RangeDel
		for _, d := range all {
			if lo != nil && bytes.Compare(d.Start, lo) < 0 {
				d.Start = lo
			}
			if hi != nil && bytes.Compare(d.End, hi) > 0 {
				d.End = hi
			}
			clipped = append(clipped, d)
		}
		before := slices.Clone(merged)
		got := merged.Clip(lo, hi)
		checkWellFormed(t, got)
		if want := naiveFragments(clipped); !fragmentsEqual(got, want) {
			t.Fatalf("Clip(%s, %s) of %v\n = %v\nwant %v", lo, hi, merged, got, want)
		}
		if !fragmentsEqual(merged, before) {
			t.Fatal("Clip modified its receiver")
		}
		// CoversSpan against every key of the span (keys are the only
		// points between bounds: "%03d" strings of the key space, plus
		// the bounds themselves, which sort between them).
		if lo != nil && hi != nil {
			seq := uint64(rng.IntN(3*n + 1))
			want := true
			for k := 0; k < keys && want; k++ {
				uk := []byte(fmt.Sprintf("%03d", k))
				for _, p := range [][]byte{uk, append(bytes.Clone(uk), 0)} {
					if bytes.Compare(p, lo) >= 0 && bytes.Compare(p, hi) < 0 &&
						!slices.ContainsFunc(all, func(d RangeDel) bool { return d.Covers(p, seq, SeqNumMax) }) {
						want = false
					}
				}
			}
			if got := merged.CoversSpan(lo, hi, seq); got != want {
				t.Fatalf("CoversSpan(%s, %s, %d) = %v, want %v; fragments %v", lo, hi, seq, got, want, merged)
			}
		}
		// A cursor over keys mostly ascending, sometimes back.
		c := merged.Cursor()
		k := 0
		for q := 0; q < 100; q++ {
			if rng.IntN(8) == 0 {
				k = rng.IntN(keys)
			} else {
				k += rng.IntN(3)
			}
			uk := []byte(fmt.Sprintf("%03d", k))
			seq, readSeq := uint64(rng.IntN(3*n+1)), uint64(rng.IntN(3*n+2))
			want := slices.ContainsFunc(all, func(d RangeDel) bool { return d.Covers(uk, seq, readSeq) })
			if got := c.Covers(uk, seq, readSeq); got != want {
				t.Fatalf("cursor Covers(%s, %d, %d) = %v, want %v; fragments %v", uk, seq, readSeq, got, want, merged)
			}
			if got := merged.Covers(uk, seq, readSeq); got != want {
				t.Fatalf("Covers(%s, %d, %d) = %v, want %v; fragments %v", uk, seq, readSeq, got, want, merged)
			}
		}
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

// BenchmarkFragmentize fragments n range deletions of which each nests in
// the previous one's key or is disjoint from it, like the per-key and
// per-window deletions of keyed state.
func BenchmarkFragmentize(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			dels := make([]RangeDel, n)
			for i := range dels {
				k := rng.IntN(n)
				start := []byte(fmt.Sprintf("\x00\x01key%08d/", k))
				end := []byte(fmt.Sprintf("\x00\x01key%08d0", k))
				if rng.IntN(2) == 0 {
					start = fmt.Appendf(start, "w%04d", rng.IntN(100))
					end = append(bytes.Clone(start), 0xff)
				}
				dels[i] = RangeDel{Start: start, End: end, SeqNum: uint64(i + 1)}
			}
			b.ReportAllocs()
			for b.Loop() {
				Fragmentize(dels)
			}
		})
	}
}
