package statestore

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
)

// Handle references a durable checkpoint of one shard. It is a plain value
// that the checkpoint coordinator stores in checkpoint metadata (as JSON or
// with MarshalBinary) and passes back to Opener.Open on recovery or rescale.
type Handle struct {
	// Backend names the implementation that made the handle, e.g. "memory"
	// or "lsm". Open rejects handles of another backend.
	Backend string `json:"backend"`
	// URL locates the checkpoint, e.g. the manifest object
	// "s3://bucket/job/op/shard/manifest-000042". Garbage collection and
	// people read it; backends may keep what they need in Data instead.
	URL string `json:"url"`
	// Shard is ShardOptions.Name of the store that took the checkpoint.
	Shard string `json:"shard"`
	// Checkpoint is the id passed to Store.Checkpoint.
	Checkpoint uint64 `json:"checkpoint"`
	// KeyGroups is the range the store owned when it took the checkpoint: it
	// holds no key outside it. Open skips handles that do not overlap its
	// new range.
	KeyGroups KeyGroupRange `json:"key_groups"`
	// Data is backend-specific and opaque to everyone else.
	Data []byte `json:"data,omitempty"`
}

// String returns a short description for logs.
func (h Handle) String() string {
	return fmt.Sprintf("%s checkpoint %d of shard %q %v at %s", h.Backend, h.Checkpoint, h.Shard, h.KeyGroups, h.URL)
}

const handleFormatV1 = 1

// MarshalBinary encodes h in a compact, versioned binary form.
func (h Handle) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 32+len(h.Backend)+len(h.URL)+len(h.Shard)+len(h.Data))
	b = append(b, handleFormatV1)
	for _, s := range []string{h.Backend, h.URL, h.Shard} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendUvarint(b, h.Checkpoint)
	b = binary.BigEndian.AppendUint16(b, h.KeyGroups.Start)
	b = binary.BigEndian.AppendUint16(b, h.KeyGroups.End)
	b = binary.AppendUvarint(b, uint64(len(h.Data)))
	b = append(b, h.Data...)
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary produced. Malformed input
// returns an error wrapping ErrInvalidHandle.
func (h *Handle) UnmarshalBinary(b []byte) error {
	bad := func(what string) error {
		return fmt.Errorf("%w: binary handle (%d bytes): %s", ErrInvalidHandle, len(b), what)
	}
	if len(b) == 0 || b[0] != handleFormatV1 {
		return bad("unknown format version")
	}
	p := b[1:]
	readBytes := func(field string) ([]byte, error) {
		n, w := binary.Uvarint(p)
		if w <= 0 || uint64(len(p)-w) < n {
			return nil, bad("truncated " + field)
		}
		v := p[w : w+int(n)]
		p = p[w+int(n):]
		return v, nil
	}
	var out Handle
	for _, f := range []struct {
		name string
		dst  *string
	}{{"backend", &out.Backend}, {"url", &out.URL}, {"shard", &out.Shard}} {
		v, err := readBytes(f.name)
		if err != nil {
			return err
		}
		*f.dst = string(v)
	}
	n, w := binary.Uvarint(p)
	if w <= 0 {
		return bad("truncated checkpoint id")
	}
	out.Checkpoint = n
	p = p[w:]
	if len(p) < 4 {
		return bad("truncated key-group range")
	}
	out.KeyGroups = KeyGroupRange{Start: binary.BigEndian.Uint16(p), End: binary.BigEndian.Uint16(p[2:])}
	p = p[4:]
	data, err := readBytes("data")
	if err != nil {
		return err
	}
	if len(data) > 0 {
		out.Data = append([]byte(nil), data...)
	}
	if len(p) != 0 {
		return bad(fmt.Sprintf("%d trailing bytes", len(p)))
	}
	if err := out.KeyGroups.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidHandle, err)
	}
	*h = out
	return nil
}

// Promise is a Pending that a backend resolves once. The zero value is not
// usable; create one with NewPromise. Safe for concurrent use.
type Promise struct {
	done chan struct{}
	once sync.Once
	h    Handle
	err  error
}

var _ Pending = (*Promise)(nil)

// NewPromise returns an unresolved Promise.
func NewPromise() *Promise { return &Promise{done: make(chan struct{})} }

// Resolved returns a Promise already resolved with h and err.
func Resolved(h Handle, err error) *Promise {
	p := NewPromise()
	p.Resolve(h, err)
	return p
}

// Resolve completes the promise. Only the first call has an effect; it
// reports whether this call was that one.
func (p *Promise) Resolve(h Handle, err error) bool {
	first := false
	p.once.Do(func() {
		p.h, p.err = h, err
		close(p.done)
		first = true
	})
	return first
}

// Done implements Pending.
func (p *Promise) Done() <-chan struct{} { return p.done }

// Wait implements Pending.
func (p *Promise) Wait(ctx context.Context) (Handle, error) {
	select {
	case <-p.done:
		return p.h, p.err
	case <-ctx.Done():
		// Prefer a completed result over a simultaneous cancellation.
		select {
		case <-p.done:
			return p.h, p.err
		default:
		}
		return Handle{}, ctx.Err()
	}
}
