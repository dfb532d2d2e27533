package state

import (
	"bytes"
	"cmp"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/exchange"
)

// row is the model of one key: one value per column, nil for NULL.
type row []any

// cmpRow compares tuples with NULL first, as the encoding promises.
func cmpRow(a, b row) int {
	for i := range a {
		x, y := a[i], b[i]
		switch {
		case x == nil && y == nil:
			continue
		case x == nil:
			return -1
		case y == nil:
			return 1
		}
		var c int
		switch xv := x.(type) {
		case int64:
			c = cmp.Compare(xv, y.(int64))
		case int32:
			c = cmp.Compare(xv, y.(int32))
		case int8:
			c = cmp.Compare(xv, y.(int8))
		case uint16:
			c = cmp.Compare(xv, y.(uint16))
		case float64:
			c = cmp.Compare(xv, y.(float64))
		case bool:
			c = cmp.Compare(b2i(xv), b2i(y.(bool)))
		case string:
			c = cmp.Compare(xv, y.(string))
		case arrow.Timestamp:
			c = cmp.Compare(xv, y.(arrow.Timestamp))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

var testKeyTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Int64,
	arrow.BinaryTypes.String,
	arrow.PrimitiveTypes.Int32,
	arrow.FixedWidthTypes.Boolean,
	arrow.PrimitiveTypes.Float64,
	arrow.PrimitiveTypes.Int8,
	arrow.PrimitiveTypes.Uint16,
	arrow.FixedWidthTypes.Timestamp_us,
}

func randValue(r *rand.Rand, dt arrow.DataType) any {
	if r.IntN(8) == 0 {
		return nil
	}
	switch dt.ID() {
	case arrow.INT64:
		return []int64{math.MinInt64, -1, 0, 1, math.MaxInt64, r.Int64N(5) - 2, int64(r.Uint64())}[r.IntN(7)]
	case arrow.INT32:
		return int32(r.IntN(7) - 3)
	case arrow.INT8:
		return []int8{-128, -1, 0, 1, 127}[r.IntN(5)]
	case arrow.UINT16:
		return []uint16{0, 1, 255, 256, 65535}[r.IntN(5)]
	case arrow.BOOL:
		return r.IntN(2) == 0
	case arrow.FLOAT64:
		return []float64{math.Inf(-1), -1.5, -0.25, 0, 0.25, 1.5, math.Inf(1), math.MaxFloat64, -math.SmallestNonzeroFloat64}[r.IntN(9)]
	case arrow.STRING:
		alphabet := []byte{0x00, 0x01, 'a', 'b', 0xFF}
		n := r.IntN(4)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	case arrow.TIMESTAMP:
		return arrow.Timestamp(r.Int64N(2000) - 1000)
	}
	panic(dt)
}

func buildColumns(t testing.TB, mem memory.Allocator, types []arrow.DataType, rows []row) []arrow.Array {
	t.Helper()
	cols := make([]arrow.Array, len(types))
	for c, dt := range types {
		b := array.NewBuilder(mem, dt)
		for _, r := range rows {
			v := r[c]
			if v == nil {
				b.AppendNull()
				continue
			}
			switch bb := b.(type) {
			case *array.Int64Builder:
				bb.Append(v.(int64))
			case *array.Int32Builder:
				bb.Append(v.(int32))
			case *array.Int8Builder:
				bb.Append(v.(int8))
			case *array.Uint16Builder:
				bb.Append(v.(uint16))
			case *array.BooleanBuilder:
				bb.Append(v.(bool))
			case *array.Float64Builder:
				bb.Append(v.(float64))
			case *array.StringBuilder:
				bb.Append(v.(string))
			case *array.TimestampBuilder:
				bb.Append(v.(arrow.Timestamp))
			}
		}
		cols[c] = b.NewArray()
		b.Release()
	}
	return cols
}

func release(cols []arrow.Array) {
	for _, c := range cols {
		c.Release()
	}
}

// TestKeyEncodingProperties checks, over random multi-column keys with
// NULLs, that byte order equals tuple order, that keys decode back to the
// same values, that KeyLen finds each key's end, and that the key group is
// the exchange's.
func TestKeyEncodingProperties(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 60; iter++ {
		// A random subset and order of the column types.
		perm := r.Perm(len(testKeyTypes))[:1+r.IntN(len(testKeyTypes))]
		types := make([]arrow.DataType, len(perm))
		for i, p := range perm {
			types[i] = testKeyTypes[p]
		}
		const k = 128
		enc, err := NewKeyEncoder(types, k)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]row, 1+r.IntN(200))
		for i := range rows {
			rows[i] = make(row, len(types))
			for c, dt := range types {
				rows[i][c] = randValue(r, dt)
			}
		}
		cols := buildColumns(t, mem, types, rows)
		var kb KeyBatch
		if err := enc.Encode(cols, &kb); err != nil {
			t.Fatal(err)
		}
		if kb.Len() != len(rows) {
			t.Fatalf("encoded %d keys for %d rows", kb.Len(), len(rows))
		}
		// Key groups as the exchange computes them.
		hs := make([]uint64, len(rows))
		if err := exchange.HashColumns(cols, hs); err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			if want := uint16(exchange.KeyGroupOf(hs[i], k)); kb.Group(i) != want {
				t.Fatalf("types %v row %d %v: key group %d, exchange says %d", types, i, rows[i], kb.Group(i), want)
			}
			if n, err := enc.KeyLen(append(bytes.Clone(kb.Key(i)), 0xAB, 0xCD)); err != nil || n != len(kb.Key(i)) {
				t.Fatalf("row %d: KeyLen = %d, %v; want %d", i, n, err, len(kb.Key(i)))
			}
		}
		// Order.
		for n := 0; n < 300; n++ {
			i, j := r.IntN(len(rows)), r.IntN(len(rows))
			want := cmpRow(rows[i], rows[j])
			got := bytes.Compare(kb.Key(i), kb.Key(j))
			if got != want {
				t.Fatalf("types %v: rows %v and %v compare %d as tuples but %d as keys %x, %x", types, rows[i], rows[j], want, got, kb.Key(i), kb.Key(j))
			}
		}
		// Round trip.
		dec, err := enc.DecodeKeys(mem, kb.Keys(nil))
		if err != nil {
			t.Fatal(err)
		}
		for c := range types {
			if !array.Equal(dec[c], cols[c]) {
				t.Fatalf("types %v column %d: decoded %v, want %v", types, c, dec[c], cols[c])
			}
		}
		release(dec)
		release(cols)
	}
}

func TestKeyEncoderErrors(t *testing.T) {
	if _, err := NewKeyEncoder(nil, 128); err == nil {
		t.Error("no columns: want error")
	}
	if _, err := NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, 0); err == nil {
		t.Error("maxParallelism 0: want error")
	}
	if _, err := NewKeyEncoder([]arrow.DataType{arrow.ListOf(arrow.PrimitiveTypes.Int64)}, 128); err == nil {
		t.Error("list key: want error")
	}
	enc, _ := NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, 128)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewInt32Builder(mem)
	b.Append(1)
	a := b.NewArray()
	b.Release()
	defer a.Release()
	var kb KeyBatch
	if err := enc.Encode([]arrow.Array{a}, &kb); err == nil {
		t.Error("int32 column for int64 key: want error")
	}
	if _, err := enc.DecodeKeys(mem, [][]byte{{0x01, 0x02}}); err == nil {
		t.Error("truncated key: want error")
	}
	if _, err := enc.KeyLen([]byte{0x07}); err == nil {
		t.Error("bad tag: want error")
	}
}

// TestEncodeAllocs checks that encoding a batch into a reused KeyBatch does
// not allocate.
func TestEncodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation budgets do not hold under the race detector")
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	r := rand.New(rand.NewPCG(3, 4))
	types := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.BinaryTypes.String}
	rows := make([]row, 4096)
	for i := range rows {
		rows[i] = row{randValue(r, types[0]), randValue(r, types[1])}
	}
	cols := buildColumns(t, mem, types, rows)
	defer release(cols)
	enc, _ := NewKeyEncoder(types, 256)
	var kb KeyBatch
	_ = enc.Encode(cols, &kb)
	allocs := testing.AllocsPerRun(20, func() {
		if err := enc.Encode(cols, &kb); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("Encode of 4096 rows: %.1f allocations per batch, want 0", allocs)
	}
}
