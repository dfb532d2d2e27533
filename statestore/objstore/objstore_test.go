package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/objstore/objstoretest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The AWS and Azure SDKs keep idle HTTP connections in pools shared
		// by the process.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

func mustOpen(t *testing.T, url string, opts objstore.Options) objstore.Storage {
	t.Helper()
	s, err := objstore.OpenWith(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceMem(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Storage {
		return mustOpen(t, "mem://", objstore.Options{})
	})
}

func TestConformanceFile(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Storage {
		return mustOpen(t, "file://"+t.TempDir(), objstore.Options{})
	})
}

func TestConformanceFilePrefix(t *testing.T) {
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Storage {
		return mustOpen(t, "file://"+t.TempDir()+"?prefix=job-1/", objstore.Options{})
	})
}

func TestConformanceS3(t *testing.T) {
	srv := objstoretest.StartS3(t)
	var n atomic.Int64
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Storage {
		bucket := fmt.Sprintf("bucket-%d", n.Add(1))
		srv.CreateBucket(t, bucket)
		return mustOpen(t, srv.URL(bucket), objstore.Options{})
	})
}

func TestConformanceAzure(t *testing.T) {
	srv := objstoretest.StartAzurite(t)
	var n atomic.Int64
	objstoretest.RunConformance(t, func(t *testing.T) objstore.Storage {
		name := fmt.Sprintf("container-%d", n.Add(1))
		srv.CreateContainer(t, name)
		return mustOpen(t, srv.URL(name), objstore.Options{Getenv: srv.Getenv})
	})
}

// TestFileCreateIfAbsentAcrossStorages races two Storages (as two processes
// would) on one folder.
func TestFileCreateIfAbsentAcrossStorages(t *testing.T) {
	dir := t.TempDir()
	a := mustOpen(t, "file://"+dir, objstore.Options{})
	b := mustOpen(t, "file://"+dir, objstore.Options{})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	for i := range 50 {
		name := fmt.Sprintf("ptr/%d", i)
		errs := make(chan error, 2)
		go func() { errs <- a.CreateIfAbsent(ctx, name, []byte("a")) }()
		go func() { errs <- b.CreateIfAbsent(ctx, name, []byte("b")) }()
		e1, e2 := <-errs, <-errs
		if (e1 == nil) == (e2 == nil) {
			t.Fatalf("%s: errors %v and %v: want exactly one winner", name, e1, e2)
		}
		for _, e := range []error{e1, e2} {
			if e != nil && !errors.Is(e, objstore.ErrAlreadyExists) {
				t.Fatalf("%s: loser got %v, want ErrAlreadyExists", name, e)
			}
		}
	}
	// No temporary files are left behind.
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") {
			t.Errorf("temporary file left: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ url, want string }{
		{"", "no scheme"},
		{"ftp://host/x", `unsupported scheme "ftp"`},
		{"mem://?foo=1", "mem:// takes no path"},
		{"file://host/x", "file URLs name a local path"},
		{"file:///tmp/x?bogus=1", "file:// takes no parameters"},
		{"mem://?prefix=a", "must end with '/'"},
		{"mem://?prefix=../", "invalid object name"},
		{"s3://?region=x", "no bucket name"},
		{"s3://b?nonsense=1", "nonsense"},
		{"azblob://?x=1", "no container name"},
		{"%zz", "not a URL"},
	} {
		_, err := objstore.Open(ctx, tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", tc.url, err, tc.want)
		}
	}
	_, err := objstore.Open(ctx, "s3://b?bogus_secret_key=hunter2")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks a secret or is nil: %v", err)
	}
}

func TestErrorsNameURLAndObject(t *testing.T) {
	s := mustOpen(t, "mem://", objstore.Options{})
	defer s.Close()
	_, err := s.ReadAll(context.Background(), "dir/obj")
	if err == nil || !strings.Contains(err.Error(), "mem://") || !strings.Contains(err.Error(), "dir/obj") {
		t.Fatalf("error %q should name the URL and the object", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"job-1/op_2/sst/000042.sst", true}, {"k=v+w", true},
		{"", false}, {"/a", false}, {"a/", false}, {"a//b", false}, {".a", false}, {"a/.b", false},
		{"a/..", false}, {"a b", false}, {"a\\b", false}, {strings.Repeat("a", objstore.MaxNameLen+1), false},
	} {
		err := objstore.ValidateName(tc.name)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, objstore.ErrInvalidName)) {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestClosedStorage(t *testing.T) {
	s := mustOpen(t, "mem://", objstore.Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	ctx := context.Background()
	if _, err := s.ReadAll(ctx, "x"); !errors.Is(err, objstore.ErrClosed) {
		t.Errorf("ReadAll after Close = %v", err)
	}
	if err := s.CreateIfAbsent(ctx, "x", nil); !errors.Is(err, objstore.ErrClosed) {
		t.Errorf("CreateIfAbsent after Close = %v", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, objstore.ErrClosed) {
		t.Errorf("List after Close = %v", err)
	}
}

func TestSafeSegment(t *testing.T) {
	for in, want := range map[string]string{"nexmark-q5": "nexmark-q5", "my job/1": "my_job_1", "": "_", ".hidden": "_.hidden", "é": "_"} {
		got := objstore.SafeSegment(in)
		if got != want {
			t.Errorf("SafeSegment(%q) = %q, want %q", in, got, want)
		}
		if err := objstore.ValidateName(got); err != nil {
			t.Errorf("SafeSegment(%q) = %q is not a valid name: %v", in, got, err)
		}
	}
}
