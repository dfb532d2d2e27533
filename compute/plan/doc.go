// Package plan validates a JobSpec and translates it into a typed, physical
// plan that the runtime executes.
//
// Validation happens at submission, before anything runs: every field is
// checked, every connector is resolved through the registry and builds its
// configuration, every expression is parsed and type-checked against the
// schema of its input, and every sink checks that it can write its input
// schema. All problems are reported together (errors.Join), each naming the
// field path (for example `nodes[2] "q1": filter.condition`), the value and
// the reason.
//
// The physical plan folds partitioning nodes (key_by, rebalance) into the
// edges between operators, fixes each node's parallelism and schema, and
// orders nodes so that every node comes after its inputs.
//
//	p, err := plan.Build(spec)
//	for _, n := range p.Nodes { ... n.Inputs, n.Outputs, n.Schema ... }
package plan
