package exchange_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/compute/exchange"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestKeyGroupRanges checks that subtask ranges are contiguous, disjoint, cover
// every key group, and agree with SubtaskFor.
func TestKeyGroupRanges(t *testing.T) {
	for maxPar := 1; maxPar <= 300; maxPar += 7 {
		for par := 1; par <= maxPar && par <= 40; par++ {
			next := 0
			for s := 0; s < par; s++ {
				r := exchange.KeyGroupRangeFor(s, par, maxPar)
				if int(r.Start) != next || r.Len() < 1 {
					t.Fatalf("K=%d p=%d: subtask %d has %v, want it to start at %d and be non-empty", maxPar, par, s, r, next)
				}
				for kg := int(r.Start); kg < int(r.End); kg++ {
					if got := exchange.SubtaskFor(kg, par, maxPar); got != s {
						t.Fatalf("K=%d p=%d: SubtaskFor(%d) = %d, want %d", maxPar, par, kg, got, s)
					}
				}
				next = int(r.End)
			}
			if next != maxPar {
				t.Fatalf("K=%d p=%d: ranges end at %d", maxPar, par, next)
			}
		}
	}
}

// TestHashIsStable pins the key hash: it is part of the state layout, and a
// change would send restored state to the wrong subtasks.
func TestHashIsStable(t *testing.T) {
	mem := memory.NewGoAllocator()
	ib := array.NewInt64Builder(mem)
	ib.AppendValues([]int64{0, 1, -1, 1000}, nil)
	ib.AppendNull()
	ints := ib.NewArray()
	defer ints.Release()
	sb := array.NewStringBuilder(mem)
	sb.AppendValues([]string{"", "a", "bidder-42", "x", "y"}, nil)
	strs := sb.NewArray()
	defer strs.Release()

	got := make([]uint64, 5)
	if err := exchange.HashColumns([]arrow.Array{ints}, got); err != nil {
		t.Fatal(err)
	}
	want := []uint64{0x2df563c0b96840c9, 0x8c3a569e50dd0b86, 0xfaa60af565291ffc, 0x4beab3af9c748225, 0x26a3bcd1a49b0737}
	check := func(name string, got, want []uint64) {
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s: hash[%d] = %#x, want %#x (the key hash must never change)", name, i, got[i], want[i])
			}
		}
	}
	check("int64", got, want)
	if err := exchange.HashColumns([]arrow.Array{ints, strs}, got); err != nil {
		t.Fatal(err)
	}
	check("int64+string", got, []uint64{0xd049c71e58907d6f, 0xa5840fb6393dedaf, 0x0c1a2ac9f7a896bf, 0x4e44c152e05872de, 0x90600cfe0860a829})
}

// TestSplit checks on random batches that every row goes to exactly one part,
// the part of the subtask owning its key group, in input order, and that
// nothing leaks.
func TestSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "row", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	for iter := 0; iter < 50; iter++ {
		par := 1 + rng.IntN(6)
		maxPar := par + rng.IntN(200)
		keyCols := [][]int{{0}, {1}, {0, 1}}[rng.IntN(3)]
		n := rng.IntN(2000)
		t.Run(fmt.Sprintf("p=%d,K=%d,keys=%v,n=%d", par, maxPar, keyCols, n), func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			b := array.NewRecordBuilder(mem, schema)
			for i := 0; i < n; i++ {
				if rng.IntN(10) == 0 {
					b.Field(0).AppendNull()
				} else {
					b.Field(0).(*array.Int64Builder).Append(int64(rng.IntN(50)))
				}
				if rng.IntN(10) == 0 {
					b.Field(1).AppendNull()
				} else {
					b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("s", rng.IntN(30)))
				}
				b.Field(2).(*array.Int32Builder).Append(int32(i))
			}
			rec := b.NewRecordBatch()
			b.Release()
			// Expected owner of each row, from the hash of that row alone.
			owner := make([]int, n)
			one := make([]uint64, 1)
			for i := 0; i < n; i++ {
				var cols []arrow.Array
				for _, c := range keyCols {
					cols = append(cols, array.NewSlice(rec.Column(c), int64(i), int64(i+1)))
				}
				if err := exchange.HashColumns(cols, one); err != nil {
					t.Fatal(err)
				}
				for _, c := range cols {
					c.Release()
				}
				owner[i] = exchange.SubtaskFor(exchange.KeyGroupOf(one[0], maxPar), par, maxPar)
			}
			p, err := exchange.NewPartitioner(schema, keyCols, par, maxPar)
			if err != nil {
				t.Fatal(err)
			}
			parts, err := p.Split(context.Background(), mem, rec)
			if err != nil {
				t.Fatal(err)
			}
			seen := 0
			for s, part := range parts {
				if part == nil {
					continue
				}
				last := int32(-1)
				rows := part.Column(2).(*array.Int32)
				for i := 0; i < rows.Len(); i++ {
					r := rows.Value(i)
					if owner[r] != s {
						t.Fatalf("row %d went to subtask %d, owner is %d", r, s, owner[r])
					}
					if r <= last {
						t.Fatalf("subtask %d: row %d after row %d", s, r, last)
					}
					last = r
					seen++
				}
				part.Release()
			}
			if seen != n {
				t.Fatalf("%d of %d rows arrived", seen, n)
			}
		})
	}
}

func TestBadKeys(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64)}}, nil)
	if _, err := exchange.NewPartitioner(schema, []int{0}, 2, 8); err == nil {
		t.Fatal("a list column must not be accepted as a key")
	}
	if _, err := exchange.NewPartitioner(schema, []int{3}, 2, 8); err == nil {
		t.Fatal("an out-of-range key column must be rejected")
	}
	if _, err := exchange.NewPartitioner(schema, nil, 2, 8); err == nil {
		t.Fatal("no key columns must be rejected")
	}
}
