package memtable

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

func benchKey(buf []byte, i uint64) []byte {
	buf = append(buf[:0], 0, byte(i))
	return binary.BigEndian.AppendUint64(buf, i*0x9e3779b97f4a7c15)
}

// BenchmarkAdd inserts 16-byte keys with 64-byte values in random order.
func BenchmarkAdd(b *testing.B) {
	value := make([]byte, 64)
	var kb []byte
	mt, _ := New(Options{Capacity: 1 << 30})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%4_000_000 == 0 {
			b.StopTimer()
			mt, _ = New(Options{Capacity: 1 << 30})
			b.StartTimer()
		}
		if err := mt.Set(benchKey(kb, uint64(i)), uint64(i+1), value, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet looks up present keys in a memtable of 1M entries.
func BenchmarkGet(b *testing.B) {
	const n = 1 << 20
	mt, _ := New(Options{Capacity: 1 << 30})
	value := make([]byte, 64)
	var kb []byte
	for i := 0; i < n; i++ {
		if err := mt.Set(benchKey(kb, uint64(i)), uint64(i+1), value, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := uint64(i*7919) % n
		if _, ok := mt.Get(benchKey(kb, j), base.SeqNumMax); !ok {
			b.Fatal("missing key")
		}
	}
}

// BenchmarkWriterBatch adds 4096-entry batches through one Writer session
// per batch into a memtable that grows to 1M entries; sorted batches reuse
// the splice of one insert for the next.
func BenchmarkWriterBatch(b *testing.B) {
	for _, sorted := range []bool{false, true} {
		b.Run(fmt.Sprintf("sorted=%t", sorted), func(b *testing.B) {
			const batch = 4096
			value := make([]byte, 64)
			keys := make([][]byte, batch)
			mt, _ := New(Options{Capacity: 1 << 30})
			seq := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if seq >= 1<<20 {
					mt, _ = New(Options{Capacity: 1 << 30})
				}
				for j := range keys {
					keys[j] = benchKey(keys[j], seq+uint64(j))
				}
				if sorted {
					slices.SortFunc(keys, bytes.Compare)
				}
				b.StartTimer()
				w, err := mt.BeginWrite()
				if err != nil {
					b.Fatal(err)
				}
				for _, k := range keys {
					seq++
					if err := w.Set(k, seq, value, 0); err != nil {
						b.Fatal(err)
					}
				}
				w.Done()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
		})
	}
}

// fullMemtable returns a 64 MiB memtable filled with entries the size of
// stream state (a 26-byte key, an 8-byte value) until the next does not
// fit, and the number of keys.
func fullMemtable(b *testing.B) (*Memtable, uint64) {
	mt, err := New(Options{Capacity: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 8)
	key := make([]byte, 26)
	n := uint64(0)
	for ; ; n++ {
		key = benchKey(key[:0], n)
		key = append(key, "window-slice-key"...)
		if err := mt.Set(key, n+1, value, 0); err != nil {
			break
		}
	}
	return mt, n
}

// BenchmarkGetAbsent looks up keys a full 64 MiB memtable of small
// entries does not hold (the common case of a read that ends in the
// tables), and for comparison keys it holds.
func BenchmarkGetAbsent(b *testing.B) {
	mt, n := fullMemtable(b)
	key := make([]byte, 26)
	for _, present := range []bool{false, true} {
		b.Run(fmt.Sprintf("present=%t", present), func(b *testing.B) {
			i := uint64(0)
			for b.Loop() {
				i++
				j := (i * 7919) % n
				if !present {
					j += n
				}
				key = append(benchKey(key[:0], j), "window-slice-key"...)
				if _, ok := mt.GetPointHash(key, base.KeyHash(key), base.SeqNumMax); ok != present {
					b.Fatalf("key %d: found %t", j, ok)
				}
			}
		})
	}
}

// BenchmarkWriterUpdate writes sorted 1024-entry batches into a memtable
// that grows to 64 MiB, the way the LSM applies stream state: half the
// writes are new keys, half new versions (updates, deletions) of keys
// written before.
func BenchmarkWriterUpdate(b *testing.B) {
	const batch = 1024
	value := make([]byte, 8)
	keys := make([][]byte, batch)
	var mt *Memtable
	var seq, next uint64
	rng := uint64(1)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if mt == nil || mt.Size() > 60<<20 {
			mt, _ = New(Options{Capacity: 64 << 20})
			next = 0
		}
		for j := range keys {
			rng = rng*6364136223846793005 + 1442695040888963407
			id := next
			if j%2 == 1 && next > 0 {
				id = (rng >> 33) % next // written before
			} else {
				next++
			}
			keys[j] = append(benchKey(keys[j][:0], id), "window-slice-key"...)
		}
		slices.SortFunc(keys, bytes.Compare)
		b.StartTimer()
		w, err := mt.BeginWrite()
		if err != nil {
			b.Fatal(err)
		}
		for j, k := range keys {
			if j > 0 && bytes.Equal(k, keys[j-1]) {
				continue
			}
			seq++
			if err := w.Set(k, seq, value, 0); err != nil {
				b.Fatal(err)
			}
		}
		w.Done()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
}
