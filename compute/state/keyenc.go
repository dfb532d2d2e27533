package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/exchange"
	"github.com/sluicedata/sluice/statestore"
)

// Key is one encoded key together with its key group. Bytes is the
// KeyEncoder's encoding of the key columns of one row; it is self-delimiting
// given the key types and sorts like the key tuple.
type Key struct {
	Group uint16
	Bytes []byte
}

// KeyBatch holds the encoded keys and key groups of the rows of one batch.
// The zero value is empty and ready to use; Reset keeps the buffers so that a
// KeyBatch reused across input batches stops allocating once it has grown.
// Not safe for concurrent use.
type KeyBatch struct {
	buf    []byte
	offs   []int32 // len = Len()+1 once built; key i is buf[offs[i]:offs[i+1]]
	groups []uint16
}

// Len returns the number of keys.
func (kb *KeyBatch) Len() int { return len(kb.groups) }

// Reset empties the batch, keeping its buffers.
func (kb *KeyBatch) Reset() {
	kb.buf = kb.buf[:0]
	kb.offs = kb.offs[:0]
	kb.groups = kb.groups[:0]
}

// Key returns the encoded key of row i. It aliases the batch's buffer and
// stays valid until the batch is next modified or Reset.
func (kb *KeyBatch) Key(i int) []byte { return kb.buf[kb.offs[i]:kb.offs[i+1]:kb.offs[i+1]] }

// Group returns the key group of row i.
func (kb *KeyBatch) Group(i int) uint16 { return kb.groups[i] }

// At returns row i as a Key (aliasing the batch's buffer).
func (kb *KeyBatch) At(i int) Key { return Key{Group: kb.groups[i], Bytes: kb.Key(i)} }

// Append adds a key (copying its bytes), for callers that assemble a batch of
// keys themselves, for example from fired timers.
func (kb *KeyBatch) Append(k Key) {
	if len(kb.offs) == 0 {
		kb.offs = append(kb.offs, int32(len(kb.buf)))
	}
	kb.buf = append(kb.buf, k.Bytes...)
	kb.offs = append(kb.offs, int32(len(kb.buf)))
	kb.groups = append(kb.groups, k.Group)
}

// Keys returns the encoded keys as a slice aliasing the batch's buffer,
// appended to dst, for DecodeKeys.
func (kb *KeyBatch) Keys(dst [][]byte) [][]byte {
	for i := 0; i < kb.Len(); i++ {
		dst = append(dst, kb.Key(i))
	}
	return dst
}

// Encoding of one key column value (see the package doc):
//
//	NULL:          0x00
//	non-NULL:      0x01 | value
//	signed ints:   big-endian of the type's width with the sign bit flipped
//	unsigned ints: big-endian of the type's width
//	bool:          one byte, 0 or 1
//	floats:        IEEE bits, big-endian; positive: sign bit flipped,
//	               negative: all bits flipped (-0 is encoded as +0, NaNs as one NaN)
//	string/binary: bytes with 0x00 escaped as 0x00 0xFF, terminated by 0x00 0x01
const (
	tagNull    byte = 0x00
	tagPresent byte = 0x01
	escByte    byte = 0x00
	escEscaped byte = 0xFF
	escTerm    byte = 0x01
)

// KeyEncoder encodes the key columns of Arrow batches into state keys and
// decodes them back. It is built once per operator from the key column
// types. Not safe for concurrent use (it reuses scratch buffers).
type KeyEncoder struct {
	types          []arrow.DataType
	widths         []int // fixed encoded width (with null tag) per column, 0 = variable
	maxParallelism int
	hashes         []uint64
	cursors        []int32
}

// NewKeyEncoder returns an encoder for keys with the given column types, for
// a job with maxParallelism key groups. It returns an error naming the column
// if a type cannot be a key.
func NewKeyEncoder(types []arrow.DataType, maxParallelism int) (*KeyEncoder, error) {
	if len(types) == 0 {
		return nil, fmt.Errorf("state: key encoder: no key columns")
	}
	if maxParallelism < 1 || maxParallelism > statestore.MaxKeyGroups {
		return nil, fmt.Errorf("state: key encoder: maxParallelism %d: must be in [1, %d]", maxParallelism, statestore.MaxKeyGroups)
	}
	e := &KeyEncoder{types: append([]arrow.DataType(nil), types...), widths: make([]int, len(types)), maxParallelism: maxParallelism}
	for i, dt := range types {
		if err := exchange.CheckKeyType(dt); err != nil {
			return nil, fmt.Errorf("state: key column %d: %w", i, err)
		}
		e.widths[i] = fixedWidth(dt)
	}
	return e, nil
}

// Types returns the key column types.
func (e *KeyEncoder) Types() []arrow.DataType { return e.types }

// MaxParallelism returns the number of key groups keys are hashed into.
func (e *KeyEncoder) MaxParallelism() int { return e.maxParallelism }

// fixedWidth returns 1 + the value width for fixed-width types, 0 for
// variable-width ones.
func fixedWidth(dt arrow.DataType) int {
	switch dt.ID() {
	case arrow.INT8, arrow.UINT8, arrow.BOOL:
		return 2
	case arrow.INT16, arrow.UINT16:
		return 3
	case arrow.INT32, arrow.UINT32, arrow.DATE32, arrow.TIME32, arrow.FLOAT32:
		return 5
	case arrow.INT64, arrow.UINT64, arrow.DATE64, arrow.TIME64, arrow.TIMESTAMP, arrow.DURATION, arrow.FLOAT64:
		return 9
	}
	return 0
}

// Encode encodes the key of every row of cols (the key columns of one batch,
// in the encoder's column order) into kb, replacing its contents, and
// computes each row's key group with exchange.HashColumns, exactly as the
// keyed exchange does. It does not allocate once kb and the encoder's
// scratch buffers have grown to the batch size.
func (e *KeyEncoder) Encode(cols []arrow.Array, kb *KeyBatch) error {
	if len(cols) != len(e.types) {
		return fmt.Errorf("state: encode keys: got %d key columns, want %d", len(cols), len(e.types))
	}
	n := cols[0].Len()
	for i, c := range cols {
		if !arrow.TypeEqual(c.DataType(), e.types[i]) {
			return fmt.Errorf("state: encode keys: key column %d has type %s, want %s", i, c.DataType(), e.types[i])
		}
		if c.Len() != n {
			return fmt.Errorf("state: encode keys: key column %d has %d rows, want %d", i, c.Len(), n)
		}
	}
	kb.Reset()
	if n == 0 {
		return nil
	}
	// Key groups.
	if cap(e.hashes) < n {
		e.hashes = make([]uint64, n)
	}
	hs := e.hashes[:n]
	if err := exchange.HashColumns(cols, hs); err != nil {
		return fmt.Errorf("state: encode keys: %w", err)
	}
	kb.groups = grow(kb.groups, n)
	mp := uint64(e.maxParallelism)
	for i, h := range hs {
		kb.groups[i] = uint16(h % mp)
	}
	// Row lengths, then offsets.
	kb.offs = grow(kb.offs, n+1)
	fixed := 0
	variable := false
	for _, w := range e.widths {
		if w == 0 {
			variable = true
		}
		fixed += w
	}
	if !variable {
		for i := 0; i <= n; i++ {
			kb.offs[i] = int32(i * fixed)
		}
	} else {
		lens := kb.offs[1:]
		for i := range lens {
			lens[i] = int32(fixed)
		}
		for _, c := range cols {
			if fixedWidth(c.DataType()) == 0 {
				addVarLens(c, lens)
			}
		}
		kb.offs[0] = 0
		for i := 1; i <= n; i++ {
			kb.offs[i] += kb.offs[i-1]
		}
	}
	total := int(kb.offs[n])
	kb.buf = grow(kb.buf, total)
	// Write column by column; cursors track each row's write position.
	e.cursors = grow(e.cursors, n)
	cur := e.cursors
	copy(cur, kb.offs[:n])
	for _, c := range cols {
		encodeColumn(c, kb.buf, cur)
	}
	return nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// escapedLen returns the encoded length of a variable-width value with tag.
func escapedLen(b []byte) int32 {
	return int32(1 + len(b) + bytes.Count(b, []byte{escByte}) + 2)
}

func addVarLens(c arrow.Array, lens []int32) {
	nulls := c.NullN() > 0
	switch a := c.(type) {
	case *array.String:
		for i := range lens {
			if nulls && a.IsNull(i) {
				lens[i]++
				continue
			}
			lens[i] += escapedLen(sbytes(a.Value(i)))
		}
	case *array.LargeString:
		for i := range lens {
			if nulls && a.IsNull(i) {
				lens[i]++
				continue
			}
			lens[i] += escapedLen(sbytes(a.Value(i)))
		}
	case *array.Binary:
		for i := range lens {
			if nulls && a.IsNull(i) {
				lens[i]++
				continue
			}
			lens[i] += escapedLen(a.Value(i))
		}
	case *array.LargeBinary:
		for i := range lens {
			if nulls && a.IsNull(i) {
				lens[i]++
				continue
			}
			lens[i] += escapedLen(a.Value(i))
		}
	default:
		panic(fmt.Sprintf("state: addVarLens on %s", c.DataType()))
	}
}

// sbytes views a string's bytes without copying; the result must not be
// modified.
func sbytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func putEscaped(dst []byte, b []byte) int {
	n := 0
	dst[n] = tagPresent
	n++
	for {
		j := bytes.IndexByte(b, escByte)
		if j < 0 {
			n += copy(dst[n:], b)
			break
		}
		n += copy(dst[n:], b[:j])
		dst[n], dst[n+1] = escByte, escEscaped
		n += 2
		b = b[j+1:]
	}
	dst[n], dst[n+1] = escByte, escTerm
	return n + 2
}

// encodeColumn writes the encoding of c's value of row i at buf[cur[i]:] and
// advances cur[i].
func encodeColumn(c arrow.Array, buf []byte, cur []int32) {
	nulls := c.NullN() > 0
	isNull := func(i int) bool {
		if nulls && c.IsNull(i) {
			p := cur[i]
			buf[p] = tagNull
			// Fixed-width columns keep their width so that row lengths stay
			// constant: pad with zeros after the NULL tag.
			w := int32(fixedWidth(c.DataType()))
			if w > 1 {
				clear(buf[p+1 : p+w])
				cur[i] = p + w
			} else {
				cur[i] = p + 1
			}
			return true
		}
		return false
	}
	switch a := c.(type) {
	case *array.Int8:
		for i, v := range a.Int8Values() {
			if !isNull(i) {
				p := cur[i]
				buf[p], buf[p+1] = tagPresent, byte(v)^0x80
				cur[i] = p + 2
			}
		}
	case *array.Int16:
		for i, v := range a.Int16Values() {
			if !isNull(i) {
				p := cur[i]
				buf[p] = tagPresent
				binary.BigEndian.PutUint16(buf[p+1:], uint16(v)^0x8000)
				cur[i] = p + 3
			}
		}
	case *array.Int32:
		put32s(a.Int32Values(), buf, cur, isNull)
	case *array.Date32:
		for i, v := range a.Date32Values() {
			if !isNull(i) {
				put32(buf, cur, i, uint32(v)^(1<<31))
			}
		}
	case *array.Time32:
		for i, v := range a.Time32Values() {
			if !isNull(i) {
				put32(buf, cur, i, uint32(v)^(1<<31))
			}
		}
	case *array.Int64:
		vs := a.Int64Values()
		if !nulls {
			for i, v := range vs {
				p := cur[i]
				buf[p] = tagPresent
				binary.BigEndian.PutUint64(buf[p+1:], uint64(v)^(1<<63))
				cur[i] = p + 9
			}
			return
		}
		for i, v := range vs {
			if !isNull(i) {
				put64(buf, cur, i, uint64(v)^(1<<63))
			}
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			if !isNull(i) {
				put64(buf, cur, i, uint64(v)^(1<<63))
			}
		}
	case *array.Date64:
		for i, v := range a.Date64Values() {
			if !isNull(i) {
				put64(buf, cur, i, uint64(v)^(1<<63))
			}
		}
	case *array.Time64:
		for i, v := range a.Time64Values() {
			if !isNull(i) {
				put64(buf, cur, i, uint64(v)^(1<<63))
			}
		}
	case *array.Duration:
		for i, v := range a.DurationValues() {
			if !isNull(i) {
				put64(buf, cur, i, uint64(v)^(1<<63))
			}
		}
	case *array.Uint8:
		for i, v := range a.Uint8Values() {
			if !isNull(i) {
				p := cur[i]
				buf[p], buf[p+1] = tagPresent, v
				cur[i] = p + 2
			}
		}
	case *array.Uint16:
		for i, v := range a.Uint16Values() {
			if !isNull(i) {
				p := cur[i]
				buf[p] = tagPresent
				binary.BigEndian.PutUint16(buf[p+1:], v)
				cur[i] = p + 3
			}
		}
	case *array.Uint32:
		for i, v := range a.Uint32Values() {
			if !isNull(i) {
				put32(buf, cur, i, v)
			}
		}
	case *array.Uint64:
		for i, v := range a.Uint64Values() {
			if !isNull(i) {
				put64(buf, cur, i, v)
			}
		}
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			if !isNull(i) {
				p := cur[i]
				buf[p], buf[p+1] = tagPresent, 0
				if a.Value(i) {
					buf[p+1] = 1
				}
				cur[i] = p + 2
			}
		}
	case *array.Float32:
		for i, v := range a.Float32Values() {
			if !isNull(i) {
				put32(buf, cur, i, orderedFloat32(v))
			}
		}
	case *array.Float64:
		for i, v := range a.Float64Values() {
			if !isNull(i) {
				put64(buf, cur, i, orderedFloat64(v))
			}
		}
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			if !isNull(i) {
				cur[i] += int32(putEscaped(buf[cur[i]:], sbytes(a.Value(i))))
			}
		}
	case *array.LargeString:
		for i := 0; i < a.Len(); i++ {
			if !isNull(i) {
				cur[i] += int32(putEscaped(buf[cur[i]:], sbytes(a.Value(i))))
			}
		}
	case *array.Binary:
		for i := 0; i < a.Len(); i++ {
			if !isNull(i) {
				cur[i] += int32(putEscaped(buf[cur[i]:], a.Value(i)))
			}
		}
	case *array.LargeBinary:
		for i := 0; i < a.Len(); i++ {
			if !isNull(i) {
				cur[i] += int32(putEscaped(buf[cur[i]:], a.Value(i)))
			}
		}
	default:
		panic(fmt.Sprintf("state: encodeColumn on unsupported type %s", c.DataType()))
	}
}

func put32s(vs []int32, buf []byte, cur []int32, isNull func(int) bool) {
	for i, v := range vs {
		if !isNull(i) {
			put32(buf, cur, i, uint32(v)^(1<<31))
		}
	}
}

func put32(buf []byte, cur []int32, i int, u uint32) {
	p := cur[i]
	buf[p] = tagPresent
	binary.BigEndian.PutUint32(buf[p+1:], u)
	cur[i] = p + 5
}

func put64(buf []byte, cur []int32, i int, u uint64) {
	p := cur[i]
	buf[p] = tagPresent
	binary.BigEndian.PutUint64(buf[p+1:], u)
	cur[i] = p + 9
}

func orderedFloat64(v float64) uint64 {
	switch {
	case v == 0:
		v = 0
	case math.IsNaN(v):
		v = math.NaN()
	}
	b := math.Float64bits(v)
	if b&(1<<63) != 0 {
		return ^b
	}
	return b | 1<<63
}

func unorderedFloat64(u uint64) float64 {
	if u&(1<<63) != 0 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

func orderedFloat32(v float32) uint32 {
	switch {
	case v == 0:
		v = 0
	case v != v:
		v = float32(math.NaN())
	}
	b := math.Float32bits(v)
	if b&(1<<31) != 0 {
		return ^b
	}
	return b | 1<<31
}

func unorderedFloat32(u uint32) float32 {
	if u&(1<<31) != 0 {
		return math.Float32frombits(u &^ (1 << 31))
	}
	return math.Float32frombits(^u)
}

// KeyLen returns the length of the encoded key at the start of b (b may
// continue with a namespace and user key). It returns a corruption error if
// b does not start with a well-formed key.
func (e *KeyEncoder) KeyLen(b []byte) (int, error) {
	p := 0
	for ci, w := range e.widths {
		if p >= len(b) {
			return 0, statestore.CorruptionErrorf("state: key column %d: key %x ends early", ci, b)
		}
		if w > 0 {
			if b[p] != tagNull && b[p] != tagPresent {
				return 0, statestore.CorruptionErrorf("state: key column %d: bad tag 0x%02x in key %x", ci, b[p], b)
			}
			p += w
			if p > len(b) {
				return 0, statestore.CorruptionErrorf("state: key column %d: key %x ends early", ci, b)
			}
			continue
		}
		if b[p] == tagNull {
			p++
			continue
		}
		if b[p] != tagPresent {
			return 0, statestore.CorruptionErrorf("state: key column %d: bad tag 0x%02x in key %x", ci, b[p], b)
		}
		p++
		for {
			j := bytes.IndexByte(b[p:], escByte)
			if j < 0 || p+j+1 >= len(b) {
				return 0, statestore.CorruptionErrorf("state: key column %d: unterminated string in key %x", ci, b)
			}
			p += j + 1
			if b[p] == escTerm {
				p++
				break
			}
			if b[p] != escEscaped {
				return 0, statestore.CorruptionErrorf("state: key column %d: bad escape 0x%02x in key %x", ci, b[p], b)
			}
			p++
		}
	}
	return p, nil
}

// DecodeKeys decodes encoded keys (each exactly one key as produced by
// Encode) back into one Arrow array per key column, allocated from mem. The
// caller releases the arrays.
func (e *KeyEncoder) DecodeKeys(mem memory.Allocator, keys [][]byte) (out []arrow.Array, err error) {
	bs := make([]array.Builder, len(e.types))
	defer func() {
		for _, b := range bs {
			if b != nil {
				b.Release()
			}
		}
		if err != nil {
			for _, a := range out {
				a.Release()
			}
			out = nil
		}
	}()
	for i, dt := range e.types {
		bs[i] = array.NewBuilder(mem, dt)
		bs[i].Reserve(len(keys))
	}
	cur := make([]int, len(keys))
	var scratch []byte
	for ci, dt := range e.types {
		w := e.widths[ci]
		b := bs[ci]
		for r, k := range keys {
			p := cur[r]
			if p >= len(k) {
				return nil, statestore.CorruptionErrorf("state: decode key %d column %d: key %x ends early", r, ci, k)
			}
			if k[p] == tagNull {
				b.AppendNull()
				if w > 0 {
					cur[r] = p + w
				} else {
					cur[r] = p + 1
				}
				continue
			}
			if k[p] != tagPresent {
				return nil, statestore.CorruptionErrorf("state: decode key %d column %d: bad tag 0x%02x in %x", r, ci, k[p], k)
			}
			if w > 0 {
				if p+w > len(k) {
					return nil, statestore.CorruptionErrorf("state: decode key %d column %d: key %x ends early", r, ci, k)
				}
				appendFixed(b, dt, k[p+1:p+w])
				cur[r] = p + w
				continue
			}
			scratch = scratch[:0]
			q := p + 1
			for {
				j := bytes.IndexByte(k[q:], escByte)
				if j < 0 || q+j+1 >= len(k) {
					return nil, statestore.CorruptionErrorf("state: decode key %d column %d: unterminated value in %x", r, ci, k)
				}
				scratch = append(scratch, k[q:q+j]...)
				q += j + 1
				if k[q] == escTerm {
					q++
					break
				}
				scratch = append(scratch, escByte)
				q++
			}
			cur[r] = q
			switch bb := b.(type) {
			case *array.StringBuilder:
				bb.BinaryBuilder.Append(scratch)
			case *array.LargeStringBuilder:
				bb.BinaryBuilder.Append(scratch)
			case *array.BinaryBuilder:
				bb.Append(scratch)
			default:
				return nil, fmt.Errorf("state: decode keys: column %d: unexpected builder %T", ci, b)
			}
		}
	}
	for r, k := range keys {
		if cur[r] != len(k) {
			return nil, statestore.CorruptionErrorf("state: decode key %d: %d trailing bytes in %x", r, len(k)-cur[r], k)
		}
	}
	out = make([]arrow.Array, len(bs))
	for i, b := range bs {
		out[i] = b.NewArray()
	}
	return out, nil
}

func appendFixed(b array.Builder, dt arrow.DataType, v []byte) {
	switch bb := b.(type) {
	case *array.Int8Builder:
		bb.Append(int8(v[0] ^ 0x80))
	case *array.Int16Builder:
		bb.Append(int16(binary.BigEndian.Uint16(v) ^ 0x8000))
	case *array.Int32Builder:
		bb.Append(int32(binary.BigEndian.Uint32(v) ^ (1 << 31)))
	case *array.Int64Builder:
		bb.Append(int64(binary.BigEndian.Uint64(v) ^ (1 << 63)))
	case *array.Uint8Builder:
		bb.Append(v[0])
	case *array.Uint16Builder:
		bb.Append(binary.BigEndian.Uint16(v))
	case *array.Uint32Builder:
		bb.Append(binary.BigEndian.Uint32(v))
	case *array.Uint64Builder:
		bb.Append(binary.BigEndian.Uint64(v))
	case *array.BooleanBuilder:
		bb.Append(v[0] != 0)
	case *array.Float32Builder:
		bb.Append(unorderedFloat32(binary.BigEndian.Uint32(v)))
	case *array.Float64Builder:
		bb.Append(unorderedFloat64(binary.BigEndian.Uint64(v)))
	case *array.Date32Builder:
		bb.Append(arrow.Date32(int32(binary.BigEndian.Uint32(v) ^ (1 << 31))))
	case *array.Time32Builder:
		bb.Append(arrow.Time32(int32(binary.BigEndian.Uint32(v) ^ (1 << 31))))
	case *array.Date64Builder:
		bb.Append(arrow.Date64(int64(binary.BigEndian.Uint64(v) ^ (1 << 63))))
	case *array.Time64Builder:
		bb.Append(arrow.Time64(int64(binary.BigEndian.Uint64(v) ^ (1 << 63))))
	case *array.TimestampBuilder:
		bb.Append(arrow.Timestamp(int64(binary.BigEndian.Uint64(v) ^ (1 << 63))))
	case *array.DurationBuilder:
		bb.Append(arrow.Duration(int64(binary.BigEndian.Uint64(v) ^ (1 << 63))))
	default:
		panic(fmt.Sprintf("state: appendFixed: unexpected builder %T for %s", b, dt))
	}
}

// AppendOrderedInt64 appends v as 8 big-endian bytes with the sign bit
// flipped, so that byte order equals numeric order. Use it to build
// namespaces (window start/end) and sortable user keys.
func AppendOrderedInt64(dst []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63))
}

// OrderedInt64 decodes AppendOrderedInt64's 8 bytes.
func OrderedInt64(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }
