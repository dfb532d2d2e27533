package window

import (
	"fmt"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TimesMillis returns the values of a time column in milliseconds since the
// epoch. arr may be a Timestamp array of any unit (finer units round down),
// Date64 or Int64 (taken as milliseconds). For a millisecond Timestamp,
// Date64 or Int64 array the result aliases arr's buffer (no copy; valid while
// arr is); otherwise it is written into dst, grown as needed. A null in the
// column is an error wrapping ErrNullTimestamp naming the first null row: the
// operator decides whether to fail or route such rows elsewhere.
func TimesMillis(arr arrow.Array, dst []int64) ([]int64, error) {
	if n := arr.NullN(); n > 0 {
		for i := 0; i < arr.Len(); i++ {
			if arr.IsNull(i) {
				return nil, fmt.Errorf("%w: %d null rows, first at row %d", ErrNullTimestamp, n, i)
			}
		}
	}
	switch a := arr.(type) {
	case *array.Int64:
		return a.Int64Values(), nil
	case *array.Date64:
		v := a.Date64Values()
		return unsafe.Slice((*int64)(unsafe.SliceData(v)), len(v)), nil
	case *array.Timestamp:
		v := a.TimestampValues()
		raw := unsafe.Slice((*int64)(unsafe.SliceData(v)), len(v))
		var div int64
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Millisecond:
			return raw, nil
		case arrow.Second:
			if cap(dst) < len(raw) {
				dst = make([]int64, len(raw))
			}
			dst = dst[:len(raw)]
			for i, x := range raw {
				dst[i] = x * 1000
			}
			return dst, nil
		case arrow.Microsecond:
			div = 1000
		case arrow.Nanosecond:
			div = 1000_000
		}
		if cap(dst) < len(raw) {
			dst = make([]int64, len(raw))
		}
		dst = dst[:len(raw)]
		for i, x := range raw {
			q := x / div
			if x%div < 0 {
				q--
			}
			dst[i] = q
		}
		return dst, nil
	}
	return nil, fmt.Errorf("%w: time column of type %s (want timestamp, date64 or int64 milliseconds)", ErrUnsupported, arr.DataType())
}
