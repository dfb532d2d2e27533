package statestore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"iter"
	"time"
)

// OpKind is the kind of one operation in a WriteBatch.
type OpKind uint8

const (
	// OpPut sets Key to Value, optionally with an Expiry.
	OpPut OpKind = iota + 1
	// OpDelete removes Key.
	OpDelete
	// OpDeleteRange removes every key in [Key, End).
	OpDeleteRange
)

func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpDeleteRange:
		return "delete-range"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one decoded operation of a WriteBatch. Its slices alias the batch's
// buffer: they stay valid until the batch is next modified or Reset.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte // OpPut only
	End   []byte // OpDeleteRange only: exclusive upper bound
	// Expiry is the Unix-nanosecond expiry of an OpPut, or NoExpiry.
	Expiry int64
}

// record tags in the encoded buffer.
const (
	tagPut byte = iota + 1
	tagPutExpiry
	tagDelete
	tagDeleteRange
)

// WriteBatch is an ordered list of puts, deletes and delete-ranges that a
// Store applies together (Store.Apply). Appending copies the key and value
// bytes into one growing buffer, so callers may reuse their own buffers at
// once, and a batch that is Reset and reused does not allocate once its
// buffer has grown. Later operations on the same key win.
//
// The zero value is an empty batch ready to use. A WriteBatch is not safe
// for concurrent use.
type WriteBatch struct {
	buf   []byte
	count int
	// keyBytes and valueBytes count user bytes, for memory accounting.
	keyBytes, valueBytes int
}

// Reset empties the batch, keeping its buffer for reuse.
func (b *WriteBatch) Reset() {
	b.buf = b.buf[:0]
	b.count, b.keyBytes, b.valueBytes = 0, 0, 0
}

// Len returns the number of operations in the batch.
func (b *WriteBatch) Len() int { return b.count }

// Empty reports whether the batch has no operations.
func (b *WriteBatch) Empty() bool { return b.count == 0 }

// Size returns the encoded size of the batch in bytes, a close upper bound
// of the memory its operations need once applied.
func (b *WriteBatch) Size() int { return len(b.buf) }

// Grow ensures the batch can take n more encoded bytes without reallocating.
func (b *WriteBatch) Grow(n int) {
	if cap(b.buf)-len(b.buf) < n {
		nb := make([]byte, len(b.buf), 2*cap(b.buf)+n)
		copy(nb, b.buf)
		b.buf = nb
	}
}

func (b *WriteBatch) appendBytes(p []byte) {
	b.buf = binary.AppendUvarint(b.buf, uint64(len(p)))
	b.buf = append(b.buf, p...)
}

// Put sets key to value. Key must start with its key group.
func (b *WriteBatch) Put(key, value []byte) {
	b.buf = append(b.buf, tagPut)
	b.appendBytes(key)
	b.appendBytes(value)
	b.count++
	b.keyBytes += len(key)
	b.valueBytes += len(value)
}

// PutWithExpiry sets key to value until expiry; from then on reads do not
// see the entry (see the package doc). The zero time means no expiry.
func (b *WriteBatch) PutWithExpiry(key, value []byte, expiry time.Time) {
	b.PutWithExpiryNanos(key, value, ExpiryOf(expiry))
}

// PutWithExpiryNanos is PutWithExpiry with the expiry in Unix nanoseconds
// (NoExpiry for none), for callers that compute expiries in bulk.
func (b *WriteBatch) PutWithExpiryNanos(key, value []byte, expiry int64) {
	if expiry == NoExpiry {
		b.Put(key, value)
		return
	}
	b.buf = append(b.buf, tagPutExpiry)
	b.appendBytes(key)
	b.appendBytes(value)
	b.buf = binary.BigEndian.AppendUint64(b.buf, uint64(expiry))
	b.count++
	b.keyBytes += len(key)
	b.valueBytes += len(value)
}

// Delete removes key.
func (b *WriteBatch) Delete(key []byte) {
	b.buf = append(b.buf, tagDelete)
	b.appendBytes(key)
	b.count++
	b.keyBytes += len(key)
}

// DeleteRange removes every key k with start <= k < end. A store clips the
// range to the key groups it owns.
func (b *WriteBatch) DeleteRange(start, end []byte) {
	b.buf = append(b.buf, tagDeleteRange)
	b.appendBytes(start)
	b.appendBytes(end)
	b.count++
	b.keyBytes += len(start) + len(end)
}

// Reader returns a reader positioned at the batch's first operation.
func (b *WriteBatch) Reader() BatchReader { return BatchReader{buf: b.buf} }

// All iterates over the batch's operations in order.
func (b *WriteBatch) All() iter.Seq[Op] {
	return func(yield func(Op) bool) {
		r := b.Reader()
		for {
			op, ok := r.Next()
			if !ok || !yield(op) {
				return
			}
		}
	}
}

// Validate checks every operation against the rules all stores enforce:
// keys are at least KeyGroupBytes long, delete-range bounds are ordered, and
// puts and deletes fall in owned. It returns the first violation, wrapping
// ErrInvalidKey or ErrNotOwned and naming the operation's index and key.
func (b *WriteBatch) Validate(owned KeyGroupRange) error {
	r := b.Reader()
	for i := 0; ; i++ {
		op, ok := r.Next()
		if !ok {
			return nil
		}
		if len(op.Key) < KeyGroupBytes {
			return fmt.Errorf("%w: batch op %d (%s): key %x is %d bytes, want >= %d (key-group prefix)", ErrInvalidKey, i, op.Kind, op.Key, len(op.Key), KeyGroupBytes)
		}
		switch op.Kind {
		case OpDeleteRange:
			if bytes.Compare(op.End, op.Key) < 0 {
				return fmt.Errorf("%w: batch op %d (delete-range): end %x is before start %x", ErrInvalidKey, i, op.End, op.Key)
			}
		default:
			if g := KeyGroupOf(op.Key); !owned.Contains(g) {
				return fmt.Errorf("%w: batch op %d (%s): key %x has key group %d, owned range is %v", ErrNotOwned, i, op.Kind, op.Key, g, owned)
			}
		}
	}
}

// BatchReader decodes a WriteBatch's operations in order. It is a value
// type; copying it copies the position.
type BatchReader struct {
	buf []byte
}

// Next decodes the next operation. It returns false at the end.
func (r *BatchReader) Next() (Op, bool) {
	if len(r.buf) == 0 {
		return Op{}, false
	}
	tag := r.buf[0]
	r.buf = r.buf[1:]
	var op Op
	op.Key = r.bytes()
	switch tag {
	case tagPut:
		op.Kind = OpPut
		op.Value = r.bytes()
	case tagPutExpiry:
		op.Kind = OpPut
		op.Value = r.bytes()
		op.Expiry = int64(binary.BigEndian.Uint64(r.buf))
		r.buf = r.buf[8:]
	case tagDelete:
		op.Kind = OpDelete
	case tagDeleteRange:
		op.Kind = OpDeleteRange
		op.End = r.bytes()
	default:
		panic(fmt.Sprintf("statestore: write batch has unknown record tag %d", tag))
	}
	return op, true
}

func (r *BatchReader) bytes() []byte {
	n, w := binary.Uvarint(r.buf)
	p := r.buf[w : w+int(n) : w+int(n)]
	r.buf = r.buf[w+int(n):]
	return p
}
