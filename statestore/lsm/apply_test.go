package lsm

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sluicedata/sluice/statestore"
)

// sortPointOps agrees with a sort by bytes.Compare, newest first among
// equal keys, on keys built to tie in their 16-byte words: short keys,
// trailing zero bytes, long shared prefixes.
func TestSortPointOps(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	alphabet := []byte{0, 1, 0x80, 0xff}
	var order []int32
	for trial := 0; trial < 2000; trial++ {
		n := rng.IntN(40)
		shared := rng.IntN(20)
		ops := make([]statestore.Op, n)
		for i := range ops {
			k := make([]byte, shared+rng.IntN(6))
			for j := range k {
				if j >= shared || rng.IntN(8) == 0 {
					k[j] = alphabet[rng.IntN(len(alphabet))]
				}
			}
			ops[i] = statestore.Op{Kind: statestore.OpPut, Key: k}
			switch rng.IntN(6) {
			case 0:
				ops[i].Kind = statestore.OpDelete
			case 1:
				ops[i].Kind, ops[i].End = statestore.OpDeleteRange, append(bytes.Clone(k), 1)
			}
		}
		var want []int32
		for i := range ops {
			if ops[i].Kind != statestore.OpDeleteRange {
				want = append(want, int32(i))
			}
		}
		slices.SortFunc(want, func(i, j int32) int {
			if c := bytes.Compare(ops[i].Key, ops[j].Key); c != 0 {
				return c
			}
			return cmp.Compare(j, i)
		})
		order = sortPointOps(ops, order[:0])
		if !slices.Equal(order, want) {
			t.Fatalf("trial %d: order %v, want %v for keys %s", trial, order, want, fmtKeys(ops))
		}
	}
}

func fmtKeys(ops []statestore.Op) string {
	var b bytes.Buffer
	for i, op := range ops {
		fmt.Fprintf(&b, "%d:%x/%d ", i, op.Key, op.Kind)
	}
	return b.String()
}

// BenchmarkSortPointOps orders a batch of 1000 window-state writes: keys of
// a key group, a state id, an 8-byte auction id and a window, many sharing
// their first 8 bytes.
func BenchmarkSortPointOps(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	ops := make([]statestore.Op, 1000)
	for i := range ops {
		k := []byte{0, byte(rng.IntN(256)), 1, 1, 0x80, 0, 0, 0, 0, 0}
		k = append(k, byte(rng.IntN(64)), byte(rng.IntN(256)), 0x10)
		k = append(k, 0x80, 0, 1, 0x8c, 0xc2, 0x52, byte(rng.IntN(4)), 0xa0)
		ops[i] = statestore.Op{Kind: statestore.OpPut, Key: k}
	}
	order := make([]int32, 0, len(ops))
	for b.Loop() {
		order = sortPointOps(ops, order[:0])
	}
}
