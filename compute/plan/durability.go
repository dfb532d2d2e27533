package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/restart"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
	"github.com/sluicedata/sluice/statestore/lsm"
)

// State backends.
const (
	BackendMemory = "memory"
	BackendLSM    = "lsm"
)

// DefaultStateURL is where the LSM backend keeps state when a job spec names
// no backend: a folder in the working directory.
const DefaultStateURL = "file://./state"

// StateBackend is the validated state_backend of a job.
type StateBackend struct {
	// Kind is BackendMemory or BackendLSM.
	Kind string
	// URL is the LSM's object storage; the job's objects go under
	// <URL>/<job name>/.
	URL string
	// CacheDir and CacheBytes configure the local disk tier (none when
	// CacheDir is empty).
	CacheDir   string
	CacheBytes int64
	// BlockCacheBytes bounds the in-memory block cache shared by the job's
	// shards.
	BlockCacheBytes int64
	// MemtableBytes is the largest size of one memtable.
	MemtableBytes int64
	// MemtableEntries is the most entries of one memtable.
	MemtableEntries int64
}

// Defaults of the durability settings.
const (
	DefaultBlockCacheBytes   = 256 << 20
	DefaultDiskCacheBytes    = 1 << 30
	DefaultMemtableBytes     = lsm.DefaultMemtableSize
	DefaultMemtableEntries   = lsm.DefaultMemtableEntries
	DefaultCheckpointTimeout = 10 * time.Minute
	minCheckpointInterval    = 10 * time.Millisecond
)

// checkDurability validates the state backend and checkpoint settings.
func (b *builder) checkDurability() {
	s := b.spec
	p := b.plan
	st := StateBackend{Kind: BackendLSM, URL: DefaultStateURL, BlockCacheBytes: DefaultBlockCacheBytes, MemtableBytes: DefaultMemtableBytes, MemtableEntries: DefaultMemtableEntries}
	switch be := s.GetState().GetBackend().(type) {
	case *sluicev1.StateBackend_Memory:
		st = StateBackend{Kind: BackendMemory}
	case *sluicev1.StateBackend_Lsm:
		l := be.Lsm
		st.URL = l.GetUrl()
		if st.URL == "" {
			b.fail("state.lsm.url: an object storage URL is required (for example %s)", DefaultStateURL)
		}
		st.CacheDir = l.GetCacheDir()
		if st.CacheDir != "" {
			st.CacheBytes = DefaultDiskCacheBytes
		}
		for _, f := range []struct {
			name string
			v    int64
			dst  *int64
		}{
			{"cache_bytes", l.GetCacheBytes(), &st.CacheBytes},
			{"block_cache_bytes", l.GetBlockCacheBytes(), &st.BlockCacheBytes},
			{"memtable_bytes", l.GetMemtableBytes(), &st.MemtableBytes},
			{"memtable_entries", l.GetMemtableEntries(), &st.MemtableEntries},
		} {
			switch {
			case f.v < 0:
				b.fail("state.lsm.%s: %d must not be negative", f.name, f.v)
			case f.v > 0:
				*f.dst = f.v
			}
		}
		if l.GetCacheBytes() > 0 && st.CacheDir == "" {
			b.fail("state.lsm.cache_bytes: %d is set but cache_dir is empty", l.GetCacheBytes())
		}
		if st.MemtableBytes < 4<<10 || st.MemtableBytes > 1<<31 {
			b.fail("state.lsm.memtable_bytes: %d is out of range [4096, 2147483648]", st.MemtableBytes)
		}
	}
	p.State = st
	b.checkRestart()

	c := s.GetCheckpoints()
	if c == nil {
		return
	}
	cp := checkpoint.Config{Timeout: DefaultCheckpointTimeout, MaxConcurrent: 1, Retained: 1}
	dur := func(field string, d *durationpb.Duration, dst *time.Duration, required bool) {
		if d == nil {
			if required {
				b.fail("checkpoints.%s: required", field)
			}
			return
		}
		if err := d.CheckValid(); err != nil {
			b.fail("checkpoints.%s: %v", field, err)
			return
		}
		v := d.AsDuration()
		if v < 0 {
			b.fail("checkpoints.%s: %s must not be negative", field, v)
			return
		}
		*dst = v
	}
	dur("interval", c.GetInterval(), &cp.Interval, true)
	if c.GetInterval() != nil && cp.Interval < minCheckpointInterval {
		b.fail("checkpoints.interval: %s is shorter than the minimum %s", cp.Interval, minCheckpointInterval)
	}
	dur("timeout", c.GetTimeout(), &cp.Timeout, false)
	if c.GetTimeout() != nil && cp.Timeout == 0 {
		b.fail("checkpoints.timeout: must be positive")
	}
	dur("min_pause", c.GetMinPause(), &cp.MinPause, false)
	ints := []struct {
		name     string
		v        int32
		dst      *int
		min, max int32
	}{
		{"max_concurrent", c.GetMaxConcurrent(), &cp.MaxConcurrent, 1, 64},
		{"tolerable_failures", c.GetTolerableFailures(), &cp.TolerableFailures, 0, 1 << 20},
		{"retained", c.GetRetained(), &cp.Retained, 1, 1 << 10},
	}
	for _, f := range ints {
		if f.v == 0 {
			continue
		}
		if f.v < f.min || f.v > f.max {
			b.fail("checkpoints.%s: %d is out of range [%d, %d]", f.name, f.v, f.min, f.max)
			continue
		}
		*f.dst = int(f.v)
	}
	if st.Kind == BackendMemory && cp.Interval > 0 {
		b.fail("checkpoints: the memory state backend cannot take durable checkpoints; use state: {lsm: {url: ...}}")
	}
	p.Checkpoints = cp
}

// stateful reports whether a spec node keeps keyed state, and returns the
// signature of its state layout: a digest of the node's definition without
// its id, inputs and parallelism, so that a savepoint restores only into an
// operator that reads its state the same way.
func stateful(n *sluicev1.Node) (bool, string) {
	switch n.GetKind().(type) {
	case *sluicev1.Node_Window, *sluicev1.Node_Join, *sluicev1.Node_Aggregate, *sluicev1.Node_TopN:
	default:
		return false, ""
	}
	c := proto.Clone(n).(*sluicev1.Node)
	c.Id, c.Inputs, c.Parallelism = "", nil, 0
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil { // a valid message always marshals
		panic(err)
	}
	sum := sha256.Sum256(raw)
	return true, hex.EncodeToString(sum[:8])
}

// checkRestart validates the restart strategy. Plan.NewRestart returns a
// fresh strategy (they count failures) for every run of the plan.
func (b *builder) checkRestart() {
	p := b.plan
	p.NewRestart = restart.None
	dur := func(field string, d *durationpb.Duration) time.Duration {
		if d == nil {
			return 0
		}
		if err := d.CheckValid(); err != nil {
			b.fail("restart.%s: %v", field, err)
			return 0
		}
		return d.AsDuration()
	}
	var newStrategy func() (restart.Strategy, error)
	switch s := b.spec.GetRestart().GetStrategy().(type) {
	case nil, *sluicev1.RestartStrategy_None:
		return
	case *sluicev1.RestartStrategy_FixedDelay:
		c := restart.FixedDelayConfig{Attempts: int(s.FixedDelay.GetAttempts()), Delay: dur("fixed_delay.delay", s.FixedDelay.GetDelay())}
		newStrategy = func() (restart.Strategy, error) { return restart.NewFixedDelay(c) }
	case *sluicev1.RestartStrategy_ExponentialDelay:
		e := s.ExponentialDelay
		c := restart.ExponentialDelayConfig{
			Initial:    dur("exponential_delay.initial", e.GetInitial()),
			Max:        dur("exponential_delay.max", e.GetMax()),
			Multiplier: e.GetMultiplier(),
			ResetAfter: dur("exponential_delay.reset_after", e.GetResetAfter()),
			Jitter:     e.GetJitter(),
			NoJitter:   e.Jitter != nil && e.GetJitter() == 0,
		}
		newStrategy = func() (restart.Strategy, error) { return restart.NewExponentialDelay(c) }
	case *sluicev1.RestartStrategy_FailureRate:
		f := s.FailureRate
		c := restart.FailureRateConfig{
			MaxFailures: int(f.GetMaxFailures()),
			Interval:    dur("failure_rate.interval", f.GetInterval()),
			Delay:       dur("failure_rate.delay", f.GetDelay()),
		}
		newStrategy = func() (restart.Strategy, error) { return restart.NewFailureRate(c) }
	}
	if _, err := newStrategy(); err != nil {
		b.fail("%v", err)
		return
	}
	p.NewRestart = func() restart.Strategy {
		s, _ := newStrategy() // validated above
		return s
	}
}
