package sstable

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable/base"
)

func benchTableKey(buf []byte, i uint64) []byte {
	buf = append(buf[:0], byte(i>>24), byte(i>>16))
	return binary.BigEndian.AppendUint64(buf, i)
}

func benchValue(i int) []byte {
	v := make([]byte, 100)
	for j := range v {
		v[j] = byte('a' + (i+j)%7) // compressible, like real state
	}
	return v
}

// BenchmarkWriter reports MB/s of raw key+value bytes written.
func BenchmarkWriter(b *testing.B) {
	for _, c := range []Compression{CompressionNone, CompressionSnappy, CompressionZstd} {
		b.Run(c.String(), func(b *testing.B) {
			const n = 100_000
			value := benchValue(0)
			var kb []byte
			b.SetBytes(int64(n * (10 + len(value))))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w, _ := NewWriter(io.Discard, WriterOptions{Compression: c})
				for j := 0; j < n; j++ {
					if err := w.Set(benchTableKey(kb, uint64(j)), uint64(j+1), value, 0); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Finish(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type sliceReadable []byte

func (s sliceReadable) ReadAt(_ context.Context, p []byte, off int64) error {
	copy(p, s[off:])
	return nil
}
func (s sliceReadable) Size() int64 { return int64(len(s)) }

// BenchmarkGetCached measures Reader.Get on a table whose blocks are all in
// the block cache (warm), present and absent keys.
func BenchmarkGetCached(b *testing.B) {
	const n = 200_000
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	var kb []byte
	for j := 0; j < n; j++ {
		if err := w.Set(benchTableKey(kb, uint64(2*j)), uint64(j+1), benchValue(j), 0); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Finish(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	r, err := Open(ctx, sliceReadable(buf.Bytes()), ReaderOptions{Cache: &mapCache{m: map[[2]uint64][]byte{}}, FileID: 1})
	if err != nil {
		b.Fatal(err)
	}
	for j := 0; j < n; j++ { // warm the cache
		r.Get(ctx, benchTableKey(kb, uint64(2*j)))
	}
	for _, present := range []bool{true, false} {
		name := "present"
		if !present {
			name = "absent"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				j := uint64(i*7919) % n * 2
				if !present {
					j++
				}
				e, ok, err := r.Get(ctx, benchTableKey(kb, j))
				if err != nil || ok != present || (present && e.Kind != base.KindSet) {
					b.Fatalf("Get(%d) = %v %v", j, ok, err)
				}
			}
		})
	}
}
