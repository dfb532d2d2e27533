package cache

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// memRemote serves an object from memory and counts what it serves.
type memRemote struct {
	data      []byte
	reads     atomic.Int64
	bytesRead atomic.Int64
	fail      atomic.Bool
}

func (r *memRemote) ReadAt(_ context.Context, p []byte, off int64) error {
	if r.fail.Load() {
		return errors.New("remote down")
	}
	if off < 0 || off+int64(len(p)) > int64(len(r.data)) {
		return errors.New("read beyond end")
	}
	r.reads.Add(1)
	r.bytesRead.Add(int64(len(p)))
	copy(p, r.data[off:])
	return nil
}

func randObject(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func checkRead(t *testing.T, o *Object, want []byte, off, n int64) {
	t.Helper()
	p := make([]byte, n)
	if err := o.ReadAt(context.Background(), p, off); err != nil {
		t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
	}
	if !bytes.Equal(p, want[off:off+n]) {
		t.Fatalf("ReadAt(%d, %d): wrong bytes", off, n)
	}
}

func TestDiskCacheModel(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 5))
	const chunk, capacity = 4 << 10, 40 << 10
	d, err := OpenDisk(DiskOptions{Dir: dir, Capacity: capacity, ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	var remotes []*memRemote
	var objs []*Object
	for i := 0; i < 3; i++ {
		r := &memRemote{data: randObject(rng, 10<<10+rng.IntN(30<<10))}
		remotes = append(remotes, r)
		objs = append(objs, d.Object("bucket/obj-"+string(rune('a'+i)), int64(len(r.data)), r))
	}
	for i := 0; i < 2000; i++ {
		j := rng.IntN(len(objs))
		size := int64(len(remotes[j].data))
		off := rng.Int64N(size)
		n := rng.Int64N(min(size-off, 9<<10) + 1)
		checkRead(t, objs[j], remotes[j].data, off, n)
		m := d.Metrics()
		if m.Bytes > capacity {
			t.Fatalf("op %d: %d bytes cached, capacity %d", i, m.Bytes, capacity)
		}
	}
	m := d.Metrics()
	var remoteBytes int64
	for _, r := range remotes {
		remoteBytes += r.bytesRead.Load()
	}
	if m.BytesReadRemote != uint64(remoteBytes) {
		t.Fatalf("BytesReadRemote %d, remotes served %d", m.BytesReadRemote, remoteBytes)
	}
	if m.Hits == 0 || m.Misses == 0 || m.BytesEvicted == 0 {
		t.Fatalf("expected hits, misses and evictions: %+v", m)
	}
	// The directory holds exactly what the index says.
	var onDisk int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		info, _ := e.Info()
		onDisk += info.Size()
	}
	if onDisk != m.Bytes || int64(len(ents)) != m.Files {
		t.Fatalf("dir has %d bytes in %d files; index says %d in %d", onDisk, len(ents), m.Bytes, m.Files)
	}

	// Reopen: the index is rebuilt and cached chunks are served locally.
	d2, err := OpenDisk(DiskOptions{Dir: dir, Capacity: capacity, ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if m2 := d2.Metrics(); m2.Bytes != m.Bytes || m2.Files != m.Files {
		t.Fatalf("reopened index %d bytes/%d files, want %d/%d", m2.Bytes, m2.Files, m.Bytes, m.Files)
	}
	for j, r := range remotes {
		o := d2.Object("bucket/obj-"+string(rune('a'+j)), int64(len(r.data)), r)
		checkRead(t, o, r.data, 0, int64(len(r.data)))
	}
	if d2.Metrics().Hits == 0 {
		t.Fatal("reopened cache served nothing locally")
	}
}

func TestDiskCacheSurvivesWipeAndCorruption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	rng := rand.New(rand.NewPCG(6, 6))
	d, err := OpenDisk(DiskOptions{Dir: dir, Capacity: 1 << 20, ChunkSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	r := &memRemote{data: randObject(rng, 50<<10)}
	o := d.Object("t.sst", int64(len(r.data)), r)
	checkRead(t, o, r.data, 0, int64(len(r.data)))
	reads := r.reads.Load()
	checkRead(t, o, r.data, 0, int64(len(r.data)))
	if r.reads.Load() != reads {
		t.Fatal("second full read went remote")
	}

	// Corrupt every chunk file: reads stay correct and go remote.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		b, _ := os.ReadFile(p)
		b[len(b)-1] ^= 0xff
		os.WriteFile(p, b, 0o644)
	}
	checkRead(t, o, r.data, 0, int64(len(r.data)))
	if d.Metrics().LocalErrors == 0 || r.reads.Load() == reads {
		t.Fatalf("corrupt chunks were not detected: %+v", d.Metrics())
	}

	// Wipe the directory: reads stay correct, and the cache refills.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	checkRead(t, o, r.data, 1000, 20000)
	checkRead(t, o, r.data, 0, int64(len(r.data)))
	reads = r.reads.Load()
	checkRead(t, o, r.data, 0, int64(len(r.data)))
	if r.reads.Load() != reads {
		t.Fatal("cache did not refill after the wipe")
	}

	// Remote failures surface as errors; Populate makes reads local.
	r2 := &memRemote{data: randObject(rng, 9000)}
	r2.fail.Store(true)
	o2 := d.Object("new.sst", int64(len(r2.data)), r2)
	if err := o2.ReadAt(context.Background(), make([]byte, 10), 0); err == nil {
		t.Fatal("remote failure not reported")
	}
	d.Populate("new.sst", r2.data)
	checkRead(t, o2, r2.data, 0, int64(len(r2.data)))
	d.Evict("new.sst", int64(len(r2.data)))
	if err := o2.ReadAt(context.Background(), make([]byte, 10), 0); err == nil {
		t.Fatal("evicted object still served locally")
	}
	if err := o.ReadAt(context.Background(), make([]byte, 10), int64(len(r.data))-5); err == nil {
		t.Fatal("read beyond object size accepted")
	}
}

func TestDiskCacheConcurrentMissesShareFetch(t *testing.T) {
	d, err := OpenDisk(DiskOptions{Dir: t.TempDir(), Capacity: 1 << 20, ChunkSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	r := &memRemote{data: randObject(rng, 64<<10)}
	o := d.Object("c.sst", int64(len(r.data)), r)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 8))
			for i := 0; i < 200; i++ {
				off := rng.Int64N(int64(len(r.data)))
				n := rng.Int64N(int64(len(r.data))-off) % (20 << 10)
				p := make([]byte, n)
				if err := o.ReadAt(context.Background(), p, off); err != nil || !bytes.Equal(p, r.data[off:off+n]) {
					t.Errorf("concurrent read (%d,%d) wrong: %v", off, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// 8 chunks; each is fetched once because the capacity holds them all.
	if got := r.reads.Load(); got != 8 {
		t.Fatalf("remote reads = %d, want 8 (one per chunk)", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := OpenDisk(DiskOptions{}); err == nil {
		t.Error("empty DiskOptions accepted")
	}
	if _, err := New(Options{Capacity: 0}); err == nil {
		t.Error("zero capacity accepted")
	}
	if _, err := New(Options{Capacity: 10, Shards: -3}); err == nil {
		t.Error("negative shards accepted")
	}
}
