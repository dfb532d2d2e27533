package expr

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// The grammar below is declared with participle struct tags. One struct per
// precedence level, lowest first; the parse tree is then lowered into the
// exported Node types, which is what the rest of the package works on.

var sqlLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Whitespace", Pattern: `\s+`},
	{Name: "Keyword", Pattern: `(?i)(?:AND|OR|NOT|IS|NULL|TRUE|FALSE|IN|BETWEEN|LIKE|CASE|WHEN|THEN|ELSE|END|CAST|TRY_CAST|AS|FROM|TO|EXTRACT|INTERVAL|POSITION)\b`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_$]*`},
	{Name: "QIdent", Pattern: `"(?:[^"]|"")*"`},
	{Name: "BIdent", Pattern: "`(?:[^`]|``)*`"},
	{Name: "Float", Pattern: `(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+`},
	{Name: "Int", Pattern: `[0-9]+`},
	{Name: "String", Pattern: `'(?:[^']|'')*'`},
	{Name: "Op", Pattern: `<>|!=|<=|>=|\|\||[-+*/%=<>(),]`},
})

type pExpr struct {
	Or *pOr `parser:"@@"`
}

type pOr struct {
	Left *pAnd   `parser:"@@"`
	Rest []*pAnd `parser:"( 'OR' @@ )*"`
}

type pAnd struct {
	Left *pNot   `parser:"@@"`
	Rest []*pNot `parser:"( 'AND' @@ )*"`
}

type pNot struct {
	Pos  lexer.Position
	Not  *pNot  `parser:"  'NOT' @@"`
	Pred *pPred `parser:"| @@"`
}

type pPred struct {
	Left *pConcat   `parser:"@@"`
	Cmp  *pCmp      `parser:"( @@"`
	Is   *pIs       `parser:"| @@"`
	Neg  *pNegTests `parser:"| @@ )?"`
}

type pCmp struct {
	Pos   lexer.Position
	Op    string   `parser:"@( '=' | '<>' | '!=' | '<=' | '>=' | '<' | '>' )"`
	Right *pConcat `parser:"@@"`
}

type pIs struct {
	Pos  lexer.Position
	Not  bool   `parser:"'IS' @'NOT'?"`
	What string `parser:"@( 'NULL' | 'TRUE' | 'FALSE' )"`
}

type pNegTests struct {
	Pos     lexer.Position
	Not     bool      `parser:"@'NOT'?"`
	In      []*pExpr  `parser:"(  'IN' '(' @@ ( ',' @@ )* ')'"`
	Between *pBetween `parser:"| 'BETWEEN' @@"`
	Like    *pConcat  `parser:"| 'LIKE' @@ )"`
}

type pBetween struct {
	Lo *pConcat `parser:"@@"`
	Hi *pConcat `parser:"'AND' @@"`
}

type pConcat struct {
	Left *pAdd     `parser:"@@"`
	Rest []*pOpAdd `parser:"( @@ )*"`
}

type pOpAdd struct {
	Pos   lexer.Position
	Op    string `parser:"@'||'"`
	Right *pAdd  `parser:"@@"`
}

type pAdd struct {
	Left *pMul     `parser:"@@"`
	Rest []*pOpMul `parser:"( @@ )*"`
}

type pOpMul struct {
	Pos   lexer.Position
	Op    string `parser:"@( '+' | '-' )"`
	Right *pMul  `parser:"@@"`
}

type pMul struct {
	Left *pUnary     `parser:"@@"`
	Rest []*pOpUnary `parser:"( @@ )*"`
}

type pOpUnary struct {
	Pos   lexer.Position
	Op    string  `parser:"@( '*' | '/' | '%' )"`
	Right *pUnary `parser:"@@"`
}

type pUnary struct {
	Pos   lexer.Position
	Op    string    `parser:"(  @( '-' | '+' )"`
	Inner *pUnary   `parser:"   @@ )"`
	Prim  *pPrimary `parser:"| @@"`
}

type pPrimary struct {
	Pos     lexer.Position
	Case    *pCase     `parser:"  @@"`
	Cast    *pCast     `parser:"| @@"`
	Extract *pExtract  `parser:"| @@"`
	Posn    *pPosition `parser:"| @@"`
	Call    *pCall     `parser:"| @@"`
	Inter   *pInterval `parser:"| @@"`
	Float   *string    `parser:"| @Float"`
	Int     *string    `parser:"| @Int"`
	Str     *string    `parser:"| @String"`
	Bool    *string    `parser:"| @( 'TRUE' | 'FALSE' )"`
	Null    bool       `parser:"| @'NULL'"`
	Col     *string    `parser:"| @( Ident | QIdent | BIdent )"`
	Paren   *pExpr     `parser:"| '(' @@ ')'"`
}

type pInterval struct {
	Value string `parser:"'INTERVAL' @String"`
	Unit  string `parser:"@Ident"`
}

// pPosition is POSITION(sub IN s), or the call form POSITION(sub, s).
type pPosition struct {
	Sub *pConcat `parser:"'POSITION' '(' @@"`
	In  *pConcat `parser:"( 'IN' @@ | ',' @@ ) ')'"`
}

type pCase struct {
	Operand *pExpr   `parser:"'CASE' @@?"`
	Whens   []*pWhen `parser:"@@+"`
	Else    *pExpr   `parser:"( 'ELSE' @@ )? 'END'"`
}

type pWhen struct {
	Pos  lexer.Position
	When *pExpr `parser:"'WHEN' @@"`
	Then *pExpr `parser:"'THEN' @@"`
}

type pCast struct {
	Try  string    `parser:"@( 'CAST' | 'TRY_CAST' )"`
	X    *pExpr    `parser:"'(' @@"`
	Type *pTypeRef `parser:"'AS' @@ ')'"`
}

type pTypeRef struct {
	Pos    lexer.Position
	Name   string   `parser:"@Ident"`
	Params []string `parser:"( '(' @Int ( ',' @Int )* ')' )?"`
}

type pExtract struct {
	Field *pField `parser:"'EXTRACT' '(' @@"`
	X     *pExpr  `parser:"'FROM' @@ ')'"`
}

type pField struct {
	Pos  lexer.Position
	Name string `parser:"@Ident"`
}

type pCall struct {
	Name string   `parser:"@Ident '('"`
	Args []*pExpr `parser:"( @@ ( ',' @@ )* )?"`
	To   *pField  `parser:"( 'TO' @@ )? ')'"`
}

var sqlParser = participle.MustBuild[pExpr](
	participle.Lexer(sqlLexer),
	participle.Elide("Whitespace"),
	participle.CaseInsensitive("Keyword"),
	participle.UseLookahead(2),
)

// Parse parses src into an untyped AST. It does not look at any schema; use
// Compile to resolve columns and check types. A syntax error is a *Error of
// kind ErrSyntax that carries the 1-based character position.
func Parse(src string) (n Node, err error) {
	defer func() {
		// participle should not panic, but user input must never crash the
		// caller: turn anything unexpected into a syntax error.
		if r := recover(); r != nil {
			n, err = nil, &Error{Kind: ErrSyntax, Expr: src, Pos: 1, Msg: fmt.Sprintf("internal parser failure: %v", r)}
		}
	}()
	if strings.TrimSpace(src) == "" {
		return nil, &Error{Kind: ErrSyntax, Expr: src, Pos: 1, Msg: "empty expression"}
	}
	tree, perr := sqlParser.ParseString("", src)
	if perr != nil {
		pos := 1
		msg := perr.Error()
		var pe participle.Error
		if errors.As(perr, &pe) {
			pos = pe.Position().Offset + 1
			msg = pe.Message()
		}
		msg = expectedRe.ReplaceAllString(msg, "(expected an operand)")
		msg = strings.ReplaceAll(msg, `"<EOF>"`, "end of input")
		msg = strings.Replace(msg, "lexer: invalid input text", "unterminated string or invalid character at", 1)
		return nil, &Error{Kind: ErrSyntax, Expr: src, Pos: pos, Msg: msg}
	}
	l := lowerer{src: src}
	n = l.expr(tree)
	Walk(n, func(x Node) {
		if lit, ok := x.(*Literal); ok && lit.bad && l.err == nil {
			l.err = &Error{Kind: ErrSyntax, Expr: src, Pos: lit.P, Msg: "integer literal " + lit.raw + " out of range for BIGINT"}
		}
	})
	if l.err != nil {
		return nil, l.err
	}
	return n, nil
}

var expectedRe = regexp.MustCompile(`\(expected P[A-Za-z]+\)`)

type lowerer struct {
	src string
	err error
}

func (l *lowerer) fail(pos lexer.Position, format string, args ...any) {
	if l.err == nil {
		l.err = &Error{Kind: ErrSyntax, Expr: l.src, Pos: pos.Offset + 1, Msg: fmt.Sprintf(format, args...)}
	}
}

func p(pos lexer.Position) int { return pos.Offset + 1 }

func (l *lowerer) expr(e *pExpr) Node { return l.or(e.Or) }

func (l *lowerer) or(e *pOr) Node {
	n := l.and(e.Left)
	for _, r := range e.Rest {
		rn := l.and(r)
		n = &Binary{P: n.Pos(), Op: "OR", L: n, R: rn}
	}
	return n
}

func (l *lowerer) and(e *pAnd) Node {
	n := l.not(e.Left)
	for _, r := range e.Rest {
		rn := l.not(r)
		n = &Binary{P: n.Pos(), Op: "AND", L: n, R: rn}
	}
	return n
}

func (l *lowerer) not(e *pNot) Node {
	if e.Not != nil {
		return &Unary{P: p(e.Pos), Op: "NOT", X: l.not(e.Not)}
	}
	return l.pred(e.Pred)
}

func (l *lowerer) pred(e *pPred) Node {
	x := l.concat(e.Left)
	switch {
	case e.Cmp != nil:
		op := e.Cmp.Op
		if op == "!=" {
			op = "<>"
		}
		return &Binary{P: x.Pos(), OpPos: p(e.Cmp.Pos), Op: op, L: x, R: l.concat(e.Cmp.Right)}
	case e.Is != nil:
		return &IsTest{P: x.Pos(), X: x, Not: e.Is.Not, What: strings.ToUpper(e.Is.What)}
	case e.Neg != nil:
		t := e.Neg
		switch {
		case t.In != nil:
			in := &In{P: x.Pos(), X: x, Not: t.Not}
			for _, it := range t.In {
				in.List = append(in.List, l.expr(it))
			}
			return in
		case t.Between != nil:
			return &Between{P: x.Pos(), X: x, Not: t.Not, Lo: l.concat(t.Between.Lo), Hi: l.concat(t.Between.Hi)}
		default:
			return &Like{P: x.Pos(), X: x, Not: t.Not, Pattern: l.concat(t.Like)}
		}
	}
	return x
}

func (l *lowerer) concat(e *pConcat) Node {
	n := l.add(e.Left)
	for _, r := range e.Rest {
		n = &Binary{P: n.Pos(), OpPos: p(r.Pos), Op: "||", L: n, R: l.add(r.Right)}
	}
	return n
}

func (l *lowerer) add(e *pAdd) Node {
	n := l.mul(e.Left)
	for _, r := range e.Rest {
		n = &Binary{P: n.Pos(), OpPos: p(r.Pos), Op: r.Op, L: n, R: l.mul(r.Right)}
	}
	return n
}

func (l *lowerer) mul(e *pMul) Node {
	n := l.unary(e.Left)
	for _, r := range e.Rest {
		n = &Binary{P: n.Pos(), OpPos: p(r.Pos), Op: r.Op, L: n, R: l.unary(r.Right)}
	}
	return n
}

func (l *lowerer) unary(e *pUnary) Node {
	if e.Prim != nil {
		return l.primary(e.Prim)
	}
	x := l.unary(e.Inner)
	if e.Op == "+" {
		return x
	}
	// Fold the sign into numeric literals so that -9223372036854775808 works.
	if lit, ok := x.(*Literal); ok {
		switch lit.Kind {
		case LitInt:
			if lit.bad {
				if v, err := strconv.ParseInt("-"+lit.raw, 10, 64); err == nil {
					return &Literal{P: p(e.Pos), Kind: LitInt, Int: v}
				}
			} else if lit.Int != math.MinInt64 {
				return &Literal{P: p(e.Pos), Kind: LitInt, Int: -lit.Int}
			}
		case LitFloat:
			return &Literal{P: p(e.Pos), Kind: LitFloat, Float: -lit.Float}
		}
	}
	if lit, ok := x.(*Literal); ok && lit.Kind == LitInt && lit.bad {
		l.fail(e.Pos, "integer literal %s out of range", lit.raw)
	}
	return &Unary{P: p(e.Pos), Op: "-", X: x}
}

func unquoteIdent(s string) string {
	switch s[0] {
	case '"':
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	case '`':
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}

func (l *lowerer) primary(e *pPrimary) Node {
	pos := p(e.Pos)
	switch {
	case e.Case != nil:
		c := &Case{P: pos}
		if e.Case.Operand != nil {
			c.Operand = l.expr(e.Case.Operand)
		}
		for _, w := range e.Case.Whens {
			c.Whens = append(c.Whens, When{P: p(w.Pos), Cond: l.expr(w.When), Then: l.expr(w.Then)})
		}
		if e.Case.Else != nil {
			c.Else = l.expr(e.Case.Else)
		}
		return c
	case e.Cast != nil:
		t := TypeName{P: p(e.Cast.Type.Pos), Name: strings.ToUpper(e.Cast.Type.Name)}
		for _, s := range e.Cast.Type.Params {
			v, err := strconv.Atoi(s)
			if err != nil {
				l.fail(e.Cast.Type.Pos, "bad type parameter %s", s)
			}
			t.Params = append(t.Params, v)
		}
		return &Cast{P: pos, X: l.expr(e.Cast.X), Type: t, Try: strings.EqualFold(e.Cast.Try, "TRY_CAST")}
	case e.Extract != nil:
		f := strings.ToLower(e.Extract.Field.Name)
		return &Call{P: pos, Name: "extract", Args: []Node{
			&Literal{P: p(e.Extract.Field.Pos), Kind: LitString, Str: f},
			l.expr(e.Extract.X),
		}}
	case e.Posn != nil:
		return &Call{P: pos, Name: "position", Args: []Node{l.concat(e.Posn.Sub), l.concat(e.Posn.In)}}
	case e.Call != nil:
		c := &Call{P: pos, Name: strings.ToLower(e.Call.Name)}
		for _, a := range e.Call.Args {
			c.Args = append(c.Args, l.expr(a))
		}
		if e.Call.To != nil {
			// FLOOR(ts TO unit) / CEIL(ts TO unit): the unit becomes a trailing
			// string literal argument and the call is renamed.
			c.Name += "_to"
			c.Args = append(c.Args, &Literal{P: p(e.Call.To.Pos), Kind: LitString, Str: strings.ToLower(e.Call.To.Name)})
		}
		return c
	case e.Inter != nil:
		v := e.Inter.Value
		return &Literal{P: pos, Kind: LitInterval, Str: strings.TrimSpace(v[1 : len(v)-1]), Unit: strings.ToUpper(e.Inter.Unit)}
	case e.Float != nil:
		v, err := strconv.ParseFloat(*e.Float, 64)
		if err != nil {
			l.fail(e.Pos, "bad number %s: %v", *e.Float, err)
		}
		return &Literal{P: pos, Kind: LitFloat, Float: v}
	case e.Int != nil:
		v, err := strconv.ParseInt(*e.Int, 10, 64)
		if err != nil {
			// Might still be the magnitude of math.MinInt64; unary minus decides.
			return &Literal{P: pos, Kind: LitInt, raw: *e.Int, bad: true}
		}
		return &Literal{P: pos, Kind: LitInt, Int: v, raw: *e.Int}
	case e.Str != nil:
		s := *e.Str
		return &Literal{P: pos, Kind: LitString, Str: strings.ReplaceAll(s[1:len(s)-1], "''", "'")}
	case e.Bool != nil:
		return &Literal{P: pos, Kind: LitBool, Bool: strings.EqualFold(*e.Bool, "TRUE")}
	case e.Null:
		return &Literal{P: pos, Kind: LitNull}
	case e.Col != nil:
		return &ColumnRef{P: pos, Name: unquoteIdent(*e.Col)}
	case e.Paren != nil:
		return l.expr(e.Paren)
	}
	l.fail(e.Pos, "empty expression")
	return &Literal{P: pos, Kind: LitNull}
}
