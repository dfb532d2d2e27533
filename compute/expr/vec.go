package expr

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// kind is the canonical class of a type. Kernels work on canonical arrays
// only: every integer is widened to int64, float32 to float64, LargeString
// to String. Timestamps keep their unit and zone; dates are date32.
type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kFloat
	kString
	kTS
	kDate
)

func (k kind) String() string {
	return [...]string{"null", "boolean", "integer", "float", "string", "timestamp", "date"}[k]
}

func kindOf(t arrow.DataType) (kind, bool) {
	switch t.ID() {
	case arrow.NULL:
		return kNull, true
	case arrow.BOOL:
		return kBool, true
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return kInt, true
	case arrow.FLOAT32, arrow.FLOAT64:
		return kFloat, true
	case arrow.STRING, arrow.LARGE_STRING:
		return kString, true
	case arrow.TIMESTAMP:
		return kTS, true
	case arrow.DATE32:
		return kDate, true
	}
	return 0, false
}

func mustKind(t arrow.DataType) kind {
	k, ok := kindOf(t)
	if !ok {
		panic(fmt.Sprintf("expr: internal error: unsupported type %s", t))
	}
	return k
}

// canonType maps a supported type to the type kernels work on.
func canonType(t arrow.DataType) arrow.DataType {
	switch mustKind(t) {
	case kInt:
		return arrow.PrimitiveTypes.Int64
	case kFloat:
		return arrow.PrimitiveTypes.Float64
	case kString:
		return arrow.BinaryTypes.String
	}
	return t
}

func isCanon(t arrow.DataType) bool { return arrow.TypeEqual(canonType(t), t) }

// scalar is one value of a canonical type. Timestamps and dates live in i
// (in the unit of their type).
type scalar struct {
	null bool
	b    bool
	i    int64
	f    float64
	s    string
}

// vec is the result of evaluating a node: either a constant or an array of
// the node's type holding one reference that the receiver releases.
type vec struct {
	arr arrow.Array
	c   scalar
}

func (v vec) isConst() bool     { return v.arr == nil }
func (v vec) isNullConst() bool { return v.arr == nil && v.c.null }
func (v vec) release() {
	if v.arr != nil {
		v.arr.Release()
	}
}

// evalCtx carries what one Eval call needs. sel, when not nil, is a bitmap
// (offset 0) of the rows whose value matters: rows outside it are never
// reported as errors (the untaken branch of a CASE, the right side of an AND
// whose left side is false).
type evalCtx struct {
	ctx context.Context
	mem memory.Allocator
	b   arrow.RecordBatch
	n   int
	sel []byte
	src string
	scr []byte // scratch for string results

	// shared nodes (common subexpressions) are evaluated once per batch,
	// over every row, and their results kept in memo until the end of the
	// Eval call.
	shared map[cnode]bool
	memo   map[cnode]vec
}

// eval evaluates a child node, once per batch for shared nodes.
func (ec *evalCtx) eval(n cnode) (vec, error) {
	if !ec.shared[n] {
		return n.eval(ec)
	}
	if v, ok := ec.memo[n]; ok {
		if v.arr != nil {
			v.arr.Retain()
		}
		return v, nil
	}
	saved := ec.sel
	ec.sel = nil // shared nodes cannot fail, and every consumer sees every row
	v, err := n.eval(ec)
	ec.sel = saved
	if err != nil {
		return vec{}, err
	}
	if ec.memo == nil {
		ec.memo = map[cnode]vec{}
	}
	ec.memo[n] = v
	if v.arr != nil {
		v.arr.Retain()
	}
	return v, nil
}

// done releases the memoized results.
func (ec *evalCtx) done() {
	for _, v := range ec.memo {
		v.release()
	}
	ec.memo = nil
}

func (ec *evalCtx) selected(i int) bool { return ec.sel == nil || bitutil.BitIsSet(ec.sel, i) }

func (ec *evalCtx) fail(pos, row int, value string, err error) error {
	return &EvalError{Expr: ec.src, Pos: pos, Row: row, Value: value, Err: err}
}

// ---- buffers ----

func allocBuf(mem memory.Allocator, nbytes int) *memory.Buffer {
	b := memory.NewResizableBuffer(mem)
	b.Resize(nbytes)
	return b
}

func allocBitmap(mem memory.Allocator, n int) *memory.Buffer {
	b := allocBuf(mem, bitutil.CeilByte(n)/8)
	clear(b.Bytes())
	return b
}

func allocI64(mem memory.Allocator, n int) (*memory.Buffer, []int64) {
	b := allocBuf(mem, n*8)
	return b, unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(b.Bytes()))), n)
}

func allocF64(mem memory.Allocator, n int) (*memory.Buffer, []float64) {
	b := allocBuf(mem, n*8)
	return b, unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(b.Bytes()))), n)
}

func allocI32(mem memory.Allocator, n int) (*memory.Buffer, []int32) {
	b := allocBuf(mem, n*4)
	return b, unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b.Bytes()))), n)
}

// makeArr wraps buffers into an array and takes over the caller's
// references to them.
func makeArr(t arrow.DataType, n int, valid *memory.Buffer, nulls int, vals *memory.Buffer) arrow.Array {
	if valid == nil {
		nulls = 0
	}
	d := array.NewData(t, n, []*memory.Buffer{valid, vals}, nil, nulls, 0)
	a := array.MakeFromData(d)
	d.Release()
	if valid != nil {
		valid.Release()
	}
	vals.Release()
	return a
}

// validity returns the validity bitmap of a and its bit offset, or nil when
// a has no nulls.
func validity(a arrow.Array) ([]byte, int) {
	if a == nil || a.NullN() == 0 {
		return nil, 0
	}
	return a.NullBitmapBytes(), a.Data().Offset()
}

// andValidity returns a new reference to a bitmap (offset 0) that is the
// AND of the validity of the non-nil arrays, and the number of nulls; nil
// when no array has nulls.
func andValidity(mem memory.Allocator, n int, arrs ...arrow.Array) (*memory.Buffer, int) {
	var out *memory.Buffer
	for _, a := range arrs {
		bm, off := validity(a)
		if bm == nil {
			continue
		}
		if out == nil {
			if off == 0 && len(arrs) == 1 || off == 0 && onlyOneWithNulls(arrs) {
				buf := a.Data().Buffers()[0]
				buf.Retain()
				return buf, a.NullN()
			}
			out = allocBitmap(mem, n)
			bitutil.CopyBitmap(bm, off, n, out.Bytes(), 0)
			continue
		}
		o := out.Bytes()
		bitutil.BitmapAnd(o, bm, 0, int64(off), o, 0, int64(n))
	}
	if out == nil {
		return nil, 0
	}
	return out, n - bitutil.CountSetBits(out.Bytes(), 0, n)
}

func onlyOneWithNulls(arrs []arrow.Array) bool {
	c := 0
	for _, a := range arrs {
		if a != nil && a.NullN() > 0 {
			c++
		}
	}
	return c == 1
}

// bufBytes returns the bytes of buffer i of a, nil when it is absent (as in
// some zero-length arrays).
func bufBytes(a arrow.Array, i int) []byte {
	bs := a.Data().Buffers()
	if i >= len(bs) || bs[i] == nil {
		return nil
	}
	return bs[i].Bytes()
}

// ---- reading values generically (for the row-at-a-time paths) ----

type reader struct {
	k     kind
	cst   bool
	c     scalar
	valid []byte
	voff  int
	i64   []int64
	f64   []float64
	i32   []int32
	bits  []byte
	boff  int
	str   *array.String
}

func newReader(k kind, v vec) reader {
	r := reader{k: k}
	if v.arr == nil {
		r.cst, r.c = true, v.c
		return r
	}
	r.valid, r.voff = validity(v.arr)
	switch a := v.arr.(type) {
	case *array.Int64:
		r.i64 = a.Int64Values()
	case *array.Float64:
		r.f64 = a.Float64Values()
	case *array.Timestamp:
		r.i64 = arrow.Int64Traits.CastFromBytes(bufBytes(a, 1))[a.Data().Offset():]
	case *array.Date32:
		r.i32 = arrow.Int32Traits.CastFromBytes(bufBytes(a, 1))[a.Data().Offset():]
	case *array.Boolean:
		r.bits, r.boff = bufBytes(a, 1), a.Data().Offset()
	case *array.String:
		r.str = a
	case *array.Null:
		r.cst, r.c = true, scalar{null: true}
	default:
		panic(fmt.Sprintf("expr: internal error: reader on non-canonical %s", v.arr.DataType()))
	}
	return r
}

func (r *reader) get(i int) scalar {
	if r.cst {
		return r.c
	}
	if r.valid != nil && bitutil.BitIsNotSet(r.valid, r.voff+i) {
		return scalar{null: true}
	}
	switch r.k {
	case kInt, kTS:
		return scalar{i: r.i64[i]}
	case kFloat:
		return scalar{f: r.f64[i]}
	case kDate:
		return scalar{i: int64(r.i32[i])}
	case kBool:
		return scalar{b: bitutil.BitIsSet(r.bits, r.boff+i)}
	case kString:
		return scalar{s: r.str.Value(i)}
	}
	return scalar{null: true}
}

// ---- writing values generically ----

type writer struct {
	k   kind
	bld array.Builder
	ib  *array.Int64Builder
	fb  *array.Float64Builder
	bb  *array.BooleanBuilder
	sb  *array.StringBuilder
	tb  *array.TimestampBuilder
	db  *array.Date32Builder
	nb  *array.NullBuilder
}

func newWriter(mem memory.Allocator, t arrow.DataType, n int) *writer {
	w := &writer{k: mustKind(t), bld: array.NewBuilder(mem, t)}
	w.bld.Reserve(n)
	switch b := w.bld.(type) {
	case *array.Int64Builder:
		w.ib = b
	case *array.Float64Builder:
		w.fb = b
	case *array.BooleanBuilder:
		w.bb = b
	case *array.StringBuilder:
		w.sb = b
	case *array.TimestampBuilder:
		w.tb = b
	case *array.Date32Builder:
		w.db = b
	case *array.NullBuilder:
		w.nb = b
	default:
		panic(fmt.Sprintf("expr: internal error: writer for non-canonical %s", t))
	}
	return w
}

func (w *writer) append(s scalar) {
	if s.null {
		w.bld.AppendNull()
		return
	}
	switch w.k {
	case kInt:
		w.ib.UnsafeAppend(s.i)
	case kFloat:
		w.fb.UnsafeAppend(s.f)
	case kBool:
		w.bb.UnsafeAppend(s.b)
	case kString:
		w.sb.Append(s.s)
	case kTS:
		w.tb.UnsafeAppend(arrow.Timestamp(s.i))
	case kDate:
		w.db.UnsafeAppend(arrow.Date32(s.i))
	default:
		w.bld.AppendNull()
	}
}

func (w *writer) finish() arrow.Array {
	a := w.bld.NewArray()
	w.bld.Release()
	return a
}

func (w *writer) release() { w.bld.Release() }

// materialize turns a constant into an array of n rows of canonical type t.
func materialize(mem memory.Allocator, t arrow.DataType, c scalar, n int) arrow.Array {
	if c.null {
		return array.MakeArrayOfNull(mem, t, n)
	}
	w := newWriter(mem, t, n)
	for range n {
		w.append(c)
	}
	return w.finish()
}

// scalarAt reads row i of a canonical array.
func scalarAt(k kind, a arrow.Array, i int) scalar {
	r := newReader(k, vec{arr: a})
	return r.get(i)
}

// ownedScalarAt is scalarAt with strings copied out of the array's memory,
// for scalars that outlive the array.
func ownedScalarAt(k kind, a arrow.Array, i int) scalar {
	s := scalarAt(k, a, i)
	s.s = strings.Clone(s.s)
	return s
}

// render formats a value for error messages.
func render(t arrow.DataType, s scalar) string {
	if s.null {
		return "NULL"
	}
	switch mustKind(t) {
	case kBool:
		return strconv.FormatBool(s.b)
	case kInt:
		return strconv.FormatInt(s.i, 10)
	case kFloat:
		return strconv.FormatFloat(s.f, 'g', -1, 64)
	case kString:
		return strconv.Quote(s.s)
	case kTS:
		return "'" + tsTime(t, s.i).Format("2006-01-02 15:04:05.999999999") + "'"
	case kDate:
		return "'" + time.Unix(s.i*86400, 0).UTC().Format("2006-01-02") + "'"
	}
	return "?"
}

// ---- timestamps ----

func unitPerSec(u arrow.TimeUnit) int64 {
	switch u {
	case arrow.Second:
		return 1
	case arrow.Millisecond:
		return 1e3
	case arrow.Microsecond:
		return 1e6
	}
	return 1e9
}

func tsUnit(t arrow.DataType) arrow.TimeUnit { return t.(*arrow.TimestampType).Unit }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

func tsTime(t arrow.DataType, v int64) time.Time {
	ps := unitPerSec(tsUnit(t))
	sec := floorDiv(v, ps)
	frac := v - sec*ps
	return time.Unix(sec, frac*(1e9/ps)).UTC()
}

func timeToTS(t arrow.DataType, tm time.Time) (int64, bool) {
	ps := unitPerSec(tsUnit(t))
	sec := tm.Unix()
	if sec > math.MaxInt64/ps-1 || sec < math.MinInt64/ps+1 {
		return 0, false
	}
	return sec*ps + int64(tm.Nanosecond())/(1e9/ps), true
}
