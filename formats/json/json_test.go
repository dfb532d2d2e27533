package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/formats"
	_ "github.com/sluicedata/sluice/formats/json"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "t", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
	{Name: "weird \"name\"", Type: arrow.PrimitiveTypes.Uint8},
}, nil)

func randString(rng *rand.Rand) string {
	alphabet := []string{"a", "Z", "\"", "\\", "\n", "\t", "\x01", "é", "😀", " ", "/", "\x7f"}
	var sb strings.Builder
	for n := rng.IntN(12); n > 0; n-- {
		sb.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return sb.String()
}

// TestRoundTrip encodes random batches and decodes every line with the
// standard library, comparing each value with the batch.
func TestRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	const n = 2000
	type row struct {
		i *int64
		f *float64
		s *string
		b *bool
		t *time.Time
		u uint8
	}
	want := make([]row, n)
	for r := 0; r < n; r++ {
		w := &want[r]
		if rng.IntN(5) == 0 {
			b.Field(0).AppendNull()
		} else {
			v := rng.Int64() - math.MaxInt64/2
			w.i = &v
			b.Field(0).(*array.Int64Builder).Append(v)
		}
		if rng.IntN(5) == 0 {
			b.Field(1).AppendNull()
		} else {
			v := []float64{rng.NormFloat64() * 1e6, 0, -0.5, 1e-300, 12345678.9}[rng.IntN(5)]
			w.f = &v
			b.Field(1).(*array.Float64Builder).Append(v)
		}
		if rng.IntN(5) == 0 {
			b.Field(2).AppendNull()
		} else {
			v := randString(rng)
			w.s = &v
			b.Field(2).(*array.StringBuilder).Append(v)
		}
		if rng.IntN(5) == 0 {
			b.Field(3).AppendNull()
		} else {
			v := rng.IntN(2) == 0
			w.b = &v
			b.Field(3).(*array.BooleanBuilder).Append(v)
		}
		if rng.IntN(5) == 0 {
			b.Field(4).AppendNull()
		} else {
			v := time.UnixMilli(rng.Int64N(4e12)).UTC()
			w.t = &v
			b.Field(4).(*array.TimestampBuilder).Append(arrow.Timestamp(v.UnixMilli()))
		}
		w.u = uint8(rng.IntN(256))
		b.Field(5).(*array.Uint8Builder).Append(w.u)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()

	f, err := formats.Lookup("json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc, err := f.NewEncoder(&buf, schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(rec); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	for r, line := range lines {
		dec := stdjson.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var got map[string]any
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d %q: %v", r, line, err)
		}
		w := want[r]
		checkNull := func(key string, isNull bool) bool {
			v, ok := got[key]
			if !ok {
				t.Fatalf("line %d: no key %q", r, key)
			}
			if (v == nil) != isNull {
				t.Fatalf("line %d: %q = %v, null want %v", r, key, v, isNull)
			}
			return isNull
		}
		if !checkNull("i", w.i == nil) {
			if v, _ := got["i"].(stdjson.Number).Int64(); v != *w.i {
				t.Fatalf("line %d: i = %v, want %d", r, got["i"], *w.i)
			}
		}
		if !checkNull("f", w.f == nil) {
			if v, _ := got["f"].(stdjson.Number).Float64(); v != *w.f {
				t.Fatalf("line %d: f = %v, want %v", r, got["f"], *w.f)
			}
		}
		if !checkNull("s", w.s == nil) {
			want := strings.ToValidUTF8(*w.s, "\uFFFD")
			if got["s"] != want || !utf8.ValidString(got["s"].(string)) {
				t.Fatalf("line %d: s = %q, want %q", r, got["s"], want)
			}
		}
		if !checkNull("b", w.b == nil) && got["b"] != *w.b {
			t.Fatalf("line %d: b = %v, want %v", r, got["b"], *w.b)
		}
		if !checkNull("t", w.t == nil) {
			ts, err := time.Parse(time.RFC3339Nano, got["t"].(string))
			if err != nil || !ts.Equal(*w.t) {
				t.Fatalf("line %d: t = %v (%v), want %v", r, got["t"], err, *w.t)
			}
		}
		if v, _ := got[`weird "name"`].(stdjson.Number).Int64(); v != int64(w.u) {
			t.Fatalf("line %d: weird name = %v, want %d", r, got[`weird "name"`], w.u)
		}
	}
}

func TestNonFiniteFloatsAreKept(t *testing.T) {
	mem := memory.NewGoAllocator()
	s := arrow.NewSchema([]arrow.Field{{Name: "f", Type: arrow.PrimitiveTypes.Float64}}, nil)
	b := array.NewRecordBuilder(mem, s)
	b.Field(0).(*array.Float64Builder).AppendValues([]float64{math.NaN(), math.Inf(1), math.Inf(-1)}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, _ := formats.Lookup("json")
	var buf bytes.Buffer
	enc, _ := f.NewEncoder(&buf, s)
	if err := enc.Encode(rec); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	if got, want := buf.String(), "{\"f\":\"NaN\"}\n{\"f\":\"Infinity\"}\n{\"f\":\"-Infinity\"}\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestUnsupportedType(t *testing.T) {
	s := arrow.NewSchema([]arrow.Field{{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int64)}}, nil)
	f, _ := formats.Lookup("json")
	if err := f.Check(s); err == nil || !strings.Contains(err.Error(), `column "m"`) {
		t.Fatalf("Check = %v, want an error naming column m", err)
	}
	if _, err := formats.Lookup("xml"); err == nil || !strings.Contains(err.Error(), "json") {
		t.Fatalf("Lookup(xml) = %v, want an error listing known formats", err)
	}
}
