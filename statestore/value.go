package statestore

import (
	"encoding/binary"
	"time"
)

// Value header. Backends that persist values as bytes (the LSM memtable,
// SSTables, compaction filters) store every value as
//
//	header byte | [8-byte big-endian expiry] | user value
//
// where the header byte is a bit set:
//
//	bit 0 (ValueHasExpiry): an 8-byte expiry follows, in Unix nanoseconds
//	                       (int64, big-endian, the same as NoExpiry < it).
//	bits 1-7:              reserved; must be zero. DecodeValue reports a
//	                       corruption error if any is set, so that a reader
//	                       never misreads a value written by a newer format.
//
// An entry expires at its expiry time: it is invisible to every read whose
// clock reading t satisfies t >= expiry (Expired). Expiry is wall-clock time
// from the store's injected clock, not event time.
const (
	ValueHasExpiry byte = 1 << 0

	valueKnownFlags = ValueHasExpiry
)

// NoExpiry is the expiry of an entry that never expires.
const NoExpiry int64 = 0

// ExpiryOf converts a time to the Unix-nanosecond expiry used in batches and
// value headers. The zero time means NoExpiry.
func ExpiryOf(t time.Time) int64 {
	if t.IsZero() {
		return NoExpiry
	}
	n := t.UnixNano()
	if n == NoExpiry { // the Unix epoch itself: expired for any sane clock
		n = 1
	}
	return n
}

// Expired reports whether an entry with the given expiry is invisible at
// time now (Unix nanoseconds).
func Expired(expiry, now int64) bool { return expiry != NoExpiry && now >= expiry }

// EncodedValueLen returns the length of EncodeValue's output for a value of
// length n.
func EncodedValueLen(n int, expiry int64) int {
	if expiry == NoExpiry {
		return 1 + n
	}
	return 9 + n
}

// EncodeValue appends the header for expiry followed by value to dst.
func EncodeValue(dst, value []byte, expiry int64) []byte {
	if expiry == NoExpiry {
		dst = append(dst, 0)
	} else {
		dst = append(dst, ValueHasExpiry)
		dst = binary.BigEndian.AppendUint64(dst, uint64(expiry))
	}
	return append(dst, value...)
}

// DecodeValue splits an encoded value into the user value (aliasing enc) and
// its expiry. It returns a corruption error if enc is too short or carries
// unknown header bits.
func DecodeValue(enc []byte) (value []byte, expiry int64, err error) {
	if len(enc) == 0 {
		return nil, 0, CorruptionErrorf("encoded value is empty (missing header byte)")
	}
	h := enc[0]
	if h&^valueKnownFlags != 0 {
		return nil, 0, CorruptionErrorf("value header 0x%02x has unknown flag bits", h)
	}
	if h&ValueHasExpiry == 0 {
		return enc[1:], NoExpiry, nil
	}
	if len(enc) < 9 {
		return nil, 0, CorruptionErrorf("value header has an expiry but the value is %d bytes long (want >= 9)", len(enc))
	}
	return enc[9:], int64(binary.BigEndian.Uint64(enc[1:9])), nil
}
