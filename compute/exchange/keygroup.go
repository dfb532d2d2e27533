package exchange

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"

	"github.com/sluicedata/sluice/statestore"
)

// MaxKeyGroups is the largest supported max parallelism. State keys carry the
// key group in two bytes.
const MaxKeyGroups = statestore.MaxKeyGroups

// KeyGroupRangeFor returns the key groups that subtask owns when an operator
// with maxParallelism key groups runs with the given parallelism. The ranges
// of all subtasks are contiguous, disjoint and cover [0, maxParallelism).
func KeyGroupRangeFor(subtask, parallelism, maxParallelism int) statestore.KeyGroupRange {
	start := (subtask*maxParallelism + parallelism - 1) / parallelism
	end := ((subtask+1)*maxParallelism + parallelism - 1) / parallelism
	return statestore.KeyGroupRange{Start: uint16(start), End: uint16(end)}
}

// SubtaskFor returns the subtask that owns key group kg. It is the inverse of
// KeyGroupRangeFor.
func SubtaskFor(kg, parallelism, maxParallelism int) int {
	return kg * parallelism / maxParallelism
}

// KeyGroupOf maps a key hash to its key group.
func KeyGroupOf(hash uint64, maxParallelism int) int {
	return int(hash % uint64(maxParallelism))
}

const (
	nullHash = 0x9e3779b97f4a7c15
	seedHash = 0x2545f4914f6cdd1d
)

// mix64 is the murmur3 64-bit finalizer.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func combine(acc, h uint64) uint64 {
	return mix64(acc ^ (h + 0x9e3779b97f4a7c15 + (acc << 6) + (acc >> 2)))
}

// CheckKeyType reports whether values of dt can be used as keys.
func CheckKeyType(dt arrow.DataType) error {
	switch dt.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.BOOL,
		arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY,
		arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64, arrow.TIME32, arrow.TIME64, arrow.DURATION:
		return nil
	}
	return fmt.Errorf("type %s cannot be used as a key", dt)
}

// HashColumns computes the key hash of every row over the key columns into
// out, which must have at least as many elements as there are rows.
func HashColumns(cols []arrow.Array, out []uint64) error {
	if len(cols) == 0 {
		return fmt.Errorf("exchange: no key columns")
	}
	n := cols[0].Len()
	out = out[:n]
	for i, c := range cols {
		if c.Len() != n {
			return fmt.Errorf("exchange: key column %d has %d rows, want %d", i, c.Len(), n)
		}
		if i == 0 {
			if err := hashColumn(c, out, false); err != nil {
				return err
			}
			continue
		}
		if err := hashColumn(c, out, true); err != nil {
			return err
		}
	}
	return nil
}

// hashColumn writes (or, with accumulate, combines) the per-row hash of c into out.
func hashColumn(c arrow.Array, out []uint64, accumulate bool) error {
	put := func(i int, h uint64) {
		if accumulate {
			out[i] = combine(out[i], h)
		} else {
			out[i] = combine(seedHash, h)
		}
	}
	hasNulls := c.NullN() > 0
	switch a := c.(type) {
	case *array.Int64:
		vs := a.Int64Values()
		if !hasNulls && !accumulate {
			for i, v := range vs {
				out[i] = combine(seedHash, mix64(uint64(v)))
			}
			return nil
		}
		for i, v := range vs {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Int32:
		for i, v := range a.Int32Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Int16:
		for i, v := range a.Int16Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Int8:
		for i, v := range a.Int8Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Uint64:
		for i, v := range a.Uint64Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Uint32:
		for i, v := range a.Uint32Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Uint16:
		for i, v := range a.Uint16Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Uint8:
		for i, v := range a.Uint8Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Date64:
		for i, v := range a.Date64Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Time32:
		for i, v := range a.Time32Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Time64:
		for i, v := range a.Time64Values() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Duration:
		for i, v := range a.DurationValues() {
			put(i, intHash(hasNulls && a.IsNull(i), int64(v)))
		}
	case *array.Boolean:
		for i := 0; i < a.Len(); i++ {
			v := int64(0)
			if a.Value(i) {
				v = 1
			}
			put(i, intHash(hasNulls && a.IsNull(i), v))
		}
	case *array.Float64:
		for i, v := range a.Float64Values() {
			put(i, floatHash(hasNulls && a.IsNull(i), v))
		}
	case *array.Float32:
		for i, v := range a.Float32Values() {
			put(i, floatHash(hasNulls && a.IsNull(i), float64(v)))
		}
	case *array.String:
		for i := 0; i < a.Len(); i++ {
			put(i, stringHash(hasNulls && a.IsNull(i), a.Value(i)))
		}
	case *array.LargeString:
		for i := 0; i < a.Len(); i++ {
			put(i, stringHash(hasNulls && a.IsNull(i), a.Value(i)))
		}
	case *array.Binary:
		for i := 0; i < a.Len(); i++ {
			put(i, bytesHash(hasNulls && a.IsNull(i), a.Value(i)))
		}
	case *array.LargeBinary:
		for i := 0; i < a.Len(); i++ {
			put(i, bytesHash(hasNulls && a.IsNull(i), a.Value(i)))
		}
	default:
		return fmt.Errorf("exchange: %w", CheckKeyType(c.DataType()))
	}
	return nil
}

func intHash(null bool, v int64) uint64 {
	if null {
		return nullHash
	}
	return mix64(uint64(v))
}

func floatHash(null bool, v float64) uint64 {
	switch {
	case null:
		return nullHash
	case v == 0:
		v = 0 // -0 and +0 are the same key
	case math.IsNaN(v):
		v = math.NaN()
	}
	return mix64(math.Float64bits(v))
}

func bytesHash(null bool, b []byte) uint64 {
	if null {
		return nullHash
	}
	return xxh3.Hash(b)
}

func stringHash(null bool, s string) uint64 {
	if null {
		return nullHash
	}
	return xxh3.HashString(s)
}
