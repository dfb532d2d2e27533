package objstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/objstore/objstoretest"
)

// BenchmarkRangeRead measures one 4 KiB range read (an SST block fetch) per
// backend, the LSM's remote read path.
func BenchmarkRangeRead(b *testing.B) {
	ctx := context.Background()
	srv := objstoretest.StartS3(b)
	srv.CreateBucket(b, "bench")
	for _, tc := range []struct{ name, url string }{
		{"mem", "mem://"},
		{"file", "file://" + b.TempDir()},
		{"s3", srv.URL("bench")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := objstore.Open(ctx, tc.url)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			objstoretest.Put(b, ctx, s, "sst/1", make([]byte, 4<<20), 1<<20)
			r, size, err := s.ReadObject(ctx, "sst/1")
			if err != nil {
				b.Fatal(err)
			}
			p := make([]byte, 4096)
			b.SetBytes(int64(len(p)))
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				off := int64(i*4096) % (size - 4096)
				if err := r.ReadAt(ctx, p, off); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateIfAbsent measures publishing a 1 KiB object (a manifest).
func BenchmarkCreateIfAbsent(b *testing.B) {
	ctx := context.Background()
	srv := objstoretest.StartS3(b)
	srv.CreateBucket(b, "bench")
	for _, tc := range []struct{ name, url string }{
		{"mem", "mem://"},
		{"file", "file://" + b.TempDir()},
		{"s3", srv.URL("bench")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := objstore.Open(ctx, tc.url)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, 1024)
			for i := 0; b.Loop(); i++ {
				if err := s.CreateIfAbsent(ctx, fmt.Sprintf("manifest/%08d", i), data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
