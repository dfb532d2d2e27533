package exchange

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Partitioner splits batches by the subtask that owns each row's key group.
type Partitioner struct {
	keyCols        []int
	parallelism    int
	maxParallelism int

	// Reused between batches.
	cols    []arrow.Array
	hashes  []uint64
	targets []int32
	counts  []int
	indices [][]int32
}

// NewPartitioner returns a partitioner for batches of schema, keyed by the
// columns at keyCols, feeding parallelism subtasks of a job with
// maxParallelism key groups.
func NewPartitioner(schema *arrow.Schema, keyCols []int, parallelism, maxParallelism int) (*Partitioner, error) {
	if len(keyCols) == 0 {
		return nil, fmt.Errorf("exchange: no key columns")
	}
	if parallelism < 1 || maxParallelism < parallelism || maxParallelism > MaxKeyGroups {
		return nil, fmt.Errorf("exchange: parallelism %d with max parallelism %d is out of range", parallelism, maxParallelism)
	}
	for _, c := range keyCols {
		if c < 0 || c >= schema.NumFields() {
			return nil, fmt.Errorf("exchange: key column %d out of range for schema with %d fields", c, schema.NumFields())
		}
		f := schema.Field(c)
		if err := CheckKeyType(f.Type); err != nil {
			return nil, fmt.Errorf("exchange: key column %q: %w", f.Name, err)
		}
	}
	return &Partitioner{
		keyCols:        keyCols,
		parallelism:    parallelism,
		maxParallelism: maxParallelism,
		cols:           make([]arrow.Array, len(keyCols)),
		counts:         make([]int, parallelism),
		indices:        make([][]int32, parallelism),
	}, nil
}

// Targets computes the target subtask of every row of b. The returned slice
// is reused by the next call.
func (p *Partitioner) Targets(b arrow.RecordBatch) ([]int32, error) {
	n := int(b.NumRows())
	if cap(p.hashes) < n {
		p.hashes = make([]uint64, n)
		p.targets = make([]int32, n)
	}
	hashes, targets := p.hashes[:n], p.targets[:n]
	for i, c := range p.keyCols {
		p.cols[i] = b.Column(c)
	}
	if err := HashColumns(p.cols, hashes); err != nil {
		return nil, err
	}
	k, par := uint64(p.maxParallelism), uint64(p.parallelism)
	for i, h := range hashes {
		targets[i] = int32((h % k) * par / k)
	}
	return targets, nil
}

// Split partitions b by target subtask. It takes ownership of b. The result
// has one entry per subtask; an entry is nil when no row goes there. The
// caller owns the returned batches.
func (p *Partitioner) Split(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) ([]arrow.RecordBatch, error) {
	defer b.Release()
	out := make([]arrow.RecordBatch, p.parallelism)
	if b.NumRows() == 0 {
		return out, nil
	}
	if p.parallelism == 1 {
		b.Retain()
		out[0] = b
		return out, nil
	}
	targets, err := p.Targets(b)
	if err != nil {
		return nil, err
	}
	for i := range p.counts {
		p.counts[i] = 0
	}
	for _, t := range targets {
		p.counts[t]++
	}
	for t, c := range p.counts {
		if c == int(b.NumRows()) { // every row goes to one subtask
			b.Retain()
			out[t] = b
			return out, nil
		}
		p.indices[t] = p.indices[t][:0]
	}
	for i, t := range targets {
		p.indices[t] = append(p.indices[t], int32(i))
	}
	for t, idx := range p.indices {
		if len(idx) == 0 {
			continue
		}
		sub, err := Take(ctx, mem, b, idx)
		if err != nil {
			for _, o := range out {
				if o != nil {
					o.Release()
				}
			}
			return nil, err
		}
		out[t] = sub
	}
	return out, nil
}

// Take returns the rows of b at idx, in that order. The caller owns the
// result; b is not released.
func Take(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, idx []int32) (arrow.RecordBatch, error) {
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(idx, nil)
	indices := ib.NewArray()
	ib.Release()
	defer indices.Release()
	ctx = compute.WithAllocator(ctx, mem)
	res, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(b), compute.NewDatumWithoutOwning(indices))
	if err != nil {
		return nil, fmt.Errorf("exchange: take: %w", err)
	}
	rd, ok := res.(*compute.RecordDatum)
	if !ok {
		res.Release()
		return nil, fmt.Errorf("exchange: take returned %s, want a record batch", res.Kind())
	}
	return rd.Value, nil
}
