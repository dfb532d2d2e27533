package objstore

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// bucketStorage implements Storage over a gocloud bucket. The file backend
// replaces the write path (see file.go); the rest is shared.
type bucketStorage struct {
	url    string // redacted, for errors
	kind   string // "mem", "file", "s3", "azblob"
	bucket *blob.Bucket
	dir    string       // file backend: the directory objects live in
	azure  *azureTarget // azblob backend: direct client for writes
	closed atomic.Bool
}

var _ Storage = (*bucketStorage)(nil)

// s3MinPart is S3's smallest multipart part; CreateIfAbsent buffers at least
// this much so that the conditional PUT is a single request.
const s3MinPart = 5 << 20

func (s *bucketStorage) errorf(op, name string, err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return fmt.Errorf("objstore: %s %s %q: %w: %v", op, s.url, name, ErrNotFound, err)
	case gcerrors.FailedPrecondition, gcerrors.AlreadyExists:
		if op == "create-if-absent" {
			return fmt.Errorf("objstore: %s %s %q: %w: %v", op, s.url, name, ErrAlreadyExists, err)
		}
	}
	return fmt.Errorf("objstore: %s %s %q: %w", op, s.url, name, err)
}

func (s *bucketStorage) check(op, name string) error {
	if s.closed.Load() {
		return fmt.Errorf("objstore: %s %s %q: %w", op, s.url, name, ErrClosed)
	}
	if err := ValidateName(name); err != nil {
		return fmt.Errorf("objstore: %s %s: %w", op, s.url, err)
	}
	return nil
}

// ReadObject implements Storage.
func (s *bucketStorage) ReadObject(ctx context.Context, name string) (Readable, int64, error) {
	if s.kind == "file" {
		if err := s.check("read", name); err != nil {
			return nil, 0, err
		}
		return s.readFile(name)
	}
	size, err := s.Size(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return &blobReadable{s: s, name: name, size: size}, size, nil
}

// ReadAll implements Storage.
func (s *bucketStorage) ReadAll(ctx context.Context, name string) ([]byte, error) {
	if err := s.check("read", name); err != nil {
		return nil, err
	}
	b, err := s.bucket.ReadAll(ctx, name)
	if err != nil {
		return nil, s.errorf("read", name, err)
	}
	return b, nil
}

// Size implements Storage.
func (s *bucketStorage) Size(ctx context.Context, name string) (int64, error) {
	if err := s.check("stat", name); err != nil {
		return 0, err
	}
	a, err := s.bucket.Attributes(ctx, name)
	if err != nil {
		return 0, s.errorf("stat", name, err)
	}
	return a.Size, nil
}

// CreateObject implements Storage.
func (s *bucketStorage) CreateObject(ctx context.Context, name string) (Writable, error) {
	if err := s.check("create", name); err != nil {
		return nil, err
	}
	switch s.kind {
	case "file":
		return s.createFile(name)
	case "azblob":
		return s.azureCreate(ctx, name), nil
	}
	wctx, cancel := context.WithCancel(ctx)
	w, err := s.bucket.NewWriter(wctx, name, &blob.WriterOptions{ContentType: "application/octet-stream"})
	if err != nil {
		cancel()
		return nil, s.errorf("create", name, err)
	}
	return &blobWritable{s: s, name: name, w: w, cancel: cancel}, nil
}

// CreateIfAbsent implements Storage.
func (s *bucketStorage) CreateIfAbsent(ctx context.Context, name string, data []byte) error {
	if err := s.check("create-if-absent", name); err != nil {
		return err
	}
	switch s.kind {
	case "file":
		return s.createFileIfAbsent(name, data)
	case "azblob":
		return s.azureCreateIfAbsent(ctx, name, data)
	}
	opts := &blob.WriterOptions{ContentType: "application/octet-stream", IfNotExist: true}
	if s.kind == "s3" {
		// One PutObject with If-None-Match: *, never a multipart upload.
		opts.BufferSize = max(s3MinPart, len(data)+1)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, name, opts)
	if err != nil {
		return s.errorf("create-if-absent", name, err)
	}
	if _, err := w.Write(data); err != nil {
		cancel()
		_ = w.Close()
		return s.errorf("create-if-absent", name, err)
	}
	if err := w.Close(); err != nil {
		return s.errorf("create-if-absent", name, err)
	}
	return nil
}

// List implements Storage.
func (s *bucketStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("objstore: list %s %q: %w", s.url, prefix, ErrClosed)
	}
	if err := validatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("objstore: list %s: %w", s.url, err)
	}
	var names []string
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.errorf("list", prefix, err)
		}
		if obj.IsDir || ValidateName(obj.Key) != nil {
			// Not ours: directories, and temporary files (dot-files) of the
			// file backend.
			continue
		}
		names = append(names, obj.Key)
	}
	return names, nil
}

// Delete implements Storage.
func (s *bucketStorage) Delete(ctx context.Context, name string) error {
	if err := s.check("delete", name); err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, name); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.errorf("delete", name, err)
	}
	return nil
}

// Close implements Storage.
func (s *bucketStorage) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.bucket.Close()
}

type blobReadable struct {
	s    *bucketStorage
	name string
	size int64
}

// ReadAt implements Readable.
func (r *blobReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > r.size {
		return fmt.Errorf("objstore: read %s %q: range [%d, %d) is outside the object's %d bytes: %w",
			r.s.url, r.name, off, off+int64(len(p)), r.size, io.ErrUnexpectedEOF)
	}
	if len(p) == 0 {
		return nil
	}
	if r.s.closed.Load() {
		return fmt.Errorf("objstore: read %s %q: %w", r.s.url, r.name, ErrClosed)
	}
	rr, err := r.s.bucket.NewRangeReader(ctx, r.name, off, int64(len(p)), nil)
	if err != nil {
		return r.s.errorf("read", r.name, err)
	}
	_, err = io.ReadFull(rr, p)
	cerr := rr.Close()
	if err != nil {
		return fmt.Errorf("objstore: read %s %q [%d, %d): %w", r.s.url, r.name, off, off+int64(len(p)), err)
	}
	if cerr != nil {
		return r.s.errorf("read", r.name, cerr)
	}
	return nil
}

// Close implements Readable.
func (r *blobReadable) Close() error { return nil }

type blobWritable struct {
	s      *bucketStorage
	name   string
	w      *blob.Writer
	cancel context.CancelFunc
	done   bool
}

func (w *blobWritable) Write(p []byte) error {
	if w.done {
		return fmt.Errorf("objstore: write %s %q: %w", w.s.url, w.name, ErrClosed)
	}
	if _, err := w.w.Write(p); err != nil {
		return w.s.errorf("write", w.name, err)
	}
	return nil
}

func (w *blobWritable) Finish() error {
	if w.done {
		return fmt.Errorf("objstore: finish %s %q: %w", w.s.url, w.name, ErrClosed)
	}
	w.done = true
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		return w.s.errorf("finish", w.name, err)
	}
	return nil
}

func (w *blobWritable) Abort() {
	if w.done {
		return
	}
	w.done = true
	// Cancelling the writer's context before Close makes gocloud discard
	// the upload.
	w.cancel()
	_ = w.w.Close()
}
