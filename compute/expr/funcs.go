package expr

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
)

var (
	tInt    = arrow.PrimitiveTypes.Int64
	tFloat  = arrow.PrimitiveTypes.Float64
	tString = arrow.BinaryTypes.String
	tBool   = arrow.FixedWidthTypes.Boolean
	tTSms   = &arrow.TimestampType{Unit: arrow.Millisecond}
)

func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// ---- CAST ----

// sqlType maps an SQL type name to an Arrow type.
func sqlType(t TypeName) (arrow.DataType, error) {
	switch t.Name {
	case "BOOLEAN", "BOOL":
		return tBool, nil
	case "TINYINT":
		return arrow.PrimitiveTypes.Int8, nil
	case "SMALLINT":
		return arrow.PrimitiveTypes.Int16, nil
	case "INT", "INTEGER":
		return arrow.PrimitiveTypes.Int32, nil
	case "BIGINT":
		return tInt, nil
	case "FLOAT", "REAL":
		return arrow.PrimitiveTypes.Float32, nil
	case "DOUBLE":
		return tFloat, nil
	case "VARCHAR", "STRING", "CHAR", "TEXT":
		return tString, nil
	case "DATE":
		return arrow.FixedWidthTypes.Date32, nil
	case "TIMESTAMP", "TIMESTAMP_LTZ":
		p := 6
		if len(t.Params) > 0 {
			p = t.Params[0]
		}
		var u arrow.TimeUnit
		switch {
		case p < 0 || p > 9 || len(t.Params) > 1:
			return nil, fmt.Errorf("bad precision for %s: want TIMESTAMP(0..9)", t)
		case p == 0:
			u = arrow.Second
		case p <= 3:
			u = arrow.Millisecond
		case p <= 6:
			u = arrow.Microsecond
		default:
			u = arrow.Nanosecond
		}
		tz := ""
		if t.Name == "TIMESTAMP_LTZ" {
			tz = "UTC"
		}
		return &arrow.TimestampType{Unit: u, TimeZone: tz}, nil
	}
	return nil, fmt.Errorf("unknown type %s (want BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, VARCHAR, STRING, DATE, TIMESTAMP[(p)])", t.Name)
}

func (c *compiler) cast(n *Cast) (cnode, error) {
	x, err := c.compileCanon(n.X)
	if err != nil {
		return nil, err
	}
	target, err := sqlType(n.Type)
	if err != nil {
		return nil, c.errf(n.Type.P, "CAST: %v", err)
	}
	ct := canonType(target)
	from := x.dtype()
	fk, tk := mustKind(from), mustKind(ct)
	var r cnode
	rowCast := func(f func(ec *evalCtx, a []scalar) (scalar, error), fails bool) cnode {
		if n.Try && fails {
			inner := f
			f = func(ec *evalCtx, a []scalar) (scalar, error) {
				v, err := inner(ec, a)
				if err != nil {
					return scalar{null: true}, nil
				}
				return v, nil
			}
			fails = false
		}
		return c.fold(&rowFn{name: "CAST", pos: n.P, args: []cnode{x}, t: ct, strict: true, fails: fails, f: f})
	}
	switch {
	case fk == kNull:
		r = nullConst(ct)
	case arrow.TypeEqual(from, ct):
		r = x
	case fk == tk || fk == kInt && tk == kFloat || fk == kFloat && tk == kInt || fk == kTS && tk == kDate || fk == kDate && tk == kTS:
		r = c.fold(&convNode{x: x, t: ct})
	case tk == kString:
		r = rowCast(toStringFn(from), false)
	case fk == kString && tk == kInt:
		r = rowCast(func(_ *evalCtx, a []scalar) (scalar, error) {
			v, err := strconv.ParseInt(strings.TrimSpace(a[0].s), 10, 64)
			if err != nil {
				return scalar{}, fmt.Errorf("%w: %q is not a BIGINT", ErrInvalidValue, a[0].s)
			}
			return scalar{i: v}, nil
		}, true)
	case fk == kString && tk == kFloat:
		r = rowCast(func(_ *evalCtx, a []scalar) (scalar, error) {
			v, err := strconv.ParseFloat(strings.TrimSpace(a[0].s), 64)
			if err != nil {
				return scalar{}, fmt.Errorf("%w: %q is not a DOUBLE", ErrInvalidValue, a[0].s)
			}
			return scalar{f: v}, nil
		}, true)
	case fk == kString && tk == kBool:
		r = rowCast(func(_ *evalCtx, a []scalar) (scalar, error) {
			switch strings.ToLower(strings.TrimSpace(a[0].s)) {
			case "true", "t", "1", "yes", "y":
				return scalar{b: true}, nil
			case "false", "f", "0", "no", "n":
				return scalar{b: false}, nil
			}
			return scalar{}, fmt.Errorf("%w: %q is not a BOOLEAN", ErrInvalidValue, a[0].s)
		}, true)
	case fk == kString && (tk == kTS || tk == kDate):
		r = rowCast(func(_ *evalCtx, a []scalar) (scalar, error) { return parseTemporal(a[0].s, ct) }, true)
	case (fk == kInt || fk == kFloat) && tk == kBool:
		r = rowCast(func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{b: a[0].i != 0 || a[0].f != 0}, nil }, false)
	case fk == kBool && tk == kInt:
		r = rowCast(func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{i: int64(b2u(a[0].b))}, nil }, false)
	case fk == kBool && tk == kFloat:
		r = rowCast(func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{f: float64(b2u(a[0].b))}, nil }, false)
	default:
		return nil, c.errf(n.P, "cannot CAST %s AS %s", typeName(from), n.Type)
	}
	if !arrow.TypeEqual(ct, target) {
		r = c.fold(&convNode{x: r, t: target})
	}
	return r, nil
}

func formatFloat(b []byte, f float64) []byte {
	s := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if !strings.ContainsAny(bytesString(b[s:]), ".eIN") {
		b = append(b, ".0"...)
	}
	return b
}

func toStringFn(from arrow.DataType) func(ec *evalCtx, a []scalar) (scalar, error) {
	k := mustKind(from)
	return func(ec *evalCtx, a []scalar) (scalar, error) {
		b := ec.scr[:0]
		switch k {
		case kInt:
			b = strconv.AppendInt(b, a[0].i, 10)
		case kFloat:
			b = formatFloat(b, a[0].f)
		case kBool:
			if a[0].b {
				b = append(b, "TRUE"...)
			} else {
				b = append(b, "FALSE"...)
			}
		case kTS:
			b = formatTS(b, from, a[0].i)
		case kDate:
			b = time.Unix(a[0].i*86400, 0).UTC().AppendFormat(b, "2006-01-02")
		}
		ec.scr = b
		return scalar{s: bytesString(b)}, nil
	}
}

// ---- function calls ----

type fnSpec struct {
	min, max int // argument counts; max < 0 means variadic
	build    func(c *compiler, call *Call, args []cnode) (cnode, error)
}

var functions map[string]fnSpec

func init() {
	functions = map[string]fnSpec{
		"lower": {1, 1, strFn(tString, fnLower)},
		"upper": {1, 1, strFn(tString, fnUpper)},
		"length": {1, 1, strFn(tInt, func(_ *evalCtx, a []scalar) (scalar, error) {
			return scalar{i: int64(utf8.RuneCountInString(a[0].s))}, nil
		})},
		"char_length": {1, 1, strFn(tInt, func(_ *evalCtx, a []scalar) (scalar, error) {
			return scalar{i: int64(utf8.RuneCountInString(a[0].s))}, nil
		})},
		"trim":           {1, 1, strFn(tString, func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{s: strings.Trim(a[0].s, " ")}, nil })},
		"ltrim":          {1, 1, strFn(tString, func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{s: strings.TrimLeft(a[0].s, " ")}, nil })},
		"rtrim":          {1, 1, strFn(tString, func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{s: strings.TrimRight(a[0].s, " ")}, nil })},
		"substring":      {2, 3, buildSubstr},
		"substr":         {2, 3, buildSubstr},
		"concat":         {1, -1, buildConcat},
		"replace":        {3, 3, strFn(tString, fnReplace, kString, kString, kString)},
		"regexp_extract": {2, 3, buildRegexpExtract},
		"regexp_like":    {2, 2, buildRegexpLike},
		"regexp":         {2, 2, buildRegexpLike},
		"split_index":    {3, 3, strFn(tString, fnSplitIndex, kString, kString, kInt)},
		"count_char":     {2, 2, buildCountChar},
		"starts_with":    {2, 2, strFn(tBool, func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{b: strings.HasPrefix(a[0].s, a[1].s)}, nil }, kString, kString)},
		"ends_with":      {2, 2, strFn(tBool, func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{b: strings.HasSuffix(a[0].s, a[1].s)}, nil }, kString, kString)},
		"position":       {2, 2, strFn(tInt, func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{i: runePos(a[1].s, a[0].s)}, nil }, kString, kString)},
		"strpos":         {2, 2, strFn(tInt, func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{i: runePos(a[0].s, a[1].s)}, nil }, kString, kString)},

		"coalesce": {1, -1, buildCoalesce},
		"ifnull":   {2, 2, buildCoalesce},
		"nvl":      {2, 2, buildCoalesce},
		"nullif":   {2, 2, buildNullif},
		"if":       {3, 3, buildIf},

		"abs":     {1, 1, numFn(false, func(a scalar, k kind) scalar { return scalar{i: absInt(a.i), f: math.Abs(a.f)} })},
		"sign":    {1, 1, numFn(false, func(a scalar, k kind) scalar { return scalar{i: sgn(float64(a.i)), f: float64(sgn(a.f))} })},
		"floor":   {1, 1, numFn(false, func(a scalar, k kind) scalar { return scalar{i: a.i, f: math.Floor(a.f)} })},
		"ceil":    {1, 1, numFn(false, func(a scalar, k kind) scalar { return scalar{i: a.i, f: math.Ceil(a.f)} })},
		"ceiling": {1, 1, numFn(false, func(a scalar, k kind) scalar { return scalar{i: a.i, f: math.Ceil(a.f)} })},
		"sqrt":    {1, 1, numFn(true, func(a scalar, k kind) scalar { return scalar{f: math.Sqrt(a.f)} })},
		"exp":     {1, 1, numFn(true, func(a scalar, k kind) scalar { return scalar{f: math.Exp(a.f)} })},
		"ln":      {1, 1, numFn(true, func(a scalar, k kind) scalar { return scalar{f: math.Log(a.f)} })},
		"log10":   {1, 1, numFn(true, func(a scalar, k kind) scalar { return scalar{f: math.Log10(a.f)} })},
		"round":   {1, 2, buildRound},
		"mod": {2, 2, func(c *compiler, call *Call, args []cnode) (cnode, error) {
			return c.arith(call, call.Args[0], call.Args[1], args[0], args[1], '%')
		}},
		"power": {2, 2, buildPower},
		"pow":   {2, 2, buildPower},

		"year":         {1, 1, timeFieldFn("year")},
		"quarter":      {1, 1, timeFieldFn("quarter")},
		"month":        {1, 1, timeFieldFn("month")},
		"day":          {1, 1, timeFieldFn("day")},
		"dayofmonth":   {1, 1, timeFieldFn("day")},
		"dayofweek":    {1, 1, timeFieldFn("dow")},
		"dayofyear":    {1, 1, timeFieldFn("doy")},
		"hour":         {1, 1, timeFieldFn("hour")},
		"minute":       {1, 1, timeFieldFn("minute")},
		"second":       {1, 1, timeFieldFn("second")},
		"extract":      {2, 2, buildExtract},
		"date_format":  {2, 2, buildDateFormat},
		"to_timestamp": {1, 2, buildToTimestamp},
		"floor_to":     {2, 2, buildTruncTo(false)},
		"ceil_to":      {2, 2, buildTruncTo(true)},
		"date_trunc": {2, 2, func(c *compiler, call *Call, args []cnode) (cnode, error) {
			return buildTruncTo(false)(c, &Call{P: call.P, Name: call.Name, Args: []Node{call.Args[1], call.Args[0]}}, []cnode{args[1], args[0]})
		}},
	}
}

func (c *compiler) call(n *Call) (cnode, error) {
	spec, ok := functions[n.Name]
	if !ok {
		return nil, c.errf(n.P, "unknown function %s", n.Name)
	}
	if len(n.Args) < spec.min || spec.max >= 0 && len(n.Args) > spec.max {
		want := strconv.Itoa(spec.min)
		switch {
		case spec.max < 0:
			want = "at least " + want
		case spec.max != spec.min:
			want += " to " + strconv.Itoa(spec.max)
		}
		return nil, c.errf(n.P, "function %s takes %s arguments, got %d", n.Name, want, len(n.Args))
	}
	args := make([]cnode, len(n.Args))
	for i, a := range n.Args {
		var err error
		if args[i], err = c.compileCanon(a); err != nil {
			return nil, err
		}
	}
	return spec.build(c, n, args)
}

// argKind checks that argument i has one of the kinds (NULL is accepted and
// typed as the first kind).
func (c *compiler) argKind(call *Call, args []cnode, i int, kinds ...kind) (cnode, error) {
	k := mustKind(args[i].dtype())
	if k == kNull {
		var t arrow.DataType
		switch kinds[0] {
		case kInt:
			t = tInt
		case kFloat:
			t = tFloat
		case kBool:
			t = tBool
		case kTS:
			t = tTSms
		case kDate:
			t = arrow.FixedWidthTypes.Date32
		default:
			t = tString
		}
		return nullConst(t), nil
	}
	for _, want := range kinds {
		if k == want {
			return args[i], nil
		}
	}
	names := make([]string, len(kinds))
	for j, w := range kinds {
		names[j] = w.String()
	}
	return nil, c.errf(call.Args[i].Pos(), "function %s: argument %d must be %s, got %s", call.Name, i+1, strings.Join(names, " or "), typeName(args[i].dtype()))
}

func (c *compiler) litString(call *Call, args []cnode, i int) (string, error) {
	k, ok := isConstNode(args[i])
	if !ok || k.v.null || mustKind(k.t) != kString {
		return "", c.errf(call.Args[i].Pos(), "function %s: argument %d must be a string literal, got %s", call.Name, i+1, call.Args[i])
	}
	return k.v.s, nil
}

func (c *compiler) litInt(call *Call, args []cnode, i int) (int64, error) {
	k, ok := isConstNode(args[i])
	if !ok || k.v.null || mustKind(k.t) != kInt {
		return 0, c.errf(call.Args[i].Pos(), "function %s: argument %d must be an integer literal, got %s", call.Name, i+1, call.Args[i])
	}
	return k.v.i, nil
}

func (c *compiler) row(call *Call, args []cnode, t arrow.DataType, fails bool, f func(ec *evalCtx, a []scalar) (scalar, error)) cnode {
	return c.fold(&rowFn{name: call.Name, pos: call.P, args: args, t: t, strict: true, fails: fails, f: f})
}

// strFn builds a strict row function whose arguments have the given kinds
// (default: one string).
func strFn(out arrow.DataType, f func(ec *evalCtx, a []scalar) (scalar, error), kinds ...kind) func(*compiler, *Call, []cnode) (cnode, error) {
	if len(kinds) == 0 {
		kinds = []kind{kString}
	}
	return func(c *compiler, call *Call, args []cnode) (cnode, error) {
		for i := range args {
			var err error
			if args[i], err = c.argKind(call, args, i, kinds[i]); err != nil {
				return nil, err
			}
		}
		return c.row(call, args, out, false, f), nil
	}
}

func mapRunes(ec *evalCtx, s string, f func(rune) rune) scalar {
	b := ec.scr[:0]
	for i := 0; i < len(s); {
		if ch := s[i]; ch < utf8.RuneSelf {
			b = append(b, byte(f(rune(ch))))
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			b = append(b, s[i]) // keep invalid bytes as they are
		} else {
			b = utf8.AppendRune(b, f(r))
		}
		i += w
	}
	ec.scr = b
	return scalar{s: bytesString(b)}
}

func fnLower(ec *evalCtx, a []scalar) (scalar, error) {
	return mapRunes(ec, a[0].s, unicode.ToLower), nil
}
func fnUpper(ec *evalCtx, a []scalar) (scalar, error) {
	return mapRunes(ec, a[0].s, unicode.ToUpper), nil
}

func fnConcat(ec *evalCtx, a []scalar) (scalar, error) {
	b := ec.scr[:0]
	for _, x := range a {
		b = append(b, x.s...)
	}
	ec.scr = b
	return scalar{s: bytesString(b)}, nil
}

func fnReplace(ec *evalCtx, a []scalar) (scalar, error) {
	s, from, to := a[0].s, a[1].s, a[2].s
	if from == "" {
		return scalar{s: s}, nil
	}
	b := ec.scr[:0]
	for {
		i := strings.Index(s, from)
		if i < 0 {
			break
		}
		b = append(b, s[:i]...)
		b = append(b, to...)
		s = s[i+len(from):]
	}
	b = append(b, s...)
	ec.scr = b
	return scalar{s: bytesString(b)}, nil
}

// fnSplitIndex is Flink's SPLIT_INDEX: the idx-th (0-based) field of s
// split by delim; NULL when idx is negative or out of range.
func fnSplitIndex(_ *evalCtx, a []scalar) (scalar, error) {
	s, delim, idx := a[0].s, a[1].s, a[2].i
	if idx < 0 || s == "" { // Flink splits "" into no fields at all
		return scalar{null: true}, nil
	}
	if idx < 0 {
		return scalar{null: true}, nil
	}
	if delim == "" {
		if idx == 0 {
			return scalar{s: s}, nil
		}
		return scalar{null: true}, nil
	}
	if len(delim) == 1 {
		// One-byte delimiters (the common case) scan bytes directly: fields
		// are short, and a vectorized IndexByte call per field costs more.
		d := delim[0]
		start := 0
		for i := 0; i < len(s); i++ {
			if s[i] != d {
				continue
			}
			if idx == 0 {
				return scalar{s: s[start:i]}, nil
			}
			idx--
			start = i + 1
		}
		if idx == 0 {
			return scalar{s: s[start:]}, nil
		}
		return scalar{null: true}, nil
	}
	for ; idx > 0; idx-- {
		i := strings.Index(s, delim)
		if i < 0 {
			return scalar{null: true}, nil
		}
		s = s[i+len(delim):]
	}
	if i := strings.Index(s, delim); i >= 0 {
		s = s[:i]
	}
	return scalar{s: s}, nil
}

// fnCountChar is the nexmark CountChar UDF: occurrences of the first
// character of c in s (0 when c is empty).
func fnCountChar(_ *evalCtx, a []scalar) (scalar, error) {
	s, c := a[0].s, a[1].s
	if c == "" {
		return scalar{i: 0}, nil
	}
	r, w := utf8.DecodeRuneInString(c)
	if r < utf8.RuneSelf || w == 1 {
		return scalar{i: int64(strings.Count(s, c[:1]))}, nil
	}
	return scalar{i: int64(strings.Count(s, c[:w]))}, nil
}

// buildCountChar: like the nexmark UDF, a NULL string counts 0.
func buildCountChar(c *compiler, call *Call, args []cnode) (cnode, error) {
	inner, err := strFn(tInt, fnCountChar, kString, kString)(c, call, args)
	if err != nil {
		return nil, err
	}
	return c.fold(&coalesceNode{args: []cnode{inner, &constNode{t: tInt, v: scalar{i: 0}}}, t: tInt}), nil
}

// runePos is the 1-based character position of sub in s, 0 when absent.
func runePos(s, sub string) int64 {
	i := strings.Index(s, sub)
	if i < 0 {
		return 0
	}
	return int64(utf8.RuneCountInString(s[:i])) + 1
}

// runeOffset returns the byte offset of the k-th (0-based) character of s,
// or len(s) when s is shorter.
func runeOffset(s string, k int64) int {
	if k <= 0 {
		return 0
	}
	for i := range s {
		if k == 0 {
			return i
		}
		k--
	}
	return len(s)
}

// substr follows Flink/Calcite SUBSTRING(s, pos[, len]): positions are
// 1-based characters, a negative pos counts from the end, and the result is
// clipped to the string. A negative length gives the empty string.
func substr(s string, pos, length int64, hasLen bool) string {
	lc := int64(utf8.RuneCountInString(s))
	if pos < 0 {
		pos += lc + 1
	}
	end := lc + 1
	if hasLen {
		if length < 0 {
			return ""
		}
		if length < end-pos {
			end = pos + length
		}
	}
	if pos > lc || end < 1 {
		return ""
	}
	s1 := max(pos, 1)
	e1 := min(end, lc+1)
	if e1 <= s1 {
		return ""
	}
	return s[runeOffset(s, s1-1):runeOffset(s, e1-1)]
}

func buildSubstr(c *compiler, call *Call, args []cnode) (cnode, error) {
	kinds := []kind{kString, kInt, kInt}
	for i := range args {
		var err error
		if args[i], err = c.argKind(call, args, i, kinds[i]); err != nil {
			return nil, err
		}
	}
	return c.row(call, args, tString, false, func(_ *evalCtx, a []scalar) (scalar, error) {
		if len(a) == 3 {
			return scalar{s: substr(a[0].s, a[1].i, a[2].i, true)}, nil
		}
		return scalar{s: substr(a[0].s, a[1].i, 0, false)}, nil
	}), nil
}

func buildConcat(c *compiler, call *Call, args []cnode) (cnode, error) {
	for i := range args {
		var err error
		if args[i], err = c.argKind(call, args, i, kString); err != nil {
			return nil, err
		}
	}
	return c.row(call, args, tString, false, fnConcat), nil
}

func (c *compiler) regexpArg(call *Call, args []cnode, i int) (*regexp.Regexp, error) {
	p, err := c.litString(call, args, i)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, c.errf(call.Args[i].Pos(), "function %s: bad regular expression %q: %v", call.Name, p, err)
	}
	return re, nil
}

// requiredLiteral returns the longest literal that every match of pattern
// must contain (from a top-level concatenation), or "" when there is none.
// Checking it with strings.Contains first skips the regexp engine for most
// non-matching rows.
func requiredLiteral(pattern string) string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	lit := func(r *syntax.Regexp) string {
		if r.Op == syntax.OpLiteral && r.Flags&syntax.FoldCase == 0 {
			return string(r.Rune)
		}
		return ""
	}
	if re.Op != syntax.OpConcat {
		return lit(re)
	}
	best := ""
	for _, sub := range re.Sub {
		if l := lit(sub); len(l) > len(best) {
			best = l
		}
	}
	return best
}

// buildRegexpExtract: REGEXP_EXTRACT(s, pattern[, group]); group 0 (the
// default) is the whole match; NULL when there is no match or the group did
// not take part in it.
func buildRegexpExtract(c *compiler, call *Call, args []cnode) (cnode, error) {
	x, err := c.argKind(call, args, 0, kString)
	if err != nil {
		return nil, err
	}
	re, err := c.regexpArg(call, args, 1)
	if err != nil {
		return nil, err
	}
	group := int64(0)
	if len(args) == 3 {
		if group, err = c.litInt(call, args, 2); err != nil {
			return nil, err
		}
		if group < 0 || group > int64(re.NumSubexp()) {
			return nil, c.errf(call.Args[2].Pos(), "function %s: argument 3 must be a group index between 0 and %d for pattern %q, got %d", call.Name, re.NumSubexp(), re.String(), group)
		}
	}
	g := int(group)
	must := requiredLiteral(re.String())
	return c.row(call, []cnode{x}, tString, false, func(_ *evalCtx, a []scalar) (scalar, error) {
		s := a[0].s
		if must != "" && !strings.Contains(s, must) {
			return scalar{null: true}, nil
		}
		if !re.MatchString(s) { // MatchString does not allocate; most rows stop here
			return scalar{null: true}, nil
		}
		m := re.FindStringSubmatchIndex(s)
		if m == nil || m[2*g] < 0 {
			return scalar{null: true}, nil
		}
		return scalar{s: s[m[2*g]:m[2*g+1]]}, nil
	}), nil
}

func buildRegexpLike(c *compiler, call *Call, args []cnode) (cnode, error) {
	x, err := c.argKind(call, args, 0, kString)
	if err != nil {
		return nil, err
	}
	re, err := c.regexpArg(call, args, 1)
	if err != nil {
		return nil, err
	}
	must := requiredLiteral(re.String())
	return c.row(call, []cnode{x}, tBool, false, func(_ *evalCtx, a []scalar) (scalar, error) {
		if must != "" && !strings.Contains(a[0].s, must) {
			return scalar{b: false}, nil
		}
		return scalar{b: re.MatchString(a[0].s)}, nil
	}), nil
}

// ---- conditionals ----

func buildCoalesce(c *compiler, call *Call, args []cnode) (cnode, error) {
	t, ok := c.unify(args)
	if !ok {
		return nil, c.errf(call.P, "function %s: arguments have incompatible types: %s", call.Name, typeList(args))
	}
	for i := range args {
		var err error
		if args[i], err = c.coerce(call.Args[i], args[i], t); err != nil {
			return nil, err
		}
	}
	if t.ID() == arrow.NULL {
		return nullConst(arrow.Null), nil
	}
	return c.fold(&coalesceNode{args: args, t: t}), nil
}

func buildIf(c *compiler, call *Call, args []cnode) (cnode, error) {
	if err := c.wantBool(call.Args[0], args[0], "function if: argument 1"); err != nil {
		return nil, err
	}
	t, ok := c.unify(args[1:])
	if !ok {
		return nil, c.errf(call.P, "function if: branches have incompatible types: %s", typeList(args[1:]))
	}
	a, err := c.coerce(call.Args[1], args[1], t)
	if err != nil {
		return nil, err
	}
	b, err := c.coerce(call.Args[2], args[2], t)
	if err != nil {
		return nil, err
	}
	return c.fold(&caseNode{conds: []cnode{c.coerceNull(args[0], tBool)}, thens: []cnode{a}, els: b, t: t}), nil
}

func buildNullif(c *compiler, call *Call, args []cnode) (cnode, error) {
	eq, err := c.comparison(call.Args[0], call.Args[1], args[0], args[1], "=")
	if err != nil {
		return nil, err
	}
	t := args[0].dtype()
	return c.fold(&caseNode{conds: []cnode{c.coerceNull(eq, tBool)}, thens: []cnode{nullConst(t)}, els: args[0], t: t}), nil
}

// ---- math ----

func absInt(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func sgn(f float64) int64 {
	switch {
	case f > 0:
		return 1
	case f < 0:
		return -1
	}
	return 0
}

// numFn builds a one-argument numeric function. f receives the argument
// with both i and f set (f = float64(i) for integers) and returns a scalar
// whose i or f field is used depending on the result kind. With toFloat the
// result is always DOUBLE.
func numFn(toFloat bool, f func(a scalar, k kind) scalar) func(*compiler, *Call, []cnode) (cnode, error) {
	return func(c *compiler, call *Call, args []cnode) (cnode, error) {
		x, err := c.argKind(call, args, 0, kInt, kFloat)
		if err != nil {
			return nil, err
		}
		k := mustKind(x.dtype())
		out := x.dtype()
		if toFloat {
			out = tFloat
		}
		ok := mustKind(out)
		return c.row(call, []cnode{x}, out, false, func(_ *evalCtx, a []scalar) (scalar, error) {
			in := a[0]
			if k == kInt {
				in.f = float64(in.i)
			}
			r := f(in, k)
			if ok == kFloat && k == kInt && !toFloat {
				r.f = float64(r.i)
			}
			return r, nil
		}), nil
	}
}

func buildPower(c *compiler, call *Call, args []cnode) (cnode, error) {
	for i := range args {
		var err error
		if args[i], err = c.argKind(call, args, i, kInt, kFloat); err != nil {
			return nil, err
		}
		if args[i], err = c.coerce(call.Args[i], args[i], tFloat); err != nil {
			return nil, err
		}
	}
	return c.row(call, args, tFloat, false, func(_ *evalCtx, a []scalar) (scalar, error) {
		return scalar{f: math.Pow(a[0].f, a[1].f)}, nil
	}), nil
}

// roundHalfAway rounds v to d decimal places, halves away from zero.
func roundHalfAway(v float64, d int64) float64 {
	if d > 15 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	if d < -308 {
		return 0
	}
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

func roundInt(v, d int64) int64 {
	if d >= 0 {
		return v
	}
	if d < -18 {
		return 0
	}
	p := int64(1)
	for ; d < 0; d++ {
		p *= 10
	}
	q, r := v/p, v%p
	if absInt(r)*2 >= p {
		if v < 0 {
			q--
		} else {
			q++
		}
	}
	return q * p
}

func buildRound(c *compiler, call *Call, args []cnode) (cnode, error) {
	x, err := c.argKind(call, args, 0, kInt, kFloat)
	if err != nil {
		return nil, err
	}
	rargs := []cnode{x}
	if len(args) == 2 {
		d, err := c.argKind(call, args, 1, kInt)
		if err != nil {
			return nil, err
		}
		rargs = append(rargs, d)
	}
	isInt := mustKind(x.dtype()) == kInt
	return c.row(call, rargs, x.dtype(), false, func(_ *evalCtx, a []scalar) (scalar, error) {
		d := int64(0)
		if len(a) == 2 {
			d = a[1].i
		}
		if isInt {
			return scalar{i: roundInt(a[0].i, d)}, nil
		}
		return scalar{f: roundHalfAway(a[0].f, d)}, nil
	}), nil
}

// ---- time ----

// timeArg accepts a timestamp or a date (as a timestamp in seconds).
func (c *compiler) timeArg(call *Call, args []cnode, i int) (cnode, error) {
	x, err := c.argKind(call, args, i, kTS, kDate)
	if err != nil {
		return nil, err
	}
	if mustKind(x.dtype()) == kDate {
		return c.fold(&convNode{x: x, t: &arrow.TimestampType{Unit: arrow.Second}}), nil
	}
	return x, nil
}

var timeFields = map[string]string{
	"year": "year", "quarter": "quarter", "month": "month", "day": "day", "dayofmonth": "day",
	"dow": "dow", "dayofweek": "dow", "doy": "doy", "dayofyear": "doy",
	"hour": "hour", "minute": "minute", "second": "second", "millisecond": "millisecond",
	"microsecond": "microsecond", "epoch": "epoch",
}

// timeField extracts a field; dow is 1 = Sunday .. 7 = Saturday as in Flink.
func timeField(field string, t arrow.DataType) func(_ *evalCtx, a []scalar) (scalar, error) {
	ps := unitPerSec(tsUnit(t))
	day := 86400 * ps
	return func(_ *evalCtx, a []scalar) (scalar, error) {
		v := a[0].i
		switch field {
		case "hour":
			return scalar{i: floorMod(v, day) / (3600 * ps)}, nil
		case "minute":
			return scalar{i: floorMod(v, 3600*ps) / (60 * ps)}, nil
		case "second":
			return scalar{i: floorMod(v, 60*ps) / ps}, nil
		case "millisecond":
			return scalar{i: floorMod(v, ps) * 1000 / ps}, nil
		case "microsecond":
			return scalar{i: floorMod(v, ps) * 1000000 / ps}, nil
		case "epoch":
			return scalar{i: floorDiv(v, ps)}, nil
		case "dow":
			return scalar{i: floorMod(floorDiv(v, day)+4, 7) + 1}, nil // 1970-01-01 was a Thursday (5)
		}
		tm := time.Unix(floorDiv(v, ps), 0).UTC()
		switch field {
		case "year":
			return scalar{i: int64(tm.Year())}, nil
		case "quarter":
			return scalar{i: int64(tm.Month()+2) / 3}, nil
		case "month":
			return scalar{i: int64(tm.Month())}, nil
		case "day":
			return scalar{i: int64(tm.Day())}, nil
		}
		return scalar{i: int64(tm.YearDay())}, nil
	}
}

func timeFieldFn(field string) func(*compiler, *Call, []cnode) (cnode, error) {
	return func(c *compiler, call *Call, args []cnode) (cnode, error) {
		x, err := c.timeArg(call, args, 0)
		if err != nil {
			return nil, err
		}
		return c.timeFieldNode(call, x, field), nil
	}
}

func (c *compiler) timeFieldNode(call *Call, x cnode, field string) cnode {
	switch field {
	case "hour", "minute", "second", "dow", "epoch", "millisecond", "microsecond":
		return c.fold(&tsFieldNode{x: x, field: field})
	}
	return c.row(call, []cnode{x}, tInt, false, timeField(field, x.dtype()))
}

func buildExtract(c *compiler, call *Call, args []cnode) (cnode, error) {
	f, err := c.litString(call, args, 0)
	if err != nil {
		return nil, err
	}
	field, ok := timeFields[strings.ToLower(f)]
	if !ok {
		return nil, c.errf(call.Args[0].Pos(), "EXTRACT: unknown field %s (want YEAR, QUARTER, MONTH, DAY, DOW, DOY, HOUR, MINUTE, SECOND, MILLISECOND, MICROSECOND, EPOCH)", f)
	}
	x, err := c.timeArg(call, args, 1)
	if err != nil {
		return nil, err
	}
	return c.timeFieldNode(call, x, field), nil
}

func buildDateFormat(c *compiler, call *Call, args []cnode) (cnode, error) {
	x, err := c.timeArg(call, args, 0)
	if err != nil {
		return nil, err
	}
	p, err := c.litString(call, args, 1)
	if err != nil {
		return nil, err
	}
	toks, err := parseJavaPattern(p)
	if err != nil {
		return nil, c.errf(call.Args[1].Pos(), "function %s: %v", call.Name, err)
	}
	t := x.dtype()
	return c.row(call, []cnode{x}, tString, false, func(ec *evalCtx, a []scalar) (scalar, error) {
		ec.scr = appendJava(ec.scr[:0], toks, tsTime(t, a[0].i))
		return scalar{s: bytesString(ec.scr)}, nil
	}), nil
}

// buildToTimestamp: TO_TIMESTAMP(s[, pattern]) → TIMESTAMP(3). Without a
// pattern the lenient CAST formats are accepted.
func buildToTimestamp(c *compiler, call *Call, args []cnode) (cnode, error) {
	x, err := c.argKind(call, args, 0, kString)
	if err != nil {
		return nil, err
	}
	if len(args) == 1 {
		return c.row(call, []cnode{x}, tTSms, true, func(_ *evalCtx, a []scalar) (scalar, error) {
			return parseTemporal(a[0].s, tTSms)
		}), nil
	}
	p, err := c.litString(call, args, 1)
	if err != nil {
		return nil, err
	}
	toks, err := parseJavaPattern(p)
	if err != nil {
		return nil, c.errf(call.Args[1].Pos(), "function %s: %v", call.Name, err)
	}
	return c.row(call, []cnode{x}, tTSms, true, func(_ *evalCtx, a []scalar) (scalar, error) {
		tm, err := parseJava(a[0].s, toks)
		if err != nil {
			return scalar{}, fmt.Errorf("%w: %q %v %q", ErrInvalidValue, a[0].s, err, p)
		}
		v, ok := timeToTS(tTSms, tm)
		if !ok {
			return scalar{}, fmt.Errorf("%w: %q is out of range", ErrInvalidValue, a[0].s)
		}
		return scalar{i: v}, nil
	}), nil
}

// buildTruncTo: FLOOR(ts TO unit) / CEIL(ts TO unit) for SECOND, MINUTE,
// HOUR, DAY, MONTH, YEAR.
func buildTruncTo(ceil bool) func(*compiler, *Call, []cnode) (cnode, error) {
	return func(c *compiler, call *Call, args []cnode) (cnode, error) {
		x, err := c.timeArg(call, args, 0)
		if err != nil {
			return nil, err
		}
		u, err := c.litString(call, args, 1)
		if err != nil {
			return nil, err
		}
		t := x.dtype()
		ps := unitPerSec(tsUnit(t))
		var step int64
		switch strings.ToLower(u) {
		case "second":
			step = ps
		case "minute":
			step = 60 * ps
		case "hour":
			step = 3600 * ps
		case "day":
			step = 86400 * ps
		case "month", "year":
		default:
			return nil, c.errf(call.Args[1].Pos(), "function %s: unknown unit %s (want SECOND, MINUTE, HOUR, DAY, MONTH, YEAR)", call.Name, u)
		}
		year := strings.EqualFold(u, "year")
		return c.row(call, []cnode{x}, t, false, func(_ *evalCtx, a []scalar) (scalar, error) {
			v := a[0].i
			if step > 0 {
				f := floorDiv(v, step) * step
				if ceil && f != v {
					f += step
				}
				return scalar{i: f}, nil
			}
			tm := tsTime(t, v)
			m := tm.Month()
			if year {
				m = time.January
			}
			f := time.Date(tm.Year(), m, 1, 0, 0, 0, 0, time.UTC)
			if ceil && !f.Equal(tm) {
				if year {
					f = f.AddDate(1, 0, 0)
				} else {
					f = f.AddDate(0, 1, 0)
				}
			}
			r, _ := timeToTS(t, f)
			return scalar{i: r}, nil
		}), nil
	}
}
