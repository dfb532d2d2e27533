package lsm

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
	"github.com/sluicedata/sluice/statestore/sstable"
	"github.com/sluicedata/sluice/statestore/sstable/base"
)

// tableOut streams one table to object storage, keeping a copy for the
// disk tier when there is one.
type tableOut struct {
	name string
	w    objstore.Writable
	buf  *bytes.Buffer
}

func (t *tableOut) Write(p []byte) (int, error) {
	if err := t.w.Write(p); err != nil {
		return 0, err
	}
	if t.buf != nil {
		t.buf.Write(p)
	}
	return len(p), nil
}

// newTable starts a table object. The name is registered in flight, so GC
// keeps it until the caller calls d.doneInflight. A flush's table puts its
// blocks in the block cache if Options.CacheFlushedBlocks.
func (d *DB) newTable(flush bool) (*tableOut, *sstable.Writer, error) {
	d.mu.Lock()
	num := d.mu.nextFile
	d.mu.nextFile++
	name := manifest.SSTName(d.self, num)
	d.mu.inflight[name]++
	d.mu.unpub.Create(name)
	if d.mu.gcActive {
		d.mu.gcSeen[name] = true
	}
	d.mu.Unlock()
	w, err := d.st.CreateObject(d.ctx, name)
	if err != nil {
		d.doneInflight(name)
		return nil, nil, fmt.Errorf("create table %s: %w", name, err)
	}
	out := &tableOut{name: name, w: w}
	if d.opts.Disk != nil {
		out.buf = &bytes.Buffer{}
	}
	wo := d.opts.Table
	if flush && d.opts.CacheFlushedBlocks {
		wo.Cache, wo.FileID = d.bc, fileID(name)
	}
	tw, err := sstable.NewWriter(out, wo)
	if err != nil {
		w.Abort()
		d.doneInflight(name)
		return nil, nil, err
	}
	return out, tw, nil
}

// doneInflight ends the writing of a table newTable started: it is
// installed in the current version by now, or it failed or was empty (and
// is then deleted at once).
func (d *DB) doneInflight(name string) {
	d.mu.Lock()
	if d.mu.inflight[name]--; d.mu.inflight[name] <= 0 {
		delete(d.mu.inflight, name)
	}
	if o, ok := d.mu.unpub.Done(name); ok {
		d.mu.obsolete = append(d.mu.obsolete, o)
		d.signal(d.deleteCh)
	}
	d.mu.Unlock()
}

// finishTable completes a table and returns its metadata, or nil if it
// holds nothing (the object is then aborted). The name stays in flight.
func (d *DB) finishTable(out *tableOut, tw *sstable.Writer, clip statestore.KeyGroupRange) (*manifest.FileMeta, error) {
	meta, err := tw.Finish()
	if err != nil {
		out.w.Abort()
		return nil, fmt.Errorf("finish table %s: %w", out.name, err)
	}
	if !meta.HasKeys() {
		out.w.Abort()
		return nil, nil
	}
	if err := out.w.Finish(); err != nil {
		return nil, fmt.Errorf("upload table %s: %w", out.name, err)
	}
	d.mu.Lock()
	d.mu.unpub.Finished(out.name, meta.Size)
	d.mu.Unlock()
	if out.buf != nil {
		d.opts.Disk.Populate(out.name, out.buf.Bytes())
	}
	f := &manifest.FileMeta{
		Object:     out.name,
		Size:       meta.Size,
		TailSize:   meta.TailSize,
		Smallest:   bytes.Clone(meta.SmallestKey.UserKey),
		Limit:      append(bytes.Clone(meta.LargestKey.UserKey), 0),
		Clip:       clip,
		MinSeq:     meta.MinSeqNum,
		MaxSeq:     meta.MaxSeqNum,
		NumEntries: meta.NumEntries + meta.NumRangeDeletions,
		MinExpiry:  int64(meta.MinExpiry),
		MaxExpiry:  int64(meta.MaxExpiry),
	}
	if meta.RangeDelEnd != nil && bytes.Compare(meta.RangeDelEnd, f.Limit) > 0 {
		f.Limit = bytes.Clone(meta.RangeDelEnd)
	}
	return f, nil
}

func (d *DB) flushLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.flushCh:
		}
		for d.flushOne() {
		}
	}
}

// flushOne flushes the oldest queued item and publishes its checkpoints.
// It reports whether to continue with the next item.
func (d *DB) flushOne() bool {
	d.mu.Lock()
	if len(d.mu.queue) == 0 || d.mu.closed {
		d.mu.Unlock()
		return false
	}
	item := d.mu.queue[0]
	d.mu.Unlock()

	var f *manifest.FileMeta
	if item.mem != nil && !item.mem.Empty() {
		d.mu.Lock()
		below := d.mu.current // every older memtable is flushed into it
		below.refs++
		d.mu.Unlock()
		var err error
		f, err = d.flushMemtable(item, below)
		d.mu.Lock()
		d.unrefLocked(below)
		d.mu.Unlock()
		if err != nil {
			d.failFlush(item, err)
			return false
		}
	}
	d.mu.Lock()
	if f != nil {
		nv, err := d.mu.current.v.Apply(&manifest.VersionEdit{Added: []manifest.NewFile{{Level: 0, Meta: f}}})
		if err != nil {
			panic(fmt.Sprintf("lsm: shard %q: flush edit: %v", d.shard.Name, err))
		}
		d.installLocked(nv)
	}
	d.mu.queue = d.mu.queue[1:]
	d.memsChangedLocked()
	if item.mem != nil {
		d.unrefMemLocked(item.mem)
	}
	ckpts := item.ckpts
	item.ckpts = nil
	v := d.mu.current
	v.refs++
	if len(ckpts) > 0 {
		// From now on a manifest may name v's tables: only GC deletes
		// them, under the retention rule.
		d.mu.unpub.Publish(v.v)
	}
	d.mu.bgErr = nil
	d.mu.cond.Broadcast()
	d.mu.Unlock()
	if f != nil {
		d.doneInflight(f.Object)
		d.m.flushes.Add(1)
		d.m.flushBytes.Add(int64(f.Size))
		d.signal(d.compactCh)
	}
	for _, c := range ckpts {
		d.publish(c, v.v, item.seq)
	}
	d.mu.Lock()
	d.unrefLocked(v)
	d.mu.Unlock()
	if len(ckpts) > 0 && !d.opts.DisableAutoGC {
		d.signal(d.gcCh)
	}
	return true
}

// flushMemtable writes item's memtable to a new table. below is the
// version the table goes on top of: the memtable's tombstones of keys that
// none of its tables may hold are not written.
func (d *DB) flushMemtable(item *flushItem, below *version) (*manifest.FileMeta, error) {
	out, tw, err := d.newTable(true)
	if err != nil {
		return nil, err
	}
	dropped, err := item.mem.FlushNewest(tw, d.unseenBy(below))
	d.m.tombstonesDropped.Add(dropped)
	if err != nil {
		tw.Abort()
		out.w.Abort()
		d.doneInflight(out.name)
		return nil, fmt.Errorf("flush to %s: %w", out.name, err)
	}
	f, err := d.finishTable(out, tw, d.owned)
	if err != nil || f == nil {
		d.doneInflight(out.name)
	}
	return f, err
}

// failFlush fails every queued checkpoint (they all wait for item); the
// memtable stays queued and is retried on the next signal.
func (d *DB) failFlush(item *flushItem, err error) {
	err = fmt.Errorf("lsm: flush on shard %q: %w", d.shard.Name, err)
	d.opts.Logger.Warn("lsm flush failed", "shard", d.shard.Name, "err", err)
	d.mu.Lock()
	// Every queued checkpoint depends on this flush.
	var ckpts []*pendingCheckpoint
	for _, it := range d.mu.queue {
		ckpts = append(ckpts, it.ckpts...)
		it.ckpts = nil
	}
	d.mu.bgErr = err
	d.mu.cond.Broadcast()
	d.mu.Unlock()
	for _, c := range ckpts {
		if c.p.Resolve(statestore.Handle{}, fmt.Errorf("lsm: checkpoint %d: %w", c.id, err)) {
			d.m.ckptFailed.Add(1)
		}
	}
}

// publish writes checkpoint c's manifest (version v, up to seq) with a
// conditional create and resolves its promise. The checkpoint's size
// (LastCheckpointBytes) is its manifest plus the tables it names that the
// previous one did not: what it made durable, whether a flush or a
// compaction wrote them. (Compaction output that no checkpoint names is
// deleted unseen.)
func (d *DB) publish(c *pendingCheckpoint, v *manifest.Version, seq uint64) {
	cp := manifest.NewCheckpoint(d.self, c.id, d.owned, seq, v)
	name := manifest.ManifestName(d.shard.Name, c.id)
	data := cp.Encode()
	objects := map[string]bool{}
	bytesUp := int64(len(data))
	v.Objects(func(f *manifest.FileMeta) {
		if !objects[f.Object] {
			objects[f.Object] = true
			if !d.ckptObjects[f.Object] {
				bytesUp += int64(f.Size)
			}
		}
	})
	err := d.st.CreateIfAbsent(d.ctx, name, data)
	if err != nil {
		if errors.Is(err, objstore.ErrAlreadyExists) {
			err = fmt.Errorf("lsm: checkpoint %d of shard %q: fenced, another writer published %s: %w", c.id, d.shard.Name, name, err)
		} else {
			err = fmt.Errorf("lsm: checkpoint %d of shard %q: publish %s: %w", c.id, d.shard.Name, name, err)
		}
		if c.p.Resolve(statestore.Handle{}, err) {
			d.m.ckptFailed.Add(1)
		}
		return
	}
	d.ckptObjects = objects
	h := statestore.Handle{Backend: Backend, URL: d.handleName(name), Shard: d.shard.Name, Checkpoint: c.id, KeyGroups: d.owned, Data: []byte(name)}
	// Metrics first, so a waiter that wakes up sees them.
	d.m.lastCkptBytes.Store(bytesUp)
	d.m.lastCkptNanos.Store(int64(d.opts.Clock.Now().Sub(c.started)))
	d.m.ckptCompleted.Add(1)
	c.p.Resolve(h, nil)
}

// unseenBy returns a test of whether no table of v may hold a key: none
// covers it, or each one that does rules it out with its Bloom filter. A
// table not open yet is opened (a metadata read; the previous flush's
// table is usually among them); one that fails to open may hold the key.
// A flush asks it about the keys of its tombstones: v holds everything
// older than the memtable (flushes go oldest first, and a compaction
// rewrites keys, never adds them), so a tombstone of a key v cannot hold
// hides nothing.
func (d *DB) unseenBy(v *version) func(key []byte) bool {
	rs := readState{v: v}
	var buf [16]tableCand
	return func(key []byte) bool {
		cands := candidates(&rs, key, buf[:0])
		if len(cands) == 0 {
			return true
		}
		h := base.KeyHash(key)
		for _, c := range cands {
			r := c.slot.Load()
			if r == nil {
				if r = d.tc.lookup(c.f.Object); r == nil {
					var err error
					if r, err = d.tc.get(d.ctx, c.f); err != nil {
						return false
					}
				}
				c.slot.Store(r)
			}
			if r.MayContainHash(h) {
				return false
			}
		}
		return true
	}
}
