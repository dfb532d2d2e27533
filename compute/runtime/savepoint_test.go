package runtime_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// listing returns every object name in st, sorted.
func listing(t *testing.T, st objstore.Storage) []string {
	t.Helper()
	names, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// TestStopWithSavepoint stops an unbounded job with a savepoint, starts the
// job again from it, and checks that the two runs together committed
// exactly the output of one run without interruption. It then checks the
// errors for savepoints that do not exist, are corrupt, or do not fit the
// job, and that those errors delete nothing.
func TestStopWithSavepoint(t *testing.T) {
	const rows, keys = 100_000, 13
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := objstore.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	spDir := "file://" + filepath.ToSlash(t.TempDir())
	sink := computetest.NewTxnCollector()
	var started []*runtime.Supervisor
	run := func(p *plan.Plan, ro runtime.RunOptions) (*runtime.Supervisor, error) {
		p.Nodes[len(p.Nodes)-1].Sink = sink
		ro.Storage = st
		sv, err := runtime.Run(ctx, p, runtime.Options{Allocator: mem, Logger: testLogger(t)}, ro)
		if err == nil {
			started = append(started, sv)
		}
		return sv, err
	}
	defer func() { // before the allocator check, also when the test fails
		for _, sv := range started {
			sv.Cancel()
			_ = sv.Wait()
		}
	}()

	// First run: the source never ends; stop it with a savepoint.
	sv, err := run(windowJobWith(t, rows, keys, "3600s", ", unbounded: true"), runtime.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := sv.StopWithSavepoint(ctx, spDir)
	if err != nil {
		t.Fatalf("stop with savepoint: %v", err)
	}
	if err := sv.Wait(); err != nil {
		t.Fatalf("stopped job: %v", err)
	}
	t.Logf("savepoint %s; %d rows committed before it", sp, len(sink.Committed()))

	// Bad restores fail before anything runs and delete nothing.
	before := listing(t, st)
	corrupt := filepath.Join(strings.TrimPrefix(spDir, "file://"), "corrupt")
	if err := os.MkdirAll(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "_metadata"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed := windowJob(t, rows, keys, "3600s")
	changed.Nodes[1].Signature = "a-different-window"
	for _, tc := range []struct {
		name string
		p    *plan.Plan
		url  string
		want string
	}{
		{"missing", windowJob(t, rows, keys, "3600s"), spDir + "/no-such-savepoint", "does not exist"},
		{"corrupt", windowJob(t, rows, keys, "3600s"), spDir + "/corrupt", "corrupt"},
		{"changed job", changed, sp, `"win"`},
	} {
		_, err := run(tc.p, runtime.RunOptions{FromSavepoint: tc.url})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one mentioning %s", tc.name, err, tc.want)
		}
	}
	if after := listing(t, st); !slices.Equal(before, after) {
		t.Errorf("failed restores changed the state folder:\nbefore %v\nafter  %v", before, after)
	}

	// Second run: from the savepoint to the end of the input.
	sv, err = run(windowJob(t, rows, keys, "3600s"), runtime.RunOptions{FromSavepoint: sp})
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.Wait(); err != nil {
		t.Fatalf("resumed job: %v", err)
	}
	got := windowRows(t, sink.Committed())
	if want := windowModel(rows, keys); !slices.Equal(got, want) {
		t.Fatalf("output of the two runs differs from one run: %d rows, want %d\n%s", len(got), len(want), firstDiff(got, want))
	}
	// The savepoint is never collected: its state is still there.
	md, err := checkpoint.Load(ctx, sp)
	if err != nil {
		t.Fatalf("the savepoint does not load after the job resumed from it: %v", err)
	}
	for _, h := range md.States {
		if _, err := st.Size(ctx, string(h.Handle.Data)); err != nil {
			t.Errorf("savepoint state %s: %v", h.Handle.Data, err)
		}
	}
}
