// Package json encodes Arrow record batches as JSON lines: one object per
// row, keys in schema order. Timestamps are written as RFC 3339 strings in
// UTC with the column's precision, dates as YYYY-MM-DD, NULL as null, and
// non-finite floats as the strings "NaN", "Infinity" and "-Infinity" so that no
// value is lost.
//
// The encoder works a column at a time per row with no reflection and no
// per-row allocation.
package json

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedata/sluice/formats"
)

func init() { formats.Register(Format{}) }

// Format is the JSON lines format, registered as "json".
type Format struct{}

// Name implements formats.Format.
func (Format) Name() string { return "json" }

// Extension implements formats.Format.
func (Format) Extension() string { return ".jsonl" }

// Check implements formats.Format.
func (Format) Check(schema *arrow.Schema) error {
	for _, f := range schema.Fields() {
		if _, err := appenderFor(f.Type); err != nil {
			return fmt.Errorf("json: column %q: %w", f.Name, err)
		}
	}
	return nil
}

// NewEncoder implements formats.Format.
func (f Format) NewEncoder(w io.Writer, schema *arrow.Schema) (formats.Encoder, error) {
	if err := f.Check(schema); err != nil {
		return nil, err
	}
	keys := make([][]byte, schema.NumFields())
	for i, fd := range schema.Fields() {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		keys[i] = append(appendString([]byte(sep), fd.Name), ':')
	}
	return &Encoder{w: bufio.NewWriterSize(w, 64<<10), schema: schema, keys: keys}, nil
}

// Encoder writes JSON lines.
type Encoder struct {
	w      *bufio.Writer
	schema *arrow.Schema
	keys   [][]byte
	buf    []byte
	apps   []appender
}

// Encode implements formats.Encoder.
func (e *Encoder) Encode(b arrow.RecordBatch) error {
	if !b.Schema().Equal(e.schema) {
		return fmt.Errorf("json: batch schema %s does not match encoder schema %s", b.Schema(), e.schema)
	}
	e.apps = e.apps[:0]
	for _, c := range b.Columns() {
		a, err := appenderFor(c.DataType())
		if err != nil {
			return err
		}
		e.apps = append(e.apps, a)
	}
	cols := b.Columns()
	for r := 0; r < int(b.NumRows()); r++ {
		buf := e.buf[:0]
		for i, c := range cols {
			buf = append(buf, e.keys[i]...)
			if c.IsNull(r) {
				buf = append(buf, "null"...)
				continue
			}
			buf = e.apps[i](buf, c, r)
		}
		buf = append(buf, '}', '\n')
		if _, err := e.w.Write(buf); err != nil {
			return err
		}
		e.buf = buf
	}
	return nil
}

// Close implements formats.Encoder.
func (e *Encoder) Close() error { return e.w.Flush() }

type appender func(buf []byte, a arrow.Array, i int) []byte

func appenderFor(dt arrow.DataType) (appender, error) {
	switch dt.ID() {
	case arrow.BOOL:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendBool(b, a.(*array.Boolean).Value(i))
		}, nil
	case arrow.INT8:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, int64(a.(*array.Int8).Value(i)), 10)
		}, nil
	case arrow.INT16:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, int64(a.(*array.Int16).Value(i)), 10)
		}, nil
	case arrow.INT32:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, int64(a.(*array.Int32).Value(i)), 10)
		}, nil
	case arrow.INT64:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendInt(b, a.(*array.Int64).Value(i), 10)
		}, nil
	case arrow.UINT8:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, uint64(a.(*array.Uint8).Value(i)), 10)
		}, nil
	case arrow.UINT16:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, uint64(a.(*array.Uint16).Value(i)), 10)
		}, nil
	case arrow.UINT32:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, uint64(a.(*array.Uint32).Value(i)), 10)
		}, nil
	case arrow.UINT64:
		return func(b []byte, a arrow.Array, i int) []byte {
			return strconv.AppendUint(b, a.(*array.Uint64).Value(i), 10)
		}, nil
	case arrow.FLOAT32:
		return func(b []byte, a arrow.Array, i int) []byte {
			return appendFloat(b, float64(a.(*array.Float32).Value(i)), 32)
		}, nil
	case arrow.FLOAT64:
		return func(b []byte, a arrow.Array, i int) []byte {
			return appendFloat(b, a.(*array.Float64).Value(i), 64)
		}, nil
	case arrow.STRING:
		return func(b []byte, a arrow.Array, i int) []byte {
			return appendString(b, a.(*array.String).Value(i))
		}, nil
	case arrow.LARGE_STRING:
		return func(b []byte, a arrow.Array, i int) []byte {
			return appendString(b, a.(*array.LargeString).Value(i))
		}, nil
	case arrow.TIMESTAMP:
		unit := dt.(*arrow.TimestampType).Unit
		layout := map[arrow.TimeUnit]string{
			arrow.Second:      "2006-01-02T15:04:05Z",
			arrow.Millisecond: "2006-01-02T15:04:05.000Z",
			arrow.Microsecond: "2006-01-02T15:04:05.000000Z",
			arrow.Nanosecond:  "2006-01-02T15:04:05.000000000Z",
		}[unit]
		return func(b []byte, a arrow.Array, i int) []byte {
			t := a.(*array.Timestamp).Value(i).ToTime(unit).UTC()
			b = append(b, '"')
			b = t.AppendFormat(b, layout)
			return append(b, '"')
		}, nil
	case arrow.DATE32:
		return func(b []byte, a arrow.Array, i int) []byte {
			t := a.(*array.Date32).Value(i).ToTime()
			b = append(b, '"')
			b = t.AppendFormat(b, time.DateOnly)
			return append(b, '"')
		}, nil
	}
	return nil, fmt.Errorf("type %s is not supported", dt)
}

func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	// As encoding/json: plain notation unless the exponent is extreme.
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, f, format, -1, bits)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
