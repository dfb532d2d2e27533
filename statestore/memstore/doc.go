// Package memstore is an in-memory statestore.Store: an ordered copy-on-write
// B-tree per shard, with expiry, delete-range, point-in-time scans and
// checkpoints that are immutable snapshots held in a process-local Registry.
//
// It owns nothing durable: a checkpoint lives as long as the Registry that
// made it (or until Registry.Release), so memstore suits tests, local runs
// of small jobs, and a model to check other backends against. Opening
// several handles clipped to a new key-group range (rescaling) is supported
// and cheap: a checkpoint shares the tree's nodes until either side writes.
//
// # Concurrency
//
// A Registry and every Store it opens are safe for concurrent use. Reads hold
// a shared lock; Apply, Scan (to take its snapshot) and Checkpoint hold the
// exclusive lock briefly. MultiGet calls found after releasing the lock, so
// found may call back into the store.
//
// # Batches
//
// Apply sorts each run of puts and deletes of a batch by key (a later op on
// a key still wins; delete-ranges keep their place) and applies it with a
// B-tree path hint, and MultiGet looks its keys up in key order the same
// way, so the thousands of keys an operator reads and writes per batch
// share their search paths.
//
// # Expiry
//
// Entries carry their expiry and are hidden from reads once the Options.Clock
// reaches it. Expired entries are dropped when a checkpoint is opened; until
// then they hold memory.
//
// # Usage
//
//	reg := memstore.NewRegistry(memstore.Options{Clock: clk})
//	s, err := reg.Open(ctx, statestore.ShardOptions{Name: "op/0"}, nil, statestore.FullKeyGroupRange(256))
//	...
//	p, _ := s.Checkpoint(ctx, 1)
//	h, _ := p.Wait(ctx)
//	// Rescale: two new shards, each opening the old handle clipped to its half.
//	a, _ := reg.Open(ctx, statestore.ShardOptions{Name: "op/0"}, []statestore.Handle{h}, statestore.KeyGroupRange{Start: 0, End: 128})
//	b, _ := reg.Open(ctx, statestore.ShardOptions{Name: "op/1"}, []statestore.Handle{h}, statestore.KeyGroupRange{Start: 128, End: 256})
package memstore
