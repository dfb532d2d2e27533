// Package print provides the "print" sink, which writes every row to standard
// output (or standard error) as one line, in JSON lines by default. Rows from
// parallel subtasks interleave a batch at a time, never within a line.
//
// Options:
//
//	target  "stdout" (default) or "stderr"
//	format  "json" (default) or "csv"
package print

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/connectors"
	"github.com/sluicedata/sluice/formats"
	_ "github.com/sluicedata/sluice/formats/csv"  // register "csv"
	_ "github.com/sluicedata/sluice/formats/json" // register "json"
)

// Config is the print sink's options.
type Config struct {
	Target string `json:"target"`
	Format string `json:"format"`
}

func init() {
	connectors.RegisterSink("print", func(opts map[string]any) (connectors.Sink, error) {
		var cfg Config
		if err := connectors.Decode(opts, &cfg); err != nil {
			return nil, err
		}
		var w io.Writer
		switch cfg.Target {
		case "", "stdout":
			w = os.Stdout
		case "stderr":
			w = os.Stderr
		default:
			return nil, fmt.Errorf("option %q: value %q must be \"stdout\" or \"stderr\"", "target", cfg.Target)
		}
		return New(w, cfg.Format)
	})
}

// Sink writes rows to one shared writer.
type Sink struct {
	format formats.Format
	mu     sync.Mutex // serializes writes to w
	w      io.Writer
}

// New returns a print sink writing to w in the named format ("" means json).
func New(w io.Writer, format string) (*Sink, error) {
	if format == "" {
		format = "json"
	}
	f, err := formats.Lookup(format)
	if err != nil {
		return nil, fmt.Errorf("option %q: %w", "format", err)
	}
	return &Sink{format: f, w: w}, nil
}

// Check implements connectors.Sink.
func (s *Sink) Check(schema *arrow.Schema) error { return s.format.Check(schema) }

// Open implements connectors.Sink.
func (s *Sink) Open(_ context.Context, sc connectors.SinkContext) (connectors.SinkWriter, error) {
	w := &writer{s: s}
	enc, err := s.format.NewEncoder(&w.buf, sc.Schema)
	if err != nil {
		return nil, err
	}
	w.enc = enc
	return w, nil
}

type writer struct {
	s   *Sink
	buf bytes.Buffer
	enc formats.Encoder
}

func (w *writer) Write(_ context.Context, b arrow.RecordBatch) error {
	defer b.Release()
	if err := w.enc.Encode(b); err != nil {
		return err
	}
	if err := w.enc.Close(); err != nil { // flush the encoder into buf
		return err
	}
	w.s.mu.Lock()
	_, err := w.s.w.Write(w.buf.Bytes())
	w.s.mu.Unlock()
	w.buf.Reset()
	return err
}

func (w *writer) Flush(context.Context) error { return nil }
func (w *writer) Close() error                { return nil }
