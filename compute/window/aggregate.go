package window

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
)

// AggKind names an incremental aggregate function.
type AggKind uint8

const (
	// Count is count(*): every row, NULL or not. Its input may be nil.
	Count AggKind = iota + 1
	// CountNonNull is count(expr): the rows where the input is not NULL.
	CountNonNull
	Sum
	Min
	Max
	// Avg is sum/count of the non-NULL inputs, as float64.
	Avg
	// First is the value of the earliest row (by event time when Add is
	// given times, else by arrival), ignoring NULLs.
	First
	// Last is the value of the latest row, ignoring NULLs.
	Last
	// CountDistinct counts distinct non-NULL values.
	CountDistinct
)

var aggNames = [...]string{Count: "count", CountNonNull: "count_non_null", Sum: "sum", Min: "min", Max: "max",
	Avg: "avg", First: "first", Last: "last", CountDistinct: "count_distinct"}

func (k AggKind) String() string {
	if int(k) < len(aggNames) && aggNames[k] != "" {
		return aggNames[k]
	}
	return fmt.Sprintf("agg(%d)", uint8(k))
}

// AggTypeError is returned for an input type an aggregate does not support.
// It wraps ErrUnsupported.
type AggTypeError struct {
	Func AggKind
	Type arrow.DataType
}

func (e *AggTypeError) Error() string {
	t := "<nil>"
	if e.Type != nil {
		t = e.Type.String()
	}
	return fmt.Sprintf("window: aggregate %s does not support input type %s", e.Func, t)
}

func (e *AggTypeError) Unwrap() error { return ErrUnsupported }

type valueKind uint8

const (
	vkNone valueKind = iota // count(*) / count(expr): values not read
	vkInt                   // int64 and timestamps
	vkFloat
	vkString
)

func valueKindOf(dt arrow.DataType) valueKind {
	if dt == nil {
		return vkNone
	}
	switch dt.ID() {
	case arrow.INT64, arrow.TIMESTAMP:
		return vkInt
	case arrow.FLOAT64:
		return vkFloat
	case arrow.STRING:
		return vkString
	}
	return vkNone
}

// AggFunc is a configured aggregate: a function over one input type. It is
// immutable and safe for concurrent use.
type AggFunc struct {
	kind   AggKind
	input  arrow.DataType
	result arrow.DataType
	vk     valueKind
}

// NewAggFunc returns aggregate kind over input. Supported inputs: any type
// (or nil) for Count, any type for CountNonNull, int64 and float64 for Sum
// and Avg, and int64, float64, timestamp and string for Min, Max, First,
// Last and CountDistinct. Anything else is an *AggTypeError.
func NewAggFunc(kind AggKind, input arrow.DataType) (*AggFunc, error) {
	f := &AggFunc{kind: kind, input: input, vk: valueKindOf(input)}
	bad := &AggTypeError{Func: kind, Type: input}
	switch kind {
	case Count:
		f.vk, f.result = vkNone, arrow.PrimitiveTypes.Int64
	case CountNonNull:
		if input == nil {
			return nil, bad
		}
		f.vk, f.result = vkNone, arrow.PrimitiveTypes.Int64
	case Sum:
		if f.vk != vkInt && f.vk != vkFloat || input.ID() == arrow.TIMESTAMP {
			return nil, bad
		}
		f.result = input
	case Avg:
		if f.vk != vkInt && f.vk != vkFloat || input.ID() == arrow.TIMESTAMP {
			return nil, bad
		}
		f.result = arrow.PrimitiveTypes.Float64
	case Min, Max, First, Last:
		if f.vk == vkNone {
			return nil, bad
		}
		f.result = input
	case CountDistinct:
		if f.vk == vkNone {
			return nil, bad
		}
		f.result = arrow.PrimitiveTypes.Int64
	default:
		return nil, fmt.Errorf("%w: aggregate kind %d", ErrUnsupported, kind)
	}
	return f, nil
}

func (f *AggFunc) Kind() AggKind                { return f.kind }
func (f *AggFunc) InputType() arrow.DataType    { return f.input }
func (f *AggFunc) ResultType() arrow.DataType   { return f.result }
func (f *AggFunc) String() string               { return f.kind.String() }
func (f *AggFunc) NewAccumulator() *Accumulator { return &Accumulator{f: f} }

// Accumulator is the running state of one aggregate for one (key, window or
// slice). It is not safe for concurrent use. Reuse one with Reset and
// UnmarshalBinary to avoid allocation on the hot path.
//
// Encoding (AppendBinary), after a tag byte holding the AggKind:
//
//	count, count_non_null: n (8 bytes)
//	sum, avg:              n (8) then sum (8: int64, or float64 bits)
//	min, max:              n (8) then value
//	first, last:           n (8), time (8), then value
//	count_distinct:        uvarint count, then the values in ascending order
//
// where n counts the non-NULL inputs (0: the result is NULL), integers are
// big-endian, a numeric value is 8 bytes and a string value a uvarint length
// and the bytes. Numeric encodings are fixed-size.
type Accumulator struct {
	f *AggFunc
	n int64 // rows counted (count) or non-NULL inputs seen
	i int64 // int value: sum, min, max, first, last
	x float64
	s string
	t int64 // time of first/last
	// count distinct
	ints map[int64]struct{}
	strs map[string]struct{}
}

// Func is the accumulator's aggregate.
func (a *Accumulator) Func() *AggFunc { return a.f }

// Reset returns a to the empty state, keeping its maps' memory.
func (a *Accumulator) Reset() {
	a.n, a.i, a.x, a.s, a.t = 0, 0, 0, "", 0
	clear(a.ints)
	clear(a.strs)
}

// view is a typed, zero-copy look at an input column.
type view struct {
	bits  []byte // validity bitmap; nil when the column has no NULLs
	off   int
	ints  []int64
	flts  []float64
	strs  *array.String
	nulls bool
}

func (v *view) valid(r int32) bool { return v.bits == nil || bitutil.BitIsSet(v.bits, v.off+int(r)) }

func (a *Accumulator) view(values arrow.Array) (view, error) {
	var v view
	if values == nil {
		if a.f.kind == Count {
			return v, nil
		}
		return v, fmt.Errorf("window: aggregate %s needs an input column", a.f.kind)
	}
	if a.f.vk != vkNone && !arrow.TypeEqual(values.DataType(), a.f.input) {
		return v, &AggTypeError{Func: a.f.kind, Type: values.DataType()}
	}
	if values.NullN() > 0 {
		v.bits, v.off, v.nulls = values.NullBitmapBytes(), values.Data().Offset(), true
	}
	switch a.f.vk {
	case vkInt:
		switch c := values.(type) {
		case *array.Int64:
			v.ints = c.Int64Values()
		case *array.Timestamp:
			ts := c.TimestampValues()
			v.ints = unsafe.Slice((*int64)(unsafe.SliceData(ts)), len(ts))
		}
	case vkFloat:
		v.flts = values.(*array.Float64).Float64Values()
	case vkString:
		v.strs = values.(*array.String)
	}
	return v, nil
}

// floatLess orders float64s with NaN above everything, so min and max are
// total and associative.
func floatLess(a, b float64) bool { return a < b || (!math.IsNaN(a) && math.IsNaN(b)) }

// Add folds the given rows of values (indices into the column) into a.
// values is nil only for Count. times, when not nil, are the event times of
// the column's rows (same indexing), and order First and Last by event time
// (ties: the earlier row in rows); without times they follow the order of
// rows and of Add calls. Use one convention per accumulator.
func (a *Accumulator) Add(values arrow.Array, times []int64, rows []int32) error {
	v, err := a.view(values)
	if err != nil {
		return err
	}
	k := a.f.kind
	if k == Count || k == CountNonNull && !v.nulls {
		a.n += int64(len(rows))
		return nil
	}
	if !v.nulls && v.ints != nil && len(rows) > 0 && (k == Sum || k == Avg || k == Min || k == Max) {
		a.addInts(v.ints, rows)
		return nil
	}
	for _, r := range rows {
		if !v.valid(r) {
			continue
		}
		if k == CountNonNull {
			a.n++
			continue
		}
		var t int64
		if times != nil {
			t = times[r]
		}
		a.addOne(&v, r, t, times != nil)
	}
	return nil
}

// addInts is the fast path for sum, avg, min and max over an int64 or
// timestamp column without NULLs.
func (a *Accumulator) addInts(vals []int64, rows []int32) {
	switch a.f.kind {
	case Sum, Avg:
		var s int64
		for _, r := range rows {
			s += vals[r]
		}
		a.i += s
	case Min:
		m := vals[rows[0]]
		for _, r := range rows[1:] {
			m = min(m, vals[r])
		}
		if a.n == 0 || m < a.i {
			a.i = m
		}
	case Max:
		m := vals[rows[0]]
		for _, r := range rows[1:] {
			m = max(m, vals[r])
		}
		if a.n == 0 || m > a.i {
			a.i = m
		}
	}
	a.n += int64(len(rows))
}

func (a *Accumulator) addOne(v *view, r int32, t int64, timed bool) {
	first := a.n == 0
	a.n++
	switch a.f.kind {
	case Sum, Avg:
		if v.ints != nil {
			a.i += v.ints[r]
		} else {
			a.x += v.flts[r]
		}
	case Min, Max:
		max := a.f.kind == Max
		switch {
		case v.ints != nil:
			if x := v.ints[r]; first || (x < a.i) != max && x != a.i {
				a.i = x
			}
		case v.flts != nil:
			if x := v.flts[r]; first || (max && floatLess(a.x, x)) || (!max && floatLess(x, a.x)) {
				a.x = x
			}
		default:
			if x := v.strs.Value(int(r)); first || (max && x > a.s) || (!max && x < a.s) {
				a.s = strings.Clone(x)
			}
		}
	case First, Last:
		var take bool
		if a.f.kind == First {
			take = first || timed && t < a.t
		} else {
			take = first || !timed || t >= a.t
		}
		if take {
			a.t = t
			switch {
			case v.ints != nil:
				a.i = v.ints[r]
			case v.flts != nil:
				a.x = v.flts[r]
			default:
				a.s = strings.Clone(v.strs.Value(int(r)))
			}
		}
	case CountDistinct:
		a.n-- // n is the set size for count distinct
		switch {
		case v.ints != nil:
			if a.ints == nil {
				a.ints = make(map[int64]struct{})
			}
			a.ints[v.ints[r]] = struct{}{}
		case v.flts != nil:
			if a.ints == nil {
				a.ints = make(map[int64]struct{})
			}
			a.ints[floatKey(v.flts[r])] = struct{}{}
		default:
			if a.strs == nil {
				a.strs = make(map[string]struct{})
			}
			if x := v.strs.Value(int(r)); !hasKey(a.strs, x) {
				a.strs[strings.Clone(x)] = struct{}{}
			}
		}
		a.n = int64(len(a.ints) + len(a.strs))
	}
}

func hasKey(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

// floatKey canonicalizes -0 and NaNs so equal SQL values share a key.
func floatKey(x float64) int64 {
	switch {
	case x == 0:
		return 0
	case math.IsNaN(x):
		return int64(math.Float64bits(math.NaN()))
	}
	return int64(math.Float64bits(x))
}

// Merge folds o, an accumulator of the same aggregate, into a. For First
// and Last, o counts as the later part: ties go to a for First and to o for
// Last (merge slices and session parts in time order). Merge is associative.
func (a *Accumulator) Merge(o *Accumulator) error {
	if a.f.kind != o.f.kind || !arrow.TypeEqual(a.f.input, o.f.input) {
		return fmt.Errorf("%w: merging %s(%v) into %s(%v)", ErrUnsupported, o.f.kind, o.f.input, a.f.kind, a.f.input)
	}
	if o.n == 0 && a.f.kind != CountDistinct {
		return nil
	}
	first := a.n == 0
	switch a.f.kind {
	case Count, CountNonNull:
		a.n += o.n
		return nil
	case Sum, Avg:
		a.i += o.i
		a.x += o.x
	case Min, Max:
		max := a.f.kind == Max
		switch a.f.vk {
		case vkInt:
			if first || (max && o.i > a.i) || (!max && o.i < a.i) {
				a.i = o.i
			}
		case vkFloat:
			if first || (max && floatLess(a.x, o.x)) || (!max && floatLess(o.x, a.x)) {
				a.x = o.x
			}
		default:
			if first || (max && o.s > a.s) || (!max && o.s < a.s) {
				a.s = o.s
			}
		}
	case First, Last:
		take := first || (a.f.kind == First && o.t < a.t) || (a.f.kind == Last && o.t >= a.t)
		if take {
			a.t, a.i, a.x, a.s = o.t, o.i, o.x, o.s
		}
	case CountDistinct:
		for k := range o.ints {
			if a.ints == nil {
				a.ints = make(map[int64]struct{}, len(o.ints))
			}
			a.ints[k] = struct{}{}
		}
		for k := range o.strs {
			if a.strs == nil {
				a.strs = make(map[string]struct{}, len(o.strs))
			}
			a.strs[k] = struct{}{}
		}
		a.n = int64(len(a.ints) + len(a.strs))
		return nil
	}
	a.n += o.n
	return nil
}

// IsNull reports whether the result is NULL (no non-NULL input, for the
// functions other than the counts).
func (a *Accumulator) IsNull() bool {
	switch a.f.kind {
	case Count, CountNonNull, CountDistinct:
		return false
	}
	return a.n == 0
}

// Int, Float and Str return the current result of an aggregate whose result
// is int64 or timestamp, float64, or string, respectively.
func (a *Accumulator) Int() int64 {
	switch a.f.kind {
	case Count, CountNonNull, CountDistinct:
		return a.n
	}
	return a.i
}

func (a *Accumulator) Float() float64 {
	if a.f.kind == Avg {
		if a.n == 0 {
			return 0
		}
		if a.f.vk == vkInt {
			return float64(a.i) / float64(a.n)
		}
		return a.x / float64(a.n)
	}
	return a.x
}

func (a *Accumulator) Str() string { return a.s }

// AppendResult appends the current result to b, which must be a builder of
// the aggregate's ResultType.
func (a *Accumulator) AppendResult(b array.Builder) error {
	if !arrow.TypeEqual(b.Type(), a.f.result) {
		return fmt.Errorf("%w: %s result of type %s into a %s builder", ErrUnsupported, a.f.kind, a.f.result, b.Type())
	}
	if a.IsNull() {
		b.AppendNull()
		return nil
	}
	switch b := b.(type) {
	case *array.Int64Builder:
		b.Append(a.Int())
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(a.Int()))
	case *array.Float64Builder:
		b.Append(a.Float())
	case *array.StringBuilder:
		b.Append(a.Str())
	default:
		return fmt.Errorf("%w: %s result builder %T", ErrUnsupported, a.f.kind, b)
	}
	return nil
}

// AppendBinary appends a's encoding (see Accumulator) to dst.
func (a *Accumulator) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, byte(a.f.kind))
	be := binary.BigEndian
	value := func(dst []byte) []byte {
		switch a.f.vk {
		case vkInt:
			return be.AppendUint64(dst, uint64(a.i))
		case vkFloat:
			return be.AppendUint64(dst, math.Float64bits(a.x))
		}
		dst = binary.AppendUvarint(dst, uint64(len(a.s)))
		return append(dst, a.s...)
	}
	switch a.f.kind {
	case Count, CountNonNull:
		return be.AppendUint64(dst, uint64(a.n)), nil
	case Sum, Avg, Min, Max:
		return value(be.AppendUint64(dst, uint64(a.n))), nil
	case First, Last:
		dst = be.AppendUint64(dst, uint64(a.n))
		return value(be.AppendUint64(dst, uint64(a.t))), nil
	}
	// CountDistinct
	dst = binary.AppendUvarint(dst, uint64(a.n))
	if a.f.vk == vkString {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range a.strs {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range keys {
			dst = binary.AppendUvarint(dst, uint64(len(k)))
			dst = append(dst, k...)
		}
		return dst, nil
	}
	keys := make([]int64, 0, len(a.ints))
	for k := range a.ints {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	for _, k := range keys {
		dst = be.AppendUint64(dst, uint64(k))
	}
	return dst, nil
}

// UnmarshalBinary replaces a's state with the encoding in b.
func (a *Accumulator) UnmarshalBinary(b []byte) error {
	a.Reset()
	corrupt := func() error {
		return fmt.Errorf("%w: %s accumulator of %d bytes", ErrCorrupt, a.f.kind, len(b))
	}
	if len(b) == 0 || AggKind(b[0]) != a.f.kind {
		return corrupt()
	}
	p := b[1:]
	be := binary.BigEndian
	u64 := func() (uint64, bool) {
		if len(p) < 8 {
			return 0, false
		}
		v := be.Uint64(p)
		p = p[8:]
		return v, true
	}
	str := func() (string, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return "", false
		}
		s := string(p[k : k+int(l)])
		p = p[k+int(l):]
		return s, true
	}
	value := func() bool {
		switch a.f.vk {
		case vkInt:
			v, ok := u64()
			a.i = int64(v)
			return ok
		case vkFloat:
			v, ok := u64()
			a.x = math.Float64frombits(v)
			return ok
		}
		s, ok := str()
		a.s = s
		return ok
	}
	switch a.f.kind {
	case Count, CountNonNull:
		n, ok := u64()
		if !ok || len(p) != 0 {
			return corrupt()
		}
		a.n = int64(n)
		return nil
	case Sum, Avg, Min, Max, First, Last:
		n, ok := u64()
		if !ok {
			return corrupt()
		}
		a.n = int64(n)
		if a.f.kind == First || a.f.kind == Last {
			t, ok := u64()
			if !ok {
				return corrupt()
			}
			a.t = int64(t)
		}
		if !value() || len(p) != 0 {
			return corrupt()
		}
		return nil
	}
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return corrupt()
	}
	p = p[k:]
	for range n {
		if a.f.vk == vkString {
			s, ok := str()
			if !ok {
				return corrupt()
			}
			if a.strs == nil {
				a.strs = make(map[string]struct{}, n)
			}
			a.strs[s] = struct{}{}
		} else {
			v, ok := u64()
			if !ok {
				return corrupt()
			}
			if a.ints == nil {
				a.ints = make(map[int64]struct{}, n)
			}
			a.ints[int64(v)] = struct{}{}
		}
	}
	if len(p) != 0 || uint64(len(a.ints)+len(a.strs)) != n {
		return corrupt()
	}
	a.n = int64(n)
	return nil
}
