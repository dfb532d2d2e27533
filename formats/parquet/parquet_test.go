package parquet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/formats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// allTypes has every supported type, nullable and not.
func allTypes() *arrow.Schema {
	var fields []arrow.Field
	types := []arrow.DataType{
		arrow.FixedWidthTypes.Boolean,
		arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
		arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
		arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
		arrow.FixedWidthTypes.Date32,
		&arrow.TimestampType{Unit: arrow.Second},
		&arrow.TimestampType{Unit: arrow.Millisecond},
		&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"},
		&arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "Europe/Paris"},
		&arrow.TimestampType{Unit: arrow.Second, TimeZone: "America/New_York"},
	}
	for i, t := range types {
		fields = append(fields,
			arrow.Field{Name: fmt.Sprintf("c%02d_%s", i, strings.ReplaceAll(t.String(), " ", "")), Type: t, Nullable: true},
			arrow.Field{Name: fmt.Sprintf("r%02d_%s", i, strings.ReplaceAll(t.String(), " ", "")), Type: t})
	}
	return arrow.NewSchema(fields, nil)
}

// randomBatch fills a batch of n rows with random values, nulls in about
// nullRate of the nullable cells, extreme values included.
func randomBatch(rng *rand.Rand, mem memory.Allocator, schema *arrow.Schema, n int, nullRate float64) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	pick := func(extremes ...int64) int64 {
		if rng.IntN(8) == 0 {
			return extremes[rng.IntN(len(extremes))]
		}
		return rng.Int64() >> rng.IntN(64)
	}
	for i, f := range schema.Fields() {
		fb := b.Field(i)
		for range n {
			if f.Nullable && rng.Float64() < nullRate {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.BooleanBuilder:
				fb.Append(rng.IntN(2) == 0)
			case *array.Int8Builder:
				fb.Append(int8(pick(math.MinInt8, math.MaxInt8, 0)))
			case *array.Int16Builder:
				fb.Append(int16(pick(math.MinInt16, math.MaxInt16)))
			case *array.Int32Builder:
				fb.Append(int32(pick(math.MinInt32, math.MaxInt32)))
			case *array.Int64Builder:
				fb.Append(pick(math.MinInt64, math.MaxInt64))
			case *array.Uint8Builder:
				fb.Append(uint8(pick(math.MaxUint8, 0)))
			case *array.Uint16Builder:
				fb.Append(uint16(pick(math.MaxUint16)))
			case *array.Uint32Builder:
				fb.Append(uint32(pick(math.MaxUint32)))
			case *array.Uint64Builder:
				fb.Append(uint64(pick(-1, math.MaxInt64)))
			case *array.Float32Builder:
				fb.Append(float32(rng.NormFloat64() * 1e6))
			case *array.Float64Builder:
				fb.Append([]float64{rng.NormFloat64(), math.Inf(1), math.MaxFloat64, -0.5, 1e-300}[rng.IntN(5)])
			case *array.StringBuilder:
				fb.Append(randString(rng))
			case *array.LargeStringBuilder:
				fb.Append(randString(rng))
			case *array.BinaryBuilder:
				fb.Append([]byte(randString(rng)))
			case *array.Date32Builder:
				fb.Append(arrow.Date32(rng.IntN(200_000) - 100_000))
			case *array.TimestampBuilder:
				v := rng.Int64N(4e9) - 2e9 // about ±63 years in seconds
				switch f.Type.(*arrow.TimestampType).Unit {
				case arrow.Millisecond:
					v = v*1000 + rng.Int64N(1000)
				case arrow.Microsecond:
					v = v*1_000_000 + rng.Int64N(1_000_000)
				case arrow.Nanosecond:
					v = v*1_000_000_000 + rng.Int64N(1_000_000_000)
				}
				fb.Append(arrow.Timestamp(v))
			default:
				panic(fmt.Sprintf("no generator for %s", f.Type))
			}
		}
	}
	return b.NewRecordBatch()
}

func randString(rng *rand.Rand) string {
	alphabet := []string{"a", "Z", "\"", "\n", "\x00", "é", "😀", " ", "/", "=", "%"}
	var sb strings.Builder
	for n := rng.IntN(10); n > 0; n-- {
		sb.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return sb.String()
}

// readAll reads a file back into one batch per row group.
func readAll(t *testing.T, data []byte, mem memory.Allocator) (*Reader, []arrow.RecordBatch) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), int64(len(data)), mem)
	if err != nil {
		t.Fatal(err)
	}
	var out []arrow.RecordBatch
	for {
		b, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

// concat concatenates batches column by column; the caller releases the
// arrays.
func concat(t *testing.T, mem memory.Allocator, schema *arrow.Schema, bs []arrow.RecordBatch) []arrow.Array {
	t.Helper()
	cols := make([]arrow.Array, schema.NumFields())
	for i := range cols {
		parts := make([]arrow.Array, 0, len(bs))
		for _, b := range bs {
			parts = append(parts, b.Column(i))
		}
		if len(parts) == 0 {
			cols[i] = array.MakeArrayOfNull(mem, schema.Field(i).Type, 0)
			continue
		}
		c, err := array.Concatenate(parts, mem)
		if err != nil {
			t.Fatal(err)
		}
		cols[i] = c
	}
	return cols
}

func releaseAll[T interface{ Release() }](xs []T) {
	for _, x := range xs {
		x.Release()
	}
}

// TestRoundTripRandom writes random batches of every type with random
// options and checks that the reader returns the same schema and values,
// with row groups cut where the options say.
func TestRoundTripRandom(t *testing.T) {
	schema := allTypes()
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rng := rand.New(rand.NewPCG(seed, 99))
			codec := []string{"", "snappy", "zstd", "gzip", "lz4", "none"}[rng.IntN(6)]
			opts := Options{Compression: codec, RowGroupRows: []int{0, 3, 100, 1000}[rng.IntN(4)]}
			t.Logf("options %+v", opts)
			var buf bytes.Buffer
			enc, err := NewEncoder(&buf, schema, opts)
			if err != nil {
				t.Fatal(err)
			}
			var in []arrow.RecordBatch
			total := 0
			for range rng.IntN(6) {
				n := rng.IntN(700)
				b := randomBatch(rng, mem, schema, n+20, []float64{0, 0.1, 0.9, 1}[rng.IntN(4)])
				// A slice: arrays with an offset into their buffers.
				in = append(in, b.NewSlice(10, int64(n+10)))
				b.Release()
				total += n
				t.Logf("batch of %d rows", n)
				if err := enc.Encode(in[len(in)-1]); err != nil {
					t.Fatal(err)
				}
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if enc.Rows() != int64(total) {
				t.Fatalf("Rows() = %d, want %d", enc.Rows(), total)
			}
			defer releaseAll(in)
			checkCodec(t, buf.Bytes(), opts.EnsureDefaults().Compression)
			if codec == "lz4" {
				// The reader refuses LZ4_RAW (see NewReader); the DuckDB
				// test in tests/oracle reads such files.
				_, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), mem)
				if err == nil || !strings.Contains(err.Error(), "LZ4_RAW") {
					t.Fatalf("reading an LZ4_RAW file: %v", err)
				}
				return
			}
			r, out := readAll(t, buf.Bytes(), mem)
			defer releaseAll(out)
			if !r.Schema().Equal(schema) {
				t.Fatalf("schema read back:\n%s\nwant:\n%s", r.Schema(), schema)
			}
			if r.NumRows() != int64(total) {
				t.Fatalf("NumRows = %d, want %d", r.NumRows(), total)
			}
			groupRows := opts.EnsureDefaults().RowGroupRows
			if want := (total + groupRows - 1) / groupRows; r.NumRowGroups() != want {
				t.Errorf("%d rows in groups of %d: %d row groups, want %d", total, groupRows, r.NumRowGroups(), want)
			}
			want, got := concat(t, mem, schema, in), concat(t, mem, schema, out)
			defer releaseAll(want)
			defer releaseAll(got)
			for i := range want {
				if !array.Equal(want[i], got[i]) {
					t.Errorf("column %q differs after the round trip", schema.Field(i).Name)
				}
			}
		})
	}
}

func checkCodec(t *testing.T, data []byte, name string) {
	t.Helper()
	want := map[string]format.CompressionCodec{"snappy": format.Snappy, "zstd": format.Zstd, "gzip": format.Gzip, "lz4": format.Lz4Raw, "none": format.Uncompressed}[name]
	f, err := pq.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != want {
				t.Fatalf("column %v: codec %v, want %v", c.MetaData.PathInSchema, c.MetaData.Codec, want)
			}
		}
	}
}

// TestParquetTypes checks the Parquet logical types and repetition each
// Arrow type is written as, and the Arrow types a reader without the
// ARROW:schema metadata derives from them.
func TestParquetTypes(t *testing.T) {
	for _, tc := range []struct {
		arrow    arrow.DataType
		parquet  string
		nullable bool
		derived  arrow.DataType
	}{
		{arrow.FixedWidthTypes.Boolean, "BOOLEAN", true, arrow.FixedWidthTypes.Boolean},
		{arrow.PrimitiveTypes.Int8, "INT(8,true)", false, arrow.PrimitiveTypes.Int8},
		{arrow.PrimitiveTypes.Uint16, "INT(16,false)", true, arrow.PrimitiveTypes.Uint16},
		{arrow.PrimitiveTypes.Uint64, "INT(64,false)", true, arrow.PrimitiveTypes.Uint64},
		{arrow.PrimitiveTypes.Float32, "FLOAT", true, arrow.PrimitiveTypes.Float32},
		{arrow.BinaryTypes.LargeString, "STRING", true, arrow.BinaryTypes.String},
		{arrow.BinaryTypes.Binary, "BYTE_ARRAY", true, arrow.BinaryTypes.Binary},
		{arrow.FixedWidthTypes.Date32, "DATE", true, arrow.FixedWidthTypes.Date32},
		{&arrow.TimestampType{Unit: arrow.Second}, "TIMESTAMP(isAdjustedToUTC=false,unit=MILLIS)", true, &arrow.TimestampType{Unit: arrow.Millisecond}},
		{&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "Asia/Tokyo"}, "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)", true, &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{&arrow.TimestampType{Unit: arrow.Nanosecond}, "TIMESTAMP(isAdjustedToUTC=false,unit=NANOS)", false, &arrow.TimestampType{Unit: arrow.Nanosecond}},
	} {
		s := arrow.NewSchema([]arrow.Field{{Name: "x", Type: tc.arrow, Nullable: tc.nullable}}, nil)
		ps, err := parquetSchema(s)
		if err != nil {
			t.Fatal(err)
		}
		leaf := ps.Fields()[0]
		got := leaf.Type().String()
		if lt := leaf.Type().LogicalType(); lt != nil {
			got = lt.String()
		}
		if got != tc.parquet || leaf.Optional() != tc.nullable {
			t.Errorf("%s (nullable %v): Parquet %s optional=%v, want %s optional=%v", tc.arrow, tc.nullable, got, leaf.Optional(), tc.parquet, tc.nullable)
		}
		d, err := derivedSchema(ps)
		if err != nil {
			t.Fatal(err)
		}
		if !arrow.TypeEqual(d.Field(0).Type, tc.derived) || d.Field(0).Nullable != tc.nullable {
			t.Errorf("%s: derived Arrow type %s nullable=%v, want %s", tc.arrow, d.Field(0).Type, d.Field(0).Nullable, tc.derived)
		}
	}
}

// TestColumnOrder checks that columns keep the Arrow schema's order, not
// parquet-go's alphabetical group order.
func TestColumnOrder(t *testing.T) {
	s := arrow.NewSchema([]arrow.Field{
		{Name: "zeta", Type: arrow.PrimitiveTypes.Int64},
		{Name: "alpha", Type: arrow.BinaryTypes.String},
		{Name: "Mid", Type: arrow.FixedWidthTypes.Boolean},
	}, nil)
	ps, err := parquetSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ps.Fields() {
		names = append(names, f.Name())
	}
	if strings.Join(names, ",") != "zeta,alpha,Mid" {
		t.Fatalf("column order %v", names)
	}
}

func TestBadInput(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	bad := arrow.NewSchema([]arrow.Field{
		{Name: "ok", Type: arrow.PrimitiveTypes.Int64},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String)},
	}, nil)
	for name, err := range map[string]error{
		"Check":        Check(bad),
		"format Check": Format{}.Check(bad),
		"NewEncoder":   func() error { _, err := NewEncoder(io.Discard, bad, Options{}); return err }(),
	} {
		if err == nil || !strings.Contains(err.Error(), `column "tags"`) || !strings.Contains(err.Error(), "list<item: utf8") {
			t.Errorf("%s: error %v, want it to name the column and its type", name, err)
		}
	}
	if err := Check(arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int8}, {Name: "a", Type: arrow.PrimitiveTypes.Int8}}, nil)); err == nil || !strings.Contains(err.Error(), `"a" appears twice`) {
		t.Errorf("duplicate column: %v", err)
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Compression: "brotli9"}, `compression "brotli9" is not one of`},
		{Options{RowGroupRows: -1}, "row_group_rows -1 must be positive"},
	} {
		if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}

	// Nulls in a non-nullable column, and a batch of another schema.
	s := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	enc, err := NewEncoder(io.Discard, s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewInt64Builder(mem)
	b.AppendValues([]int64{1, 0}, []bool{true, false})
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(s, []arrow.Array{col}, 2)
	col.Release()
	if err := enc.Encode(rec); err == nil || !strings.Contains(err.Error(), `column "id" is not nullable but has 1 nulls`) {
		t.Errorf("nulls in a required column: %v", err)
	}
	rec.Release()
	other := randomBatch(rand.New(rand.NewPCG(1, 1)), mem, arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}}, nil), 3, 0)
	if err := enc.Encode(other); err == nil || !strings.Contains(err.Error(), `column "id": batch type int32, the file's schema int64`) {
		t.Errorf("wrong batch type: %v", err)
	}
	other.Release()
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := NewReader(bytes.NewReader([]byte("not parquet")), 11, mem); err == nil {
		t.Error("NewReader of garbage succeeded")
	}
}

// TestRegistered checks that "parquet" is in the format registry.
func TestRegistered(t *testing.T) {
	f, err := formats.Lookup("parquet")
	if err != nil {
		t.Fatal(err)
	}
	if f.Extension() != ".parquet" {
		t.Errorf("extension %q", f.Extension())
	}
}

// TestEmptyFile checks that a file with no rows is valid.
func TestEmptyFile(t *testing.T) {
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, allTypes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	r, out := readAll(t, buf.Bytes(), memory.DefaultAllocator)
	if len(out) != 0 || r.NumRows() != 0 || !r.Schema().Equal(allTypes()) {
		t.Fatalf("empty file: %d batches, %d rows, schema %s", len(out), r.NumRows(), r.Schema())
	}
}

// BenchmarkEncode measures encoding a Nexmark-bid-like batch.
func BenchmarkEncode(b *testing.B) {
	s := arrow.NewSchema([]arrow.Field{
		{Name: "auction", Type: arrow.PrimitiveTypes.Int64},
		{Name: "bidder", Type: arrow.PrimitiveTypes.Int64},
		{Name: "price", Type: arrow.PrimitiveTypes.Int64},
		{Name: "channel", Type: arrow.BinaryTypes.String},
		{Name: "url", Type: arrow.BinaryTypes.String},
		{Name: "dateTime", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "extra", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	rec := randomBatch(rand.New(rand.NewPCG(5, 5)), memory.DefaultAllocator, s, 4096, 0.1)
	defer rec.Release()
	b.ReportAllocs()
	b.SetBytes(4096 * 7 * 8)
	enc, err := NewEncoder(io.Discard, s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := enc.Encode(rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		b.Fatal(err)
	}
}
