package objstoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/statestore/objstore"
)

// OpenFunc returns an empty Storage for one subtest; the suite closes it.
type OpenFunc func(t *testing.T) objstore.Storage

// RunConformance runs the behaviour every objstore backend must have:
// write/read/range read/list/delete/not found, abort leaves nothing, nothing
// visible before Finish, and conditional create (one winner among racing
// writers, ErrAlreadyExists for the others, the winner's bytes stored).
func RunConformance(t *testing.T, open OpenFunc) {
	run := func(name string, f func(t *testing.T, ctx context.Context, s objstore.Storage)) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			f(t, context.Background(), s)
		})
	}
	run("WriteRead", testWriteRead)
	run("EmptyObject", testEmptyObject)
	run("LargeObject", testLargeObject)
	run("NotFound", testNotFound)
	run("NothingVisibleBeforeFinish", testNothingVisibleBeforeFinish)
	run("AbortLeavesNothing", testAbortLeavesNothing)
	run("List", testList)
	run("Delete", testDelete)
	run("CreateIfAbsent", testCreateIfAbsent)
	run("CreateIfAbsentRace", testCreateIfAbsentRace)
	run("InvalidName", testInvalidName)
	run("ClosedWritable", testClosedWritable)
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// Put writes data under name with CreateObject, in chunks of chunk bytes.
func Put(t testing.TB, ctx context.Context, s objstore.Storage, name string, data []byte, chunk int) {
	t.Helper()
	w, err := s.CreateObject(ctx, name)
	if err != nil {
		t.Fatalf("CreateObject(%q): %v", name, err)
	}
	for len(data) > 0 {
		n := min(chunk, len(data))
		if err := w.Write(data[:n]); err != nil {
			w.Abort()
			t.Fatalf("Write(%q): %v", name, err)
		}
		data = data[n:]
	}
	if err := w.Finish(); err != nil {
		t.Fatalf("Finish(%q): %v", name, err)
	}
}

func checkContent(t testing.TB, ctx context.Context, s objstore.Storage, name string, want []byte) {
	t.Helper()
	got, err := s.ReadAll(ctx, name)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAll(%q): %d bytes, want %d bytes (equal prefix %d)", name, len(got), len(want), commonPrefix(got, want))
	}
	size, err := s.Size(ctx, name)
	if err != nil || size != int64(len(want)) {
		t.Fatalf("Size(%q) = %d, %v; want %d", name, size, err, len(want))
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func testWriteRead(t *testing.T, ctx context.Context, s objstore.Storage) {
	rng := rand.New(rand.NewPCG(1, 1))
	data := randBytes(rng, 100_000)
	Put(t, ctx, s, "sst/000001.sst", data, 7_000)
	checkContent(t, ctx, s, "sst/000001.sst", data)
	r, size, err := s.ReadObject(ctx, "sst/000001.sst")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if size != int64(len(data)) {
		t.Fatalf("ReadObject size = %d, want %d", size, len(data))
	}
	for range 20 {
		off := rng.IntN(len(data))
		n := rng.IntN(len(data) - off + 1)
		p := make([]byte, n)
		if err := r.ReadAt(ctx, p, int64(off)); err != nil {
			t.Fatalf("ReadAt(%d bytes at %d): %v", n, off, err)
		}
		if !bytes.Equal(p, data[off:off+n]) {
			t.Fatalf("ReadAt(%d bytes at %d) returned the wrong bytes", n, off)
		}
	}
	// Reads past the end fail instead of returning short.
	for _, tc := range []struct{ off, n int }{{len(data) - 10, 11}, {len(data), 1}, {-1, 1}} {
		err := r.ReadAt(ctx, make([]byte, tc.n), int64(tc.off))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadAt(%d bytes at %d) of a %d-byte object = %v, want io.ErrUnexpectedEOF", tc.n, tc.off, len(data), err)
		}
	}
	if err := r.ReadAt(ctx, nil, int64(len(data))); err != nil {
		t.Errorf("zero-length ReadAt at the end = %v", err)
	}
	// Concurrent range reads share the Readable.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := i * 10_000
			p := make([]byte, 5_000)
			if err := r.ReadAt(ctx, p, int64(off)); err != nil || !bytes.Equal(p, data[off:off+5_000]) {
				t.Errorf("concurrent ReadAt at %d: %v", off, err)
			}
		}()
	}
	wg.Wait()
	// CreateObject replaces an existing object once finished.
	Put(t, ctx, s, "sst/000001.sst", []byte("replaced"), 100)
	checkContent(t, ctx, s, "sst/000001.sst", []byte("replaced"))
}

func testEmptyObject(t *testing.T, ctx context.Context, s objstore.Storage) {
	Put(t, ctx, s, "empty", nil, 1)
	checkContent(t, ctx, s, "empty", []byte{})
	if err := s.CreateIfAbsent(ctx, "empty2", nil); err != nil {
		t.Fatal(err)
	}
	checkContent(t, ctx, s, "empty2", []byte{})
}

func testLargeObject(t *testing.T, ctx context.Context, s objstore.Storage) {
	// Larger than S3's 5 MiB part and Azure's default block: exercises
	// multipart uploads.
	data := randBytes(rand.New(rand.NewPCG(2, 2)), 6<<20+12345)
	Put(t, ctx, s, "big/object", data, 1<<20)
	checkContent(t, ctx, s, "big/object", data)
	r, _, err := s.ReadObject(ctx, "big/object")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 4096)
	off := len(data) - 5000
	if err := r.ReadAt(ctx, p, int64(off)); err != nil || !bytes.Equal(p, data[off:off+4096]) {
		t.Fatalf("ReadAt near the end of a large object: %v", err)
	}
}

func testNotFound(t *testing.T, ctx context.Context, s objstore.Storage) {
	if _, _, err := s.ReadObject(ctx, "missing"); !objstore.IsNotFound(err) {
		t.Errorf("ReadObject(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.ReadAll(ctx, "missing"); !objstore.IsNotFound(err) {
		t.Errorf("ReadAll(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Size(ctx, "dir/missing"); !objstore.IsNotFound(err) {
		t.Errorf("Size(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "missing"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	names, err := s.List(ctx, "")
	if err != nil || len(names) != 0 {
		t.Errorf("List of an empty storage = %q, %v", names, err)
	}
}

func testNothingVisibleBeforeFinish(t *testing.T, ctx context.Context, s objstore.Storage) {
	w, err := s.CreateObject(ctx, "pending/obj")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("some bytes")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Size(ctx, "pending/obj"); !objstore.IsNotFound(err) {
		t.Errorf("Size before Finish = %v, want ErrNotFound", err)
	}
	if names, _ := s.List(ctx, ""); len(names) != 0 {
		t.Errorf("List before Finish = %q, want nothing", names)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	checkContent(t, ctx, s, "pending/obj", []byte("some bytes"))
}

func testAbortLeavesNothing(t *testing.T, ctx context.Context, s objstore.Storage) {
	for _, n := range []int{0, 10, 6 << 20} {
		name := fmt.Sprintf("aborted/%d", n)
		w, err := s.CreateObject(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if err := w.Write(make([]byte, n)); err != nil {
				t.Fatal(err)
			}
		}
		w.Abort()
		w.Abort() // idempotent
		if _, err := s.Size(ctx, name); !objstore.IsNotFound(err) {
			t.Errorf("Size after Abort (%d bytes written) = %v, want ErrNotFound", n, err)
		}
	}
	names, err := s.List(ctx, "")
	if err != nil || len(names) != 0 {
		t.Errorf("List after aborted writes = %q, %v; want nothing", names, err)
	}
}

func testList(t *testing.T, ctx context.Context, s objstore.Storage) {
	// No name is a folder of another (see the objstore package doc).
	all := []string{"a", "a-b", "a.c/b", "a.c/d/e", "a.c/d2", "b/x.sst", "b/y.sst", "bb", "manifest/000009", "manifest/000010"}
	for _, i := range rand.New(rand.NewPCG(3, 3)).Perm(len(all)) {
		Put(t, ctx, s, all[i], []byte(all[i]), 100)
	}
	for _, prefix := range []string{"", "a", "a.c/", "a.c/d", "b", "b/", "manifest/0000", "c", "b/x."} {
		var want []string
		for _, n := range all {
			if len(n) >= len(prefix) && n[:len(prefix)] == prefix {
				want = append(want, n)
			}
		}
		got, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func testDelete(t *testing.T, ctx context.Context, s objstore.Storage) {
	Put(t, ctx, s, "x/1", []byte("1"), 1)
	Put(t, ctx, s, "x/2", []byte("2"), 1)
	if err := s.Delete(ctx, "x/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(ctx, "x/1"); !objstore.IsNotFound(err) {
		t.Errorf("ReadAll after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "x/1"); err != nil {
		t.Errorf("second Delete = %v, want nil", err)
	}
	if names, err := s.List(ctx, "x/"); err != nil || !slices.Equal(names, []string{"x/2"}) {
		t.Errorf("List after Delete = %q, %v", names, err)
	}
	checkContent(t, ctx, s, "x/2", []byte("2"))
}

func testCreateIfAbsent(t *testing.T, ctx context.Context, s objstore.Storage) {
	if err := s.CreateIfAbsent(ctx, "manifest/000001", []byte("first")); err != nil {
		t.Fatal(err)
	}
	err := s.CreateIfAbsent(ctx, "manifest/000001", []byte("second"))
	if !errors.Is(err, objstore.ErrAlreadyExists) {
		t.Fatalf("second CreateIfAbsent = %v, want ErrAlreadyExists", err)
	}
	checkContent(t, ctx, s, "manifest/000001", []byte("first"))
	Put(t, ctx, s, "plain", []byte("plain"), 10)
	if err := s.CreateIfAbsent(ctx, "plain", []byte("x")); !errors.Is(err, objstore.ErrAlreadyExists) {
		t.Fatalf("CreateIfAbsent over a CreateObject object = %v, want ErrAlreadyExists", err)
	}
	checkContent(t, ctx, s, "plain", []byte("plain"))
	// After a delete the name is free again.
	if err := s.Delete(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateIfAbsent(ctx, "plain", []byte("again")); err != nil {
		t.Fatalf("CreateIfAbsent after Delete = %v", err)
	}
	checkContent(t, ctx, s, "plain", []byte("again"))
}

func testCreateIfAbsentRace(t *testing.T, ctx context.Context, s objstore.Storage) {
	const writers = 6
	for round := range 3 {
		name := fmt.Sprintf("pointer/%d", round)
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.CreateIfAbsent(ctx, name, fmt.Appendf(nil, "writer-%d-%s", i, bytes.Repeat([]byte{'x'}, 1000*i)))
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
				}
				winner = i
			case errors.Is(err, objstore.ErrAlreadyExists):
			default:
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won: %v", round, errs)
		}
		checkContent(t, ctx, s, name, fmt.Appendf(nil, "writer-%d-%s", winner, bytes.Repeat([]byte{'x'}, 1000*winner)))
	}
}

func testInvalidName(t *testing.T, ctx context.Context, s objstore.Storage) {
	for _, name := range []string{"", "/abs", "a//b", "a/", ".hidden", "a/.tmp", "a/../b", "sp ace", "ü"} {
		if _, err := s.CreateObject(ctx, name); !errors.Is(err, objstore.ErrInvalidName) {
			t.Errorf("CreateObject(%q) = %v, want ErrInvalidName", name, err)
		}
		if err := s.CreateIfAbsent(ctx, name, nil); !errors.Is(err, objstore.ErrInvalidName) {
			t.Errorf("CreateIfAbsent(%q) = %v, want ErrInvalidName", name, err)
		}
		if _, err := s.ReadAll(ctx, name); !errors.Is(err, objstore.ErrInvalidName) {
			t.Errorf("ReadAll(%q) = %v, want ErrInvalidName", name, err)
		}
	}
}

func testClosedWritable(t *testing.T, ctx context.Context, s objstore.Storage) {
	w, err := s.CreateObject(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("x")); !errors.Is(err, objstore.ErrClosed) {
		t.Errorf("Write after Finish = %v, want ErrClosed", err)
	}
	if err := w.Finish(); !errors.Is(err, objstore.ErrClosed) {
		t.Errorf("second Finish = %v, want ErrClosed", err)
	}
	w.Abort() // no-op after Finish
	checkContent(t, ctx, s, "w", []byte{})
}
