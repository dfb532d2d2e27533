// Package compute is Sluice's runtime: it turns a job graph into running
// tasks, moves Arrow record batches between them, and runs operators.
//
// This root package holds the types every part of the runtime shares: the
// Message that flows on channels (a batch, or an in-band control event: a
// watermark, a checkpoint barrier, end of input), the Operator contract and the
// Emitter through which operators hand batches on. Subpackages:
//
//   - expr: vectorized expressions (filter, project, computed columns).
//   - exchange: key hashing, key groups and the partitioners behind keyed,
//     rebalancing and forward edges.
//   - operator: the built-in operators.
//   - plan: validation of a JobSpec and its translation to a typed plan.
//   - runtime: tasks, operator chains, channels, input gates, the executor.
//   - stream: the Go builder API that produces a JobSpec.
//
// Ownership follows arrow-go: whoever receives a batch releases it exactly
// once. An operator that receives a batch in ProcessBatch either releases it or
// passes it to Emit, which takes ownership.
//
// Concurrency: one subtask of an operator is driven by one goroutine; its
// methods are never called concurrently. Different subtasks run in parallel
// and share nothing but what the runtime gives them.
package compute
