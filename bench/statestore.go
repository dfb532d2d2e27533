package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/cache"
	"github.com/sluicedata/sluice/statestore/lsm"
	"github.com/sluicedata/sluice/statestore/objstore"
	"golang.org/x/sync/errgroup"
)

// StatestoreConfig configures RunStatestore.
type StatestoreConfig struct {
	// Quick runs every comparison on small sizes, within about a minute.
	Quick bool
	// Dir holds the local state (object store folder, disk cache, Pebble).
	// Default: a temporary folder, removed at the end.
	Dir string
	// Keys is the working set of the random put/get comparison. Default
	// 1,000,000 (quick: 200,000).
	Keys int
	// ValueSize is the value length in bytes. Default 100.
	ValueSize int
	// StateBytes is the state size for the checkpoint-cost and rescale
	// measurements. Default 1 GiB (quick: 64 MiB).
	StateBytes int64
	// RecoverySizes are the state sizes whose recovery time is measured.
	// Default 1 GiB and 10 GiB (quick: 16 MiB and 64 MiB).
	RecoverySizes []int64
	// RemoteLatency is the latency injected on every object-store request
	// in the remote-read and recovery measurements. Default 20 ms.
	RemoteLatency time.Duration
	// Seed seeds the key generator. Default 1.
	Seed uint64
}

func (c *StatestoreConfig) ensureDefaults() {
	if c.Keys == 0 {
		c.Keys = 1_000_000
		if c.Quick {
			c.Keys = 200_000
		}
	}
	if c.ValueSize == 0 {
		c.ValueSize = 100
	}
	if c.StateBytes == 0 {
		c.StateBytes = 1 << 30
		if c.Quick {
			c.StateBytes = 64 << 20
		}
	}
	if len(c.RecoverySizes) == 0 {
		c.RecoverySizes = []int64{1 << 30, 10 << 30}
		if c.Quick {
			c.RecoverySizes = []int64{16 << 20, 64 << 20}
		}
	}
	if c.RemoteLatency == 0 {
		c.RemoteLatency = 20 * time.Millisecond
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// StatestoreReport holds the measured figures.
type StatestoreReport struct {
	PutOpsLSM, PutOpsPebble float64 // operations per second
	GetOpsLSM, GetOpsPebble float64
	// RatioVsPebble is the geometric mean of the put and get ratios
	// (LSM / Pebble); above 1 the LSM is faster.
	RatioVsPebble float64

	RemoteColdGet      time.Duration // mean Get latency, nothing cached
	RemoteMultiGet     time.Duration // mean per-key latency of a cold MultiGet
	RemoteDiskGet      time.Duration // mean Get latency with the disk tier warm
	RemoteMultiGetKeys int

	StateBytes          int64
	CheckpointBytes     int64 // uploaded by a checkpoint after changing 1% of the keys
	CheckpointFraction  float64
	RecoveryFirstRead   []time.Duration // per RecoverySizes entry
	RescaleSplitTime    time.Duration   // 1 -> 4: open all four and read once from each
	RescaleSplitBytes   int64           // bytes read from object storage for it
	RescaleMergeTime    time.Duration   // 4 -> 1
	RescaleMergeBytes   int64
	RescaleUploadBytes  int64 // bytes the four checkpoints uploaded in between
	RescaleStateObjects int

	// LocalSettings states how the local comparison configures both
	// stores.
	LocalSettings string

	// StepTimes is the wall time of each step, setup included.
	StepTimes []StepTime
}

// StepTime is the wall time of one step of RunStatestore.
type StepTime struct {
	Step string
	Took time.Duration
}

const benchKG = 256

func benchKey(dst []byte, i uint64) []byte {
	dst = statestore.AppendKeyGroup(dst[:0], uint16(i%benchKG))
	return binary.BigEndian.AppendUint64(dst, i*0x9e3779b97f4a7c15)
}

// RunStatestore measures the LSM state store: its local tier against
// Pebble, remote reads with injected latency, checkpoint cost, recovery
// and rescaling. It writes a table to w, ending with "ratio vs pebble: X".
func RunStatestore(ctx context.Context, cfg StatestoreConfig, w io.Writer) (*StatestoreReport, error) {
	cfg.ensureDefaults()
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sluice-bench-statestore-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := &StatestoreReport{}
	states := &builtStates{dir: filepath.Join(dir, "states"), cfg: cfg}
	defer states.close()
	steps := []struct {
		name string
		fn   func(context.Context, StatestoreConfig, string, *StatestoreReport) error
	}{
		{"local", benchLocal},
		{"build", func(ctx context.Context, cfg StatestoreConfig, _ string, _ *StatestoreReport) error {
			// Every size the later steps read, once each and in parallel.
			return states.build(ctx, append([]int64{cfg.StateBytes / 4, cfg.StateBytes}, cfg.RecoverySizes...))
		}},
		{"remote", states.step(benchRemote)},
		{"checkpoint", states.step(benchCheckpoint)},
		{"recovery", states.step(benchRecovery)},
		{"rescale", states.step(benchRescale)},
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.fn(ctx, cfg, filepath.Join(dir, s.name), rep); err != nil {
			return rep, fmt.Errorf("bench statestore %s: %w", s.name, err)
		}
		rep.StepTimes = append(rep.StepTimes, StepTime{Step: s.name, Took: time.Since(start)})
	}
	fmt.Fprintf(w, "statestore benchmark (quick=%t, %d keys of %d-byte values, state %d MiB, latency %v)\n", cfg.Quick, cfg.Keys, cfg.ValueSize, cfg.StateBytes>>20, cfg.RemoteLatency)
	fmt.Fprintf(w, "local tier settings: %s\n", rep.LocalSettings)
	fmt.Fprintf(w, "%-44s %14s %14s %8s\n", "case", "sluice lsm", "pebble", "ratio")
	fmt.Fprintf(w, "%-44s %12.0f/s %12.0f/s %8.2f\n", "random put (local tier)", rep.PutOpsLSM, rep.PutOpsPebble, rep.PutOpsLSM/rep.PutOpsPebble)
	fmt.Fprintf(w, "%-44s %12.0f/s %12.0f/s %8.2f\n", "random get (local tier, fits the cache)", rep.GetOpsLSM, rep.GetOpsPebble, rep.GetOpsLSM/rep.GetOpsPebble)
	fmt.Fprintf(w, "%-44s %14v\n", fmt.Sprintf("remote get, cold (+%v per request)", cfg.RemoteLatency), rep.RemoteColdGet.Round(time.Microsecond))
	fmt.Fprintf(w, "%-44s %14v\n", fmt.Sprintf("remote MultiGet of %d keys, per key", rep.RemoteMultiGetKeys), rep.RemoteMultiGet.Round(time.Microsecond))
	fmt.Fprintf(w, "%-44s %14v\n", "remote get, disk tier warm", rep.RemoteDiskGet.Round(time.Microsecond))
	fmt.Fprintf(w, "%-44s %11d KiB (%.2f%% of %d MiB)\n", "checkpoint after changing 1% of keys", rep.CheckpointBytes>>10, 100*rep.CheckpointFraction, rep.StateBytes>>20)
	for i, s := range cfg.RecoverySizes {
		fmt.Fprintf(w, "%-44s %14v\n", fmt.Sprintf("recovery: open to first read, %d MiB", s>>20), rep.RecoveryFirstRead[i].Round(time.Microsecond))
	}
	fmt.Fprintf(w, "%-44s %14v %9d KiB read\n", "rescale 1 -> 4 (open + first read each)", rep.RescaleSplitTime.Round(time.Microsecond), rep.RescaleSplitBytes>>10)
	fmt.Fprintf(w, "%-44s %14v %9d KiB read\n", "rescale 4 -> 1 (open + first read)", rep.RescaleMergeTime.Round(time.Microsecond), rep.RescaleMergeBytes>>10)
	fmt.Fprintf(w, "steps:")
	for _, st := range rep.StepTimes {
		fmt.Fprintf(w, " %s %.1fs", st.Step, st.Took.Seconds())
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ratio vs pebble: %.2f\n", rep.RatioVsPebble)
	return rep, nil
}

func openStorage(ctx context.Context, dir string) (objstore.Storage, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return objstore.Open(ctx, "file://"+dir)
}

func benchValue(rng *rand.Rand, n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + rng.IntN(26))
	}
	return v
}

// localRounds is how many alternating rounds the local comparison is cut
// into: both stores run every round, in turns, so a burst of load from
// other processes on a shared machine hits both about equally.
const localRounds = 10

// localSettings describes how the local comparison configures both stores.
func localSettings(cfg StatestoreConfig, cacheBytes int64) string {
	return fmt.Sprintf("both stores: no WAL (pebble DisableWAL + NoSync; sluice has none, checkpoints give durability), "+
		"64 MiB memtable, %d MiB block cache, compaction on, 1 put per batch, %d-byte keys, %d-byte values, "+
		"random order, %d alternating rounds", cacheBytes>>20, len(benchKey(nil, 0)), cfg.ValueSize, localRounds)
}

// benchLocal: random single-key puts then random gets, same working set,
// both stores with the same cache size and no write-ahead log, measured in
// alternating rounds.
func benchLocal(ctx context.Context, cfg StatestoreConfig, dir string, rep *StatestoreReport) error {
	cacheBytes := int64(cfg.Keys) * int64(cfg.ValueSize+40) * 2
	rep.LocalSettings = localSettings(cfg, cacheBytes)
	rng := rand.New(rand.NewPCG(cfg.Seed, 1))
	val := benchValue(rng, cfg.ValueSize)
	order := rng.Perm(cfg.Keys)
	reads := make([]uint64, cfg.Keys)
	for i := range reads {
		reads[i] = uint64(rng.IntN(cfg.Keys))
	}

	// Sluice LSM on a local folder.
	st, err := openStorage(ctx, filepath.Join(dir, "objects"))
	if err != nil {
		return err
	}
	defer st.Close()
	bc, err := cache.New(cache.Options{Capacity: cacheBytes})
	if err != nil {
		return err
	}
	db, err := lsm.Open(ctx, lsm.Options{Storage: st, BlockCache: bc, MemtableSize: 64 << 20, DisableAutoGC: true},
		statestore.ShardOptions{Name: "bench/0"}, nil, statestore.FullKeyGroupRange(benchKG))
	if err != nil {
		return err
	}
	defer db.Close()
	// Pebble.
	pc := pebble.NewCache(cacheBytes)
	defer pc.Unref()
	pdb, err := pebble.Open(filepath.Join(dir, "pebble"), &pebble.Options{Cache: pc, DisableWAL: true, MemTableSize: 64 << 20})
	if err != nil {
		return err
	}
	defer pdb.Close()

	var b statestore.WriteBatch
	var k []byte
	lsmPut := func(part []int) error {
		for _, i := range part {
			b.Reset()
			k = benchKey(k, uint64(i))
			b.Put(k, val)
			if err := db.Apply(ctx, &b); err != nil {
				return err
			}
		}
		return nil
	}
	pebblePut := func(part []int) error {
		for _, i := range part {
			k = benchKey(k, uint64(i))
			if err := pdb.Set(k, val, pebble.NoSync); err != nil {
				return err
			}
		}
		return nil
	}
	lsmGet := func(part []uint64) error {
		for _, i := range part {
			k = benchKey(k, i)
			if _, ok, err := db.Get(ctx, k); err != nil || !ok {
				return fmt.Errorf("lsm get %d: found=%t err=%v", i, ok, err)
			}
		}
		return nil
	}
	pebbleGet := func(part []uint64) error {
		for _, i := range part {
			k = benchKey(k, i)
			_, closer, err := pdb.Get(k)
			if err != nil {
				return fmt.Errorf("pebble get %d: %w", i, err)
			}
			closer.Close()
		}
		return nil
	}
	var lsmPutT, pebblePutT, lsmGetT, pebbleGetT time.Duration
	if err := alternate(len(order), &lsmPutT, &pebblePutT,
		func(lo, hi int) error { return lsmPut(order[lo:hi]) },
		func(lo, hi int) error { return pebblePut(order[lo:hi]) }); err != nil {
		return err
	}
	if err := alternate(len(reads), &lsmGetT, &pebbleGetT,
		func(lo, hi int) error { return lsmGet(reads[lo:hi]) },
		func(lo, hi int) error { return pebbleGet(reads[lo:hi]) }); err != nil {
		return err
	}
	rep.PutOpsLSM = float64(len(order)) / lsmPutT.Seconds()
	rep.PutOpsPebble = float64(len(order)) / pebblePutT.Seconds()
	rep.GetOpsLSM = float64(len(reads)) / lsmGetT.Seconds()
	rep.GetOpsPebble = float64(len(reads)) / pebbleGetT.Seconds()
	rep.RatioVsPebble = math.Sqrt(rep.PutOpsLSM / rep.PutOpsPebble * rep.GetOpsLSM / rep.GetOpsPebble)
	return nil
}

// alternate runs n operations on two stores in localRounds rounds, each
// store doing the same slice [lo, hi) every round, the first to go
// alternating; it adds each store's time to ta and tb.
func alternate(n int, ta, tb *time.Duration, a, b func(lo, hi int) error) error {
	for r := range localRounds {
		lo, hi := n*r/localRounds, n*(r+1)/localRounds
		first, second, tf, ts := a, b, ta, tb
		if r%2 == 1 {
			first, second, tf, ts = b, a, tb, ta
		}
		start := time.Now()
		if err := first(lo, hi); err != nil {
			return err
		}
		mid := time.Now()
		if err := second(lo, hi); err != nil {
			return err
		}
		*tf += mid.Sub(start)
		*ts += time.Since(mid)
	}
	return nil
}

// latencyStorage adds a fixed latency to every request, like a remote
// object store.
type latencyStorage struct {
	objstore.Storage
	d time.Duration
}

func (l *latencyStorage) sleep(ctx context.Context) error {
	t := time.NewTimer(l.d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *latencyStorage) ReadObject(ctx context.Context, name string) (objstore.Readable, int64, error) {
	if err := l.sleep(ctx); err != nil {
		return nil, 0, err
	}
	r, n, err := l.Storage.ReadObject(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	return &latencyReadable{Readable: r, l: l}, n, nil
}

func (l *latencyStorage) ReadAll(ctx context.Context, name string) ([]byte, error) {
	if err := l.sleep(ctx); err != nil {
		return nil, err
	}
	return l.Storage.ReadAll(ctx, name)
}

type latencyReadable struct {
	objstore.Readable
	l *latencyStorage
}

func (r *latencyReadable) ReadAt(ctx context.Context, p []byte, off int64) error {
	if err := r.l.sleep(ctx); err != nil {
		return err
	}
	return r.Readable.ReadAt(ctx, p, off)
}

// stateKey is key i of a built state: key group i%benchKG, then i/benchKG
// (big-endian), so that a state is written in key order (see buildState).
func stateKey(dst []byte, i uint64) []byte {
	dst = statestore.AppendKeyGroup(dst[:0], uint16(i%benchKG))
	return binary.BigEndian.AppendUint64(dst, i/benchKG)
}

// buildState writes about size bytes of state into a fresh LSM over st and
// returns its checkpoint handle and key count. Keys go in ascending order
// (stateKey, key group by key group): the tree it settles into is the
// same leveled shape, one table per 8 MiB, as after a random load, but
// compaction only rewrites each table once per level instead of merging
// it with the overlapping tables below, which puts a 10 GiB build within
// reach of a small machine. The measurements read random keys of it.
func buildState(ctx context.Context, st objstore.Storage, size int64, valueSize int, seed uint64, opts lsm.Options) (statestore.Handle, int, error) {
	opts.Storage = st
	if opts.MemtableSize == 0 {
		opts.MemtableSize = 64 << 20
	}
	opts.DisableAutoGC = true
	db, err := lsm.Open(ctx, opts, statestore.ShardOptions{Name: "bench/0"}, nil, statestore.FullKeyGroupRange(benchKG))
	if err != nil {
		return statestore.Handle{}, 0, err
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(seed, 2))
	n := int(size / int64(valueSize+10))
	var b statestore.WriteBatch
	var k []byte
	for g := range min(n, benchKG) {
		for i := g; i < n; i += benchKG {
			k = stateKey(k, uint64(i))
			b.Put(k, benchValue(rng, valueSize))
			if b.Len() == 256 {
				if err := db.Apply(ctx, &b); err != nil {
					return statestore.Handle{}, 0, err
				}
				b.Reset()
			}
		}
	}
	if err := db.Apply(ctx, &b); err != nil {
		return statestore.Handle{}, 0, err
	}
	// Checkpoint a settled tree: flush, let compaction finish, checkpoint.
	p, err := db.Checkpoint(ctx, 1)
	if err != nil {
		return statestore.Handle{}, 0, err
	}
	if _, err := p.Wait(ctx); err != nil {
		return statestore.Handle{}, 0, err
	}
	if err := db.WaitIdle(ctx); err != nil {
		return statestore.Handle{}, 0, err
	}
	if p, err = db.Checkpoint(ctx, 2); err != nil {
		return statestore.Handle{}, 0, err
	}
	h, err := p.Wait(ctx)
	return h, n, err
}

// benchRemote: reads against a store opened from a checkpoint over a
// storage with injected latency: cold Gets, one cold MultiGet, and Gets
// with the disk tier warm.
func benchRemote(ctx context.Context, cfg StatestoreConfig, dir string, rep *StatestoreReport, states *builtStates) error {
	size := cfg.StateBytes / 4
	bs := states.get(size)
	st, h, n := bs.st, bs.h, bs.n
	slow := &latencyStorage{Storage: st, d: cfg.RemoteLatency}
	disk, err := cache.OpenDisk(cache.DiskOptions{Dir: filepath.Join(dir, "disk"), Capacity: 4 * size})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 3))
	open := func(withDisk bool) (*lsm.DB, error) {
		o := lsm.Options{Storage: slow, DisableAutoGC: true, DisableCompaction: true, MultiGetConcurrency: 64}
		if withDisk {
			o.Disk = disk
		}
		return lsm.Open(ctx, o, statestore.ShardOptions{Name: "bench/r"}, []statestore.Handle{h}, statestore.FullKeyGroupRange(benchKG))
	}
	const gets = 20
	db, err := open(false)
	if err != nil {
		return err
	}
	var k []byte
	start := time.Now()
	for range gets {
		k = stateKey(k, uint64(rng.IntN(n)))
		if _, ok, err := db.Get(ctx, k); err != nil || !ok {
			db.Close()
			return fmt.Errorf("cold get: found=%t err=%v", ok, err)
		}
	}
	rep.RemoteColdGet = time.Since(start) / gets
	db.Close()

	db, err = open(false)
	if err != nil {
		return err
	}
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = stateKey(nil, uint64(rng.IntN(n)))
	}
	found := 0
	start = time.Now()
	err = db.MultiGet(ctx, keys, func(int, []byte) { found++ })
	rep.RemoteMultiGet = time.Since(start) / time.Duration(len(keys))
	rep.RemoteMultiGetKeys = len(keys)
	db.Close()
	if err != nil || found != len(keys) {
		return fmt.Errorf("cold multiget: found %d of %d, err=%v", found, len(keys), err)
	}

	// Warm the disk tier through one store, then read cold from another
	// (empty block cache, tables opened again) that shares it.
	db, err = open(true)
	if err != nil {
		return err
	}
	if err := db.MultiGet(ctx, keys, func(int, []byte) {}); err != nil {
		db.Close()
		return err
	}
	db.Close()
	db, err = open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	// First touch each table once (table opens read through the disk too).
	start = time.Now()
	for _, k := range keys[:gets] {
		if _, ok, err := db.Get(ctx, k); err != nil || !ok {
			return fmt.Errorf("disk get: found=%t err=%v", ok, err)
		}
	}
	rep.RemoteDiskGet = time.Since(start) / gets
	return nil
}

// benchCheckpoint: the bytes a checkpoint uploads after 1% of the keys
// changed.
func benchCheckpoint(ctx context.Context, cfg StatestoreConfig, dir string, rep *StatestoreReport, states *builtStates) error {
	bs := states.get(cfg.StateBytes)
	st, h, n := bs.st, bs.h, bs.n
	db, err := lsm.Open(ctx, lsm.Options{Storage: st, DisableAutoGC: true, MemtableSize: 64 << 20},
		statestore.ShardOptions{Name: "bench/0", Epoch: 1}, []statestore.Handle{h}, statestore.FullKeyGroupRange(benchKG))
	if err != nil {
		return err
	}
	defer db.Close()
	var live int64
	for _, l := range db.LSMMetrics().Levels {
		live += int64(l.Bytes)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 4))
	var b statestore.WriteBatch
	var k []byte
	for i := range n / 100 {
		k = stateKey(k, uint64(rng.IntN(n)))
		b.Put(k, benchValue(rng, cfg.ValueSize))
		if b.Len() == 256 || i == n/100-1 {
			if err := db.Apply(ctx, &b); err != nil {
				return err
			}
			b.Reset()
		}
	}
	p, err := db.Checkpoint(ctx, 3)
	if err != nil {
		return err
	}
	if _, err := p.Wait(ctx); err != nil {
		return err
	}
	rep.StateBytes = live
	rep.CheckpointBytes = db.LSMMetrics().LastCheckpointBytes
	rep.CheckpointFraction = float64(rep.CheckpointBytes) / float64(live)
	return nil
}

// benchRecovery: time from Open to the first correct read, per state
// size, over the latency-injected storage.
func benchRecovery(ctx context.Context, cfg StatestoreConfig, dir string, rep *StatestoreReport, states *builtStates) error {
	for _, size := range cfg.RecoverySizes {
		bs := states.get(size)
		st, h, n := bs.st, bs.h, bs.n
		slow := &latencyStorage{Storage: st, d: cfg.RemoteLatency}
		k := stateKey(nil, uint64(n/2))
		start := time.Now()
		db, err := lsm.Open(ctx, lsm.Options{Storage: slow, DisableAutoGC: true}, statestore.ShardOptions{Name: "bench/0", Epoch: 2}, []statestore.Handle{h}, statestore.FullKeyGroupRange(benchKG))
		if err != nil {
			st.Close()
			return err
		}
		_, ok, err := db.Get(ctx, k)
		rep.RecoveryFirstRead = append(rep.RecoveryFirstRead, time.Since(start))
		db.Close()
		if err != nil || !ok {
			return fmt.Errorf("first read after recovery: found=%t err=%v", ok, err)
		}
	}
	return nil
}

// benchRescale: 1 -> 4 -> 1 without download; time and bytes read.
func benchRescale(ctx context.Context, cfg StatestoreConfig, dir string, rep *StatestoreReport, states *builtStates) error {
	bs := states.get(cfg.StateBytes / 4)
	st, h, n := bs.st, bs.h, bs.n
	ranges, err := statestore.SplitKeyGroups(benchKG, 4)
	if err != nil {
		return err
	}
	opts := lsm.Options{Storage: st, DisableAutoGC: true, MemtableSize: 4 << 20}
	readOne := func(db *lsm.DB, r statestore.KeyGroupRange) error {
		for i := 0; i < n; i++ {
			if r.Contains(uint16(i % benchKG)) {
				if _, ok, err := db.Get(ctx, stateKey(nil, uint64(i))); err != nil || !ok {
					return fmt.Errorf("first read: found=%t err=%v", ok, err)
				}
				return nil
			}
		}
		return errors.New("no key in range")
	}
	var dbs []*lsm.DB
	defer func() {
		for _, d := range dbs {
			d.Close()
		}
	}()
	start := time.Now()
	for i, r := range ranges {
		db, err := lsm.Open(ctx, opts, statestore.ShardOptions{Name: fmt.Sprintf("bench/%d", i), Epoch: 2}, []statestore.Handle{h}, r)
		if err != nil {
			return err
		}
		dbs = append(dbs, db)
		if err := readOne(db, r); err != nil {
			return err
		}
	}
	rep.RescaleSplitTime = time.Since(start)
	var handles []statestore.Handle
	for _, db := range dbs {
		m := db.LSMMetrics().ObjStore
		rep.RescaleSplitBytes += m.GetBytes + m.RangeGetBytes
		p, err := db.Checkpoint(ctx, 3)
		if err != nil {
			return err
		}
		hd, err := p.Wait(ctx)
		if err != nil {
			return err
		}
		rep.RescaleUploadBytes += db.LSMMetrics().LastCheckpointBytes
		handles = append(handles, hd)
	}
	start = time.Now()
	db, err := lsm.Open(ctx, opts, statestore.ShardOptions{Name: "bench/0", Epoch: 3}, handles, statestore.FullKeyGroupRange(benchKG))
	if err != nil {
		return err
	}
	dbs = append(dbs, db)
	if err := readOne(db, statestore.FullKeyGroupRange(benchKG)); err != nil {
		return err
	}
	rep.RescaleMergeTime = time.Since(start)
	m := db.LSMMetrics().ObjStore
	rep.RescaleMergeBytes = m.GetBytes + m.RangeGetBytes
	return nil
}

// builtState is a checkpointed state in its own object-store folder.
type builtState struct {
	st objstore.Storage
	h  statestore.Handle
	n  int // keys
}

// builtStates builds each state size the steps need once, in parallel,
// so the steps that read the same size share it instead of writing it
// again. The steps only add objects (new checkpoints under other epochs or
// shard names) and never delete (GC is off), so a state read by one step
// is unchanged for the next; the rescale step, which writes the most,
// runs last.
type builtStates struct {
	dir string
	cfg StatestoreConfig
	m   map[int64]*builtState
}

func (b *builtStates) build(ctx context.Context, sizes []int64) error {
	b.m = map[int64]*builtState{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	var mu sync.Mutex
	for _, size := range sizes {
		if _, ok := b.m[size]; ok {
			continue
		}
		b.m[size] = nil
		g.Go(func() error {
			st, err := openStorage(gctx, filepath.Join(b.dir, fmt.Sprint(size)))
			if err != nil {
				return err
			}
			h, n, err := buildState(gctx, st, size, b.cfg.ValueSize, b.cfg.Seed, lsm.Options{})
			mu.Lock()
			b.m[size] = &builtState{st: st, h: h, n: n}
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("build %d MiB of state: %w", size>>20, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (b *builtStates) get(size int64) *builtState { return b.m[size] }

func (b *builtStates) step(fn func(context.Context, StatestoreConfig, string, *StatestoreReport, *builtStates) error) func(context.Context, StatestoreConfig, string, *StatestoreReport) error {
	return func(ctx context.Context, cfg StatestoreConfig, dir string, rep *StatestoreReport) error {
		return fn(ctx, cfg, dir, rep, b)
	}
}

func (b *builtStates) close() {
	for _, s := range b.m {
		if s != nil {
			s.st.Close()
		}
	}
}
