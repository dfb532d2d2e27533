package expr

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var randomIters = flag.Int("expr.iters", 600, "random expressions in TestRandomAgainstReference")

// This file holds an independent row-at-a-time reference evaluator. Each
// random expression is generated together with its SQL text and a Go
// closure that computes the expected value of one row from plain Go values
// (int64, float64, string, bool, time.Time; nil is NULL). The vectorized
// result is compared with it row by row.

type rtype int

const (
	rInt rtype = iota
	rFloat
	rStr
	rBool
	rTS
)

type row map[string]any

var errRefDiv = errors.New("reference: division by zero")

type gexpr struct {
	sql  string
	eval func(r row) (any, error)
}

func lit(sql string, v any) gexpr {
	return gexpr{sql: sql, eval: func(row) (any, error) { return v, nil }}
}

// strict applies f when no argument is NULL.
func strict(sql string, f func(a []any) (any, error), args ...gexpr) gexpr {
	return gexpr{sql: sql, eval: func(r row) (any, error) {
		vals := make([]any, len(args))
		for i, a := range args {
			v, err := a.eval(r)
			if err != nil {
				return nil, err
			}
			if v == nil {
				// Evaluate the rest too: vectorized evaluation computes every
				// argument, so their errors surface as well.
				for _, b := range args[i+1:] {
					if _, err := b.eval(r); err != nil {
						return nil, err
					}
				}
				return nil, nil
			}
			vals[i] = v
		}
		return f(vals)
	}}
}

func toF(v any) float64 {
	switch v := v.(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	panic(fmt.Sprintf("toF %T", v))
}

type gen struct {
	r *rand.Rand
}

func (g *gen) pick(n int) int { return g.r.IntN(n) }

var intCols = []string{"i64", "i32", "u8"}
var floatCols = []string{"f64", "f32"}
var strCols = []string{"s", "ls"}

func (g *gen) intLit() gexpr {
	vals := []int64{0, 1, -1, 2, 3, 7, 10, 123, -50, math.MaxInt64, math.MinInt64}
	v := vals[g.pick(len(vals))]
	if v == math.MinInt64 {
		return lit("(-9223372036854775807 - 1)", v)
	}
	if v < 0 {
		return lit(fmt.Sprintf("(%d)", v), v)
	}
	return lit(strconv.FormatInt(v, 10), v)
}

func (g *gen) strLit() gexpr {
	vals := []string{"", "a", "abc", "a,b", "A b", "é", "it's", "ab,c,,d"}
	v := vals[g.pick(len(vals))]
	return lit(quoteString(v), v)
}

func (g *gen) expr(t rtype, depth int) gexpr {
	if depth <= 0 || g.pick(4) == 0 {
		return g.leaf(t)
	}
	switch t {
	case rInt:
		return g.intExpr(depth - 1)
	case rFloat:
		return g.floatExpr(depth - 1)
	case rStr:
		return g.strExpr(depth - 1)
	case rBool:
		return g.boolExpr(depth - 1)
	}
	return g.leaf(rTS)
}

func colRef(name string) gexpr {
	return gexpr{sql: name, eval: func(r row) (any, error) { return r[name], nil }}
}

func (g *gen) leaf(t rtype) gexpr {
	switch t {
	case rInt:
		if g.pick(3) == 0 {
			return g.intLit()
		}
		return colRef(intCols[g.pick(len(intCols))])
	case rFloat:
		if g.pick(3) == 0 {
			vals := []float64{0, 0.5, -2.25, 0.908, 1e10}
			v := vals[g.pick(len(vals))]
			s := strconv.FormatFloat(v, 'g', -1, 64)
			if !strings.ContainsAny(s, ".e") {
				s += ".0"
			}
			return lit("("+s+")", v)
		}
		return colRef(floatCols[g.pick(len(floatCols))])
	case rStr:
		if g.pick(3) == 0 {
			return g.strLit()
		}
		return colRef(strCols[g.pick(len(strCols))])
	case rBool:
		switch g.pick(4) {
		case 0:
			return lit("TRUE", true)
		case 1:
			return lit("FALSE", false)
		}
		return colRef("b")
	}
	if g.pick(3) == 0 {
		return colRef("d")
	}
	return colRef("ts")
}

func wrapI32(v int64) int64 { return int64(int32(v)) }

func (g *gen) intExpr(d int) gexpr {
	a, b := g.expr(rInt, d), g.expr(rInt, d)
	switch g.pick(23) {
	case 0:
		return strict("("+a.sql+" + "+b.sql+")", func(v []any) (any, error) { return v[0].(int64) + v[1].(int64), nil }, a, b)
	case 1:
		return strict("("+a.sql+" - "+b.sql+")", func(v []any) (any, error) { return v[0].(int64) - v[1].(int64), nil }, a, b)
	case 2:
		return strict("("+a.sql+" * "+b.sql+")", func(v []any) (any, error) { return v[0].(int64) * v[1].(int64), nil }, a, b)
	case 3, 4:
		op := "/"
		if g.pick(2) == 0 {
			op = "%"
		}
		if g.pick(3) > 0 { // mostly safe divisors
			b = strict("(ABS("+b.sql+") % 5 + 1)", func(v []any) (any, error) {
				x := v[0].(int64)
				if x < 0 {
					x = -x
				}
				return x%5 + 1, nil
			}, b)
		}
		return strict("("+a.sql+" "+op+" "+b.sql+")", func(v []any) (any, error) {
			x, y := v[0].(int64), v[1].(int64)
			if y == 0 {
				return nil, errRefDiv
			}
			if op == "/" {
				if x == math.MinInt64 && y == -1 {
					return x, nil
				}
				return x / y, nil
			}
			if y == -1 {
				return int64(0), nil
			}
			return x % y, nil
		}, a, b)
	case 5:
		return strict("MOD("+a.sql+", 7)", func(v []any) (any, error) { return v[0].(int64) % 7, nil }, a)
	case 6:
		return strict("(-"+a.sql+")", func(v []any) (any, error) { return -v[0].(int64), nil }, a)
	case 7:
		s := g.expr(rStr, d)
		return strict("CHAR_LENGTH("+s.sql+")", func(v []any) (any, error) { return int64(len([]rune(v[0].(string)))), nil }, s)
	case 8:
		s := g.expr(rStr, d)
		return gexpr{sql: "count_char(" + s.sql + ", 'a')", eval: func(r row) (any, error) {
			v, err := s.eval(r)
			if err != nil || v == nil {
				return int64(0), err
			}
			n := int64(0)
			for _, r := range v.(string) {
				if r == 'a' {
					n++
				}
			}
			return n, nil
		}}
	case 9:
		return g.caseExpr(rInt, d)
	case 10:
		return g.coalesce(rInt, d)
	case 11:
		ts := g.expr(rTS, d)
		fields := []struct {
			name string
			f    func(t time.Time) int64
		}{
			{"HOUR", func(t time.Time) int64 { return int64(t.Hour()) }},
			{"MINUTE", func(t time.Time) int64 { return int64(t.Minute()) }},
			{"SECOND", func(t time.Time) int64 { return int64(t.Second()) }},
			{"YEAR", func(t time.Time) int64 { return int64(t.Year()) }},
			{"MONTH", func(t time.Time) int64 { return int64(t.Month()) }},
			{"DAYOFMONTH", func(t time.Time) int64 { return int64(t.Day()) }},
			{"DAYOFWEEK", func(t time.Time) int64 { return int64(t.Weekday()) + 1 }},
		}
		f := fields[g.pick(len(fields))]
		return strict(f.name+"("+ts.sql+")", func(v []any) (any, error) { return f.f(v[0].(time.Time)), nil }, ts)
	case 12:
		return strict("CAST("+a.sql+" AS INT)", func(v []any) (any, error) { return wrapI32(v[0].(int64)), nil }, a)
	case 13:
		s := g.expr(rStr, d)
		return strict("POSITION('b', "+s.sql+")", func(v []any) (any, error) {
			i := strings.Index(v[0].(string), "b")
			if i < 0 {
				return int64(0), nil
			}
			return int64(utf8.RuneCountInString(v[0].(string)[:i]) + 1), nil
		}, s)
	case 14:
		s := g.expr(rStr, d)
		return strict("TRY_CAST("+s.sql+" AS BIGINT)", func(v []any) (any, error) {
			x, err := strconv.ParseInt(strings.TrimSpace(v[0].(string)), 10, 64)
			if err != nil {
				return nil, nil
			}
			return x, nil
		}, s)
	case 15:
		return strict("ABS("+a.sql+")", func(v []any) (any, error) {
			if x := v[0].(int64); x < 0 {
				return -x, nil
			}
			return v[0], nil
		}, a)
	case 16:
		return gexpr{sql: "NULLIF(" + a.sql + ", " + b.sql + ")", eval: func(r row) (any, error) {
			x, err := a.eval(r)
			if err != nil {
				return nil, err
			}
			y, err := b.eval(r)
			if err != nil {
				return nil, err
			}
			if x != nil && x == y {
				return nil, nil
			}
			return x, nil
		}}
	case 17:
		c := g.expr(rBool, d)
		return gexpr{sql: "IF(" + c.sql + ", " + a.sql + ", " + b.sql + ")", eval: func(r row) (any, error) {
			cv, err := c.eval(r)
			if err != nil {
				return nil, err
			}
			if cv == true {
				return a.eval(r)
			}
			return b.eval(r)
		}}
	case 18:
		f := g.expr(rFloat, d)
		// Keep the float in range so the conversion is well defined.
		return strict("CAST(("+f.sql+") / 1e300 AS BIGINT)", func(v []any) (any, error) { return int64(v[0].(float64) / 1e300), nil }, f)
	case 19:
		return strict("ROUND("+a.sql+", -1)", func(v []any) (any, error) {
			x := v[0].(int64)
			q, rem := x/10, x%10
			if rem >= 5 {
				q++
			} else if rem <= -5 {
				q--
			}
			return q * 10, nil
		}, a)
	case 21:
		// The same sub-expression several times: a shared node.
		x := g.expr(rInt, d)
		return gexpr{sql: "CASE WHEN (" + x.sql + " > 0) THEN " + x.sql + " ELSE (" + x.sql + " - " + x.sql + " * 2) END", eval: func(r row) (any, error) {
			v, err := x.eval(r)
			if err != nil || v == nil {
				if err == nil {
					return nil, nil // NULL > 0 is not true: ELSE, which is NULL too
				}
				return nil, err
			}
			if v.(int64) > 0 {
				return v, nil
			}
			return v.(int64) - v.(int64)*2, nil
		}}
	case 20:
		s := g.expr(rStr, d)
		return strict("CAST(LENGTH("+s.sql+") AS TINYINT)", func(v []any) (any, error) { return int64(int8(len([]rune(v[0].(string))))), nil }, s)
	}
	return g.leaf(rInt)
}

func (g *gen) floatExpr(d int) gexpr {
	a, b := g.expr(rFloat, d), g.expr(rFloat, d)
	if g.pick(3) == 0 {
		b = g.expr(rInt, d)
	}
	ops := []string{"+", "-", "*", "/", "%"}
	switch g.pick(10) {
	case 0, 1, 2:
		op := ops[g.pick(len(ops))]
		return strict("("+a.sql+" "+op+" "+b.sql+")", func(v []any) (any, error) {
			x, y := toF(v[0]), toF(v[1])
			switch op {
			case "+":
				return x + y, nil
			case "-":
				return x - y, nil
			case "*":
				return x * y, nil
			case "/":
				return x / y, nil
			}
			return math.Mod(x, y), nil
		}, a, b)
	case 3:
		i := g.expr(rInt, d)
		return strict("(0.908 * "+i.sql+")", func(v []any) (any, error) { return 0.908 * float64(v[0].(int64)), nil }, i)
	case 4:
		return strict("SQRT("+a.sql+")", func(v []any) (any, error) { return math.Sqrt(v[0].(float64)), nil }, a)
	case 5:
		return strict("FLOOR("+a.sql+")", func(v []any) (any, error) { return math.Floor(v[0].(float64)), nil }, a)
	case 6:
		return strict("CEIL("+a.sql+")", func(v []any) (any, error) { return math.Ceil(v[0].(float64)), nil }, a)
	case 7:
		i := g.expr(rInt, d)
		return strict("CAST("+i.sql+" AS DOUBLE)", func(v []any) (any, error) { return float64(v[0].(int64)), nil }, i)
	case 8:
		return g.caseExpr(rFloat, d)
	case 9:
		return strict("POWER("+a.sql+", 2)", func(v []any) (any, error) { return math.Pow(v[0].(float64), 2), nil }, a)
	}
	return g.leaf(rFloat)
}

// refSubstr is SUBSTRING over runes, clipped as in Flink.
func refSubstr(s string, pos, n int64) string {
	rs := []rune(s)
	lc := int64(len(rs))
	if pos < 0 {
		pos += lc + 1
	}
	var out []rune
	for k := pos; k < pos+n; k++ {
		if k >= 1 && k <= lc {
			out = append(out, rs[k-1])
		}
	}
	return string(out)
}

func (g *gen) strExpr(d int) gexpr {
	a, b := g.expr(rStr, d), g.expr(rStr, d)
	switch g.pick(13) {
	case 0:
		return strict("LOWER("+a.sql+")", func(v []any) (any, error) { return strings.ToLower(v[0].(string)), nil }, a)
	case 1:
		return strict("UPPER("+a.sql+")", func(v []any) (any, error) { return strings.ToUpper(v[0].(string)), nil }, a)
	case 2:
		return strict("TRIM("+a.sql+")", func(v []any) (any, error) { return strings.Trim(v[0].(string), " "), nil }, a)
	case 3:
		pos, n := int64(g.pick(7)-2), int64(g.pick(4))
		return strict(fmt.Sprintf("SUBSTRING(%s, %d, %d)", a.sql, pos, n), func(v []any) (any, error) { return refSubstr(v[0].(string), pos, n), nil }, a)
	case 4:
		return strict("("+a.sql+" || "+b.sql+")", func(v []any) (any, error) { return v[0].(string) + v[1].(string), nil }, a, b)
	case 5:
		return strict("CONCAT("+a.sql+", "+b.sql+", 'x')", func(v []any) (any, error) { return v[0].(string) + v[1].(string) + "x", nil }, a, b)
	case 6:
		return strict("REPLACE("+a.sql+", 'a', 'xy')", func(v []any) (any, error) { return strings.ReplaceAll(v[0].(string), "a", "xy"), nil }, a)
	case 7:
		k := g.pick(4) - 1
		return strict(fmt.Sprintf("SPLIT_INDEX(%s, ',', %d)", a.sql, k), func(v []any) (any, error) {
			parts := strings.Split(v[0].(string), ",")
			if v[0].(string) == "" {
				parts = nil
			}
			if k < 0 || k >= len(parts) {
				return nil, nil
			}
			return parts[k], nil
		}, a)
	case 8:
		grp := g.pick(3)
		return strict(fmt.Sprintf("REGEXP_EXTRACT(%s, '([a-c]+)(,?)', %d)", a.sql, grp), func(v []any) (any, error) {
			// Reference: scan for the leftmost run of a-c, then an optional comma.
			s := v[0].(string)
			for i := 0; i < len(s); i++ {
				if s[i] >= 'a' && s[i] <= 'c' {
					j := i
					for j < len(s) && s[j] >= 'a' && s[j] <= 'c' {
						j++
					}
					k := j
					if k < len(s) && s[k] == ',' {
						k++
					}
					return []string{s[i:k], s[i:j], s[j:k]}[grp], nil
				}
			}
			return nil, nil
		}, a)
	case 9:
		i := g.expr(rInt, d)
		return strict("CAST("+i.sql+" AS VARCHAR)", func(v []any) (any, error) { return strconv.FormatInt(v[0].(int64), 10), nil }, i)
	case 10:
		ts := g.expr(rTS, d)
		return strict("DATE_FORMAT("+ts.sql+", 'yyyy-MM-dd HH:mm:ss.SSS')", func(v []any) (any, error) {
			return v[0].(time.Time).Format("2006-01-02 15:04:05.000"), nil
		}, ts)
	case 11:
		return g.caseExpr(rStr, d)
	case 12:
		return g.coalesce(rStr, d)
	}
	return g.leaf(rStr)
}

// refLike matches SQL LIKE without escapes, by recursion.
func refLike(s, p []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '%':
		for i := 0; i <= len(s); i++ {
			if refLike(s[i:], p[1:]) {
				return true
			}
		}
		return false
	case '_':
		return len(s) > 0 && refLike(s[1:], p[1:])
	}
	return len(s) > 0 && s[0] == p[0] && refLike(s[1:], p[1:])
}

func refCmp(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

func compareAny(a, b any) int {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			switch {
			case x < y:
				return -1
			case x > y:
				return 1
			}
			return 0
		}
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	fx, fy := toF(a), toF(b)
	switch {
	case fx < fy:
		return -1
	case fx > fy:
		return 1
	case fx == fy:
		return 0
	}
	return 2 // NaN: every comparison but <> is false
}

func refCmpNaN(op string, c int) bool {
	if c == 2 {
		return op == "<>"
	}
	return refCmp(op, c)
}

func (g *gen) boolExpr(d int) gexpr {
	ops := []string{"=", "<>", "<", "<=", ">", ">="}
	switch g.pick(12) {
	case 0, 1:
		ts := []rtype{rInt, rFloat, rStr, rTS, rBool}
		t := ts[g.pick(len(ts))]
		a, b := g.expr(t, d), g.expr(t, d)
		if t == rFloat && g.pick(2) == 0 {
			b = g.expr(rInt, d)
		}
		if t == rTS {
			b = lit("'2001-09-09 01:46:40'", time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC))
		}
		op := ops[g.pick(len(ops))]
		return strict("("+a.sql+" "+op+" "+b.sql+")", func(v []any) (any, error) { return refCmpNaN(op, compareAny(v[0], v[1])), nil }, a, b)
	case 2, 3:
		a, b := g.expr(rBool, d), g.expr(rBool, d)
		and := g.pick(2) == 0
		op := map[bool]string{true: "AND", false: "OR"}[and]
		return gexpr{sql: "(" + a.sql + " " + op + " " + b.sql + ")", eval: func(r row) (any, error) {
			x, err := a.eval(r)
			if err != nil {
				return nil, err
			}
			if and && x == false {
				return false, nil
			}
			if !and && x == true {
				return true, nil
			}
			y, err := b.eval(r)
			if err != nil {
				return nil, err
			}
			if and {
				switch {
				case y == false:
					return false, nil
				case x == nil || y == nil:
					return nil, nil
				}
				return true, nil
			}
			switch {
			case y == true:
				return true, nil
			case x == nil || y == nil:
				return nil, nil
			}
			return false, nil
		}}
	case 4:
		a := g.expr(rBool, d)
		return strict("(NOT "+a.sql+")", func(v []any) (any, error) { return !v[0].(bool), nil }, a)
	case 5:
		t := []rtype{rInt, rStr, rFloat, rBool}[g.pick(4)]
		a := g.expr(t, d)
		not := g.pick(2) == 0
		sql := "(" + a.sql + " IS NULL)"
		if not {
			sql = "(" + a.sql + " IS NOT NULL)"
		}
		return gexpr{sql: sql, eval: func(r row) (any, error) {
			v, err := a.eval(r)
			if err != nil {
				return nil, err
			}
			return (v == nil) != not, nil
		}}
	case 6:
		a := g.expr(rInt, d)
		items := []int64{1, 3, 7, 123}
		withNull := g.pick(3) == 0
		not := g.pick(2) == 0
		sql := "(" + a.sql + map[bool]string{true: " NOT IN (", false: " IN ("}[not] + "1, 3, 7, 123" + map[bool]string{true: ", NULL))", false: "))"}[withNull]
		return strict(sql, func(v []any) (any, error) {
			for _, it := range items {
				if v[0].(int64) == it {
					return !not, nil
				}
			}
			if withNull {
				return nil, nil
			}
			return not, nil
		}, a)
	case 7:
		a := g.expr(rStr, d)
		not := g.pick(2) == 0
		sql := "(LOWER(" + a.sql + ")" + map[bool]string{true: " NOT IN ", false: " IN "}[not] + "('a', 'abc', 'é', ''))"
		return strict(sql, func(v []any) (any, error) {
			s := strings.ToLower(v[0].(string))
			in := s == "a" || s == "abc" || s == "é" || s == ""
			return in != not, nil
		}, a)
	case 8:
		a, lo, hi := g.expr(rInt, d), g.expr(rInt, d), g.expr(rInt, d)
		not := g.pick(2) == 0
		sql := "(" + a.sql + map[bool]string{true: " NOT BETWEEN ", false: " BETWEEN "}[not] + lo.sql + " AND " + hi.sql + ")"
		return gexpr{sql: sql, eval: func(r row) (any, error) {
			x, err := a.eval(r)
			if err != nil {
				return nil, err
			}
			l, err := lo.eval(r)
			if err != nil {
				return nil, err
			}
			var ge any
			if x != nil && l != nil {
				ge = x.(int64) >= l.(int64)
			}
			if ge == false { // AND short-circuits: hi is not evaluated
				return not, nil
			}
			h, err := hi.eval(r)
			if err != nil {
				return nil, err
			}
			var le any
			if x != nil && h != nil {
				le = x.(int64) <= h.(int64)
			}
			var res any
			switch {
			case le == false:
				res = false
			case ge == nil || le == nil:
				res = nil
			default:
				res = true
			}
			if not && res != nil {
				res = !res.(bool)
			}
			return res, nil
		}}
	case 9:
		a := g.expr(rStr, d)
		pats := []string{"a%", "%b", "%,%", "_", "a_c", "%", "", "A%b%"}
		p := pats[g.pick(len(pats))]
		return strict("("+a.sql+" LIKE "+quoteString(p)+")", func(v []any) (any, error) { return refLike([]rune(v[0].(string)), []rune(p)), nil }, a)
	case 10:
		a := g.expr(rStr, d)
		return strict("STARTS_WITH("+a.sql+", 'a')", func(v []any) (any, error) { return strings.HasPrefix(v[0].(string), "a"), nil }, a)
	case 11:
		return g.caseExpr(rBool, d)
	}
	return g.leaf(rBool)
}

func (g *gen) caseExpr(t rtype, d int) gexpr {
	n := 1 + g.pick(3)
	conds := make([]gexpr, n)
	thens := make([]gexpr, n)
	var b strings.Builder
	b.WriteString("CASE")
	for i := range n {
		conds[i], thens[i] = g.expr(rBool, d), g.expr(t, d)
		fmt.Fprintf(&b, " WHEN %s THEN %s", conds[i].sql, thens[i].sql)
	}
	var els *gexpr
	if g.pick(3) > 0 {
		e := g.expr(t, d)
		els = &e
		b.WriteString(" ELSE " + e.sql)
	}
	b.WriteString(" END")
	return gexpr{sql: b.String(), eval: func(r row) (any, error) {
		for i := range conds {
			c, err := conds[i].eval(r)
			if err != nil {
				return nil, err
			}
			if c == true {
				v, err := thens[i].eval(r)
				return promote(t, v, err)
			}
		}
		if els == nil {
			return nil, nil
		}
		v, err := els.eval(r)
		return promote(t, v, err)
	}}
}

func promote(t rtype, v any, err error) (any, error) {
	if t == rFloat && err == nil {
		if i, ok := v.(int64); ok {
			return float64(i), nil
		}
	}
	return v, err
}

func (g *gen) coalesce(t rtype, d int) gexpr {
	a, b := g.expr(t, d), g.expr(t, d)
	return gexpr{sql: "COALESCE(" + a.sql + ", NULL, " + b.sql + ")", eval: func(r row) (any, error) {
		x, err := a.eval(r)
		if err != nil {
			return nil, err
		}
		y, err := b.eval(r) // every argument is evaluated
		if err != nil {
			return nil, err
		}
		if x != nil {
			return x, nil
		}
		return y, nil
	}}
}

// ---- random batches ----

var randSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
	{Name: "d", Type: arrow.FixedWidthTypes.Date32, Nullable: true},
}, nil)

func randString(r *rand.Rand) string {
	alpha := []string{"a", "b", "c", "A", "B", " ", ",", "é", "1", "x"}
	n := r.IntN(8)
	var b strings.Builder
	for range n {
		b.WriteString(alpha[r.IntN(len(alpha))])
	}
	if r.IntN(6) == 0 {
		return strconv.Itoa(r.IntN(2000) - 1000)
	}
	return b.String()
}

// randBatch returns a batch and the reference rows. Each column gets its
// own null density (including none and all).
func randBatch(mem memory.Allocator, r *rand.Rand, n int) (arrow.RecordBatch, []row) {
	b := array.NewRecordBuilder(mem, randSchema)
	defer b.Release()
	rows := make([]row, n)
	for i := range rows {
		rows[i] = row{}
	}
	for c, f := range randSchema.Fields() {
		density := []float64{0, 0, 0.2, 0.5, 1}[r.IntN(5)]
		fb := b.Field(c)
		for i := range n {
			if r.Float64() < density {
				fb.AppendNull()
				rows[i][f.Name] = nil
				continue
			}
			switch fb := fb.(type) {
			case *array.Int64Builder:
				v := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, r.Int64N(2000) - 1000, r.Int64()}[r.IntN(7)]
				fb.Append(v)
				rows[i][f.Name] = v
			case *array.Int32Builder:
				v := int32(r.IntN(400) - 200)
				fb.Append(v)
				rows[i][f.Name] = int64(v)
			case *array.Uint8Builder:
				v := uint8(r.IntN(256))
				fb.Append(v)
				rows[i][f.Name] = int64(v)
			case *array.Float64Builder:
				v := []float64{0, -0.5, 1e300, float64(r.IntN(100)) / 4, r.NormFloat64() * 1000}[r.IntN(5)]
				fb.Append(v)
				rows[i][f.Name] = v
			case *array.Float32Builder:
				v := float32(r.IntN(1000)) / 8
				fb.Append(v)
				rows[i][f.Name] = float64(v)
			case *array.StringBuilder:
				v := randString(r)
				fb.Append(v)
				rows[i][f.Name] = v
			case *array.LargeStringBuilder:
				v := randString(r)
				fb.Append(v)
				rows[i][f.Name] = v
			case *array.BooleanBuilder:
				v := r.IntN(2) == 0
				fb.Append(v)
				rows[i][f.Name] = v
			case *array.Date32Builder:
				v := r.Int64N(40000) - 10000
				fb.Append(arrow.Date32(v))
				rows[i][f.Name] = time.Unix(v*86400, 0).UTC()
			case *array.TimestampBuilder:
				v := r.Int64N(4_000_000_000_000) - 1_000_000_000_000 // 1938..2096
				fb.Append(arrow.Timestamp(v))
				rows[i][f.Name] = time.UnixMilli(v).UTC()
			}
		}
	}
	return b.NewRecordBatch(), rows
}

// goValue converts row i of an evaluated array to the reference's Go value.
func goValue(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Uint8:
		return int64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		return a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit).UTC()
	case *array.Date32:
		return a.Value(i).ToTime().UTC()
	}
	panic(fmt.Sprintf("goValue: %T", a))
}

func sameValue(want, got any) bool {
	if wf, ok := want.(float64); ok {
		gf, ok := got.(float64)
		return ok && (wf == gf || math.IsNaN(wf) && math.IsNaN(gf))
	}
	if wt, ok := want.(time.Time); ok {
		gt, ok := got.(time.Time)
		return ok && wt.Equal(gt)
	}
	return want == got
}

func TestRandomAgainstReference(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	g := &gen{r: r}
	ctx := context.Background()
	types := []rtype{rInt, rFloat, rStr, rBool}
	errs, checked := 0, 0
	for iter := range *randomIters {
		n := []int{0, 1, 7, 64, 200}[r.IntN(5)]
		full, rows := randBatch(mem, r, n+10)
		// A slice with a non-zero offset exercises offset handling.
		off := r.IntN(10)
		batch := full.NewSlice(int64(off), int64(off+n))
		full.Release()
		rows = rows[off : off+n]
		ty := types[iter%len(types)]
		ge := g.expr(ty, 4)
		e, err := Compile(ge.sql, randSchema)
		if err != nil {
			batch.Release()
			t.Fatalf("seed %d: compile %s: %v", seed, ge.sql, err)
		}
		emem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer func() {
			if emem.CurrentAlloc() != 0 {
				t.Errorf("seed %d: %s: %d bytes leaked", seed, ge.sql, emem.CurrentAlloc())
			}
		}()
		got, err := e.Eval(ctx, emem, batch)
		var refErr error
		for i := range rows {
			if _, err := ge.eval(rows[i]); err != nil {
				refErr = err
				break
			}
		}
		switch {
		case refErr != nil && err == nil:
			got.Release()
			batch.Release()
			t.Fatalf("seed %d: %s: reference fails (%v) but Eval succeeded", seed, ge.sql, refErr)
		case refErr == nil && err != nil:
			batch.Release()
			t.Fatalf("seed %d: %s: Eval failed: %v", seed, ge.sql, err)
		case err != nil:
			var ee *EvalError
			if !errors.As(err, &ee) || !errors.Is(err, ErrDivideByZero) || ee.Row < 0 || ee.Row >= n {
				t.Fatalf("seed %d: %s: want an *EvalError for division by zero, got %v", seed, ge.sql, err)
			}
			if _, rerr := ge.eval(rows[ee.Row]); rerr == nil {
				t.Fatalf("seed %d: %s: error names row %d, where the reference succeeds", seed, ge.sql, ee.Row)
			}
			errs++
			batch.Release()
			continue
		}
		if got.Len() != n {
			t.Fatalf("seed %d: %s: got %d rows, want %d", seed, ge.sql, got.Len(), n)
		}
		for i := range rows {
			want, _ := ge.eval(rows[i])
			want, _ = promote(ty, want, nil)
			if gv := goValue(got, i); !sameValue(want, gv) {
				t.Fatalf("seed %d: %s\nrow %d: %v\nwant %#v, got %#v", seed, ge.sql, i, rows[i], want, gv)
			}
			checked++
		}
		// Filter must agree with the reference on boolean expressions.
		if ty == rBool {
			f, err := Filter(ctx, emem, e, batch)
			if err != nil {
				t.Fatalf("seed %d: filter %s: %v", seed, ge.sql, err)
			}
			var keep []int
			for i := range rows {
				if v, _ := ge.eval(rows[i]); v == true {
					keep = append(keep, i)
				}
			}
			if int(f.NumRows()) != len(keep) {
				t.Fatalf("seed %d: filter %s: %d rows, want %d", seed, ge.sql, f.NumRows(), len(keep))
			}
			for j, i := range keep {
				for c := range randSchema.Fields() {
					if w, gv := goValue(batch.Column(c), i), goValue(f.Column(c), j); !sameValue(w, gv) {
						t.Fatalf("seed %d: filter %s: row %d col %d: want %v got %v", seed, ge.sql, j, c, w, gv)
					}
				}
			}
			f.Release()
		}
		got.Release()
		batch.Release()
	}
	t.Logf("%d expressions, %d rows checked, %d runs ended in an expected error", *randomIters, checked, errs)
}
