package objstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
)

// RequestKind classifies object-store requests the way providers bill them.
type RequestKind int

const (
	ReqGet      RequestKind = iota // whole-object read (ReadAll, or ReadAt of the whole object)
	ReqRangeGet                    // partial read (ReadAt)
	ReqHead                        // metadata read (ReadObject, Size)
	ReqPut                         // object creation (Finish, CreateIfAbsent)
	ReqList                        // List
	ReqDelete                      // Delete
	NumRequestKinds
)

func (k RequestKind) String() string {
	switch k {
	case ReqGet:
		return "GET"
	case ReqRangeGet:
		return "RANGE_GET"
	case ReqHead:
		return "HEAD"
	case ReqPut:
		return "PUT"
	case ReqList:
		return "LIST"
	case ReqDelete:
		return "DELETE"
	}
	return "UNKNOWN"
}

// RequestMetrics count one kind of request.
type RequestMetrics struct {
	Requests int64 // calls made, failed ones included
	Errors   int64 // calls that failed (ErrAlreadyExists included)
	Bytes    int64 // payload bytes moved by successful calls
}

// CounterMetrics is a snapshot of a Counter.
type CounterMetrics struct {
	Kinds [NumRequestKinds]RequestMetrics
}

// Total sums every kind.
func (m CounterMetrics) Total() RequestMetrics {
	var t RequestMetrics
	for _, k := range m.Kinds {
		t.Requests += k.Requests
		t.Errors += k.Errors
		t.Bytes += k.Bytes
	}
	return t
}

// Sub returns m - o, the requests made between two snapshots.
func (m CounterMetrics) Sub(o CounterMetrics) CounterMetrics {
	for i := range m.Kinds {
		m.Kinds[i].Requests -= o.Kinds[i].Requests
		m.Kinds[i].Errors -= o.Kinds[i].Errors
		m.Kinds[i].Bytes -= o.Kinds[i].Bytes
	}
	return m
}

// String formats the non-zero kinds, e.g. "GET 3 (1.2 KiB) PUT 1 (64 B)".
func (m CounterMetrics) String() string {
	var b strings.Builder
	for k, r := range m.Kinds {
		if r.Requests == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s %d (%d B", RequestKind(k), r.Requests, r.Bytes)
		if r.Errors > 0 {
			fmt.Fprintf(&b, ", %d failed", r.Errors)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Counter wraps a Storage and counts requests and bytes per RequestKind, for
// cost reports. It counts Sluice's logical requests: a multipart upload is
// one PUT, a List that pages is one LIST, and aborted writes are not
// counted. Safe for concurrent use.
type Counter struct {
	inner Storage
	c     [NumRequestKinds]struct{ req, errs, bytes atomic.Int64 }
}

var _ Storage = (*Counter)(nil)

// NewCounter wraps inner.
func NewCounter(inner Storage) *Counter { return &Counter{inner: inner} }

// Metrics returns a snapshot of the counts.
func (c *Counter) Metrics() CounterMetrics {
	var m CounterMetrics
	for i := range c.c {
		m.Kinds[i] = RequestMetrics{Requests: c.c[i].req.Load(), Errors: c.c[i].errs.Load(), Bytes: c.c[i].bytes.Load()}
	}
	return m
}

func (c *Counter) count(k RequestKind, bytes int64, err error) {
	c.c[k].req.Add(1)
	if err != nil {
		c.c[k].errs.Add(1)
		return
	}
	c.c[k].bytes.Add(bytes)
}

// ReadObject implements Storage; it counts a HEAD.
func (c *Counter) ReadObject(ctx context.Context, name string) (Readable, int64, error) {
	r, size, err := c.inner.ReadObject(ctx, name)
	c.count(ReqHead, 0, err)
	if err != nil {
		return nil, 0, err
	}
	return &countReadable{c: c, r: r, size: size}, size, nil
}

// ReadAll implements Storage; it counts a GET.
func (c *Counter) ReadAll(ctx context.Context, name string) ([]byte, error) {
	b, err := c.inner.ReadAll(ctx, name)
	c.count(ReqGet, int64(len(b)), err)
	return b, err
}

// CreateObject implements Storage; Finish counts a PUT.
func (c *Counter) CreateObject(ctx context.Context, name string) (Writable, error) {
	w, err := c.inner.CreateObject(ctx, name)
	if err != nil {
		c.count(ReqPut, 0, err)
		return nil, err
	}
	return &countWritable{c: c, w: w}, nil
}

// CreateIfAbsent implements Storage; it counts a PUT.
func (c *Counter) CreateIfAbsent(ctx context.Context, name string, data []byte) error {
	err := c.inner.CreateIfAbsent(ctx, name, data)
	c.count(ReqPut, int64(len(data)), err)
	return err
}

// List implements Storage; it counts a LIST.
func (c *Counter) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := c.inner.List(ctx, prefix)
	c.count(ReqList, 0, err)
	return names, err
}

// Delete implements Storage; it counts a DELETE.
func (c *Counter) Delete(ctx context.Context, name string) error {
	err := c.inner.Delete(ctx, name)
	c.count(ReqDelete, 0, err)
	return err
}

// Size implements Storage; it counts a HEAD.
func (c *Counter) Size(ctx context.Context, name string) (int64, error) {
	n, err := c.inner.Size(ctx, name)
	c.count(ReqHead, 0, err)
	return n, err
}

// Close implements Storage. It closes the wrapped storage.
func (c *Counter) Close() error { return c.inner.Close() }

type countReadable struct {
	c    *Counter
	r    Readable
	size int64
}

func (r *countReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	err := r.r.ReadAt(ctx, p, off)
	kind := ReqRangeGet
	if off == 0 && int64(len(p)) == r.size {
		kind = ReqGet
	}
	r.c.count(kind, int64(len(p)), err)
	return err
}

func (r *countReadable) Close() error { return r.r.Close() }

type countWritable struct {
	c *Counter
	w Writable
	n int64
}

func (w *countWritable) Write(p []byte) error {
	err := w.w.Write(p)
	if err == nil {
		w.n += int64(len(p))
	}
	return err
}

func (w *countWritable) Finish() error {
	err := w.w.Finish()
	w.c.count(ReqPut, w.n, err)
	return err
}

func (w *countWritable) Abort() { w.w.Abort() }
