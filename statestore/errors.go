package statestore

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends wrap them with %w and add the shard, key or
// handle that failed; test for them with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("statestore: store is closed")
	// ErrInvalidKey is returned for a key shorter than KeyGroupBytes, or a
	// delete-range whose end is before its start.
	ErrInvalidKey = errors.New("statestore: invalid key")
	// ErrNotOwned is returned by Apply for a put or delete whose key group is
	// outside the store's owned KeyGroupRange.
	ErrNotOwned = errors.New("statestore: key group not owned by this shard")
	// ErrInvalidHandle is returned by Open for a handle it cannot use: made by
	// another backend or registry, malformed, or overlapping another handle.
	ErrInvalidHandle = errors.New("statestore: invalid checkpoint handle")
	// ErrHandleNotFound is returned by Open when a handle's checkpoint no
	// longer exists (it was released or garbage-collected).
	ErrHandleNotFound = errors.New("statestore: checkpoint not found")
)

// corruptionError marks an error as data corruption. It is its own kind so
// that callers can tell "the bytes are wrong" (do not retry; alert) from
// "the request failed" (retry).
type corruptionError struct{ err error }

func (e *corruptionError) Error() string { return e.err.Error() }
func (e *corruptionError) Unwrap() error { return e.err }

// ErrCorruption is the kind every corruption error matches with errors.Is.
var ErrCorruption = errors.New("statestore: corruption")

func (e *corruptionError) Is(target error) bool { return target == ErrCorruption }

// MarkCorruption returns err marked as corruption; nil stays nil.
func MarkCorruption(err error) error {
	if err == nil {
		return nil
	}
	return &corruptionError{err: err}
}

// CorruptionErrorf formats an error and marks it as corruption. The message
// should name the object and offset that are wrong.
func CorruptionErrorf(format string, args ...any) error {
	return &corruptionError{err: fmt.Errorf("statestore: corruption: "+format, args...)}
}

// IsCorruption reports whether err, or any error it wraps, is corruption.
func IsCorruption(err error) bool { return errors.Is(err, ErrCorruption) }
