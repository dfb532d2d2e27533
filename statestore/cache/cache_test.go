package cache

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func blockFor(fileID, off uint64, n int) []byte {
	b := make([]byte, max(n, 16))
	binary.LittleEndian.PutUint64(b, fileID)
	binary.LittleEndian.PutUint64(b[8:], off)
	return b
}

func TestBlockCacheModel(t *testing.T) {
	for _, shards := range []int{1, 4} {
		rng := rand.New(rand.NewPCG(uint64(shards), 1))
		const capacity = 64 << 10
		c, err := New(Options{Capacity: capacity, Shards: shards})
		if err != nil {
			t.Fatal(err)
		}
		latest := map[blockKey][]byte{}
		var hits, misses uint64
		for i := 0; i < 20000; i++ {
			k := blockKey{uint64(rng.IntN(3)), uint64(rng.IntN(200))}
			if rng.IntN(3) == 0 {
				b := blockFor(k.fileID, k.offset, rng.IntN(3000))
				b[len(b)-1] = byte(i)
				c.Set(k.fileID, k.offset, b)
				latest[k] = b
			} else {
				got, ok := c.Get(k.fileID, k.offset)
				if ok {
					hits++
					if !bytes.Equal(got, latest[k]) {
						t.Fatalf("Get%v returned a stale or foreign block", k)
					}
				} else {
					misses++
				}
			}
			m := c.Metrics()
			if m.Bytes > capacity {
				t.Fatalf("op %d: %d bytes held, capacity %d", i, m.Bytes, capacity)
			}
		}
		m := c.Metrics()
		if m.Hits != hits || m.Misses != misses {
			t.Fatalf("metrics hits/misses %d/%d, counted %d/%d", m.Hits, m.Misses, hits, misses)
		}
		if m.Evictions == 0 || m.Entries == 0 {
			t.Fatalf("expected evictions and entries: %+v", m)
		}
		c.EvictFile(1)
		for off := uint64(0); off < 200; off++ {
			if _, ok := c.Get(1, off); ok {
				t.Fatalf("block (1,%d) survived EvictFile", off)
			}
		}
	}
}

func TestBlockCacheClockKeepsHotBlock(t *testing.T) {
	c, _ := New(Options{Capacity: 10 * (1000 + entryOverhead), Shards: 1})
	c.Set(0, 0, make([]byte, 1000))
	for i := uint64(1); i < 500; i++ {
		if _, ok := c.Get(0, 0); !ok {
			t.Fatalf("hot block evicted after %d cold inserts", i)
		}
		c.Set(1, i, make([]byte, 1000))
	}
	if _, ok := c.Get(1, 1); ok {
		t.Fatal("cold block 1 should have been evicted")
	}
	c.Set(2, 0, make([]byte, 1<<20))
	if m := c.Metrics(); m.Rejected != 1 {
		t.Fatalf("oversized block: rejected = %d", m.Rejected)
	}
}

func TestBlockCacheConcurrent(t *testing.T) {
	c, _ := New(Options{Capacity: 256 << 10, Shards: 8})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for i := 0; i < 20000; i++ {
				id, off := uint64(rng.IntN(4)), uint64(rng.IntN(500))
				if rng.IntN(4) == 0 {
					c.Set(id, off, blockFor(id, off, rng.IntN(2000)))
				} else if b, ok := c.Get(id, off); ok {
					if binary.LittleEndian.Uint64(b) != id || binary.LittleEndian.Uint64(b[8:]) != off {
						t.Errorf("Get(%d,%d) returned another key's block", id, off)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if m := c.Metrics(); m.Bytes > 256<<10 {
		t.Fatalf("over capacity: %+v", m)
	}
}
