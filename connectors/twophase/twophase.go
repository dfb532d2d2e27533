package twophase

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/sluicedata/sluice/connectors"
)

// PendingDir is the folder, under the sink's root, that holds pending
// objects. Hive-style readers (Spark, Hive, Trino) skip folders whose name
// starts with '_', and pending names end in ".inprogress", which no
// "*.parquet" or "*.jsonl" glob matches.
const PendingDir = "_pending/"

// pendingSuffix ends every pending object's name.
const pendingSuffix = ".inprogress"

// ErrMissing is wrapped by Commit's error for a file whose pending object
// and final object are both missing: its rows are lost (someone deleted
// them, or the transaction was aborted by a Recover that did not list it).
var ErrMissing = errors.New("twophase: pending and final objects both missing")

// JobPrefix returns the folder that holds every pending object of job.
func JobPrefix(job string) string { return PendingDir + escapeSegment(job) + "/" }

// escapeSegment makes s a single safe name segment: bytes outside
// [A-Za-z0-9_-] and a leading '.' are written as %XX.
func escapeSegment(s string) string {
	if s == "" {
		return "%"
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// txnVersion is the version of the Txn encoding.
const txnVersion = 1

// txnData is a Txn's content: the files it publishes.
type txnData struct {
	Version int        `json:"v"`
	Files   []fileData `json:"files"`
}

type fileData struct {
	// Pending is the pending object's name; Final the name it is published
	// under. Both are relative to the sink's root.
	Pending string `json:"pending"`
	Final   string `json:"final"`
}

func decodeTxn(t connectors.Txn) (txnData, error) {
	var d txnData
	if err := json.Unmarshal(t, &d); err != nil {
		return d, fmt.Errorf("not a twophase transaction: %w", err)
	}
	if d.Version != txnVersion {
		return d, fmt.Errorf("transaction version %d, this build reads version %d", d.Version, txnVersion)
	}
	for _, f := range d.Files {
		if err := checkName(f.Final); err != nil {
			return d, err
		}
		if err := checkName(f.Pending); err != nil {
			return d, err
		}
		if !strings.HasPrefix(f.Pending, PendingDir) || strings.HasPrefix(f.Final, PendingDir) {
			return d, fmt.Errorf("transaction publishes %q as %q: pending objects live under %s, final ones elsewhere", f.Pending, f.Final, PendingDir)
		}
	}
	return d, nil
}

// Writer is the writer side of the protocol for one sink subtask: it names
// the pending objects of the files the sink writes and collects the
// finished ones into the open transaction, which PreCommit seals. Used by
// one goroutine, except that different Files may Finish concurrently.
//
// Final names never collide across subtasks, attempts and checkpoints:
// PreCommit(c) publishes a file as
//
//	<folder>part-<subtask>-<attempt>-<c>-<seq>-<run><ext>
//
// where seq counts the writer's files and run is 8 random hex digits drawn
// when the writer is made, so two runs of a job (or two jobs) writing to
// one folder never replace each other's files. A name is fixed once its
// transaction is sealed, so committing it again is idempotent. Commit (Flush without checkpoints)
// uses part-<subtask><ext> for a subtask's first file in a folder and
// part-<subtask>-<n><ext> for the next ones, so a bounded job run again
// replaces its output instead of adding to it.
type Writer struct {
	mu      sync.Mutex // guards done: Files may finish concurrently
	store   Store
	sc      connectors.SinkContext
	prefix  string // this attempt's pending folder
	seq     uint64
	done    []*File // finished, in no transaction yet
	flushed map[string]int
	run     string
}

// NewWriter returns the Writer of the subtask sc describes.
func NewWriter(store Store, sc connectors.SinkContext) *Writer {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return &Writer{
		store:   store,
		sc:      sc,
		prefix:  fmt.Sprintf("%s%d/", JobPrefix(sc.Job), sc.Attempt),
		flushed: map[string]int{},
		run:     hex.EncodeToString(rnd[:]),
	}
}

// File is one file being written to a pending object.
type File struct {
	w       *Writer
	obj     Object
	pending string
	folder  string
	ext     string
	seq     uint64
	size    int64
	state   int // 0 open, 1 finished, 2 aborted
}

// Create starts a file that will be published in folder ("" for the root,
// else a path ending in '/') with the extension ext (".parquet").
func (w *Writer) Create(folder, ext string) (*File, error) {
	if folder != "" && (!strings.HasSuffix(folder, "/") || checkName(strings.TrimSuffix(folder, "/")) != nil || strings.HasPrefix(folder, PendingDir)) {
		return nil, fmt.Errorf("twophase: folder %q is not a relative path ending in '/'", folder)
	}
	seq := w.seq
	w.seq++
	name := fmt.Sprintf("%s%d-%d%s%s", w.prefix, w.sc.Subtask, seq, ext, pendingSuffix)
	obj, err := w.store.Create(name)
	if err != nil {
		return nil, err
	}
	return &File{w: w, obj: obj, pending: name, folder: folder, ext: ext, seq: seq}, nil
}

// Write appends p to the file.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.obj.Write(p)
	f.size += int64(n)
	return n, err
}

// Size returns the number of bytes written.
func (f *File) Size() int64 { return f.size }

// PendingName returns the name of the file's pending object.
func (f *File) PendingName() string { return f.pending }

// Folder returns the folder the file will be published in.
func (f *File) Folder() string { return f.folder }

// Finish uploads the file to its pending object and adds it to the open
// transaction. Different Files of one Writer may finish concurrently.
func (f *File) Finish(ctx context.Context) error {
	if f.state != 0 {
		return fmt.Errorf("twophase: finish %q: already finished or aborted", f.pending)
	}
	f.state = 1
	if err := f.obj.Finish(ctx); err != nil {
		return err
	}
	f.w.mu.Lock()
	f.w.done = append(f.w.done, f)
	f.w.mu.Unlock()
	return nil
}

// Abort discards the file.
func (f *File) Abort() {
	if f.state == 0 {
		f.state = 2
		f.obj.Abort()
	}
}

// PreCommit seals the open transaction: every file finished since the last
// PreCommit, named for checkpoint. It returns nil if there is none. The
// sink finishes (or keeps open, for a later transaction) its files first.
func (w *Writer) PreCommit(checkpoint uint64) (connectors.Txn, error) {
	return w.seal(func(f *File) string {
		return fmt.Sprintf("%spart-%d-%d-%d-%d-%s%s", f.folder, w.sc.Subtask, w.sc.Attempt, checkpoint, f.seq, w.run, f.ext)
	})
}

// Commit seals the open transaction and commits it at once through c: for
// Flush at the end of a job that does not checkpoint.
func (w *Writer) Commit(ctx context.Context, c *Committer) error {
	txn, err := w.seal(func(f *File) string {
		n := w.flushed[f.folder]
		w.flushed[f.folder]++
		if n == 0 {
			return fmt.Sprintf("%spart-%d%s", f.folder, w.sc.Subtask, f.ext)
		}
		return fmt.Sprintf("%spart-%d-%d%s", f.folder, w.sc.Subtask, n, f.ext)
	})
	if err != nil || txn == nil {
		return err
	}
	return c.Commit(ctx, []connectors.Txn{txn})
}

func (w *Writer) seal(final func(*File) string) (connectors.Txn, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.done) == 0 {
		return nil, nil
	}
	d := txnData{Version: txnVersion}
	for _, f := range w.done {
		d.Files = append(d.Files, fileData{Pending: f.pending, Final: final(f)})
	}
	clear(w.done)
	w.done = w.done[:0]
	return json.Marshal(d)
}

// Discard deletes the pending objects of files finished since the last
// PreCommit (best effort, bounded by ctx): for a writer closed without
// committing. Sealed transactions are left alone: the coordinator may still
// commit them.
func (w *Writer) Discard(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.done {
		_ = w.store.Delete(ctx, f.pending)
	}
	clear(w.done)
	w.done = w.done[:0]
}

// Committer implements connectors.Committer over a Store. Commit and
// Recover are idempotent and safe to repeat after a crash at any point.
type Committer struct {
	store Store
	// Parallelism is the number of files published at once. Default 8.
	Parallelism int
}

var _ connectors.Committer = (*Committer)(nil)

// NewCommitter returns a Committer for sinks writing to store.
func NewCommitter(store Store) *Committer { return &Committer{store: store} }

// Commit publishes every file of txns: each pending object is moved to
// its final name. A file whose pending object is gone and whose final
// object exists was committed before.
func (c *Committer) Commit(ctx context.Context, txns []connectors.Txn) error {
	var files []fileData
	for i, t := range txns {
		d, err := decodeTxn(t)
		if err != nil {
			return fmt.Errorf("twophase: commit: transaction %d of %d: %w", i+1, len(txns), err)
		}
		files = append(files, d.Files...)
	}
	limit := c.Parallelism
	if limit <= 0 {
		limit = 8
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for _, f := range files {
		g.Go(func() error { return c.publish(ctx, f) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("twophase: commit: %w", err)
	}
	return nil
}

func (c *Committer) publish(ctx context.Context, f fileData) error {
	ok, err := c.store.Exists(ctx, f.Pending)
	if err != nil {
		return err
	}
	if ok {
		err := c.store.Publish(ctx, f.Final, f.Pending)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// Someone else published it between the check and the move.
	}
	ok, err = c.store.Exists(ctx, f.Final)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: publish %q as %q: %w", c.store, f.Pending, f.Final, ErrMissing)
	}
	return nil
}

// Recover commits rc.Txns, then deletes every other pending object of job
// rc.Job: what earlier attempts wrote after the checkpoint the job restarts
// from. Nothing is deleted if a commit fails.
func (c *Committer) Recover(ctx context.Context, rc connectors.RecoverContext) error {
	if err := c.Commit(ctx, rc.Txns); err != nil {
		return fmt.Errorf("twophase: recover job %q: %w", rc.Job, err)
	}
	prefix := JobPrefix(rc.Job)
	if r, ok := c.store.(remover); ok {
		if err := r.RemoveAll(prefix); err != nil {
			return fmt.Errorf("twophase: recover job %q: abort pending objects: %w", rc.Job, err)
		}
		return nil
	}
	names, err := c.store.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("twophase: recover job %q: %w", rc.Job, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, name := range names {
		g.Go(func() error { return c.store.Delete(gctx, name) })
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("twophase: recover job %q: abort pending objects: %w", rc.Job, err)
	}
	return nil
}
