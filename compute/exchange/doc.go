// Package exchange owns how rows move between subtasks: the key hash, the
// mapping of keys to key groups and of key groups to subtasks, and the
// partitioning of a batch by target subtask.
//
// Key groups follow design invariant 2: keyGroup = hash(key) mod K, where K is
// the job's max parallelism, and subtask i of p owns the contiguous range
// KeyGroupRangeFor(i, p, K). The hash is part of the state layout, so it must
// never change: it is a murmur3 finalizer over the 64-bit value of integer,
// temporal and boolean keys, xxh3 over the bytes of string and binary keys,
// and a fixed combination over several key columns. TestHashIsStable pins
// it.
//
// A Partitioner is used by one goroutine; it reuses its buffers between
// batches, so the per-batch hot path allocates only the output batches.
//
//	p, err := exchange.NewPartitioner(schema, []int{keyCol}, parallelism, maxParallelism)
//	parts, err := p.Split(ctx, mem, batch) // parts[i] goes to subtask i (nil: no rows)
package exchange
