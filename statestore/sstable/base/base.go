package base

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Kind is the type of an internal key's entry. The numeric values are part of
// the on-disk format and must never change.
type Kind uint8

const (
	// KindDelete is a point tombstone: the user key has no value at this seqnum.
	KindDelete Kind = 0
	// KindSet is a value without an expiry.
	KindSet Kind = 1
	// KindSetWithExpiry is a value with an expiry time. The stored value is
	// prefixed by the expiry as a uvarint (see EncodeValue).
	KindSetWithExpiry Kind = 2
	// KindRangeDelete deletes every user key in [start, end) with a lower
	// seqnum. The internal key holds start; the value holds end.
	KindRangeDelete Kind = 3

	// KindMax is the largest valid kind. Seeking with KindMax at a given seqnum
	// positions before every entry of that seqnum.
	KindMax = KindRangeDelete
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindDelete:
		return "DEL"
	case KindSet:
		return "SET"
	case KindSetWithExpiry:
		return "SETEXP"
	case KindRangeDelete:
		return "RANGEDEL"
	}
	return fmt.Sprintf("KIND(%d)", uint8(k))
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k <= KindMax }

// IsSet reports whether k carries a value (KindSet or KindSetWithExpiry).
func (k Kind) IsSet() bool { return k == KindSet || k == KindSetWithExpiry }

// SeqNumMax is the largest sequence number (56 bits). Reading at SeqNumMax
// sees every entry.
const SeqNumMax = uint64(1)<<56 - 1

// TrailerLen is the encoded size of a trailer.
const TrailerLen = 8

// MakeTrailer packs a sequence number and a kind.
func MakeTrailer(seq uint64, kind Kind) uint64 { return seq<<8 | uint64(kind) }

// InternalKey is a user key plus a trailer (seqnum<<8 | kind). Internal keys
// order by user key ascending, then trailer descending, so the newest version
// of a user key comes first.
type InternalKey struct {
	UserKey []byte
	Trailer uint64
}

// MakeInternalKey returns the internal key for (ukey, seq, kind).
func MakeInternalKey(ukey []byte, seq uint64, kind Kind) InternalKey {
	return InternalKey{UserKey: ukey, Trailer: MakeTrailer(seq, kind)}
}

// SeqNum returns the key's sequence number.
func (k InternalKey) SeqNum() uint64 { return k.Trailer >> 8 }

// Kind returns the key's kind.
func (k InternalKey) Kind() Kind { return Kind(k.Trailer & 0xff) }

// Size returns the encoded length.
func (k InternalKey) Size() int { return len(k.UserKey) + TrailerLen }

// Clone returns a copy whose UserKey does not alias k's.
func (k InternalKey) Clone() InternalKey {
	return InternalKey{UserKey: append([]byte(nil), k.UserKey...), Trailer: k.Trailer}
}

// String formats the key for debugging.
func (k InternalKey) String() string {
	return fmt.Sprintf("%q#%d,%s", k.UserKey, k.SeqNum(), k.Kind())
}

// Compare orders internal keys: user key ascending, then trailer descending.
func Compare(a, b InternalKey) int {
	if c := bytes.Compare(a.UserKey, b.UserKey); c != 0 {
		return c
	}
	switch {
	case a.Trailer > b.Trailer:
		return -1
	case a.Trailer < b.Trailer:
		return 1
	}
	return 0
}

// AppendEncoded appends the encoding of k (user key, then the trailer as 8
// little-endian bytes) to dst.
func (k InternalKey) AppendEncoded(dst []byte) []byte {
	dst = append(dst, k.UserKey...)
	return binary.LittleEndian.AppendUint64(dst, k.Trailer)
}

// DecodeInternalKey decodes an encoded internal key. The returned UserKey
// aliases b. ok is false when b is shorter than a trailer.
func DecodeInternalKey(b []byte) (k InternalKey, ok bool) {
	n := len(b) - TrailerLen
	if n < 0 {
		return InternalKey{}, false
	}
	return InternalKey{UserKey: b[:n:n], Trailer: binary.LittleEndian.Uint64(b[n:])}, true
}

// KeyHash is the hash of a user key that memtable indexes and table Bloom
// filters use: xxhash64, part of the table format (filters store its
// bits). A reader that looks a key up in several memtables and tables
// computes it once (Memtable.GetHash, Reader.GetAtHash).
func KeyHash(ukey []byte) uint64 { return xxhash.Sum64(ukey) }

// KeyGroupLen is the length of the key-group prefix of every user key.
const KeyGroupLen = 2

// KeyGroup returns the big-endian key group that prefixes ukey. ok is false
// when ukey is shorter than two bytes.
func KeyGroup(ukey []byte) (kg uint16, ok bool) {
	if len(ukey) < KeyGroupLen {
		return 0, false
	}
	return binary.BigEndian.Uint16(ukey), true
}

// Expiry is an absolute expiry time in Unix nanoseconds, the same
// representation as statestore's expiries. Zero means the entry never
// expires; any other value (negative included) is an expiry.
type Expiry int64

// NoExpiry marks an entry that never expires.
const NoExpiry Expiry = 0

// ExpiryFromTime converts t to an Expiry. The zero time maps to NoExpiry.
func ExpiryFromTime(t time.Time) Expiry {
	if t.IsZero() {
		return NoExpiry
	}
	n := t.UnixNano()
	if n == 0 {
		return 1 // the epoch itself must stay distinguishable from NoExpiry
	}
	return Expiry(n)
}

// Time returns the expiry as a time; the zero time for NoExpiry.
func (e Expiry) Time() time.Time {
	if e == NoExpiry {
		return time.Time{}
	}
	return time.Unix(0, int64(e))
}

// Expired reports whether the entry has expired at now.
func (e Expiry) Expired(now time.Time) bool {
	return e != NoExpiry && now.UnixNano() >= int64(e)
}

// NormalizeKind maps the caller-facing (kind, expiry) pair to the stored
// kind: a KindSet with an expiry becomes KindSetWithExpiry. It rejects an
// expiry on a kind that carries no value, an unknown kind, and a
// KindSetWithExpiry without one.
func NormalizeKind(kind Kind, expiry Expiry) (Kind, error) {
	switch kind {
	case KindSet:
		if expiry != NoExpiry {
			return KindSetWithExpiry, nil
		}
		return KindSet, nil
	case KindSetWithExpiry:
		if expiry == NoExpiry {
			return 0, fmt.Errorf("kind %s needs a non-zero expiry", kind)
		}
		return kind, nil
	case KindDelete, KindRangeDelete:
		if expiry != NoExpiry {
			return 0, fmt.Errorf("kind %s cannot carry expiry %d", kind, expiry)
		}
		return kind, nil
	}
	return 0, fmt.Errorf("kind %d is not a valid kind", uint8(kind))
}

// ValueSize returns the stored size of value for kind.
func ValueSize(kind Kind, expiry Expiry, value []byte) int {
	if kind == KindSetWithExpiry {
		return uvarintLen(uint64(expiry)) + len(value)
	}
	return len(value)
}

// AppendValue appends the stored form of value to dst: for KindSetWithExpiry
// a uvarint expiry prefix followed by the value; otherwise the value itself.
func AppendValue(dst []byte, kind Kind, expiry Expiry, value []byte) []byte {
	if kind == KindSetWithExpiry {
		dst = binary.AppendUvarint(dst, uint64(expiry))
	}
	return append(dst, value...)
}

// DecodeValue splits a stored value into the user value and its expiry.
// ok is false when a KindSetWithExpiry value has a malformed prefix.
func DecodeValue(kind Kind, stored []byte) (value []byte, expiry Expiry, ok bool) {
	if kind != KindSetWithExpiry {
		return stored, NoExpiry, true
	}
	e, n := binary.Uvarint(stored)
	if n <= 0 || e == 0 {
		return nil, 0, false
	}
	return stored[n:], Expiry(e), true
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Entry is the result of a point lookup: the newest visible version of a
// user key. Kind is KindSet/KindSetWithExpiry (Value and Expiry are set),
// KindDelete, or KindRangeDelete (the key is covered by a range deletion
// with sequence number SeqNum). A lookup that finds a deletion returns it so
// that a caller searching several tables can stop.
type Entry struct {
	Kind   Kind
	SeqNum uint64
	Value  []byte
	Expiry Expiry
}

// Deleted reports whether the entry is a tombstone of either kind.
func (e Entry) Deleted() bool { return !e.Kind.IsSet() }
