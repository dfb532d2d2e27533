// Package operator holds Sluice's built-in operators. Each one implements
// compute.Operator and works a batch at a time on Arrow arrays.
//
// Stateless operators (Filter, Project) keep nothing between batches and are
// fused into chains by the runtime. Every operator follows the ownership rule
// of package compute: it releases each batch it receives or emits it.
//
//	f := operator.NewFilter(pred)           // pred: a boolean *expr.Expr
//	p := operator.NewProject(schema, exprs) // one *expr.Expr per output column
package operator
