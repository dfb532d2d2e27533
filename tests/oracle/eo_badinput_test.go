package oracle

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// TestBadInput runs `sluice run` on bad input: a savepoint that does not
// exist or is corrupt, a job whose operators do not match its savepoint's,
// and a sink folder without write permission. Each must exit non-zero with
// an error that names the problem, and delete (or change) nothing: the
// listing of the job's whole folder (state, savepoints, output) is the
// same before and after. The savepoints are real: one taken with SIGUSR1
// while the job runs, one by stopping it with SIGTERM; a good start from
// the latter shows that they work.
func TestBadInput(t *testing.T) {
	bin := sluiceBinary(t)
	root := t.TempDir()
	logs := t.TempDir() // outside root: logs are not part of the listings
	job := newEOJob(t, "q5", root, eoSettings{
		// Paced so that it runs long enough for two savepoints.
		Events: 5_000_000, Rate: 20_000, FirstEventRate: 2_000, Seed: 1,
		Interval: 200 * time.Millisecond, Timeout: 10 * time.Second, Format: eoScale.Settings.Format,
	})
	spDir := filepath.Join(root, "savepoints")
	st := job.storage(t)
	defer st.Close()

	// A savepoint while the job runs (SIGUSR1), then stop with a savepoint
	// (SIGTERM).
	c := startChild(t, bin, root, filepath.Join(logs, "savepoints.log"), "run", "--savepoint-dir", spDir, job.Path)
	defer c.kill()
	waitFor(t, "the job's first checkpoint", time.Minute, func() bool { return latestCheckpoint(t, st) > 0 })
	if err := c.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	running := savepointURL(t, c.waitLine(t, "savepoint written: ", time.Minute))
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := savepointURL(t, c.waitLine(t, "savepoint written: ", time.Minute))
	if code := c.exitCode(); code != 0 {
		t.Fatalf("stop with savepoint: sluice exited with %d:\n%s", code, c.output())
	}
	t.Logf("savepoints: %s (running), %s (stopped)", running, stopped)

	// A corrupt copy of the running job's savepoint, and an empty folder.
	corrupt := filepath.Join(root, "corrupt-savepoint")
	meta, err := os.ReadFile(filepath.Join(localPath(t, running), "_metadata"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(corrupt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(corrupt, "_metadata"), meta[:len(meta)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty-savepoint")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}

	// Jobs whose operators differ from the savepoint's: the sliding window
	// of the counts node is longer (its state means something else), or
	// the node has another id (its state has no operator to go to).
	resized := changedJob(t, job, "resized.yaml", func(n *sluicev1.Node) {
		if n.GetId() == "counts" {
			n.GetWindow().GetSliding().Size = durationpb.New(20 * time.Second)
		}
	})
	renamed := changedJob(t, job, "renamed.yaml", func(n *sluicev1.Node) {
		if n.GetId() == "counts" {
			n.Id = "counts2"
		}
		for i, in := range n.Inputs {
			if in == "counts" {
				n.Inputs[i] = "counts2"
			}
		}
	})

	// A sink folder that holds output and that the job may not write to.
	readOnly := filepath.Join(root, "read-only-out")
	if err := os.Mkdir(readOnly, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(readOnly, "part-0-1-1-0.parquet"), []byte("earlier output"), 0o644); err != nil {
		t.Fatal(err)
	}
	noWrite := changedJob(t, job, "read-only.yaml", func(n *sluicev1.Node) {
		if s := n.GetSink(); s != nil {
			setOptions(t, &s.Options, map[string]any{"path": readOnly})
		}
	})
	asOther := denyWrite(t, root, readOnly)

	for _, tc := range []struct {
		name string
		args []string
		prep func(*exec.Cmd)
		want []string // in the error
	}{
		{"savepoint does not exist", []string{"--from-savepoint", filepath.Join(root, "no-such-savepoint"), job.Path}, nil,
			[]string{"savepoint", "no-such-savepoint", "does not exist"}},
		{"savepoint folder without metadata", []string{"--from-savepoint", empty, job.Path}, nil,
			[]string{"savepoint", "empty-savepoint", "does not exist", "_metadata"}},
		{"savepoint URL that does not exist", []string{"--from-savepoint", "file://" + filepath.ToSlash(filepath.Join(root, "gone")) + "/_metadata", job.Path}, nil,
			[]string{"savepoint", "gone", "does not exist"}},
		{"corrupt savepoint", []string{"--from-savepoint", corrupt, job.Path}, nil,
			[]string{"savepoint", "corrupt-savepoint", "corrupt"}},
		{"operator state changed", []string{"--from-savepoint", stopped, resized}, nil,
			[]string{`node "counts"`, "signature", "does not fit"}},
		{"stateful operator missing", []string{"--from-savepoint", stopped, renamed}, nil,
			[]string{`node "counts"`, "not in the job", "does not fit"}},
		{"operators changed, resume", []string{"--resume", resized}, nil,
			[]string{`node "counts"`, "signature", "does not fit"}},
		{"sink path without write permission", []string{noWrite}, asOther,
			[]string{`option "path"`, "read-only-out", "not writable"}},
		{"sink path without write permission, from a savepoint", []string{"--from-savepoint", stopped, noWrite}, asOther,
			[]string{`option "path"`, "read-only-out", "not writable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := listing(t, root)
			c := startChildAs(t, tc.prep, bin, root, filepath.Join(logs, strings.ReplaceAll(tc.name, " ", "-")+".log"), append([]string{"run"}, tc.args...)...)
			code := c.exitCode()
			out := c.output()
			if code == 0 {
				t.Fatalf("sluice run %v exited with 0, want an error:\n%s", tc.args, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the error does not say %q:\n%s", w, out)
				}
			}
			if !strings.Contains(out, "sluice: ") {
				t.Errorf("no error line:\n%s", out)
			}
			t.Logf("exit %d: %s", code, strings.TrimSpace(out))
			sameListing(t, "the job's folder", before, listing(t, root))
		})
	}

	// The savepoint is good: the unchanged job starts from it, completes a
	// checkpoint and stops with another savepoint.
	c = startChild(t, bin, root, filepath.Join(logs, "good-start.log"), "run", "--from-savepoint", stopped, "--savepoint-dir", spDir, job.Path)
	defer c.kill()
	from := latestCheckpoint(t, st)
	waitFor(t, "a checkpoint of the job started from the savepoint", time.Minute, func() bool { return latestCheckpoint(t, st) > from })
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	c.waitLine(t, "savepoint written: ", time.Minute)
	if code := c.exitCode(); code != 0 {
		t.Fatalf("the job started from savepoint %s exited with %d:\n%s", stopped, code, c.output())
	}
}

// savepointURL returns the URL of a "savepoint written: URL" line.
func savepointURL(t *testing.T, line string) string {
	t.Helper()
	_, u, ok := strings.Cut(line, "savepoint written: ")
	if !ok || u == "" {
		t.Fatalf("no savepoint URL in %q", line)
	}
	return strings.TrimSpace(u)
}

// localPath returns the folder of a file:// savepoint URL.
func localPath(t *testing.T, u string) string {
	t.Helper()
	p, ok := strings.CutPrefix(u, "file://")
	if !ok {
		t.Fatalf("savepoint %s is not a file:// URL", u)
	}
	p, _, _ = strings.Cut(p, "?")
	return filepath.FromSlash(p)
}

// changedJob writes a copy of j's job file, named name in j's folder, with
// change applied to each node.
func changedJob(t *testing.T, j *eoJob, name string, change func(*sluicev1.Node)) string {
	t.Helper()
	c := *j
	c.Spec = cloneSpec(j.Spec)
	for _, n := range c.Spec.Nodes {
		change(n)
	}
	c.Path = filepath.Join(j.Root, name)
	c.write(t)
	return c.Path
}

// denyWrite takes write permission on dir away from the sluice child
// processes it returns the preparation of. A non-root test makes dir
// read-only; root may write anywhere, so as root the child runs as nobody
// (dir stays root's, mode 0755) and the folders on the way to root are
// opened for reading.
func denyWrite(t *testing.T, root, dir string) func(*exec.Cmd) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return nil
	}
	// t.TempDir makes root and its parent 0700.
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
}
