package oracle

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Normalize maps a value from DuckDB or from a Sluice sink to the one Go
// type both sides are compared in: int64 for every integer type (an
// unsigned or huge integer that does not fit is an error), float64 for
// floats and DECIMALs (DECIMAL results are compared with the float
// tolerance), string for text and blobs, time.Time in UTC for timestamps,
// bool, or nil for NULL.
func Normalize(v any) (any, error) {
	switch v := v.(type) {
	case nil, int64, float64, string, bool:
		return v, nil
	case int8:
		return int64(v), nil
	case int16:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case int:
		return int64(v), nil
	case uint8:
		return int64(v), nil
	case uint16:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case uint64:
		if v > math.MaxInt64 {
			return nil, fmt.Errorf("unsigned value %d does not fit an int64", v)
		}
		return int64(v), nil
	case *big.Int:
		if !v.IsInt64() {
			return nil, fmt.Errorf("huge integer %s does not fit an int64", v)
		}
		return v.Int64(), nil
	case float32:
		return float64(v), nil
	case duckdb.Decimal:
		return v.Float64(), nil
	case []byte:
		return string(v), nil
	case time.Time:
		return v.UTC(), nil
	}
	return nil, fmt.Errorf("unsupported value %v of type %T", v, v)
}

// RelTol is the relative tolerance within which two float values are equal.
// It absorbs the different evaluation order of sums and averages, and
// DECIMAL versus float64 arithmetic, and nothing more.
const RelTol = 1e-9

// keyed is a row with its non-float columns encoded as a string (type and
// value) and its float columns apart, for sorting and merging.
type keyed struct {
	key    string
	floats []float64
	row    []any
}

// appendKey appends an unambiguous encoding of v's type and value; v is a
// Normalize result.
func appendKey(dst []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(dst, 'N')
	case int64:
		dst = strconv.AppendInt(append(dst, 'i'), v, 10)
		return append(dst, ';')
	case float64: // only in exact (changelog) keys
		dst = strconv.AppendUint(append(dst, 'f'), math.Float64bits(v), 16)
		return append(dst, ';')
	case string:
		dst = strconv.AppendInt(append(dst, 's'), int64(len(v)), 10)
		return append(append(dst, ':'), v...)
	case time.Time:
		dst = strconv.AppendInt(append(dst, 't'), v.UnixNano(), 10)
		return append(dst, ';')
	case bool:
		return strconv.AppendBool(append(dst, 'b'), v)
	}
	panic(fmt.Sprintf("oracle: appendKey of non-normalized %T", v))
}

// isFloat reports whether column c of the rows holds floats (or NULLs) and
// at least one float.
func floatColumns(rows ...[][]any) func(c int) bool {
	return func(c int) bool {
		seen := false
		for _, rs := range rows {
			for _, r := range rs {
				switch r[c].(type) {
				case float64:
					seen = true
				case nil:
				default:
					return false
				}
			}
		}
		return seen
	}
}

func keyRows(rows [][]any, float []bool) []keyed {
	out := make([]keyed, len(rows))
	var buf []byte
	for i, r := range rows {
		buf = buf[:0]
		k := keyed{row: r}
		for c, v := range r {
			if f, ok := v.(float64); ok && float[c] {
				k.floats = append(k.floats, f)
				buf = append(buf, 'F')
				continue
			}
			buf = appendKey(buf, v)
		}
		k.key = string(buf)
		out[i] = k
	}
	slices.SortFunc(out, func(a, b keyed) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return slices.Compare(a.floats, b.floats)
	})
	return out
}

func floatsClose(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] || math.IsNaN(a[i]) && math.IsNaN(b[i]) {
			continue
		}
		if math.Abs(a[i]-b[i]) > RelTol*math.Max(math.Abs(a[i]), math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// Diff is how two multisets of rows differ: rows only the engine under test
// produced (Extra) and rows only the oracle produced (Missing).
type Diff struct {
	Columns        []string
	Missing, Extra [][]any
	Got, Want      int // row counts
}

// Empty reports whether the multisets are equal.
func (d Diff) Empty() bool { return len(d.Missing) == 0 && len(d.Extra) == 0 }

// String describes the difference with up to 10 rows of each kind.
func (d Diff) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "got %d rows, want %d: %d missing, %d extra; columns %v",
		d.Got, d.Want, len(d.Missing), len(d.Extra), d.Columns)
	show := func(what string, rows [][]any) {
		for i, r := range rows {
			if i == 10 {
				fmt.Fprintf(&sb, "\n  ... %d more %s", len(rows)-10, what)
				break
			}
			fmt.Fprintf(&sb, "\n  %s %s", what, FormatRow(r))
		}
	}
	show("missing", d.Missing)
	show("extra", d.Extra)
	return sb.String()
}

// FormatRow prints a row with its values' Go syntax for strings and RFC 3339
// for times.
func FormatRow(r []any) string {
	parts := make([]string, len(r))
	for i, v := range r {
		switch v := v.(type) {
		case nil:
			parts[i] = "NULL"
		case string:
			if len(v) > 40 {
				v = v[:40] + "…"
			}
			parts[i] = strconv.Quote(v)
		case time.Time:
			parts[i] = v.Format("2006-01-02T15:04:05.000Z07:00")
		default:
			parts[i] = fmt.Sprint(v)
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Compare compares got and want as multisets of rows with the given
// columns, all values normalized. Non-float values must be equal (same type
// and value); in a column where both sides hold floats (or NULLs), floats
// are equal within RelTol. A column of floats on one side and integers on
// the other is a difference.
func Compare(columns []string, got, want [][]any) Diff {
	isFloat := floatColumns(got, want)
	float := make([]bool, len(columns))
	for c := range columns {
		float[c] = isFloat(c)
	}
	g, w := keyRows(got, float), keyRows(want, float)
	d := Diff{Columns: columns, Got: len(got), Want: len(want)}
	i, j := 0, 0
	for i < len(g) || j < len(w) {
		var c int
		switch {
		case i == len(g):
			c = 1
		case j == len(w):
			c = -1
		default:
			c = cmp.Compare(g[i].key, w[j].key)
			if c == 0 && !floatsClose(g[i].floats, w[j].floats) {
				c = slices.Compare(g[i].floats, w[j].floats)
			}
		}
		switch {
		case c < 0:
			d.Extra = append(d.Extra, g[i].row)
			i++
		case c > 0:
			d.Missing = append(d.Missing, w[j].row)
			j++
		default:
			i++
			j++
		}
	}
	return d
}

// Changelog operations in the _op column of an updating stream.
const (
	OpInsert       = 0 // +I
	OpUpdateBefore = 1 // -U
	OpUpdateAfter  = 2 // +U
	OpDelete       = 3 // -D
)

// Materialize applies a changelog to an empty table and returns the table:
// ops[i] is row i's operation; +I and +U add the row, -U and -D remove one
// equal row (every value equal, floats bit for bit, as a retraction repeats
// the row it retracts). The result does not depend on the order of the
// changes, only on their net count per row, so the rows of several sink
// subtasks may be concatenated in any order. A row whose net count is
// negative (retracted more often than added) is an error, as is an unknown
// operation.
func Materialize(ops []int64, rows [][]any) ([][]any, error) {
	type entry struct {
		row []any
		n   int
	}
	net := map[string]*entry{}
	var order []string
	var buf []byte
	for i, r := range rows {
		var delta int
		switch ops[i] {
		case OpInsert, OpUpdateAfter:
			delta = 1
		case OpUpdateBefore, OpDelete:
			delta = -1
		default:
			return nil, fmt.Errorf("oracle: changelog row %d %s: _op %d is not 0 (+I), 1 (-U), 2 (+U) or 3 (-D)", i, FormatRow(r), ops[i])
		}
		buf = buf[:0]
		for _, v := range r {
			buf = appendKey(buf, v)
		}
		e, ok := net[string(buf)]
		if !ok {
			e = &entry{row: r}
			net[string(buf)] = e
			order = append(order, string(buf))
		}
		e.n += delta
	}
	var out [][]any
	for _, k := range order {
		e := net[k]
		if e.n < 0 {
			return nil, fmt.Errorf("oracle: changelog retracts row %s %d more times than it adds it", FormatRow(e.row), -e.n)
		}
		for range e.n {
			out = append(out, e.row)
		}
	}
	return out, nil
}
