package operator

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/statestore"
)

// Rows in join state are kept in chunks: the rows of one (key, namespace)
// that arrived in one input batch, column by column, in the layout of Arrow
// arrays (little endian):
//
//	u32 rows
//	per stored column:
//	  u8 hasNulls, then (if 1) the validity bitmap, ceil(rows/8) bytes
//	  fixed width w: rows*w value bytes
//	  boolean:       the value bitmap, ceil(rows/8) bytes
//	  string/binary: (rows+1) u32 offsets from 0, then the data bytes
//
// Reading a chunk is parsing it into one colSeg per column; no value is
// decoded. Output columns are gathered from colSegs (of chunks or of the
// input batch's arrays) by (segment, row) references, column by column.

type colKind uint8

const (
	colFixed colKind = iota
	colBool
	colVar
)

// colType is the storage shape of a column type.
type colType struct {
	kind  colKind
	width int // bytes per value (colFixed)
}

func colTypeOf(dt arrow.DataType) colType {
	switch dt.ID() {
	case arrow.BOOL:
		return colType{kind: colBool}
	case arrow.STRING, arrow.BINARY:
		return colType{kind: colVar}
	}
	return colType{kind: colFixed, width: dt.(arrow.FixedWidthDataType).BitWidth() / 8}
}

// colSeg is the values of one column in one segment (a chunk, or an input
// batch). Its slices alias the chunk's bytes or the array's buffers.
type colSeg struct {
	valid    []byte // validity bitmap; nil when the segment has no NULLs
	validOff int    // bit offset of element 0 in valid
	vals     []byte // colFixed: values from element 0; colBool: value bitmap
	valOff   int    // colBool: bit offset of element 0 in vals
	offs     []byte // colVar: little-endian int32 offsets from element 0
	data     []byte // colVar: the bytes the offsets index
}

func (s *colSeg) isNull(row int) bool {
	return s.valid != nil && !bitutil.BitIsSet(s.valid, s.validOff+row)
}

func (s *colSeg) varValue(row int) []byte {
	b := int(int32(binary.LittleEndian.Uint32(s.offs[row*4:])))
	e := int(int32(binary.LittleEndian.Uint32(s.offs[row*4+4:])))
	return s.data[b:e]
}

// arraySeg returns a segment over an Arrow array of the column type ct.
func arraySeg(a arrow.Array, ct colType) colSeg {
	d := a.Data()
	off := d.Offset()
	bufs := d.Buffers()
	var s colSeg
	if a.NullN() > 0 && len(bufs) > 0 && bufs[0] != nil {
		s.valid, s.validOff = bufs[0].Bytes(), off
	}
	if len(bufs) < 2 || bufs[1] == nil {
		return s
	}
	switch ct.kind {
	case colFixed:
		s.vals = bufs[1].Bytes()[off*ct.width:]
	case colBool:
		s.vals, s.valOff = bufs[1].Bytes(), off
	case colVar:
		s.offs = bufs[1].Bytes()[off*4:]
		if len(bufs) > 2 && bufs[2] != nil {
			s.data = bufs[2].Bytes()
		}
	}
	return s
}

// appendChunk appends the chunk of rows (indices into segs' segment) to dst.
// segs holds one segment per stored column.
func appendChunk(dst []byte, types []colType, segs []colSeg, rows []int32) []byte {
	n := len(rows)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	nb := (n + 7) / 8
	for c, ct := range types {
		s := &segs[c]
		hasNulls := false
		if s.valid != nil {
			for _, r := range rows {
				if s.isNull(int(r)) {
					hasNulls = true
					break
				}
			}
		}
		if hasNulls {
			dst = append(dst, 1)
			p := len(dst)
			dst = append(dst, make([]byte, nb)...)
			bm := dst[p:]
			for i, r := range rows {
				if !s.isNull(int(r)) {
					bitutil.SetBit(bm, i)
				}
			}
		} else {
			dst = append(dst, 0)
		}
		switch ct.kind {
		case colFixed:
			w := ct.width
			switch w {
			case 8:
				for _, r := range rows {
					dst = binary.LittleEndian.AppendUint64(dst, binary.LittleEndian.Uint64(s.vals[int(r)*8:]))
				}
			case 4:
				for _, r := range rows {
					dst = binary.LittleEndian.AppendUint32(dst, binary.LittleEndian.Uint32(s.vals[int(r)*4:]))
				}
			default:
				for _, r := range rows {
					dst = append(dst, s.vals[int(r)*w:int(r)*w+w]...)
				}
			}
		case colBool:
			p := len(dst)
			dst = append(dst, make([]byte, nb)...)
			bm := dst[p:]
			for i, r := range rows {
				if bitutil.BitIsSet(s.vals, s.valOff+int(r)) {
					bitutil.SetBit(bm, i)
				}
			}
		case colVar:
			p := len(dst)
			dst = append(dst, make([]byte, 4*(n+1))...)
			var total uint32
			binary.LittleEndian.PutUint32(dst[p:], 0)
			for i, r := range rows {
				v := s.varValue(int(r))
				dst = append(dst, v...)
				total += uint32(len(v))
				binary.LittleEndian.PutUint32(dst[p+4*(i+1):], total)
			}
		}
	}
	return dst
}

// parseChunk parses a chunk into one segment per stored column (appended to
// segs, aliasing b) and returns its number of rows.
func parseChunk(b []byte, types []colType, segs []colSeg) ([]colSeg, int, error) {
	corrupt := func(what string) error {
		return statestore.CorruptionErrorf("join: state chunk of %d bytes: %s", len(b), what)
	}
	if len(b) < 4 {
		return segs, 0, corrupt("no row count")
	}
	n := int(binary.LittleEndian.Uint32(b))
	nb := (n + 7) / 8
	p := 4
	for c, ct := range types {
		var s colSeg
		if p >= len(b) {
			return segs, 0, corrupt(fmt.Sprintf("column %d: no null flag", c))
		}
		flag := b[p]
		p++
		if flag == 1 {
			if p+nb > len(b) {
				return segs, 0, corrupt(fmt.Sprintf("column %d: short validity", c))
			}
			s.valid = b[p : p+nb]
			p += nb
		}
		switch ct.kind {
		case colFixed:
			sz := n * ct.width
			if p+sz > len(b) {
				return segs, 0, corrupt(fmt.Sprintf("column %d: short values", c))
			}
			s.vals = b[p : p+sz]
			p += sz
		case colBool:
			if p+nb > len(b) {
				return segs, 0, corrupt(fmt.Sprintf("column %d: short values", c))
			}
			s.vals = b[p : p+nb]
			p += nb
		case colVar:
			sz := 4 * (n + 1)
			if p+sz > len(b) {
				return segs, 0, corrupt(fmt.Sprintf("column %d: short offsets", c))
			}
			s.offs = b[p : p+sz]
			total := int(binary.LittleEndian.Uint32(s.offs[4*n:]))
			p += sz
			if p+total > len(b) {
				return segs, 0, corrupt(fmt.Sprintf("column %d: short data", c))
			}
			s.data = b[p : p+total]
			p += total
		}
		segs = append(segs, s)
	}
	if p != len(b) {
		return segs, 0, corrupt(fmt.Sprintf("%d trailing bytes", len(b)-p))
	}
	return segs, n, nil
}

// rowRef names one row: segment seg (a chunk, or 0 for the input batch) and
// its row.
type rowRef struct{ seg, row int32 }

// gather builds an array of type dt from the rows refs name: row i of the
// result is column col of segment refs[i].seg (segs[seg*stride+col]), row
// refs[i].row. The caller releases the result.
func gather(mem memory.Allocator, dt arrow.DataType, ct colType, segs []colSeg, stride, col int, refs []rowRef) arrow.Array {
	n := len(refs)
	anyValid := false
	for i := col; i < len(segs); i += stride {
		if segs[i].valid != nil {
			anyValid = true
			break
		}
	}
	var validBuf *memory.Buffer
	nulls := 0
	if anyValid {
		validBuf = memory.NewResizableBuffer(mem)
		validBuf.Resize(int(bitutil.BytesForBits(int64(n))))
		vb := validBuf.Bytes()
		clear(vb)
		for i, r := range refs {
			s := &segs[int(r.seg)*stride+col]
			if s.isNull(int(r.row)) {
				nulls++
			} else {
				bitutil.SetBit(vb, i)
			}
		}
		if nulls == 0 {
			validBuf.Release()
			validBuf = nil
		}
	}
	var bufs []*memory.Buffer
	switch ct.kind {
	case colFixed:
		w := ct.width
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(n * w)
		out := vals.Bytes()
		switch w {
		case 8:
			for i, r := range refs {
				s := &segs[int(r.seg)*stride+col]
				binary.LittleEndian.PutUint64(out[i*8:], binary.LittleEndian.Uint64(s.vals[int(r.row)*8:]))
			}
		case 4:
			for i, r := range refs {
				s := &segs[int(r.seg)*stride+col]
				binary.LittleEndian.PutUint32(out[i*4:], binary.LittleEndian.Uint32(s.vals[int(r.row)*4:]))
			}
		default:
			for i, r := range refs {
				s := &segs[int(r.seg)*stride+col]
				copy(out[i*w:i*w+w], s.vals[int(r.row)*w:])
			}
		}
		bufs = []*memory.Buffer{validBuf, vals}
	case colBool:
		vals := memory.NewResizableBuffer(mem)
		vals.Resize(int(bitutil.BytesForBits(int64(n))))
		out := vals.Bytes()
		clear(out)
		for i, r := range refs {
			s := &segs[int(r.seg)*stride+col]
			if bitutil.BitIsSet(s.vals, s.valOff+int(r.row)) {
				bitutil.SetBit(out, i)
			}
		}
		bufs = []*memory.Buffer{validBuf, vals}
	case colVar:
		offs := memory.NewResizableBuffer(mem)
		offs.Resize(4 * (n + 1))
		ob := offs.Bytes()
		total := 0
		binary.LittleEndian.PutUint32(ob, 0)
		for i, r := range refs {
			s := &segs[int(r.seg)*stride+col]
			row := int(r.row)
			b := int32(binary.LittleEndian.Uint32(s.offs[row*4:]))
			e := int32(binary.LittleEndian.Uint32(s.offs[row*4+4:]))
			total += int(e - b)
			binary.LittleEndian.PutUint32(ob[4*(i+1):], uint32(total))
		}
		data := memory.NewResizableBuffer(mem)
		data.Resize(total)
		db := data.Bytes()
		p := 0
		for _, r := range refs {
			s := &segs[int(r.seg)*stride+col]
			p += copy(db[p:], s.varValue(int(r.row)))
		}
		bufs = []*memory.Buffer{validBuf, offs, data}
	}
	d := array.NewData(dt, n, bufs, nil, nulls, 0)
	for _, b := range bufs {
		if b != nil {
			b.Release()
		}
	}
	a := array.MakeFromData(d)
	d.Release()
	return a
}

// int64Column builds an array of type dt (a 64-bit type) from vals.
func int64Column(mem memory.Allocator, dt arrow.DataType, vals []int64) arrow.Array {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(8 * len(vals))
	out := buf.Bytes()
	for i, v := range vals {
		binary.LittleEndian.PutUint64(out[i*8:], uint64(v))
	}
	d := array.NewData(dt, len(vals), []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	a := array.MakeFromData(d)
	d.Release()
	return a
}

// takeRows returns the rows of b at the given indices, allocated from mem
// (not the hot path: late rows only). The caller releases the result.
func takeRows(mem memory.Allocator, b arrow.RecordBatch, rows []int32) (arrow.RecordBatch, error) {
	ib := array.NewInt32Builder(mem)
	ib.AppendValues(rows, nil)
	idx := ib.NewInt32Array()
	ib.Release()
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	cols := make([]arrow.Array, b.NumCols())
	for i := range cols {
		c, err := compute.TakeArray(ctx, b.Column(i), idx)
		if err != nil {
			for _, c := range cols[:i] {
				c.Release()
			}
			return nil, err
		}
		cols[i] = c
	}
	res := array.NewRecordBatch(b.Schema(), cols, int64(len(rows)))
	for _, c := range cols {
		c.Release()
	}
	return res, nil
}
