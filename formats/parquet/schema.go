package parquet

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// arrowSchemaKey is the file metadata key under which the Arrow schema is
// stored, base64 of an Arrow IPC schema message, as Arrow C++ / pyarrow
// write it. Readers that know Arrow restore the exact types (time zone
// names, second-unit timestamps); others ignore it.
const arrowSchemaKey = "ARROW:schema"

// Check reports whether every column of schema maps to a Parquet type; the
// error names the first column that does not and its type.
func Check(schema *arrow.Schema) error {
	_, err := parquetSchema(schema)
	return err
}

// orderedGroup is the schema root: a group whose fields keep the Arrow
// schema's column order (parquet-go's Group sorts them by name).
type orderedGroup struct {
	pq.Group
	order []string
}

func (g orderedGroup) Fields() []pq.Field {
	fields := g.Group.Fields()
	out := make([]pq.Field, 0, len(fields))
	for _, name := range g.order {
		i := slices.IndexFunc(fields, func(f pq.Field) bool { return f.Name() == name })
		out = append(out, fields[i])
	}
	return out
}

// parquetSchema maps an Arrow schema to a Parquet schema: one flat column
// per field, optional when the field is nullable.
func parquetSchema(schema *arrow.Schema) (*pq.Schema, error) {
	g := orderedGroup{Group: pq.Group{}}
	for _, f := range schema.Fields() {
		if _, dup := g.Group[f.Name]; dup {
			return nil, fmt.Errorf("parquet: column %q appears twice", f.Name)
		}
		if f.Name == "" {
			return nil, fmt.Errorf("parquet: a column has an empty name")
		}
		n, err := leafNode(f.Type)
		if err != nil {
			return nil, fmt.Errorf("parquet: column %q: %w", f.Name, err)
		}
		if f.Nullable {
			n = pq.Optional(n)
		} else {
			n = pq.Required(n)
		}
		g.Group[f.Name] = n
		g.order = append(g.order, f.Name)
	}
	return pq.NewSchema("schema", g), nil
}

func leafNode(t arrow.DataType) (pq.Node, error) {
	switch t := t.(type) {
	case *arrow.BooleanType:
		return pq.Leaf(pq.BooleanType), nil
	case *arrow.Int8Type:
		return pq.Int(8), nil
	case *arrow.Int16Type:
		return pq.Int(16), nil
	case *arrow.Int32Type:
		return pq.Int(32), nil
	case *arrow.Int64Type:
		return pq.Int(64), nil
	case *arrow.Uint8Type:
		return pq.Uint(8), nil
	case *arrow.Uint16Type:
		return pq.Uint(16), nil
	case *arrow.Uint32Type:
		return pq.Uint(32), nil
	case *arrow.Uint64Type:
		return pq.Uint(64), nil
	case *arrow.Float32Type:
		return pq.Leaf(pq.FloatType), nil
	case *arrow.Float64Type:
		return pq.Leaf(pq.DoubleType), nil
	case *arrow.StringType, *arrow.LargeStringType:
		return pq.Encoded(pq.String(), &pq.RLEDictionary), nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return pq.Encoded(pq.Leaf(pq.ByteArrayType), &pq.RLEDictionary), nil
	case *arrow.Date32Type:
		return pq.Date(), nil
	case *arrow.TimestampType:
		// Parquet has no second unit: seconds are stored as milliseconds,
		// as Arrow C++ does. A time zone (any) means the values are
		// instants (UTC-adjusted); no time zone means local wall time.
		var u pq.TimeUnit
		switch t.Unit {
		case arrow.Second, arrow.Millisecond:
			u = pq.Millisecond
		case arrow.Microsecond:
			u = pq.Microsecond
		case arrow.Nanosecond:
			u = pq.Nanosecond
		}
		return pq.TimestampAdjusted(u, t.TimeZone != ""), nil
	default:
		return nil, fmt.Errorf("type %s is not supported (supported: bool, int8-64, uint8-64, float32/64, string, large_string, binary, large_binary, date32, timestamp)", t)
	}
}

// encodeArrowSchema serializes schema as an Arrow IPC stream holding only
// the schema, base64-encoded, for the ARROW:schema metadata key.
func encodeArrowSchema(schema *arrow.Schema) (string, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema), ipc.WithAllocator(memory.DefaultAllocator))
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("parquet: serializing the Arrow schema: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func decodeArrowSchema(s string) (*arrow.Schema, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some writers use the unpadded alphabet.
		raw, err = base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s metadata is not base64: %w", arrowSchemaKey, err)
		}
	}
	r, err := ipc.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s metadata is not an Arrow IPC schema: %w", arrowSchemaKey, err)
	}
	defer r.Release()
	return r.Schema(), nil
}

// arrowType maps a Parquet leaf column to the Arrow type a reader without
// ARROW:schema metadata gives it.
func arrowType(n pq.Node) (arrow.DataType, error) {
	t := n.Type()
	if lt := t.LogicalType(); lt != nil {
		switch v := lt.Value.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			return arrow.BinaryTypes.String, nil
		case *format.DateType:
			return arrow.FixedWidthTypes.Date32, nil
		case *format.IntType:
			switch {
			case v.BitWidth == 8 && v.IsSigned:
				return arrow.PrimitiveTypes.Int8, nil
			case v.BitWidth == 16 && v.IsSigned:
				return arrow.PrimitiveTypes.Int16, nil
			case v.BitWidth == 32 && v.IsSigned:
				return arrow.PrimitiveTypes.Int32, nil
			case v.BitWidth == 64 && v.IsSigned:
				return arrow.PrimitiveTypes.Int64, nil
			case v.BitWidth == 8:
				return arrow.PrimitiveTypes.Uint8, nil
			case v.BitWidth == 16:
				return arrow.PrimitiveTypes.Uint16, nil
			case v.BitWidth == 32:
				return arrow.PrimitiveTypes.Uint32, nil
			case v.BitWidth == 64:
				return arrow.PrimitiveTypes.Uint64, nil
			}
		case *format.TimestampType:
			ts := &arrow.TimestampType{}
			switch v.Unit.Value.(type) {
			case *format.MilliSeconds:
				ts.Unit = arrow.Millisecond
			case *format.MicroSeconds:
				ts.Unit = arrow.Microsecond
			default:
				ts.Unit = arrow.Nanosecond
			}
			if v.IsAdjustedToUTC {
				ts.TimeZone = "UTC"
			}
			return ts, nil
		}
	}
	switch t.Kind() {
	case pq.Boolean:
		return arrow.FixedWidthTypes.Boolean, nil
	case pq.Int32:
		return arrow.PrimitiveTypes.Int32, nil
	case pq.Int64:
		return arrow.PrimitiveTypes.Int64, nil
	case pq.Float:
		return arrow.PrimitiveTypes.Float32, nil
	case pq.Double:
		return arrow.PrimitiveTypes.Float64, nil
	case pq.ByteArray:
		return arrow.BinaryTypes.Binary, nil
	}
	return nil, fmt.Errorf("parquet type %s is not supported", t)
}

// physicalKind is the Parquet physical type an Arrow type is stored as.
func physicalKind(t arrow.DataType) (pq.Kind, bool) {
	switch t.ID() {
	case arrow.BOOL:
		return pq.Boolean, true
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.DATE32:
		return pq.Int32, true
	case arrow.INT64, arrow.UINT64, arrow.TIMESTAMP:
		return pq.Int64, true
	case arrow.FLOAT32:
		return pq.Float, true
	case arrow.FLOAT64:
		return pq.Double, true
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		return pq.ByteArray, true
	}
	return 0, false
}
