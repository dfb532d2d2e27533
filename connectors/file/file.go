// Package file provides the "file" sink, which writes each subtask's rows to
// one file in a local directory, in JSON lines or CSV.
//
// A subtask writes to a hidden in-progress file and renames it to its final
// name, part-<subtask><ext>, when its input ends, so a reader never sees a
// partial file under a final name. The directory is created if needed and
// checked for write access when the job is submitted.
//
// Options:
//
//	path    directory to write into (required)
//	format  "json" (default) or "csv"
package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/formats"
	_ "github.com/sluicedata/sluice/formats/csv"  // register "csv"
	_ "github.com/sluicedata/sluice/formats/json" // register "json"
)

// Config is the file sink's options.
type Config struct {
	Path   string `json:"path"`
	Format string `json:"format"`
}

func init() {
	connectors.RegisterSink("file", func(opts map[string]any) (connectors.Sink, error) {
		var cfg Config
		if err := connectors.Decode(opts, &cfg); err != nil {
			return nil, err
		}
		return New(cfg)
	})
}

// Sink writes part files into a directory.
type Sink struct {
	dir    string
	format formats.Format
}

// New checks cfg, creates the directory, and verifies that it is writable.
func New(cfg Config) (*Sink, error) {
	if cfg.Path == "" {
		return nil, fmt.Errorf("option %q: a directory is required", "path")
	}
	if cfg.Format == "" {
		cfg.Format = "json"
	}
	f, err := formats.Lookup(cfg.Format)
	if err != nil {
		return nil, fmt.Errorf("option %q: %w", "format", err)
	}
	if err := checkWritable(cfg.Path); err != nil {
		return nil, fmt.Errorf("option %q: %w", "path", err)
	}
	return &Sink{dir: cfg.Path, format: f}, nil
}

// checkWritable checks, without creating anything, that dir either is a
// writable directory or can be created: its nearest existing ancestor must be
// a writable directory.
func checkWritable(dir string) error {
	p := filepath.Clean(dir)
	for {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			if p == filepath.Clean(dir) {
				return fmt.Errorf("%q is a file, not a directory", dir)
			}
			return fmt.Errorf("cannot create directory %q: %q is a file", dir, p)
		case err == nil:
			if err := syscall.Access(p, 2 /* W_OK */); err != nil {
				return fmt.Errorf("directory %q is not writable: %w", p, err)
			}
			return nil
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

// Check implements connectors.Sink.
func (s *Sink) Check(schema *arrow.Schema) error { return s.format.Check(schema) }

// PartPath returns the final path of subtask's file.
func (s *Sink) PartPath(subtask int) string {
	return filepath.Join(s.dir, fmt.Sprintf("part-%d%s", subtask, s.format.Extension()))
}

// Open implements connectors.Sink.
func (s *Sink) Open(_ context.Context, sc connectors.SinkContext) (connectors.SinkWriter, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	final := s.PartPath(sc.Subtask)
	tmp := filepath.Join(s.dir, "."+filepath.Base(final)+".inprogress")
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	enc, err := s.format.NewEncoder(f, sc.Schema)
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	return &writer{f: f, enc: enc, tmp: tmp, final: final}, nil
}

type writer struct {
	f          *os.File
	enc        formats.Encoder
	tmp, final string
	done       bool
}

func (w *writer) Write(_ context.Context, b arrow.RecordBatch) error {
	defer b.Release()
	if err := w.enc.Encode(b); err != nil {
		return fmt.Errorf("file sink: writing %s: %w", w.tmp, err)
	}
	return nil
}

// Flush completes the file: everything is synced and renamed to its final name.
func (w *writer) Flush(context.Context) error {
	if w.done {
		return nil
	}
	if err := w.enc.Close(); err != nil {
		return fmt.Errorf("file sink: writing %s: %w", w.tmp, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("file sink: syncing %s: %w", w.tmp, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("file sink: closing %s: %w", w.tmp, err)
	}
	if err := os.Rename(w.tmp, w.final); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	w.done = true
	return nil
}

// Close abandons an unfinished file: its in-progress file is removed.
func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.f.Close()
	return os.Remove(w.tmp)
}
