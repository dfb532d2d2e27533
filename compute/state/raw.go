package state

import (
	"context"
	"fmt"

	"github.com/sluicedata/sluice/statestore"
)

// RawState gives direct access to the entries of one state, for packages
// that build their own structures on the key layout (compute/timer). The
// entries follow the package's key layout; the value encoding is the same
// as for every state (a statestore value header when a TTL is set).
type RawState struct {
	b  *Backend
	st *stateInfo
}

// Raw registers a state with raw access. Unlike the typed states it may use
// the reserved IDs above MaxUserStateID (except 0xFF), such as TimerStateID.
func (b *Backend) Raw(d Descriptor, kind Kind) (*RawState, error) {
	st, err := b.register(d, kind, true)
	if err != nil {
		return nil, err
	}
	return &RawState{b: b, st: st}, nil
}

// Backend returns the backend the state is registered on.
func (r *RawState) Backend() *Backend { return r.b }

// Put buffers setting the entry (k, ns, userKey) to v.
func (r *RawState) Put(k Key, ns, userKey, v []byte) {
	r.b.keyBuf = appendStateKey(r.b.keyBuf[:0], r.st.id, k, ns, userKey)
	r.b.put(r.st, r.b.keyBuf, v, r.b.now())
}

// Delete buffers deleting the entry (k, ns, userKey).
func (r *RawState) Delete(k Key, ns, userKey []byte) {
	r.b.keyBuf = appendStateKey(r.b.keyBuf[:0], r.st.id, k, ns, userKey)
	r.b.metrics.Writes++
	r.b.wb.Delete(r.b.keyBuf)
}

// DeleteKey buffers deleting every entry of k (all namespaces).
func (r *RawState) DeleteKey(k Key) { r.b.deletePrefix(r.st, k, nil, true) }

// DeleteNamespace buffers deleting every entry of (k, ns).
func (r *RawState) DeleteNamespace(k Key, ns []byte) { r.b.deletePrefix(r.st, k, ns, false) }

// ScanKeyGroup calls fn for every live entry of the state in key group kg,
// in key order, after applying the pending writes. rest is the state key
// after keyGroup|stateID, i.e. key|len(ns)|ns|userKey; split it with
// SplitRest. rest and v are valid only during the call.
func (r *RawState) ScanKeyGroup(ctx context.Context, kg uint16, fn func(rest, v []byte) error) error {
	if err := r.b.Flush(ctx); err != nil {
		return err
	}
	lower := statestore.AppendKeyGroup(nil, kg)
	lower = append(lower, r.st.id)
	upper := PrefixEnd(nil, lower)
	it, err := r.b.store.Scan(ctx, lower, upper)
	if err != nil {
		return fmt.Errorf("state %s: %s state %q: scan key group %d: %w", r.b.name, r.st.kind, r.st.name, kg, err)
	}
	now := r.b.now()
	for ok := it.First(); ok; ok = it.Next() {
		sk := it.Key()
		v, live, err := r.b.afterRead(r.st, sk, it.Value(), now)
		if err != nil {
			it.Close()
			return err
		}
		if !live {
			continue
		}
		if err := fn(sk[len(lower):], v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("state %s: %s state %q: scan key group %d: %w", r.b.name, r.st.kind, r.st.name, kg, err)
	}
	return nil
}

// SplitRest splits the part of a state key after keyGroup|stateID into the
// key, the namespace and the user key, using enc to find where the key ends.
// The slices alias rest.
func SplitRest(enc *KeyEncoder, rest []byte) (key, ns, userKey []byte, err error) {
	n, err := enc.KeyLen(rest)
	if err != nil {
		return nil, nil, nil, err
	}
	if n >= len(rest) {
		return nil, nil, nil, statestore.CorruptionErrorf("state: state key remainder %x has no namespace length", rest)
	}
	l := int(rest[n])
	if n+1+l > len(rest) {
		return nil, nil, nil, statestore.CorruptionErrorf("state: state key remainder %x: namespace of %d bytes runs past the end", rest, l)
	}
	return rest[:n:n], rest[n+1 : n+1+l : n+1+l], rest[n+1+l:], nil
}
