package parquet

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/lz4"

	"github.com/sluicedata/sluice/formats"
)

func init() { formats.Register(Format{}) }

// DefaultRowGroupRows is the default for Options.RowGroupRows.
const DefaultRowGroupRows = 128 * 1024

// Options configure the encoder. The zero value is the default.
type Options struct {
	// Compression is the codec of every column chunk: "snappy" (the
	// default), "zstd", "gzip", "lz4" (Parquet's LZ4_RAW) or "none".
	Compression string
	// RowGroupRows is the number of rows in a row group (the last one of a
	// file may hold fewer). Default DefaultRowGroupRows. A row group is
	// buffered in memory, compressed, until it is complete.
	RowGroupRows int
}

var codecs = map[string]compress.Codec{
	"snappy": &pq.Snappy,
	"zstd":   &pq.Zstd,
	"gzip":   &pq.Gzip,
	"lz4":    &lz4.Codec{Level: lz4.Fastest}, // parquet-go's default (HC) is slow on small pages
	"none":   &pq.Uncompressed,
}

// EnsureDefaults fills in zero fields with their defaults and returns o.
func (o Options) EnsureDefaults() Options {
	if o.Compression == "" {
		o.Compression = "snappy"
	}
	if o.RowGroupRows == 0 {
		o.RowGroupRows = DefaultRowGroupRows
	}
	return o
}

// Validate reports every invalid field, naming it and its value.
func (o Options) Validate() error {
	var err error
	if _, ok := codecs[o.Compression]; !ok && o.Compression != "" {
		err = errors.Join(err, fmt.Errorf("compression %q is not one of snappy, zstd, gzip, lz4, none", o.Compression))
	}
	if o.RowGroupRows < 0 {
		err = errors.Join(err, fmt.Errorf("row_group_rows %d must be positive", o.RowGroupRows))
	}
	return err
}

// Format is the Parquet format. The zero value (registered as "parquet")
// uses the default Options.
type Format struct {
	Options Options
}

// New returns the format with opts, after validating them.
func New(opts Options) (Format, error) {
	if err := opts.Validate(); err != nil {
		return Format{}, err
	}
	return Format{Options: opts.EnsureDefaults()}, nil
}

// Name implements formats.Format.
func (Format) Name() string { return "parquet" }

// Extension implements formats.Format.
func (Format) Extension() string { return ".parquet" }

// Check implements formats.Format.
func (Format) Check(schema *arrow.Schema) error { return Check(schema) }

// NewEncoder implements formats.Format: it returns an *Encoder.
func (f Format) NewEncoder(w io.Writer, schema *arrow.Schema) (formats.Encoder, error) {
	return NewEncoder(w, schema, f.Options)
}

// Encoder writes one Parquet file. It is used by one goroutine and does not
// take ownership of the batches it encodes.
type Encoder struct {
	w        *pq.GenericWriter[any]
	schema   *arrow.Schema
	cols     []*pq.ColumnWriter
	optional []bool
	groupMax int
	group    int // rows in the open row group
	rows     int64
	vals     []pq.Value // scratch, reused for every column
	closed   bool
}

var _ formats.Encoder = (*Encoder)(nil)

// NewEncoder returns an encoder writing a Parquet file of schema to w.
// Nothing is written to w before the first row group is complete.
func NewEncoder(w io.Writer, schema *arrow.Schema, opts Options) (*Encoder, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	opts = opts.EnsureDefaults()
	ps, err := parquetSchema(schema)
	if err != nil {
		return nil, err
	}
	meta, err := encodeArrowSchema(schema)
	if err != nil {
		return nil, err
	}
	cfg, err := pq.NewWriterConfig(
		ps,
		pq.Compression(codecs[opts.Compression]),
		pq.KeyValueMetadata(arrowSchemaKey, meta),
		pq.CreatedBy("sluice", "dev", ""),
	)
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	e := &Encoder{
		w:        pq.NewGenericWriter[any](w, cfg),
		schema:   schema,
		optional: make([]bool, schema.NumFields()),
		groupMax: opts.RowGroupRows,
	}
	e.cols = e.w.ColumnWriters()
	for i, f := range schema.Fields() {
		e.optional[i] = f.Nullable
	}
	return e, nil
}

// Rows returns the number of rows encoded so far.
func (e *Encoder) Rows() int64 { return e.rows }

// Size estimates the file's size so far: the bytes written to w plus the
// open row group's buffered (compressed) pages and values.
func (e *Encoder) Size() int64 { return e.w.Size() }

// Encode writes every row of b. b's columns must have the encoder schema's
// types; a non-nullable column must hold no nulls.
func (e *Encoder) Encode(b arrow.RecordBatch) error {
	if e.closed {
		return errors.New("parquet: Encode after Close")
	}
	if err := e.checkBatch(b); err != nil {
		return err
	}
	n := int(b.NumRows())
	for off := 0; off < n; {
		k := min(n-off, e.groupMax-e.group)
		for i, col := range b.Columns() {
			e.vals = fillValues(e.vals[:0], col, off, k, i, e.optional[i])
			if _, err := e.cols[i].WriteRowValues(e.vals); err != nil {
				return fmt.Errorf("parquet: column %q: %w", e.schema.Field(i).Name, err)
			}
		}
		clear(e.vals) // drop references to b's buffers
		off += k
		e.group += k
		e.rows += int64(k)
		if e.group == e.groupMax {
			if err := e.w.Flush(); err != nil {
				return fmt.Errorf("parquet: writing a row group: %w", err)
			}
			e.group = 0
		}
	}
	return nil
}

func (e *Encoder) checkBatch(b arrow.RecordBatch) error {
	if int(b.NumCols()) != e.schema.NumFields() {
		return fmt.Errorf("parquet: batch has %d columns, the file's schema %d", b.NumCols(), e.schema.NumFields())
	}
	for i, f := range e.schema.Fields() {
		col := b.Column(i)
		if !arrow.TypeEqual(col.DataType(), f.Type) {
			return fmt.Errorf("parquet: column %q: batch type %s, the file's schema %s", f.Name, col.DataType(), f.Type)
		}
		if !f.Nullable && col.NullN() > 0 {
			return fmt.Errorf("parquet: column %q is not nullable but has %d nulls", f.Name, col.NullN())
		}
	}
	return nil
}

// Close writes the last row group and the footer. It does not close the
// underlying writer.
func (e *Encoder) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if err := e.w.Close(); err != nil {
		return fmt.Errorf("parquet: finishing the file: %w", err)
	}
	return nil
}

// fillValues appends to dst the Parquet values of rows [off, off+n) of col,
// the column at index colIdx. It walks the Arrow buffers directly, one type
// switch per call and a tight loop per type.
func fillValues(dst []pq.Value, col arrow.Array, off, n, colIdx int, optional bool) []pq.Value {
	l := levels{colIdx: colIdx}
	if col.NullN() > 0 {
		l.valid, l.validOff = col.NullBitmapBytes(), col.Data().Offset()
	}
	if optional {
		l.def = 1
	}
	switch a := col.(type) {
	case *array.Boolean:
		for i := off; i < off+n; i++ {
			dst = append(dst, l.value(i, pq.BooleanValue(a.Value(i))))
		}
		return dst
	case *array.Int8:
		return fillInt32(dst, a.Int8Values(), off, n, &l)
	case *array.Int16:
		return fillInt32(dst, a.Int16Values(), off, n, &l)
	case *array.Int32:
		return fillInt32(dst, a.Int32Values(), off, n, &l)
	case *array.Uint8:
		return fillInt32(dst, a.Uint8Values(), off, n, &l)
	case *array.Uint16:
		return fillInt32(dst, a.Uint16Values(), off, n, &l)
	case *array.Uint32:
		return fillInt32(dst, a.Uint32Values(), off, n, &l)
	case *array.Date32:
		return fillInt32(dst, a.Date32Values(), off, n, &l)
	case *array.Int64:
		return fillInt64(dst, a.Int64Values(), off, n, 1, &l)
	case *array.Uint64:
		return fillInt64(dst, a.Uint64Values(), off, n, 1, &l)
	case *array.Timestamp:
		scale := int64(1)
		if a.DataType().(*arrow.TimestampType).Unit == arrow.Second {
			scale = 1000 // stored as milliseconds
		}
		return fillInt64(dst, a.TimestampValues(), off, n, scale, &l)
	case *array.Float32:
		v := a.Float32Values()
		for i := off; i < off+n; i++ {
			dst = append(dst, l.value(i, pq.FloatValue(v[i])))
		}
		return dst
	case *array.Float64:
		v := a.Float64Values()
		for i := off; i < off+n; i++ {
			dst = append(dst, l.value(i, pq.DoubleValue(v[i])))
		}
		return dst
	case *array.String:
		return fillBytes(dst, a.ValueBytes(), a.ValueOffsets(), off, n, &l)
	case *array.LargeString:
		return fillBytes(dst, a.ValueBytes(), a.ValueOffsets(), off, n, &l)
	case *array.Binary:
		return fillBytes(dst, a.ValueBytes(), a.ValueOffsets(), off, n, &l)
	case *array.LargeBinary:
		return fillBytes(dst, a.ValueBytes(), a.ValueOffsets(), off, n, &l)
	}
	// checkBatch and the schema mapping admit only the types above.
	panic(fmt.Sprintf("parquet: internal error: no value writer for %s", col.DataType()))
}

// levels gives values their definition level: 0 for a null, l.def (1 for
// an optional column, 0 for a required one) otherwise.
type levels struct {
	valid    []byte // the validity bitmap, nil if the column has no nulls
	validOff int
	colIdx   int
	def      int
}

func (l *levels) value(i int, v pq.Value) pq.Value {
	if l.valid != nil && !bitutil.BitIsSet(l.valid, l.validOff+i) {
		return pq.NullValue().Level(0, 0, l.colIdx)
	}
	return v.Level(0, l.def, l.colIdx)
}

func fillInt32[T int8 | int16 | int32 | uint8 | uint16 | uint32 | arrow.Date32](dst []pq.Value, v []T, off, n int, l *levels) []pq.Value {
	for i := off; i < off+n; i++ {
		dst = append(dst, l.value(i, pq.Int32Value(int32(v[i]))))
	}
	return dst
}

func fillInt64[T int64 | uint64 | arrow.Timestamp](dst []pq.Value, v []T, off, n int, scale int64, l *levels) []pq.Value {
	for i := off; i < off+n; i++ {
		dst = append(dst, l.value(i, pq.Int64Value(int64(v[i])*scale)))
	}
	return dst
}

// fillBytes reads variable-length values: data is ValueBytes(), which
// starts at offsets[0] (not 0) when the array is a slice.
func fillBytes[O int32 | int64](dst []pq.Value, data []byte, offsets []O, off, n int, l *levels) []pq.Value {
	base := offsets[0]
	for i := off; i < off+n; i++ {
		lo, hi := offsets[i]-base, offsets[i+1]-base
		// The column writer copies the bytes before the batch is released.
		dst = append(dst, l.value(i, pq.ByteArrayValue(data[lo:hi:hi])))
	}
	return dst
}
