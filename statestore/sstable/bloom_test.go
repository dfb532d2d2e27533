package sstable

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// legacyBloom encodes hashes in the legacy layout, as writers before the
// blocked layout did: nbits bits (at least 64, a whole number of bytes),
// then k = 0.69·bitsPerKey clamped to [1, 30].
func legacyBloom(hashes []uint64, bitsPerKey int) []byte {
	nbytes := (max(len(hashes)*bitsPerKey, 64) + 7) / 8
	nbits := uint64(nbytes * 8)
	k := min(max(bitsPerKey*69/100, 1), 30)
	out := make([]byte, nbytes+1)
	for _, h := range hashes {
		delta := h>>32 | h<<32
		for i := 0; i < k; i++ {
			bit := h % nbits
			out[bit/8] |= 1 << (bit % 8)
			h += delta
		}
	}
	out[nbytes] = byte(k)
	return out
}

// randKeySet returns n distinct random user keys (the empty key among the
// candidates) and a membership model of them.
func randKeySet(rng *rand.Rand, n int) ([][]byte, map[string]bool) {
	keys := make([][]byte, 0, n)
	set := make(map[string]bool, n)
	for len(keys) < n {
		k := make([]byte, rng.IntN(25))
		for i := range k {
			k[i] = byte(rng.IntN(256))
		}
		if !set[string(k)] {
			set[string(k)] = true
			keys = append(keys, k)
		}
	}
	return keys, set
}

// absentHashes returns the hashes of m random user keys outside set.
func absentHashes(rng *rand.Rand, set map[string]bool, m int) []uint64 {
	hs := make([]uint64, 0, m)
	var k [16]byte
	for len(hs) < m {
		binary.LittleEndian.PutUint64(k[:8], rng.Uint64())
		binary.LittleEndian.PutUint64(k[8:], rng.Uint64())
		if !set[string(k[:])] {
			hs = append(hs, base.KeyHash(k[:]))
		}
	}
	return hs
}

// bloomBlockedModelFPR is the false-positive rate of a blocked filter with
// ideal probes: a block holds L keys, L Poisson with mean 512/bitsPerKey,
// and an absent key finds its k bits set with probability
// (1-(1-1/512)^(kL))^k.
func bloomBlockedModelFPR(bitsPerKey, k int) float64 {
	const blockBits = 8 * bloomBlockBytes
	lambda := float64(blockBits) / float64(bitsPerKey)
	lo := max(0, int(lambda-12*math.Sqrt(lambda)-12))
	hi := int(lambda + 12*math.Sqrt(lambda) + 12)
	sum := 0.0
	for l := lo; l <= hi; l++ {
		lg, _ := math.Lgamma(float64(l + 1))
		p := math.Exp(-lambda + float64(l)*math.Log(lambda) - lg)
		set := 1 - math.Pow(1-1.0/blockBits, float64(k*l))
		sum += p * math.Pow(set, float64(k))
	}
	return sum
}

// TestBloomBlockedProbesTable checks bloomBlockedProbes against the model
// it was derived from: for every bits per key, the smallest k within 1% of
// the best false-positive rate.
func TestBloomBlockedProbesTable(t *testing.T) {
	for bpk := 1; bpk < len(bloomBlockedProbes); bpk++ {
		best := math.Inf(1)
		fpr := make([]float64, 41)
		for k := 1; k < len(fpr); k++ {
			fpr[k] = bloomBlockedModelFPR(bpk, k)
			best = min(best, fpr[k])
		}
		want := 1
		for fpr[want] > best*1.01 {
			want++
		}
		if got := bloomProbes(bpk); got != want {
			t.Errorf("bits per key %d: k = %d, model says %d (rate %.3g%% vs %.3g%%)", bpk, got, want, 100*fpr[got], 100*fpr[want])
		}
	}
	if got, want := bloomProbes(1000), bloomProbes(64); got != want {
		t.Errorf("bits per key 1000: k = %d, want the k of 64 bits per key, %d", got, want)
	}
	if got := bloomProbes(0); got != 1 {
		t.Errorf("bits per key 0: k = %d, want 1", got)
	}
}

func TestBloomNoFalseNegatives(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 11))
	for _, bpk := range []int{1, 2, 6, 10, 13, 20, 64} {
		for _, n := range []int{0, 1, 2, 51, 52, 1000, 1 + rng.IntN(5000)} {
			keys, _ := randKeySet(rng, n)
			b := bloomBuilder{bitsPerKey: bpk}
			for _, k := range keys {
				b.add(k)
				if rng.IntN(4) == 0 {
					b.add(k) // another version of the same key
				}
			}
			f := b.finish()
			name := fmt.Sprintf("seed %d, bits per key %d, %d keys", seed, bpk, n)
			if n == 0 {
				if f != nil {
					t.Fatalf("%s: filter of %d bytes, want nil", name, len(f))
				}
			} else {
				nblocks := max((n*bpk+511)/512, 1)
				if len(f) != nblocks*bloomBlockBytes+1 {
					t.Fatalf("%s: filter of %d bytes, want %d blocks and a trailer", name, len(f), nblocks)
				}
				if want := bloomBlockedFlag | byte(bloomProbes(bpk)); f[len(f)-1] != want {
					t.Fatalf("%s: trailer %#x, want %#x", name, f[len(f)-1], want)
				}
			}
			for i, k := range keys {
				if !bloomMayContain(f, base.KeyHash(k)) {
					t.Fatalf("%s: false negative for key %d %q", name, i, k)
				}
			}
			// The legacy layout, as old tables hold it.
			hs := make([]uint64, len(keys))
			for i, k := range keys {
				hs[i] = base.KeyHash(k)
			}
			lf := legacyBloom(hs, bpk)
			for i, h := range hs {
				if !bloomMayContain(lf, h) {
					t.Fatalf("%s: legacy layout: false negative for key %d %q", name, i, keys[i])
				}
			}
		}
	}
}

// TestBloomFalsePositiveRate measures both layouts against absent keys. The
// blocked rate must match the model (bloomBlockedModelFPR) within sampling
// noise: measured rates stay within 2.5% of it at 4-10 bits per key, while
// deriving the probes from the block-choosing half of h (a first probe
// shared by a block's keys) costs 8-13%, and a hash that collapses probes or
// blocks costs far more. A filter sized wrong lands far below.
func TestBloomFalsePositiveRate(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 12))
	const n, m = 200000, 2000000
	keys, set := randKeySet(rng, n)
	hs := make([]uint64, n)
	for i, k := range keys {
		hs[i] = base.KeyHash(k)
	}
	absent := absentHashes(rng, set, m)
	rate := func(f []byte) float64 {
		fp := 0
		for _, h := range absent {
			if bloomMayContain(f, h) {
				fp++
			}
		}
		return float64(fp) / m
	}
	for _, bpk := range []int{4, 6, 10, 16, 20} {
		b := bloomBuilder{bitsPerKey: bpk}
		for _, k := range keys {
			b.add(k)
		}
		got := rate(b.finish())
		model := bloomBlockedModelFPR(bpk, bloomProbes(bpk))
		// 4% for what the model leaves out, plus five standard deviations
		// of the count of false positives among m absent keys.
		slack := 0.04*model + 5*math.Sqrt(model*m)/m
		hi, lo := model+slack, model-slack
		t.Logf("blocked, bits per key %d: false-positive rate %.4f%% (model %.4f%%)", bpk, 100*got, 100*model)
		if got > hi || got < lo {
			t.Errorf("seed %d: blocked, bits per key %d: false-positive rate %.4f%% outside [%.4f%%, %.4f%%]", seed, bpk, 100*got, 100*lo, 100*hi)
		}
		if bpk == 10 && got > 0.015 {
			t.Errorf("seed %d: blocked, bits per key 10: false-positive rate %.4f%% above 1.5%%", seed, 100*got)
		}
	}
	// A plain Bloom filter with k = 0.69·b probes: about 0.6185^b.
	for _, bpk := range []int{6, 10, 16} {
		got := rate(legacyBloom(hs, bpk))
		bound := map[int]float64{6: 0.07, 10: 0.015, 16: 0.002}[bpk]
		t.Logf("legacy, bits per key %d: false-positive rate %.4f%%", bpk, 100*got)
		if got > bound {
			t.Errorf("seed %d: legacy, bits per key %d: false-positive rate %.4f%% exceeds %.4f%%", seed, bpk, 100*got, 100*bound)
		}
	}
}

// TestBloomMalformedAnswersTrue checks that filters the reader cannot
// interpret never reject a key.
func TestBloomMalformedAnswersTrue(t *testing.T) {
	block := make([]byte, bloomBlockBytes) // all zero: would reject every key
	cases := map[string][]byte{
		"nil":                        nil,
		"empty":                      {},
		"trailer only":               {bloomBlockedFlag | 6},
		"legacy k 0":                 append(block[:8:8], 0),
		"legacy k 31":                append(block[:8:8], 31),
		"legacy k 127":               append(block[:8:8], 127),
		"blocked k 0":                append(block[:64:64], bloomBlockedFlag),
		"blocked, 63 bytes of bits":  append(block[:63:63], bloomBlockedFlag|6),
		"blocked, 65 bytes of bits":  append(append(block[:64:64], 0), bloomBlockedFlag|6),
		"blocked, 1 byte of bits":    {0, bloomBlockedFlag | 6},
		"blocked, 127 bytes of bits": append(append(block[:64:64], block[:63]...), bloomBlockedFlag|6),
		"blocked k 127, 63 bytes":    append(block[:63:63], 0xff),
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	for name, f := range cases {
		for i := 0; i < 1000; i++ {
			if h := rng.Uint64(); !bloomMayContain(f, h) {
				t.Fatalf("%s: rejected hash %#x", name, h)
			}
		}
	}
	// Well-formed but empty filters reject every key: the check above is
	// not vacuous.
	for name, f := range map[string][]byte{
		"legacy":  append(block[:8:8], 6),
		"blocked": append(block[:64:64], bloomBlockedFlag|6),
	} {
		if h := rng.Uint64(); bloomMayContain(f, h) {
			t.Errorf("%s filter with no bits set accepted hash %#x", name, h)
		}
	}
}

// FuzzBloomMayContain checks that no filter bytes make the reader panic,
// and that a filter whose trailer it does not recognize answers true.
func FuzzBloomMayContain(f *testing.F) {
	b := bloomBuilder{bitsPerKey: 10}
	for i := 0; i < 100; i++ {
		b.add([]byte(fmt.Sprint(i)))
	}
	f.Add(b.finish(), uint64(0))
	f.Add(legacyBloom([]uint64{1, 2, 3}, 10), uint64(2))
	f.Add([]byte{}, uint64(1))
	f.Add([]byte{0x80 | 6}, uint64(1))
	f.Fuzz(func(t *testing.T, filter []byte, h uint64) {
		got := bloomMayContain(filter, h)
		if len(filter) < 2 {
			if !got {
				t.Fatalf("filter of %d bytes rejected %#x", len(filter), h)
			}
			return
		}
		tr := filter[len(filter)-1]
		nbytes := len(filter) - 1
		known := (tr&bloomBlockedFlag == 0 && tr >= 1 && tr <= 30) ||
			(tr&bloomBlockedFlag != 0 && tr != bloomBlockedFlag && nbytes%bloomBlockBytes == 0)
		if !known && !got {
			t.Fatalf("filter with unknown trailer %#x and %d bytes of bits rejected %#x", tr, nbytes, h)
		}
	})
}

var bloomBenchKeys = flag.Int("bloom-bench-keys", 1<<20, "keys in BenchmarkBloomMayContain's filters")

// BenchmarkBloomMayContain looks up absent keys in filters of 1M keys at 10
// bits per key (1.25 MiB of bits, more than an L2 cache; set
// -args -bloom-bench-keys=N to outgrow L3 too). "blocked+1" is the blocked
// filter starting one byte past a cache line, as a filter sliced from an
// unaligned read buffer would be: each block then spans two lines.
func BenchmarkBloomMayContain(b *testing.B) {
	n := *bloomBenchKeys
	rng := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, n)
	bb := bloomBuilder{bitsPerKey: 10}
	for i := range hs {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], uint64(i))
		hs[i] = base.KeyHash(k[:])
		bb.add(k[:])
	}
	blocked := bb.finish()
	// Large allocations are page aligned; place a copy one byte past a
	// 64-byte boundary.
	buf := make([]byte, len(blocked)+bloomBlockBytes+1)
	blockedOff := buf[1 : 1+len(blocked)]
	copy(blockedOff, blocked)
	filters := []struct {
		name string
		f    []byte
	}{
		{"legacy", legacyBloom(hs, 10)},
		{"blocked", blocked},
		{"blocked+1", blockedOff},
	}
	for _, fl := range filters {
		b.Run(fl.name, func(b *testing.B) {
			// Absent keys: hashes from a generator independent of the
			// present keys', computed inline so no array competes with
			// the filter for cache.
			s := rng.Uint64()
			fp := 0
			for b.Loop() {
				s += 0x9e3779b97f4a7c15
				h := s
				h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
				h = (h ^ h>>27) * 0x94d049bb133111eb
				h ^= h >> 31
				if bloomMayContain(fl.f, h) {
					fp++
				}
			}
			b.ReportMetric(float64(fp)/float64(b.N), "fp/op")
		})
	}
}
