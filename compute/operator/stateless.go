package operator

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/expr"
)

// Filter keeps the rows for which a boolean expression is true; NULL counts
// as false.
type Filter struct {
	compute.Stateless
	pred *expr.Expr
	mem  memory.Allocator
}

var _ compute.Operator = (*Filter)(nil)

// NewFilter returns a filter on pred, which must be boolean.
func NewFilter(pred *expr.Expr) *Filter { return &Filter{pred: pred} }

// Open implements compute.Operator.
func (f *Filter) Open(_ context.Context, oc *compute.OperatorContext) error {
	f.mem = oc.Allocator
	return nil
}

// ProcessBatch implements compute.Operator.
func (f *Filter) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, out compute.Emitter) error {
	res, err := expr.Filter(ctx, f.mem, f.pred, b)
	b.Release()
	if err != nil {
		return err
	}
	if res.NumRows() == 0 {
		res.Release()
		return nil
	}
	return out.Emit(ctx, res)
}

// Project computes one output column per expression. A bare column reference
// passes the input column through without copying.
type Project struct {
	compute.Stateless
	schema *arrow.Schema
	exprs  []*expr.Expr
	mem    memory.Allocator
	cols   []arrow.Array
}

var _ compute.Operator = (*Project)(nil)

// NewProject returns a projection producing schema, whose i-th field is
// computed by exprs[i].
func NewProject(schema *arrow.Schema, exprs []*expr.Expr) (*Project, error) {
	if schema.NumFields() != len(exprs) {
		return nil, fmt.Errorf("operator: project has %d fields and %d expressions", schema.NumFields(), len(exprs))
	}
	return &Project{schema: schema, exprs: exprs, cols: make([]arrow.Array, len(exprs))}, nil
}

// Open implements compute.Operator.
func (p *Project) Open(_ context.Context, oc *compute.OperatorContext) error {
	p.mem = oc.Allocator
	return nil
}

// ProcessBatch implements compute.Operator.
func (p *Project) ProcessBatch(ctx context.Context, _ int, b arrow.RecordBatch, out compute.Emitter) error {
	defer b.Release()
	cols := p.cols
	release := func() {
		for i, c := range cols {
			if c != nil {
				c.Release()
				cols[i] = nil
			}
		}
	}
	for i, e := range p.exprs {
		if idx, ok := e.Column(); ok {
			c := b.Column(idx)
			c.Retain()
			cols[i] = c
			continue
		}
		c, err := e.Eval(ctx, p.mem, b)
		if err != nil {
			release()
			return err
		}
		cols[i] = c
	}
	res := array.NewRecordBatch(p.schema, cols, b.NumRows())
	release()
	return out.Emit(ctx, res)
}
