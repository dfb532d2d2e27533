package oracle

// Helpers of the exactly-once and bad-input tests: the sluice binary, job
// files patched for a failure test, child processes, object-store folders,
// folder listings, and comparisons of sink output in DuckDB.

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/plan"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/statestore/objstore"
)

// sluiceBin is the sluice binary built from this checkout, once per test
// process, for the tests that run it as a child process.
var sluiceBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// sluiceBinary builds cmd/sluice on first use and returns its path. The
// folder is world-readable so that a child may run as another user.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	sluiceBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-eo-bin-")
		if err != nil {
			sluiceBin.err = err
			return
		}
		sluiceBin.dir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			sluiceBin.err = err
			return
		}
		path := filepath.Join(dir, "sluice")
		// Built in the main module (../..), with its own go.mod.
		cmd := exec.Command("go", "build", "-o", path, "./cmd/sluice")
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		if err != nil {
			sluiceBin.err = fmt.Errorf("go build ./cmd/sluice in ../..: %v\n%s", err, out)
			return
		}
		sluiceBin.path = path
	})
	if sluiceBin.err != nil {
		t.Fatal(sluiceBin.err)
	}
	return sluiceBin.path
}

// removeSluiceBinary removes the binary sluiceBinary built, if any. TestMain
// calls it after the tests.
func removeSluiceBinary() {
	if sluiceBin.dir != "" {
		os.RemoveAll(sluiceBin.dir)
	}
}

// eoSettings are the knobs of a failure-test job.
type eoSettings struct {
	// Events, Rate (events per wall-clock second, 0: unlimited),
	// FirstEventRate (events per event-time second) and Seed are given to
	// every nexmark source.
	Events         int64
	Rate           float64
	FirstEventRate float64
	Seed           int64
	// Interval and Timeout of checkpoints.
	Interval, Timeout time.Duration
	// Format of the file sink: "parquet" or "json".
	Format string
}

// eoJob is one Nexmark job file patched for a failure test: the LSM state
// backend on a local folder, frequent checkpoints, restarts, and the file
// sink into a local folder. All its paths are absolute.
type eoJob struct {
	Query    string
	Name     string // the job's name: its state is under State/Name/
	Root     string // folder holding everything below
	State    string // the LSM's folder
	Out      string // the file sink's folder
	Settings eoSettings
	Spec     *sluicev1.JobSpec
	Path     string // the job file, written by newEOJob
}

// newEOJob loads examples/nexmark/<q>.yaml and patches it as eoJob says,
// with root as its folder, and writes the job file root/job.yaml.
func newEOJob(t *testing.T, q, root string, s eoSettings) *eoJob {
	t.Helper()
	spec, err := plan.ReadJobFile(filepath.Join(jobDir, q+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j := &eoJob{
		Query: q, Name: spec.GetName(), Root: root, Settings: s, Spec: spec,
		State: filepath.Join(root, "state"), Out: filepath.Join(root, "out"),
		Path: filepath.Join(root, "job.yaml"),
	}
	spec.Parallelism = parallelism
	spec.State = &sluicev1.StateBackend{Backend: &sluicev1.StateBackend_Lsm{Lsm: &sluicev1.LsmBackend{
		Url: "file://" + filepath.ToSlash(j.State),
		// Small memtables: state is flushed to tables during the run too,
		// not only at checkpoints.
		MemtableBytes: 1 << 20,
	}}}
	spec.Checkpoints = &sluicev1.CheckpointConfig{
		Interval:          durationpb.New(s.Interval),
		Timeout:           durationpb.New(s.Timeout),
		Retained:          2,
		TolerableFailures: 1 << 20,
	}
	spec.Restart = &sluicev1.RestartStrategy{Strategy: &sluicev1.RestartStrategy_FixedDelay{FixedDelay: &sluicev1.FixedDelayRestart{
		Attempts: 1000, Delay: durationpb.New(50 * time.Millisecond),
	}}}
	sinks := 0
	for _, n := range spec.Nodes {
		n.Parallelism = 0
		switch k := n.Kind.(type) {
		case *sluicev1.Node_Source:
			if k.Source.GetConnector() != "nexmark" {
				t.Fatalf("%s: node %q: connector %q, want nexmark", q, n.GetId(), k.Source.GetConnector())
			}
			setOptions(t, &k.Source.Options, map[string]any{
				"events": s.Events, "rate": s.Rate, "first_event_rate": s.FirstEventRate, "seed": s.Seed,
			})
		case *sluicev1.Node_Sink:
			sinks++
			k.Sink.Connector, k.Sink.Options = "file", nil
			setOptions(t, &k.Sink.Options, map[string]any{"path": j.Out, "format": s.Format})
		}
	}
	if sinks != 1 {
		t.Fatalf("%s: %d sinks, want 1", q, sinks)
	}
	j.write(t)
	return j
}

// write writes the job's spec to its job file.
func (j *eoJob) write(t *testing.T) {
	t.Helper()
	data, err := plan.MarshalJobFile(j.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setOptions sets fields of a connector's options.
func setOptions(t *testing.T, opts **structpb.Struct, kv map[string]any) {
	t.Helper()
	if *opts == nil {
		*opts = &structpb.Struct{Fields: map[string]*structpb.Value{}}
	}
	for k, v := range kv {
		if i, ok := v.(int64); ok {
			v = float64(i)
		}
		pv, err := structpb.NewValue(v)
		if err != nil {
			t.Fatal(err)
		}
		(*opts).Fields[k] = pv
	}
}

// plan builds the job's plan, optionally with its sources unthrottled.
func (j *eoJob) plan(t *testing.T, unthrottled bool) *plan.Plan {
	t.Helper()
	spec := j.Spec
	if unthrottled {
		// The rate only paces the sources in wall time; event time comes
		// from first_event_rate, set explicitly, so results are the same.
		spec = cloneSpec(spec)
		for _, n := range spec.Nodes {
			if src := n.GetSource(); src != nil {
				delete(src.Options.Fields, "rate")
			}
		}
	}
	p, err := plan.Build(spec)
	if err != nil {
		t.Fatalf("%s: %v", j.Query, err)
	}
	return p
}

func cloneSpec(s *sluicev1.JobSpec) *sluicev1.JobSpec {
	data, err := plan.MarshalJobFile(s)
	if err != nil {
		panic(err)
	}
	c, err := plan.ParseJobFile(data)
	if err != nil {
		panic(err)
	}
	return c
}

// storage opens the job's folder in its state storage, as the runtime does
// (<state>/<job name>/). Close it.
func (j *eoJob) storage(t *testing.T) objstore.Storage {
	t.Helper()
	st, err := objstore.Open(context.Background(), "file://"+filepath.ToSlash(j.State)+"?prefix="+j.Name+"/")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// latestCheckpoint returns the id of the job's latest completed checkpoint
// (0 if none).
func latestCheckpoint(t *testing.T, st objstore.Storage) uint64 {
	t.Helper()
	md, err := checkpoint.NewStore(st, "job folder").Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md == nil {
		return 0
	}
	return md.ID
}

// child is a running `sluice` process whose stderr goes to a log file and,
// line by line, to Lines.
type child struct {
	cmd   *exec.Cmd
	log   string
	lines chan string
	done  chan struct{} // closed when the process has exited
	err   error         // of Wait, set before done is closed
}

// startChild starts bin with args in dir, logging stderr to logPath.
func startChild(t *testing.T, bin, dir, logPath string, args ...string) *child {
	t.Helper()
	return startChildAs(t, nil, bin, dir, logPath, args...)
}

// startChildAs is startChild with cmd prepared by prep (credentials).
func startChildAs(t *testing.T, prep func(*exec.Cmd), bin, dir, logPath string, args ...string) *child {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if prep != nil {
		prep(cmd)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		t.Fatal(err)
	}
	cmd.Stdout = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	c := &child{cmd: cmd, log: logPath, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			select {
			case c.lines <- sc.Text():
			default: // nobody listens: the log file has it
			}
		}
		io.Copy(io.Discard, stderr)
		c.err = cmd.Wait()
		logf.Close()
		close(c.lines)
		close(c.done)
	}()
	return c
}

// exitCode waits for the child and returns its exit code (-1 if killed by
// a signal).
func (c *child) exitCode() int {
	<-c.done
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		return -1
	}
	return 0
}

// output returns what the child wrote to stderr and stdout so far.
func (c *child) output() string {
	data, _ := os.ReadFile(c.log)
	return string(data)
}

// waitLine waits until the child writes a stderr line containing substr
// and returns it.
func (c *child) waitLine(t *testing.T, substr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("sluice exited (%v) before writing %q:\n%s", c.err, substr, c.output())
			}
			if strings.Contains(l, substr) {
				return l
			}
		case <-deadline.C:
			t.Fatalf("sluice did not write %q within %s:\n%s", substr, timeout, c.output())
		}
	}
}

// kill SIGKILLs the child (if it still runs) and waits for it.
func (c *child) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

// waitFor polls cond every interval until it holds or timeout passes. It
// is for conditions outside this process (files a child writes), which
// nothing can notify.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// listing describes every file and folder under root, one per line,
// sorted: path and mode, and for a file its size and modification time. A
// folder's modification time is left out: it changes when a process only
// creates and removes a probe file in it (as the file sink does to check
// that it may write).
func listing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if fi.IsDir() {
			out = append(out, fmt.Sprintf("%s %s", rel, fi.Mode()))
			return nil
		}
		out = append(out, fmt.Sprintf("%s %s %d %s", rel, fi.Mode(), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// sameListing fails the test if a listing changed, naming what changed.
func sameListing(t *testing.T, what string, before, after []string) {
	t.Helper()
	if slices.Equal(before, after) {
		return
	}
	var gone, added []string
	for _, l := range before {
		if !slices.Contains(after, l) {
			gone = append(gone, l)
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			added = append(added, l)
		}
	}
	t.Errorf("%s changed:\n  removed or changed: %v\n  added or changed: %v", what, gone, added)
}

// sinkOutput is a sink's committed output as DuckDB reads it.
type sinkOutput struct {
	dir    string // the sink's folder
	format string // "parquet" or "json"
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// glob is the pattern of the committed files a reader picks up.
func (o sinkOutput) glob() string {
	ext := ".parquet"
	if o.format == "json" {
		ext = ".jsonl"
	}
	return filepath.ToSlash(o.dir) + "/**/*" + ext
}

// scan is the DuckDB table function reading the committed files.
func (o sinkOutput) scan() string {
	if o.format == "json" {
		return fmt.Sprintf("read_json_auto(%s, format = 'newline_delimited')", sqlString(o.glob()))
	}
	return fmt.Sprintf("read_parquet(%s)", sqlString(o.glob()))
}

// files lists the files DuckDB's glob of the committed output matches,
// relative to the sink's folder.
func (o sinkOutput) files(t *testing.T, db *Dataset) []string {
	t.Helper()
	_, rows, err := db.Query(context.Background(), fmt.Sprintf("SELECT file FROM glob(%s) ORDER BY file", sqlString(o.glob())))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		rel, err := filepath.Rel(o.dir, filepath.FromSlash(r[0].(string)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rel)
	}
	return out
}

// checkVisible fails the test if a reader of the committed output sees a
// file that is not committed: one in a hidden or '_' folder (the sink's
// pending files), hidden, or in progress.
func (o sinkOutput) checkVisible(t *testing.T, db *Dataset) []string {
	t.Helper()
	files := o.files(t, db)
	for _, f := range files {
		for _, part := range strings.Split(filepath.ToSlash(f), "/") {
			if strings.HasPrefix(part, "_") || strings.HasPrefix(part, ".") || strings.Contains(part, "inprogress") {
				t.Errorf("a reader of %s sees the uncommitted file %s", o.glob(), f)
			}
		}
	}
	return files
}

// checkNothingPending fails the test if the sink's folder holds a file a
// reader does not see: after the job has finished, every file must be
// committed.
func (o sinkOutput) checkNothingPending(t *testing.T, db *Dataset) {
	t.Helper()
	visible := o.checkVisible(t, db)
	err := filepath.WalkDir(o.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(o.dir, path)
		if !slices.Contains(visible, rel) {
			t.Errorf("the finished job left %s in its sink folder, which is not committed output", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// count returns the number of committed rows (0 without files).
func (o sinkOutput) count(t *testing.T, db *Dataset) int64 {
	t.Helper()
	if len(o.files(t, db)) == 0 {
		return 0
	}
	return queryInt(t, db.DB, "SELECT count(*) FROM "+o.scan())
}

func queryInt(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("duckdb: %s: %v", q, err)
	}
	return n
}

// exceptAll returns how many rows of a are not in b, as multisets (EXCEPT
// ALL in DuckDB), and up to 10 of them.
func exceptAll(t *testing.T, db *Dataset, a, b sinkOutput) (int64, [][]any) {
	t.Helper()
	diff := fmt.Sprintf("SELECT * FROM %s EXCEPT ALL SELECT * FROM %s", a.scan(), b.scan())
	n := queryInt(t, db.DB, "SELECT count(*) FROM ("+diff+")")
	if n == 0 {
		return 0, nil
	}
	_, rows, err := db.Query(context.Background(), "SELECT * FROM ("+diff+") LIMIT 10")
	if err != nil {
		t.Fatal(err)
	}
	return n, rows
}

// compareOutputs fails the test unless got and want hold exactly the same
// rows as multisets: DuckDB counts both and computes EXCEPT ALL both ways,
// and Compare checks the rows again in Go.
func compareOutputs(t *testing.T, db *Dataset, got, want sinkOutput) {
	t.Helper()
	nGot, nWant := got.count(t, db), want.count(t, db)
	if nWant == 0 {
		t.Fatalf("the run without failure committed no rows to %s: nothing to compare", want.dir)
	}
	if nGot == 0 {
		t.Fatalf("the run with failures committed no rows to %s; the run without failure committed %d", got.dir, nWant)
	}
	missing, mrows := exceptAll(t, db, want, got)
	extra, xrows := exceptAll(t, db, got, want)
	if nGot != nWant || missing != 0 || extra != 0 {
		var sb strings.Builder
		fmt.Fprintf(&sb, "committed output differs from the run without failure: %d rows, want %d; %d missing (lost), %d extra (duplicated or wrong)", nGot, nWant, missing, extra)
		for _, r := range mrows {
			fmt.Fprintf(&sb, "\n  missing %s", FormatRow(r))
		}
		for _, r := range xrows {
			fmt.Fprintf(&sb, "\n  extra   %s", FormatRow(r))
		}
		t.Error(sb.String())
	}
	// The same in Go, as an independent check of the SQL above.
	cols, g, err := db.Query(context.Background(), "SELECT * FROM "+got.scan())
	if err != nil {
		t.Fatal(err)
	}
	_, w, err := db.Query(context.Background(), "SELECT * FROM "+want.scan())
	if err != nil {
		t.Fatal(err)
	}
	if d := Compare(cols, g, w); !d.Empty() {
		t.Errorf("committed output differs from the run without failure (Go comparison): %s", d)
	}
}

// openDuckDB opens an in-memory DuckDB database wrapped as a Dataset, for
// its Query method.
func openDuckDB(t *testing.T) *Dataset {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &Dataset{DB: db}
}

// warnLogger logs warnings and errors through t.
func warnLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
