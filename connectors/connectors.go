package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/internal/clock"
)

// Split is one independently readable, replayable unit of a source.
type Split struct {
	// ID is stable for the life of the job and unique within the source.
	ID string
	// Data is an opaque, connector-defined description of the split.
	Data []byte
}

// Position is an opaque, connector-defined place within a split. A nil
// Position means the beginning of the split.
type Position []byte

// ReadOptions are what the runtime tells a split reader.
type ReadOptions struct {
	// Allocator allocates every batch the reader returns.
	Allocator memory.Allocator
	// BatchSize is the maximum number of rows in a batch. Defaults to 4096.
	BatchSize int
	// Linger is how long a reader of a slow (rate-limited or live) split may
	// hold a partial batch before returning it. Defaults to 100ms.
	Linger time.Duration
	// Clock is the time source for rate limiting and lingering. Defaults to
	// the system clock.
	Clock clock.Clock
}

// EnsureDefaults fills in zero fields with their defaults and returns o.
func (o ReadOptions) EnsureDefaults() ReadOptions {
	if o.Allocator == nil {
		o.Allocator = memory.DefaultAllocator
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 4096
	}
	if o.Linger <= 0 {
		o.Linger = 100 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	return o
}

// Source is a connector that produces Arrow batches.
//
// A Source is created once per job at submission; its methods may be called
// concurrently from several subtasks.
type Source interface {
	// Schema is the schema of every batch the source emits. It is known at
	// submission, so expressions downstream are type-checked before the job runs.
	Schema() *arrow.Schema
	// Splits divides the source into splits for the given parallelism. A
	// source may return more splits than the parallelism; the runtime assigns
	// split i to subtask i mod parallelism.
	Splits(ctx context.Context, parallelism int) ([]Split, error)
	// Open returns a reader for split s that starts at pos (nil: the start).
	Open(ctx context.Context, s Split, pos Position, opts ReadOptions) (SplitReader, error)
}

// SplitReader reads one split. It is used by one goroutine at a time.
type SplitReader interface {
	// Next returns the next batch, whose ownership passes to the caller. It
	// returns io.EOF when a bounded split is exhausted, and ctx.Err() when
	// ctx is cancelled while it waits.
	Next(ctx context.Context) (arrow.RecordBatch, error)
	// Position returns the position just after the last batch returned by
	// Next. Reopening the split there continues without gaps or duplicates.
	Position() Position
	// Close releases the reader's resources.
	Close() error
}

// SinkContext is what the runtime tells a sink subtask.
type SinkContext struct {
	// Job is the job's name.
	Job string
	// Attempt increases every time the job (re)starts, also across
	// processes. Transactional writers put it in the names of what they
	// write, so two attempts never write the same object.
	Attempt uint64
	// Subtask is this writer's index in [0, Parallelism).
	Subtask, Parallelism int
	// Schema is the schema of every batch written.
	Schema *arrow.Schema
	// Allocator is for any Arrow memory the writer needs.
	Allocator memory.Allocator
	// Clock is the time source for time-based rolling and flushing.
	Clock clock.Clock
}

// Sink is a connector that consumes Arrow batches.
type Sink interface {
	// Check reports whether the sink can accept batches of this schema. It is
	// called at submission, before the job runs.
	Check(schema *arrow.Schema) error
	// Open returns the writer for one subtask.
	Open(ctx context.Context, sc SinkContext) (SinkWriter, error)
}

// SinkWriter writes one subtask's batches. It is used by one goroutine.
type SinkWriter interface {
	// Write takes ownership of b and releases it exactly once, also on error.
	Write(ctx context.Context, b arrow.RecordBatch) error
	// Flush makes everything written so far durable and visible.
	Flush(ctx context.Context) error
	// Close releases resources. It does not flush.
	Close() error
}

// SourceFactory builds a source from its options as written in the job spec.
type SourceFactory func(opts map[string]any) (Source, error)

// SinkFactory builds a sink from its options as written in the job spec. It
// should check what it can without the schema here (an unwritable path, a
// missing broker address) so that the job fails at submission.
type SinkFactory func(opts map[string]any) (Sink, error)

var registry struct {
	sync.RWMutex
	sources map[string]SourceFactory
	sinks   map[string]SinkFactory
}

// RegisterSource makes a source available by name. It panics if the name is
// taken: that is a programming error found at init.
func RegisterSource(name string, f SourceFactory) {
	registry.Lock()
	defer registry.Unlock()
	if registry.sources == nil {
		registry.sources = map[string]SourceFactory{}
	}
	if _, dup := registry.sources[name]; dup {
		panic(fmt.Sprintf("connectors: source %q registered twice", name))
	}
	registry.sources[name] = f
}

// RegisterSink makes a sink available by name. It panics if the name is taken.
func RegisterSink(name string, f SinkFactory) {
	registry.Lock()
	defer registry.Unlock()
	if registry.sinks == nil {
		registry.sinks = map[string]SinkFactory{}
	}
	if _, dup := registry.sinks[name]; dup {
		panic(fmt.Sprintf("connectors: sink %q registered twice", name))
	}
	registry.sinks[name] = f
}

// NewSource builds the named source.
func NewSource(name string, opts map[string]any) (Source, error) {
	registry.RLock()
	f, ok := registry.sources[name]
	known := keys(registry.sources)
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown source connector %q (known: %s)", name, strings.Join(known, ", "))
	}
	s, err := f(opts)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", name, err)
	}
	return s, nil
}

// NewSink builds the named sink.
func NewSink(name string, opts map[string]any) (Sink, error) {
	registry.RLock()
	f, ok := registry.sinks[name]
	known := keys(registry.sinks)
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown sink connector %q (known: %s)", name, strings.Join(known, ", "))
	}
	s, err := f(opts)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	return s, nil
}

// Sources returns the registered source names, sorted.
func Sources() []string {
	registry.RLock()
	defer registry.RUnlock()
	return keys(registry.sources)
}

// Sinks returns the registered sink names, sorted.
func Sinks() []string {
	registry.RLock()
	defer registry.RUnlock()
	return keys(registry.sinks)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Decode decodes connector options into cfg, a pointer to the connector's
// config struct with json tags. Unknown options and values of the wrong type
// are errors that name the option and the value.
func Decode(opts map[string]any, cfg any) error {
	raw, err := json.Marshal(opts)
	if err != nil {
		return fmt.Errorf("options: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case asTypeError(err, &te):
			return fmt.Errorf("option %q: value %s is not a %s", te.Field, valueOf(opts, te.Field), te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return fmt.Errorf("option %q: unknown option", field)
		default:
			return fmt.Errorf("options: %w", err)
		}
	}
	return nil
}

func asTypeError(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

func valueOf(opts map[string]any, field string) string {
	v, ok := opts[field]
	if !ok {
		return "?"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
