package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute/checkpoint"
	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/restart"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/connectors"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// CheckpointConfig configures RunCheckpoint.
type CheckpointConfig struct {
	// Queries are the Nexmark queries to run. Default q5, q7, q8.
	Queries []string
	// Events per throughput run, for every query. Default: per query
	// (DefaultCheckpointEvents), sized so that an LSM run lasts about 25 s
	// on this 2-core machine and takes two checkpoints or more at the
	// default interval; quick: 1,000,000. With fewer events, lower Interval.
	Events int64
	// Interval between checkpoints. Default 10 s (quick: 1 s).
	Interval time.Duration
	// Runs is the number of measured runs per backend and query; the
	// median is reported. Default 3 (quick: 1).
	Runs int
	// Warmup is the number of unmeasured runs per backend and query before
	// them; negative means the default, 1 (quick: 0).
	Warmup int
	// RecoveryTrials is the number of injected failures per query whose
	// recovery is timed; negative means the default, 3 (quick: 1).
	RecoveryTrials int
	// MemtableBytes sets the LSM's memtable size (state.lsm.memtable_bytes);
	// 0 keeps the job spec's default.
	MemtableBytes int64
	// MemtableEntries sets the most entries of one memtable
	// (state.lsm.memtable_entries); 0 keeps the job spec's default.
	MemtableEntries int64
	// Parallelism of every node. Default 1.
	Parallelism int
	// Dir holds the LSM state (a file:// folder per run, removed after
	// it). Default: a temporary folder.
	Dir string
	// ProfileDir, when set, receives CPU profiles of one extra run per
	// query and backend: <ProfileDir>/checkpoint-<query>-<lsm|memory>.pprof.
	ProfileDir string
	// Timeout bounds each run. Default 10 minutes.
	Timeout time.Duration
	// Quick selects the CI-sized defaults above.
	Quick bool
	// Logger receives the runtime's warnings. Default: discarded.
	Logger *slog.Logger
}

// DefaultCheckpointEvents are the default events per run of each query of
// the checkpoint benchmark (others: 10,000,000).
var DefaultCheckpointEvents = map[string]int64{"q5": 16_000_000, "q7": 40_000_000, "q8": 50_000_000}

// events returns the events per run of query q.
func (c *CheckpointConfig) events(q string) int64 {
	if c.Events > 0 {
		return c.Events
	}
	if n, ok := DefaultCheckpointEvents[q]; ok {
		return n
	}
	return 10_000_000
}

func (c *CheckpointConfig) ensureDefaults() {
	pick := func(full, quick int64) int64 {
		if c.Quick {
			return quick
		}
		return full
	}
	if len(c.Queries) == 0 {
		c.Queries = []string{"q5", "q7", "q8"}
	}
	if c.Quick && c.Events == 0 {
		c.Events = 1_000_000
	}
	if c.Interval <= 0 {
		c.Interval = time.Duration(pick(int64(10*time.Second), int64(time.Second)))
	}
	if c.Runs <= 0 {
		c.Runs = int(pick(3, 1))
	}
	if c.Warmup < 0 {
		c.Warmup = int(pick(1, 0))
	}
	if c.RecoveryTrials < 0 {
		c.RecoveryTrials = int(pick(3, 1))
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// CheckpointStat is one completed periodic checkpoint.
type CheckpointStat struct {
	DurationSeconds float64 `json:"duration_seconds"`
	// Bytes is the state the checkpoint uploaded.
	Bytes int64 `json:"bytes"`
}

// CheckpointFigures summarize the checkpoints of the measured LSM runs.
type CheckpointFigures struct {
	// PerRun is the number of periodic checkpoints completed in each run.
	PerRun []int `json:"per_run"`
	// All lists every checkpoint of every measured run.
	All                   []CheckpointStat `json:"all"`
	MedianDurationSeconds float64          `json:"median_duration_seconds"`
	MaxDurationSeconds    float64          `json:"max_duration_seconds"`
	MedianBytes           int64            `json:"median_bytes"`
	MeanBytes             int64            `json:"mean_bytes"`
}

// RecoveryTrial is one injected failure and the recovery from it.
type RecoveryTrial struct {
	// Restored is the checkpoint the restarted attempt restored.
	Restored uint64 `json:"restored"`
	// FirstRowSeconds is the time from the failure to the first row the
	// sink received from the restarted attempt: the restart, the restore
	// from the checkpoint (no state download) and the replay up to the
	// first result.
	FirstRowSeconds float64 `json:"first_row_seconds"`
	// CommitSeconds is the time from the failure to the first checkpoint
	// the restarted attempt completed, when a transactional sink's output
	// becomes visible. It includes up to one checkpoint interval.
	CommitSeconds float64 `json:"commit_seconds"`
}

// RecoveryFigures summarize the recovery trials of a query.
type RecoveryFigures struct {
	Trials                []RecoveryTrial `json:"trials"`
	MedianFirstRowSeconds float64         `json:"median_first_row_seconds"`
	MedianCommitSeconds   float64         `json:"median_commit_seconds"`
}

// CheckpointCase is the result of one query.
type CheckpointCase struct {
	Name   string     `json:"name"`
	Events int64      `json:"events"` // per run
	Memory CaseReport `json:"memory"`
	LSM    CaseReport `json:"lsm"`
	// Ratio is the LSM's median events per CPU-second over the memory
	// backend's; WallRatio the same for events per wall-clock second.
	Ratio       float64           `json:"ratio"`
	WallRatio   float64           `json:"wall_ratio"`
	Checkpoints CheckpointFigures `json:"checkpoints"`
	Recovery    RecoveryFigures   `json:"recovery"`
}

// CheckpointReport is the result of RunCheckpoint.
type CheckpointReport struct {
	Time            time.Time        `json:"time"`
	GoVersion       string           `json:"go_version"`
	CPUs            int              `json:"cpus"`
	Parallelism     int              `json:"parallelism"`
	Events          int64            `json:"events,omitempty"` // for every query; 0: per query (CheckpointCase.Events)
	IntervalSeconds float64          `json:"interval_seconds"`
	Quick           bool             `json:"quick"`
	Cases           []CheckpointCase `json:"cases"`
}

// RunCheckpoint measures what durability costs on Nexmark queries: the
// throughput with the LSM state backend on a local folder and periodic
// checkpoints as a ratio to the in-memory backend (measured alternately in
// the same process), the duration and uploaded bytes of each checkpoint,
// and the time from an injected failure to the first output after
// recovery. It writes a table to w.
func RunCheckpoint(ctx context.Context, cfg CheckpointConfig, w io.Writer) (*CheckpointReport, error) {
	if cfg.Events < 0 {
		return nil, fmt.Errorf("bench checkpoint: events %d: must be positive (0: the per-query default)", cfg.Events)
	}
	if cfg.MemtableBytes < 0 || cfg.MemtableEntries < 0 {
		return nil, fmt.Errorf("bench checkpoint: memtable bytes %d, entries %d: must be positive (0: the job spec's default)", cfg.MemtableBytes, cfg.MemtableEntries)
	}
	cfg.ensureDefaults()
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sluice-bench-checkpoint-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if cfg.ProfileDir != "" {
		// Created up front so that a bad path fails before the measurements.
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, fmt.Errorf("bench checkpoint: --cpuprofile-dir: %w", err)
		}
	}
	rep := &CheckpointReport{
		Time: time.Now().UTC(), GoVersion: goruntime.Version(), CPUs: goruntime.NumCPU(),
		Parallelism: cfg.Parallelism, Events: cfg.Events, IntervalSeconds: cfg.Interval.Seconds(), Quick: cfg.Quick,
	}
	b := &ckptBench{cfg: cfg, dir: dir, w: w}
	for _, q := range cfg.Queries {
		c, err := b.query(ctx, q)
		if err != nil {
			return rep, fmt.Errorf("bench checkpoint %s: %w", q, err)
		}
		rep.Cases = append(rep.Cases, c)
	}
	printCheckpointTable(w, rep)
	return rep, nil
}

type ckptBench struct {
	cfg CheckpointConfig
	dir string
	w   io.Writer
	seq int // numbers the state folders
}

// backend names.
const (
	backendMemory = "memory"
	backendLSM    = "lsm"
)

// spec returns query q's job spec for a benchmark run: events Nexmark
// events (0: unbounded), a blackhole sink, and the given backend (the LSM
// in a fresh folder, which is returned, with checkpoints every interval).
func (b *ckptBench) spec(q, backend string, events int64) (*sluicev1.JobSpec, string, error) {
	spec, err := nexmarkSpec(q, NexmarkConfig{Events: events, Parallelism: b.cfg.Parallelism})
	if err != nil {
		return nil, "", err
	}
	if backend == backendMemory {
		spec.State = &sluicev1.StateBackend{Backend: &sluicev1.StateBackend_Memory{Memory: &sluicev1.MemoryBackend{}}}
		return spec, "", nil
	}
	b.seq++
	folder := filepath.Join(b.dir, fmt.Sprintf("%s-%d", q, b.seq))
	abs, err := filepath.Abs(folder)
	if err != nil {
		return nil, "", err
	}
	spec.State = &sluicev1.StateBackend{Backend: &sluicev1.StateBackend_Lsm{Lsm: &sluicev1.LsmBackend{
		Url:             "file://" + filepath.ToSlash(abs),
		MemtableBytes:   b.cfg.MemtableBytes,
		MemtableEntries: b.cfg.MemtableEntries,
	}}}
	spec.Checkpoints = &sluicev1.CheckpointConfig{Interval: durationpb.New(b.cfg.Interval)}
	return spec, folder, nil
}

func (b *ckptBench) query(ctx context.Context, q string) (CheckpointCase, error) {
	c := CheckpointCase{Name: q, Events: b.cfg.events(q), Memory: CaseReport{Name: q + "/memory"}, LSM: CaseReport{Name: q + "/lsm"}}
	fmt.Fprintf(b.w, "== %s: %d events, checkpoints every %s, parallelism %d, %d warm-up + %d runs per backend, alternating\n",
		q, b.cfg.events(q), b.cfg.Interval, b.cfg.Parallelism, b.cfg.Warmup, b.cfg.Runs)
	for i := 0; i < b.cfg.Warmup+b.cfg.Runs; i++ {
		kind := "run"
		if i < b.cfg.Warmup {
			kind = "warm-up"
		}
		for _, backend := range []string{backendMemory, backendLSM} {
			m, ckpts, err := b.throughput(ctx, q, backend, "")
			if err != nil {
				return c, err
			}
			extra := ""
			if backend == backendLSM {
				extra = fmt.Sprintf("  %d checkpoints", len(ckpts))
			}
			fmt.Fprintf(b.w, "   %-7s %-6s wall %7.3fs  cpu %7.3fs  %11.0f events/s  %11.0f events/cpu-s%s\n",
				kind, backend, m.WallSeconds, m.CPUSeconds, m.EventsPerSecond, m.EventsPerCPUSec, extra)
			if kind == "warm-up" {
				continue
			}
			if backend == backendMemory {
				c.Memory.Runs = append(c.Memory.Runs, m)
				continue
			}
			c.LSM.Runs = append(c.LSM.Runs, m)
			c.Checkpoints.PerRun = append(c.Checkpoints.PerRun, len(ckpts))
			c.Checkpoints.All = append(c.Checkpoints.All, ckpts...)
		}
	}
	c.Memory.Median, c.LSM.Median = median(c.Memory.Runs), median(c.LSM.Runs)
	c.Ratio = c.LSM.Median.EventsPerCPUSec / c.Memory.Median.EventsPerCPUSec
	c.WallRatio = c.LSM.Median.EventsPerSecond / c.Memory.Median.EventsPerSecond
	c.Checkpoints.summarize()
	if b.cfg.ProfileDir != "" {
		for _, backend := range []string{backendLSM, backendMemory} {
			path := filepath.Join(b.cfg.ProfileDir, "checkpoint-"+q+"-"+backend+".pprof")
			if _, _, err := b.throughput(ctx, q, backend, path); err != nil {
				return c, err
			}
			fmt.Fprintf(b.w, "   CPU profile of a %s run written to %s\n", backend, path)
		}
	}
	for i := 0; i < b.cfg.RecoveryTrials; i++ {
		tr, err := b.recovery(ctx, q)
		if err != nil {
			return c, err
		}
		fmt.Fprintf(b.w, "   recovery: restored checkpoint %d, first row after %.3fs, first commit after %.3fs\n", tr.Restored, tr.FirstRowSeconds, tr.CommitSeconds)
		c.Recovery.Trials = append(c.Recovery.Trials, tr)
	}
	c.Recovery.summarize()
	return c, nil
}

func (f *CheckpointFigures) summarize() {
	if len(f.All) == 0 {
		return
	}
	var durs []float64
	var bytes []int64
	var total int64
	for _, c := range f.All {
		durs = append(durs, c.DurationSeconds)
		bytes = append(bytes, c.Bytes)
		total += c.Bytes
	}
	slices.Sort(durs)
	slices.Sort(bytes)
	f.MedianDurationSeconds = durs[len(durs)/2]
	f.MaxDurationSeconds = durs[len(durs)-1]
	f.MedianBytes = bytes[len(bytes)/2]
	f.MeanBytes = total / int64(len(bytes))
}

func (r *RecoveryFigures) summarize() {
	if len(r.Trials) == 0 {
		return
	}
	var first, commit []float64
	for _, t := range r.Trials {
		first = append(first, t.FirstRowSeconds)
		commit = append(commit, t.CommitSeconds)
	}
	slices.Sort(first)
	slices.Sort(commit)
	r.MedianFirstRowSeconds = first[len(first)/2]
	r.MedianCommitSeconds = commit[len(commit)/2]
}

// throughput runs query q once on the backend to its end, optionally
// under a CPU profile, and returns the measurement and the periodic
// checkpoints it completed.
func (b *ckptBench) throughput(ctx context.Context, q, backend, profile string) (Measurement, []CheckpointStat, error) {
	spec, folder, err := b.spec(q, backend, b.cfg.events(q))
	if err != nil {
		return Measurement{}, nil, err
	}
	if folder != "" {
		defer os.RemoveAll(folder)
	}
	p, err := plan.Build(spec)
	if err != nil {
		return Measurement{}, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	log := newCkptLog(b.cfg.Logger.Handler())
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return Measurement{}, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return Measurement{}, nil, err
		}
		defer pprof.StopCPUProfile()
	}
	goruntime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	sv, err := runtime.Run(ctx, p, runtime.Options{Logger: slog.New(log)}, runtime.RunOptions{Restart: restart.None()})
	if err != nil {
		return Measurement{}, nil, err
	}
	log.setSupervisor(sv)
	if err := sv.Wait(); err != nil {
		return Measurement{}, nil, fmt.Errorf("%s run did not complete within %s: %w", backend, b.cfg.Timeout, err)
	}
	m := Measurement{Events: b.cfg.events(q), WallSeconds: time.Since(start).Seconds(), CPUSeconds: (cpuTime() - cpu0).Seconds()}
	for _, n := range sv.Metrics().Nodes {
		if n.Kind == plan.Sink {
			m.RowsOut += n.RowsIn
		}
	}
	m.EventsPerSecond = float64(m.Events) / m.WallSeconds
	m.EventsPerCPUSec = float64(m.Events) / m.CPUSeconds
	m.PeakRSSBytes = peakRSS()
	return m, log.checkpoints(sv.Stats().CheckpointBytes), nil
}

// recovery runs query q on the LSM backend with an unbounded source, fails
// it (an error from a source reader) about half an interval after its
// first checkpoint completed, and times the restarted attempt from the
// moment the reader failed.
func (b *ckptBench) recovery(ctx context.Context, q string) (RecoveryTrial, error) {
	spec, folder, err := b.spec(q, backendLSM, 0)
	if err != nil {
		return RecoveryTrial{}, err
	}
	defer os.RemoveAll(folder)
	p, err := plan.Build(spec)
	if err != nil {
		return RecoveryTrial{}, err
	}
	sw := &failSwitch{firstRow: make(chan struct{})}
	for _, n := range p.Nodes {
		switch n.Kind {
		case plan.Source:
			n.Source = &switchSource{Source: n.Source, sw: sw}
		case plan.Sink:
			n.Sink = &firstRowSink{Sink: n.Sink, sw: sw}
		}
	}
	// Restart at once: the figure is the engine's recovery, not a delay.
	strategy, err := restart.NewFixedDelay(restart.FixedDelayConfig{Attempts: 1, Delay: time.Nanosecond})
	if err != nil {
		return RecoveryTrial{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	log := newCkptLog(b.cfg.Logger.Handler())
	sv, err := runtime.Run(ctx, p, runtime.Options{Logger: slog.New(log)}, runtime.RunOptions{Restart: strategy})
	if err != nil {
		return RecoveryTrial{}, err
	}
	log.setSupervisor(sv)
	defer func() {
		sv.Cancel()
		sv.Wait()
	}()
	wait := func(what string, ch <-chan struct{}) error {
		select {
		case <-ch:
			return nil
		case <-sv.Done():
			return fmt.Errorf("recovery trial: the job ended while waiting for %s: %v", what, sv.Wait())
		case <-ctx.Done():
			return fmt.Errorf("recovery trial: waiting for %s: %w", what, ctx.Err())
		}
	}
	if err := wait("the first checkpoint", log.completed(0)); err != nil {
		return RecoveryTrial{}, err
	}
	t := time.NewTimer(b.cfg.Interval / 2)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return RecoveryTrial{}, ctx.Err()
	}
	sw.arm()
	if err := wait("the first row after recovery", sw.firstRow); err != nil {
		return RecoveryTrial{}, err
	}
	failedAt, firstRow := sw.failedTime(), sw.firstRowAt()
	// The checkpoint the restarted attempt restored: the last one the
	// failed attempt completed.
	var restored ckptDone
	for _, d := range log.all() {
		if d.at.Before(failedAt) {
			restored = d
		}
	}
	if err := wait("the first checkpoint after recovery", log.completed(restored.attempt+1)); err != nil {
		return RecoveryTrial{}, err
	}
	if st := sv.Stats(); st.Restarts != 1 {
		return RecoveryTrial{}, fmt.Errorf("recovery trial: %d restarts, want 1", st.Restarts)
	}
	next, _ := log.first(restored.attempt + 1)
	return RecoveryTrial{
		Restored:        restored.id,
		FirstRowSeconds: firstRow.Sub(failedAt).Seconds(),
		CommitSeconds:   next.at.Sub(failedAt).Seconds(),
	}, nil
}

// errBenchFailure is the failure a recovery trial injects.
var errBenchFailure = errors.New("bench: injected failure")

// failSwitch fails the source readers of a job once, when armed, and
// records the first row the sink receives from writers opened after that.
type failSwitch struct {
	armed    atomic.Bool   // the next reader's Next fails
	failedAt atomic.Int64  // unix nanos when a reader failed; 0 before
	firstAt  atomic.Int64  // unix nanos of the first row after it
	firstRow chan struct{} // closed at the first row after the failure
}

// arm makes the next Next of a reader fail. A reader calls Next only when
// its task can take a batch, so the failure may come a little later.
func (s *failSwitch) arm() { s.armed.Store(true) }

func (s *failSwitch) failedTime() time.Time { return time.Unix(0, s.failedAt.Load()) }

func (s *failSwitch) firstRowAt() time.Time { return time.Unix(0, s.firstAt.Load()) }

type switchSource struct {
	connectors.Source
	sw *failSwitch
}

func (s *switchSource) Open(ctx context.Context, sp connectors.Split, pos connectors.Position, opts connectors.ReadOptions) (connectors.SplitReader, error) {
	r, err := s.Source.Open(ctx, sp, pos, opts)
	if err != nil {
		return nil, err
	}
	return &switchReader{SplitReader: r, sw: s.sw}, nil
}

type switchReader struct {
	connectors.SplitReader
	sw *failSwitch
}

func (r *switchReader) Next(ctx context.Context) (arrow.RecordBatch, error) {
	if r.sw.armed.CompareAndSwap(true, false) {
		r.sw.failedAt.Store(time.Now().UnixNano())
		return nil, errBenchFailure
	}
	return r.SplitReader.Next(ctx)
}

type firstRowSink struct {
	connectors.Sink
	sw *failSwitch
}

func (s *firstRowSink) Open(ctx context.Context, sc connectors.SinkContext) (connectors.SinkWriter, error) {
	w, err := s.Sink.Open(ctx, sc)
	if err != nil {
		return nil, err
	}
	// Writers opened after the failure belong to the restarted attempt.
	return &firstRowWriter{SinkWriter: w, sw: s.sw, after: s.sw.failedAt.Load() != 0}, nil
}

type firstRowWriter struct {
	connectors.SinkWriter
	sw    *failSwitch
	after bool
}

func (w *firstRowWriter) Write(ctx context.Context, b arrow.RecordBatch) error {
	if w.after && b.NumRows() > 0 && w.sw.firstAt.CompareAndSwap(0, time.Now().UnixNano()) {
		close(w.sw.firstRow)
	}
	return w.SinkWriter.Write(ctx, b)
}

// ckptLog is a slog.Handler that passes records to another handler and
// notes each "checkpoint completed" record of a periodic checkpoint (the
// coordinator logs its id and duration, with its attempt among the
// logger's attributes) with the state bytes the supervisor had counted
// until then. The coordinator logs a checkpoint before the supervisor
// counts its bytes, and the next one (or the final commit) after, so the
// difference of consecutive counts is a checkpoint's upload.
type ckptLog struct {
	inner   slog.Handler
	attempt uint64 // from the logger's attributes
	s       *ckptLogState
}

type ckptLogState struct {
	// count returns the state bytes the supervisor has counted so far.
	count atomic.Pointer[func() int64]
	mu    sync.Mutex
	// done[i] is the i-th completed periodic checkpoint.
	done []ckptDone
	// finalBytes is the count when the final commit was logged; -1 before.
	finalBytes int64
	// waiters are closed when a checkpoint of a late enough attempt
	// completes.
	waiters []ckptWaiter
}

type ckptDone struct {
	id, attempt uint64
	at          time.Time
	dur         time.Duration
	bytesBefore int64 // state bytes counted before this checkpoint's
}

type ckptWaiter struct {
	minAttempt uint64
	ch         chan struct{}
}

func newCkptLog(inner slog.Handler) *ckptLog {
	return &ckptLog{inner: inner, s: &ckptLogState{finalBytes: -1}}
}

func (l *ckptLog) setSupervisor(sv *runtime.Supervisor) {
	count := func() int64 { return sv.Stats().CheckpointBytes }
	l.s.count.Store(&count)
}

// Enabled implements slog.Handler: the checkpoint records are Info.
func (l *ckptLog) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || l.inner.Enabled(ctx, level)
}

// Handle implements slog.Handler.
func (l *ckptLog) Handle(ctx context.Context, r slog.Record) error {
	switch r.Message {
	case "checkpoint completed":
		l.note(r)
	case "final commit completed":
		l.s.mu.Lock()
		l.s.finalBytes = l.bytes()
		l.s.mu.Unlock()
	}
	if l.inner.Enabled(ctx, r.Level) {
		return l.inner.Handle(ctx, r)
	}
	return nil
}

// bytes is the supervisor's count of uploaded state bytes.
func (l *ckptLog) bytes() int64 {
	if count := l.s.count.Load(); count != nil {
		return (*count)()
	}
	return 0
}

func (l *ckptLog) note(r slog.Record) {
	d := ckptDone{at: r.Time, attempt: l.attempt}
	periodic := false
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		switch {
		case a.Key == "duration" && v.Kind() == slog.KindDuration:
			d.dur = v.Duration()
		case a.Key == "checkpoint" && v.Kind() == slog.KindUint64:
			d.id = v.Uint64()
		case a.Key == "kind":
			periodic = v.String() == string(checkpoint.Periodic)
		}
		return true
	})
	if !periodic {
		return
	}
	d.bytesBefore = l.bytes()
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	l.s.done = append(l.s.done, d)
	l.s.waiters = slices.DeleteFunc(l.s.waiters, func(w ckptWaiter) bool {
		if d.attempt >= w.minAttempt {
			close(w.ch)
			return true
		}
		return false
	})
}

// WithAttrs implements slog.Handler.
func (l *ckptLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := &ckptLog{inner: l.inner.WithAttrs(attrs), attempt: l.attempt, s: l.s}
	for _, a := range attrs {
		if v := a.Value.Resolve(); a.Key == "attempt" && v.Kind() == slog.KindUint64 {
			c.attempt = v.Uint64()
		}
	}
	return c
}

// WithGroup implements slog.Handler.
func (l *ckptLog) WithGroup(name string) slog.Handler {
	return &ckptLog{inner: l.inner.WithGroup(name), attempt: l.attempt, s: l.s}
}

// completed returns a channel closed when a periodic checkpoint of attempt
// minAttempt or a later one has completed.
func (l *ckptLog) completed(minAttempt uint64) <-chan struct{} {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	ch := make(chan struct{})
	if _, ok := l.firstLocked(minAttempt); ok {
		close(ch)
		return ch
	}
	l.s.waiters = append(l.s.waiters, ckptWaiter{minAttempt: minAttempt, ch: ch})
	return ch
}

// first returns the first periodic checkpoint completed by attempt
// minAttempt or a later one.
func (l *ckptLog) first(minAttempt uint64) (ckptDone, bool) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.firstLocked(minAttempt)
}

func (l *ckptLog) firstLocked(minAttempt uint64) (ckptDone, bool) {
	for _, d := range l.s.done {
		if d.attempt >= minAttempt {
			return d, true
		}
	}
	return ckptDone{}, false
}

// all returns the periodic checkpoints completed so far.
func (l *ckptLog) all() []ckptDone {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return slices.Clone(l.s.done)
}

// checkpoints returns the completed periodic checkpoints of a run that has
// ended. A checkpoint's bytes are the count at the next one minus the count
// at its own; the last one's end at the final commit. (The supervisor
// counts the last checkpoint's bytes again after the final commit, so the
// total after the run is not used while a final commit was logged.)
func (l *ckptLog) checkpoints(total int64) []CheckpointStat {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	end := total
	if l.s.finalBytes >= 0 {
		end = l.s.finalBytes
	}
	out := make([]CheckpointStat, len(l.s.done))
	for i, d := range l.s.done {
		next := end
		if i+1 < len(l.s.done) {
			next = l.s.done[i+1].bytesBefore
		}
		out[i] = CheckpointStat{DurationSeconds: d.dur.Seconds(), Bytes: next - d.bytesBefore}
	}
	return out
}

func printCheckpointTable(w io.Writer, rep *CheckpointReport) {
	fmt.Fprintf(w, "\ncheckpoint benchmark: checkpoints every %s, parallelism %d, medians of the measured runs\n",
		time.Duration(rep.IntervalSeconds*float64(time.Second)), rep.Parallelism)
	fmt.Fprintf(w, "%-5s %11s %14s %14s %7s %7s %6s %10s %10s %12s %10s %10s\n",
		"query", "events", "memory ev/cpu-s", "lsm ev/cpu-s", "ratio", "wall", "ckpts", "ckpt med", "ckpt max", "bytes/ckpt", "1st row", "1st commit")
	for _, c := range rep.Cases {
		n := 0
		if len(c.Checkpoints.PerRun) > 0 {
			s := slices.Clone(c.Checkpoints.PerRun)
			slices.Sort(s)
			n = s[len(s)/2]
		}
		fmt.Fprintf(w, "%-5s %11d %14.0f %14.0f %7.2f %7.2f %6d %9.3fs %9.3fs %11.1fM %9.3fs %9.3fs\n",
			c.Name, c.Events, c.Memory.Median.EventsPerCPUSec, c.LSM.Median.EventsPerCPUSec, c.Ratio, c.WallRatio, n,
			c.Checkpoints.MedianDurationSeconds, c.Checkpoints.MaxDurationSeconds, float64(c.Checkpoints.MedianBytes)/(1<<20),
			c.Recovery.MedianFirstRowSeconds, c.Recovery.MedianCommitSeconds)
	}
}
