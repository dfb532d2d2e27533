package operator

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/compute/window"
)

// rowCodec encodes rows of a batch into a compact chunk, the value of one
// list-state entry of a buffered window (one chunk per (key, window) per
// input batch), and decodes a window's chunks back into one batch.
//
// Chunk format (format byte 0, columnar within the chunk):
//
//	0x00 | uvarint rows | per column: hasNulls (1 B) [validity bitmap,
//	ceil(rows/8) B, bit set = valid] | values
//
// where values are rows*width little-endian bytes for fixed-width types
// (nulls as zeros), a bitmap for booleans, and per row uvarint length +
// bytes for string and binary. Schemas with other types (nested, large
// strings, decimals...) use format byte 1: an Arrow IPC stream of the rows.
type rowCodec struct {
	schema *arrow.Schema
	ipc    bool  // some column is not supported by the columnar format
	widths []int // per column: byte width, 0 bool, -1 string/binary
}

func newRowCodec(s *arrow.Schema) *rowCodec {
	c := &rowCodec{schema: s, widths: make([]int, s.NumFields())}
	for i, f := range s.Fields() {
		switch dt := f.Type.(type) {
		case *arrow.BooleanType:
			c.widths[i] = 0
		case *arrow.StringType, *arrow.BinaryType:
			c.widths[i] = -1
		case arrow.FixedWidthDataType:
			switch dt.ID() {
			case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
				arrow.FLOAT32, arrow.FLOAT64, arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64, arrow.DURATION:
				c.widths[i] = dt.BitWidth() / 8
			default:
				c.ipc = true
			}
		default:
			c.ipc = true
		}
	}
	return c
}

// appendChunk appends the encoding of rows (indices into b, in order) to dst.
func (c *rowCodec) appendChunk(ctx context.Context, dst []byte, b arrow.RecordBatch, rows []int32, mem memory.Allocator) ([]byte, error) {
	if c.ipc {
		return c.appendIPC(ctx, dst, b, rows, mem)
	}
	n := len(rows)
	dst = append(dst, 0)
	dst = binary.AppendUvarint(dst, uint64(n))
	nb := bitutil.BytesForBits(int64(n))
	for ci, w := range c.widths {
		col := b.Column(ci)
		if col.NullN() > 0 {
			dst = append(dst, 1)
			at := len(dst)
			dst = append(dst, make([]byte, nb)...)
			for j, r := range rows {
				if col.IsValid(int(r)) {
					bitutil.SetBit(dst[at:], j)
				}
			}
		} else {
			dst = append(dst, 0)
		}
		switch {
		case w > 0 && n > 0: // (an empty array may have no value buffer)
			data := col.Data()
			buf := data.Buffers()[1].Bytes()
			off := data.Offset()
			for _, r := range rows {
				p := (off + int(r)) * w
				dst = append(dst, buf[p:p+w]...)
			}
		case w > 0:
		case w == 0:
			bc := col.(*array.Boolean)
			at := len(dst)
			dst = append(dst, make([]byte, nb)...)
			for j, r := range rows {
				if bc.IsValid(int(r)) && bc.Value(int(r)) {
					bitutil.SetBit(dst[at:], j)
				}
			}
		default:
			for _, r := range rows {
				var v []byte
				if col.IsValid(int(r)) {
					switch a := col.(type) {
					case *array.String:
						v = []byte(a.Value(int(r)))
					case *array.Binary:
						v = a.Value(int(r))
					default:
						return nil, fmt.Errorf("window: row codec: column %d: unexpected array %T", ci, col)
					}
				}
				dst = binary.AppendUvarint(dst, uint64(len(v)))
				dst = append(dst, v...)
			}
		}
	}
	return dst, nil
}

func (c *rowCodec) appendIPC(ctx context.Context, dst []byte, b arrow.RecordBatch, rows []int32, mem memory.Allocator) ([]byte, error) {
	part, err := exchange.Take(ctx, mem, b, rows)
	if err != nil {
		return nil, err
	}
	defer part.Release()
	var buf bytes.Buffer
	buf.WriteByte(1)
	w := ipc.NewWriter(&buf, ipc.WithSchema(c.schema), ipc.WithAllocator(mem))
	if err := w.Write(part); err != nil {
		w.Close()
		return nil, fmt.Errorf("window: encode buffered rows: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("window: encode buffered rows: %w", err)
	}
	return append(dst, buf.Bytes()...), nil
}

// chunkRows returns the number of rows of a columnar chunk (0 for IPC).
func chunkRows(ch []byte) (int, error) {
	if len(ch) < 2 || ch[0] != 0 {
		return 0, nil
	}
	n, k := binary.Uvarint(ch[1:])
	if k <= 0 {
		return 0, fmt.Errorf("%w: buffered rows chunk header", window.ErrCorrupt)
	}
	return int(n), nil
}

// decode builds one batch (owned by the caller) of the rows of chunks, in
// order.
func (c *rowCodec) decode(mem memory.Allocator, chunks [][]byte) (arrow.RecordBatch, error) {
	if c.ipc {
		return c.decodeIPC(mem, chunks)
	}
	total := 0
	for _, ch := range chunks {
		n, err := chunkRows(ch)
		if err != nil {
			return nil, err
		}
		total += n
	}
	nc := len(c.widths)
	type colOut struct {
		valid  *memory.Buffer
		values *memory.Buffer
		offs   []int32 // string/binary
		data   []byte
		nulls  int
	}
	outs := make([]colOut, nc)
	nbTotal := int(bitutil.BytesForBits(int64(total)))
	for ci, w := range c.widths {
		o := &outs[ci]
		o.valid = memory.NewResizableBuffer(mem)
		o.valid.Resize(nbTotal)
		bitutil.SetBitsTo(o.valid.Bytes(), 0, int64(total), true)
		switch {
		case w > 0:
			o.values = memory.NewResizableBuffer(mem)
			o.values.Resize(total * w)
		case w == 0:
			o.values = memory.NewResizableBuffer(mem)
			o.values.Resize(nbTotal)
			clear(o.values.Bytes())
		default:
			o.offs = make([]int32, 1, total+1)
		}
	}
	release := func() {
		for _, o := range outs {
			if o.valid != nil {
				o.valid.Release()
			}
			if o.values != nil {
				o.values.Release()
			}
		}
	}
	corrupt := func(what string) error {
		release()
		return fmt.Errorf("%w: buffered rows chunk: %s", window.ErrCorrupt, what)
	}
	base := 0
	for _, ch := range chunks {
		n, _ := chunkRows(ch)
		_, k := binary.Uvarint(ch[1:])
		p := 1 + k
		nb := int(bitutil.BytesForBits(int64(n)))
		for ci, w := range c.widths {
			o := &outs[ci]
			if p >= len(ch) {
				return nil, corrupt("truncated")
			}
			hasNulls := ch[p] == 1
			p++
			var bits []byte
			if hasNulls {
				if p+nb > len(ch) {
					return nil, corrupt("truncated validity")
				}
				bits = ch[p : p+nb]
				p += nb
				vb := o.valid.Bytes()
				for j := 0; j < n; j++ {
					if !bitutil.BitIsSet(bits, j) {
						bitutil.ClearBit(vb, base+j)
						o.nulls++
					}
				}
			}
			switch {
			case w > 0:
				if p+n*w > len(ch) {
					return nil, corrupt("truncated values")
				}
				copy(o.values.Bytes()[base*w:], ch[p:p+n*w])
				p += n * w
			case w == 0:
				if p+nb > len(ch) {
					return nil, corrupt("truncated booleans")
				}
				vb := o.values.Bytes()
				for j := 0; j < n; j++ {
					if bitutil.BitIsSet(ch[p:], j) {
						bitutil.SetBit(vb, base+j)
					}
				}
				p += nb
			default:
				for j := 0; j < n; j++ {
					l, k := binary.Uvarint(ch[p:])
					if k <= 0 || uint64(len(ch)-p-k) < l {
						return nil, corrupt("truncated string")
					}
					p += k
					o.data = append(o.data, ch[p:p+int(l)]...)
					p += int(l)
					o.offs = append(o.offs, int32(len(o.data)))
				}
			}
		}
		if p != len(ch) {
			return nil, corrupt(fmt.Sprintf("%d trailing bytes", len(ch)-p))
		}
		base += n
	}
	cols := make([]arrow.Array, nc)
	for ci, w := range c.widths {
		o := &outs[ci]
		valid := o.valid
		if o.nulls == 0 {
			valid.Release()
			valid = nil
		}
		var bufs []*memory.Buffer
		if w >= 0 {
			bufs = []*memory.Buffer{valid, o.values}
		} else {
			ob := memory.NewResizableBuffer(mem)
			ob.Resize(len(o.offs) * 4)
			copy(ob.Bytes(), arrow.Int32Traits.CastToBytes(o.offs))
			db := memory.NewResizableBuffer(mem)
			db.Resize(len(o.data))
			copy(db.Bytes(), o.data)
			bufs = []*memory.Buffer{valid, ob, db}
			defer ob.Release()
			defer db.Release()
		}
		d := array.NewData(c.schema.Field(ci).Type, total, bufs, nil, o.nulls, 0)
		cols[ci] = array.MakeFromData(d)
		d.Release()
		if valid != nil {
			valid.Release()
		}
		if o.values != nil {
			o.values.Release()
		}
	}
	rb := array.NewRecordBatch(c.schema, cols, int64(total))
	for _, col := range cols {
		col.Release()
	}
	return rb, nil
}

func (c *rowCodec) decodeIPC(mem memory.Allocator, chunks [][]byte) (arrow.RecordBatch, error) {
	var parts []arrow.RecordBatch
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for _, ch := range chunks {
		if len(ch) == 0 || ch[0] != 1 {
			return nil, fmt.Errorf("%w: buffered rows chunk: format %v", window.ErrCorrupt, ch[:min(1, len(ch))])
		}
		r, err := ipc.NewReader(bytes.NewReader(ch[1:]), ipc.WithAllocator(mem), ipc.WithSchema(c.schema))
		if err != nil {
			return nil, fmt.Errorf("%w: buffered rows chunk: %v", window.ErrCorrupt, err)
		}
		for r.Next() {
			rec := r.RecordBatch()
			rec.Retain()
			parts = append(parts, rec)
		}
		err = r.Err()
		r.Release()
		if err != nil {
			return nil, fmt.Errorf("%w: buffered rows chunk: %v", window.ErrCorrupt, err)
		}
	}
	return concatBatches(mem, c.schema, parts)
}

// concatBatches concatenates parts into one batch the caller owns.
func concatBatches(mem memory.Allocator, s *arrow.Schema, parts []arrow.RecordBatch) (arrow.RecordBatch, error) {
	var total int64
	for _, p := range parts {
		total += p.NumRows()
	}
	cols := make([]arrow.Array, s.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for ci := range cols {
		if len(parts) == 0 {
			cols[ci] = array.MakeArrayOfNull(mem, s.Field(ci).Type, 0)
			continue
		}
		arrs := make([]arrow.Array, len(parts))
		for i, p := range parts {
			arrs[i] = p.Column(ci)
		}
		a, err := array.Concatenate(arrs, mem)
		if err != nil {
			return nil, err
		}
		cols[ci] = a
	}
	return array.NewRecordBatch(s, cols, total), nil
}
