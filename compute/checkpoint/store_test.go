package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// storages opens the job folder of each backend the store is tested on.
func storages(t *testing.T) map[string]objstore.Storage {
	ctx := context.Background()
	out := map[string]objstore.Storage{}
	for _, u := range []string{"mem://", "file://" + filepath.ToSlash(t.TempDir()) + "?prefix=job/"} {
		st, err := objstore.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[strings.SplitN(u, ":", 2)[0]] = st
	}
	return out
}

func testMetadata(id uint64, kind Kind) *Metadata {
	return &Metadata{
		Job: "job", ID: id, Kind: kind, Attempt: 2,
		TriggeredAt: t0, CompletedAt: t0.Add(time.Second),
		MaxParallelism: 8, Operators: testOperators, StateBackend: "lsm mem://",
		Positions: []SplitPosition{{Node: "src", Split: "s1", Position: connectors.Position("p1")}, {Node: "src", Split: "s0"}},
		States: []StateHandle{{Node: "agg", Subtask: 1, Handle: statestore.Handle{Backend: "lsm", URL: "u", Shard: "agg-1", Checkpoint: id,
			KeyGroups: statestore.KeyGroupRange{Start: 4, End: 8}, Data: []byte{1, 2}}}},
		Txns: []SinkTxn{{Node: "sink", Subtask: 0, Checkpoint: id, Txn: connectors.Txn(`{"f":1}`)}},
	}
}

func TestStoreWriteListLatest(t *testing.T) {
	ctx := context.Background()
	for name, st := range storages(t) {
		t.Run(name, func(t *testing.T) {
			s := NewStore(st, name)
			if md, err := s.Latest(ctx); md != nil || err != nil {
				t.Fatalf("empty store: Latest = %v, %v", md, err)
			}
			for _, id := range []uint64{3, 1, 12} {
				if err := s.Write(ctx, testMetadata(id, Periodic)); err != nil {
					t.Fatal(err)
				}
			}
			// A second publication of an id fails and leaves the first.
			other := testMetadata(3, Savepoint)
			if err := s.Write(ctx, other); !errors.Is(err, objstore.ErrAlreadyExists) {
				t.Fatalf("second write of 3: %v, want ErrAlreadyExists", err)
			}
			ids, err := s.List(ctx)
			if err != nil || !slices.Equal(ids, []uint64{1, 3, 12}) {
				t.Fatalf("List = %v, %v", ids, err)
			}
			md, err := s.Read(ctx, 3)
			if err != nil || md.Kind != Periodic {
				t.Fatalf("Read(3) = %+v, %v", md, err)
			}
			latest, err := s.Latest(ctx)
			if err != nil || latest.ID != 12 {
				t.Fatalf("Latest = %+v, %v", latest, err)
			}
			// Round trip: what is read equals what was written (sorted).
			want := testMetadata(12, Periodic)
			want.FormatVersion = FormatVersion
			want.sort()
			if a, b := fmt.Sprintf("%+v", latest), fmt.Sprintf("%+v", want); a != b {
				t.Fatalf("read back\n%s\nwant\n%s", a, b)
			}
			if err := s.Delete(ctx, 12); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, 12); err != nil {
				t.Fatalf("deleting a missing checkpoint: %v", err)
			}
			if _, err := s.Read(ctx, 12); !objstore.IsNotFound(err) {
				t.Fatalf("Read of a deleted checkpoint: %v", err)
			}
			if latest, _ := s.Latest(ctx); latest.ID != 3 {
				t.Fatalf("Latest after delete = %d", latest.ID)
			}
		})
	}
}

func TestStoreLatestCorrupt(t *testing.T) {
	ctx := context.Background()
	for name, st := range storages(t) {
		t.Run(name, func(t *testing.T) {
			s := NewStore(st, name)
			if err := s.Write(ctx, testMetadata(1, Periodic)); err != nil {
				t.Fatal(err)
			}
			v2 := strings.Replace(string(mustEncode(t, testMetadata(3, Periodic))), `"format_version": 1`, `"format_version": 2`, 1)
			for _, tc := range []struct {
				id   uint64
				data string
				want string
			}{
				{2, `{"format_version": 1, "job": "job", "id": 2, "kind": "checkpoint", "max_paral`, "not JSON"},
				{3, v2, "format_version 2; this build reads version 1"},
				{4, string(mustEncode(t, testMetadata(9, Periodic))), "it holds id 9"},
				{5, `{"format_version": 1, "job": "", "id": 5, "kind": "weird", "max_parallelism": 1}`, `kind "weird"`},
			} {
				name := checkpointName(tc.id)
				if err := st.CreateIfAbsent(ctx, name, []byte(tc.data)); err != nil {
					t.Fatal(err)
				}
				_, err := s.Latest(ctx)
				if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name) {
					t.Fatalf("Latest with a corrupt newest checkpoint %d: %v; want ErrCorrupt naming %s and %q", tc.id, err, name, tc.want)
				}
			}
			// Nothing was deleted.
			ids, err := s.List(ctx)
			if err != nil || !slices.Equal(ids, []uint64{1, 2, 3, 4, 5}) {
				t.Fatalf("List after errors = %v, %v", ids, err)
			}
		})
	}
}

func mustEncode(t *testing.T, md *Metadata) []byte {
	data, err := md.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestNextAttemptRace has several claimers race for attempt numbers: each
// number is claimed exactly once, and they are 1..n.
func TestNextAttemptRace(t *testing.T) {
	ctx := context.Background()
	for name, st := range storages(t) {
		t.Run(name, func(t *testing.T) {
			const claimers, each = 4, 10
			var mu sync.Mutex
			var got []uint64
			var wg sync.WaitGroup
			for range claimers {
				wg.Go(func() {
					s := NewStore(st, name) // a Store per process
					for range each {
						n, err := s.NextAttempt(ctx)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						got = append(got, n)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			slices.Sort(got)
			for i, n := range got {
				if n != uint64(i+1) {
					t.Fatalf("claimed %v; want each of 1..%d once", got, claimers*each)
				}
			}
		})
	}
}

func TestMaxIDAndReservations(t *testing.T) {
	ctx := context.Background()
	for name, st := range storages(t) {
		t.Run(name, func(t *testing.T) {
			s := NewStore(st, name)
			if n, err := s.MaxID(ctx); n != 0 || err != nil {
				t.Fatalf("MaxID of an empty store = %d, %v", n, err)
			}
			if err := s.Write(ctx, testMetadata(7, Periodic)); err != nil {
				t.Fatal(err)
			}
			if n, _ := s.MaxID(ctx); n != 7 {
				t.Fatalf("MaxID = %d, want 7", n)
			}
			for _, up := range []uint64{100, 200} {
				if err := s.ReserveIDs(ctx, up); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.ReserveIDs(ctx, 200); !errors.Is(err, objstore.ErrAlreadyExists) {
				t.Fatalf("reserving 200 twice: %v", err)
			}
			if n, _ := s.MaxID(ctx); n != 200 {
				t.Fatalf("MaxID = %d, want 200", n)
			}
			names, _ := st.List(ctx, reservedIDsDir)
			if len(names) != 1 {
				t.Fatalf("reservations left: %v, want only the newest", names)
			}
			if err := s.Write(ctx, testMetadata(300, Final)); err != nil {
				t.Fatal(err)
			}
			if n, _ := s.MaxID(ctx); n != 300 {
				t.Fatalf("MaxID = %d, want 300", n)
			}
		})
	}
}

// treeOf returns every file under dir with its contents.
func treeOf(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			out[p+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSavepointRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.ToSlash(t.TempDir())
	mem, _ := objstore.Open(ctx, "mem://")
	defer mem.Close()
	s := NewStore(mem, "mem://")
	md := testMetadata(42, Savepoint)
	md.Job = "my job/1"
	for _, target := range []string{"file://" + dir + "/sp", "file://" + dir + "?prefix=other/sp/"} {
		u, err := s.WriteSavepoint(ctx, target, md)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(u, "savepoint-my_job_1-42") {
			t.Fatalf("savepoint URL %q does not name its folder", u)
		}
		for _, load := range []string{u, strings.TrimSuffix(u, "/") + "/", metadataURL(t, u)} {
			got, err := Load(ctx, load)
			if err != nil {
				t.Fatalf("Load(%q): %v", load, err)
			}
			if got.ID != 42 || got.Job != "my job/1" || got.Kind != Savepoint || len(got.States) != 1 {
				t.Fatalf("Load(%q) = %+v", load, got)
			}
		}
		if _, err := s.WriteSavepoint(ctx, target, md); !errors.Is(err, objstore.ErrAlreadyExists) {
			t.Fatalf("writing a savepoint twice: %v, want ErrAlreadyExists", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sp", "savepoint-my_job_1-42", "_metadata")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other", "sp", "savepoint-my_job_1-42", "_metadata")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteSavepoint(ctx, "not a url", md); err == nil || !strings.Contains(err.Error(), "not a storage URL") {
		t.Fatalf("bad savepoint dir: %v", err)
	}
}

// metadataURL appends /_metadata to a folder URL, in its path or prefix.
func metadataURL(t *testing.T, folder string) string {
	u, err := url.Parse(folder)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Has("prefix") {
		q.Set("prefix", q.Get("prefix")+metadataName)
		u.RawQuery = q.Encode()
		return u.String()
	}
	u.Path += "/" + metadataName
	return u.String()
}

// TestLoadErrors checks that every bad savepoint URL gets an error naming
// it and saying what is wrong, and that nothing is created or deleted.
func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.ToSlash(root)
	write := func(folder, data string) {
		if err := os.MkdirAll(filepath.Join(root, folder), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, folder, metadataName), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := string(mustEncode(t, testMetadata(5, Savepoint)))
	write("corrupt", good[:len(good)/2])
	write("v9", strings.Replace(good, `"format_version": 1`, `"format_version": 9`, 1))
	write("bad-state", strings.Replace(good, `"subtask": 1`, `"subtask": 5`, 1))
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := treeOf(t, root)
	for _, tc := range []struct {
		url  string
		want []string
	}{
		{"file://" + dir + "/nope/savepoint-x-1", []string{"does not exist"}},
		{"file://" + dir + "/nope/savepoint-x-1/_metadata", []string{"does not exist"}},
		{"file://" + dir + "?prefix=nope/", []string{"does not exist"}},
		{"file://" + dir + "/empty", []string{"does not exist", "no _metadata object"}},
		{"file://" + dir + "/corrupt", []string{"corrupt", "not JSON"}},
		{"file://" + dir + "/v9/_metadata", []string{"format_version 9; this build reads version 1"}},
		{"file://" + dir + "/bad-state", []string{`state handle of node "agg": subtask 5 is not in [0, parallelism 2)`}},
		{"mem://", []string{"does not exist"}},
		{"nope", []string{"not a storage URL"}},
		{"gopher://x/y", []string{"unsupported scheme"}},
	} {
		_, err := Load(ctx, tc.url)
		if err == nil {
			t.Fatalf("Load(%q) succeeded", tc.url)
		}
		if !strings.Contains(err.Error(), tc.url) {
			t.Errorf("Load(%q): error %q does not name the URL", tc.url, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%q): error %q does not say %q", tc.url, err, w)
			}
		}
	}
	if after := treeOf(t, root); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("Load changed the folder:\nbefore %v\nafter  %v", before, after)
	}
}

func TestCompatible(t *testing.T) {
	md := testMetadata(9, Periodic)
	md.Operators = []Operator{
		{ID: "src", Kind: "source", Parallelism: 2},
		{ID: "agg", Kind: "aggregate", Parallelism: 2, Signature: "agg(k)", Stateful: true},
		{ID: "win", Kind: "window", Parallelism: 2, Signature: "tumble(1m)", Stateful: true},
		{ID: "map", Kind: "map", Parallelism: 2},
		{ID: "sink", Kind: "sink", Parallelism: 2},
	}
	same := slices.Clone(md.Operators)
	for _, tc := range []struct {
		name   string
		ops    func() []Operator
		maxPar int
		want   []string // nil: compatible
	}{
		{"same", func() []Operator { return same }, 8, nil},
		{"rescaled, stateless changed, new stateful node", func() []Operator {
			ops := slices.Clone(same)
			ops[1].Parallelism = 8
			ops[3] = Operator{ID: "filter", Kind: "filter", Parallelism: 1}
			return append(ops, Operator{ID: "join", Kind: "join", Parallelism: 4, Signature: "j", Stateful: true})
		}, 8, nil},
		{"everything wrong", func() []Operator {
			ops := slices.Clone(same)
			ops[0].Kind = "file-source"               // src has positions in md
			ops[1].Signature = "agg(k, v)"            // agg
			ops[2] = Operator{ID: "win", Kind: "map"} // win: kind, signature, no longer stateful
			return slices.Delete(ops, 3, 4)           // map is stateless: may go
		}, 16, []string{
			"max parallelism is 8 in checkpoint 9 and 16 in the job",
			`node "src": kind is "source" in checkpoint 9 and "file-source" in the job`,
			`node "agg": state signature is "agg(k)" in checkpoint 9 and "agg(k, v)" in the job`,
			`node "win": kind is "window" in checkpoint 9 and "map" in the job`,
			`node "win": state signature is "tumble(1m)" in checkpoint 9 and "" in the job`,
			`node "win" has state in checkpoint 9 but is not stateful in the job`,
		}},
		{"stateful node dropped", func() []Operator {
			return slices.DeleteFunc(slices.Clone(same), func(o Operator) bool { return o.ID == "win" || o.ID == "src" })
		}, 8, []string{
			`node "win" (window) has state in checkpoint 9 but is not in the job; its state would be lost`,
			`node "src" (source) has state in checkpoint 9 but is not in the job`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := md.Compatible(tc.ops(), tc.maxPar)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("compatible, want mismatches")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tc.want) {
				t.Errorf("%d mismatches reported, want %d:\n%v", n, len(tc.want), err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Interval: time.Millisecond, Timeout: -1, MinPause: -time.Second, MaxConcurrent: -1, TolerableFailures: -2, Retained: -3}
	c.EnsureDefaults()
	err := c.Validate()
	for _, w := range []string{"interval = 1ms", "timeout = -1ns", "min_pause = -1s", "max_concurrent = -1", "tolerable_failures = -2", "retained = -3"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %q", err, w)
		}
	}
	var d Config
	d.EnsureDefaults()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Timeout != 10*time.Minute || d.MaxConcurrent != 1 || d.Retained != 1 || d.Interval != 0 {
		t.Fatalf("defaults %+v", d)
	}
	_, err = New(Config{}, Deps{Tasks: []string{"a", "a"}, Operators: []Operator{{ID: "x", Parallelism: 3}}, MaxParallelism: 2})
	for _, w := range []string{`Deps.Operators: operator "x": parallelism 3 is not in [1, max_parallelism 2]`, "Deps.Job is required", "Deps.Store is required", "Deps.Inject is required", "Deps.Commit is required", `Deps.Tasks lists "a" twice`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("New: error %v does not say %q", err, w)
		}
	}
}
