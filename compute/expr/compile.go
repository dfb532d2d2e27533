package expr

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

type compiler struct {
	src    string
	schema *arrow.Schema
	memo   map[string]cnode // compiled sub-expressions by canonical text
}

func (c *compiler) errf(pos int, format string, args ...any) error {
	return &Error{Kind: ErrType, Expr: c.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// typeName is the name of a type in error messages.
func typeName(t arrow.DataType) string {
	switch t.ID() {
	case arrow.STRING:
		return "string"
	case arrow.LARGE_STRING:
		return "large_string"
	case arrow.BOOL:
		return "boolean"
	}
	return t.String()
}

// compile compiles n, returning the same node for sub-expressions with the
// same canonical text, so that repeated sub-expressions (HOUR(dateTime)
// four times in one CASE) become shared nodes of a DAG.
func (c *compiler) compile(n Node) (cnode, error) {
	key := n.String()
	if x, ok := c.memo[key]; ok {
		return x, nil
	}
	x, err := c.compileNode(n)
	if err != nil {
		return nil, err
	}
	if c.memo == nil {
		c.memo = map[string]cnode{}
	}
	c.memo[key] = x
	return x, nil
}

// sharedNodes returns the nodes of the DAG under root that have more than
// one parent and are worth computing once: not constants or columns, and
// unable to fail (a shared node is evaluated over every row, so a node
// that could fail on a row its consumers do not need must stay unshared).
func sharedNodes(root cnode) map[cnode]bool {
	parents := map[cnode]int{}
	var walk func(n cnode)
	walk = func(n cnode) {
		parents[n]++
		if parents[n] > 1 {
			return
		}
		for _, k := range n.kids() {
			walk(k)
		}
	}
	walk(root)
	var shared map[cnode]bool
	for n, c := range parents {
		if c < 2 || n.canFail() {
			continue
		}
		switch n.(type) {
		case *constNode, *colNode:
			continue
		}
		if shared == nil {
			shared = map[cnode]bool{}
		}
		shared[n] = true
	}
	return shared
}

func (c *compiler) compileNode(n Node) (cnode, error) {
	switch n := n.(type) {
	case *Literal:
		switch n.Kind {
		case LitInt:
			return &constNode{t: arrow.PrimitiveTypes.Int64, v: scalar{i: n.Int}}, nil
		case LitFloat:
			return &constNode{t: arrow.PrimitiveTypes.Float64, v: scalar{f: n.Float}}, nil
		case LitString:
			return &constNode{t: arrow.BinaryTypes.String, v: scalar{s: n.Str}}, nil
		case LitBool:
			return &constNode{t: arrow.FixedWidthTypes.Boolean, v: scalar{b: n.Bool}}, nil
		}
		if n.Kind == LitInterval {
			return nil, c.errf(n.P, "an INTERVAL can only be added to or subtracted from a timestamp or date")
		}
		return nullConst(arrow.Null), nil
	case *ColumnRef:
		return c.column(n)
	case *Unary:
		x, err := c.compileCanon(n.X)
		if err != nil {
			return nil, err
		}
		if n.Op == "NOT" {
			if err := c.wantBool(n.X, x, "NOT"); err != nil {
				return nil, err
			}
			return c.fold(&notNode{x: c.coerceNull(x, arrow.FixedWidthTypes.Boolean)}), nil
		}
		k := mustKind(x.dtype())
		if k != kInt && k != kFloat && k != kNull {
			return nil, c.errf(n.X.Pos(), "unary - needs a numeric operand, got %s", typeName(x.dtype()))
		}
		t := arrow.DataType(arrow.PrimitiveTypes.Int64)
		if k == kFloat {
			t = arrow.PrimitiveTypes.Float64
		}
		zero := &constNode{t: t}
		return c.fold(&arithNode{op: '-', l: zero, r: c.coerceNull(x, t), t: t, pos: n.P}), nil
	case *Binary:
		return c.binary(n)
	case *IsTest:
		x, err := c.compileCanon(n.X)
		if err != nil {
			return nil, err
		}
		if n.What != "NULL" {
			if err := c.wantBool(n.X, x, "IS "+n.What); err != nil {
				return nil, err
			}
			x = c.coerceNull(x, arrow.FixedWidthTypes.Boolean)
		}
		return c.fold(&isNode{x: x, what: n.What, not: n.Not}), nil
	case *In:
		return c.in(n)
	case *Between:
		x, err := c.compileCanon(n.X)
		if err != nil {
			return nil, err
		}
		lo, err := c.compileCanon(n.Lo)
		if err != nil {
			return nil, err
		}
		hi, err := c.compileCanon(n.Hi)
		if err != nil {
			return nil, err
		}
		ge, err := c.comparison(n.X, n.Lo, x, lo, ">=")
		if err != nil {
			return nil, err
		}
		le, err := c.comparison(n.X, n.Hi, x, hi, "<=")
		if err != nil {
			return nil, err
		}
		var r cnode = c.fold(&logicNode{and: true, l: ge, r: le})
		if n.Not {
			r = c.fold(&notNode{x: r})
		}
		return r, nil
	case *Like:
		return c.like(n)
	case *Case:
		return c.caseExpr(n)
	case *Cast:
		return c.cast(n)
	case *Call:
		return c.call(n)
	}
	return nil, c.errf(n.Pos(), "unsupported expression %T", n)
}

func (c *compiler) compileCanon(n Node) (cnode, error) {
	x, err := c.compile(n)
	if err != nil {
		return nil, err
	}
	if x.dtype().ID() == arrow.NULL {
		// A column of the Null type is a NULL constant to every operator.
		return nullConst(arrow.Null), nil
	}
	return c.canon(x), nil
}

func (c *compiler) column(n *ColumnRef) (cnode, error) {
	idx := c.schema.FieldIndices(n.Name)
	if len(idx) > 1 {
		return nil, c.errf(n.P, "column %q is ambiguous: the schema has %d fields with that name", n.Name, len(idx))
	}
	if len(idx) == 0 {
		if s := c.suggest(n.Name); s != "" {
			return nil, c.errf(n.P, "unknown column %q (did you mean %q?)", n.Name, s)
		}
		names := make([]string, 0, c.schema.NumFields())
		for _, f := range c.schema.Fields() {
			names = append(names, f.Name)
		}
		return nil, c.errf(n.P, "unknown column %q (columns: %s)", n.Name, strings.Join(names, ", "))
	}
	f := c.schema.Field(idx[0])
	if _, ok := kindOf(f.Type); !ok {
		return nil, c.errf(n.P, "column %q has unsupported type %s", n.Name, f.Type)
	}
	return &colNode{idx: idx[0], t: f.Type}, nil
}

// suggest returns the column name closest to name, if any is close enough.
func (c *compiler) suggest(name string) string {
	best, bestD := "", 1<<30
	for _, f := range c.schema.Fields() {
		if strings.EqualFold(f.Name, name) {
			return f.Name
		}
		d := editDistance(strings.ToLower(f.Name), strings.ToLower(name))
		if d < bestD {
			best, bestD = f.Name, d
		}
	}
	if bestD <= 2 || bestD <= len(name)/3 {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// canon converts n to its canonical type.
func (c *compiler) canon(n cnode) cnode {
	t := n.dtype()
	ct := canonType(t)
	if arrow.TypeEqual(ct, t) {
		return n
	}
	if k, ok := isConstNode(n); ok {
		return &constNode{t: ct, v: k.v}
	}
	return &convNode{x: n, t: ct}
}

// coerceNull turns a NULL-typed node into a node of type t.
func (c *compiler) coerceNull(n cnode, t arrow.DataType) cnode {
	if n.dtype().ID() != arrow.NULL || t.ID() == arrow.NULL {
		return n
	}
	if _, ok := isConstNode(n); ok {
		return nullConst(t)
	}
	return &convNode{x: n, t: t}
}

func (c *compiler) wantBool(src Node, x cnode, what string) error {
	if k := mustKind(x.dtype()); k != kBool && k != kNull {
		return c.errf(src.Pos(), "%s needs a boolean operand, got %s", what, typeName(x.dtype()))
	}
	return nil
}

// fold evaluates a node whose children are all constants.
func (c *compiler) fold(n cnode) cnode {
	ks := n.kids()
	if len(ks) == 0 {
		return n
	}
	for _, k := range ks {
		if _, ok := isConstNode(k); !ok {
			return n
		}
	}
	mem := memory.DefaultAllocator
	b := array.NewRecordBatch(arrow.NewSchema(nil, nil), nil, 1)
	defer b.Release()
	ec := &evalCtx{ctx: context.Background(), mem: mem, b: b, n: 1, src: c.src}
	v, err := n.eval(ec)
	if err != nil {
		return n // leave it to fail (or not) at run time, per row
	}
	defer v.release()
	if v.isConst() {
		return &constNode{t: n.dtype(), v: v.c}
	}
	if !isCanon(n.dtype()) {
		return n
	}
	return &constNode{t: n.dtype(), v: ownedScalarAt(mustKind(n.dtype()), v.arr, 0)}
}

// unify finds the common canonical type of canonical nodes, following SQL:
// integers widen to BIGINT, integer and float to DOUBLE, date to timestamp,
// timestamps to the finest unit, and a string literal adapts to a
// timestamp or date. NULL adapts to anything.
func (c *compiler) unify(ns []cnode) (arrow.DataType, bool) {
	var t arrow.DataType = arrow.Null
	strLit := false
	for _, n := range ns {
		nt := n.dtype()
		k := mustKind(nt)
		if k == kNull {
			continue
		}
		if k == kString {
			if _, ok := isConstNode(n); ok {
				strLit = true
			}
		}
		if t.ID() == arrow.NULL {
			t = nt
			continue
		}
		tk := mustKind(t)
		switch {
		case tk == k && k != kTS:
			// same
		case (tk == kInt || tk == kFloat) && (k == kInt || k == kFloat):
			t = arrow.PrimitiveTypes.Float64
		case tk == kTS && k == kTS:
			if unitPerSec(tsUnit(nt)) > unitPerSec(tsUnit(t)) {
				t = nt
			}
		case tk == kTS && k == kDate:
		case tk == kDate && k == kTS:
			t = nt
		case (tk == kTS || tk == kDate) && k == kString:
			if _, ok := isConstNode(n); !ok {
				return nil, false
			}
		case tk == kString && (k == kTS || k == kDate):
			t = nt
		default:
			return nil, false
		}
	}
	if tk := mustKind(t); strLit && tk != kString && tk != kTS && tk != kDate {
		return nil, false
	}
	if strLit && mustKind(t) == kDate {
		// A date against a literal with a time of day compares as timestamps.
		for _, n := range ns {
			if k, ok := isConstNode(n); ok && mustKind(k.t) == kString && len(strings.TrimSpace(k.v.s)) > len("2006-01-02") {
				t = &arrow.TimestampType{Unit: arrow.Second}
			}
		}
	}
	if strLit && mustKind(t) != kString {
		for _, n := range ns {
			if mustKind(n.dtype()) == kString {
				if _, ok := isConstNode(n); !ok {
					return nil, false
				}
			}
		}
	}
	return t, true
}

// coerce converts a canonical node to canonical type t (as decided by unify).
func (c *compiler) coerce(src Node, n cnode, t arrow.DataType) (cnode, error) {
	nt := n.dtype()
	if arrow.TypeEqual(nt, t) {
		return n, nil
	}
	if nt.ID() == arrow.NULL {
		return c.coerceNull(n, t), nil
	}
	nk, tk := mustKind(nt), mustKind(t)
	if nk == kString && (tk == kTS || tk == kDate) {
		k, _ := isConstNode(n)
		if k == nil {
			return nil, c.errf(src.Pos(), "cannot compare %s with %s", typeName(nt), typeName(t))
		}
		v, err := parseTemporal(k.v.s, t)
		if err != nil {
			return nil, c.errf(src.Pos(), "%q is not a valid %s literal: %v", k.v.s, typeName(t), err)
		}
		return &constNode{t: t, v: v}, nil
	}
	if nk == tk && nk != kTS || nk == kInt && tk == kFloat || nk == kTS && tk == kTS || nk == kDate && tk == kTS {
		return c.fold(&convNode{x: n, t: t}), nil
	}
	return nil, c.errf(src.Pos(), "cannot convert %s to %s", typeName(nt), typeName(t))
}

// interval returns the length in nanoseconds of an INTERVAL literal.
func (c *compiler) interval(n Node) (int64, bool, error) {
	lit, ok := n.(*Literal)
	if !ok || lit.Kind != LitInterval {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(lit.Str, 10, 64)
	if err != nil {
		return 0, true, c.errf(lit.P, "INTERVAL %q: want a whole number, e.g. INTERVAL '5' SECOND", lit.Str)
	}
	unit := strings.TrimSuffix(lit.Unit, "S")
	scale := map[string]int64{"MILLISECOND": 1e6, "SECOND": 1e9, "MINUTE": 60e9, "HOUR": 3600e9, "DAY": 86400e9}[unit]
	if scale == 0 {
		return 0, true, c.errf(lit.P, "INTERVAL unit %s: want MILLISECOND, SECOND, MINUTE, HOUR or DAY", lit.Unit)
	}
	if v > math.MaxInt64/scale || v < math.MinInt64/scale {
		return 0, true, c.errf(lit.P, "INTERVAL '%s' %s is out of range", lit.Str, lit.Unit)
	}
	return v * scale, true, nil
}

// timeShift compiles ts ± INTERVAL.
func (c *compiler) timeShift(n *Binary, tsSrc Node, nanos int64) (cnode, error) {
	x, err := c.compileCanon(tsSrc)
	if err != nil {
		return nil, err
	}
	switch mustKind(x.dtype()) {
	case kDate:
		x = c.fold(&convNode{x: x, t: &arrow.TimestampType{Unit: arrow.Second}})
	case kTS:
	case kNull:
		return nullConst(&arrow.TimestampType{Unit: arrow.Millisecond}), nil
	default:
		return nil, c.errf(tsSrc.Pos(), "an INTERVAL can only be added to or subtracted from a timestamp or date, got %s", typeName(x.dtype()))
	}
	per := 1e9 / unitPerSec(tsUnit(x.dtype()))
	if nanos%per != 0 {
		// Finer than the timestamp's unit: compute in nanoseconds.
		x = c.fold(&convNode{x: x, t: &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: x.dtype().(*arrow.TimestampType).TimeZone}})
		per = 1
	}
	delta := nanos / per
	if n.Op == "-" {
		delta = -delta
	}
	return c.fold(&tsShiftNode{x: x, delta: delta}), nil
}

func (c *compiler) binary(n *Binary) (cnode, error) {
	if n.Op == "+" || n.Op == "-" {
		if nanos, ok, err := c.interval(n.R); ok || err != nil {
			if err != nil {
				return nil, err
			}
			return c.timeShift(n, n.L, nanos)
		}
		if nanos, ok, err := c.interval(n.L); (ok || err != nil) && n.Op == "+" {
			if err != nil {
				return nil, err
			}
			return c.timeShift(n, n.R, nanos)
		}
	}
	l, err := c.compileCanon(n.L)
	if err != nil {
		return nil, err
	}
	r, err := c.compileCanon(n.R)
	if err != nil {
		return nil, err
	}
	switch n.Op {
	case "AND", "OR":
		if err := c.wantBool(n.L, l, n.Op); err != nil {
			return nil, err
		}
		if err := c.wantBool(n.R, r, n.Op); err != nil {
			return nil, err
		}
		b := arrow.FixedWidthTypes.Boolean
		return c.fold(&logicNode{and: n.Op == "AND", l: c.coerceNull(l, b), r: c.coerceNull(r, b)}), nil
	case "+", "-", "*", "/", "%":
		at := Node(n)
		if n.OpPos > 0 {
			at = &Binary{P: n.OpPos} // runtime errors point at the operator
		}
		return c.arith(at, n.L, n.R, l, r, n.Op[0])
	case "||":
		for i, x := range []cnode{l, r} {
			if k := mustKind(x.dtype()); k != kString && k != kNull {
				src := []Node{n.L, n.R}[i]
				return nil, c.errf(src.Pos(), "operator || needs string operands, got %s and %s (use CAST(x AS STRING))", typeName(l.dtype()), typeName(r.dtype()))
			}
		}
		s := arrow.BinaryTypes.String
		return c.fold(&rowFn{name: "||", pos: n.P, args: []cnode{c.coerceNull(l, s), c.coerceNull(r, s)}, t: s, strict: true, f: fnConcat}), nil
	}
	return c.comparison(n.L, n.R, l, r, n.Op)
}

func (c *compiler) arith(n Node, ln, rn Node, l, r cnode, op byte) (cnode, error) {
	lk, rk := mustKind(l.dtype()), mustKind(r.dtype())
	numeric := func(k kind) bool { return k == kInt || k == kFloat || k == kNull }
	if !numeric(lk) || !numeric(rk) {
		bad := rn
		if !numeric(lk) {
			bad = ln
		}
		return nil, c.errf(bad.Pos(), "operator %c needs numeric operands, got %s and %s", op, typeName(l.dtype()), typeName(r.dtype()))
	}
	t := arrow.DataType(arrow.PrimitiveTypes.Int64)
	if lk == kFloat || rk == kFloat {
		t = arrow.PrimitiveTypes.Float64
	}
	l, _ = c.coerce(ln, l, t)
	r, _ = c.coerce(rn, r, t)
	return c.fold(&arithNode{op: op, l: l, r: r, t: t, pos: n.Pos()}), nil
}

func (c *compiler) comparison(ln, rn Node, l, r cnode, op string) (cnode, error) {
	t, ok := c.unify([]cnode{l, r})
	if !ok {
		return nil, c.errf(rn.Pos(), "operator %s cannot compare %s with %s", op, typeName(l.dtype()), typeName(r.dtype()))
	}
	if t.ID() == arrow.NULL {
		return nullConst(arrow.FixedWidthTypes.Boolean), nil
	}
	var err error
	if l, err = c.coerce(ln, l, t); err != nil {
		return nil, err
	}
	if r, err = c.coerce(rn, r, t); err != nil {
		return nil, err
	}
	return c.fold(&cmpNode{op: cmpOps[op], l: l, r: r, k: mustKind(t)}), nil
}

func (c *compiler) in(n *In) (cnode, error) {
	x, err := c.compileCanon(n.X)
	if err != nil {
		return nil, err
	}
	items := make([]cnode, len(n.List))
	allConst := true
	for i, it := range n.List {
		if items[i], err = c.compileCanon(it); err != nil {
			return nil, err
		}
		_, ok := isConstNode(items[i])
		allConst = allConst && ok
	}
	t, ok := c.unify(append([]cnode{x}, items...))
	if !ok {
		for i, it := range items {
			if _, ok := c.unify([]cnode{x, it}); !ok {
				return nil, c.errf(n.List[i].Pos(), "IN list item of type %s cannot be compared with %s", typeName(it.dtype()), typeName(x.dtype()))
			}
		}
		return nil, c.errf(n.P, "IN list items have incompatible types")
	}
	if t.ID() == arrow.NULL {
		return nullConst(arrow.FixedWidthTypes.Boolean), nil
	}
	if x, err = c.coerce(n.X, x, t); err != nil {
		return nil, err
	}
	for i := range items {
		if items[i], err = c.coerce(n.List[i], items[i], t); err != nil {
			return nil, err
		}
	}
	if allConst {
		in := &inNode{x: x, k: mustKind(t), not: n.Not,
			ints: map[int64]struct{}{}, floats: map[float64]struct{}{}, strs: map[string]struct{}{}}
		for _, it := range items {
			v := it.(*constNode).v
			switch {
			case v.null:
				in.hasNull = true
			case in.k == kFloat:
				in.floats[v.f] = struct{}{}
			case in.k == kString:
				in.strs[v.s] = struct{}{}
			case in.k == kBool:
				in.bools[b2u(v.b)] = true
			default:
				in.ints[v.i] = struct{}{}
			}
		}
		return c.fold(in), nil
	}
	// General case: an OR of equalities (three-valued logic matches IN).
	var r cnode
	for _, it := range items {
		eq := c.fold(&cmpNode{op: opEq, l: x, r: it, k: mustKind(t)})
		if r == nil {
			r = eq
		} else {
			r = c.fold(&logicNode{and: false, l: r, r: eq})
		}
	}
	if n.Not {
		r = c.fold(&notNode{x: r})
	}
	return r, nil
}

func (c *compiler) like(n *Like) (cnode, error) {
	x, err := c.compileCanon(n.X)
	if err != nil {
		return nil, err
	}
	if k := mustKind(x.dtype()); k != kString && k != kNull {
		return nil, c.errf(n.X.Pos(), "LIKE needs a string operand, got %s", typeName(x.dtype()))
	}
	pn, err := c.compileCanon(n.Pattern)
	if err != nil {
		return nil, err
	}
	pk, ok := isConstNode(pn)
	if !ok || (mustKind(pk.t) != kString && !pk.v.null) {
		return nil, c.errf(n.Pattern.Pos(), "LIKE pattern must be a string literal")
	}
	b := arrow.FixedWidthTypes.Boolean
	if pk.v.null {
		return nullConst(b), nil
	}
	m := compileLike(pk.v.s)
	not := n.Not
	return c.fold(&rowFn{name: "LIKE", pos: n.P, args: []cnode{c.coerceNull(x, arrow.BinaryTypes.String)}, t: b, strict: true,
		f: func(_ *evalCtx, a []scalar) (scalar, error) { return scalar{b: m(a[0].s) != not}, nil }}), nil
}

// compileLike turns an SQL LIKE pattern (% any run, _ one character, \
// escapes) into a matcher, with fast paths for prefix, suffix, contains
// and exact patterns.
func compileLike(p string) func(string) bool {
	if !strings.ContainsAny(p, `_\`) {
		parts := strings.Split(p, "%")
		switch {
		case len(parts) == 1:
			return func(s string) bool { return s == p }
		case len(parts) == 2 && parts[1] == "":
			pre := parts[0]
			return func(s string) bool { return strings.HasPrefix(s, pre) }
		case len(parts) == 2 && parts[0] == "":
			suf := parts[1]
			return func(s string) bool { return strings.HasSuffix(s, suf) }
		case len(parts) == 3 && parts[0] == "" && parts[2] == "":
			mid := parts[1]
			return func(s string) bool { return strings.Contains(s, mid) }
		}
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		case '\\':
			if i+1 < len(p) {
				i++
				b.WriteString(regexp.QuoteMeta(p[i : i+1]))
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString(`$`)
	re := regexp.MustCompile(b.String())
	return re.MatchString
}

func (c *compiler) caseExpr(n *Case) (cnode, error) {
	var operand cnode
	var err error
	if n.Operand != nil {
		if operand, err = c.compileCanon(n.Operand); err != nil {
			return nil, err
		}
	}
	cn := &caseNode{}
	var thens []cnode
	for _, w := range n.Whens {
		cond, err := c.compileCanon(w.Cond)
		if err != nil {
			return nil, err
		}
		if operand != nil {
			if cond, err = c.comparison(n.Operand, w.Cond, operand, cond, "="); err != nil {
				return nil, err
			}
		} else if err := c.wantBool(w.Cond, cond, "WHEN"); err != nil {
			return nil, err
		}
		cn.conds = append(cn.conds, c.coerceNull(cond, arrow.FixedWidthTypes.Boolean))
		th, err := c.compileCanon(w.Then)
		if err != nil {
			return nil, err
		}
		thens = append(thens, th)
	}
	var els cnode = nullConst(arrow.Null)
	if n.Else != nil {
		if els, err = c.compileCanon(n.Else); err != nil {
			return nil, err
		}
	}
	all := append(append([]cnode{}, thens...), els)
	t, ok := c.unify(all)
	if !ok {
		return nil, c.errf(n.P, "CASE branches have incompatible types: %s", typeList(all))
	}
	srcs := make([]Node, 0, len(all))
	for _, w := range n.Whens {
		srcs = append(srcs, w.Then)
	}
	srcs = append(srcs, n.Else)
	for i, x := range all {
		src := srcs[i]
		if src == nil {
			src = n
		}
		if all[i], err = c.coerce(src, x, t); err != nil {
			return nil, err
		}
	}
	cn.thens, cn.els, cn.t = all[:len(all)-1], all[len(all)-1], t
	return c.fold(cn), nil
}

func typeList(ns []cnode) string {
	seen := map[string]bool{}
	var out []string
	for _, n := range ns {
		s := typeName(n.dtype())
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
