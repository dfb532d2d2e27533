// Package runtime executes a plan.Plan: it groups nodes into operator chains,
// starts one task per chain and subtask, connects tasks with bounded channels,
// and runs until every source is exhausted, the context is cancelled, or a task
// fails.
//
// # Tasks and chains
//
// Nodes joined by a forward edge with equal parallelism, where the upstream
// node has no other consumer and the downstream node no other input, are fused
// into one chain and run by one goroutine per subtask: a batch passes from
// operator to operator by a function call, with no copy and no channel.
//
// # Channels and backpressure
//
// Between chains, every pair of (upstream subtask, downstream subtask) that the
// edge's partitioning connects has its own bounded channel of
// plan.ChannelCapacity messages. A full channel blocks its sender, which stops
// reading its own input: that is backpressure. A downstream task reads all of
// its channels through an input gate, round-robin, and waits on a single
// notification when all are empty.
//
// # Control events
//
// Watermarks, checkpoint barriers and end of input travel in the same channels
// as batches, in order. The input gate combines watermarks as the minimum over
// its open channels and forwards one only when that minimum advances; it aligns
// barriers by holding back every channel that delivered barrier n until all open
// channels have; it reports end of input when all channels have ended.
//
// # Batching
//
// Sources return batches of at most plan.BatchSize rows. Keyed exchanges split
// batches by target subtask; small pieces are coalesced per target until they
// reach half a batch, or until they have waited plan.Linger on the injected
// clock, or until a control event must pass them.
//
// # Shutdown
//
// A bounded job ends when every source split is exhausted: the sources send
// end of input, every operator's Finish runs, sinks flush, and Wait returns nil.
// Cancelling the context or the first task error stops every task; batches left
// in channels are released, and Wait returns the error. Operators are always
// closed.
//
//	job, err := runtime.Start(ctx, p, runtime.Options{Allocator: mem, Clock: clock.Real()})
//	err = job.Wait()
//	m := job.Metrics()
package runtime
