package parquet

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Reader reads a flat Parquet file as Arrow record batches, one per row
// group. It is used by one goroutine. Files with LZ4_RAW-compressed columns
// are refused (see NewReader); DuckDB and pyarrow read them.
//
// The Arrow schema is the one stored under ARROW:schema when the file has
// it and it matches the file's columns (files this package writes do), so
// a round trip restores time zone names and second-unit timestamps.
// Otherwise it is derived from the Parquet types: TIMESTAMP columns that
// are adjusted to UTC get the time zone "UTC".
type Reader struct {
	f       *pq.File
	schema  *arrow.Schema
	mem     memory.Allocator
	next    int // next row group
	vals    []pq.Value
	seconds []bool // column i stores an Arrow second-unit timestamp as milliseconds
}

// NewReader opens the Parquet file of size bytes read through r. mem
// allocates the batches Next returns.
func NewReader(r io.ReaderAt, size int64, mem memory.Allocator) (*Reader, error) {
	f, err := pq.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec == format.Lz4Raw {
				// parquet-go v0.32 mis-decodes some LZ4_RAW pages (it keeps
				// its own buffer when the codec returns a new one of the
				// page's exact size); refuse rather than return wrong data.
				return nil, fmt.Errorf("parquet: column %q is LZ4_RAW-compressed, which this reader does not support", strings.Join(c.MetaData.PathInSchema, "."))
			}
		}
	}
	derived, err := derivedSchema(f.Schema())
	if err != nil {
		return nil, err
	}
	schema := derived
	if s, ok := f.Lookup(arrowSchemaKey); ok {
		stored, err := decodeArrowSchema(s)
		if err == nil && compatible(stored, derived) {
			schema = stored
		}
	}
	rd := &Reader{f: f, schema: schema, mem: mem, seconds: make([]bool, schema.NumFields())}
	for i, fl := range schema.Fields() {
		if ts, ok := fl.Type.(*arrow.TimestampType); ok && ts.Unit == arrow.Second {
			rd.seconds[i] = true
		}
	}
	return rd, nil
}

// derivedSchema maps a flat Parquet schema to Arrow.
func derivedSchema(s *pq.Schema) (*arrow.Schema, error) {
	var fields []arrow.Field
	for _, f := range s.Fields() {
		if !f.Leaf() || f.Repeated() {
			return nil, fmt.Errorf("parquet: column %q: nested and repeated columns are not supported", f.Name())
		}
		t, err := arrowType(f)
		if err != nil {
			return nil, fmt.Errorf("parquet: column %q: %w", f.Name(), err)
		}
		fields = append(fields, arrow.Field{Name: f.Name(), Type: t, Nullable: f.Optional()})
	}
	return arrow.NewSchema(fields, nil), nil
}

// compatible reports whether stored (from ARROW:schema) describes the
// file's columns: same names, nullability and physical storage.
func compatible(stored, derived *arrow.Schema) bool {
	if stored.NumFields() != derived.NumFields() {
		return false
	}
	for i, s := range stored.Fields() {
		d := derived.Field(i)
		sk, ok1 := physicalKind(s.Type)
		dk, ok2 := physicalKind(d.Type)
		if s.Name != d.Name || s.Nullable != d.Nullable || !ok1 || !ok2 || sk != dk {
			return false
		}
	}
	return true
}

// Schema returns the schema of every batch Next returns.
func (r *Reader) Schema() *arrow.Schema { return r.schema }

// NumRows returns the number of rows in the file.
func (r *Reader) NumRows() int64 { return r.f.NumRows() }

// NumRowGroups returns the number of row groups in the file.
func (r *Reader) NumRowGroups() int { return len(r.f.RowGroups()) }

// Next returns the next row group as a batch, which the caller owns and
// must release. It returns io.EOF after the last one.
func (r *Reader) Next() (arrow.RecordBatch, error) {
	groups := r.f.RowGroups()
	if r.next >= len(groups) {
		return nil, io.EOF
	}
	rg := groups[r.next]
	r.next++
	b := array.NewRecordBuilder(r.mem, r.schema)
	defer b.Release()
	for i, chunk := range rg.ColumnChunks() {
		if err := r.readChunk(chunk, b.Field(i), i); err != nil {
			return nil, fmt.Errorf("parquet: row group %d, column %q: %w", r.next-1, r.schema.Field(i).Name, err)
		}
	}
	rec := b.NewRecordBatch()
	if rec.NumRows() != rg.NumRows() {
		rec.Release()
		return nil, fmt.Errorf("parquet: row group %d: read %d rows, the footer says %d", r.next-1, rec.NumRows(), rg.NumRows())
	}
	return rec, nil
}

func (r *Reader) readChunk(chunk pq.ColumnChunk, b array.Builder, col int) error {
	pages := chunk.Pages()
	defer pages.Close()
	if cap(r.vals) == 0 {
		r.vals = make([]pq.Value, 1024)
	}
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(r.vals)
			if err := r.appendValues(b, r.vals[:n], col); err != nil {
				pq.Release(p)
				return err
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pq.Release(p)
				return err
			}
		}
		pq.Release(p)
	}
}

func (r *Reader) appendValues(b array.Builder, vals []pq.Value, col int) error {
	for _, v := range vals {
		if v.IsNull() {
			b.AppendNull()
			continue
		}
		switch b := b.(type) {
		case *array.BooleanBuilder:
			b.Append(v.Boolean())
		case *array.Int8Builder:
			b.Append(int8(v.Int32()))
		case *array.Int16Builder:
			b.Append(int16(v.Int32()))
		case *array.Int32Builder:
			b.Append(v.Int32())
		case *array.Int64Builder:
			b.Append(v.Int64())
		case *array.Uint8Builder:
			b.Append(uint8(v.Int32()))
		case *array.Uint16Builder:
			b.Append(uint16(v.Int32()))
		case *array.Uint32Builder:
			b.Append(uint32(v.Int32()))
		case *array.Uint64Builder:
			b.Append(uint64(v.Int64()))
		case *array.Float32Builder:
			b.Append(v.Float())
		case *array.Float64Builder:
			b.Append(v.Double())
		case *array.Date32Builder:
			b.Append(arrow.Date32(v.Int32()))
		case *array.TimestampBuilder:
			t := v.Int64()
			if r.seconds[col] {
				t /= 1000
			}
			b.Append(arrow.Timestamp(t))
		case *array.StringBuilder:
			b.BinaryBuilder.Append(v.ByteArray())
		case *array.LargeStringBuilder:
			b.BinaryBuilder.Append(v.ByteArray())
		case *array.BinaryBuilder:
			b.Append(v.ByteArray())
		default:
			return fmt.Errorf("no reader for Arrow type %s", b.Type())
		}
	}
	return nil
}
