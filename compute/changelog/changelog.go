package changelog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Column is the name of the changelog column of an updating stream.
const Column = "_op"

// Op is the kind of a change, stored as int8 in the _op column.
type Op int8

const (
	// Insert (+I) adds a row.
	Insert Op = 0
	// UpdateBefore (-U) is the old version of an updated row.
	UpdateBefore Op = 1
	// UpdateAfter (+U) is the new version of an updated row.
	UpdateAfter Op = 2
	// Delete (-D) removes a row.
	Delete Op = 3
)

// String returns Flink's short form: +I, -U, +U, -D.
func (o Op) String() string {
	switch o {
	case Insert:
		return "+I"
	case UpdateBefore:
		return "-U"
	case UpdateAfter:
		return "+U"
	case Delete:
		return "-D"
	}
	return fmt.Sprintf("op(%d)", int8(o))
}

// Valid reports whether o is one of the four ops.
func (o Op) Valid() bool { return o >= Insert && o <= Delete }

// IsAdd reports whether o adds a row (+I, +U).
func (o Op) IsAdd() bool { return o == Insert || o == UpdateAfter }

// IsRetract reports whether o removes a row (-U, -D).
func (o Op) IsRetract() bool { return o == UpdateBefore || o == Delete }

// Field is the _op column's field.
func Field() arrow.Field {
	return arrow.Field{Name: Column, Type: arrow.PrimitiveTypes.Int8}
}

// IsUpdating reports whether s is an updating stream's schema: its first
// column is _op of type int8. A schema with an _op column elsewhere, or of
// another type, is also reported (true) so that it is never mistaken for an
// append-only stream; CheckSchema says what is wrong with it.
func IsUpdating(s *arrow.Schema) bool {
	return s != nil && len(s.FieldIndices(Column)) > 0
}

// CheckSchema returns an error when s has an _op column that does not follow
// the convention (first column, int8).
func CheckSchema(s *arrow.Schema) error {
	idx := s.FieldIndices(Column)
	if len(idx) == 0 {
		return nil
	}
	if len(idx) > 1 || idx[0] != 0 {
		return fmt.Errorf("changelog: column %q must be the first column, found at %v", Column, idx)
	}
	if dt := s.Field(0).Type; dt.ID() != arrow.INT8 {
		return fmt.Errorf("changelog: column %q has type %s, want int8", Column, dt)
	}
	return nil
}

// NewOpBuilder returns a builder for an _op column.
func NewOpBuilder(mem memory.Allocator) *OpBuilder {
	return &OpBuilder{b: array.NewInt8Builder(mem)}
}

// OpBuilder builds an _op column. Not safe for concurrent use.
type OpBuilder struct{ b *array.Int8Builder }

// Append appends one op.
func (o *OpBuilder) Append(op Op) { o.b.Append(int8(op)) }

// AppendOps appends ops.
func (o *OpBuilder) AppendOps(ops []Op) {
	o.b.Reserve(len(ops))
	for _, op := range ops {
		o.b.UnsafeAppend(int8(op))
	}
}

// Reserve makes room for n more ops.
func (o *OpBuilder) Reserve(n int) { o.b.Reserve(n) }

// NewArray returns the built column (the caller releases it) and resets the
// builder.
func (o *OpBuilder) NewArray() arrow.Array { return o.b.NewArray() }

// Release releases the builder.
func (o *OpBuilder) Release() { o.b.Release() }

// Ops returns the ops of an updating batch, checking each is valid. The
// slice aliases the batch's memory (valid until it is released). A batch
// without an _op column is append-only: Ops returns nil, false.
func Ops(b arrow.RecordBatch) ([]Op, bool, error) {
	if !IsUpdating(b.Schema()) {
		return nil, false, nil
	}
	if err := CheckSchema(b.Schema()); err != nil {
		return nil, true, err
	}
	col := b.Column(0).(*array.Int8)
	if col.NullN() > 0 {
		return nil, true, fmt.Errorf("changelog: column %q has %d NULLs", Column, col.NullN())
	}
	vs := col.Int8Values()
	ops := make([]Op, len(vs))
	for i, v := range vs {
		if !Op(v).Valid() {
			return nil, true, fmt.Errorf("changelog: row %d: invalid op %d", i, v)
		}
		ops[i] = Op(v)
	}
	return ops, true, nil
}

// Row is one row of a table: Go values by column name, as
// compute/computetest produces them (int64, uint64, float64, bool, string,
// time.Time or nil).
type Row = map[string]any

// Table materializes a changelog into its final table. The zero value is not
// usable; use NewTable.
type Table struct {
	keys []string
	// rows by identity: the key columns' values when keyed, else the whole
	// row; each slot is a multiset of equal rows (keyed: at most one).
	rows map[string][]Row
	n    int
	// changes applied so far, for error messages.
	seen int
}

// NewTable returns an empty table. With key columns, it holds at most one
// row per key.
func NewTable(keys ...string) *Table {
	return &Table{keys: append([]string(nil), keys...), rows: map[string][]Row{}}
}

// Len returns the number of rows in the table.
func (t *Table) Len() int { return t.n }

// identity renders the columns (all but _op when cols is nil) of r.
func identity(r Row, cols []string) string {
	if cols == nil {
		for c := range r {
			if c != Column {
				cols = append(cols, c)
			}
		}
		sort.Strings(cols)
	}
	var sb strings.Builder
	for _, c := range cols {
		fmt.Fprintf(&sb, "%s=%T:%v;", c, r[c], r[c])
	}
	return sb.String()
}

func rowString(r Row) string { return identity(r, nil) }

// Apply applies one change. r is the row without or with its _op column
// (ignored); op says what to do. It returns an error, and leaves the table
// unchanged, when the change is inconsistent with the table.
func (t *Table) Apply(op Op, r Row) error {
	t.seen++
	clean := make(Row, len(r))
	for k, v := range r {
		if k != Column {
			clean[k] = v
		}
	}
	var id string
	if len(t.keys) > 0 {
		for _, k := range t.keys {
			if _, ok := clean[k]; !ok {
				return fmt.Errorf("changelog: change %d (%s): row has no key column %q: %s", t.seen, op, k, rowString(clean))
			}
		}
		id = identity(clean, t.keys)
	} else {
		id = identity(clean, nil)
	}
	switch {
	case op.IsAdd():
		if len(t.keys) > 0 && len(t.rows[id]) > 0 {
			return fmt.Errorf("changelog: change %d (%s) of key %s: the key already holds %s", t.seen, op, id, rowString(t.rows[id][0]))
		}
		t.rows[id] = append(t.rows[id], clean)
		t.n++
		return nil
	case op.IsRetract():
		have := t.rows[id]
		full := rowString(clean)
		for i, h := range have {
			if rowString(h) == full {
				have[i] = have[len(have)-1]
				have = have[:len(have)-1]
				if len(have) == 0 {
					delete(t.rows, id)
				} else {
					t.rows[id] = have
				}
				t.n--
				return nil
			}
		}
		if len(have) > 0 {
			return fmt.Errorf("changelog: change %d (%s) retracts %s, but the table holds %s", t.seen, op, full, rowString(have[0]))
		}
		return fmt.Errorf("changelog: change %d (%s) retracts %s, which is not in the table", t.seen, op, full)
	}
	return fmt.Errorf("changelog: change %d: invalid op %d", t.seen, int8(op))
}

// ApplyRows applies rows that carry their op in the _op column (as int64,
// the way compute/computetest reads int8 columns, or as Op/int8). A -U must
// be followed by a +U; the first inconsistency is returned.
func (t *Table) ApplyRows(rows []Row) error { return ApplyRows(t, rows) }

// ApplyRows is Table.ApplyRows for any row map type (computetest.Row, for
// example).
func ApplyRows[R ~map[string]any](t *Table, rows []R) error {
	for i, r := range rows {
		op, err := rowOp(r)
		if err != nil {
			return fmt.Errorf("changelog: row %d: %w", i, err)
		}
		if op == UpdateBefore {
			if i+1 >= len(rows) {
				return fmt.Errorf("changelog: row %d: -U is the last row; its +U is missing", i)
			}
			if next, err := rowOp(rows[i+1]); err != nil || next != UpdateAfter {
				return fmt.Errorf("changelog: row %d: -U is followed by %v, want +U", i, rows[i+1][Column])
			}
		}
		if err := t.Apply(op, Row(r)); err != nil {
			return err
		}
	}
	return nil
}

func rowOp[R ~map[string]any](r R) (Op, error) {
	v, ok := r[Column]
	if !ok {
		return 0, fmt.Errorf("no %q column", Column)
	}
	var op Op
	switch v := v.(type) {
	case int64:
		op = Op(v)
	case int8:
		op = Op(v)
	case Op:
		op = v
	default:
		return 0, fmt.Errorf("%q is %T(%v), want an integer", Column, v, v)
	}
	if !op.Valid() {
		return 0, fmt.Errorf("invalid op %v", v)
	}
	return op, nil
}

// Rows returns the table's rows (without _op), in no particular order. The
// rows are the table's own maps: do not modify them.
func (t *Table) Rows() []Row {
	out := make([]Row, 0, t.n)
	for _, rs := range t.rows {
		out = append(out, rs...)
	}
	return out
}

// Materialize applies rows (each with its _op) to a new table keyed by keys
// (none: a multiset) and returns the final rows.
func Materialize[R ~map[string]any](rows []R, keys ...string) ([]Row, error) {
	t := NewTable(keys...)
	if err := ApplyRows(t, rows); err != nil {
		return nil, err
	}
	return t.Rows(), nil
}
