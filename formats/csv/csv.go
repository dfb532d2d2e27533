// Package csv encodes Arrow record batches as CSV with a header row, using
// arrow-go's CSV writer. NULL is written as an empty field.
package csv

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"

	"github.com/sluicedata/sluice/formats"
)

func init() { formats.Register(Format{}) }

// Format is the CSV format, registered as "csv".
type Format struct{}

// Name implements formats.Format.
func (Format) Name() string { return "csv" }

// Extension implements formats.Format.
func (Format) Extension() string { return ".csv" }

// Check implements formats.Format. CSV holds flat values only.
func (Format) Check(schema *arrow.Schema) error {
	for _, f := range schema.Fields() {
		switch f.Type.ID() {
		case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
			arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.FLOAT32, arrow.FLOAT64, arrow.STRING, arrow.LARGE_STRING,
			arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		default:
			return fmt.Errorf("csv: column %q: type %s is not supported", f.Name, f.Type)
		}
	}
	return nil
}

// NewEncoder implements formats.Format.
func (f Format) NewEncoder(w io.Writer, schema *arrow.Schema) (formats.Encoder, error) {
	if err := f.Check(schema); err != nil {
		return nil, err
	}
	return &encoder{w: arrowcsv.NewWriter(w, schema, arrowcsv.WithHeader(true), arrowcsv.WithNullWriter(""))}, nil
}

type encoder struct{ w *arrowcsv.Writer }

func (e *encoder) Encode(b arrow.RecordBatch) error { return e.w.Write(b) }

func (e *encoder) Close() error {
	e.w.Flush()
	return e.w.Error()
}
