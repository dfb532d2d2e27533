package nexmark

import (
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// recycler is a memory.Allocator over the reader's ReadOptions.Allocator
// that keeps buffers freed by the consumers of the reader's batches and
// hands them out again for the next batches. A generator allocates buffers
// of the same few sizes for every batch, so with recycling its memory stays
// warm instead of being faulted in (and, with the Go allocator, garbage
// collected) batch after batch.
//
// It is safe for concurrent use: batches may be released on any goroutine.
// After close, every kept buffer has gone back to the underlying allocator
// and later frees pass straight through.
type recycler struct {
	under memory.Allocator
	mu    struct {
		sync.Mutex
		free   map[int][][]byte // by length
		kept   int              // bytes in free
		closed bool
	}
}

// recyclerMaxKept bounds the bytes a recycler keeps.
const recyclerMaxKept = 64 << 20

func newRecycler(under memory.Allocator) *recycler {
	r := &recycler{under: under}
	r.mu.free = map[int][][]byte{}
	return r
}

func (r *recycler) Allocate(size int) []byte {
	r.mu.Lock()
	if l := r.mu.free[size]; len(l) > 0 {
		b := l[len(l)-1]
		l[len(l)-1] = nil
		r.mu.free[size] = l[:len(l)-1]
		r.mu.kept -= size
		r.mu.Unlock()
		return b
	}
	r.mu.Unlock()
	return r.under.Allocate(size)
}

func (r *recycler) Reallocate(size int, b []byte) []byte {
	nb := r.Allocate(size)
	copy(nb, b)
	r.Free(b)
	return nb
}

func (r *recycler) Free(b []byte) {
	r.mu.Lock()
	if !r.mu.closed && r.mu.kept+len(b) <= recyclerMaxKept {
		r.mu.free[len(b)] = append(r.mu.free[len(b)], b)
		r.mu.kept += len(b)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.under.Free(b)
}

// close returns every kept buffer to the underlying allocator.
func (r *recycler) close() {
	r.mu.Lock()
	free := r.mu.free
	r.mu.free, r.mu.kept, r.mu.closed = nil, 0, true
	r.mu.Unlock()
	for _, l := range free {
		for _, b := range l {
			r.under.Free(b)
		}
	}
}
