package expr

import (
	"context"
	"math/bits"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// takeRows copies the rows of b selected by mask (count set bits) into a
// new batch. Fixed-width, boolean and string/binary columns are gathered
// here with tight loops; other types go through arrow-go compute.
func takeRows(ctx context.Context, mem memory.Allocator, b arrow.RecordBatch, mask []byte, count int) (arrow.RecordBatch, error) {
	n := int(b.NumRows())
	idx := make([]int32, 0, count)
	for w := 0; w < len(mask); w++ {
		for m := mask[w]; m != 0; m &= m - 1 {
			i := w*8 + bits.TrailingZeros8(m)
			if i < n {
				idx = append(idx, int32(i))
			}
		}
	}
	cols := make([]arrow.Array, 0, b.NumCols())
	release := func() {
		for _, c := range cols {
			c.Release()
		}
	}
	for _, col := range b.Columns() {
		c, err := takeArray(ctx, mem, col, idx, mask)
		if err != nil {
			release()
			return nil, err
		}
		cols = append(cols, c)
	}
	defer release()
	return array.NewRecordBatch(b.Schema(), cols, int64(len(idx))), nil
}

func gather[T any](src []T, idx []int32, dst []T) {
	dst = dst[:len(idx)]
	for j, i := range idx {
		dst[j] = src[i]
	}
}

func gatherValidity(mem memory.Allocator, a arrow.Array, idx []int32) (*memory.Buffer, int) {
	bm, off := validity(a)
	if bm == nil {
		return nil, 0
	}
	out := allocBitmap(mem, len(idx))
	o := out.Bytes()
	for j, i := range idx {
		if bitutil.BitIsSet(bm, off+int(i)) {
			o[j>>3] |= 1 << (j & 7)
		}
	}
	return out, len(idx) - bitutil.CountSetBits(o, 0, len(idx))
}

func typedSlice[T any](buf []byte, off, n int) []T {
	var z T
	s := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/int(unsafe.Sizeof(z)))
	return s[off : off+n]
}

func takeArray(ctx context.Context, mem memory.Allocator, a arrow.Array, idx []int32, mask []byte) (arrow.Array, error) {
	d := a.Data()
	k := len(idx)
	dt := a.DataType()
	if fw, ok := dt.(arrow.FixedWidthDataType); ok && len(d.Buffers()) == 2 && d.Buffers()[1] != nil {
		switch fw.BitWidth() {
		case 8, 16, 32, 64:
			valid, nulls := gatherValidity(mem, a, idx)
			width := fw.BitWidth() / 8
			buf := allocBuf(mem, k*width)
			src, dst := bufBytes(a, 1), buf.Bytes()
			switch width {
			case 1:
				gather(typedSlice[uint8](src, d.Offset(), a.Len()), idx, typedSlice[uint8](dst, 0, k))
			case 2:
				gather(typedSlice[uint16](src, d.Offset(), a.Len()), idx, typedSlice[uint16](dst, 0, k))
			case 4:
				gather(typedSlice[uint32](src, d.Offset(), a.Len()), idx, typedSlice[uint32](dst, 0, k))
			case 8:
				gather(typedSlice[uint64](src, d.Offset(), a.Len()), idx, typedSlice[uint64](dst, 0, k))
			}
			return makeArr(dt, k, valid, nulls, buf), nil
		case 1:
			if dt.ID() == arrow.BOOL {
				valid, nulls := gatherValidity(mem, a, idx)
				buf := allocBitmap(mem, k)
				src, o := bufBytes(a, 1), buf.Bytes()
				for j, i := range idx {
					if bitutil.BitIsSet(src, d.Offset()+int(i)) {
						o[j>>3] |= 1 << (j & 7)
					}
				}
				return makeArr(dt, k, valid, nulls, buf), nil
			}
		}
	}
	switch dt.ID() {
	case arrow.STRING, arrow.BINARY:
		valid, nulls := gatherValidity(mem, a, idx)
		offs := typedSlice[int32](bufBytes(a, 1), d.Offset(), a.Len()+1)
		var total int
		for _, i := range idx {
			total += int(offs[i+1] - offs[i])
		}
		obuf := allocBuf(mem, (k+1)*4)
		o := typedSlice[int32](obuf.Bytes(), 0, k+1)
		dbuf := allocBuf(mem, total)
		dst := dbuf.Bytes()
		var src []byte
		if d.Buffers()[2] != nil {
			src = d.Buffers()[2].Bytes()
		}
		pos := int32(0)
		for j, i := range idx {
			o[j] = pos
			pos += int32(copy(dst[pos:], src[offs[i]:offs[i+1]]))
		}
		o[k] = pos
		nd := array.NewData(dt, k, []*memory.Buffer{valid, obuf, dbuf}, nil, nulls, 0)
		out := array.MakeFromData(nd)
		nd.Release()
		if valid != nil {
			valid.Release()
		}
		obuf.Release()
		dbuf.Release()
		return out, nil
	}
	// Everything else (nested, large strings, dictionaries...): arrow-go.
	mb := allocBuf(mem, len(mask))
	copy(mb.Bytes(), mask)
	m := makeArr(arrow.FixedWidthTypes.Boolean, a.Len(), nil, 0, mb)
	defer m.Release()
	return compute.FilterArray(compute.WithAllocator(ctx, mem), a, m, *compute.DefaultFilterOptions())
}
