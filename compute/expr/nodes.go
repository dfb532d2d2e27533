package expr

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// cnode is a compiled, type-checked expression node. eval returns a vec of
// type dtype() (an array with one reference owned by the caller, or a
// constant). Nodes are immutable after compilation and safe for concurrent
// eval calls.
type cnode interface {
	dtype() arrow.DataType
	eval(ec *evalCtx) (vec, error)
	kids() []cnode
	// canFail reports whether eval may return an *EvalError for some row.
	canFail() bool
}

func anyFail(ns ...cnode) bool {
	for _, n := range ns {
		if n != nil && n.canFail() {
			return true
		}
	}
	return false
}

// ---- constants and columns ----

type constNode struct {
	t arrow.DataType
	v scalar
}

func (n *constNode) dtype() arrow.DataType      { return n.t }
func (n *constNode) eval(*evalCtx) (vec, error) { return vec{c: n.v}, nil }
func (n *constNode) kids() []cnode              { return nil }
func (n *constNode) canFail() bool              { return false }
func nullConst(t arrow.DataType) *constNode     { return &constNode{t: t, v: scalar{null: true}} }
func isConstNode(n cnode) (*constNode, bool)    { c, ok := n.(*constNode); return c, ok }

type colNode struct {
	idx int
	t   arrow.DataType
}

func (n *colNode) dtype() arrow.DataType { return n.t }
func (n *colNode) kids() []cnode         { return nil }
func (n *colNode) canFail() bool         { return false }
func (n *colNode) eval(ec *evalCtx) (vec, error) {
	a := ec.b.Column(n.idx)
	a.Retain()
	return vec{arr: a}, nil
}

// ---- conversions (vectorized) ----

// convNode converts between numeric types, timestamp units, date and
// timestamp, LargeString and String, and from NULL to anything. It never
// fails: narrowing integer conversions wrap as in Go (and Flink).
type convNode struct {
	x cnode
	t arrow.DataType
}

func (n *convNode) dtype() arrow.DataType { return n.t }
func (n *convNode) kids() []cnode         { return []cnode{n.x} }
func (n *convNode) canFail() bool         { return n.x.canFail() }

func (n *convNode) eval(ec *evalCtx) (vec, error) {
	v, err := ec.eval(n.x)
	if err != nil {
		return vec{}, err
	}
	if v.isConst() {
		return vec{c: convScalar(n.x.dtype(), n.t, v.c)}, nil
	}
	defer v.release()
	if v.arr.DataType().ID() == arrow.NULL {
		return vec{c: scalar{null: true}}, nil
	}
	return vec{arr: convArray(ec.mem, v.arr, n.t)}, nil
}

func convScalar(from, to arrow.DataType, s scalar) scalar {
	if s.null {
		return s
	}
	fk, tk := mustKind(from), mustKind(to)
	switch {
	case fk == kInt && tk == kFloat:
		return scalar{f: float64(s.i)}
	case fk == kFloat && tk == kInt:
		s = scalar{i: int64(s.f)}
		return scalar{i: wrapInt(to, s.i)}
	case fk == kInt && tk == kInt:
		return scalar{i: wrapInt(to, s.i)}
	case fk == kFloat && tk == kFloat:
		if to.ID() == arrow.FLOAT32 {
			return scalar{f: float64(float32(s.f))}
		}
		return s
	case fk == kTS && tk == kTS:
		return scalar{i: convUnit(s.i, tsUnit(from), tsUnit(to))}
	case fk == kDate && tk == kTS:
		return scalar{i: s.i * 86400 * unitPerSec(tsUnit(to))}
	case fk == kTS && tk == kDate:
		return scalar{i: floorDiv(s.i, 86400*unitPerSec(tsUnit(from)))}
	}
	return s
}

func wrapInt(t arrow.DataType, v int64) int64 {
	switch t.ID() {
	case arrow.INT8:
		return int64(int8(v))
	case arrow.INT16:
		return int64(int16(v))
	case arrow.INT32:
		return int64(int32(v))
	case arrow.UINT8:
		return int64(uint8(v))
	case arrow.UINT16:
		return int64(uint16(v))
	case arrow.UINT32:
		return int64(uint32(v))
	}
	return v
}

func convUnit(v int64, from, to arrow.TimeUnit) int64 {
	f, t := unitPerSec(from), unitPerSec(to)
	if f == t {
		return v
	}
	if t > f {
		return v * (t / f)
	}
	return floorDiv(v, f/t)
}

type number interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64 | ~float32 | ~float64
}

func convLoop[S, D number](src []S, dst []D) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = D(v)
	}
}

func convFrom[S number](mem memory.Allocator, src []S, a arrow.Array, to arrow.DataType) arrow.Array {
	n := len(src)
	valid, nulls := andValidity(mem, n, a)
	var buf *memory.Buffer
	switch to.ID() {
	case arrow.INT64:
		var d []int64
		buf, d = allocI64(mem, n)
		convLoop(src, d)
	case arrow.FLOAT64:
		var d []float64
		buf, d = allocF64(mem, n)
		convLoop(src, d)
	default:
		buf = allocBuf(mem, n*to.(arrow.FixedWidthDataType).BitWidth()/8)
		b := buf.Bytes()
		switch to.ID() {
		case arrow.INT8:
			convLoop(src, arrow.Int8Traits.CastFromBytes(b))
		case arrow.INT16:
			convLoop(src, arrow.Int16Traits.CastFromBytes(b))
		case arrow.INT32:
			convLoop(src, arrow.Int32Traits.CastFromBytes(b))
		case arrow.UINT8:
			convLoop(src, arrow.Uint8Traits.CastFromBytes(b))
		case arrow.UINT16:
			convLoop(src, arrow.Uint16Traits.CastFromBytes(b))
		case arrow.UINT32:
			convLoop(src, arrow.Uint32Traits.CastFromBytes(b))
		case arrow.UINT64:
			convLoop(src, arrow.Uint64Traits.CastFromBytes(b))
		case arrow.FLOAT32:
			convLoop(src, arrow.Float32Traits.CastFromBytes(b))
		default:
			panic("expr: internal error: conversion to " + to.String())
		}
	}
	return makeArr(to, n, valid, nulls, buf)
}

func convArray(mem memory.Allocator, a arrow.Array, to arrow.DataType) arrow.Array {
	switch a := a.(type) {
	case *array.Int8:
		return convFrom(mem, a.Int8Values(), a, to)
	case *array.Int16:
		return convFrom(mem, a.Int16Values(), a, to)
	case *array.Int32:
		return convFrom(mem, a.Int32Values(), a, to)
	case *array.Int64:
		return convFrom(mem, a.Int64Values(), a, to)
	case *array.Uint8:
		return convFrom(mem, a.Uint8Values(), a, to)
	case *array.Uint16:
		return convFrom(mem, a.Uint16Values(), a, to)
	case *array.Uint32:
		return convFrom(mem, a.Uint32Values(), a, to)
	case *array.Uint64:
		return convFrom(mem, a.Uint64Values(), a, to)
	case *array.Float32:
		return convFrom(mem, a.Float32Values(), a, to)
	case *array.Float64:
		return convFrom(mem, a.Float64Values(), a, to)
	case *array.LargeString:
		b := array.NewStringBuilder(mem)
		defer b.Release()
		b.Reserve(a.Len())
		b.ReserveData(len(a.ValueBytes()))
		for i := 0; i < a.Len(); i++ {
			if a.IsNull(i) {
				b.AppendNull()
			} else {
				b.Append(a.Value(i))
			}
		}
		return b.NewArray()
	}
	// Temporal conversions share one path.
	from := a.DataType()
	n := a.Len()
	valid, nulls := andValidity(mem, n, a)
	r := newReader(mustKind(from), vec{arr: a})
	var buf *memory.Buffer
	switch to.ID() {
	case arrow.TIMESTAMP:
		var d []int64
		buf, d = allocI64(mem, n)
		if from.ID() == arrow.DATE32 {
			m := 86400 * unitPerSec(tsUnit(to))
			for i, v := range r.i32[:n] {
				d[i] = int64(v) * m
			}
		} else {
			f, t := unitPerSec(tsUnit(from)), unitPerSec(tsUnit(to))
			for i, v := range r.i64[:n] {
				if t >= f {
					d[i] = v * (t / f)
				} else {
					d[i] = floorDiv(v, f/t)
				}
			}
		}
	case arrow.DATE32:
		var d []int32
		buf, d = allocI32(mem, n)
		m := 86400 * unitPerSec(tsUnit(from))
		for i, v := range r.i64[:n] {
			d[i] = int32(floorDiv(v, m))
		}
	default:
		panic(fmt.Sprintf("expr: internal error: conversion %s to %s", from, to))
	}
	return makeArr(to, n, valid, nulls, buf)
}

// ---- arithmetic ----

type arithNode struct {
	op   byte // + - * / %
	l, r cnode
	t    arrow.DataType // int64 or float64
	pos  int
}

func (n *arithNode) dtype() arrow.DataType { return n.t }
func (n *arithNode) kids() []cnode         { return []cnode{n.l, n.r} }
func (n *arithNode) canFail() bool {
	return anyFail(n.l, n.r) || (n.t.ID() == arrow.INT64 && (n.op == '/' || n.op == '%'))
}

func evalPair(ec *evalCtx, l, r cnode) (vec, vec, error) {
	lv, err := ec.eval(l)
	if err != nil {
		return vec{}, vec{}, err
	}
	rv, err := ec.eval(r)
	if err != nil {
		lv.release()
		return vec{}, vec{}, err
	}
	return lv, rv, nil
}

func (n *arithNode) eval(ec *evalCtx) (vec, error) {
	l, r := n.l, n.r
	if n.t.ID() == arrow.FLOAT64 {
		// Read integer operands directly instead of converting them into a
		// temporary float64 array first.
		l, r = intSource(l), intSource(r)
	}
	lv, rv, err := evalPair(ec, l, r)
	if err != nil {
		return vec{}, err
	}
	defer func() { lv.release() }()
	defer func() { rv.release() }()
	if lv.isNullConst() || rv.isNullConst() {
		return vec{c: scalar{null: true}}, nil
	}
	if lv.isConst() && rv.isConst() {
		lv.arr = materialize(ec.mem, n.l.dtype(), lv.c, ec.n)
		l = n.l
	}
	valid, nulls := andValidity(ec.mem, ec.n, lv.arr, rv.arr)
	if n.t.ID() == arrow.FLOAT64 {
		buf, out := allocF64(ec.mem, ec.n)
		lc, rc := lv.c.f, rv.c.f
		if lv.isConst() && l != n.l {
			lc = float64(lv.c.i)
		}
		if rv.isConst() && r != n.r {
			rc = float64(rv.c.i)
		}
		switch la, ra := lv.arr, rv.arr; {
		case isI64(la) && isI64(ra):
			arithF(n.op, i64Of(lv), lc, i64Of(rv), rc, out)
		case isI64(la):
			arithF(n.op, i64Of(lv), lc, f64Of(rv), rc, out)
		case isI64(ra):
			arithF(n.op, f64Of(lv), lc, i64Of(rv), rc, out)
		default:
			arithF(n.op, f64Of(lv), lc, f64Of(rv), rc, out)
		}
		return vec{arr: makeArr(n.t, ec.n, valid, nulls, buf)}, nil
	}
	buf, out := allocI64(ec.mem, ec.n)
	if err := n.arithI64(ec, valid, i64Of(lv), lv.c.i, i64Of(rv), rv.c.i, out); err != nil {
		buf.Release()
		if valid != nil {
			valid.Release()
		}
		return vec{}, err
	}
	return vec{arr: makeArr(n.t, ec.n, valid, nulls, buf)}, nil
}

func i64Of(v vec) []int64 {
	if a, ok := v.arr.(*array.Int64); ok {
		return a.Int64Values()
	}
	return nil
}

func f64Of(v vec) []float64 {
	if a, ok := v.arr.(*array.Float64); ok {
		return a.Float64Values()
	}
	return nil
}

// intSource returns the int64 node under an int64→float64 conversion.
func intSource(n cnode) cnode {
	if c, ok := n.(*convNode); ok && c.x.dtype().ID() == arrow.INT64 {
		return c.x
	}
	return n
}

func isI64(a arrow.Array) bool {
	_, ok := a.(*array.Int64)
	return ok
}

// arithF is float64 arithmetic over int64 or float64 operand slices. A nil
// slice means "use the constant".
func arithF[A, B int64 | float64](op byte, a []A, ac float64, b []B, bc float64, o []float64) {
	switch {
	case a != nil && b != nil:
		a, b = a[:len(o)], b[:len(o)]
		switch op {
		case '+':
			for i := range o {
				o[i] = float64(a[i]) + float64(b[i])
			}
		case '-':
			for i := range o {
				o[i] = float64(a[i]) - float64(b[i])
			}
		case '*':
			for i := range o {
				o[i] = float64(a[i]) * float64(b[i])
			}
		case '/':
			for i := range o {
				o[i] = float64(a[i]) / float64(b[i])
			}
		case '%':
			for i := range o {
				o[i] = math.Mod(float64(a[i]), float64(b[i]))
			}
		}
	case b == nil:
		a = a[:len(o)]
		switch op {
		case '+':
			for i := range o {
				o[i] = float64(a[i]) + bc
			}
		case '-':
			for i := range o {
				o[i] = float64(a[i]) - bc
			}
		case '*':
			for i := range o {
				o[i] = float64(a[i]) * bc
			}
		case '/':
			for i := range o {
				o[i] = float64(a[i]) / bc
			}
		case '%':
			for i := range o {
				o[i] = math.Mod(float64(a[i]), bc)
			}
		}
	default:
		b = b[:len(o)]
		switch op {
		case '+':
			for i := range o {
				o[i] = ac + float64(b[i])
			}
		case '-':
			for i := range o {
				o[i] = ac - float64(b[i])
			}
		case '*':
			for i := range o {
				o[i] = ac * float64(b[i])
			}
		case '/':
			for i := range o {
				o[i] = ac / float64(b[i])
			}
		case '%':
			for i := range o {
				o[i] = math.Mod(ac, float64(b[i]))
			}
		}
	}
}

func (n *arithNode) divErr(ec *evalCtx, valid *memory.Buffer, i int, a int64) error {
	return ec.fail(n.pos, i, fmt.Sprintf("%d %c 0", a, n.op), ErrDivideByZero)
}

func (n *arithNode) arithI64(ec *evalCtx, valid *memory.Buffer, a []int64, ac int64, b []int64, bc int64, o []int64) error {
	live := func(i int) bool {
		return (valid == nil || bitutil.BitIsSet(valid.Bytes(), i)) && ec.selected(i)
	}
	switch {
	case a != nil && b != nil:
		a, b = a[:len(o)], b[:len(o)]
		switch n.op {
		case '+':
			for i := range o {
				o[i] = a[i] + b[i]
			}
		case '-':
			for i := range o {
				o[i] = a[i] - b[i]
			}
		case '*':
			for i := range o {
				o[i] = a[i] * b[i]
			}
		case '/', '%':
			for i := range o {
				d := b[i]
				if d == 0 {
					if live(i) {
						return n.divErr(ec, valid, i, a[i])
					}
					o[i] = 0
					continue
				}
				if n.op == '/' {
					o[i] = a[i] / d
				} else {
					o[i] = a[i] % d
				}
			}
		}
	case b == nil:
		a = a[:len(o)]
		switch n.op {
		case '+':
			for i := range o {
				o[i] = a[i] + bc
			}
		case '-':
			for i := range o {
				o[i] = a[i] - bc
			}
		case '*':
			for i := range o {
				o[i] = a[i] * bc
			}
		case '/', '%':
			if bc == 0 {
				for i := range o {
					if live(i) {
						return n.divErr(ec, valid, i, a[i])
					}
					o[i] = 0
				}
				return nil
			}
			if n.op == '/' {
				divConst(a, bc, o)
			} else {
				modConst(a, bc, o)
			}
		}
	default:
		b = b[:len(o)]
		switch n.op {
		case '+':
			for i := range o {
				o[i] = ac + b[i]
			}
		case '-':
			for i := range o {
				o[i] = ac - b[i]
			}
		case '*':
			for i := range o {
				o[i] = ac * b[i]
			}
		case '/', '%':
			for i := range o {
				d := b[i]
				if d == 0 {
					if live(i) {
						return n.divErr(ec, valid, i, ac)
					}
					o[i] = 0
					continue
				}
				if n.op == '/' {
					o[i] = ac / d
				} else {
					o[i] = ac % d
				}
			}
		}
	}
	return nil
}

// ---- comparisons ----

type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opLt
	opLe
	opGt
	opGe
)

var cmpOps = map[string]cmpOp{"=": opEq, "<>": opNe, "<": opLt, "<=": opLe, ">": opGt, ">=": opGe}

func (o cmpOp) flip() cmpOp {
	switch o {
	case opLt:
		return opGt
	case opLe:
		return opGe
	case opGt:
		return opLt
	case opGe:
		return opLe
	}
	return o
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

type ordered interface {
	~int32 | ~int64 | ~float64 | ~string
}

func cmpScalar[T ordered](op cmpOp, a, b T) bool {
	switch op {
	case opEq:
		return a == b
	case opNe:
		return a != b
	case opLt:
		return a < b
	case opLe:
		return a <= b
	case opGt:
		return a > b
	}
	return a >= b
}

// cmpAC packs (a[i] op c) into out, which must be zeroed. Eight results
// are gathered in a register before each store.
func cmpAC[T int32 | int64 | float64](op cmpOp, a []T, c T, out []byte) {
	n8 := len(a) &^ 7
	switch op {
	case opEq:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] == c) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] == c) << (i & 7)
		}
	case opNe:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] != c) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] != c) << (i & 7)
		}
	case opLt:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] < c) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] < c) << (i & 7)
		}
	case opLe:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] <= c) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] <= c) << (i & 7)
		}
	case opGt:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] > c) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] > c) << (i & 7)
		}
	case opGe:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] >= c) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] >= c) << (i & 7)
		}
	}
}

// cmpAA packs (a[i] op b[i]) into out, which must be zeroed.
func cmpAA[T int32 | int64 | float64](op cmpOp, a, b []T, out []byte) {
	b = b[:len(a)]
	n8 := len(a) &^ 7
	switch op {
	case opEq:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] == b[i+k]) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] == b[i]) << (i & 7)
		}
	case opNe:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] != b[i+k]) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] != b[i]) << (i & 7)
		}
	case opLt:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] < b[i+k]) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] < b[i]) << (i & 7)
		}
	case opLe:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] <= b[i+k]) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] <= b[i]) << (i & 7)
		}
	case opGt:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] > b[i+k]) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] > b[i]) << (i & 7)
		}
	case opGe:
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				w |= b2u(a[i+k] >= b[i+k]) << k
			}
			out[i>>3] = w
		}
		for i := n8; i < len(a); i++ {
			out[i>>3] |= b2u(a[i] >= b[i]) << (i & 7)
		}
	}
}

type cmpNode struct {
	op   cmpOp
	l, r cnode
	k    kind // common canonical kind of l and r
}

func (n *cmpNode) dtype() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *cmpNode) kids() []cnode         { return []cnode{n.l, n.r} }
func (n *cmpNode) canFail() bool         { return anyFail(n.l, n.r) }

func (n *cmpNode) eval(ec *evalCtx) (vec, error) {
	if v, ok, err := n.fusedModCmp(ec); ok {
		return v, err
	}
	lv, rv, err := evalPair(ec, n.l, n.r)
	if err != nil {
		return vec{}, err
	}
	defer func() { lv.release() }()
	defer func() { rv.release() }()
	if lv.isNullConst() || rv.isNullConst() {
		return vec{c: scalar{null: true}}, nil
	}
	op := n.op
	if lv.isConst() && !rv.isConst() {
		lv, rv = rv, lv
		op = op.flip()
	}
	if lv.isConst() {
		lv.arr = materialize(ec.mem, n.l.dtype(), lv.c, ec.n)
	}
	valid, nulls := andValidity(ec.mem, ec.n, lv.arr, rv.arr)
	buf := allocBitmap(ec.mem, ec.n)
	out := buf.Bytes()
	switch n.k {
	case kInt, kTS:
		a := newReader(n.k, lv).i64[:ec.n]
		if rv.isConst() {
			cmpAC(op, a, rv.c.i, out)
		} else {
			cmpAA(op, a, newReader(n.k, rv).i64, out)
		}
	case kFloat:
		a := lv.arr.(*array.Float64).Float64Values()
		if rv.isConst() {
			cmpAC(op, a, rv.c.f, out)
		} else {
			cmpAA(op, a, rv.arr.(*array.Float64).Float64Values(), out)
		}
	case kDate:
		a := newReader(n.k, lv).i32[:ec.n]
		if rv.isConst() {
			cmpAC(op, a, int32(rv.c.i), out)
		} else {
			cmpAA(op, a, newReader(n.k, rv).i32, out)
		}
	case kString:
		a := lv.arr.(*array.String)
		if rv.isConst() {
			c := rv.c.s
			for i := range ec.n {
				out[i>>3] |= b2u(cmpScalar(op, a.Value(i), c)) << (i & 7)
			}
		} else {
			b := rv.arr.(*array.String)
			for i := range ec.n {
				out[i>>3] |= b2u(cmpScalar(op, a.Value(i), b.Value(i))) << (i & 7)
			}
		}
	case kBool:
		ra, rb := newReader(kBool, lv), newReader(kBool, rv)
		for i := range ec.n {
			out[i>>3] |= b2u(cmpScalar(op, int32(b2u(ra.get(i).b)), int32(b2u(rb.get(i).b)))) << (i & 7)
		}
	}
	return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, valid, nulls, buf)}, nil
}

// ---- boolean logic ----

// bits returns the value and validity bitmaps of a boolean vec at offset 0
// (valid nil when there are no nulls). Constants are expanded.
func boolBits(n int, v vec) (vals, valid []byte) {
	nb := bitutil.CeilByte(n) / 8
	if v.isConst() {
		vals = make([]byte, nb)
		if v.c.null {
			return vals, make([]byte, nb)
		}
		if v.c.b {
			for i := range vals {
				vals[i] = 0xff
			}
		}
		return vals, nil
	}
	d := v.arr.Data()
	off := d.Offset()
	vals = bufBytes(v.arr, 1)
	if len(vals) < nb {
		c := make([]byte, nb)
		copy(c, vals)
		vals = c
	} else if off != 0 {
		c := make([]byte, nb)
		bitutil.CopyBitmap(vals, off, n, c, 0)
		vals = c
	}
	if bm, voff := validity(v.arr); bm != nil {
		if voff != 0 {
			c := make([]byte, nb)
			bitutil.CopyBitmap(bm, voff, n, c, 0)
			bm = c
		}
		valid = bm
	}
	return vals, valid
}

type logicNode struct {
	and  bool
	l, r cnode
}

func (n *logicNode) dtype() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *logicNode) kids() []cnode         { return []cnode{n.l, n.r} }
func (n *logicNode) canFail() bool         { return anyFail(n.l, n.r) }

func (n *logicNode) eval(ec *evalCtx) (vec, error) {
	lv, err := ec.eval(n.l)
	if err != nil {
		return vec{}, err
	}
	defer func() { lv.release() }()
	// Short-circuit: a constant left side decides alone when it is FALSE (AND)
	// or TRUE (OR).
	if lv.isConst() && !lv.c.null && lv.c.b != n.and {
		return vec{c: lv.c}, nil
	}
	nb := bitutil.CeilByte(ec.n) / 8
	lvals, lvalid := boolBits(ec.n, lv)
	saved := ec.sel
	if n.r.canFail() || expensive(n.r) {
		// Rows that the left side already decides need not be evaluated on the
		// right: narrow the selection so they cannot raise errors.
		sel := make([]byte, nb)
		for i := range sel {
			decided := lvals[i]
			if n.and {
				decided = ^lvals[i]
			}
			if lvalid != nil {
				decided &= lvalid[i]
			}
			sel[i] = ^decided
			if saved != nil {
				sel[i] &= saved[i]
			}
		}
		ec.sel = sel
	}
	rv, err := ec.eval(n.r)
	ec.sel = saved
	if err != nil {
		return vec{}, err
	}
	defer func() { rv.release() }()
	rvals, rvalid := boolBits(ec.n, rv)
	vbuf := allocBitmap(ec.mem, ec.n)
	out := vbuf.Bytes()
	if lvalid == nil && rvalid == nil {
		for i := range out {
			if n.and {
				out[i] = lvals[i] & rvals[i]
			} else {
				out[i] = lvals[i] | rvals[i]
			}
		}
		return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, nil, 0, vbuf)}, nil
	}
	vb := allocBitmap(ec.mem, ec.n)
	valid := vb.Bytes()
	for i := range out {
		la, lv := lvals[i], byte(0xff)
		if lvalid != nil {
			lv = lvalid[i]
		}
		ra, rv := rvals[i], byte(0xff)
		if rvalid != nil {
			rv = rvalid[i]
		}
		if n.and {
			out[i] = la & ra
			valid[i] = (lv & rv) | (lv &^ la) | (rv &^ ra)
		} else {
			out[i] = la | ra
			valid[i] = (lv & rv) | (lv & la) | (rv & ra)
		}
	}
	nulls := ec.n - bitutil.CountSetBits(valid, 0, ec.n)
	return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, vb, nulls, vbuf)}, nil
}

// expensive reports whether n evaluates anything row at a time, so that
// narrowing the selection pays off.
func expensive(n cnode) bool {
	switch n.(type) {
	case *rowFn, *caseNode, *coalesceNode:
		return true
	}
	for _, k := range n.kids() {
		if expensive(k) {
			return true
		}
	}
	return false
}

type notNode struct{ x cnode }

func (n *notNode) dtype() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *notNode) kids() []cnode         { return []cnode{n.x} }
func (n *notNode) canFail() bool         { return n.x.canFail() }

func (n *notNode) eval(ec *evalCtx) (vec, error) {
	v, err := ec.eval(n.x)
	if err != nil {
		return vec{}, err
	}
	defer v.release()
	if v.isConst() {
		return vec{c: scalar{null: v.c.null, b: !v.c.b}}, nil
	}
	vals, _ := boolBits(ec.n, v)
	buf := allocBitmap(ec.mem, ec.n)
	out := buf.Bytes()
	for i := range out {
		out[i] = ^vals[i]
	}
	valid, nulls := andValidity(ec.mem, ec.n, v.arr)
	return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, valid, nulls, buf)}, nil
}

// isNode is X IS [NOT] NULL|TRUE|FALSE; never NULL itself.
type isNode struct {
	x    cnode
	what string
	not  bool
}

func (n *isNode) dtype() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *isNode) kids() []cnode         { return []cnode{n.x} }
func (n *isNode) canFail() bool         { return n.x.canFail() }

func (n *isNode) eval(ec *evalCtx) (vec, error) {
	v, err := ec.eval(n.x)
	if err != nil {
		return vec{}, err
	}
	defer v.release()
	test := func(null, b bool) bool {
		var r bool
		switch n.what {
		case "NULL":
			r = null
		case "TRUE":
			r = !null && b
		default:
			r = !null && !b
		}
		return r != n.not
	}
	if v.isConst() {
		return vec{c: scalar{b: test(v.c.null, v.c.b)}}, nil
	}
	buf := allocBitmap(ec.mem, ec.n)
	out := buf.Bytes()
	var vals, valid []byte
	if n.what == "NULL" {
		valid, voff := validity(v.arr)
		for i := range ec.n {
			null := valid != nil && bitutil.BitIsNotSet(valid, voff+i)
			out[i>>3] |= b2u(null != n.not) << (i & 7)
		}
		return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, nil, 0, buf)}, nil
	}
	vals, valid = boolBits(ec.n, v)
	for i := range out {
		vv := byte(0xff)
		if valid != nil {
			vv = valid[i]
		}
		var r byte
		if n.what == "TRUE" {
			r = vv & vals[i]
		} else {
			r = vv &^ vals[i]
		}
		if n.not {
			r = ^r
		}
		out[i] = r
	}
	return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, nil, 0, buf)}, nil
}

// ---- IN with a constant list ----

type inNode struct {
	x       cnode
	k       kind
	not     bool
	hasNull bool // the list contains NULL
	ints    map[int64]struct{}
	floats  map[float64]struct{}
	strs    map[string]struct{}
	bools   [2]bool
}

func (n *inNode) dtype() arrow.DataType { return arrow.FixedWidthTypes.Boolean }
func (n *inNode) kids() []cnode         { return []cnode{n.x} }
func (n *inNode) canFail() bool         { return n.x.canFail() }

func (n *inNode) member(s scalar) bool {
	switch n.k {
	case kInt, kTS, kDate:
		_, ok := n.ints[s.i]
		return ok
	case kFloat:
		_, ok := n.floats[s.f]
		return ok
	case kString:
		_, ok := n.strs[s.s]
		return ok
	case kBool:
		return n.bools[b2u(s.b)]
	}
	return false
}

func (n *inNode) eval(ec *evalCtx) (vec, error) {
	v, err := ec.eval(n.x)
	if err != nil {
		return vec{}, err
	}
	defer v.release()
	// x IN (...) is TRUE on a match, else NULL when x is NULL or the list
	// holds a NULL, else FALSE. NOT IN negates TRUE/FALSE.
	one := func(s scalar) scalar {
		if s.null {
			return scalar{null: true}
		}
		if n.member(s) {
			return scalar{b: !n.not}
		}
		if n.hasNull {
			return scalar{null: true}
		}
		return scalar{b: n.not}
	}
	if v.isConst() {
		return vec{c: one(v.c)}, nil
	}
	buf := allocBitmap(ec.mem, ec.n)
	out := buf.Bytes()
	var vb *memory.Buffer
	var valid []byte
	if n.hasNull || v.arr.NullN() > 0 {
		vb = allocBitmap(ec.mem, ec.n)
		valid = vb.Bytes()
	}
	r := newReader(n.k, v)
	switch {
	case n.k == kString && valid == nil:
		a := v.arr.(*array.String)
		for i := range ec.n {
			_, ok := n.strs[a.Value(i)]
			out[i>>3] |= b2u(ok != n.not) << (i & 7)
		}
	case n.k == kInt && valid == nil:
		for i, x := range r.i64[:ec.n] {
			_, ok := n.ints[x]
			out[i>>3] |= b2u(ok != n.not) << (i & 7)
		}
	default:
		for i := range ec.n {
			s := one(r.get(i))
			if !s.null {
				if valid != nil {
					bitutil.SetBit(valid, i)
				}
				if s.b {
					bitutil.SetBit(out, i)
				}
			}
		}
	}
	nulls := 0
	if vb != nil {
		nulls = ec.n - bitutil.CountSetBits(valid, 0, ec.n)
	}
	return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, vb, nulls, buf)}, nil
}

// ---- CASE ----

// caseNode evaluates each WHEN condition on the rows still undecided and
// each THEN branch with the selection narrowed to the rows it decides, so a
// branch that is not taken cannot raise an error.
type caseNode struct {
	conds []cnode
	thens []cnode
	els   cnode // never nil (a NULL constant when absent)
	t     arrow.DataType
}

func (n *caseNode) dtype() arrow.DataType { return n.t }
func (n *caseNode) kids() []cnode {
	return append(append(append([]cnode{}, n.conds...), n.thens...), n.els)
}
func (n *caseNode) canFail() bool { return anyFail(n.kids()...) }

func (n *caseNode) eval(ec *evalCtx) (vec, error) {
	nb := bitutil.CeilByte(ec.n) / 8
	saved := ec.sel
	defer func() { ec.sel = saved }()
	remaining := make([]byte, nb)
	if saved != nil {
		copy(remaining, saved)
	} else {
		for i := range remaining {
			remaining[i] = 0xff
		}
	}
	which := make([]uint16, ec.n) // branch per row; len(thens) = ELSE
	for i := range which {
		which[i] = uint16(len(n.thens))
	}
	vals := make([]vec, 0, len(n.thens)+1)
	defer func() {
		for _, v := range vals {
			v.release()
		}
	}()
	for bi, cond := range n.conds {
		ec.sel = remaining
		cv, err := ec.eval(cond)
		if err != nil {
			return vec{}, err
		}
		cb, cvalid := boolBits(ec.n, cv)
		take := make([]byte, nb)
		for i := range take {
			t := remaining[i] & cb[i]
			if cvalid != nil {
				t &= cvalid[i]
			}
			take[i] = t
			remaining[i] &^= t
		}
		cv.release()
		for i := range ec.n {
			if bitutil.BitIsSet(take, i) {
				which[i] = uint16(bi)
			}
		}
		ec.sel = take
		tv, err := ec.eval(n.thens[bi])
		if err != nil {
			return vec{}, err
		}
		vals = append(vals, tv)
	}
	ec.sel = remaining
	ev, err := ec.eval(n.els)
	if err != nil {
		return vec{}, err
	}
	vals = append(vals, ev)
	k := mustKind(n.t)
	readers := make([]reader, len(vals))
	for i, v := range vals {
		readers[i] = newReader(k, v)
	}
	w := newWriter(ec.mem, n.t, ec.n)
	for i := range ec.n {
		w.append(readers[which[i]].get(i))
	}
	return vec{arr: w.finish()}, nil
}

// coalesceNode returns the first non-NULL argument per row.
type coalesceNode struct {
	args []cnode
	t    arrow.DataType
}

func (n *coalesceNode) dtype() arrow.DataType { return n.t }
func (n *coalesceNode) kids() []cnode         { return n.args }
func (n *coalesceNode) canFail() bool         { return anyFail(n.args...) }

func (n *coalesceNode) eval(ec *evalCtx) (vec, error) {
	vals := make([]vec, 0, len(n.args))
	defer func() {
		for _, v := range vals {
			v.release()
		}
	}()
	k := mustKind(n.t)
	readers := make([]reader, 0, len(n.args))
	for _, a := range n.args {
		v, err := ec.eval(a)
		if err != nil {
			return vec{}, err
		}
		vals = append(vals, v)
		readers = append(readers, newReader(k, v))
	}
	w := newWriter(ec.mem, n.t, ec.n)
	for i := range ec.n {
		s := scalar{null: true}
		for j := range readers {
			if s = readers[j].get(i); !s.null {
				break
			}
		}
		w.append(s)
	}
	return vec{arr: w.finish()}, nil
}

// ---- generic row-at-a-time functions ----

// rowFn is a function evaluated one row at a time over canonical readers.
// f may use ec.scr as scratch for a string result; the writer copies it.
// When strict, a NULL argument gives NULL without calling f. An error
// returned by f becomes an *EvalError for that row (when the row is
// selected) or a NULL (when it is not).
type rowFn struct {
	name   string
	pos    int
	args   []cnode
	t      arrow.DataType
	strict bool
	fails  bool
	f      func(ec *evalCtx, a []scalar) (scalar, error)
}

func (n *rowFn) dtype() arrow.DataType { return n.t }
func (n *rowFn) kids() []cnode         { return n.args }
func (n *rowFn) canFail() bool         { return n.fails || anyFail(n.args...) }

func (n *rowFn) eval(ec *evalCtx) (vec, error) {
	vals := make([]vec, 0, len(n.args))
	defer func() {
		for _, v := range vals {
			v.release()
		}
	}()
	readers := make([]reader, len(n.args))
	allConst := true
	for i, a := range n.args {
		v, err := ec.eval(a)
		if err != nil {
			return vec{}, err
		}
		vals = append(vals, v)
		readers[i] = newReader(mustKind(a.dtype()), v)
		allConst = allConst && v.isConst()
	}
	if !allConst {
		if v, ok, err := n.evalOneArray(ec, vals); ok {
			return v, err
		}
	}
	args := make([]scalar, len(n.args))
	rows := ec.n
	if allConst {
		rows = 1
	}
	w := newWriter(ec.mem, n.t, rows)
	for i := range rows {
		if !allConst && ec.sel != nil && bitutil.BitIsNotSet(ec.sel, i) {
			// The row's value is never used (an untaken CASE branch, the right
			// side of a decided AND/OR): skip the work.
			w.bld.AppendNull()
			continue
		}
		anyNull := false
		for j := range readers {
			args[j] = readers[j].get(i)
			anyNull = anyNull || args[j].null
		}
		if n.strict && anyNull {
			w.bld.AppendNull()
			continue
		}
		ec.scr = ec.scr[:0]
		out, err := n.f(ec, args)
		if err != nil {
			row := i
			if allConst {
				// A constant call fails on the first selected row, if any.
				row = -1
				for r := 0; r < ec.n; r++ {
					if ec.selected(r) {
						row = r
						break
					}
				}
			}
			if row >= 0 && row < ec.n && ec.selected(row) {
				w.release()
				return vec{}, ec.fail(n.pos, row, n.renderArgs(args), fmt.Errorf("%s: %w", n.name, err))
			}
			out = scalar{null: true}
		}
		w.append(out)
	}
	a := w.finish()
	if allConst {
		defer a.Release()
		return vec{c: ownedScalarAt(mustKind(n.t), a, 0)}, nil
	}
	return vec{arr: a}, nil
}

func (n *rowFn) renderArgs(args []scalar) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = render(n.args[i].dtype(), a)
	}
	return strings.Join(parts, ", ")
}
