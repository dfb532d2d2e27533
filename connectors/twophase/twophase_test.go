package twophase_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/connectors/twophase"
)

var ctx = context.Background()

func sc(job string, attempt uint64, subtask int) connectors.SinkContext {
	return connectors.SinkContext{Job: job, Attempt: attempt, Subtask: subtask, Parallelism: subtask + 1}
}

func writeFile(t *testing.T, w *twophase.Writer, folder, content string) {
	t.Helper()
	f, err := w.Create(folder, ".txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, content); err != nil {
		t.Fatal(err)
	}
	if f.Size() != int64(len(content)) {
		t.Fatalf("Size() = %d, want %d", f.Size(), len(content))
	}
	if err := f.Finish(ctx); err != nil {
		t.Fatal(err)
	}
}

// visible returns the final (non-pending) objects and their contents.
func visible(t *testing.T, s twophase.Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, name := range list(t, s, "") {
		if strings.HasPrefix(name, twophase.PendingDir) {
			continue
		}
		out[name] = read(t, s, name)
	}
	return out
}

func read(t *testing.T, s twophase.Store, name string) string {
	t.Helper()
	r, ok := s.(readable)
	if !ok {
		t.Fatalf("store %T cannot read", s)
	}
	v, err := r.read(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

func newMemStore(t *testing.T) readable {
	return backends()["mem"](t)
}

type txnFiles struct {
	Files []struct{ Pending, Final string } `json:"files"`
}

func decode(t *testing.T, txn connectors.Txn) txnFiles {
	t.Helper()
	var d txnFiles
	if err := json.Unmarshal(txn, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestCommitVisibility checks that nothing is visible before Commit, the
// final names, and that a second Commit changes nothing.
func TestCommitVisibility(t *testing.T) {
	s := newMemStore(t)
	defer s.Close()
	w := twophase.NewWriter(s, sc("my job/x", 4, 2))
	if txn, err := w.PreCommit(1); txn != nil || err != nil {
		t.Fatalf("PreCommit with no files = %q, %v; want nil", txn, err)
	}
	writeFile(t, w, "", "a")
	writeFile(t, w, "k=1/", "b")
	txn, err := w.PreCommit(7)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, w, "k=1/", "c")
	txn2, err := w.PreCommit(8)
	if err != nil {
		t.Fatal(err)
	}
	if got := visible(t, s); len(got) != 0 {
		t.Fatalf("visible before Commit: %v", got)
	}
	for _, name := range list(t, s, "") {
		if !strings.HasPrefix(name, "_pending/my%20job%2Fx/4/2-") || !strings.HasSuffix(name, ".txt.inprogress") {
			t.Errorf("pending object %q", name)
		}
	}
	c := twophase.NewCommitter(s)
	for range 2 {
		if err := c.Commit(ctx, []connectors.Txn{txn}); err != nil {
			t.Fatal(err)
		}
		if got := visible(t, s); !maps.Equal(got, map[string]string{run(t, "part-2-4-7-0", txn) + ".txt": "a", "k=1/" + run(t, "part-2-4-7-1", txn) + ".txt": "b"}) {
			t.Fatalf("after Commit: %v", got)
		}
	}
	if err := c.Commit(ctx, []connectors.Txn{txn, txn2}); err != nil {
		t.Fatal(err)
	}
	if got := visible(t, s); len(got) != 3 || got["k=1/"+run(t, "part-2-4-8-2", txn2)+".txt"] != "c" {
		t.Fatalf("after the second transaction: %v", got)
	}
	if got := list(t, s, twophase.PendingDir); len(got) != 0 {
		t.Fatalf("pending objects left: %q", got)
	}
}

// run appends to name the writer's run token, read from a final name of
// txn, checking that the token is 8 hex digits.
func run(t *testing.T, name string, txn connectors.Txn) string {
	t.Helper()
	final := decode(t, txn).Files[0].Final
	i := strings.LastIndexByte(final, '-')
	tok := strings.TrimSuffix(final[i+1:], ".txt")
	if len(tok) != 8 || strings.Trim(tok, "0123456789abcdef") != "" {
		t.Fatalf("final name %q: run token %q", final, tok)
	}
	return name + "-" + tok
}

// TestCommitNow checks the names of a job without checkpoints, and that a
// second run replaces the first one's files.
func TestCommitNow(t *testing.T) {
	s := newMemStore(t)
	defer s.Close()
	c := twophase.NewCommitter(s)
	for run := range 2 {
		w := twophase.NewWriter(s, sc("j", uint64(run), 0))
		writeFile(t, w, "", fmt.Sprint("x", run))
		writeFile(t, w, "", fmt.Sprint("y", run))
		writeFile(t, w, "p=1/", fmt.Sprint("z", run))
		if err := w.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
		writeFile(t, w, "", fmt.Sprint("late", run))
		if err := w.Commit(ctx, c); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"part-0.txt": fmt.Sprint("x", run), "part-0-1.txt": fmt.Sprint("y", run), "p=1/part-0.txt": fmt.Sprint("z", run), "part-0-2.txt": fmt.Sprint("late", run)}
		if got := visible(t, s); !maps.Equal(got, want) {
			t.Fatalf("run %d: %v, want %v", run, got, want)
		}
	}
}

// TestCommitCrashStates checks Commit from every state a crash can leave a
// file in: pending only, pending and final (a bucket's copy done, its
// delete not), final only; and the error when both are missing.
func TestCommitCrashStates(t *testing.T) {
	for name, open := range backends() {
		if name == "azblob" || name == "s3" {
			continue // TestStore covers their Publish; this is about Commit's logic
		}
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			w := twophase.NewWriter(s, sc("j", 1, 0))
			for i := range 3 {
				writeFile(t, w, "", fmt.Sprint("content", i))
			}
			txn, err := w.PreCommit(1)
			if err != nil {
				t.Fatal(err)
			}
			d := decode(t, txn)
			// File 1: copied but not deleted. File 2: already published.
			put(t, s, d.Files[1].Final, "content1")
			if err := s.Publish(ctx, d.Files[2].Final, d.Files[2].Pending); err != nil {
				t.Fatal(err)
			}
			c := twophase.NewCommitter(s)
			if err := c.Commit(ctx, []connectors.Txn{txn}); err != nil {
				t.Fatal(err)
			}
			if got := list(t, s, ""); !slices.Equal(got, []string{d.Files[0].Final, d.Files[1].Final, d.Files[2].Final}) {
				t.Fatalf("after Commit: %q", got)
			}
			// Both missing: the rows are lost, and Commit says so.
			if err := s.Delete(ctx, d.Files[0].Final); err != nil {
				t.Fatal(err)
			}
			err = c.Commit(ctx, []connectors.Txn{txn})
			if !errors.Is(err, twophase.ErrMissing) || !strings.Contains(err.Error(), d.Files[0].Final) {
				t.Fatalf("Commit with a file lost: %v", err)
			}
		})
	}
}

func TestCommitBadTxn(t *testing.T) {
	s := newMemStore(t)
	defer s.Close()
	c := twophase.NewCommitter(s)
	for _, tc := range []struct{ txn, want string }{
		{`garbage`, "not a twophase transaction"},
		{`{"v":9,"files":[]}`, "version 9"},
		{`{"v":1,"files":[{"pending":"_pending/j/1/x","final":"../etc/passwd"}]}`, `"../etc/passwd"`},
		{`{"v":1,"files":[{"pending":"outside","final":"a"}]}`, "pending objects live under _pending/"},
	} {
		err := c.Commit(ctx, []connectors.Txn{[]byte(`{"v":1,"files":[]}`), []byte(tc.txn)})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "transaction 2 of 2") {
			t.Errorf("Commit(%s) = %v, want %q", tc.txn, err, tc.want)
		}
	}
}

// TestCommitFaultAtEveryStep fails (before it runs) or crashes (after it
// ran) the k-th store operation of a Commit, for every k, then commits
// again without faults: the result is always the same three files.
func TestCommitFaultAtEveryStep(t *testing.T) {
	for _, after := range []bool{false, true} {
		for k := 0; ; k++ {
			base := newMemStore(t)
			var n int
			var mu sync.Mutex
			armed := false
			s := twophase.WithFaults(base, func(_ context.Context, op twophase.Op, name string, done bool) error {
				mu.Lock()
				defer mu.Unlock()
				if !armed || done != after {
					return nil
				}
				n++
				if n-1 == k {
					return fmt.Errorf("injected fault at %s %s", op, name)
				}
				return nil
			})
			w := twophase.NewWriter(s, sc("j", 1, 0))
			for i := range 3 {
				writeFile(t, w, fmt.Sprintf("p=%d/", i%2), fmt.Sprint("content", i))
			}
			txn, err := w.PreCommit(1)
			if err != nil {
				t.Fatal(err)
			}
			c := twophase.NewCommitter(s)
			c.Parallelism = 1
			mu.Lock()
			armed = true
			mu.Unlock()
			err = c.Commit(ctx, []connectors.Txn{txn})
			mu.Lock()
			armed = false
			faulted := n > k
			mu.Unlock()
			if !faulted {
				if err != nil {
					t.Fatal(err)
				}
				if k < 6 {
					t.Fatalf("a commit of 3 files took only %d operations", k)
				}
				base.Close()
				break
			}
			if err == nil && !after {
				t.Fatalf("fault before operation %d: Commit succeeded", k)
			}
			if err := c.Commit(ctx, []connectors.Txn{txn}); err != nil {
				t.Fatalf("retry after a fault at operation %d (after=%v): %v", k, after, err)
			}
			want := map[string]string{"p=0/" + run(t, "part-0-1-1-0", txn) + ".txt": "content0", "p=1/" + run(t, "part-0-1-1-1", txn) + ".txt": "content1", "p=0/" + run(t, "part-0-1-1-2", txn) + ".txt": "content2"}
			if got := visible(t, base); !maps.Equal(got, want) {
				t.Fatalf("fault at operation %d (after=%v): %v, want %v", k, after, got, want)
			}
			if got := list(t, base, twophase.PendingDir); len(got) != 0 {
				t.Fatalf("pending objects left: %q", got)
			}
			base.Close()
		}
	}
}

// TestRecover checks that Recover commits the given transactions and
// removes every other pending object of the job, and only of the job.
func TestRecover(t *testing.T) {
	for name, open := range backends() {
		if name == "azblob" {
			continue // covered by TestStore; Azurite is slow to start
		}
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			c := twophase.NewCommitter(s)
			w := twophase.NewWriter(s, sc("job", 1, 0))
			other := twophase.NewWriter(s, sc("job2", 1, 0))
			writeFile(t, other, "", "other job")
			writeFile(t, w, "", "c1")
			t1, _ := w.PreCommit(1)
			if err := c.Commit(ctx, []connectors.Txn{t1}); err != nil {
				t.Fatal(err)
			}
			writeFile(t, w, "", "c2")
			t2, _ := w.PreCommit(2) // checkpoint 2 completes; its commit never runs
			writeFile(t, w, "", "c3")
			t3, _ := w.PreCommit(3) // checkpoint 3 never completes
			_ = t3
			writeFile(t, w, "", "open") // finished, in no transaction
			f, err := w.Create("", ".txt")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(f, "never finished"); err != nil {
				t.Fatal(err)
			}
			// The process dies here: f is neither finished nor aborted.
			for range 2 { // Recover is idempotent
				if err := c.Recover(ctx, connectors.RecoverContext{Job: "job", Txns: []connectors.Txn{t1, t2}}); err != nil {
					t.Fatal(err)
				}
				want := map[string]string{run(t, "part-0-1-1-0", t1) + ".txt": "c1", run(t, "part-0-1-2-1", t2) + ".txt": "c2"}
				if got := visible(t, s); !maps.Equal(got, want) {
					t.Fatalf("after Recover: %v, want %v", got, want)
				}
				if got := list(t, s, twophase.JobPrefix("job")); len(got) != 0 {
					t.Fatalf("pending objects of the job left: %q", got)
				}
				if got := list(t, s, twophase.JobPrefix("job2")); len(got) != 1 {
					t.Fatalf("pending objects of another job: %q", got)
				}
			}
			f.Abort()
		})
	}
}

// TestModel runs random writes, checkpoints, commits and crashes against a
// store that fails random operations, and checks at the end that exactly
// the files of completed checkpoints are visible, each once, with its
// content, under its final name.
func TestModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			base := newMemStore(t)
			defer base.Close()
			var mu sync.Mutex
			faultRate := 0.0
			frng := rand.New(rand.NewPCG(seed, 8))
			s := twophase.WithFaults(base, func(_ context.Context, op twophase.Op, name string, done bool) error {
				mu.Lock()
				defer mu.Unlock()
				if frng.Float64() < faultRate {
					return fmt.Errorf("injected fault at %s %s (done=%v)", op, name, done)
				}
				return nil
			})
			setFaults := func(r float64) { mu.Lock(); faultRate = r; mu.Unlock() }
			c := twophase.NewCommitter(s)
			var (
				attempt    uint64 = 1
				ckpt       uint64
				contents   = map[string]string{} // pending name -> content
				carried    []connectors.Txn      // pre-committed, not known committed
				completed  []connectors.Txn      // the latest completed checkpoint's transactions
				want       = map[string]string{} // final name -> content
				w          = twophase.NewWriter(s, sc("j", attempt, 0))
				restart    func()
				fileNumber int
			)
			restart = func() {
				attempt++
				for try := 0; ; try++ {
					if try == 1000 {
						t.Fatal("Recover failed 1000 times in a row")
					}
					setFaults(0.05)
					err := c.Recover(ctx, connectors.RecoverContext{Job: "j", Txns: completed})
					setFaults(0)
					if err == nil {
						break
					}
				}
				carried = nil // Recover committed the restored checkpoint's transactions
				w = twophase.NewWriter(s, sc("j", attempt, 0))
			}
			for range 60 {
				switch r := rng.IntN(10); {
				case r < 5: // write a file
					setFaults(0.05)
					f, err := w.Create(fmt.Sprintf("p=%d/", rng.IntN(3)), ".txt")
					if err != nil {
						setFaults(0)
						restart()
						continue
					}
					content := fmt.Sprint("file", fileNumber)
					fileNumber++
					_, err = io.WriteString(f, content)
					if err == nil {
						contents[f.PendingName()] = content
						err = f.Finish(ctx)
					}
					setFaults(0)
					if err != nil {
						f.Abort()
						restart()
					}
				case r < 8: // checkpoint
					ckpt++
					txn, err := w.PreCommit(ckpt)
					if err != nil {
						t.Fatal(err)
					}
					if txn != nil {
						carried = append(carried, txn)
					}
					if rng.IntN(5) == 0 {
						continue // aborted: its transactions are carried
					}
					completed = append([]connectors.Txn(nil), carried...)
					for _, txn := range carried {
						for _, f := range decode(t, txn).Files {
							want[f.Final] = contents[f.Pending]
						}
					}
					setFaults(0.1)
					err = c.Commit(ctx, carried)
					setFaults(0)
					if err == nil {
						carried = nil
					}
				default: // crash
					restart()
				}
			}
			restart() // a clean restart commits what the last checkpoint holds
			if got := visible(t, base); !maps.Equal(got, want) {
				t.Fatalf("visible:\n%v\nwant:\n%v", got, want)
			}
			if got := list(t, base, twophase.PendingDir); len(got) != 0 {
				t.Fatalf("pending objects left: %q", got)
			}
		})
	}
}
