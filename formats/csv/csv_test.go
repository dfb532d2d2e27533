package csv_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/formats"
	_ "github.com/sluicedata/sluice/formats/csv"
)

// TestRoundTrip writes a batch with awkward strings and nulls and reads it
// back with arrow-go's CSV reader.
func TestRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	ints := []int64{1, -2, 3, 4}
	strs := []string{"plain", "with,comma", "with \"quotes\"", "multi\nline"}
	b.Field(0).(*array.Int64Builder).AppendValues(ints, []bool{true, true, false, true})
	b.Field(1).(*array.StringBuilder).AppendValues(strs, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()

	f, err := formats.Lookup("csv")
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
	if !strings.HasPrefix(buf.String(), "i,s\n") {
		t.Fatalf("no header: %q", buf.String())
	}
	r := arrowcsv.NewReader(&buf, schema, arrowcsv.WithHeader(true), arrowcsv.WithNullReader(true, ""), arrowcsv.WithAllocator(mem), arrowcsv.WithChunk(-1))
	defer r.Release()
	if !r.Next() {
		t.Fatalf("no batch read back: %v", r.Err())
	}
	got := r.RecordBatch()
	if !array.RecordEqual(got, rec) {
		t.Fatalf("read back\n%v\nwant\n%v", got, rec)
	}
}

func TestRejectsNested(t *testing.T) {
	f, _ := formats.Lookup("csv")
	s := arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil)
	if err := f.Check(s); err == nil || !strings.Contains(err.Error(), `column "l"`) {
		t.Fatalf("Check = %v, want an error naming column l", err)
	}
}
