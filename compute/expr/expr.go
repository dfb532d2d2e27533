package expr

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Expr is a compiled, type-checked expression bound to one input schema.
// It is immutable and safe for concurrent use by many goroutines.
type Expr struct {
	src    string
	schema *arrow.Schema
	root   cnode
	out    arrow.DataType
	shared map[cnode]bool // common sub-expressions, evaluated once per batch
}

// Compile parses src and type-checks it against schema. Errors are *Error
// values (ErrSyntax or ErrType) that name the expression, the position and
// the reason.
func Compile(src string, schema *arrow.Schema) (e *Expr, err error) {
	if schema == nil {
		return nil, &Error{Kind: ErrType, Expr: src, Pos: 1, Msg: "nil schema"}
	}
	ast, err := Parse(src)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, &Error{Kind: ErrType, Expr: src, Pos: ast.Pos(), Msg: fmt.Sprintf("internal compiler failure: %v", r)}
		}
	}()
	c := &compiler{src: src, schema: schema}
	root, err := c.compile(ast)
	if err != nil {
		return nil, err
	}
	out := root.dtype()
	if out.ID() == arrow.NULL {
		// A bare NULL literal: materialize as an all-null column.
		out = arrow.Null
	}
	return &Expr{src: src, schema: schema, root: root, out: out, shared: sharedNodes(root)}, nil
}

// MustCompile is Compile that panics on error, for tests and static
// expressions.
func MustCompile(src string, schema *arrow.Schema) *Expr {
	e, err := Compile(src, schema)
	if err != nil {
		panic(err)
	}
	return e
}

// DataType is the type of the values Eval returns.
func (e *Expr) DataType() arrow.DataType { return e.out }

// String returns the source text.
func (e *Expr) String() string { return e.src }

// Schema returns the input schema e was compiled against.
func (e *Expr) Schema() *arrow.Schema { return e.schema }

// Column reports the column index when e is a bare column reference, so a
// projection can pass the column through without copying.
func (e *Expr) Column() (int, bool) {
	if c, ok := e.root.(*colNode); ok {
		return c.idx, true
	}
	return 0, false
}

func (e *Expr) checkBatch(b arrow.RecordBatch) error {
	if b.NumCols() != int64(e.schema.NumFields()) {
		return fmt.Errorf("expr: expression %q: batch has %d columns, schema has %d", e.src, b.NumCols(), e.schema.NumFields())
	}
	for i, f := range e.schema.Fields() {
		if got := b.Column(i).DataType(); !arrow.TypeEqual(got, f.Type) {
			return fmt.Errorf("expr: expression %q: batch column %d (%q) has type %s, schema says %s", e.src, i, f.Name, got, f.Type)
		}
	}
	return nil
}

// Eval evaluates e over every row of b, which must match the schema e was
// compiled against. The caller owns (must Release) the result, which has
// b.NumRows() rows. Bad data (division by zero, a failed CAST) returns an
// *EvalError naming the row; nothing is allocated then.
func (e *Expr) Eval(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.Array, error) {
	if err := e.checkBatch(b); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ec := &evalCtx{ctx: ctx, mem: mem, b: b, n: int(b.NumRows()), src: e.src, shared: e.shared}
	defer ec.done()
	v, err := e.root.eval(ec)
	if err != nil {
		return nil, err
	}
	if v.isConst() {
		if e.out.ID() == arrow.NULL {
			return array.NewNull(ec.n), nil
		}
		ct := canonType(e.out)
		a := materialize(mem, ct, v.c, ec.n)
		if !arrow.TypeEqual(ct, e.out) {
			defer a.Release()
			return convArray(mem, a, e.out), nil
		}
		return a, nil
	}
	return v.arr, nil
}

// mask evaluates a boolean predicate into a bitmap of the rows where it is
// TRUE (NULL counts as false), plus the count of such rows.
func (e *Expr) mask(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (*memory.Buffer, int, error) {
	if err := e.checkBatch(b); err != nil {
		return nil, 0, err
	}
	ec := &evalCtx{ctx: ctx, mem: mem, b: b, n: int(b.NumRows()), src: e.src, shared: e.shared}
	defer ec.done()
	v, err := e.root.eval(ec)
	if err != nil {
		return nil, 0, err
	}
	defer v.release()
	n := ec.n
	out := allocBitmap(mem, n)
	if v.isConst() {
		if !v.c.null && v.c.b {
			bitutil.SetBitsTo(out.Bytes(), 0, int64(n), true)
			return out, n, nil
		}
		return out, 0, nil
	}
	vals, valid := boolBits(n, v)
	o := out.Bytes()
	for i := range o {
		o[i] = vals[i]
		if valid != nil {
			o[i] &= valid[i]
		}
	}
	return out, bitutil.CountSetBits(o, 0, n), nil
}

// Filter returns the rows of b where pred (a boolean Expr) is TRUE; NULL
// counts as false. The caller owns (must Release) the result. When every
// row passes, the result is b itself, retained.
func Filter(ctx context.Context, mem memory.Allocator, pred *Expr, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	if pred.out.ID() != arrow.BOOL && pred.out.ID() != arrow.NULL {
		return nil, fmt.Errorf("expr: filter %q has type %s, want boolean", pred.src, typeName(pred.out))
	}
	m, count, err := pred.mask(ctx, mem, b)
	if err != nil {
		return nil, err
	}
	defer m.Release()
	return filterByMask(ctx, mem, b, m, count)
}

func filterByMask(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, m *memory.Buffer, count int) (arrow.RecordBatch, error) {
	n := int(b.NumRows())
	switch count {
	case n:
		b.Retain()
		return b, nil
	case 0:
		return b.NewSlice(0, 0), nil
	}
	return takeRows(ctx, mem, b, m.Bytes(), count)
}

// filterArrow is Filter through arrow-go's compute.FilterRecordBatch, kept
// for comparison in benchmarks.
func filterArrow(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, m *memory.Buffer) (arrow.RecordBatch, error) {
	m.Retain()
	mask := makeArr(arrow.FixedWidthTypes.Boolean, int(b.NumRows()), nil, 0, m)
	defer mask.Release()
	return compute.FilterRecordBatch(compute.WithAllocator(ctx, mem), b, mask, compute.DefaultFilterOptions())
}

// NamedExpr is one output column of a Projection.
type NamedExpr struct {
	Name string
	Expr *Expr
}

// Projection computes a list of named expressions over batches of one
// schema. It is immutable and safe for concurrent use.
type Projection struct {
	in    *arrow.Schema
	out   *arrow.Schema
	exprs []NamedExpr
}

// NewProjection checks that every expression was compiled against schema
// and builds the output schema. Bare column references keep their field's
// nullability and metadata and are passed through without copying.
func NewProjection(schema *arrow.Schema, exprs []NamedExpr) (*Projection, error) {
	fields := make([]arrow.Field, len(exprs))
	seen := map[string]bool{}
	for i, ne := range exprs {
		if ne.Expr == nil {
			return nil, fmt.Errorf("expr: projection column %d (%q): nil expression", i, ne.Name)
		}
		if ne.Name == "" {
			return nil, fmt.Errorf("expr: projection column %d (%q): empty name", i, ne.Expr.src)
		}
		if seen[ne.Name] {
			return nil, fmt.Errorf("expr: projection column %d: duplicate name %q", i, ne.Name)
		}
		seen[ne.Name] = true
		if !ne.Expr.schema.Equal(schema) {
			return nil, fmt.Errorf("expr: projection column %q: expression %q was compiled against a different schema", ne.Name, ne.Expr.src)
		}
		if idx, ok := ne.Expr.Column(); ok {
			f := schema.Field(idx)
			fields[i] = arrow.Field{Name: ne.Name, Type: f.Type, Nullable: f.Nullable, Metadata: f.Metadata}
		} else {
			fields[i] = arrow.Field{Name: ne.Name, Type: ne.Expr.DataType(), Nullable: true}
		}
	}
	return &Projection{in: schema, out: arrow.NewSchema(fields, nil), exprs: exprs}, nil
}

// Schema is the output schema.
func (p *Projection) Schema() *arrow.Schema { return p.out }

// Apply evaluates the projection over b. The caller owns (must Release)
// the result. On error nothing is leaked.
func (p *Projection) Apply(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, 0, len(p.exprs))
	release := func() {
		for _, c := range cols {
			c.Release()
		}
	}
	for _, ne := range p.exprs {
		if idx, ok := ne.Expr.Column(); ok && int64(idx) < b.NumCols() {
			c := b.Column(idx)
			c.Retain()
			cols = append(cols, c)
			continue
		}
		a, err := ne.Expr.Eval(ctx, mem, b)
		if err != nil {
			release()
			return nil, err
		}
		cols = append(cols, a)
	}
	defer release()
	return array.NewRecordBatch(p.out, cols, b.NumRows()), nil
}
