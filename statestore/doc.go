// Package statestore defines the keyed-state contract between Sluice's
// stateful operators and the backends that hold their state: the Store
// interface, WriteBatch, Iterator, checkpoint Handles, key groups, expiry
// (TTL) and the errors every backend returns.
//
// It owns only contracts and small value types; it imports the standard
// library only. Backends live in subpackages: statestore/memstore (an
// in-memory ordered map with process-local checkpoints) and the tiered LSM
// (statestore/lsm over statestore/objstore).
//
// # Keys and key groups
//
// One Store holds the state of one shard: one subtask of one operator. Keys
// are opaque bytes whose first two bytes are the big-endian key group
// (KeyGroupOf, AppendKeyGroup). A shard owns a half-open KeyGroupRange; keys
// outside it are invisible to reads and rejected by writes. Rescaling opens
// the handles of several old shards clipped to a new range.
//
// # Expiry
//
// A put may carry an expiry time (WriteBatch.PutWithExpiry). An entry whose
// expiry is at or before the store's clock is never returned by a read, and
// compaction may drop it. Backends that store values as bytes (the LSM and
// its SSTables) encode the expiry with EncodeValue/DecodeValue so that every
// layer agrees on one representation.
//
// # Concurrency
//
// Every Store method is safe for concurrent use. A WriteBatch and an Iterator
// are not: each belongs to one goroutine at a time. Pending is safe for
// concurrent use.
//
// # Usage
//
//	var b statestore.WriteBatch
//	key := statestore.AppendKeyGroup(nil, kg)
//	key = append(key, userKey...)
//	b.Put(key, value)
//	b.PutWithExpiry(key2, value2, now.Add(time.Hour))
//	if err := s.Apply(ctx, &b); err != nil { ... }
//	b.Reset() // reuse the buffers for the next input batch
//
//	err := s.MultiGet(ctx, keys, func(i int, v []byte) {
//		// v is valid only during this call; copy it to keep it.
//		col.Set(i, v)
//	})
//
//	p, err := s.Checkpoint(ctx, checkpointID) // returns at once
//	h, err := p.Wait(ctx)                     // durable handle
//	s2, err := opener.Open(ctx, statestore.ShardOptions{Name: "op/3"}, []statestore.Handle{h}, owned)
package statestore
