package expr

import (
	"strconv"
	"strings"
)

// Node is a node of the untyped syntax tree returned by Parse. Pos is the
// 1-based character position of the node's first token in the source text.
// String renders the node back as SQL text that parses to an equal tree.
type Node interface {
	Pos() int
	String() string
	node()
}

// LitKind says which field of a Literal holds its value.
type LitKind uint8

// Literal kinds.
const (
	LitNull LitKind = iota
	LitInt
	LitFloat
	LitString
	LitBool
	LitInterval // INTERVAL 'Str' Unit
)

// Literal is a constant: 42, 0.908, 'text', TRUE, NULL.
type Literal struct {
	P     int
	Kind  LitKind
	Int   int64
	Float float64
	Str   string
	Bool  bool
	Unit  string // of an interval: SECOND, MINUTE, HOUR, DAY, MILLISECOND

	raw string // digits of an integer literal, as written
	bad bool   // integer literal out of int64 range
}

// ColumnRef names a column of the input schema. Names are case-sensitive.
type ColumnRef struct {
	P    int
	Name string
}

// Unary is -X or NOT X.
type Unary struct {
	P  int
	Op string // "-" or "NOT"
	X  Node
}

// Binary is L Op R for Op in + - * / % || = <> < <= > >= AND OR.
// ("!=" is normalized to "<>".) OpPos is the position of the operator token
// where known.
type Binary struct {
	P     int
	OpPos int
	Op    string
	L, R  Node
}

// IsTest is X IS [NOT] NULL|TRUE|FALSE.
type IsTest struct {
	P    int
	X    Node
	Not  bool
	What string // "NULL", "TRUE" or "FALSE"
}

// In is X [NOT] IN (List...).
type In struct {
	P    int
	X    Node
	Not  bool
	List []Node
}

// Between is X [NOT] BETWEEN Lo AND Hi (inclusive).
type Between struct {
	P      int
	X      Node
	Not    bool
	Lo, Hi Node
}

// Like is X [NOT] LIKE Pattern, with % and _ wildcards.
type Like struct {
	P       int
	X       Node
	Not     bool
	Pattern Node
}

// When is one WHEN Cond THEN Then arm of a Case.
type When struct {
	P    int
	Cond Node
	Then Node
}

// Case is CASE [Operand] WHEN ... THEN ... [ELSE Else] END.
type Case struct {
	P       int
	Operand Node // nil for a searched CASE
	Whens   []When
	Else    Node // nil when there is no ELSE (NULL)
}

// TypeName is an SQL type in CAST: upper-cased name plus optional
// parameters, e.g. TIMESTAMP(3) or VARCHAR(10).
type TypeName struct {
	P      int
	Name   string
	Params []int
}

// Cast is CAST(X AS Type) or TRY_CAST(X AS Type).
type Cast struct {
	P    int
	X    Node
	Type TypeName
	Try  bool
}

// Call is a function call; Name is lower-cased. EXTRACT(f FROM x) is
// Call{Name: "extract", Args: ['f', x]} and FLOOR(x TO unit) is
// Call{Name: "floor_to", Args: [x, 'unit']}.
type Call struct {
	P    int
	Name string
	Args []Node
}

func (n *Literal) Pos() int   { return n.P }
func (n *ColumnRef) Pos() int { return n.P }
func (n *Unary) Pos() int     { return n.P }
func (n *Binary) Pos() int    { return n.P }
func (n *IsTest) Pos() int    { return n.P }
func (n *In) Pos() int        { return n.P }
func (n *Between) Pos() int   { return n.P }
func (n *Like) Pos() int      { return n.P }
func (n *Case) Pos() int      { return n.P }
func (n *Cast) Pos() int      { return n.P }
func (n *Call) Pos() int      { return n.P }

func (*Literal) node()   {}
func (*ColumnRef) node() {}
func (*Unary) node()     {}
func (*Binary) node()    {}
func (*IsTest) node()    {}
func (*In) node()        {}
func (*Between) node()   {}
func (*Like) node()      {}
func (*Case) node()      {}
func (*Cast) node()      {}
func (*Call) node()      {}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (n *Literal) String() string {
	switch n.Kind {
	case LitInt:
		if n.bad {
			return n.raw
		}
		return strconv.FormatInt(n.Int, 10)
	case LitFloat:
		s := strconv.FormatFloat(n.Float, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEn") { // keep it a float literal
			s += ".0"
		}
		return s
	case LitString:
		return quoteString(n.Str)
	case LitInterval:
		return "INTERVAL " + quoteString(n.Str) + " " + n.Unit
	case LitBool:
		if n.Bool {
			return "TRUE"
		}
		return "FALSE"
	}
	return "NULL"
}

func (n *ColumnRef) String() string { return `"` + strings.ReplaceAll(n.Name, `"`, `""`) + `"` }

func (n *Unary) String() string {
	if n.Op == "NOT" {
		return "(NOT " + n.X.String() + ")"
	}
	return "(-" + n.X.String() + ")"
}

func (n *Binary) String() string { return "(" + n.L.String() + " " + n.Op + " " + n.R.String() + ")" }

func (n *IsTest) String() string {
	s := "(" + n.X.String() + " IS "
	if n.Not {
		s += "NOT "
	}
	return s + n.What + ")"
}

func not(b bool) string {
	if b {
		return " NOT"
	}
	return ""
}

func (n *In) String() string {
	parts := make([]string, len(n.List))
	for i, x := range n.List {
		parts[i] = x.String()
	}
	return "(" + n.X.String() + not(n.Not) + " IN (" + strings.Join(parts, ", ") + "))"
}

func (n *Between) String() string {
	return "(" + n.X.String() + not(n.Not) + " BETWEEN " + n.Lo.String() + " AND " + n.Hi.String() + ")"
}

func (n *Like) String() string {
	return "(" + n.X.String() + not(n.Not) + " LIKE " + n.Pattern.String() + ")"
}

func (n *Case) String() string {
	var b strings.Builder
	b.WriteString("CASE")
	if n.Operand != nil {
		b.WriteString(" " + n.Operand.String())
	}
	for _, w := range n.Whens {
		b.WriteString(" WHEN " + w.Cond.String() + " THEN " + w.Then.String())
	}
	if n.Else != nil {
		b.WriteString(" ELSE " + n.Else.String())
	}
	b.WriteString(" END")
	return b.String()
}

func (t TypeName) String() string {
	if len(t.Params) == 0 {
		return t.Name
	}
	ps := make([]string, len(t.Params))
	for i, v := range t.Params {
		ps[i] = strconv.Itoa(v)
	}
	return t.Name + "(" + strings.Join(ps, ", ") + ")"
}

func (n *Cast) String() string {
	kw := "CAST"
	if n.Try {
		kw = "TRY_CAST"
	}
	return kw + "(" + n.X.String() + " AS " + n.Type.String() + ")"
}

func (n *Call) String() string {
	switch {
	case n.Name == "extract" && len(n.Args) == 2:
		if l, ok := n.Args[0].(*Literal); ok && l.Kind == LitString {
			return "EXTRACT(" + l.Str + " FROM " + n.Args[1].String() + ")"
		}
	case strings.HasSuffix(n.Name, "_to") && len(n.Args) == 2:
		if l, ok := n.Args[1].(*Literal); ok && l.Kind == LitString {
			return strings.TrimSuffix(n.Name, "_to") + "(" + n.Args[0].String() + " TO " + l.Str + ")"
		}
	}
	parts := make([]string, len(n.Args))
	for i, x := range n.Args {
		parts[i] = x.String()
	}
	return n.Name + "(" + strings.Join(parts, ", ") + ")"
}

// Walk calls f for n and every node below it, parents first.
func Walk(n Node, f func(Node)) {
	if n == nil {
		return
	}
	f(n)
	switch n := n.(type) {
	case *Unary:
		Walk(n.X, f)
	case *Binary:
		Walk(n.L, f)
		Walk(n.R, f)
	case *IsTest:
		Walk(n.X, f)
	case *In:
		Walk(n.X, f)
		for _, x := range n.List {
			Walk(x, f)
		}
	case *Between:
		Walk(n.X, f)
		Walk(n.Lo, f)
		Walk(n.Hi, f)
	case *Like:
		Walk(n.X, f)
		Walk(n.Pattern, f)
	case *Case:
		Walk(n.Operand, f)
		for _, w := range n.Whens {
			Walk(w.Cond, f)
			Walk(w.Then, f)
		}
		Walk(n.Else, f)
	case *Cast:
		Walk(n.X, f)
	case *Call:
		for _, x := range n.Args {
			Walk(x, f)
		}
	}
}
