package checkpoint

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sluicedata/sluice/connectors"
)

// model is a direct, single-threaded restatement of the coordinator's
// rules, without I/O, goroutines or timers. TestCoordinatorModel drives it
// and a real Coordinator with the same random operations and compares them.
type model struct {
	cfg   Config
	tasks []string

	now         time.Time
	nextTrigger time.Time
	lastEnd     time.Time
	nextID      uint64
	pending     map[uint64]*modelPending
	carried     []modelTxn
	failures    int
	failed      bool

	injected      []string // "id@offset"
	completed     []uint64
	txnsOf        map[uint64][]string // transactions published with each completed checkpoint
	committed     []string
	lastCompleted uint64
	stats         Stats
}

type modelPending struct {
	deadline time.Time
	acked    map[string]bool
	txns     []string
}

type modelTxn struct {
	from uint64
	txn  string
}

func newModel(cfg Config, tasks []string) *model {
	cfg.EnsureDefaults()
	return &model{
		cfg: cfg, tasks: tasks, now: t0, nextTrigger: t0.Add(cfg.Interval), nextID: 1,
		pending: map[uint64]*modelPending{}, txnsOf: map[uint64][]string{},
	}
}

func (m *model) ids() []uint64 { return slices.Sorted(maps.Keys(m.pending)) }

func (m *model) fail(id uint64) {
	p := m.pending[id]
	delete(m.pending, id)
	for _, t := range p.txns {
		m.carried = append(m.carried, modelTxn{id, t})
	}
	m.lastEnd = m.now
	m.stats.Failed++
	m.failures++
	if m.failures > m.cfg.TolerableFailures {
		m.failed = true
	}
}

func (m *model) maybeTrigger() {
	if m.cfg.Interval == 0 || m.failed || len(m.pending) >= m.cfg.MaxConcurrent {
		return
	}
	at := m.nextTrigger
	if !m.lastEnd.IsZero() && m.lastEnd.Add(m.cfg.MinPause).After(at) {
		at = m.lastEnd.Add(m.cfg.MinPause)
	}
	if m.now.Before(at) {
		return
	}
	m.nextTrigger = m.now.Add(m.cfg.Interval)
	id := m.nextID
	m.nextID++
	m.pending[id] = &modelPending{deadline: m.now.Add(m.cfg.Timeout), acked: map[string]bool{}}
	m.injected = append(m.injected, fmt.Sprintf("%d@%v", id, m.now.Sub(t0)))
	m.stats.Triggered++
}

func (m *model) advance(d time.Duration) {
	m.now = m.now.Add(d)
	for _, id := range m.ids() {
		if !m.now.Before(m.pending[id].deadline) {
			m.fail(id)
		}
	}
	m.maybeTrigger()
}

func (m *model) ack(id uint64, task string, txn string) {
	p := m.pending[id]
	if p == nil || p.acked[task] {
		return
	}
	p.acked[task] = true
	if txn != "" {
		p.txns = append(p.txns, txn)
	}
	if len(p.acked) == len(m.tasks) {
		var txns []string
		for _, c := range m.carried {
			if c.from < id {
				txns = append(txns, c.txn)
			}
		}
		var subsumed []uint64
		for _, q := range m.ids() {
			if q < id {
				subsumed = append(subsumed, q)
				txns = append(txns, m.pending[q].txns...)
			}
		}
		txns = append(txns, p.txns...)
		slices.Sort(txns)
		delete(m.pending, id)
		for _, q := range subsumed {
			delete(m.pending, q)
			m.stats.Aborted++
		}
		m.carried = slices.DeleteFunc(m.carried, func(c modelTxn) bool { return c.from < id })
		m.completed = append(m.completed, id)
		m.txnsOf[id] = txns
		m.committed = append(m.committed, txns...)
		m.lastCompleted = id
		m.failures = 0
		m.lastEnd = m.now
		m.stats.Completed++
	}
	m.maybeTrigger()
}

func (m *model) decline(id uint64) {
	if m.pending[id] != nil {
		m.fail(id)
	}
	m.maybeTrigger()
}

func TestCoordinatorModel(t *testing.T) {
	for seed := range uint64(150) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	interval := time.Duration(1+rng.IntN(10)) * time.Second
	cfg := Config{
		Interval:          interval,
		Timeout:           interval/2 + time.Duration(rng.Int64N(int64(4*interval))),
		MinPause:          time.Duration(rng.IntN(3)) * time.Duration(rng.IntN(8)) * time.Second,
		MaxConcurrent:     1 + rng.IntN(3),
		TolerableFailures: rng.IntN(4),
		Retained:          1 + rng.IntN(3),
	}
	if rng.IntN(2) == 0 {
		cfg.TolerableFailures = 1000 // long runs
	}
	r := newRig(t)
	r.cfg = cfg
	r.deps.Aborted = nil
	r.deps.Tasks = []string{"src/0", "src/1", "sink/0"}
	m := newModel(cfg, r.deps.Tasks)
	r.start()
	lastAck := map[string]uint64{}
	sinkTxn := func(task string, id uint64) (TaskSnapshot, string) {
		if task != "sink/0" {
			return TaskSnapshot{}, ""
		}
		name := fmt.Sprintf("t%04d", id)
		return TaskSnapshot{Txns: []SinkTxn{{Node: "sink", Subtask: 0, Checkpoint: id, Txn: connectors.Txn(name)}}}, name
	}
	var acked []string // every transaction the coordinator accepted
	for step := range 300 {
		switch op := rng.IntN(25); {
		case op < 7:
			d := time.Duration(rng.Int64N(int64(cfg.Interval)))
			r.clk.Advance(d)
			m.advance(d)
		case op < 24:
			// A task acknowledges a pending checkpoint above the last one it
			// acknowledged (tasks ack in id order, and may skip one).
			task := r.deps.Tasks[rng.IntN(len(r.deps.Tasks))]
			var ids []uint64
			for _, id := range m.ids() {
				if id > lastAck[task] {
					ids = append(ids, id)
				}
			}
			if len(ids) == 0 {
				continue
			}
			id := ids[0]
			if rng.IntN(3) == 0 {
				id = ids[rng.IntN(len(ids))]
			}
			lastAck[task] = id
			snap, txn := sinkTxn(task, id)
			if txn != "" {
				acked = append(acked, txn)
			}
			r.c.Ack(id, task, snap)
			m.ack(id, task, txn)
		default:
			ids := m.ids()
			if len(ids) == 0 {
				continue
			}
			id := ids[rng.IntN(len(ids))]
			r.c.Decline(id, r.deps.Tasks[rng.IntN(len(r.deps.Tasks))], fmt.Errorf("random decline"))
			m.decline(id)
		}
		r.c.sync()
		compareModel(t, r, m, step)
	}

	// The final commit commits every transaction not committed yet: each
	// one accepted is committed exactly once.
	if m.failed {
		if err := r.c.Finish(context.Background(), TaskSnapshot{}); err == nil {
			t.Fatal("Finish succeeded after the job failed")
		}
		return
	}
	finalID := r.c.FinalID()
	last := fmt.Sprintf("t%04d", finalID)
	acked = append(acked, last)
	err := r.c.Finish(context.Background(), TaskSnapshot{Txns: []SinkTxn{{Node: "sink", Checkpoint: finalID, Txn: connectors.Txn(last)}}})
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	var committed []string
	for _, c := range r.mu.committed {
		committed = append(committed, string(c.Txn))
	}
	r.mu.Unlock()
	slices.Sort(committed)
	slices.Sort(acked)
	if !slices.Equal(committed, acked) {
		t.Fatalf("committed %v, want every accepted transaction once: %v", committed, acked)
	}
}

func compareModel(t *testing.T, r *rig, m *model, step int) {
	t.Helper()
	fatal := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d (config %+v): %s", step, m.cfg, fmt.Sprintf(format, args...))
	}
	r.mu.Lock()
	var injected []string
	for _, b := range r.mu.injected {
		injected = append(injected, fmt.Sprintf("%d@%v", b.CheckpointID, b.Timestamp.Sub(t0)))
	}
	var committed []string
	for _, c := range r.mu.committed {
		committed = append(committed, string(c.Txn))
	}
	failed := len(r.mu.failed)
	r.mu.Unlock()
	if !slices.Equal(injected, m.injected) {
		fatal("injected %v, model %v", injected, m.injected)
	}
	if !slices.Equal(committed, m.committed) {
		fatal("committed %v, model %v", committed, m.committed)
	}
	if want := map[bool]int{false: 0, true: 1}[m.failed]; failed != want {
		fatal("Fail called %d times, model failed=%v", failed, m.failed)
	}
	s := r.c.Stats()
	want := m.stats
	want.InFlight = len(m.pending)
	want.ConsecutiveFailures = m.failures
	want.LastCompleted = m.lastCompleted
	s.LastDuration = 0
	if s != want {
		fatal("stats %+v, model %+v", s, want)
	}
	// Retention keeps the newest Retained completed checkpoints, each with
	// the transactions the model expects.
	ids, err := r.store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keep := m.completed[max(0, len(m.completed)-m.cfg.Retained):]
	if !slices.Equal(ids, keep) && !(len(ids) == 0 && len(keep) == 0) {
		fatal("store holds %v, model retains %v", ids, keep)
	}
	for _, id := range ids {
		md, err := r.store.Read(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		var txns []string
		for _, x := range md.Txns {
			txns = append(txns, string(x.Txn))
		}
		if !slices.Equal(txns, m.txnsOf[id]) && !(len(txns) == 0 && len(m.txnsOf[id]) == 0) {
			fatal("checkpoint %d holds transactions %v, model %v", id, txns, m.txnsOf[id])
		}
	}
}
