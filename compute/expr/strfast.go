package expr

import (
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bytePool holds scratch buffers for string results; the final bytes are
// copied into an exactly-sized Arrow buffer.
var bytePool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// evalOneArray is the fast path of a strict rowFn whose only non-constant
// argument is an array (lower(channel), split_index(url, '/', 3),
// regexp_extract(url, '...', 2), count_char(extra, 'c')...). Constant
// arguments are read once; results go straight into Arrow buffers instead
// of through a builder. ok is false when the shape does not apply.
func (n *rowFn) evalOneArray(ec *evalCtx, vals []vec) (v vec, ok bool, err error) {
	ok_ := mustKind(n.t)
	if !n.strict || (ok_ != kString && ok_ != kInt && ok_ != kBool) {
		return vec{}, false, nil
	}
	j := -1
	args := make([]scalar, len(vals))
	for i, x := range vals {
		if x.isConst() {
			if x.c.null {
				return vec{c: scalar{null: true}}, true, nil
			}
			args[i] = x.c
			continue
		}
		if j >= 0 {
			return vec{}, false, nil
		}
		j = i
	}
	if j < 0 {
		return vec{}, false, nil
	}
	in := vals[j].arr
	if in.DataType().ID() == arrow.NULL {
		return vec{c: scalar{null: true}}, true, nil
	}
	r := newReader(mustKind(n.args[j].dtype()), vals[j])
	rows := ec.n
	inValid, inOff := validity(in)
	vb := allocBitmap(ec.mem, rows)
	valid := vb.Bytes()
	if inValid != nil {
		bitutil.CopyBitmap(inValid, inOff, rows, valid, 0)
	} else {
		bitutil.SetBitsTo(valid, 0, int64(rows), true)
	}
	if ec.sel != nil {
		for i := range valid {
			valid[i] &= ec.sel[i]
		}
	}
	var (
		offBuf, valBuf *memory.Buffer
		offs           []int32
		data           []byte
		ints           []int64
		bits           []byte
	)
	switch ok_ {
	case kString:
		offBuf = allocBuf(ec.mem, (rows+1)*4)
		offs = typedSlice[int32](offBuf.Bytes(), 0, rows+1)
		dp := bytePool.Get().(*[]byte)
		defer func() { *dp = data[:0]; bytePool.Put(dp) }()
		data = (*dp)[:0]
		if s, isStr := in.(*array.String); isStr && cap(data) < len(s.ValueBytes()) {
			data = make([]byte, 0, len(s.ValueBytes()))
		}
	case kInt:
		valBuf, ints = allocI64(ec.mem, rows)
	case kBool:
		valBuf = allocBitmap(ec.mem, rows)
		bits = valBuf.Bytes()
	}
	fail := func(e error) (vec, bool, error) {
		vb.Release()
		if offBuf != nil {
			offBuf.Release()
		}
		if valBuf != nil {
			valBuf.Release()
		}
		return vec{}, true, e
	}
	for i := range rows {
		if offs != nil {
			offs[i] = int32(len(data))
		}
		if bitutil.BitIsNotSet(valid, i) {
			if ints != nil {
				ints[i] = 0
			}
			continue
		}
		args[j] = r.get(i)
		ec.scr = ec.scr[:0]
		out, ferr := n.f(ec, args)
		if ferr != nil {
			return fail(ec.fail(n.pos, i, n.renderArgs(args), fmt.Errorf("%s: %w", n.name, ferr)))
		}
		if out.null {
			bitutil.ClearBit(valid, i)
			if ints != nil {
				ints[i] = 0
			}
			continue
		}
		switch ok_ {
		case kString:
			data = append(data, out.s...)
			if len(data) > 1<<31-1 {
				return fail(fmt.Errorf("expr: expression %q: string result over 2 GiB in one batch", ec.src))
			}
		case kInt:
			ints[i] = out.i
		case kBool:
			if out.b {
				bitutil.SetBit(bits, i)
			}
		}
	}
	nulls := rows - bitutil.CountSetBits(valid, 0, rows)
	if nulls == 0 {
		vb.Release()
		vb = nil
	}
	if ok_ != kString {
		return vec{arr: makeArr(n.t, rows, vb, nulls, valBuf)}, true, nil
	}
	offs[rows] = int32(len(data))
	dataBuf := allocBuf(ec.mem, len(data))
	copy(dataBuf.Bytes(), data)
	d := array.NewData(arrow.BinaryTypes.String, rows, []*memory.Buffer{vb, offBuf, dataBuf}, nil, nulls, 0)
	a := array.MakeFromData(d)
	d.Release()
	if vb != nil {
		vb.Release()
	}
	offBuf.Release()
	dataBuf.Release()
	return vec{arr: a}, true, nil
}
