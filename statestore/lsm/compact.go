package lsm

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

func (d *DB) compactLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.compactCh:
		}
		for d.compactOne() {
		}
	}
}

// compactOne runs the most urgent compaction, if any, and reports whether
// it did.
func (d *DB) compactOne() bool {
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return false
	}
	c := manifest.Pick(d.mu.current.v, d.opts.Picker, &d.mu.cursor)
	if c == nil {
		d.mu.Unlock()
		return false
	}
	v := d.mu.current
	v.refs++
	d.mu.Unlock()

	outs, in, err := d.runCompaction(d.ctx, c)
	d.mu.Lock()
	d.unrefLocked(v)
	if err != nil {
		d.mu.Unlock()
		if d.ctx.Err() == nil {
			d.opts.Logger.Warn("lsm compaction failed", "shard", d.shard.Name, "err", err)
			d.setBGErr(fmt.Errorf("lsm: compaction on shard %q: %w", d.shard.Name, err))
		}
		return false
	}
	nv, err := d.mu.current.v.Apply(c.Edit(outs))
	if err != nil {
		panic(fmt.Sprintf("lsm: shard %q: compaction edit: %v\n%s", d.shard.Name, err, c))
	}
	d.installLocked(nv)
	d.mu.bgErr = nil
	lo, _ := c.Inputs[0].Bounds()
	d.mu.cursor[c.Level] = lo
	d.mu.Unlock()
	var outBytes int64
	for _, f := range outs {
		outBytes += int64(f.Size)
		d.doneInflight(f.Object)
	}
	d.m.compactions.Add(1)
	d.m.compactionBytes.Add(outBytes)
	d.m.compactionIn.Add(in)
	return true
}

// clipIter hides keys outside a reference's clip and counts those outside
// the owned range.
type clipIter struct {
	internalIter
	clip, owned statestore.KeyGroupRange
	dropped     int64
}

func (c *clipIter) skip(ok bool) bool {
	for ok {
		kg := statestore.KeyGroupOf(c.Key().UserKey)
		if c.clip.Contains(kg) {
			return true
		}
		if !c.owned.Contains(kg) {
			c.dropped++
		}
		ok = c.internalIter.Next()
	}
	return false
}

func (c *clipIter) First() bool           { return c.skip(c.internalIter.First()) }
func (c *clipIter) SeekGE(k []byte) bool  { return c.skip(c.internalIter.SeekGE(k)) }
func (c *clipIter) Next() bool            { return c.skip(c.internalIter.Next()) }
func (c *clipIter) Valid() bool           { return c.internalIter.Valid() }
func (c *clipIter) Key() base.InternalKey { return c.internalIter.Key() }

// coveredBlocks returns an sstable.IterOptions.SkipBlock for a table with
// visible range [lo, hi) and entries up to seqnum maxSeq: it skips the
// blocks whose keys (the part in [lo, hi); the rest is not visible) frags
// deletes with deletions newer than maxSeq, counting them in skipped.
func coveredBlocks(frags base.Fragments, lo, hi []byte, maxSeq uint64, skipped *atomic.Int64) func(a, b []byte) bool {
	var buf []byte
	return func(a, b []byte) bool {
		if a == nil || bytes.Compare(a, lo) < 0 {
			a = lo
		}
		buf = append(append(buf[:0], b...), 0) // b is inclusive
		end := buf
		if bytes.Compare(end, hi) > 0 {
			end = hi
		}
		if frags.CoversSpan(a, end, maxSeq) {
			skipped.Add(1)
			return true
		}
		return false
	}
}

// runCompaction merges the compaction's inputs into new tables of the
// output level and returns them (registered in flight) and the input
// bytes. It applies the compaction filter: entries outside the owned
// range, expired entries and entries Options.Filter rejects are dropped
// (turned into tombstones when older versions may remain below), as are
// versions shadowed by newer ones or by range deletions. An input whose
// whole range is covered by newer range deletions is not read at all.
func (d *DB) runCompaction(ctx context.Context, c *manifest.Compaction) (outs []*manifest.FileMeta, inBytes int64, err error) {
	now := d.opts.Clock.Now().UnixNano()
	var iters []internalIter
	var clips []*clipIter
	all := append(append([]*manifest.FileMeta(nil), c.Inputs...), c.Overlap...)
	readers := make([]*sstable.Reader, len(all))
	sets := make([]base.Fragments, len(all))
	for i, f := range all {
		inBytes += int64(f.Size)
		r, err := d.tc.get(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		readers[i] = r
		flo, fhi := f.Bounds()
		sets[i] = r.RangeDelFragments().Clip(flo, fhi)
	}
	frags := base.MergeFragments(sets...)
	covered := frags.Cursor() // the keys ascend
	for i, f := range all {
		// Keys that newer deletions (of other inputs) cover are dropped:
		// a table whose whole range they cover is not read, nor is a
		// block whose span they cover.
		flo, fhi := f.Bounds()
		if frags.CoversSpan(flo, fhi, f.MaxSeq) {
			d.m.compactionSkipped.Add(1)
			continue
		}
		var opts sstable.IterOptions
		if len(frags) > 0 {
			opts.SkipBlock = coveredBlocks(frags, flo, fhi, f.MaxSeq, &d.m.blocksSkipped)
		}
		ci := &clipIter{internalIter: readers[i].NewIter(ctx, opts), clip: f.Clip, owned: d.owned}
		iters = append(iters, ci)
		clips = append(clips, ci)
	}
	m := &mergingIter{iters: iters}
	defer m.Close()

	var out *tableOut
	var tw *sstable.Writer
	var outLo []byte
	fail := func(err error) ([]*manifest.FileMeta, int64, error) {
		if tw != nil {
			tw.Abort()
			out.w.Abort()
			d.doneInflight(out.name)
		}
		for _, f := range outs {
			d.doneInflight(f.Object)
		}
		return nil, 0, err
	}
	open := func(lo []byte) error {
		var err error
		out, tw, err = d.newTable(false)
		outLo = lo
		return err
	}
	finish := func(hi []byte) error {
		if !c.Bottommost {
			// The newest deletion of each fragment within the table's
			// range: older ones cover nothing the newest does not.
			for _, fr := range frags.Clip(clampBounds(outLo, hi, d.ownLo, d.ownHi)) {
				if err := tw.AddRangeDel(fr.Start, fr.End, fr.SeqNums[0]); err != nil {
					return err
				}
			}
		}
		f, err := d.finishTable(out, tw, d.owned)
		name := out.name
		out, tw = nil, nil
		if err != nil || f == nil {
			d.doneInflight(name)
			return err
		}
		outs = append(outs, f)
		return nil
	}

	var expired, filtered int64
	var ukey []byte
	for ok := m.First(); ok; {
		it := m.cur()
		k := it.Key()
		ukey = append(ukey[:0], k.UserKey...)
		seq, kind := k.SeqNum(), k.Kind()
		value, exp := it.Value(), it.Expiry()
		// Decide what the newest version becomes.
		const (
			drop = iota
			tombstone
			keep
		)
		action := keep
		switch {
		case covered.Covers(ukey, seq, base.SeqNumMax):
			action = drop
		case kind == base.KindDelete:
			action = tombstone
		case statestore.Expired(int64(exp), now):
			expired++
			action = tombstone
		case d.opts.Filter != nil && !d.opts.Filter(ukey, value, int64(exp)):
			filtered++
			action = tombstone
		}
		if action == tombstone && c.Bottommost {
			action = drop
		}
		if action != drop {
			if tw == nil {
				lo := c.Lo
				if len(outs) > 0 {
					lo = bytes.Clone(ukey)
				}
				if err := open(lo); err != nil {
					return fail(err)
				}
			} else if tw.EstimatedSize() >= d.opts.TargetFileSize {
				if err := finish(ukey); err != nil {
					return fail(err)
				}
				if err := open(bytes.Clone(ukey)); err != nil {
					return fail(err)
				}
			}
			var err error
			if action == tombstone {
				err = tw.Delete(ukey, seq)
			} else {
				err = tw.Add(base.MakeInternalKey(ukey, seq, base.KindSet), value, exp)
			}
			if err != nil {
				return fail(err)
			}
		}
		// Skip older versions of the key.
		for ok = m.Next(); ok && bytes.Equal(m.cur().Key().UserKey, ukey); ok = m.Next() {
		}
	}
	if m.err != nil {
		return fail(m.err)
	}
	if tw == nil && !c.Bottommost && len(frags) > 0 {
		lo := c.Lo
		if len(outs) > 0 {
			_, lo = outs[len(outs)-1].Bounds()
		}
		if err := open(lo); err != nil {
			return fail(err)
		}
	}
	if tw != nil {
		if err := finish(c.Hi); err != nil {
			return fail(err)
		}
	}
	var oor int64
	for _, ci := range clips {
		oor += ci.dropped
	}
	d.m.expired.Add(expired)
	d.m.filtered.Add(filtered)
	d.m.outOfRange.Add(oor)
	return outs, inBytes, nil
}
