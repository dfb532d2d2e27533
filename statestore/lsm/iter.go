package lsm

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"

	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// internalIter is what memtable and sstable iterators share.
type internalIter interface {
	First() bool
	SeekGE(ukey []byte) bool
	Next() bool
	Valid() bool
	Key() base.InternalKey
	Value() []byte
	Expiry() base.Expiry
	Err() error
	Close() error
}

// mergingIter merges internal iterators in internal-key order: user key
// ascending, then newest first.
type mergingIter struct {
	iters []internalIter
	h     iterHeap
	err   error
}

type iterHeap []internalIter

func (h iterHeap) Len() int           { return len(h) }
func (h iterHeap) Less(i, j int) bool { return base.Compare(h[i].Key(), h[j].Key()) < 0 }
func (h iterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *iterHeap) Push(x any)        { *h = append(*h, x.(internalIter)) }
func (h *iterHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (m *mergingIter) build(pos func(it internalIter) bool) bool {
	m.h = m.h[:0]
	for _, it := range m.iters {
		if pos(it) {
			m.h = append(m.h, it)
		} else if err := it.Err(); err != nil {
			m.err = err
			return false
		}
	}
	heap.Init(&m.h)
	return m.Valid()
}

func (m *mergingIter) First() bool { return m.build(func(it internalIter) bool { return it.First() }) }

func (m *mergingIter) SeekGE(k []byte) bool {
	return m.build(func(it internalIter) bool { return it.SeekGE(k) })
}

func (m *mergingIter) Valid() bool { return m.err == nil && len(m.h) > 0 }

func (m *mergingIter) cur() internalIter { return m.h[0] }

func (m *mergingIter) Next() bool {
	if !m.Valid() {
		return false
	}
	top := m.h[0]
	if top.Next() {
		heap.Fix(&m.h, 0)
	} else {
		if err := top.Err(); err != nil {
			m.err = err
			return false
		}
		heap.Pop(&m.h)
	}
	return m.Valid()
}

func (m *mergingIter) Close() error {
	for _, it := range m.iters {
		if err := it.Close(); err != nil && m.err == nil {
			m.err = err
		}
	}
	return m.err
}

// clampBounds intersects [lo, hi) with [lo2, hi2); nil means unbounded.
func clampBounds(lo, hi, lo2, hi2 []byte) ([]byte, []byte) {
	if lo2 != nil && (lo == nil || bytes.Compare(lo2, lo) > 0) {
		lo = lo2
	}
	if hi2 != nil && (hi == nil || bytes.Compare(hi2, hi) < 0) {
		hi = hi2
	}
	return lo, hi
}

// sources opens iterators over every memtable and table of rs that can hold
// keys in [lo, hi), and collects their range deletions within it (each
// table's clipped to its visible range) as one fragmented set. Finding
// them costs a binary search per memtable run and table, not a walk of
// every deletion.
func (d *DB) sources(ctx context.Context, rs *readState, lo, hi []byte) ([]internalIter, base.Fragments, error) {
	var iters []internalIter
	var sets []base.Fragments
	for _, m := range rs.mems {
		iters = append(iters, m.NewIter(sstable.IterOptions{Lower: lo, Upper: hi, SeqNum: rs.seq}))
		sets = append(sets, m.RangeDelFragments(lo, hi))
	}
	var err error
	rs.v.v.Objects(func(f *manifest.FileMeta) {
		if err != nil || !f.Overlaps(lo, hi) {
			return
		}
		var it internalIter
		var fd base.Fragments
		it, fd, err = d.fileIter(ctx, f, lo, hi, rs.seq)
		if err == nil {
			iters = append(iters, it)
			sets = append(sets, fd)
		}
	})
	if err != nil {
		for _, it := range iters {
			it.Close()
		}
		return nil, nil, err
	}
	return iters, base.MergeFragments(sets...), nil
}

// fileIter iterates the visible part of f within [lo, hi) and returns the
// range deletions of that part.
func (d *DB) fileIter(ctx context.Context, f *manifest.FileMeta, lo, hi []byte, seq uint64) (internalIter, base.Fragments, error) {
	r, err := d.tc.get(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	flo, fhi := f.Bounds()
	lo, hi = clampBounds(lo, hi, flo, fhi)
	it := r.NewIter(ctx, sstable.IterOptions{Lower: lo, Upper: hi, SeqNum: seq})
	return it, r.RangeDelFragments().Clip(lo, hi), nil
}

// Scan implements statestore.Store.
func (d *DB) Scan(ctx context.Context, lower, upper []byte) (statestore.Iterator, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.m.scans.Add(1)
	lo, hi := clampBounds(bytes.Clone(lower), bytes.Clone(upper), d.ownLo, d.ownHi)
	rs, err := d.acquire("scan")
	if err != nil {
		return nil, err
	}
	iters, frags, err := d.sources(ctx, &rs, lo, hi)
	if err != nil {
		d.release(&rs)
		return nil, fmt.Errorf("lsm: scan on shard %q: %w", d.shard.Name, err)
	}
	return &scanIter{d: d, rs: rs, m: &mergingIter{iters: iters}, frags: frags.Cursor(), lower: lo, upper: hi}, nil
}

// scanIter yields the newest live version of each user key.
type scanIter struct {
	d      *DB
	rs     readState
	m      *mergingIter
	frags  base.FragmentCursor // keys mostly ascend
	lower  []byte
	upper  []byte
	key    []byte
	value  []byte
	valid  bool
	closed bool
}

func (s *scanIter) settle() bool {
	s.valid = false
	for s.m.Valid() {
		it := s.m.cur()
		k := it.Key()
		s.key = append(s.key[:0], k.UserKey...)
		live := k.Kind().IsSet() && !statestore.Expired(int64(it.Expiry()), s.rs.now) &&
			!s.frags.Covers(k.UserKey, k.SeqNum(), s.rs.seq)
		if live {
			s.value = it.Value()
			s.valid = true
			return true
		}
		s.skipKey()
	}
	return false
}

// skipKey advances past every version of s.key.
func (s *scanIter) skipKey() {
	for s.m.Next() && bytes.Equal(s.m.cur().Key().UserKey, s.key) {
	}
}

func (s *scanIter) First() bool {
	if s.closed {
		return false
	}
	if s.lower != nil {
		return s.SeekGE(s.lower)
	}
	s.m.First()
	return s.settle()
}

func (s *scanIter) SeekGE(key []byte) bool {
	if s.closed {
		return false
	}
	if s.lower != nil && bytes.Compare(key, s.lower) < 0 {
		key = s.lower
	}
	s.m.SeekGE(key)
	return s.settle()
}

func (s *scanIter) Next() bool {
	if !s.valid {
		return false
	}
	s.skipKey()
	return s.settle()
}

func (s *scanIter) Valid() bool   { return s.valid }
func (s *scanIter) Key() []byte   { return s.key }
func (s *scanIter) Value() []byte { return s.value }
func (s *scanIter) Error() error {
	if s.m.err != nil {
		return fmt.Errorf("lsm: scan on shard %q: %w", s.d.shard.Name, s.m.err)
	}
	return nil
}

func (s *scanIter) Close() error {
	if s.closed {
		return s.Error()
	}
	s.closed = true
	s.valid = false
	s.m.Close()
	s.d.release(&s.rs)
	return s.Error()
}
