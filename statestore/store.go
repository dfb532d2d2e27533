package statestore

import (
	"context"
)

// Store holds the keyed state of one shard (one subtask of one operator).
// Every method is safe for concurrent use. After Close, every method returns
// an error wrapping ErrClosed.
//
// Keys are opaque bytes that start with their 2-byte key group. The store
// owns a KeyGroupRange fixed when it was opened: reads never return a key
// outside it and writes to one fail with ErrNotOwned.
//
// Reads never return an entry whose expiry is at or before the store's clock.
type Store interface {
	// Get returns the value of key. ok is false if the key is absent, expired
	// or outside the owned range. The returned value belongs to the caller.
	Get(ctx context.Context, key []byte) (value []byte, ok bool, err error)

	// MultiGet looks up every key and calls found(i, value) once for each
	// keys[i] that is present. It is the main read path: backends issue the
	// remote reads of one call in parallel.
	//
	// Contract:
	//   - found is never called concurrently with itself: calls are
	//     serialized, so it may append to a builder without locking. The
	//     order of calls is unspecified.
	//   - value is valid only until found returns; copy it to keep it.
	//     found must not modify it.
	//   - found is not called for absent, expired or unowned keys.
	//     Duplicate keys are allowed and each index is reported.
	//   - keys must not be modified until MultiGet returns.
	//   - On error, found may already have been called for some keys; the
	//     caller must treat the whole lookup as failed.
	MultiGet(ctx context.Context, keys [][]byte, found func(i int, value []byte)) error

	// Apply applies the batch's operations in order (a later operation on a
	// key wins). The batch is atomic: a concurrent reader and a checkpoint
	// see all of it or none of it. The store copies what it keeps, so the
	// caller may Reset and reuse b as soon as Apply returns.
	//
	// Puts and deletes of keys outside the owned range fail with ErrNotOwned,
	// keys shorter than two bytes with ErrInvalidKey; on such an error no
	// operation of the batch is applied. Delete-ranges are clipped to the
	// owned range.
	Apply(ctx context.Context, b *WriteBatch) error

	// Scan returns an iterator over the live entries with lower <= key <
	// upper, in ascending byte order, clipped to the owned range. A nil
	// lower means from the first key, a nil upper means to the last. The
	// iterator reads a point-in-time view as of the call: writes applied
	// later are not visible to it. The caller must Close it.
	Scan(ctx context.Context, lower, upper []byte) (Iterator, error)

	// Checkpoint captures the state as of every Apply that returned before
	// the call, and returns at once: the upload, if any, continues in the
	// background. id is the checkpoint id chosen by the coordinator; ids
	// increase. Pending.Wait returns the Handle once the checkpoint is
	// durable. Apply may continue while a checkpoint is pending.
	Checkpoint(ctx context.Context, id uint64) (Pending, error)

	// Metrics returns a snapshot of the store's counters.
	Metrics() Metrics

	// Close releases the store's resources. Pending checkpoints either
	// complete or fail with ErrClosed. Iterators must be closed first.
	// Close is idempotent; it does not delete durable checkpoints.
	Close() error
}

// Iterator walks entries in ascending key order. It starts unpositioned:
// call First or SeekGE. Not safe for concurrent use.
//
// The slices returned by Key and Value are valid until the next call to
// First, SeekGE, Next or Close; copy them to keep them. The caller must not
// modify them.
type Iterator interface {
	// First moves to the first entry and reports whether there is one.
	First() bool
	// SeekGE moves to the first entry whose key is >= key (and >= the
	// iterator's lower bound) and reports whether there is one.
	SeekGE(key []byte) bool
	// Next moves to the next entry and reports whether there is one.
	Next() bool
	// Valid reports whether the iterator is positioned at an entry.
	Valid() bool
	// Key returns the current key. Only call it when Valid.
	Key() []byte
	// Value returns the current value. Only call it when Valid.
	Value() []byte
	// Error returns the error that stopped the iteration, if any. An
	// iterator that hit an error is not Valid.
	Error() error
	// Close releases the iterator and returns Error.
	Close() error
}

// Pending is a checkpoint in progress. Safe for concurrent use; Wait may be
// called any number of times and always returns the same result.
type Pending interface {
	// Done is closed when the checkpoint has completed or failed.
	Done() <-chan struct{}
	// Wait blocks until the checkpoint is durable and returns its handle, or
	// returns the checkpoint's error, or ctx's error if ctx ends first (the
	// checkpoint itself continues).
	Wait(ctx context.Context) (Handle, error)
}

// ShardOptions identify the shard a Store is opened for.
type ShardOptions struct {
	// Name identifies the shard uniquely within the job, e.g.
	// "window-3/subtask-7". Backends use it to name their objects, and in
	// errors and metrics. Required.
	Name string
	// Epoch is the attempt number of this deployment of the shard; it
	// increases on every restart and rescale. Backends that publish state
	// with conditional writes include it so that a stale writer (an older
	// epoch still running) can never overwrite a newer one.
	Epoch uint64
}

// Opener opens Stores of one backend. The runtime receives one Opener per
// job, configured with the backend's options, and opens every shard through
// it.
type Opener interface {
	// Open restores a Store from zero or more checkpoint handles, clipped to
	// owned: the entries of every handle whose key group is in owned are
	// visible, the rest are not. With no handle the store starts empty.
	// Rescaling passes the handles of every old shard whose range overlaps
	// owned; those ranges must not overlap each other (ErrInvalidHandle).
	// Handles of another backend fail with ErrInvalidHandle. Open reads no
	// more than it must: a backend may fetch data lazily.
	Open(ctx context.Context, shard ShardOptions, from []Handle, owned KeyGroupRange) (Store, error)
}

// OpenerFunc adapts a function to Opener.
type OpenerFunc func(ctx context.Context, shard ShardOptions, from []Handle, owned KeyGroupRange) (Store, error)

// Open calls f.
func (f OpenerFunc) Open(ctx context.Context, shard ShardOptions, from []Handle, owned KeyGroupRange) (Store, error) {
	return f(ctx, shard, from, owned)
}
