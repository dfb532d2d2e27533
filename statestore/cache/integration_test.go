package cache

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

var (
	_ sstable.BlockCache = (*Cache)(nil)
	_ sstable.Readable   = (*Object)(nil)
)

// TestTableThroughBothTiers reads a table through the disk tier and the
// block cache, as the LSM will.
func TestTableThroughBothTiers(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	w, err := sstable.NewWriter(&buf, sstable.WriterOptions{BlockSize: 1 << 10, Compression: sstable.CompressionZstd})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	key := func(i int) []byte { return []byte(fmt.Sprintf("\x00\x05key%06d", i)) }
	for i := 0; i < n; i++ {
		if err := w.Set(key(i), uint64(i+1), []byte(fmt.Sprintf("value-%d", i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	remote := &memRemote{data: buf.Bytes()}
	disk, err := OpenDisk(DiskOptions{Dir: t.TempDir(), Capacity: 1 << 20, ChunkSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	bc, _ := New(Options{Capacity: 1 << 20})
	r, err := sstable.Open(ctx, disk.Object("000001.sst", int64(len(remote.data)), remote), sstable.ReaderOptions{Name: "000001.sst", FileID: 1, Cache: bc})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for round := 0; round < 2; round++ {
		for q := 0; q < 2000; q++ {
			i := rng.IntN(n)
			e, ok, err := r.Get(ctx, key(i))
			if err != nil || !ok || e.Kind != base.KindSet || string(e.Value) != fmt.Sprintf("value-%d", i) {
				t.Fatalf("Get(%d) = %+v %v %v", i, e, ok, err)
			}
		}
	}
	bm, dm := bc.Metrics(), disk.Metrics()
	if bm.Hits == 0 || dm.Misses == 0 || dm.BytesReadRemote > uint64(len(remote.data))+16<<10 {
		t.Fatalf("block cache %+v, disk %+v, object %d bytes", bm, dm, len(remote.data))
	}
}
