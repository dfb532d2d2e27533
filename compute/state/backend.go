package state

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
)

// State IDs. An ID is part of every state key and so of the checkpoint
// format: a state must keep its ID across versions of its operator.
const (
	// MaxUserStateID is the largest ID an operator may give its own states
	// (IDs 1..MaxUserStateID). ID 0 is invalid so that a forgotten ID is
	// caught.
	MaxUserStateID uint8 = 0xEF
	// TimerStateID is the ID compute/timer uses by default.
	TimerStateID uint8 = 0xF0
	// metaStateID holds the backend's own metadata (list sequence counters).
	metaStateID uint8 = 0xFF
)

// MaxNamespaceLen is the longest namespace. Longer namespaces are a
// programming error and panic.
const MaxNamespaceLen = 255

// TTLUpdate says when a state entry's time to live restarts.
type TTLUpdate uint8

const (
	// OnCreateAndWrite restarts the TTL when the entry is written.
	OnCreateAndWrite TTLUpdate = iota
	// OnReadAndWrite also restarts it when the entry is read.
	OnReadAndWrite
)

func (u TTLUpdate) String() string {
	switch u {
	case OnCreateAndWrite:
		return "OnCreateAndWrite"
	case OnReadAndWrite:
		return "OnReadAndWrite"
	}
	return fmt.Sprintf("TTLUpdate(%d)", uint8(u))
}

// TTL configures a state's time to live. The zero value disables it.
// Visibility is always "never return expired": an entry is invisible from
// the instant written+Duration on the backend's clock (processing time).
type TTL struct {
	// Duration is the time to live; 0 means entries never expire.
	Duration time.Duration
	// Update says when the TTL restarts. Default OnCreateAndWrite.
	Update TTLUpdate
}

// Enabled reports whether entries expire.
func (t TTL) Enabled() bool { return t.Duration > 0 }

// Kind is the kind of a registered state.
type Kind uint8

const (
	KindValue Kind = iota + 1
	KindList
	KindMap
	KindAggregating
	// KindTimers is used by compute/timer.
	KindTimers
)

func (k Kind) String() string {
	switch k {
	case KindValue:
		return "value"
	case KindList:
		return "list"
	case KindMap:
		return "map"
	case KindAggregating:
		return "aggregating"
	case KindTimers:
		return "timers"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Descriptor declares a state. Every state kind is declared with one.
type Descriptor struct {
	// ID identifies the state inside the backend's store: 1..MaxUserStateID,
	// unique per operator, stable across versions of the operator. Required.
	ID uint8
	// Name names the state in errors and metrics. Required, unique.
	Name string
	// TTL is the state's time to live. Default: none.
	TTL TTL
}

// Options configure a Backend.
type Options struct {
	// Store holds the state. Required. The backend does not own it: the
	// runtime opens and closes it.
	Store statestore.Store
	// KeyGroups is the subtask's key-group range. Required, non-empty.
	KeyGroups statestore.KeyGroupRange
	// Name names the backend (operator and subtask) in errors. Default "state".
	Name string
	// Clock decides TTL expiry. Default clock.Real(). Give the store the same
	// clock so that both agree on what has expired.
	Clock clock.Clock
}

// Metrics counts a backend's work since it was opened.
type Metrics struct {
	// Lookups counts keys read (one per row of a MultiGet, one per Get).
	Lookups int64
	// Hits counts lookups that found a live entry.
	Hits int64
	// ExpiredOnRead counts entries found expired on read and deleted.
	ExpiredOnRead int64
	// Writes counts buffered puts and deletes.
	Writes int64
	// Applies counts WriteBatches applied to the store.
	Applies int64
	// SweepScanned and SweepDeleted count entries the sweep looked at and
	// deleted.
	SweepScanned, SweepDeleted int64
}

// stateInfo is the backend's record of one registered state.
type stateInfo struct {
	id   uint8
	name string
	kind Kind
	ttl  TTL
}

// Backend is the keyed state of one operator subtask: the states it
// registered, over one statestore.Store, with one buffered WriteBatch.
// Writes are buffered and applied at Flush; every read applies the pending
// writes first, so reads always see every earlier write (read-your-writes).
// Not safe for concurrent use: one goroutine (the subtask's) uses it.
type Backend struct {
	store statestore.Store
	owned statestore.KeyGroupRange
	name  string
	clock clock.Clock

	wb      statestore.WriteBatch
	states  [256]*stateInfo
	byName  map[string]uint8
	metrics Metrics

	// seq holds the next list sequence number per owned key group
	// (index kg-owned.Start); seqDirty marks counters to persist at Flush.
	seq      []uint64
	seqDirty []bool
	dirtyKGs []uint16

	// Scratch for batch reads: state keys are built into keyBuf and sliced
	// into keys.
	keyBuf  []byte
	keyOffs []int
	keys    [][]byte
	valBuf  []byte

	// The MultiGet callback is bound once (found below) so that a batch
	// read allocates nothing for it; these fields carry its arguments.
	cur struct {
		st    *stateInfo
		now   int64
		found func(i int, v []byte)
	}
	foundFn func(i int, v []byte)

	sweep sweepCursor
}

// Open returns a backend over opts.Store. It reads the backend's metadata
// (one MultiGet over the owned key groups), so a backend opened on a store
// restored from a checkpoint continues where the checkpoint left off.
func Open(ctx context.Context, opts Options) (*Backend, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("state: open: Options.Store is nil")
	}
	if err := opts.KeyGroups.Validate(); err != nil {
		return nil, fmt.Errorf("state: open: Options.KeyGroups: %w", err)
	}
	if opts.KeyGroups.Empty() {
		return nil, fmt.Errorf("state: open: Options.KeyGroups %v is empty", opts.KeyGroups)
	}
	if opts.Name == "" {
		opts.Name = "state"
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	b := &Backend{
		store:  opts.Store,
		owned:  opts.KeyGroups,
		name:   opts.Name,
		clock:  opts.Clock,
		byName: make(map[string]uint8),
	}
	b.foundFn = b.onFound
	n := opts.KeyGroups.Len()
	b.seq = make([]uint64, n)
	b.seqDirty = make([]bool, n)
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = metaKey(nil, opts.KeyGroups.Start+uint16(i), metaSeq)
	}
	var bad error
	err := b.store.MultiGet(ctx, keys, func(i int, v []byte) {
		if len(v) != 8 {
			bad = statestore.CorruptionErrorf("state %s: list sequence of key group %d is %d bytes, want 8", b.name, int(opts.KeyGroups.Start)+i, len(v))
			return
		}
		b.seq[i] = binary.BigEndian.Uint64(v)
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: open: reading metadata: %w", b.name, err)
	}
	return b, nil
}

const metaSeq byte = 1

func metaKey(dst []byte, kg uint16, kind byte) []byte {
	dst = statestore.AppendKeyGroup(dst, kg)
	return append(dst, metaStateID, kind)
}

// KeyGroups returns the owned key-group range.
func (b *Backend) KeyGroups() statestore.KeyGroupRange { return b.owned }

// Clock returns the backend's clock.
func (b *Backend) Clock() clock.Clock { return b.clock }

// Store returns the underlying store.
func (b *Backend) Store() statestore.Store { return b.store }

// Metrics returns a snapshot of the backend's counters.
func (b *Backend) Metrics() Metrics { return b.metrics }

// Pending returns the number of buffered operations not yet applied.
func (b *Backend) Pending() int { return b.wb.Len() }

// register records a state, checking its descriptor. It is exported to
// compute/timer through Register.
func (b *Backend) register(d Descriptor, kind Kind, reserved bool) (*stateInfo, error) {
	if d.Name == "" {
		return nil, fmt.Errorf("state %s: register %s state with ID %d: Name is empty", b.name, kind, d.ID)
	}
	if d.ID == 0 || (!reserved && d.ID > MaxUserStateID) || d.ID == metaStateID {
		return nil, fmt.Errorf("state %s: register %s state %q: ID %d: must be in [1, %d]", b.name, kind, d.Name, d.ID, MaxUserStateID)
	}
	if d.TTL.Duration < 0 {
		return nil, fmt.Errorf("state %s: register %s state %q: TTL.Duration %v: must not be negative", b.name, kind, d.Name, d.TTL.Duration)
	}
	if d.TTL.Update > OnReadAndWrite {
		return nil, fmt.Errorf("state %s: register %s state %q: TTL.Update %v: unknown", b.name, kind, d.Name, d.TTL.Update)
	}
	if prev := b.states[d.ID]; prev != nil {
		return nil, fmt.Errorf("state %s: register %s state %q: ID %d is already used by %s state %q", b.name, kind, d.Name, d.ID, prev.kind, prev.name)
	}
	if id, ok := b.byName[d.Name]; ok {
		return nil, fmt.Errorf("state %s: register %s state %q: name is already used by state ID %d", b.name, kind, d.Name, id)
	}
	st := &stateInfo{id: d.ID, name: d.Name, kind: kind, ttl: d.TTL}
	b.states[d.ID] = st
	b.byName[d.Name] = d.ID
	return st, nil
}

// appendStateKey appends keyGroup | stateID | key | len(ns) | ns | userKey.
func appendStateKey(dst []byte, id uint8, k Key, ns, userKey []byte) []byte {
	dst = statestore.AppendKeyGroup(dst, k.Group)
	dst = append(dst, id)
	dst = append(dst, k.Bytes...)
	dst = appendNamespace(dst, ns)
	return append(dst, userKey...)
}

func appendNamespace(dst, ns []byte) []byte {
	if len(ns) > MaxNamespaceLen {
		panic(fmt.Sprintf("state: namespace %x is %d bytes, longer than %d", ns, len(ns), MaxNamespaceLen))
	}
	dst = append(dst, byte(len(ns)))
	return append(dst, ns...)
}

// PrefixEnd returns the smallest key greater than every key that starts
// with prefix (nil if there is none), appended to dst.
func PrefixEnd(dst, prefix []byte) []byte {
	dst = append(dst, prefix...)
	for i := len(dst) - 1; i >= len(dst)-len(prefix); i-- {
		if dst[i] != 0xFF {
			dst[i]++
			return dst[:i+1]
		}
	}
	return nil
}

// now returns the clock in Unix nanoseconds.
func (b *Backend) now() int64 { return b.clock.Now().UnixNano() }

// expiry returns the expiry of an entry of st written at now.
func (st *stateInfo) expiry(now int64) int64 {
	if !st.ttl.Enabled() {
		return statestore.NoExpiry
	}
	return now + int64(st.ttl.Duration)
}

// put buffers a write of value under the state key sk.
func (b *Backend) put(st *stateInfo, sk, value []byte, now int64) {
	b.metrics.Writes++
	if !st.ttl.Enabled() {
		b.wb.Put(sk, value)
		return
	}
	exp := st.expiry(now)
	b.valBuf = statestore.EncodeValue(b.valBuf[:0], value, exp)
	b.wb.PutWithExpiryNanos(sk, b.valBuf, exp)
}

// decode returns the user value of a stored value, and whether it is live
// at now.
func (b *Backend) decode(st *stateInfo, stored []byte, now int64) ([]byte, int64, bool, error) {
	if !st.ttl.Enabled() {
		return stored, statestore.NoExpiry, true, nil
	}
	v, exp, err := statestore.DecodeValue(stored)
	if err != nil {
		return nil, 0, false, fmt.Errorf("state %s: state %q: %w", b.name, st.name, err)
	}
	return v, exp, !statestore.Expired(exp, now), nil
}

// afterRead handles TTL bookkeeping for a found entry: it deletes expired
// entries (cleanup on access) and refreshes the TTL of live ones for
// OnReadAndWrite. It reports whether the entry is live.
func (b *Backend) afterRead(st *stateInfo, sk, stored []byte, now int64) ([]byte, bool, error) {
	v, _, live, err := b.decode(st, stored, now)
	if err != nil {
		return nil, false, err
	}
	if !live {
		b.metrics.ExpiredOnRead++
		b.metrics.Writes++
		b.wb.Delete(sk)
		return nil, false, nil
	}
	if st.ttl.Update == OnReadAndWrite && st.ttl.Enabled() {
		b.put(st, sk, v, now)
	}
	return v, true, nil
}

// Flush applies the pending writes to the store (one Apply) and persists the
// list sequence counters it advanced. Call it at the end of every input
// batch; Checkpoint calls it too.
func (b *Backend) Flush(ctx context.Context) error {
	for _, kg := range b.dirtyKGs {
		i := kg - b.owned.Start
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], b.seq[i])
		b.keyBuf = metaKey(b.keyBuf[:0], kg, metaSeq)
		b.wb.Put(b.keyBuf, v[:])
		b.seqDirty[i] = false
	}
	b.dirtyKGs = b.dirtyKGs[:0]
	if b.wb.Empty() {
		return nil
	}
	b.metrics.Applies++
	err := b.store.Apply(ctx, &b.wb)
	b.wb.Reset()
	if err != nil {
		return fmt.Errorf("state %s: flush: %w", b.name, err)
	}
	return nil
}

// Checkpoint flushes the pending writes and starts checkpoint id of the
// store (statestore.Store.Checkpoint). It returns at once; the Pending
// completes when the checkpoint is durable.
func (b *Backend) Checkpoint(ctx context.Context, id uint64) (statestore.Pending, error) {
	if err := b.Flush(ctx); err != nil {
		return nil, err
	}
	p, err := b.store.Checkpoint(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("state %s: checkpoint %d: %w", b.name, id, err)
	}
	return p, nil
}

// nextSeq returns the next list sequence number of key group kg.
func (b *Backend) nextSeq(kg uint16) uint64 {
	if !b.owned.Contains(kg) {
		// The write will fail with ErrNotOwned at Flush; do not index out of
		// range here.
		return 0
	}
	i := kg - b.owned.Start
	b.seq[i]++
	if !b.seqDirty[i] {
		b.seqDirty[i] = true
		b.dirtyKGs = append(b.dirtyKGs, kg)
	}
	return b.seq[i]
}

// Namespaces gives the namespace of each row of a batch access: one
// namespace for every row (OneNamespace; the zero value is the empty
// namespace) or one per row (RowNamespaces).
type Namespaces struct {
	one  []byte
	rows [][]byte
}

// OneNamespace uses ns for every row.
func OneNamespace(ns []byte) Namespaces { return Namespaces{one: ns} }

// RowNamespaces uses ns[i] for row i; len(ns) must equal the number of rows.
func RowNamespaces(ns [][]byte) Namespaces { return Namespaces{rows: ns} }

func (n Namespaces) at(i int) []byte {
	if n.rows != nil {
		return n.rows[i]
	}
	return n.one
}

func (n Namespaces) check(rows int) error {
	if n.rows != nil && len(n.rows) != rows {
		return fmt.Errorf("state: %d row namespaces for %d keys", len(n.rows), rows)
	}
	return nil
}

// buildKeys builds the state keys of every row into b.keys.
func (b *Backend) buildKeys(st *stateInfo, keys *KeyBatch, ns Namespaces, userKeys [][]byte) {
	n := keys.Len()
	b.keyBuf = b.keyBuf[:0]
	b.keyOffs = b.keyOffs[:0]
	for i := 0; i < n; i++ {
		b.keyOffs = append(b.keyOffs, len(b.keyBuf))
		var uk []byte
		if userKeys != nil {
			uk = userKeys[i]
		}
		b.keyBuf = appendStateKey(b.keyBuf, st.id, keys.At(i), ns.at(i), uk)
	}
	b.keyOffs = append(b.keyOffs, len(b.keyBuf))
	b.keys = b.keys[:0]
	for i := 0; i < n; i++ {
		b.keys = append(b.keys, b.keyBuf[b.keyOffs[i]:b.keyOffs[i+1]:b.keyOffs[i+1]])
	}
}

// multiGet reads the entries of st for every row in one Store.MultiGet.
func (b *Backend) multiGet(ctx context.Context, st *stateInfo, keys *KeyBatch, ns Namespaces, userKeys [][]byte, found func(i int, v []byte)) error {
	if err := ns.check(keys.Len()); err != nil {
		return fmt.Errorf("state %s: %s state %q: multiget: %w", b.name, st.kind, st.name, err)
	}
	if userKeys != nil && len(userKeys) != keys.Len() {
		return fmt.Errorf("state %s: %s state %q: multiget: %d user keys for %d keys", b.name, st.kind, st.name, len(userKeys), keys.Len())
	}
	if err := b.Flush(ctx); err != nil {
		return err
	}
	b.buildKeys(st, keys, ns, userKeys)
	return b.multiGetKeys(ctx, st, found)
}

// multiGetKeys looks up b.keys.
func (b *Backend) multiGetKeys(ctx context.Context, st *stateInfo, found func(i int, v []byte)) error {
	b.cur.st, b.cur.now, b.cur.found = st, b.now(), found
	b.metrics.Lookups += int64(len(b.keys))
	err := b.store.MultiGet(ctx, b.keys, b.foundFn)
	b.cur.st, b.cur.found = nil, nil
	if err != nil {
		return fmt.Errorf("state %s: %s state %q: multiget of %d keys: %w", b.name, st.kind, st.name, len(b.keys), err)
	}
	return nil
}

func (b *Backend) onFound(i int, stored []byte) {
	st := b.cur.st
	if !st.ttl.Enabled() {
		b.metrics.Hits++
		b.cur.found(i, stored)
		return
	}
	v, live, err := b.afterRead(st, b.keys[i], stored, b.cur.now)
	if err != nil || !live {
		// A corrupt header hides the entry; it is reported by Get and the
		// sweep. MultiGet's contract has no per-key error.
		return
	}
	b.metrics.Hits++
	b.cur.found(i, v)
}

// get reads one entry. The returned value is a copy.
func (b *Backend) get(ctx context.Context, st *stateInfo, k Key, ns, userKey []byte) ([]byte, bool, error) {
	if err := b.Flush(ctx); err != nil {
		return nil, false, err
	}
	b.keyBuf = appendStateKey(b.keyBuf[:0], st.id, k, ns, userKey)
	b.metrics.Lookups++
	stored, ok, err := b.store.Get(ctx, b.keyBuf)
	if err != nil {
		return nil, false, fmt.Errorf("state %s: %s state %q: get: %w", b.name, st.kind, st.name, err)
	}
	if !ok {
		return nil, false, nil
	}
	v, live, err := b.afterRead(st, b.keyBuf, stored, b.now())
	if err != nil || !live {
		return nil, false, err
	}
	b.metrics.Hits++
	return v, true, nil
}

// scanPrefix calls fn, in user-key order, for every live entry of st under
// (k, ns): state keys starting with kg|id|key|len(ns)|ns. fn gets the user
// key and value, valid during the call.
func (b *Backend) scanPrefix(ctx context.Context, st *stateInfo, k Key, ns []byte, fn func(userKey, v []byte) error) error {
	if err := b.Flush(ctx); err != nil {
		return err
	}
	lower := appendStateKey(nil, st.id, k, ns, nil)
	upper := PrefixEnd(nil, lower)
	it, err := b.store.Scan(ctx, lower, upper)
	if err != nil {
		return fmt.Errorf("state %s: %s state %q: scan: %w", b.name, st.kind, st.name, err)
	}
	now := b.now()
	for ok := it.First(); ok; ok = it.Next() {
		sk := it.Key()
		v, live, err := b.afterRead(st, sk, it.Value(), now)
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
		return fmt.Errorf("state %s: %s state %q: scan: %w", b.name, st.kind, st.name, err)
	}
	return nil
}

// deletePrefix buffers a delete-range of every key starting with
// kg|id|key|ns (ns == nil and wholeKey: every namespace of the key).
func (b *Backend) deletePrefix(st *stateInfo, k Key, ns []byte, wholeKey bool) {
	var lower []byte
	if wholeKey {
		lower = statestore.AppendKeyGroup(b.keyBuf[:0], k.Group)
		lower = append(lower, st.id)
		lower = append(lower, k.Bytes...)
	} else {
		lower = appendStateKey(b.keyBuf[:0], st.id, k, ns, nil)
	}
	b.keyBuf = lower
	upper := PrefixEnd(nil, lower)
	b.metrics.Writes++
	b.wb.DeleteRange(lower, upper)
}

// ClearKey buffers the deletion of every entry of every registered state
// (all namespaces) of key k, e.g. when an operator forgets a key. Timers
// are deleted with timer.Service.DeleteKey.
func (b *Backend) ClearKey(k Key) {
	for _, st := range b.states {
		if st != nil && st.kind != KindTimers {
			b.deletePrefix(st, k, nil, true)
		}
	}
}
