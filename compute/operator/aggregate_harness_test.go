package operator_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/changelog"
	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

// subtasks runs parallelism instances of a keyed operator the way the
// runtime does: each input batch is hash-partitioned by the key columns with
// the exchange's hash, and each subtask owns its key-group range and its own
// memstore.
type subtasks struct {
	t       testing.TB
	mem     memory.Allocator
	keys    []int
	maxPar  int
	ops     []compute.Operator
	stores  []statestore.Store
	outputs [][]computetest.Row // per subtask, in emission order
	hashes  []uint64
}

func newSubtasks(t testing.TB, mem memory.Allocator, in *arrow.Schema, keys []int, par, maxPar int, newOp func() (compute.Operator, error)) *subtasks {
	t.Helper()
	s := &subtasks{t: t, mem: mem, keys: keys, maxPar: maxPar, outputs: make([][]computetest.Row, par)}
	reg := memstore.NewRegistry(memstore.Options{})
	ctx := context.Background()
	for i := range par {
		op, err := newOp()
		if err != nil {
			t.Fatal(err)
		}
		kg := exchange.KeyGroupRangeFor(i, par, maxPar)
		var store statestore.Store
		oc := &compute.OperatorContext{
			Job: "test", Node: fmt.Sprintf("op-%d", i), Subtask: i, Parallelism: par, MaxParallelism: maxPar,
			KeyGroups: kg, InputSchemas: []*arrow.Schema{in}, Allocator: mem, Clock: clock.Real(),
			OpenStore: func(ctx context.Context) (statestore.Store, error) {
				if store != nil {
					return store, nil
				}
				var err error
				store, err = reg.Open(ctx, statestore.ShardOptions{Name: fmt.Sprintf("op-%d", i)}, nil, kg)
				return store, err
			},
		}
		if err := op.Open(ctx, oc); err != nil {
			t.Fatalf("open subtask %d: %v", i, err)
		}
		s.ops = append(s.ops, op)
		s.stores = append(s.stores, store)
	}
	t.Cleanup(s.close)
	return s
}

func (s *subtasks) close() {
	for i, op := range s.ops {
		if err := op.Close(); err != nil {
			s.t.Errorf("close subtask %d: %v", i, err)
		}
		if s.stores[i] != nil {
			s.stores[i].Close()
		}
	}
	s.ops = nil
}

// process partitions b (which it releases) and hands each part to its
// subtask; it returns the rows emitted, per subtask.
func (s *subtasks) process(b arrow.RecordBatch) [][]computetest.Row {
	s.t.Helper()
	defer b.Release()
	ctx := context.Background()
	n := int(b.NumRows())
	cols := make([]arrow.Array, len(s.keys))
	for i, k := range s.keys {
		cols[i] = b.Column(k)
	}
	if cap(s.hashes) < n {
		s.hashes = make([]uint64, n)
	}
	if err := exchange.HashColumns(cols, s.hashes[:n]); err != nil {
		s.t.Fatal(err)
	}
	par := len(s.ops)
	idx := make([][]int, par)
	for i := range n {
		sub := exchange.SubtaskFor(exchange.KeyGroupOf(s.hashes[i], s.maxPar), par, s.maxPar)
		idx[sub] = append(idx[sub], i)
	}
	emitted := make([][]computetest.Row, par)
	for sub, rows := range idx {
		if len(rows) == 0 {
			continue
		}
		part := takeRows(s.t, s.mem, b, rows)
		err := s.ops[sub].ProcessBatch(ctx, 0, part, compute.EmitterFunc(func(_ context.Context, out arrow.RecordBatch) error {
			rs := computetest.BatchRows(out)
			out.Release()
			emitted[sub] = append(emitted[sub], rs...)
			return nil
		}))
		if err != nil {
			s.t.Fatalf("subtask %d: %v", sub, err)
		}
		s.outputs[sub] = append(s.outputs[sub], emitted[sub]...)
	}
	return emitted
}

// processDirect hands b to subtask 0 without partitioning (parallelism 1)
// and releases what it emits: the benchmark path.
func (s *subtasks) processDirect(b arrow.RecordBatch) {
	err := s.ops[0].ProcessBatch(context.Background(), 0, b, compute.EmitterFunc(func(_ context.Context, out arrow.RecordBatch) error {
		out.Release()
		return nil
	}))
	if err != nil {
		s.t.Fatal(err)
	}
}

// takeRows copies the given rows of b into a new batch.
func takeRows(t testing.TB, mem memory.Allocator, b arrow.RecordBatch, rows []int) arrow.RecordBatch {
	t.Helper()
	cols := make([]arrow.Array, b.NumCols())
	for c := range cols {
		cols[c] = takeColumn(t, mem, b.Column(c), rows)
	}
	out := array.NewRecordBatch(b.Schema(), cols, int64(len(rows)))
	for _, c := range cols {
		c.Release()
	}
	return out
}

func takeColumn(t testing.TB, mem memory.Allocator, col arrow.Array, rows []int) arrow.Array {
	t.Helper()
	bld := array.NewBuilder(mem, col.DataType())
	defer bld.Release()
	for _, r := range rows {
		if col.IsNull(r) {
			bld.AppendNull()
			continue
		}
		switch c := col.(type) {
		case *array.Int8:
			bld.(*array.Int8Builder).Append(c.Value(r))
		case *array.Int64:
			bld.(*array.Int64Builder).Append(c.Value(r))
		case *array.Float64:
			bld.(*array.Float64Builder).Append(c.Value(r))
		case *array.String:
			bld.(*array.StringBuilder).Append(c.Value(r))
		case *array.Timestamp:
			bld.(*array.TimestampBuilder).Append(c.Value(r))
		case *array.Boolean:
			bld.(*array.BooleanBuilder).Append(c.Value(r))
		default:
			t.Fatalf("takeColumn: unsupported %T", col)
		}
	}
	return bld.NewArray()
}

// buildBatch builds a batch of schema from Go rows (values as in
// computetest.Row: int64, float64, string, time.Time, nil).
func buildBatch(t testing.TB, mem memory.Allocator, schema *arrow.Schema, rows [][]any) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for _, r := range rows {
		for c, v := range r {
			fb := b.Field(c)
			if v == nil {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.Int8Builder:
				fb.Append(int8(v.(int64)))
			case *array.Int64Builder:
				fb.Append(v.(int64))
			case *array.Float64Builder:
				fb.Append(v.(float64))
			case *array.StringBuilder:
				fb.Append(v.(string))
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(v.(time.Time).UnixMilli()))
			default:
				t.Fatalf("buildBatch: unsupported builder %T", fb)
			}
		}
	}
	return b.NewRecordBatch()
}

// renderRows renders rows (maps) as sorted strings over the given columns,
// for comparing tables.
func renderRows[R ~map[string]any](rows []R, cols []string) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		var sb strings.Builder
		for _, c := range cols {
			fmt.Fprintf(&sb, "%s=%T(%v) ", c, r[c], r[c])
		}
		out = append(out, sb.String())
	}
	sort.Strings(out)
	return out
}

func diffTables(t testing.TB, step string, got, want []string) {
	t.Helper()
	if len(got) == len(want) {
		same := true
		for i := range got {
			if got[i] != want[i] {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	gs := map[string]int{}
	for _, g := range got {
		gs[g]++
	}
	var missing, extra []string
	for _, w := range want {
		if gs[w] > 0 {
			gs[w]--
			continue
		}
		missing = append(missing, w)
	}
	for g, n := range gs {
		for range n {
			extra = append(extra, g)
		}
	}
	sort.Strings(extra)
	const show = 5
	t.Fatalf("%s: materialized table has %d rows, model %d; %d missing (first: %q), %d extra (first: %q)",
		step, len(got), len(want), len(missing), missing[:min(show, len(missing))], len(extra), extra[:min(show, len(extra))])
}

var _ = changelog.Column
