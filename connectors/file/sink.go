package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/connectors/twophase"
	"github.com/sluicedata/sluice/formats"
	_ "github.com/sluicedata/sluice/formats/csv"  // register "csv"
	_ "github.com/sluicedata/sluice/formats/json" // register "json"
	"github.com/sluicedata/sluice/formats/parquet"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore/objstore"
)

func init() {
	connectors.RegisterSink("file", func(opts map[string]any) (connectors.Sink, error) {
		cfg, err := ParseOptions(opts)
		if err != nil {
			return nil, err
		}
		return New(cfg)
	})
}

// submitTimeout bounds what New does against the storage.
const submitTimeout = 30 * time.Second

// Sink writes files to a folder or a bucket with two-phase commit.
type Sink struct {
	cfg       Config
	format    formats.Format
	store     twophase.Store
	committer *twophase.Committer
}

var _ connectors.TransactionalSink = (*Sink)(nil)

// New validates cfg, opens the storage at cfg.Path and checks that it can
// be written, without writing anything under a final name: a local folder
// (or its nearest existing parent) must be writable; a bucket must accept
// a probe object under _pending/.
func New(cfg Config) (*Sink, error) {
	cfg.ensureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
	defer cancel()
	store, err := openStore(ctx, &cfg)
	if err != nil {
		return nil, fmt.Errorf("option %q: %w", "path", err)
	}
	s, err := NewOnStore(cfg, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

// NewOnStore is New on a store the caller opened (cfg.Path only names it
// in errors): for tests that inject faults. The Sink closes the store.
func NewOnStore(cfg Config, store twophase.Store) (*Sink, error) {
	cfg.ensureDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var f formats.Format
	if cfg.Format == "parquet" {
		pf, err := parquet.New(parquet.Options{Compression: cfg.Compression, RowGroupRows: cfg.RowGroupRows})
		if err != nil {
			return nil, err
		}
		f = pf
	} else {
		var err error
		if f, err = formats.Lookup(cfg.Format); err != nil {
			return nil, fmt.Errorf("option %q: %w", "format", err)
		}
	}
	return &Sink{cfg: cfg, format: f, store: store, committer: twophase.NewCommitter(store)}, nil
}

func openStore(ctx context.Context, cfg *Config) (twophase.Store, error) {
	if !strings.Contains(cfg.Path, "://") {
		if err := checkWritable(cfg.Path); err != nil {
			return nil, err
		}
		return twophase.OpenDir(cfg.Path)
	}
	u, err := url.Parse(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", cfg.Path, err)
	}
	if (u.Scheme == "s3" || u.Scheme == "azblob") && strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("%s: name the folder inside the bucket with ?prefix=%s/, as for the state store, not as a path", cfg.Path, strings.Trim(u.Path, "/"))
	}
	b, err := objstore.OpenBucket(ctx, cfg.Path, objstore.Options{Getenv: cfg.Getenv})
	if err != nil {
		return nil, err
	}
	u.User = nil
	u.RawQuery = ""
	store := twophase.NewBlobStore(b, u.String(), cfg.SpoolDir)
	if err := probe(ctx, store); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// probe writes and deletes an object under _pending/: the cheapest proof
// that the credentials and the bucket allow writes.
func probe(ctx context.Context, s twophase.Store) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := twophase.PendingDir + "probe-" + hex.EncodeToString(rnd[:]) + ".inprogress"
	o, err := s.Create(name)
	if err != nil {
		return fmt.Errorf("cannot write: %w", err)
	}
	if err := o.Finish(ctx); err != nil {
		return fmt.Errorf("cannot write: %w", err)
	}
	if err := s.Delete(ctx, name); err != nil {
		return fmt.Errorf("cannot delete: %w", err)
	}
	return nil
}

// checkWritable checks that dir either is a writable folder or can be
// created: its nearest existing ancestor must be a writable folder. The
// proof is a hidden file created and removed there at once (permission
// bits do not tell for root, read-only mounts or pseudo file systems).
func checkWritable(dir string) error {
	p := filepath.Clean(dir)
	for {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			if p == filepath.Clean(dir) {
				return fmt.Errorf("%q is a file, not a directory", dir)
			}
			return fmt.Errorf("cannot create directory %q: %q is not a directory", dir, p)
		case err == nil:
			if err := syscall.Access(p, 2 /* W_OK */); err != nil {
				return fmt.Errorf("directory %q is not writable: %w", p, err)
			}
			f, err := os.CreateTemp(p, ".sluice-probe-*")
			if err != nil {
				return fmt.Errorf("directory %q is not writable: %w", p, unwrapPathErr(err))
			}
			f.Close()
			return os.Remove(f.Name())
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("cannot use directory %q: %w", dir, unwrapPathErr(err))
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Errorf("cannot create directory %q", dir)
		}
		p = parent
	}
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Check implements connectors.Sink: the format must encode the schema and
// the partition columns must exist and name folders.
func (s *Sink) Check(schema *arrow.Schema) error {
	if err := s.format.Check(schema); err != nil {
		return err
	}
	_, err := newPartitioner(&s.cfg, schema)
	return err
}

// Committer implements connectors.TransactionalSink.
func (s *Sink) Committer() connectors.Committer { return s.committer }

// Close releases the storage. Writers must be closed first.
func (s *Sink) Close() error { return s.store.Close() }

// Open implements connectors.Sink.
func (s *Sink) Open(_ context.Context, sc connectors.SinkContext) (connectors.SinkWriter, error) {
	p, err := newPartitioner(&s.cfg, sc.Schema)
	if err != nil {
		return nil, err
	}
	if sc.Clock == nil {
		sc.Clock = clock.Real()
	}
	if sc.Allocator == nil {
		sc.Allocator = memory.DefaultAllocator
	}
	return &writer{s: s, sc: sc, tw: twophase.NewWriter(s.store, sc), part: p, open: map[string]*openFile{}}, nil
}

// writer is one subtask's writer: one open file per folder.
type writer struct {
	s    *Sink
	sc   connectors.SinkContext
	tw   *twophase.Writer
	part *partitioner // nil: no partitioning
	open map[string]*openFile
}

var _ connectors.TransactionalWriter = (*writer)(nil)

type openFile struct {
	f       *twophase.File
	enc     formats.Encoder
	size    interface{ Size() int64 } // the encoder's estimate, if it buffers much
	started time.Time
}

// Write implements connectors.SinkWriter.
func (w *writer) Write(ctx context.Context, b arrow.RecordBatch) error {
	defer b.Release()
	if b.NumRows() == 0 {
		return nil
	}
	if w.part == nil {
		return w.writeTo(ctx, "", b)
	}
	for _, g := range w.part.split(b) {
		sub, err := rows(ctx, w.sc.Allocator, b, g.rows)
		if err != nil {
			return err
		}
		err = w.writeTo(ctx, g.folder, sub)
		sub.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// rows returns the rows idx (ascending) of b: b itself or a slice when
// they are contiguous, else a copy. The caller releases the result.
func rows(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	lo, hi := int64(idx[0]), int64(idx[len(idx)-1])+1
	if hi-lo == int64(len(idx)) {
		if lo == 0 && hi == b.NumRows() {
			b.Retain()
			return b, nil
		}
		return b.NewSlice(lo, hi), nil
	}
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(idx, nil)
	indices := ib.NewArray()
	ib.Release()
	defer indices.Release()
	res, err := compute.Take(compute.WithAllocator(ctx, mem), *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(b), compute.NewDatumWithoutOwning(indices))
	if err != nil {
		return nil, fmt.Errorf("file sink: selecting the rows of a partition: %w", err)
	}
	return res.(*compute.RecordDatum).Value, nil
}

func (w *writer) writeTo(ctx context.Context, folder string, b arrow.RecordBatch) error {
	of := w.open[folder]
	now := w.sc.Clock.Now()
	if of != nil && w.s.cfg.RollInterval > 0 && now.Sub(of.started) >= w.s.cfg.RollInterval {
		if err := w.finish(ctx, folder, of); err != nil {
			return err
		}
		of = nil
	}
	if of == nil {
		f, err := w.tw.Create(folder, w.s.format.Extension())
		if err != nil {
			return fmt.Errorf("file sink: %w", err)
		}
		enc, err := w.s.format.NewEncoder(f, w.sc.Schema)
		if err != nil {
			f.Abort()
			return fmt.Errorf("file sink: %w", err)
		}
		of = &openFile{f: f, enc: enc, started: now}
		of.size, _ = enc.(interface{ Size() int64 })
		w.open[folder] = of
	}
	if err := of.enc.Encode(b); err != nil {
		return fmt.Errorf("file sink: writing %s: %w", w.where(folder), err)
	}
	size := of.f.Size()
	if of.size != nil {
		size = max(size, of.size.Size())
	}
	if size >= w.s.cfg.RollBytes {
		return w.finish(ctx, folder, of)
	}
	return nil
}

// finish completes one open file and adds it to the open transaction.
func (w *writer) finish(ctx context.Context, folder string, of *openFile) error {
	delete(w.open, folder)
	return w.finishOne(ctx, folder, of)
}

// where names a folder's open file in errors.
func (w *writer) where(folder string) string {
	return fmt.Sprintf("a file in %s/%s", strings.TrimSuffix(w.s.store.String(), "/"), folder)
}

// finishAll completes every open file, uploading up to 8 at once.
func (w *writer) finishAll(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for folder, of := range w.open {
		g.Go(func() error { return w.finishOne(gctx, folder, of) })
	}
	err := g.Wait()
	clear(w.open)
	return err
}

func (w *writer) finishOne(ctx context.Context, folder string, of *openFile) error {
	if err := of.enc.Close(); err != nil {
		of.f.Abort()
		return fmt.Errorf("file sink: finishing %s: %w", w.where(folder), err)
	}
	if err := of.f.Finish(ctx); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// PreCommit implements connectors.TransactionalWriter: every open file is
// finished (a checkpoint always rolls) and the files since the last
// PreCommit form the transaction.
func (w *writer) PreCommit(ctx context.Context, checkpoint uint64) (connectors.Txn, error) {
	if err := w.finishAll(ctx); err != nil {
		return nil, err
	}
	return w.tw.PreCommit(checkpoint)
}

// Flush implements connectors.SinkWriter: for a job without checkpoints,
// every file is finished and committed at once.
func (w *writer) Flush(ctx context.Context) error {
	if err := w.finishAll(ctx); err != nil {
		return err
	}
	if err := w.tw.Commit(ctx, w.s.committer); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// discardTimeout bounds the clean-up of uncommitted files at Close.
const discardTimeout = 30 * time.Second

// Close implements connectors.SinkWriter: open files are abandoned and
// finished files in no transaction are deleted. Pre-committed
// transactions are left for the Committer.
func (w *writer) Close() error {
	for folder, of := range w.open {
		of.f.Abort()
		delete(w.open, folder)
	}
	ctx, cancel := context.WithTimeout(context.Background(), discardTimeout)
	defer cancel()
	w.tw.Discard(ctx)
	return nil
}
