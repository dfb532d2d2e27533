package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/manifest"
	"github.com/sluicedata/sluice/statestore/objstore"
)

const numKeyGroups = 8

type modelEntry struct {
	value  []byte
	expiry int64
}

type model map[string]modelEntry

func (m model) clone() model {
	out := make(model, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (m model) get(k []byte, now int64) ([]byte, bool) {
	e, ok := m[string(k)]
	if !ok || statestore.Expired(e.expiry, now) {
		return nil, false
	}
	return e.value, true
}

func (m model) scan(lo, hi []byte, owned statestore.KeyGroupRange, now int64) []string {
	var out []string
	for k, e := range m {
		kb := []byte(k)
		if !owned.ContainsKey(kb) || statestore.Expired(e.expiry, now) {
			continue
		}
		if (lo == nil || bytes.Compare(kb, lo) >= 0) && (hi == nil || bytes.Compare(kb, hi) < 0) {
			out = append(out, k+"="+string(e.value))
		}
	}
	sort.Strings(out)
	return out
}

// errInjected marks failures made by faultStorage.
var errInjected = errors.New("injected fault")

// faultStorage fails a random fraction of requests before they reach the
// wrapped storage, so a failed request has no effect.
type faultStorage struct {
	objstore.Storage
	mu   sync.Mutex
	rng  *rand.Rand
	prob float64
}

func (f *faultStorage) fail(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.prob > 0 && f.rng.Float64() < f.prob {
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	return nil
}

func (f *faultStorage) setProb(p float64) { f.mu.Lock(); f.prob = p; f.mu.Unlock() }

func (f *faultStorage) ReadObject(ctx context.Context, name string) (objstore.Readable, int64, error) {
	if err := f.fail("head " + name); err != nil {
		return nil, 0, err
	}
	r, n, err := f.Storage.ReadObject(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return &faultReadable{Readable: r, f: f, name: name}, n, nil
}

func (f *faultStorage) ReadAll(ctx context.Context, name string) ([]byte, error) {
	if err := f.fail("get " + name); err != nil {
		return nil, err
	}
	return f.Storage.ReadAll(ctx, name)
}

func (f *faultStorage) CreateObject(ctx context.Context, name string) (objstore.Writable, error) {
	if err := f.fail("create " + name); err != nil {
		return nil, err
	}
	w, err := f.Storage.CreateObject(ctx, name)
	if err != nil {
		return nil, err
	}
	return &faultWritable{Writable: w, f: f, name: name}, nil
}

func (f *faultStorage) CreateIfAbsent(ctx context.Context, name string, data []byte) error {
	if err := f.fail("create-if-absent " + name); err != nil {
		return err
	}
	return f.Storage.CreateIfAbsent(ctx, name, data)
}

func (f *faultStorage) List(ctx context.Context, prefix string) ([]string, error) {
	if err := f.fail("list " + prefix); err != nil {
		return nil, err
	}
	return f.Storage.List(ctx, prefix)
}

func (f *faultStorage) Delete(ctx context.Context, name string) error {
	if err := f.fail("delete " + name); err != nil {
		return err
	}
	return f.Storage.Delete(ctx, name)
}

type faultReadable struct {
	objstore.Readable
	f    *faultStorage
	name string
}

func (r *faultReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	if err := r.f.fail(fmt.Sprintf("read %s at %d", r.name, off)); err != nil {
		return err
	}
	return r.Readable.ReadAt(ctx, p, off)
}

type faultWritable struct {
	objstore.Writable
	f    *faultStorage
	name string
}

func (w *faultWritable) Finish() error {
	if err := w.f.fail("finish " + w.name); err != nil {
		w.Writable.Abort()
		return err
	}
	return w.Writable.Finish()
}

func newMemStorage(t testing.TB) objstore.Storage {
	st, err := objstore.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// shard is one open store of the simulated job.
type shard struct {
	db    *DB
	owned statestore.KeyGroupRange
}

// harness drives a simulated job: several shards over one namespace, a
// model map, and the checkpoints taken.
type harness struct {
	t      *testing.T
	ctx    context.Context
	rng    *rand.Rand
	clk    *clock.Fake
	opts   Options
	fault  *faultStorage
	shards []shard
	m      model
	epoch  uint64
	nextID uint64
	// last completed checkpoint: handles and the model as of it.
	lastHandles []statestore.Handle
	lastModel   model
	ops         map[string]int
	faults      bool // faults are injected (checkObjects does not apply)
	// writeHeavy turns most checkpoints, crashes, rescales and GCs into
	// writes, so compactions replace tables that no manifest names.
	writeHeavy bool

	flushes, compactions, gcDeleted, obsoleteDeleted int64
}

func newHarness(t *testing.T, seed uint64, faultProb float64) *harness {
	ctx := context.Background()
	h := &harness{t: t, ctx: ctx, rng: rand.New(rand.NewPCG(seed, 7)), clk: clock.NewFake(time.Unix(1_000_000, 0)), m: model{}, ops: map[string]int{}, faults: faultProb > 0}
	h.fault = &faultStorage{Storage: newMemStorage(t), rng: rand.New(rand.NewPCG(seed, 9))}
	h.opts = Options{
		Storage:        h.fault,
		Clock:          h.clk,
		MemtableSize:   16 << 10,
		TargetFileSize: 8 << 10,
		Picker:         manifest.PickerOptions{L0Trigger: 3, BaseLevelBytes: 24 << 10, Multiplier: 4},
		Retention:      manifest.Policy{KeepLast: 2},
		DisableAutoGC:  true,
	}
	h.opts.Table.BlockSize = 1 << 10
	if seed%2 == 1 {
		// Memtables also rotate at a few entries, before their arena fills.
		h.opts.MemtableEntries = 64
	}
	h.fault.setProb(0)
	h.open(nil, []statestore.KeyGroupRange{statestore.FullKeyGroupRange(numKeyGroups)})
	h.lastModel = model{}
	h.fault.setProb(faultProb)
	return h
}

func (h *harness) now() int64 { return h.clk.Now().UnixNano() }

func (h *harness) injected(err error) bool { return errors.Is(err, errInjected) }

// open opens one shard per range from handles, retrying injected faults.
func (h *harness) open(handles []statestore.Handle, ranges []statestore.KeyGroupRange) {
	h.epoch++
	for i, r := range ranges {
		var from []statestore.Handle
		for _, hd := range handles {
			if hd.KeyGroups.Overlaps(r) {
				from = append(from, hd)
			}
		}
		for attempt := 0; ; attempt++ {
			db, err := Open(h.ctx, h.opts, statestore.ShardOptions{Name: fmt.Sprintf("op/%d", i), Epoch: h.epoch}, from, r)
			if err == nil {
				h.shards = append(h.shards, shard{db: db, owned: r})
				break
			}
			if !h.injected(err) || attempt > 100 {
				h.t.Fatalf("open shard %d %v: %v", i, r, err)
			}
		}
	}
}

func (h *harness) closeAll() {
	for _, s := range h.shards {
		m := s.db.Metrics()
		h.flushes += m.Flushes
		h.compactions += m.Compactions
		h.gcDeleted += s.db.LSMMetrics().GCDeleted
		h.obsoleteDeleted += s.db.LSMMetrics().ObsoleteDeleted
		if err := s.db.Close(); err != nil {
			h.t.Fatal(err)
		}
	}
	h.shards = nil
}

func (h *harness) route(key []byte) *shard {
	g := statestore.KeyGroupOf(key)
	for i := range h.shards {
		if h.shards[i].owned.Contains(g) {
			return &h.shards[i]
		}
	}
	h.t.Fatalf("no shard owns key group %d", g)
	return nil
}

func (h *harness) randKey() []byte {
	k := statestore.AppendKeyGroup(nil, uint16(h.rng.IntN(numKeyGroups)))
	return fmt.Appendf(k, "k%03d", h.rng.IntN(500))
}

func (h *harness) randValue() []byte {
	v := make([]byte, 1+h.rng.IntN(120))
	for i := range v {
		v[i] = byte('a' + h.rng.IntN(26))
	}
	return v
}

func (h *harness) fatalf(format string, args ...any) {
	h.t.Helper()
	h.t.Fatalf("ops so far %v: "+format, append([]any{h.ops}, args...)...)
}

func (h *harness) step() {
	r := h.rng.IntN(1000)
	if h.writeHeavy && r >= 800 && h.rng.IntN(20) > 0 {
		r = 0 // most checkpoints, crashes, rescales and GCs become writes
	}
	switch {
	case r < 400:
		h.ops["put"]++
		// A batch of puts and deletes to one shard.
		key := h.randKey()
		s := h.route(key)
		var b statestore.WriteBatch
		for n := 1 + h.rng.IntN(8); n > 0; n-- {
			k := key
			if n > 1 {
				k = h.randKey()
				if h.route(k) != s {
					continue
				}
			}
			switch h.rng.IntN(20) {
			case 0:
				// A delete-range among the batch's puts: it applies in
				// batch order like them.
				end := h.randKey()
				if bytes.Compare(k, end) > 0 {
					k, end = end, k
				}
				b.DeleteRange(k, end)
			case 1, 2, 3:
				b.Delete(k)
			case 4, 5:
				v := h.randValue()
				exp := h.now() + int64(1+h.rng.IntN(5))*int64(time.Second)
				b.PutWithExpiryNanos(k, v, exp)
			default:
				v := h.randValue()
				b.Put(k, v)
			}
		}
		if err := s.db.Apply(h.ctx, &b); err != nil {
			if h.injected(err) {
				return // nothing of the batch was applied
			}
			h.fatalf("apply: %v", err)
		}
		// Apply in batch order: later ops on a key win; replay the batch.
		for op := range b.All() {
			switch op.Kind {
			case statestore.OpDelete:
				delete(h.m, string(op.Key))
			case statestore.OpDeleteRange:
				for k := range h.m {
					if k >= string(op.Key) && k < string(op.End) && s.owned.ContainsKey([]byte(k)) {
						delete(h.m, k)
					}
				}
			default:
				h.m[string(op.Key)] = modelEntry{value: bytes.Clone(op.Value), expiry: op.Expiry}
			}
		}
	case r < 430:
		h.ops["delete-range"]++
		a, b := h.randKey(), h.randKey()
		if bytes.Compare(a, b) > 0 {
			a, b = b, a
		}
		var wb statestore.WriteBatch
		wb.DeleteRange(a, b)
		for _, s := range h.shards { // each shard clips it
			if err := s.db.Apply(h.ctx, &wb); err != nil {
				if h.injected(err) {
					continue
				}
				h.fatalf("delete-range: %v", err)
			}
			for k := range h.m {
				if k >= string(a) && k < string(b) && s.owned.ContainsKey([]byte(k)) {
					delete(h.m, k)
				}
			}
		}
	case r < 600:
		h.ops["get"]++
		k := h.randKey()
		v, ok, err := h.route(k).db.Get(h.ctx, k)
		if err != nil {
			if h.injected(err) {
				return
			}
			h.fatalf("get %q: %v", k, err)
		}
		wv, wok := h.m.get(k, h.now())
		if ok != wok || !bytes.Equal(v, wv) {
			h.fatalf("get %q = %q,%t; model %q,%t", k, v, ok, wv, wok)
		}
		// A key outside the shard's range is never found.
		if len(h.shards) > 1 {
			other := h.shards[0]
			if other.owned.ContainsKey(k) {
				other = h.shards[1]
			}
			if _, ok, err := other.db.Get(h.ctx, k); ok || (err != nil && !h.injected(err)) {
				h.fatalf("get %q on shard %v: found=%t err=%v", k, other.owned, ok, err)
			}
		}
	case r < 700:
		h.ops["multiget"]++
		s := &h.shards[h.rng.IntN(len(h.shards))]
		var keys [][]byte
		for range 1 + h.rng.IntN(40) {
			keys = append(keys, h.randKey())
		}
		got := map[int][]byte{}
		err := s.db.MultiGet(h.ctx, keys, func(i int, v []byte) {
			if _, dup := got[i]; dup {
				h.fatalf("multiget reported %d twice", i)
			}
			got[i] = bytes.Clone(v)
		})
		if err != nil {
			if h.injected(err) {
				return
			}
			h.fatalf("multiget: %v", err)
		}
		for i, k := range keys {
			wv, wok := h.m.get(k, h.now())
			if !s.owned.ContainsKey(k) {
				wv, wok = nil, false
			}
			v, ok := got[i]
			if ok != wok || !bytes.Equal(v, wv) {
				h.fatalf("multiget %q = %q,%t; model %q,%t", k, v, ok, wv, wok)
			}
		}
	case r < 760:
		h.ops["scan"]++
		var lo, hi []byte
		if h.rng.IntN(4) > 0 {
			lo = h.randKey()
		}
		if h.rng.IntN(4) > 0 {
			hi = h.randKey()
		}
		s := &h.shards[h.rng.IntN(len(h.shards))]
		it, err := s.db.Scan(h.ctx, lo, hi)
		if err != nil {
			if h.injected(err) {
				return
			}
			h.fatalf("scan: %v", err)
		}
		var got []string
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, string(it.Key())+"="+string(it.Value()))
		}
		if err := it.Close(); err != nil {
			if h.injected(err) {
				return
			}
			h.fatalf("scan: %v", err)
		}
		want := h.m.scan(lo, hi, s.owned, h.now())
		if !slices.Equal(got, want) {
			h.fatalf("scan [%q,%q) on %v:\n got %q\nwant %q", lo, hi, s.owned, got, want)
		}
	case r < 800:
		h.ops["advance"]++
		h.clk.Advance(time.Duration(1+h.rng.IntN(1500)) * time.Millisecond)
	case r < 950:
		h.ops["checkpoint"]++
		h.checkpoint()
	case r < 965:
		h.ops["crash"]++
		h.crash()
	case r < 985:
		h.ops["rescale"]++
		if h.checkpoint() {
			h.rescale()
		}
	default:
		h.ops["gc"]++
		s := h.shards[h.rng.IntN(len(h.shards))]
		// Like a coordinator: retain from the last completed checkpoint
		// (failed checkpoints with larger ids may exist).
		p := manifest.Policy{KeepLast: 2}
		if len(h.lastHandles) > 0 {
			p.KeepFrom = h.lastHandles[0].Checkpoint
		}
		if _, err := s.db.GCWith(h.ctx, p); err != nil && !h.injected(err) {
			h.fatalf("gc: %v", err)
		}
	}
}

// checkpoint checkpoints every shard with one id; on success the handles
// become the restore point.
func (h *harness) checkpoint() bool {
	h.nextID++
	id := h.nextID
	var ps []statestore.Pending
	for _, s := range h.shards {
		p, err := s.db.Checkpoint(h.ctx, id)
		if err != nil {
			h.fatalf("checkpoint %d: %v", id, err)
		}
		ps = append(ps, p)
	}
	snap := h.m.clone()
	var handles []statestore.Handle
	ok := true
	for _, p := range ps {
		hd, err := p.Wait(h.ctx)
		if err != nil {
			if !h.injected(err) {
				h.fatalf("checkpoint %d: %v", id, err)
			}
			ok = false
			continue
		}
		if hd.Checkpoint != id || hd.Backend != Backend {
			h.fatalf("checkpoint %d: handle %v", id, hd)
		}
		handles = append(handles, hd)
	}
	if ok {
		h.lastHandles, h.lastModel = handles, snap
	}
	h.checkObjects()
	return ok
}

// checkObjects checks, in runs without faults, that every table the open
// shards wrote is named by a manifest in storage or by a shard's current
// version: compaction inputs and failed outputs that no manifest named are
// gone without waiting for a GC. (Tables of closed instances are left to
// GC, which the harness runs only now and then.)
func (h *harness) checkObjects() {
	if h.faults {
		return
	}
	h.t.Helper()
	var dbs []*DB
	open := map[manifest.Writer]bool{}
	for _, s := range h.shards {
		if err := s.db.WaitIdle(h.ctx); err != nil {
			h.fatalf("wait idle: %v", err)
		}
		dbs = append(dbs, s.db)
		open[s.db.self] = true
	}
	for _, o := range unreferenced(h.t, h.ctx, h.fault.Storage, dbs...) {
		if w, _, ok := manifest.ParseSSTName(o); ok && open[w] {
			h.fatalf("table %s of an open shard is named by no manifest and no live version", o)
		}
	}
	h.ops["check-objects"]++
}

// crash drops every shard (what it did since the last checkpoint is lost)
// and reopens from the last completed checkpoint, same layout.
func (h *harness) crash() {
	var ranges []statestore.KeyGroupRange
	for _, s := range h.shards {
		ranges = append(ranges, s.owned)
	}
	h.closeAll()
	h.m = h.lastModel.clone()
	h.open(h.lastHandles, h.layout(ranges))
}

func (h *harness) layout(ranges []statestore.KeyGroupRange) []statestore.KeyGroupRange {
	if len(h.lastHandles) == 0 {
		return []statestore.KeyGroupRange{statestore.FullKeyGroupRange(numKeyGroups)}
	}
	var out []statestore.KeyGroupRange
	for _, hd := range h.lastHandles {
		out = append(out, hd.KeyGroups)
	}
	return out
}

// rescale reopens the last checkpoint with 1, 2 or 4 shards.
func (h *harness) rescale() {
	h.closeAll()
	n := []int{1, 2, 4}[h.rng.IntN(3)]
	ranges, err := statestore.SplitKeyGroups(numKeyGroups, n)
	if err != nil {
		h.t.Fatal(err)
	}
	h.m = h.lastModel.clone()
	h.open(h.lastHandles, ranges)
}

func runModel(t *testing.T, seed uint64, steps int, faultProb float64, writeHeavy bool) {
	h := newHarness(t, seed, faultProb)
	h.writeHeavy = writeHeavy
	defer h.closeAll()
	for range steps {
		h.step()
	}
	// Final: a clean checkpoint and a full comparison after reopening.
	h.fault.setProb(0)
	for !h.checkpoint() {
	}
	h.crash()
	for _, s := range h.shards {
		it, err := s.db.Scan(h.ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for ok := it.First(); ok; ok = it.Next() {
			got = append(got, string(it.Key())+"="+string(it.Value()))
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if want := h.m.scan(nil, nil, s.owned, h.now()); !slices.Equal(got, want) {
			t.Fatalf("final scan on %v:\n got %q\nwant %q", s.owned, got, want)
		}
	}
	t.Logf("seed %d: ops %v; %d flushes, %d compactions, %d objects collected, %d obsolete tables deleted at once", seed, h.ops, h.flushes, h.compactions, h.gcDeleted, h.obsoleteDeleted)
	if steps >= 1000 && (h.flushes == 0 || h.compactions == 0) {
		t.Errorf("the run flushed %d tables and ran %d compactions: tune it to exercise the tree", h.flushes, h.compactions)
	}
}

func TestModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed, 2500, 0, false) })
	}
}

// TestModelWriteHeavy checkpoints rarely, so compactions replace tables no
// manifest names; checkObjects sees them deleted at once.
func TestModelWriteHeavy(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, 200+seed, 2500, 0, true) })
	}
}

func TestModelFaults(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, 100+seed, 1500, 0.03, false) })
	}
}
