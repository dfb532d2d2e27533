package twophase

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Store is the object storage a two-phase-commit sink writes to: a local
// folder (OpenDir) or a gocloud bucket (NewBlobStore). Names are
// '/'-separated keys relative to the sink's root. A Store is safe for
// concurrent use; an Object belongs to one goroutine.
type Store interface {
	// Create starts writing name. Nothing is visible under name until the
	// Object's Finish returns nil; every Object ends in Finish or Abort.
	Create(name string) (Object, error)
	// Publish moves src to dst: dst gets src's content (replacing what dst
	// held) and src is removed. It may be interrupted at any point; after an
	// interruption src or dst (or both) hold the whole content, and calling
	// Publish again completes the move. A missing src fails with an error
	// wrapping fs.ErrNotExist.
	Publish(ctx context.Context, dst, src string) error
	// Exists reports whether name exists.
	Exists(ctx context.Context, name string) (bool, error)
	// List returns every name under prefix (a folder name ending in '/'),
	// at any depth, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes name. A missing name is not an error.
	Delete(ctx context.Context, name string) error
	// Close releases the store.
	Close() error
	// String names the store (its folder or URL) for errors.
	String() string
}

// Object is an object being written.
type Object interface {
	io.Writer
	// Finish makes the object durable and visible under its name. If it
	// fails the object may or may not exist.
	Finish(ctx context.Context) error
	// Abort discards the object; nothing becomes visible. A no-op after
	// Finish.
	Abort()
}

// remover is implemented by stores that can remove a whole folder, with
// the temporary files of unfinished objects and the folders themselves (a
// local folder). Recover uses it instead of List and Delete.
type remover interface {
	RemoveAll(prefix string) error
}

// dirStore is a Store on a local folder. Objects are written to a dot-file
// in the object's folder, fsynced and renamed into place; Publish is a
// rename, so it is atomic. Folders are fsynced after each rename.
type dirStore struct {
	root string
}

// OpenDir returns a Store on the local folder root. Folders, root
// included, are created when an object needs them, so opening writes
// nothing. It fails if root exists and is not a folder.
func OpenDir(root string) (Store, error) {
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%q is a file, not a folder", root)
	}
	return &dirStore{root: filepath.Clean(root)}, nil
}

func (d *dirStore) String() string { return d.root }

func (d *dirStore) path(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func (d *dirStore) Create(name string) (Object, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+"."+hex.EncodeToString(rnd[:])+".tmp")
	// Publish removes folders it empties; a folder removed between
	// MkdirAll and OpenFile is made again.
	for try := 0; ; try++ {
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			return nil, fmt.Errorf("%s: create %q: %w", d.root, name, unwrapPath(err))
		}
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrNotExist) && try < 10 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: create %q: %w", d.root, name, unwrapPath(err))
		}
		return &dirObject{d: d, name: name, path: p, f: f}, nil
	}
}

type dirObject struct {
	d          *dirStore
	name, path string
	f          *os.File
	done       bool
}

func (o *dirObject) Write(p []byte) (int, error) {
	if o.done {
		return 0, fmt.Errorf("%s: write %q: object already finished or aborted", o.d.root, o.name)
	}
	n, err := o.f.Write(p)
	if err != nil {
		err = fmt.Errorf("%s: write %q: %w", o.d.root, o.name, unwrapPath(err))
	}
	return n, err
}

func (o *dirObject) Finish(context.Context) error {
	if o.done {
		return fmt.Errorf("%s: finish %q: object already finished or aborted", o.d.root, o.name)
	}
	o.done = true
	tmp := o.f.Name()
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, o.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(o.path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("%s: finish %q: %w", o.d.root, o.name, unwrapPath(err))
	}
	return nil
}

func (o *dirObject) Abort() {
	if o.done {
		return
	}
	o.done = true
	_ = o.f.Close()
	_ = os.Remove(o.f.Name())
}

func (d *dirStore) Publish(_ context.Context, dst, src string) error {
	sp, err := d.path(src)
	if err != nil {
		return err
	}
	dp, err := d.path(dst)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("%s: publish %q as %q: %w", d.root, src, dst, unwrapPath(err))
	}
	if err := os.MkdirAll(filepath.Dir(dp), 0o777); err != nil {
		return fail(err)
	}
	if err := os.Rename(sp, dp); err != nil {
		return fail(err)
	}
	if err := syncDir(filepath.Dir(dp)); err != nil {
		return fail(err)
	}
	if filepath.Dir(sp) != filepath.Dir(dp) {
		if err := syncDir(filepath.Dir(sp)); err != nil {
			return fail(err)
		}
	}
	// Remove the folders the move emptied (_pending/<job>/<attempt>/ after
	// its last file), so a committed output folder holds only output.
	for dir := filepath.Dir(sp); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty
		}
	}
	return nil
}

func (d *dirStore) Exists(_ context.Context, name string) (bool, error) {
	p, err := d.path(name)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(p)
	switch {
	case err == nil:
		return fi.Mode().IsRegular(), nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("%s: stat %q: %w", d.root, name, unwrapPath(err))
	}
}

func (d *dirStore) List(_ context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	base := filepath.Join(d.root, filepath.FromSlash(prefix))
	var names []string
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if strings.HasPrefix(e.Name(), ".") && p != base {
			// Temporary files of unfinished objects.
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Type().IsRegular() {
			rel, err := filepath.Rel(d.root, p)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: list %q: %w", d.root, prefix, unwrapPath(err))
	}
	slices.Sort(names)
	return names, nil
}

func (d *dirStore) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: delete %q: %w", d.root, name, unwrapPath(err))
	}
	return nil
}

// RemoveAll removes the folder prefix and everything in it.
func (d *dirStore) RemoveAll(prefix string) error {
	if err := checkPrefix(prefix); err != nil || prefix == "" {
		return fmt.Errorf("%s: remove %q: not a folder name: %v", d.root, prefix, err)
	}
	if err := os.RemoveAll(filepath.Join(d.root, filepath.FromSlash(prefix))); err != nil {
		return fmt.Errorf("%s: remove %q: %w", d.root, prefix, unwrapPath(err))
	}
	return nil
}

func (d *dirStore) Close() error { return nil }

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// blobStore is a Store on a gocloud bucket. An object is spooled to a local
// temporary file and uploaded whole at Finish (one PUT or a multipart
// upload), so a failed or cancelled write leaves nothing behind and a large
// file needs no memory. Publish is a server-side copy followed by a delete.
type blobStore struct {
	b     *blob.Bucket
	name  string
	spool string
}

// NewBlobStore returns a Store on bucket b, which it closes on Close. name
// identifies the bucket in errors (a redacted URL). Objects are spooled in
// spoolDir ("" means os.TempDir()).
func NewBlobStore(b *blob.Bucket, name, spoolDir string) Store {
	return &blobStore{b: b, name: name, spool: spoolDir}
}

func (s *blobStore) String() string { return s.name }

func (s *blobStore) errorf(op, name string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%s: %s %q: %w (%v)", s.name, op, name, fs.ErrNotExist, err)
	}
	return fmt.Errorf("%s: %s %q: %w", s.name, op, name, err)
}

func (s *blobStore) Create(name string) (Object, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.spool, "sluice-spool-*")
	if err != nil {
		return nil, fmt.Errorf("%s: create %q: spool file: %w", s.name, name, err)
	}
	return &blobObject{s: s, name: name, f: f}, nil
}

type blobObject struct {
	s    *blobStore
	name string
	f    *os.File
	done bool
}

func (o *blobObject) Write(p []byte) (int, error) {
	if o.done {
		return 0, fmt.Errorf("%s: write %q: object already finished or aborted", o.s.name, o.name)
	}
	n, err := o.f.Write(p)
	if err != nil {
		err = fmt.Errorf("%s: write %q: spool file: %w", o.s.name, o.name, unwrapPath(err))
	}
	return n, err
}

func (o *blobObject) Finish(ctx context.Context) error {
	if o.done {
		return fmt.Errorf("%s: finish %q: object already finished or aborted", o.s.name, o.name)
	}
	o.done = true
	defer func() {
		_ = o.f.Close()
		_ = os.Remove(o.f.Name())
	}()
	if _, err := o.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: finish %q: spool file: %w", o.s.name, o.name, err)
	}
	// Upload, unlike a streaming writer, hands the driver the whole
	// reader: no pipe whose failure paths differ per driver.
	if err := o.s.b.Upload(ctx, o.name, o.f, &blob.WriterOptions{ContentType: "application/octet-stream"}); err != nil {
		return o.s.errorf("upload", o.name, err)
	}
	return nil
}

func (o *blobObject) Abort() {
	if o.done {
		return
	}
	o.done = true
	_ = o.f.Close()
	_ = os.Remove(o.f.Name())
}

func (s *blobStore) Publish(ctx context.Context, dst, src string) error {
	if err := checkName(dst); err != nil {
		return err
	}
	if err := checkName(src); err != nil {
		return err
	}
	if err := s.b.Copy(ctx, dst, src, nil); err != nil {
		return s.errorf("copy to "+quote(dst)+" from", src, err)
	}
	if err := s.b.Delete(ctx, src); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.errorf("delete", src, err)
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func (s *blobStore) Exists(ctx context.Context, name string) (bool, error) {
	if err := checkName(name); err != nil {
		return false, err
	}
	ok, err := s.b.Exists(ctx, name)
	if err != nil {
		return false, s.errorf("stat", name, err)
	}
	return ok, nil
}

func (s *blobStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var names []string
	it := s.b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.errorf("list", prefix, err)
		}
		if !obj.IsDir {
			names = append(names, obj.Key)
		}
	}
	slices.Sort(names)
	return names, nil
}

func (s *blobStore) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := s.b.Delete(ctx, name); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return s.errorf("delete", name, err)
	}
	return nil
}

func (s *blobStore) Close() error { return s.b.Close() }

// checkName rejects names that could leave the root: empty segments, "."
// and "..", a leading '/', backslashes and control characters.
func checkName(name string) error {
	if name == "" {
		return errors.New("twophase: empty object name")
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("twophase: object name %q has an empty, '.' or '..' segment", name)
		}
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return fmt.Errorf("twophase: object name %q has the byte %q", name, c)
		}
	}
	return nil
}

func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("twophase: list prefix %q must end with '/'", prefix)
	}
	return checkName(strings.TrimSuffix(prefix, "/"))
}
