// Package expr owns Sluice's vectorized expressions: the SQL-like text used
// for filters, projections and computed columns in job files
// (`0.908 * price`, `MOD(auction, 123) = 0`,
// `price > 1000 AND channel <> 'apple'`), its parser, its type checker and
// its evaluator over Apache Arrow record batches.
//
// # Using it
//
//	e, err := expr.Compile("0.908 * price", schema) // parse + type-check, once per job
//	if err != nil {
//		return err // *expr.Error: names the text, the position and the reason
//	}
//	col, err := e.Eval(ctx, mem, batch) // one arrow.Array of e.DataType(), caller releases
//	if err != nil {
//		var ee *expr.EvalError // bad data: ee.Row is the row to dead-letter
//		...
//	}
//	defer col.Release()
//
//	pred := expr.MustCompile("MOD(auction, 123) = 0", schema)
//	kept, err := expr.Filter(ctx, mem, pred, batch) // caller releases kept
//
//	p, err := expr.NewProjection(schema, []expr.NamedExpr{
//		{Name: "auction", Expr: expr.MustCompile("auction", schema)}, // passed through, not copied
//		{Name: "price", Expr: expr.MustCompile("0.908 * price", schema)},
//	})
//	out, err := p.Apply(ctx, mem, batch) // p.Schema() describes out; caller releases
//
// # Concurrency
//
// A compiled *Expr and a *Projection are immutable: any number of goroutines
// may call Eval, Filter and Apply at the same time. Each call allocates its
// results from the allocator it is given; the only shared state is a
// sync.Pool of scratch byte slices.
//
// # Grammar
//
// Keywords and function names are case-insensitive. Bare identifiers are
// case-sensitive column names (`dateTime`); quote other names with "double
// quotes" or `backticks` (doubling the quote inside). Keywords (AND, OR,
// NOT, IS, NULL, TRUE, FALSE, IN, BETWEEN, LIKE, CASE, WHEN, THEN, ELSE, END,
// CAST, TRY_CAST, AS, FROM, TO, EXTRACT, INTERVAL, POSITION) must be quoted
// to be used as column names. Literals: 42 (BIGINT), 0.908 and 1e6 (DOUBLE), 'text'
// (a single quote inside is doubled, as in SQL), TRUE, FALSE, NULL, and INTERVAL 'n' MILLISECOND|SECOND|
// MINUTE|HOUR|DAY, which may only be added to or subtracted from a
// timestamp or date (dateTime - INTERVAL '4' SECOND). Operators, from
// loosest to tightest binding:
//
//	OR
//	AND
//	NOT
//	= <> != < <= > >=   IS [NOT] NULL|TRUE|FALSE   [NOT] IN (...)
//	                    [NOT] BETWEEN a AND b      [NOT] LIKE 'pattern'
//	||                  (string concatenation)
//	+ -
//	* / %
//	unary - +
//	literals, columns, (expr), f(args), CASE, CAST, EXTRACT
//
// CASE WHEN c THEN v [WHEN ...] [ELSE v] END and CASE x WHEN a THEN v ... END
// are supported. CAST(x AS type) and TRY_CAST (NULL instead of an error)
// take BOOLEAN, TINYINT, SMALLINT, INT/INTEGER, BIGINT, FLOAT/REAL, DOUBLE,
// VARCHAR/STRING/CHAR, DATE, TIMESTAMP[(p)] (p 0 → s, 1–3 → ms, 4–6 → µs
// (the default), 7–9 → ns) and TIMESTAMP_LTZ[(p)]. LIKE takes a string
// literal pattern with % and _ wildcards and \ as escape.
//
// # Functions
//
// Strings (s: string, n: integer):
//
//	lower(s) upper(s) length(s) char_length(s) trim(s) ltrim(s) rtrim(s)  (trim removes spaces)
//	substring(s, pos[, len]) substr(...)   1-based characters; pos < 0 counts from the end
//	concat(s, ...)  replace(s, from, to)  starts_with(s, p)  ends_with(s, p)
//	position(sub IN s) position(sub, s)  1-based character position of sub in s, 0 when absent
//	strpos(s, sub)                        the same with the arguments swapped
//	regexp_extract(s, 'pattern'[, group]) group 0 (default) is the whole match; NULL without a match
//	regexp_like(s, 'pattern') regexp(...) RE2 syntax (Go regexp), search anywhere in s
//	split_index(s, delim, n)              n-th (0-based) field; NULL when out of range or s = '' (Flink)
//	count_char(s, c)                      occurrences of the character c; 0 when s is NULL (nexmark UDF)
//
// Conditionals: coalesce(a, ...), ifnull(a, b), nvl(a, b), nullif(a, b),
// if(cond, a, b).
//
// Math: abs(x), sign(x), round(x[, d]) (halves away from zero; d may be
// negative), floor(x), ceil(x)/ceiling(x), mod(a, b), power(x, y)/pow,
// sqrt(x), exp(x), ln(x), log10(x). sqrt, exp, ln, log10 and power return
// DOUBLE; the others keep the argument's type.
//
// Time (ts: timestamp or date): year, quarter, month, day/dayofmonth,
// dayofweek (1 = Sunday … 7 = Saturday), dayofyear, hour, minute, second;
// EXTRACT(field FROM ts) for those fields plus DOW, DOY, MILLISECOND,
// MICROSECOND, EPOCH; date_format(ts, 'yyyy-MM-dd HH:mm') with Java pattern
// letters y M d H h m s S a E and 'quoted' text; to_timestamp(s[, pattern])
// → TIMESTAMP(3); FLOOR(ts TO unit), CEIL(ts TO unit) and
// date_trunc('unit', ts) for SECOND, MINUTE, HOUR, DAY, MONTH, YEAR.
//
// # Types
//
// Input columns may be int8–int64, uint8–uint64, float32/64, boolean,
// string, large_string, timestamp (any unit, with or without a zone; values
// are read as UTC), date32 and null. Arithmetic widens: integer op integer
// is BIGINT (int64, wrapping on overflow), anything with a float is DOUBLE;
// integer / is integer division truncating toward zero and % takes the
// sign of the dividend, as in Flink. A bare column keeps its type (and is
// passed through without copying); results are int64, float64, boolean,
// string, timestamp or date32, or the narrower type of a CAST.
// Comparisons accept two numbers, two strings, two booleans, timestamps and
// dates (mixed units are aligned), and a timestamp or date against a string
// literal such as '2015-07-15 00:00:00', which is parsed at compile time.
// CASE branches, COALESCE and IN lists are unified the same way.
//
// Every check happens in Compile, against the schema: unknown columns (with
// a suggestion), wrong operand or argument types, wrong argument counts, bad
// literal regular expressions or date patterns, non-literal arguments where
// a literal is required. Constant sub-expressions are folded at compile time.
//
// # NULL semantics
//
// SQL three-valued logic. Operators and functions return NULL when an
// argument is NULL, except: AND is FALSE when either side is FALSE; OR is
// TRUE when either side is TRUE; IS [NOT] NULL/TRUE/FALSE never return NULL;
// x IN (...) is NULL when x is NULL, or when there is no match and the list
// holds a NULL; coalesce/ifnull/nvl return the first non-NULL argument;
// nullif(a, NULL) is a; CASE and if treat a NULL condition as false.
// Filter keeps only rows whose predicate is TRUE.
//
// # Errors
//
// Parse and Compile return *Error with Kind ErrSyntax or ErrType, the text,
// the 1-based position of the offending token and a message naming the
// column, function or operator, the types and the reason, for example:
//
//	expression "price * 'a'" at 9: operator * needs numeric operands, got int64 and string
//	expression "prce + 1" at 1: unknown column "prce" (did you mean "price"?)
//
// Eval, Filter and Projection.Apply return *EvalError for bad data: integer
// division or modulo by zero (ErrDivideByZero), a string that does not cast
// (ErrInvalidValue), an invalid timestamp. It names the expression, the row
// within the batch and the value. Rows whose value is not needed never
// fail: the branches of a CASE/if that a row does not take, and the right
// side of AND/OR when the left side decides. Nothing in this package panics
// on user input, and nothing allocated is leaked on error.
//
// # Performance
//
// Evaluation works on whole arrays: integers are widened once, arithmetic
// and comparisons against literals run as tight loops over raw slices with
// literals kept as scalars, validity is combined with bitmap operations, an
// int64 operand of a DOUBLE operation is read in place, and modulo/division
// by a 32-bit literal uses multiply-based reduction. Repeated
// sub-expressions (HOUR(dateTime) in every arm of a CASE) are compiled to
// one shared node and evaluated once per batch when they cannot fail. MOD(x, c) = k is fused
// into one pass that writes the result bitmap. Filter gathers selected rows
// itself for fixed-width, boolean and string columns (arrow-go compute is
// used for other types). Functions without a vectorized kernel run row at a
// time over typed readers, skipping rows whose value is not needed, and
// write into Arrow buffers without per-row allocation (regexp_extract
// allocates one small slice for each matching row: Go's regexp has no
// allocation-free submatch API). See the benchmarks in bench_test.go.
package expr
