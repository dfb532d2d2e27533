package statestore

import (
	"encoding/binary"
	"fmt"
)

// KeyGroupBytes is the length of the key-group prefix of every state key.
const KeyGroupBytes = 2

// MaxKeyGroups is the largest supported number of key groups K (the job's
// maximum parallelism). Key groups are numbered 0..K-1, so a KeyGroupRange's
// End is at most MaxKeyGroups and always fits in a uint16.
const MaxKeyGroups = 1 << 15

// KeyGroupOf returns the key group of a state key: its first two bytes,
// big-endian. It panics if key is shorter than KeyGroupBytes; stores reject
// such keys with ErrInvalidKey before calling it.
func KeyGroupOf(key []byte) uint16 {
	return binary.BigEndian.Uint16(key)
}

// AppendKeyGroup appends the 2-byte big-endian key-group prefix for g to dst
// and returns the extended slice. Build a state key with
// append(AppendKeyGroup(dst, g), userKey...).
func AppendKeyGroup(dst []byte, g uint16) []byte {
	return binary.BigEndian.AppendUint16(dst, g)
}

// KeyGroupRange is the half-open range [Start, End) of key groups a shard
// owns. The zero value is empty. A range is valid when Start <= End <=
// MaxKeyGroups; use Validate to check one that came from outside.
type KeyGroupRange struct {
	Start uint16 `json:"start"`
	End   uint16 `json:"end"`
}

// FullKeyGroupRange returns [0, k): every key group of a job with k key
// groups.
func FullKeyGroupRange(k int) KeyGroupRange {
	return KeyGroupRange{Start: 0, End: uint16(k)}
}

// Empty reports whether r contains no key group.
func (r KeyGroupRange) Empty() bool { return r.Start >= r.End }

// Len returns the number of key groups in r.
func (r KeyGroupRange) Len() int {
	if r.Empty() {
		return 0
	}
	return int(r.End) - int(r.Start)
}

// Contains reports whether key group g is in r.
func (r KeyGroupRange) Contains(g uint16) bool { return r.Start <= g && g < r.End }

// ContainsKey reports whether key is at least KeyGroupBytes long and its key
// group is in r.
func (r KeyGroupRange) ContainsKey(key []byte) bool {
	return len(key) >= KeyGroupBytes && r.Contains(KeyGroupOf(key))
}

// Intersect returns the key groups in both r and o. The result may be empty;
// every empty result is the zero KeyGroupRange.
func (r KeyGroupRange) Intersect(o KeyGroupRange) KeyGroupRange {
	s, e := max(r.Start, o.Start), min(r.End, o.End)
	if s >= e {
		return KeyGroupRange{}
	}
	return KeyGroupRange{Start: s, End: e}
}

// Overlaps reports whether r and o share at least one key group.
func (r KeyGroupRange) Overlaps(o KeyGroupRange) bool { return !r.Intersect(o).Empty() }

// KeyBounds returns the half-open byte-key range [lower, upper) that holds
// exactly the keys of r's key groups. For an empty range both are equal.
func (r KeyGroupRange) KeyBounds() (lower, upper []byte) {
	if r.Empty() {
		return []byte{0, 0}, []byte{0, 0}
	}
	return AppendKeyGroup(nil, r.Start), AppendKeyGroup(nil, r.End)
}

// Validate returns an error naming the range if it is not well formed.
func (r KeyGroupRange) Validate() error {
	if r.Start > r.End {
		return fmt.Errorf("statestore: key-group range %v: start %d is after end %d", r, r.Start, r.End)
	}
	if r.End > MaxKeyGroups {
		return fmt.Errorf("statestore: key-group range %v: end %d exceeds the maximum of %d key groups", r, r.End, MaxKeyGroups)
	}
	return nil
}

// String formats r as "[start,end)".
func (r KeyGroupRange) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// SplitKeyGroups divides k key groups into parallelism contiguous ranges
// whose sizes differ by at most one, in subtask order. It returns an error
// naming the argument when k is not in [1, MaxKeyGroups] or parallelism is
// not in [1, k].
func SplitKeyGroups(k, parallelism int) ([]KeyGroupRange, error) {
	if k < 1 || k > MaxKeyGroups {
		return nil, fmt.Errorf("statestore: key groups k=%d: must be in [1, %d]", k, MaxKeyGroups)
	}
	if parallelism < 1 || parallelism > k {
		return nil, fmt.Errorf("statestore: parallelism %d: must be in [1, k=%d]", parallelism, k)
	}
	out := make([]KeyGroupRange, parallelism)
	for i := range out {
		out[i] = KeyGroupRange{Start: uint16(i * k / parallelism), End: uint16((i + 1) * k / parallelism)}
	}
	return out, nil
}
