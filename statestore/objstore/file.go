package objstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// The file backend writes through its own path instead of fileblob's
// writer, for two reasons: fileblob's IfNotExist is a stat followed by a
// rename, which races between processes (and between writers of one
// process), and it does not fsync. Here every write goes to a dot-file
// temporary in the object's directory, is fsynced, and is then published
// with rename(2) (CreateObject) or link(2) (CreateIfAbsent, which fails
// atomically with EEXIST when the name is taken). The directory is fsynced
// after publishing. Writes are buffered (fileWriteBuffer), so a table's
// blocks cost one write(2) per megabyte, not one per block. ReadObject
// keeps the file open and reads with pread(2): a table's blocks cost one
// system call each, not an open, a read and a close. Lists, deletes and
// ReadAll go through fileblob; the naming rule guarantees that fileblob
// maps names to the same paths.

// fileWriteBuffer is the write buffer of one file object.
const fileWriteBuffer = 1 << 20

func (s *bucketStorage) path(name string) string {
	return filepath.Join(s.dir, filepath.FromSlash(name))
}

// createTemp creates a dot-file next to path. List skips dot-files.
func createTemp(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return nil, err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+hex.EncodeToString(rnd[:])+".tmp")
	return os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *bucketStorage) createFile(name string) (Writable, error) {
	path := s.path(name)
	f, err := createTemp(path)
	if err != nil {
		return nil, s.errorf("create", name, err)
	}
	return &fileWritable{s: s, name: name, path: path, f: f, w: bufio.NewWriterSize(f, fileWriteBuffer)}, nil
}

// readFile opens name for ReadObject.
func (s *bucketStorage) readFile(name string) (Readable, int64, error) {
	f, err := os.Open(s.path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("objstore: read %s %q: %w: %v", s.url, name, ErrNotFound, err)
		}
		return nil, 0, s.errorf("read", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, s.errorf("read", name, err)
	}
	return &fileReadable{s: s, name: name, f: f, size: fi.Size()}, fi.Size(), nil
}

// fileReadable reads one file object through an open file. A deleted
// object stays readable until Close, as an open file does.
type fileReadable struct {
	s    *bucketStorage
	name string
	f    *os.File
	size int64
}

// ReadAt implements Readable.
func (r *fileReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > r.size {
		return fmt.Errorf("objstore: read %s %q: range [%d, %d) is outside the object's %d bytes: %w",
			r.s.url, r.name, off, off+int64(len(p)), r.size, io.ErrUnexpectedEOF)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.s.closed.Load() {
		return fmt.Errorf("objstore: read %s %q: %w", r.s.url, r.name, ErrClosed)
	}
	if _, err := r.f.ReadAt(p, off); err != nil {
		return fmt.Errorf("objstore: read %s %q [%d, %d): %w", r.s.url, r.name, off, off+int64(len(p)), err)
	}
	return nil
}

// Close implements Readable.
func (r *fileReadable) Close() error { return r.f.Close() }

func (s *bucketStorage) createFileIfAbsent(name string, data []byte) error {
	path := s.path(name)
	f, err := createTemp(path)
	if err != nil {
		return s.errorf("create-if-absent", name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s.errorf("create-if-absent", name, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("objstore: create-if-absent %s %q: %w", s.url, name, ErrAlreadyExists)
		}
		return s.errorf("create-if-absent", name, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return s.errorf("create-if-absent", name, err)
	}
	return nil
}

type fileWritable struct {
	s    *bucketStorage
	name string
	path string
	f    *os.File
	w    *bufio.Writer
	done bool
}

func (w *fileWritable) Write(p []byte) error {
	if w.done {
		return fmt.Errorf("objstore: write %s %q: %w", w.s.url, w.name, ErrClosed)
	}
	if _, err := w.w.Write(p); err != nil {
		return w.s.errorf("write", w.name, err)
	}
	return nil
}

func (w *fileWritable) Finish() error {
	if w.done {
		return fmt.Errorf("objstore: finish %s %q: %w", w.s.url, w.name, ErrClosed)
	}
	w.done = true
	tmp := w.f.Name()
	err := w.w.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(w.path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return w.s.errorf("finish", w.name, err)
	}
	return nil
}

func (w *fileWritable) Abort() {
	if w.done {
		return
	}
	w.done = true
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}
