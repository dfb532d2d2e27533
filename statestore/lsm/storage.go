package lsm

import (
	"context"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicedata/sluice/statestore/cache"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/sstable"
)

// ObjStoreMetrics count the requests and bytes one store sent to object
// storage, by kind.
type ObjStoreMetrics struct {
	RangeGets, RangeGetBytes int64 // ReadAt calls
	Heads                    int64 // ReadObject and Size
	Gets, GetBytes           int64 // ReadAll (manifests)
	Puts, PutBytes           int64 // objects finished (tables)
	CondPuts, CondPutBytes   int64 // CreateIfAbsent (manifests)
	Lists                    int64
	Deletes                  int64
	Errors                   int64
}

// countingStorage counts what goes through it. (objstore will provide a
// shared counter; this small adapter keeps the LSM independent of it.)
type countingStorage struct {
	objstore.Storage
	rangeGets, rangeGetBytes, heads, gets, getBytes atomic.Int64
	puts, putBytes, condPuts, condPutBytes          atomic.Int64
	lists, deletes, errors                          atomic.Int64
}

func (c *countingStorage) err(err error) error {
	if err != nil {
		c.errors.Add(1)
	}
	return err
}

func (c *countingStorage) snapshot() ObjStoreMetrics {
	return ObjStoreMetrics{
		RangeGets: c.rangeGets.Load(), RangeGetBytes: c.rangeGetBytes.Load(), Heads: c.heads.Load(),
		Gets: c.gets.Load(), GetBytes: c.getBytes.Load(), Puts: c.puts.Load(), PutBytes: c.putBytes.Load(),
		CondPuts: c.condPuts.Load(), CondPutBytes: c.condPutBytes.Load(), Lists: c.lists.Load(),
		Deletes: c.deletes.Load(), Errors: c.errors.Load(),
	}
}

func (c *countingStorage) ReadObject(ctx context.Context, name string) (objstore.Readable, int64, error) {
	c.heads.Add(1)
	r, n, err := c.Storage.ReadObject(ctx, name)
	if err != nil {
		return nil, 0, c.err(err)
	}
	return &countingReadable{r: r, c: c}, n, nil
}

func (c *countingStorage) ReadAll(ctx context.Context, name string) ([]byte, error) {
	c.gets.Add(1)
	b, err := c.Storage.ReadAll(ctx, name)
	c.getBytes.Add(int64(len(b)))
	return b, c.err(err)
}

func (c *countingStorage) CreateObject(ctx context.Context, name string) (objstore.Writable, error) {
	w, err := c.Storage.CreateObject(ctx, name)
	if err != nil {
		return nil, c.err(err)
	}
	return &countingWritable{w: w, c: c}, nil
}

func (c *countingStorage) CreateIfAbsent(ctx context.Context, name string, data []byte) error {
	c.condPuts.Add(1)
	c.condPutBytes.Add(int64(len(data)))
	return c.err(c.Storage.CreateIfAbsent(ctx, name, data))
}

func (c *countingStorage) List(ctx context.Context, prefix string) ([]string, error) {
	c.lists.Add(1)
	l, err := c.Storage.List(ctx, prefix)
	return l, c.err(err)
}

func (c *countingStorage) Delete(ctx context.Context, name string) error {
	c.deletes.Add(1)
	return c.err(c.Storage.Delete(ctx, name))
}

func (c *countingStorage) Size(ctx context.Context, name string) (int64, error) {
	c.heads.Add(1)
	n, err := c.Storage.Size(ctx, name)
	return n, c.err(err)
}

type countingReadable struct {
	r objstore.Readable
	c *countingStorage
}

func (r *countingReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	r.c.rangeGets.Add(1)
	r.c.rangeGetBytes.Add(int64(len(p)))
	return r.c.err(r.r.ReadAt(ctx, p, off))
}

func (r *countingReadable) Close() error { return r.r.Close() }

type countingWritable struct {
	w objstore.Writable
	c *countingStorage
	n int64
}

func (w *countingWritable) Write(p []byte) error {
	w.n += int64(len(p))
	return w.c.err(w.w.Write(p))
}

func (w *countingWritable) Finish() error {
	w.c.puts.Add(1)
	w.c.putBytes.Add(w.n)
	return w.c.err(w.w.Finish())
}

func (w *countingWritable) Abort() { w.w.Abort() }

// sizedReadable adapts an objstore.Readable to sstable.Readable.
type sizedReadable struct {
	r    objstore.Readable
	size int64
}

func (s *sizedReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	return s.r.ReadAt(ctx, p, off)
}
func (s *sizedReadable) Size() int64 { return s.size }

// tableCache opens each table object once and shares its Reader. Open
// failures are not cached, so a transient error is retried by the next
// read.
type tableCache struct {
	st    objstore.Storage
	bc    sstable.BlockCache
	disk  *cache.Disk
	mu    sync.Mutex
	items map[string]*tableItem
	// readers is an immutable snapshot of the open tables, replaced (under
	// mu) when one opens or goes: point reads look tables up in it without
	// a lock.
	readers atomic.Pointer[map[string]*sstable.Reader]
}

// setReaderLocked records r (nil: forgets name) in a new readers snapshot.
func (t *tableCache) setReaderLocked(name string, r *sstable.Reader) {
	var m map[string]*sstable.Reader
	if old := t.readers.Load(); old != nil {
		m = maps.Clone(*old)
	}
	if r == nil {
		delete(m, name)
	} else {
		if m == nil {
			m = map[string]*sstable.Reader{}
		}
		m[name] = r
	}
	t.readers.Store(&m)
}

type tableItem struct {
	done chan struct{}
	r    *sstable.Reader
	ro   objstore.Readable
	err  error
}

func fileID(name string) uint64 { return xxhash.Sum64String(name) }

// lookup returns the reader of name if it is open, without waiting or
// locking.
func (t *tableCache) lookup(name string) *sstable.Reader {
	if m := t.readers.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

func (t *tableCache) get(ctx context.Context, f *manifest.FileMeta) (*sstable.Reader, error) {
	t.mu.Lock()
	it, ok := t.items[f.Object]
	if ok {
		t.mu.Unlock()
		select {
		case <-it.done:
		default:
			select {
			case <-it.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if it.err == nil {
			return it.r, nil
		}
		t.mu.Lock()
		if t.items[f.Object] == it {
			delete(t.items, f.Object)
		}
		t.mu.Unlock()
		return t.get(ctx, f)
	}
	it = &tableItem{done: make(chan struct{})}
	t.items[f.Object] = it
	t.mu.Unlock()
	it.r, it.ro, it.err = t.open(ctx, f)
	close(it.done)
	t.mu.Lock()
	if t.items[f.Object] == it {
		if it.err != nil {
			delete(t.items, f.Object)
		} else {
			t.setReaderLocked(f.Object, it.r)
		}
	}
	t.mu.Unlock()
	return it.r, it.err
}

func (t *tableCache) open(ctx context.Context, f *manifest.FileMeta) (*sstable.Reader, objstore.Readable, error) {
	ro, size, err := t.st.ReadObject(ctx, f.Object)
	if err != nil {
		return nil, nil, err
	}
	var src sstable.Readable = &sizedReadable{r: ro, size: size}
	if t.disk != nil {
		src = t.disk.Object(f.Object, size, ro)
	}
	r, err := sstable.Open(ctx, src, sstable.ReaderOptions{Name: f.Object, FileID: fileID(f.Object), Cache: t.bc, TailSize: int64(f.TailSize)})
	if err != nil {
		ro.Close()
		return nil, nil, err
	}
	return r, ro, nil
}

// isOpen reports whether name is open (or being opened).
func (t *tableCache) isOpen(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.items[name]
	return ok
}

// evict forgets a table (after it is deleted).
func (t *tableCache) evict(name string) {
	t.mu.Lock()
	it, ok := t.items[name]
	if ok {
		delete(t.items, name)
		t.setReaderLocked(name, nil)
	}
	t.mu.Unlock()
	if ok {
		<-it.done
		if it.ro != nil {
			it.ro.Close()
		}
	}
}

func (t *tableCache) close() {
	t.mu.Lock()
	items := t.items
	t.items = map[string]*tableItem{}
	t.readers.Store(nil)
	t.mu.Unlock()
	for _, it := range items {
		<-it.done
		if it.ro != nil {
			it.ro.Close()
		}
	}
}
