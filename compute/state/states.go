package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/zeebo/xxh3"
)

// ValueState holds one value per (key, namespace).
type ValueState struct {
	b  *Backend
	st *stateInfo
}

// Value registers a value state.
func (b *Backend) Value(d Descriptor) (*ValueState, error) {
	st, err := b.register(d, KindValue, false)
	if err != nil {
		return nil, err
	}
	return &ValueState{b: b, st: st}, nil
}

// MultiGet looks up the value of every row of keys (row i in namespace
// ns.at(i)) with one Store.MultiGet, after applying the pending writes. found
// is called once per row that has a live value, serially, in no particular
// order; v is valid only during the call.
func (s *ValueState) MultiGet(ctx context.Context, keys *KeyBatch, ns Namespaces, found func(i int, v []byte)) error {
	return s.b.multiGet(ctx, s.st, keys, ns, nil, found)
}

// Get returns a copy of the value of (k, ns). Not the hot path: use MultiGet.
func (s *ValueState) Get(ctx context.Context, k Key, ns []byte) ([]byte, bool, error) {
	v, ok, err := s.b.get(ctx, s.st, k, ns, nil)
	if !ok || err != nil {
		return nil, ok, err
	}
	return bytes.Clone(v), true, nil
}

// Put buffers setting (k, ns) to v. The bytes are copied.
func (s *ValueState) Put(k Key, ns, v []byte) {
	s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, k, ns, nil)
	s.b.put(s.st, s.b.keyBuf, v, s.b.now())
}

// PutBatch buffers setting row i of keys to value(i) for every row where
// value returns ok; the clock is read once.
func (s *ValueState) PutBatch(keys *KeyBatch, ns Namespaces, value func(i int) (v []byte, ok bool)) {
	now := s.b.now()
	for i := 0; i < keys.Len(); i++ {
		v, ok := value(i)
		if !ok {
			continue
		}
		s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, keys.At(i), ns.at(i), nil)
		s.b.put(s.st, s.b.keyBuf, v, now)
	}
}

// Delete buffers deleting (k, ns).
func (s *ValueState) Delete(k Key, ns []byte) {
	s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, k, ns, nil)
	s.b.metrics.Writes++
	s.b.wb.Delete(s.b.keyBuf)
}

// ListState holds an ordered list of values per (key, namespace). Appending
// writes one entry per element (under a per-key-group sequence number), so an
// append never reads or rewrites the list. With a TTL, each element expires
// on its own.
type ListState struct {
	b  *Backend
	st *stateInfo
}

// List registers a list state.
func (b *Backend) List(d Descriptor) (*ListState, error) {
	st, err := b.register(d, KindList, false)
	if err != nil {
		return nil, err
	}
	return &ListState{b: b, st: st}, nil
}

// Add buffers appending v to the list of (k, ns).
func (s *ListState) Add(k Key, ns, v []byte) {
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], s.b.nextSeq(k.Group))
	s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, k, ns, seq[:])
	s.b.put(s.st, s.b.keyBuf, v, s.b.now())
}

// AddBatch buffers appending value(i) to the list of row i, for every row
// where value returns ok. Rows are appended in row order.
func (s *ListState) AddBatch(keys *KeyBatch, ns Namespaces, value func(i int) (v []byte, ok bool)) {
	now := s.b.now()
	var seq [8]byte
	for i := 0; i < keys.Len(); i++ {
		v, ok := value(i)
		if !ok {
			continue
		}
		k := keys.At(i)
		binary.BigEndian.PutUint64(seq[:], s.b.nextSeq(k.Group))
		s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, k, ns.at(i), seq[:])
		s.b.put(s.st, s.b.keyBuf, v, now)
	}
}

// Get calls fn for each live element of the list of (k, ns) in append
// order; v is valid only during the call. One Store.Scan.
func (s *ListState) Get(ctx context.Context, k Key, ns []byte, fn func(v []byte) error) error {
	return s.b.scanPrefix(ctx, s.st, k, ns, func(_, v []byte) error { return fn(v) })
}

// Update buffers replacing the list of (k, ns) with vs.
func (s *ListState) Update(k Key, ns []byte, vs [][]byte) {
	s.Clear(k, ns)
	for _, v := range vs {
		s.Add(k, ns, v)
	}
}

// Clear buffers deleting the list of (k, ns).
func (s *ListState) Clear(k Key, ns []byte) { s.b.deletePrefix(s.st, k, ns, false) }

// ClearKey buffers deleting the lists of k in every namespace.
func (s *ListState) ClearKey(k Key) { s.b.deletePrefix(s.st, k, nil, true) }

// MapState holds a map from user key to value per (key, namespace). Each map
// entry is its own store entry, so entries are read and written without
// touching the rest of the map.
type MapState struct {
	b  *Backend
	st *stateInfo
}

// Map registers a map state.
func (b *Backend) Map(d Descriptor) (*MapState, error) {
	st, err := b.register(d, KindMap, false)
	if err != nil {
		return nil, err
	}
	return &MapState{b: b, st: st}, nil
}

// MultiGet looks up map key mks[i] of row i for every row in one
// Store.MultiGet. found is called as for ValueState.MultiGet.
func (s *MapState) MultiGet(ctx context.Context, keys *KeyBatch, ns Namespaces, mks [][]byte, found func(i int, v []byte)) error {
	if mks == nil {
		mks = [][]byte{}
	}
	return s.b.multiGet(ctx, s.st, keys, ns, mks, found)
}

// Get returns a copy of the value of map key mk of (k, ns).
func (s *MapState) Get(ctx context.Context, k Key, ns, mk []byte) ([]byte, bool, error) {
	v, ok, err := s.b.get(ctx, s.st, k, ns, mk)
	if !ok || err != nil {
		return nil, ok, err
	}
	return bytes.Clone(v), true, nil
}

// Put buffers setting map key mk of (k, ns) to v.
func (s *MapState) Put(k Key, ns, mk, v []byte) {
	s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, k, ns, mk)
	s.b.put(s.st, s.b.keyBuf, v, s.b.now())
}

// Delete buffers deleting map key mk of (k, ns).
func (s *MapState) Delete(k Key, ns, mk []byte) {
	s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, k, ns, mk)
	s.b.metrics.Writes++
	s.b.wb.Delete(s.b.keyBuf)
}

// Iterate calls fn for every live entry of the map of (k, ns) in map-key
// byte order; mk and v are valid only during the call. One Store.Scan.
func (s *MapState) Iterate(ctx context.Context, k Key, ns []byte, fn func(mk, v []byte) error) error {
	return s.b.scanPrefix(ctx, s.st, k, ns, fn)
}

// Clear buffers deleting the map of (k, ns).
func (s *MapState) Clear(k Key, ns []byte) { s.b.deletePrefix(s.st, k, ns, false) }

// ClearKey buffers deleting the maps of k in every namespace.
func (s *MapState) ClearKey(k Key) { s.b.deletePrefix(s.st, k, nil, true) }

// AggregateFunc folds in into an accumulator: it appends the new accumulator
// to dst and returns it. hasAcc is false (and acc nil) for the first input
// of a (key, namespace). It must not keep acc or in.
type AggregateFunc func(dst, acc []byte, hasAcc bool, in []byte) []byte

// ReduceFunc combines two values: it appends the result to dst.
type ReduceFunc func(dst, a, b []byte) []byte

// AggregatingState holds one accumulator per (key, namespace), updated by an
// AggregateFunc. Reducing state is an AggregatingState built with Reducing.
type AggregatingState struct {
	b   *Backend
	st  *stateInfo
	add AggregateFunc

	// Scratch: per-row group index, group state keys and accumulators.
	dd     dedup
	group  []int32
	acc    [][]byte
	has    []bool
	arena  []byte
	uniq   KeyBatch
	uniqNS [][]byte
}

// Aggregating registers an aggregating state.
func (b *Backend) Aggregating(d Descriptor, add AggregateFunc) (*AggregatingState, error) {
	if add == nil {
		return nil, fmt.Errorf("state %s: register aggregating state %q: add function is nil", b.name, d.Name)
	}
	st, err := b.register(d, KindAggregating, false)
	if err != nil {
		return nil, err
	}
	return &AggregatingState{b: b, st: st, add: add}, nil
}

// Reducing registers a reducing state: the first value is kept as is, later
// ones are combined with reduce.
func (b *Backend) Reducing(d Descriptor, reduce ReduceFunc) (*AggregatingState, error) {
	if reduce == nil {
		return nil, fmt.Errorf("state %s: register reducing state %q: reduce function is nil", b.name, d.Name)
	}
	return b.Aggregating(d, func(dst, acc []byte, hasAcc bool, in []byte) []byte {
		if !hasAcc {
			return append(dst, in...)
		}
		return reduce(dst, acc, in)
	})
}

// MultiGet reads the accumulator of every row, as ValueState.MultiGet.
func (s *AggregatingState) MultiGet(ctx context.Context, keys *KeyBatch, ns Namespaces, found func(i int, v []byte)) error {
	return s.b.multiGet(ctx, s.st, keys, ns, nil, found)
}

// Get returns a copy of the accumulator of (k, ns).
func (s *AggregatingState) Get(ctx context.Context, k Key, ns []byte) ([]byte, bool, error) {
	v, ok, err := s.b.get(ctx, s.st, k, ns, nil)
	if !ok || err != nil {
		return nil, ok, err
	}
	return bytes.Clone(v), true, nil
}

// Clear buffers deleting the accumulator of (k, ns).
func (s *AggregatingState) Clear(k Key, ns []byte) {
	s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, k, ns, nil)
	s.b.metrics.Writes++
	s.b.wb.Delete(s.b.keyBuf)
}

// Add folds in(i) into the accumulator of row i for every row where in
// returns ok, in row order, and buffers one write per distinct (key,
// namespace). It reads the current accumulators with one Store.MultiGet.
// Rows of the same (key, namespace) in one batch are folded in row order.
func (s *AggregatingState) Add(ctx context.Context, keys *KeyBatch, ns Namespaces, in func(i int) (v []byte, ok bool)) error {
	n := keys.Len()
	if err := ns.check(n); err != nil {
		return fmt.Errorf("state %s: aggregating state %q: add: %w", s.b.name, s.st.name, err)
	}
	// Group rows by (key, ns): the first row of each group represents it.
	s.dd.reset(n)
	s.group = grow(s.group, n)
	s.uniq.Reset()
	s.uniqNS = s.uniqNS[:0]
	for i := 0; i < n; i++ {
		k := keys.Key(i)
		nsi := ns.at(i)
		g, fresh := s.dd.find(k, nsi, keys.Group(i), s.uniq.Len(), func(j int) bool {
			return bytes.Equal(s.uniq.Key(j), k) && bytes.Equal(s.uniqNS[j], nsi)
		})
		if fresh {
			s.uniq.Append(keys.At(i))
			s.uniqNS = append(s.uniqNS, nsi)
		}
		s.group[i] = int32(g)
	}
	m := s.uniq.Len()
	s.acc = grow(s.acc, m)
	s.has = grow(s.has, m)
	clear(s.has)
	s.arena = s.arena[:0]
	// Read the current accumulators, copied into the arena.
	err := s.b.multiGet(ctx, s.st, &s.uniq, RowNamespaces(s.uniqNS), nil, func(j int, v []byte) {
		s.has[j] = true
		start := len(s.arena)
		s.arena = append(s.arena, v...)
		s.acc[j] = s.arena[start:len(s.arena):len(s.arena)]
	})
	if err != nil {
		return err
	}
	// acc slices may alias an old arena backing array after growth; that
	// array stays alive and unmodified, so the slices remain valid.
	for j := 0; j < m; j++ {
		if !s.has[j] {
			s.acc[j] = nil
		}
	}
	for i := 0; i < n; i++ {
		v, ok := in(i)
		if !ok {
			continue
		}
		g := s.group[i]
		// Each fold appends to a fresh slice; the old accumulator stays
		// valid until this loop ends because the arena only grows.
		start := len(s.arena)
		s.arena = s.add(s.arena, s.acc[g], s.has[g], v)
		s.acc[g] = s.arena[start:len(s.arena):len(s.arena)]
		s.has[g] = true
	}
	now := s.b.now()
	for j := 0; j < m; j++ {
		if !s.has[j] {
			continue
		}
		s.b.keyBuf = appendStateKey(s.b.keyBuf[:0], s.st.id, s.uniq.At(j), s.uniqNS[j], nil)
		s.b.put(s.st, s.b.keyBuf, s.acc[j], now)
	}
	return nil
}

// dedup is an open-addressing hash table from (key, namespace) to a group
// index, reused across batches.
type dedup struct {
	slots []int32 // group+1, 0 = empty
	mask  uint64
}

func (d *dedup) reset(n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(d.slots) < size {
		d.slots = make([]int32, size)
	} else {
		d.slots = d.slots[:size]
		clear(d.slots)
	}
	d.mask = uint64(size - 1)
}

// find returns the group of (k, ns), or next (and fresh=true) if it is new.
func (d *dedup) find(k, ns []byte, kg uint16, next int, eq func(j int) bool) (int, bool) {
	h := xxh3.Hash(k) ^ (xxh3.Hash(ns) * 0x9e3779b97f4a7c15) ^ uint64(kg)
	for p := h & d.mask; ; p = (p + 1) & d.mask {
		s := d.slots[p]
		if s == 0 {
			d.slots[p] = int32(next + 1)
			return next, true
		}
		if eq(int(s - 1)) {
			return int(s - 1), false
		}
	}
}
