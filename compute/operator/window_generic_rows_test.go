package operator

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestRowCodecRoundTrip encodes random row subsets of random batches in
// several chunks and checks that decoding them gives exactly those rows
// (compared with array.Equal against a builder-made expectation), for the
// columnar format and the IPC fallback (a list column).
func TestRowCodecRoundTrip(t *testing.T) {
	schemas := []*arrow.Schema{
		arrow.NewSchema([]arrow.Field{
			{Name: "i", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
			{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
			{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
			{Name: "f", Type: arrow.PrimitiveTypes.Float64},
			{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
			{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
		}, nil),
		arrow.NewSchema([]arrow.Field{
			{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
			{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		}, nil),
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for si, s := range schemas {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		c := newRowCodec(s)
		if c.ipc != (si == 1) {
			t.Fatalf("schema %d: ipc fallback %t", si, c.ipc)
		}
		for iter := 0; iter < 30; iter++ {
			var chunks [][]byte
			want := array.NewRecordBuilder(mem, s)
			for range 1 + rng.IntN(4) {
				n := rng.IntN(40)
				b := randomBatch(mem, s, rng, n)
				// Sometimes encode from a slice (non-zero offsets).
				src := b
				if n > 4 && rng.IntN(2) == 0 {
					src = b.NewSlice(2, int64(n))
					b.Release()
				}
				var rows []int32
				for r := 0; r < int(src.NumRows()); r++ {
					if rng.IntN(3) != 0 {
						rows = append(rows, int32(r))
					}
				}
				ch, err := c.appendChunk(context.Background(), nil, src, rows, mem)
				if err != nil {
					t.Fatal(err)
				}
				chunks = append(chunks, ch)
				for ci := range s.Fields() {
					for _, r := range rows {
						if err := want.Field(ci).AppendValueFromString(src.Column(ci).ValueStr(int(r))); err != nil {
							t.Fatal(err)
						}
					}
				}
				src.Release()
			}
			exp := want.NewRecordBatch()
			want.Release()
			got, err := c.decode(mem, chunks)
			if err != nil {
				t.Fatal(err)
			}
			if !array.RecordEqual(got, exp) {
				t.Fatalf("schema %d iteration %d: decoded\n%v\nwant\n%v", si, iter, got, exp)
			}
			got.Release()
			exp.Release()
		}
		mem.AssertSize(t, 0)
	}
}

func randomBatch(mem memory.Allocator, s *arrow.Schema, rng *rand.Rand, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, s)
	defer b.Release()
	for ci, f := range s.Fields() {
		fb := b.Field(ci)
		for range n {
			if f.Nullable && rng.IntN(5) == 0 {
				fb.AppendNull()
				continue
			}
			switch x := fb.(type) {
			case *array.Int32Builder:
				x.Append(rng.Int32())
			case *array.Int64Builder:
				x.Append(rng.Int64())
			case *array.StringBuilder:
				x.Append(string(rune('a'+rng.IntN(26))) + "\x00é"[:rng.IntN(4)])
			case *array.BooleanBuilder:
				x.Append(rng.IntN(2) == 0)
			case *array.Float64Builder:
				x.Append(rng.NormFloat64())
			case *array.TimestampBuilder:
				x.Append(arrow.Timestamp(rng.Int64N(1e12)))
			case *array.BinaryBuilder:
				x.Append([]byte{byte(rng.IntN(256)), 0})
			case *array.ListBuilder:
				x.Append(true)
				vb := x.ValueBuilder().(*array.Int64Builder)
				for range rng.IntN(3) {
					vb.Append(rng.Int64N(100))
				}
			}
		}
	}
	return b.NewRecordBatch()
}
