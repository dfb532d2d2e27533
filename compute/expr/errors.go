package expr

import (
	"errors"
	"fmt"
)

// Error kinds. Every error returned by Parse and Compile is an *Error whose
// Kind is one of ErrSyntax or ErrType; errors.Is(err, ErrSyntax) works.
// Errors returned by Eval, Filter and Projection.Apply for bad data are
// *EvalError, which matches ErrEval and the specific cause
// (ErrDivideByZero, ErrInvalidValue).
var (
	ErrSyntax       = errors.New("expr: syntax error")
	ErrType         = errors.New("expr: type error")
	ErrEval         = errors.New("expr: evaluation error")
	ErrDivideByZero = errors.New("division by zero")
	ErrInvalidValue = errors.New("invalid value")
)

// Error is a parse or compile error. Pos is the 1-based character position
// in Expr of the offending token.
type Error struct {
	Kind error // ErrSyntax or ErrType
	Expr string
	Pos  int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("expression %q at %d: %s", e.Expr, e.Pos, e.Msg) }

// Unwrap returns the error kind.
func (e *Error) Unwrap() error { return e.Kind }

// EvalError reports a row that could not be evaluated: an integer division
// by zero, a string that does not cast to the target type, an invalid
// timestamp. Row is the index of the row within the evaluated batch, so the
// runtime can route that row to a dead-letter queue.
type EvalError struct {
	Expr  string // the whole expression's source text
	Pos   int    // 1-based position of the failing sub-expression
	Row   int    // row index within the batch
	Value string // the offending value(s), rendered for humans
	Err   error  // ErrDivideByZero or ErrInvalidValue, possibly wrapped
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("expression %q at %d: row %d: value %s: %v", e.Expr, e.Pos, e.Row, e.Value, e.Err)
}

// Unwrap returns ErrEval and the cause.
func (e *EvalError) Unwrap() []error { return []error{ErrEval, e.Err} }
