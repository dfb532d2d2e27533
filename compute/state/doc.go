// Package state is the keyed state API of Sluice's stateful operators:
// key encoding a batch at a time, value, list, map and aggregating (and
// reducing) state with TTL, over one statestore.Store per operator subtask.
//
// It owns the state key layout, the encoding of keys and the TTL value
// header use; it knows nothing about windows or timers (compute/timer stores
// its timers through RawState). It depends only on the statestore.Store
// interface, never on a particular backend.
//
// # Keys
//
// A KeyEncoder, built from the key columns' types, encodes the key of every
// row of an Arrow batch into a KeyBatch (one buffer, no per-row allocation)
// and computes each row's key group with exchange.HashColumns, the hash the
// keyed exchange routes by, so a row's state lives in the key group its
// subtask owns. Each key column value is encoded as
//
//	NULL                0x00 (fixed-width types: padded with zeros to their width)
//	non-NULL            0x01 | value
//	signed int, time,   big-endian, type width, sign bit flipped
//	timestamp, date,
//	duration
//	unsigned int        big-endian, type width
//	bool                0x00 / 0x01
//	float               IEEE bits big-endian; sign flipped if positive, all bits
//	                    flipped if negative (-0 = +0, one NaN)
//	string, binary      bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x01
//
// Columns are concatenated. The encoding is deterministic, self-delimiting
// given the types (KeyEncoder.KeyLen), and sorts like the key tuple (NULLs
// first). DecodeKeys turns encoded keys back into Arrow columns.
//
// # State key layout
//
//		+-----------+---------+----------------+--------+-----------+---------+
//		| key group | stateID | key            | ns len | namespace | userKey |
//		| 2 B, BE   | 1 B     | self-delimiting| 1 B    | 0..255 B  | rest    |
//		+-----------+---------+----------------+--------+-----------+---------+
//
//	  - key group first (invariant 2): a key-group range is a byte range.
//	  - stateID (Descriptor.ID, 1..MaxUserStateID for operators; TimerStateID
//	    0xF0 for timers; 0xFF for the backend's metadata) lets one operator keep
//	    several states in one Store. IDs are part of the checkpoint format.
//	  - namespace: e.g. a window's end and start (AppendOrderedInt64), or empty.
//	    Namespaces of one state should have one length so that they sort.
//	  - userKey: a map key (MapState), a big-endian per-key-group sequence
//	    number (ListState), a timer's domain and time (compute/timer); empty
//	    for value and aggregating state.
//
// Hence every entry of (state, key) shares the prefix group|id|key and every
// entry of (state, key, namespace) the prefix group|id|key|len|ns: ClearKey,
// Clear and RawState.DeleteNamespace are one delete-range each.
// The metadata state (0xFF) holds one entry per key group, group|0xFF|0x01,
// with the next list sequence number.
//
// # Values and TTL
//
// States without TTL store the user's bytes as they are. States with a TTL
// store statestore.EncodeValue(value, expiry) and write it with
// WriteBatch.PutWithExpiryNanos, so the store hides the entry and the LSM
// compaction filter drops it at the same expiry. Visibility is "never
// return expired", decided on the backend's clock: a read that finds an
// expired entry skips it and buffers its delete (cleanup on access);
// OnReadAndWrite rewrites entries it reads with a new expiry; Backend.Sweep
// is an incremental background sweep over a budget of entries per call.
//
// # Reads, writes and flushing
//
// The batch path is the main path: ValueState.MultiGet, MapState.MultiGet
// and AggregatingState.Add read all rows of a batch with one Store.MultiGet.
// Writes (Put, Delete, Add, Clear) are buffered in one statestore.WriteBatch
// and applied by Flush, which the operator calls at the end of every input
// batch (and Checkpoint calls before Store.Checkpoint). Read-your-writes:
// every read first applies the pending writes, so a read sees every earlier
// write. The intended rhythm is therefore "read the batch, then write the
// batch": one MultiGet and one Apply per input batch. A MultiGet does not
// see writes made by its own found callback.
//
// # Concurrency
//
// A Backend, its states and a KeyEncoder belong to one goroutine: the
// subtask's. Nothing here is safe for concurrent use. found callbacks run on
// the caller's goroutine, serially.
//
// # Usage
//
//	enc, _ := state.NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, oc.MaxParallelism)
//	be, _ := state.Open(ctx, state.Options{Store: store, KeyGroups: oc.KeyGroups, Clock: oc.Clock})
//	counts, _ := be.Value(state.Descriptor{ID: 1, Name: "count", TTL: state.TTL{Duration: time.Hour}})
//
//	var keys state.KeyBatch // reused across batches
//	// per input batch:
//	_ = enc.Encode([]arrow.Array{b.Column(0)}, &keys)
//	_ = counts.MultiGet(ctx, &keys, state.Namespaces{}, func(i int, v []byte) {
//		cur[i] = binary.LittleEndian.Uint64(v) // v valid only during the call
//	})
//	counts.PutBatch(&keys, state.Namespaces{}, func(i int) ([]byte, bool) { ... })
//	_ = be.Flush(ctx)
//
//	// at a barrier:
//	p, _ := be.Checkpoint(ctx, id)
package state
