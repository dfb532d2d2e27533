package formats

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// Format is a named codec.
type Format interface {
	// Name is the name used in job files, for example "json".
	Name() string
	// Extension is the file name extension, with the dot, for example ".jsonl".
	Extension() string
	// Check reports whether the format can encode batches of schema; the
	// error names the first column it cannot encode.
	Check(schema *arrow.Schema) error
	// NewEncoder returns an encoder writing batches of schema to w.
	NewEncoder(w io.Writer, schema *arrow.Schema) (Encoder, error)
}

// Encoder writes batches. It does not take ownership of them.
type Encoder interface {
	// Encode writes every row of b.
	Encode(b arrow.RecordBatch) error
	// Close flushes buffered output. It does not close the underlying writer.
	Close() error
}

var registry struct {
	sync.RWMutex
	formats map[string]Format
}

// Register makes a format available by name. It panics if the name is taken.
func Register(f Format) {
	registry.Lock()
	defer registry.Unlock()
	if registry.formats == nil {
		registry.formats = map[string]Format{}
	}
	if _, dup := registry.formats[f.Name()]; dup {
		panic(fmt.Sprintf("formats: %q registered twice", f.Name()))
	}
	registry.formats[f.Name()] = f
}

// Lookup returns the named format.
func Lookup(name string) (Format, error) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.formats[name]
	if !ok {
		known := make([]string, 0, len(registry.formats))
		for k := range registry.formats {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("unknown format %q (known: %s)", name, strings.Join(known, ", "))
	}
	return f, nil
}
