package expr

import (
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Division by a constant is the heart of predicates like MOD(auction, 123)
// = 0. A 64-bit hardware divide costs tens of cycles; when every dividend
// and the divisor fit in 32 bits (ids usually do), Lemire's "faster
// remainder by direct computation" needs two multiplications instead.

// fits32 reports whether every value is in [0, 2^32).
func fits32(a []int64) bool {
	var h0, h1, h2, h3 uint64 // four chains keep the OR reduction pipelined
	n4 := len(a) &^ 3
	for i := 0; i < n4; i += 4 {
		h0 |= uint64(a[i])
		h1 |= uint64(a[i+1])
		h2 |= uint64(a[i+2])
		h3 |= uint64(a[i+3])
	}
	for _, v := range a[n4:] {
		h0 |= uint64(v)
	}
	return (h0|h1|h2|h3)>>32 == 0
}

// modConst computes o[i] = a[i] % d for d != 0 (Go / SQL semantics: the
// sign follows the dividend).
func modConst(a []int64, d int64, o []int64) {
	o = o[:len(a)]
	if d >= 2 && d < 1<<32 && fits32(a) {
		m := ^uint64(0)/uint64(d) + 1
		ud := uint64(d)
		for i, v := range a {
			hi, _ := bits.Mul64(m*uint64(v), ud)
			o[i] = int64(hi)
		}
		return
	}
	for i, v := range a {
		o[i] = v % d
	}
}

// divConst computes o[i] = a[i] / d for d != 0 (truncating).
func divConst(a []int64, d int64, o []int64) {
	o = o[:len(a)]
	if d >= 2 && d < 1<<32 && fits32(a) {
		m := ^uint64(0)/uint64(d) + 1
		for i, v := range a {
			hi, _ := bits.Mul64(m, uint64(v))
			o[i] = int64(hi)
		}
		return
	}
	for i, v := range a {
		o[i] = v / d
	}
}

// modCmpConst packs ((a[i] % d) op c) into out (zeroed) without
// materializing the remainders.
func modCmpConst(op cmpOp, a []int64, d, c int64, out []byte) {
	if d >= 2 && d < 1<<32 && fits32(a) && (op == opEq || op == opNe) {
		m := ^uint64(0)/uint64(d) + 1
		ud, uc := uint64(d), uint64(c)
		var flip byte
		if op == opNe {
			flip = 0xff
		}
		n8 := len(a) &^ 7
		for i := 0; i < n8; i += 8 {
			var w byte
			for k := 0; k < 8; k++ {
				hi, _ := bits.Mul64(m*uint64(a[i+k]), ud)
				w |= b2u(hi == uc) << k
			}
			out[i>>3] = w ^ flip
		}
		for i := n8; i < len(a); i++ {
			hi, _ := bits.Mul64(m*uint64(a[i]), ud)
			out[i>>3] |= (b2u(hi == uc) ^ (flip & 1)) << (i & 7)
		}
		return
	}
	for i, v := range a {
		out[i>>3] |= b2u(cmpScalar(op, v%d, c)) << (i & 7)
	}
}

// fusedModCmp evaluates `x % d op c` for constants d (non-zero) and c
// straight into a bitmap. ok is false when the shape does not apply.
func (n *cmpNode) fusedModCmp(ec *evalCtx) (v vec, ok bool, err error) {
	if n.k != kInt {
		return vec{}, false, nil
	}
	ar, isArith := n.l.(*arithNode)
	rc, isConst := n.r.(*constNode)
	if !isArith || !isConst || ar.op != '%' || rc.v.null {
		return vec{}, false, nil
	}
	dc, ok := ar.r.(*constNode)
	if !ok || dc.v.null || dc.v.i == 0 {
		return vec{}, false, nil
	}
	xv, err := ec.eval(ar.l)
	if err != nil {
		return vec{}, true, err
	}
	defer xv.release()
	if xv.isConst() {
		return vec{}, false, nil // folded at compile time in practice
	}
	a := xv.arr.(*array.Int64).Int64Values()
	valid, nulls := andValidity(ec.mem, ec.n, xv.arr)
	buf := allocBitmap(ec.mem, ec.n)
	modCmpConst(n.op, a, dc.v.i, rc.v.i, buf.Bytes())
	return vec{arr: makeArr(arrow.FixedWidthTypes.Boolean, ec.n, valid, nulls, buf)}, true, nil
}

// tsFieldNode extracts a clock field from a timestamp with integer
// arithmetic over the raw values: hour, minute, second, millisecond,
// microsecond, epoch and dow need no calendar.
type tsFieldNode struct {
	x     cnode
	field string
}

func (n *tsFieldNode) dtype() arrow.DataType { return arrow.PrimitiveTypes.Int64 }
func (n *tsFieldNode) kids() []cnode         { return []cnode{n.x} }
func (n *tsFieldNode) canFail() bool         { return n.x.canFail() }

func (n *tsFieldNode) eval(ec *evalCtx) (vec, error) {
	v, err := ec.eval(n.x)
	if err != nil {
		return vec{}, err
	}
	defer v.release()
	f := timeField(n.field, n.x.dtype())
	if v.isConst() {
		if v.c.null {
			return v, nil
		}
		r, _ := f(nil, []scalar{v.c})
		return vec{c: r}, nil
	}
	in := newReader(kTS, v).i64[:ec.n]
	valid, nulls := andValidity(ec.mem, ec.n, v.arr)
	buf, out := allocI64(ec.mem, ec.n)
	ps := unitPerSec(tsUnit(n.x.dtype()))
	var div, mod int64
	switch n.field {
	case "hour":
		mod, div = 86400*ps, 3600*ps
	case "minute":
		mod, div = 3600*ps, 60*ps
	case "second":
		mod, div = 60*ps, ps
	default:
		for i, x := range in {
			r, _ := f(nil, []scalar{{i: x}})
			out[i] = r.i
		}
		return vec{arr: makeArr(arrow.PrimitiveTypes.Int64, ec.n, valid, nulls, buf)}, nil
	}
	if ps == 1e3 {
		// Milliseconds (nexmark's dateTime): constant divisors let the
		// compiler replace the divisions with multiplications.
		switch n.field {
		case "hour":
			for i, x := range in {
				out[i] = (x%86_400_000 + 86_400_000) % 86_400_000 / 3_600_000
			}
		case "minute":
			for i, x := range in {
				out[i] = (x%3_600_000 + 3_600_000) % 3_600_000 / 60_000
			}
		default:
			for i, x := range in {
				out[i] = (x%60_000 + 60_000) % 60_000 / 1000
			}
		}
		return vec{arr: makeArr(arrow.PrimitiveTypes.Int64, ec.n, valid, nulls, buf)}, nil
	}
	for i, x := range in {
		m := x % mod
		if m < 0 {
			m += mod
		}
		out[i] = m / div
	}
	return vec{arr: makeArr(arrow.PrimitiveTypes.Int64, ec.n, valid, nulls, buf)}, nil
}

// tsShiftNode adds a constant (in the timestamp's unit) to a timestamp:
// ts ± INTERVAL. Overflow wraps, as for BIGINT.
type tsShiftNode struct {
	x     cnode
	delta int64
}

func (n *tsShiftNode) dtype() arrow.DataType { return n.x.dtype() }
func (n *tsShiftNode) kids() []cnode         { return []cnode{n.x} }
func (n *tsShiftNode) canFail() bool         { return n.x.canFail() }

func (n *tsShiftNode) eval(ec *evalCtx) (vec, error) {
	v, err := ec.eval(n.x)
	if err != nil {
		return vec{}, err
	}
	defer v.release()
	if v.isConst() {
		if !v.c.null {
			v.c.i += n.delta
		}
		return vec{c: v.c}, nil
	}
	in := newReader(kTS, v).i64[:ec.n]
	valid, nulls := andValidity(ec.mem, ec.n, v.arr)
	buf, out := allocI64(ec.mem, ec.n)
	for i, x := range in {
		out[i] = x + n.delta
	}
	return vec{arr: makeArr(n.x.dtype(), ec.n, valid, nulls, buf)}, nil
}
