package file

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// defaultPartition is the folder value of NULL (and of the empty string),
// as Hive, Spark and DuckDB write and read it.
const defaultPartition = "__HIVE_DEFAULT_PARTITION__"

// hiveEscape appends s to dst with the bytes Hive escapes in path names
// written as %XX (upper-case hex), so any reader that unescapes Hive paths
// gets s back.
func hiveEscape(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0 {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		} else {
			dst = append(dst, c)
		}
	}
	return dst
}

// timeFormat is a parsed partition_time format.
type timeFormat struct {
	parts []timePart
	unit  byte   // the finest directive: one of "YmdHMS"
	null  string // the folders of a NULL time
}

// timePart is a literal (dir == 0) or a directive.
type timePart struct {
	lit string
	dir byte
}

func parseTimeFormat(s string) (timeFormat, error) {
	var tf timeFormat
	rank := map[byte]int{'Y': 1, 'm': 2, 'd': 3, 'H': 4, 'M': 5, 'S': 6}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			tf.parts = append(tf.parts, timePart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return tf, errors.New("ends with a lone '%'")
		}
		i++
		d := s[i]
		if d == '%' {
			lit.WriteByte('%')
			continue
		}
		if rank[d] == 0 {
			return tf, fmt.Errorf("unknown directive %%%c (known: %%Y %%m %%d %%H %%M %%S %%%%)", d)
		}
		flush()
		tf.parts = append(tf.parts, timePart{dir: d})
		if rank[d] > rank[tf.unit] {
			tf.unit = d
		}
	}
	flush()
	if tf.unit == 0 {
		return tf, errors.New("has no directive such as %Y")
	}
	// The folders must be a clean relative path that Hive readers do not
	// skip and that cannot meet the sink's _pending folder.
	sample := string(tf.appendTime(nil, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)))
	var null []string
	segs := strings.Split(s, "/")
	for i, seg := range strings.Split(sample, "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			return tf, errors.New("has an empty, '.' or '..' folder")
		case seg[0] == '_' || seg[0] == '.':
			return tf, fmt.Errorf("folder %q starts with '_' or '.', which readers skip", seg)
		case strings.ContainsAny(seg, "\\\x00"):
			return tf, fmt.Errorf("folder %q has a backslash or a NUL", seg)
		}
		// A NULL time goes to key=__HIVE_DEFAULT_PARTITION__ in every
		// folder that holds a directive.
		if f := segs[i]; strings.Contains(strings.ReplaceAll(f, "%%", ""), "%") {
			if k, _, ok := strings.Cut(f, "="); ok && !strings.Contains(k, "%") {
				null = append(null, k+"="+defaultPartition)
			} else {
				null = append(null, defaultPartition)
			}
		} else {
			null = append(null, seg)
		}
	}
	tf.null = strings.Join(null, "/")
	return tf, nil
}

func appendPadded(dst []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for n := len(s); n < width; n++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func (tf *timeFormat) appendTime(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	for _, p := range tf.parts {
		switch p.dir {
		case 0:
			dst = append(dst, p.lit...)
		case 'Y':
			dst = appendPadded(dst, y, 4)
		case 'm':
			dst = appendPadded(dst, int(mo), 2)
		case 'd':
			dst = appendPadded(dst, d, 2)
		case 'H':
			dst = appendPadded(dst, h, 2)
		case 'M':
			dst = appendPadded(dst, mi, 2)
		case 'S':
			dst = appendPadded(dst, s, 2)
		}
	}
	return dst
}

// bucket returns the start and end of t's bucket at the format's finest
// unit, in t's location.
func (tf *timeFormat) bucket(t time.Time) (time.Time, time.Time) {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	loc := t.Location()
	switch tf.unit {
	case 'Y':
		start := time.Date(y, 1, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(1, 0, 0)
	case 'm':
		start := time.Date(y, mo, 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0)
	case 'd':
		start := time.Date(y, mo, d, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 0, 1)
	case 'H':
		start := time.Date(y, mo, d, h, 0, 0, 0, loc)
		return start, start.Add(time.Hour)
	case 'M':
		start := time.Date(y, mo, d, h, mi, 0, 0, loc)
		return start, start.Add(time.Minute)
	default:
		start := time.Date(y, mo, d, h, mi, s, 0, loc)
		return start, start.Add(time.Second)
	}
}

// partitioner maps each row of a batch to its folder.
type partitioner struct {
	// Time bucketing; tcol < 0 when off.
	tcol   int
	tf     timeFormat
	loc    *time.Location // nil: the column's values are wall-clock times
	tsUnit arrow.TimeUnit
	date   bool
	// The time folders of the values in [lo, hi), cached.
	lo, hi int64
	cached []byte

	cols     []int
	prefixes []string // escaped "name="

	buf, prev []byte
	index     map[string]int
	groups    []group
}

// group is the rows of a batch that go to one folder.
type group struct {
	folder string
	rows   []int32
}

// newPartitioner checks the partition columns against schema. It returns
// nil when the sink does not partition.
func newPartitioner(cfg *Config, schema *arrow.Schema) (*partitioner, error) {
	if len(cfg.PartitionBy) == 0 && cfg.PartitionTime == nil {
		return nil, nil
	}
	p := &partitioner{tcol: -1, index: map[string]int{}}
	var err error
	if pt := cfg.PartitionTime; pt != nil {
		idx := schema.FieldIndices(pt.Column)
		if len(idx) != 1 {
			return nil, fmt.Errorf("option %q: column %q is not in the input (columns: %s)", "partition_time.column", pt.Column, columnNames(schema))
		}
		p.tcol = idx[0]
		switch t := schema.Field(p.tcol).Type.(type) {
		case *arrow.TimestampType:
			p.tsUnit = t.Unit
			if t.TimeZone != "" {
				if p.loc, err = time.LoadLocation(pt.TimeZone); err != nil {
					return nil, fmt.Errorf("option %q: value %q: %w", "partition_time.time_zone", pt.TimeZone, err)
				}
			}
		case *arrow.Date32Type:
			p.date = true
		default:
			return nil, fmt.Errorf("option %q: column %q is %s, not a timestamp or date32", "partition_time.column", pt.Column, t)
		}
		if p.tf, err = parseTimeFormat(pt.Format); err != nil {
			return nil, fmt.Errorf("option %q: value %q: %w", "partition_time.format", pt.Format, err)
		}
		p.lo, p.hi = 0, 0
	}
	for _, name := range cfg.PartitionBy {
		idx := schema.FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("option %q: column %q is not in the input (columns: %s)", "partition_by", name, columnNames(schema))
		}
		switch t := schema.Field(idx[0]).Type; t.ID() {
		case arrow.BOOL, arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
			arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.FLOAT32, arrow.FLOAT64,
			arrow.STRING, arrow.LARGE_STRING, arrow.DATE32, arrow.TIMESTAMP:
		default:
			return nil, fmt.Errorf("option %q: column %q is %s, which cannot name a folder", "partition_by", name, t)
		}
		p.cols = append(p.cols, idx[0])
		p.prefixes = append(p.prefixes, string(hiveEscape(nil, name))+"=")
	}
	return p, nil
}

func columnNames(s *arrow.Schema) string {
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// split groups the rows of b by folder (each ending in '/'), folders in
// the order of their first row. The result is valid until the next call.
func (p *partitioner) split(b arrow.RecordBatch) []group {
	clear(p.index)
	for i := range p.groups {
		p.groups[i].rows = p.groups[i].rows[:0]
	}
	p.groups = p.groups[:0]
	var tcol arrow.Array
	if p.tcol >= 0 {
		tcol = b.Column(p.tcol)
	}
	g := -1
	for i := range int(b.NumRows()) {
		p.buf = p.buf[:0]
		if tcol != nil {
			p.buf = p.appendTimeFolders(p.buf, tcol, i)
			p.buf = append(p.buf, '/')
		}
		for k, c := range p.cols {
			p.buf = append(p.buf, p.prefixes[k]...)
			p.buf = appendValue(p.buf, b.Column(c), i)
			p.buf = append(p.buf, '/')
		}
		if g < 0 || !bytes.Equal(p.buf, p.prev) {
			var ok bool
			if g, ok = p.index[string(p.buf)]; !ok {
				g = len(p.groups)
				p.index[string(p.buf)] = g
				if g < cap(p.groups) {
					p.groups = p.groups[:g+1]
					p.groups[g].folder = string(p.buf)
				} else {
					p.groups = append(p.groups, group{folder: string(p.buf)})
				}
			}
			p.prev = append(p.prev[:0], p.buf...)
		}
		p.groups[g].rows = append(p.groups[g].rows, int32(i))
	}
	return p.groups
}

func (p *partitioner) appendTimeFolders(dst []byte, col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return append(dst, p.tf.null...)
	}
	var v int64
	var t time.Time
	if p.date {
		v = int64(col.(*array.Date32).Value(i))
		if p.lo <= v && v < p.hi {
			return append(dst, p.cached...)
		}
		t = time.Unix(v*86400, 0).UTC()
	} else {
		v = int64(col.(*array.Timestamp).Value(i))
		if p.lo <= v && v < p.hi {
			return append(dst, p.cached...)
		}
		t = toTime(v, p.tsUnit)
		if p.loc != nil {
			t = t.In(p.loc)
		}
	}
	p.cached = p.tf.appendTime(p.cached[:0], t)
	start, end := p.tf.bucket(t)
	if p.date {
		p.lo, p.hi = floorDiv(start.Unix(), 86400), ceilDiv(end.Unix(), 86400)
	} else {
		p.lo, p.hi = fromTime(start, p.tsUnit, false), fromTime(end, p.tsUnit, true)
	}
	if v < p.lo || v >= p.hi {
		p.lo, p.hi = 0, 0 // a DST corner the bucket does not cover: no caching
	}
	return append(dst, p.cached...)
}

func toTime(v int64, u arrow.TimeUnit) time.Time {
	switch u {
	case arrow.Second:
		return time.Unix(v, 0).UTC()
	case arrow.Millisecond:
		return time.UnixMilli(v).UTC()
	case arrow.Microsecond:
		return time.UnixMicro(v).UTC()
	default:
		return time.Unix(0, v).UTC()
	}
}

// fromTime converts t to a value of unit u, rounding down or (ceil) up;
// out-of-range values saturate.
func fromTime(t time.Time, u arrow.TimeUnit, ceil bool) int64 {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	var per int64
	switch u {
	case arrow.Second:
		if ceil && nsec > 0 {
			return sec + 1
		}
		return sec
	case arrow.Millisecond:
		per = 1e6
	case arrow.Microsecond:
		per = 1e3
	default:
		per = 1
	}
	scale := int64(1e9) / per
	if sec > math.MaxInt64/scale-1 || sec < math.MinInt64/scale+1 {
		if sec > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	v := sec*scale + nsec/per
	if ceil && nsec%per != 0 {
		v++
	}
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

// appendValue appends the folder value of row i of col: Hive-escaped,
// with NULL and "" as __HIVE_DEFAULT_PARTITION__.
func appendValue(dst []byte, col arrow.Array, i int) []byte {
	if col.IsNull(i) {
		return append(dst, defaultPartition...)
	}
	switch a := col.(type) {
	case *array.String:
		if s := a.Value(i); s != "" {
			return hiveEscape(dst, s)
		}
		return append(dst, defaultPartition...)
	case *array.LargeString:
		if s := a.Value(i); s != "" {
			return hiveEscape(dst, s)
		}
		return append(dst, defaultPartition...)
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i))
	case *array.Int8:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int16:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10)
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10)
	case *array.Uint8:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10)
	case *array.Uint16:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10)
	case *array.Uint32:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10)
	case *array.Uint64:
		return strconv.AppendUint(dst, a.Value(i), 10)
	case *array.Float32:
		return strconv.AppendFloat(dst, float64(a.Value(i)), 'g', -1, 32)
	case *array.Float64:
		return strconv.AppendFloat(dst, a.Value(i), 'g', -1, 64)
	case *array.Date32:
		return time.Unix(int64(a.Value(i))*86400, 0).UTC().AppendFormat(dst, time.DateOnly)
	case *array.Timestamp:
		// Instants are written in UTC, wall-clock times as they read;
		// ':' is escaped as %3A.
		t := toTime(int64(a.Value(i)), a.DataType().(*arrow.TimestampType).Unit)
		var tmp [40]byte
		return hiveEscape(dst, string(t.AppendFormat(tmp[:0], "2006-01-02 15:04:05.999999999")))
	}
	// newPartitioner admits only the types above.
	panic(fmt.Sprintf("file: internal error: no folder value for %s", col.DataType()))
}
