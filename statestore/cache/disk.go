package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Remote is the source behind the disk cache, typically an object store
// reader for one object. ReadAt fills p entirely from off or returns an
// error; it may be called concurrently.
type Remote interface {
	ReadAt(ctx context.Context, p []byte, off int64) error
}

// DiskOptions configure a Disk cache.
type DiskOptions struct {
	// Dir holds the chunk files. It is created if missing. Required.
	Dir string
	// Capacity bounds the bytes of chunk files kept (headers included).
	// Required.
	Capacity int64
	// ChunkSize is the unit fetched from the remote and stored in one file.
	// Default 256 KiB.
	ChunkSize int64
	// Logger receives local I/O failures, which are never read errors.
	// Default: discard.
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields.
func (o *DiskOptions) EnsureDefaults() {
	if o.ChunkSize == 0 {
		o.ChunkSize = 256 << 10
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports bad fields.
func (o *DiskOptions) Validate() error {
	var err error
	if o.Dir == "" {
		err = errors.Join(err, errors.New("cache: DiskOptions.Dir is empty"))
	}
	if o.Capacity <= 0 {
		err = errors.Join(err, fmt.Errorf("cache: DiskOptions.Capacity %d: must be positive", o.Capacity))
	}
	if o.ChunkSize < 4<<10 || o.ChunkSize > 1<<30 {
		err = errors.Join(err, fmt.Errorf("cache: DiskOptions.ChunkSize %d: must be in [4 KiB, 1 GiB]", o.ChunkSize))
	}
	return err
}

// DiskMetrics is a snapshot of a Disk cache.
type DiskMetrics struct {
	Hits, Misses    uint64 // chunk lookups
	BytesReadRemote uint64
	BytesEvicted    uint64
	BytesWritten    uint64
	// LocalErrors counts local reads or writes that failed or found a bad
	// chunk file; each was served from the remote instead.
	LocalErrors uint64
	Bytes       int64 // bytes of chunk files now
	Files       int64
	Capacity    int64
}

type chunkKey struct {
	nameHash uint64
	idx      int64
}

type diskEntry struct {
	key        chunkKey
	size       int64
	prev, next *diskEntry // LRU list; head is most recent
}

type fetch struct {
	done chan struct{}
	data []byte
	err  error
}

// Disk is a local-disk cache of remote objects, stored as fixed-size chunks,
// one file per chunk, bounded by bytes with LRU eviction. It is only a cache:
// a missing, truncated or corrupt chunk file, or a wiped directory, costs a
// remote read, never a wrong answer. Safe for concurrent use; concurrent
// misses on one chunk share one remote read.
type Disk struct {
	opts DiskOptions
	mu   struct {
		sync.Mutex
		index    map[chunkKey]*diskEntry
		head     *diskEntry // most recently used
		tail     *diskEntry // least recently used
		bytes    int64
		inflight map[chunkKey]*fetch
	}
	hits, misses, bytesRemote, bytesEvicted, bytesWritten, localErrors atomic.Uint64
}

const (
	chunkMagic   = uint32(0x43444c53) // "SLDC"
	chunkSuffix  = ".chunk"
	headerFixLen = 4 + 2 + 4 + 8
)

// OpenDisk opens (or creates) a disk cache and rebuilds its index from the
// chunk files present, oldest modification time evicted first.
func OpenDisk(opts DiskOptions) (*Disk, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: DiskOptions.Dir %q: %w", opts.Dir, err)
	}
	d := &Disk{opts: opts}
	d.mu.index = make(map[chunkKey]*diskEntry)
	d.mu.inflight = make(map[chunkKey]*fetch)
	ents, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cache: DiskOptions.Dir %q: %w", opts.Dir, err)
	}
	type found struct {
		k     chunkKey
		size  int64
		mtime int64
	}
	var fs []found
	for _, e := range ents {
		name := e.Name()
		k, ok := parseChunkName(name)
		if !ok {
			if strings.HasPrefix(name, "tmp-") {
				os.Remove(filepath.Join(opts.Dir, name))
			}
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		fs = append(fs, found{k, info.Size(), info.ModTime().UnixNano()})
	}
	slices.SortFunc(fs, func(a, b found) int { return int(min(max(a.mtime-b.mtime, -1), 1)) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range fs {
		e := &diskEntry{key: f.k, size: f.size}
		d.mu.index[f.k] = e
		d.pushFrontLocked(e)
		d.mu.bytes += f.size
	}
	d.evictLocked()
	return d, nil
}

func chunkFileName(k chunkKey) string {
	return fmt.Sprintf("%016x-%x%s", k.nameHash, k.idx, chunkSuffix)
}

func parseChunkName(name string) (chunkKey, bool) {
	base, ok := strings.CutSuffix(name, chunkSuffix)
	if !ok {
		return chunkKey{}, false
	}
	h, i, ok := strings.Cut(base, "-")
	if !ok || len(h) != 16 {
		return chunkKey{}, false
	}
	hv, err1 := strconv.ParseUint(h, 16, 64)
	iv, err2 := strconv.ParseInt(i, 16, 64)
	if err1 != nil || err2 != nil || iv < 0 {
		return chunkKey{}, false
	}
	return chunkKey{hv, iv}, true
}

func (d *Disk) path(k chunkKey) string { return filepath.Join(d.opts.Dir, chunkFileName(k)) }

func (d *Disk) pushFrontLocked(e *diskEntry) {
	e.prev, e.next = nil, d.mu.head
	if d.mu.head != nil {
		d.mu.head.prev = e
	}
	d.mu.head = e
	if d.mu.tail == nil {
		d.mu.tail = e
	}
}

func (d *Disk) unlinkLocked(e *diskEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		d.mu.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		d.mu.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// dropLocked forgets e and removes its file.
func (d *Disk) dropLocked(e *diskEntry) {
	d.unlinkLocked(e)
	delete(d.mu.index, e.key)
	d.mu.bytes -= e.size
	if err := os.Remove(d.path(e.key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		d.localErrors.Add(1)
		d.opts.Logger.Warn("cache: remove chunk", "file", d.path(e.key), "err", err)
	}
}

func (d *Disk) evictLocked() {
	for d.mu.bytes > d.opts.Capacity && d.mu.tail != nil {
		e := d.mu.tail
		d.bytesEvicted.Add(uint64(e.size))
		d.dropLocked(e)
	}
}

// encodeChunk returns the chunk file contents:
//
//	magic uint32 | nameLen uint16 | name | dataLen uint32 | xxhash64(data) uint64 | data
func encodeChunk(name string, data []byte) []byte {
	b := make([]byte, 0, headerFixLen+len(name)+len(data))
	b = binary.LittleEndian.AppendUint32(b, chunkMagic)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = binary.LittleEndian.AppendUint64(b, xxhash.Sum64(data))
	return append(b, data...)
}

func decodeChunk(b []byte, name string, wantLen int64) ([]byte, error) {
	if len(b) < headerFixLen+len(name) || binary.LittleEndian.Uint32(b) != chunkMagic {
		return nil, errors.New("bad header")
	}
	nl := int(binary.LittleEndian.Uint16(b[4:]))
	if nl != len(name) || string(b[6:6+nl]) != name {
		return nil, errors.New("chunk belongs to another object")
	}
	p := b[6+nl:]
	dl := int64(binary.LittleEndian.Uint32(p))
	sum := binary.LittleEndian.Uint64(p[4:])
	data := p[12:]
	if dl != wantLen || int64(len(data)) != dl {
		return nil, fmt.Errorf("chunk holds %d bytes, want %d", len(data), wantLen)
	}
	if xxhash.Sum64(data) != sum {
		return nil, errors.New("checksum mismatch")
	}
	return data, nil
}

// Object returns a view of the named remote object of the given size that
// reads through the cache. The result implements sstable.Readable. name must
// identify immutable contents (design invariant 4) and be at most 64 KiB.
func (d *Disk) Object(name string, size int64, remote Remote) *Object {
	return &Object{d: d, name: name, hash: xxhash.Sum64String(name), size: size, remote: remote}
}

// Object is a cached remote object. Safe for concurrent use.
type Object struct {
	d      *Disk
	name   string
	hash   uint64
	size   int64
	remote Remote
}

// Size returns the object size.
func (o *Object) Size() int64 { return o.size }

// ReadAt fills p from off, from local chunks where present and from the
// remote (populating the cache) otherwise.
func (o *Object) ReadAt(ctx context.Context, p []byte, off int64) error {
	if off < 0 || int64(len(p)) > o.size-off {
		return fmt.Errorf("cache: read [%d, %d) of %s: beyond object size %d", off, off+int64(len(p)), o.name, o.size)
	}
	cs := o.d.opts.ChunkSize
	for len(p) > 0 {
		idx := off / cs
		start := idx * cs
		data, err := o.d.chunk(ctx, o, idx, min(cs, o.size-start))
		if err != nil {
			return err
		}
		n := copy(p, data[off-start:])
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// chunk returns the contents of chunk idx of o, of length clen.
func (d *Disk) chunk(ctx context.Context, o *Object, idx, clen int64) ([]byte, error) {
	k := chunkKey{o.hash, idx}
	d.mu.Lock()
	if e := d.mu.index[k]; e != nil {
		d.unlinkLocked(e)
		d.pushFrontLocked(e)
		d.mu.Unlock()
		b, err := os.ReadFile(d.path(k))
		if err == nil {
			var data []byte
			if data, err = decodeChunk(b, o.name, clen); err == nil {
				d.hits.Add(1)
				return data, nil
			}
		}
		// A missing or bad file: forget it and fall through to the remote.
		d.localErrors.Add(1)
		d.opts.Logger.Warn("cache: bad chunk file", "file", d.path(k), "object", o.name, "err", err)
		d.mu.Lock()
		if e2 := d.mu.index[k]; e2 == e {
			d.dropLocked(e)
		}
	}
	if f := d.mu.inflight[k]; f != nil {
		d.mu.Unlock()
		select {
		case <-f.done:
			return f.data, f.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f := &fetch{done: make(chan struct{})}
	d.mu.inflight[k] = f
	d.mu.Unlock()
	d.misses.Add(1)

	f.data = make([]byte, clen)
	f.err = o.remote.ReadAt(ctx, f.data, idx*d.opts.ChunkSize)
	if f.err == nil {
		d.bytesRemote.Add(uint64(clen))
		d.store(k, o.name, f.data)
	} else {
		f.data = nil
		f.err = fmt.Errorf("cache: read %s [%d, %d) from remote: %w", o.name, idx*d.opts.ChunkSize, idx*d.opts.ChunkSize+clen, f.err)
	}
	d.mu.Lock()
	delete(d.mu.inflight, k)
	d.mu.Unlock()
	close(f.done)
	return f.data, f.err
}

// store writes a chunk file atomically and indexes it. Failures are logged
// and counted, never returned: the data was read correctly anyway.
func (d *Disk) store(k chunkKey, name string, data []byte) {
	if len(name) > 0xffff {
		return // the header cannot name it; such objects are not cached
	}
	b := encodeChunk(name, data)
	if int64(len(b)) > d.opts.Capacity {
		return
	}
	if err := d.writeFile(k, b); err != nil {
		d.localErrors.Add(1)
		d.opts.Logger.Warn("cache: write chunk", "file", d.path(k), "err", err)
		return
	}
	d.bytesWritten.Add(uint64(len(b)))
	d.mu.Lock()
	defer d.mu.Unlock()
	if old := d.mu.index[k]; old != nil {
		d.unlinkLocked(old)
		d.mu.bytes -= old.size
	}
	e := &diskEntry{key: k, size: int64(len(b))}
	d.mu.index[k] = e
	d.pushFrontLocked(e)
	d.mu.bytes += e.size
	d.evictLocked()
}

func (d *Disk) writeFile(k chunkKey, b []byte) error {
	err := d.writeFileOnce(k, b)
	if errors.Is(err, fs.ErrNotExist) {
		// The directory was wiped under us: recreate it and retry once.
		if err := os.MkdirAll(d.opts.Dir, 0o755); err != nil {
			return err
		}
		err = d.writeFileOnce(k, b)
	}
	return err
}

func (d *Disk) writeFileOnce(k chunkKey, b []byte) error {
	f, err := os.CreateTemp(d.opts.Dir, "tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), d.path(k))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Populate stores a whole object, for example a table just uploaded, so
// that later reads hit locally. Local failures are counted, not returned.
func (d *Disk) Populate(name string, data []byte) {
	h := xxhash.Sum64String(name)
	cs := d.opts.ChunkSize
	for idx := int64(0); idx*cs < int64(len(data)); idx++ {
		end := min((idx+1)*cs, int64(len(data)))
		d.store(chunkKey{h, idx}, name, data[idx*cs:end])
	}
}

// Evict drops every chunk of the named object of the given size, for
// example after the object is deleted remotely.
func (d *Disk) Evict(name string, size int64) {
	h := xxhash.Sum64String(name)
	d.mu.Lock()
	defer d.mu.Unlock()
	for idx := int64(0); idx*d.opts.ChunkSize < size; idx++ {
		if e := d.mu.index[chunkKey{h, idx}]; e != nil {
			d.dropLocked(e)
		}
	}
}

// Metrics returns a snapshot.
func (d *Disk) Metrics() DiskMetrics {
	d.mu.Lock()
	bytes, files := d.mu.bytes, int64(len(d.mu.index))
	d.mu.Unlock()
	return DiskMetrics{
		Hits: d.hits.Load(), Misses: d.misses.Load(),
		BytesReadRemote: d.bytesRemote.Load(), BytesEvicted: d.bytesEvicted.Load(),
		BytesWritten: d.bytesWritten.Load(), LocalErrors: d.localErrors.Load(),
		Bytes: bytes, Files: files, Capacity: d.opts.Capacity,
	}
}
