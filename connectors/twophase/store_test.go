package twophase_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicedata/sluice/connectors/twophase"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/objstore/objstoretest"
)

// backends returns a constructor of an empty Store per backend. S3 runs
// on an in-process server; Azure on Azurite (skipped when it is not
// installed, except with CI=true).
func backends() map[string]func(t *testing.T) readable {
	blobStore := func(t *testing.T, url string, opts objstore.Options) readable {
		t.Helper()
		b, err := objstore.OpenBucket(context.Background(), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		return readable{
			Store: twophase.NewBlobStore(b, url, t.TempDir()),
			read:  func(name string) ([]byte, error) { return b.ReadAll(context.Background(), name) },
		}
	}
	return map[string]func(t *testing.T) readable{
		"dir": func(t *testing.T) readable {
			root := filepath.Join(t.TempDir(), "out")
			s, err := twophase.OpenDir(root)
			if err != nil {
				t.Fatal(err)
			}
			return readable{Store: s, read: func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(root, name)) }}
		},
		"mem": func(t *testing.T) readable { return blobStore(t, "mem://", objstore.Options{}) },
		"file": func(t *testing.T) readable {
			return blobStore(t, "file://"+t.TempDir()+"?prefix=sink/", objstore.Options{})
		},
		"s3": func(t *testing.T) readable {
			srv := objstoretest.StartS3(t)
			srv.CreateBucket(t, "out")
			return blobStore(t, srv.URL("out", "prefix", "q5/"), objstore.Options{})
		},
		"azblob": func(t *testing.T) readable {
			az := objstoretest.StartAzurite(t)
			az.CreateContainer(t, "out")
			return blobStore(t, az.URL("out", "prefix", "q5/"), objstore.Options{Getenv: az.Getenv})
		},
	}
}

// readable is a Store whose objects a test can read.
type readable struct {
	twophase.Store
	read func(name string) ([]byte, error)
}

func put(t *testing.T, s twophase.Store, name, data string) {
	t.Helper()
	o, err := s.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := o.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func list(t *testing.T, s twophase.Store, prefix string) []string {
	t.Helper()
	names, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func exists(t *testing.T, s twophase.Store, name string) bool {
	t.Helper()
	ok, err := s.Exists(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestStore checks the Store contract on every backend.
func TestStore(t *testing.T) {
	for name, open := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := open(t)
			defer s.Close()

			// Nothing visible before Finish; Abort leaves nothing.
			o, err := s.Create("_pending/j/1/0-0.parquet.inprogress")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if got := list(t, s, ""); len(got) != 0 {
				t.Fatalf("before Finish: %q", got)
			}
			if err := o.Finish(ctx); err != nil {
				t.Fatal(err)
			}
			o, err = s.Create("_pending/j/1/0-1.parquet.inprogress")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.Write([]byte("aborted")); err != nil {
				t.Fatal(err)
			}
			o.Abort()
			o.Abort()
			if got := list(t, s, ""); !slices.Equal(got, []string{"_pending/j/1/0-0.parquet.inprogress"}) {
				t.Fatalf("after Finish and Abort: %q", got)
			}

			// Publish moves, into Hive-style folders with escaped values.
			final := "k=a b%2F c/dt=2024-01-01/part-0-1-3-0.parquet"
			if err := s.Publish(ctx, final, "_pending/j/1/0-0.parquet.inprogress"); err != nil {
				t.Fatal(err)
			}
			if exists(t, s, "_pending/j/1/0-0.parquet.inprogress") || !exists(t, s, final) {
				t.Fatal("Publish did not move the object")
			}
			err = s.Publish(ctx, final, "_pending/j/1/0-0.parquet.inprogress")
			if !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Publish of a missing object: %v, want fs.ErrNotExist", err)
			}
			// Publish replaces an existing destination.
			put(t, s, "_pending/j/2/0-0.parquet.inprogress", "newer")
			if err := s.Publish(ctx, final, "_pending/j/2/0-0.parquet.inprogress"); err != nil {
				t.Fatal(err)
			}

			put(t, s, "a/b/c", "1")
			put(t, s, "a/d", "2")
			put(t, s, "ab", "3")
			if got, want := list(t, s, "a/"), []string{"a/b/c", "a/d"}; !slices.Equal(got, want) {
				t.Errorf("List(a/) = %q, want %q", got, want)
			}
			if got, want := list(t, s, ""), []string{"a/b/c", "a/d", "ab", final}; !slices.Equal(got, want) {
				t.Errorf("List() = %q, want %q", got, want)
			}
			if err := s.Delete(ctx, "a/d"); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, "a/d"); err != nil {
				t.Fatalf("second Delete: %v", err)
			}
			if exists(t, s, "a/d") {
				t.Fatal("a/d exists after Delete")
			}
			for _, bad := range []string{"", "/abs", "a//b", "a/../b", "a/./b", "x\x00y", `a\b`} {
				if _, err := s.Create(bad); err == nil {
					t.Errorf("Create(%q) succeeded", bad)
				}
			}
			if _, err := s.List(ctx, "a"); err == nil {
				t.Error("List of a prefix without '/' succeeded")
			}
		})
	}
}

// TestDirStoreLeavesNoTemporaries checks that the local folder holds only
// finished objects after aborted writes and that its temporary files are
// dot-files.
func TestDirStoreLeavesNoTemporaries(t *testing.T) {
	root := t.TempDir()
	s, err := twophase.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Create("x/y.parquet")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "x"))
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".") {
		t.Fatalf("in-progress object: %v", entries)
	}
	o.Abort()
	entries, _ = os.ReadDir(filepath.Join(root, "x"))
	if len(entries) != 0 {
		t.Fatalf("after Abort: %v", entries)
	}
}
