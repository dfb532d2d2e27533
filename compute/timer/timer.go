package timer

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/tidwall/btree"

	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/statestore"
)

// Domain is the time domain of a timer.
type Domain uint8

const (
	// EventTime timers fire when the watermark reaches their time.
	EventTime Domain = 1
	// ProcessingTime timers fire when the processing-time clock reaches
	// their time.
	ProcessingTime Domain = 2
)

func (d Domain) String() string {
	switch d {
	case EventTime:
		return "event"
	case ProcessingTime:
		return "processing"
	}
	return fmt.Sprintf("Domain(%d)", uint8(d))
}

// Timer is one registered timer. Timers are identified by (Domain, Key,
// Namespace, Time): registering the same one twice keeps one.
type Timer struct {
	Domain    Domain
	Time      time.Time
	Key       state.Key
	Namespace []byte
}

func (t Timer) String() string {
	return fmt.Sprintf("%s timer at %s, key group %d, key %x, namespace %x", t.Domain, t.Time.UTC().Format(time.RFC3339Nano), t.Key.Group, t.Key.Bytes, t.Namespace)
}

// entry is one timer in the in-memory indexes. Its slices are owned copies.
type entry struct {
	t   int64 // Unix nanoseconds
	d   Domain
	kg  uint16
	key []byte
	ns  []byte
}

// lessTime orders timers of one domain by (time, key, namespace).
func lessTime(a, b *entry) bool {
	if a.t != b.t {
		return a.t < b.t
	}
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.ns, b.ns) < 0
}

// lessKey orders all timers by (key, namespace, domain, time), the order of
// their state keys within a key group.
func lessKey(a, b *entry) bool {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	if c := bytes.Compare(a.ns, b.ns); c != 0 {
		return c < 0
	}
	if a.d != b.d {
		return a.d < b.d
	}
	return a.t < b.t
}

// Options configure a Service.
type Options struct {
	// Backend holds the timers. Required. The service registers a raw state
	// on it with StateID.
	Backend *state.Backend
	// Keys is the operator's key encoder; the service uses it to split
	// stored timer keys on restore. Required.
	Keys *state.KeyEncoder
	// StateID is the ID of the timer state. Default state.TimerStateID. An
	// operator with two timer services gives the second another reserved ID.
	StateID uint8
	// Name names the timer state in errors. Default "timers".
	Name string
}

// Metrics counts a service's work.
type Metrics struct {
	// Registered counts new timers (duplicates excluded); Deleted counts
	// explicit deletes; Fired counts fired timers; Restored counts timers
	// loaded at Open.
	Registered, Deleted, Fired, Restored int64
	// EventTimers and ProcessingTimers are the current numbers of timers.
	EventTimers, ProcessingTimers int
}

// Service holds the timers of one operator subtask. Not safe for concurrent
// use: the subtask's goroutine calls every method.
type Service struct {
	raw   *state.RawState
	be    *state.Backend
	owned statestore.KeyGroupRange

	byTime [3]*btree.BTreeG[*entry] // indexed by Domain
	byKey  *btree.BTreeG[*entry]

	watermark int64 // last watermark passed to AdvanceWatermark
	hasWM     bool
	metrics   Metrics

	probe   entry
	userKey [9]byte
}

// Open registers the timer state on opts.Backend and loads every stored
// timer of the backend's key-group range into memory (one scan per key
// group).
func Open(ctx context.Context, opts Options) (*Service, error) {
	if opts.Backend == nil {
		return nil, fmt.Errorf("timer: open: Options.Backend is nil")
	}
	if opts.Keys == nil {
		return nil, fmt.Errorf("timer: open: Options.Keys is nil")
	}
	if opts.StateID == 0 {
		opts.StateID = state.TimerStateID
	}
	if opts.Name == "" {
		opts.Name = "timers"
	}
	raw, err := opts.Backend.Raw(state.Descriptor{ID: opts.StateID, Name: opts.Name}, state.KindTimers)
	if err != nil {
		return nil, fmt.Errorf("timer: open: %w", err)
	}
	s := &Service{raw: raw, be: opts.Backend, owned: opts.Backend.KeyGroups()}
	bo := btree.Options{NoLocks: true}
	s.byTime[EventTime] = btree.NewBTreeGOptions(lessTime, bo)
	s.byTime[ProcessingTime] = btree.NewBTreeGOptions(lessTime, bo)
	s.byKey = btree.NewBTreeGOptions(lessKey, bo)
	for kg := s.owned.Start; kg < s.owned.End; kg++ {
		err := raw.ScanKeyGroup(ctx, kg, func(rest, _ []byte) error {
			key, ns, uk, err := state.SplitRest(opts.Keys, rest)
			if err != nil {
				return err
			}
			if len(uk) != 9 || (Domain(uk[0]) != EventTime && Domain(uk[0]) != ProcessingTime) {
				return statestore.CorruptionErrorf("timer: key group %d: stored timer %x has a malformed domain/time %x", kg, rest, uk)
			}
			e := &entry{t: state.OrderedInt64(uk[1:]), d: Domain(uk[0]), kg: kg, key: bytes.Clone(key), ns: bytes.Clone(ns)}
			s.insert(e)
			s.metrics.Restored++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("timer: open: restoring key group %d: %w", kg, err)
		}
	}
	return s, nil
}

func (s *Service) insert(e *entry) {
	s.byTime[e.d].Set(e)
	s.byKey.Set(e)
}

func (s *Service) remove(e *entry) {
	s.byTime[e.d].Delete(e)
	s.byKey.Delete(e)
}

func (s *Service) timerKey(d Domain, t int64) []byte {
	s.userKey[0] = byte(d)
	binary.BigEndian.PutUint64(s.userKey[1:], uint64(t)^(1<<63))
	return s.userKey[:]
}

func (s *Service) check(op string, d Domain, k state.Key) error {
	if d != EventTime && d != ProcessingTime {
		return fmt.Errorf("timer: %s: domain %d: must be EventTime or ProcessingTime", op, d)
	}
	if !s.owned.Contains(k.Group) {
		return fmt.Errorf("timer: %s: key %x has key group %d, outside the owned range %v: %w", op, k.Bytes, k.Group, s.owned, statestore.ErrNotOwned)
	}
	return nil
}

// Register adds a timer for (k, ns) at t in domain d. Registering an
// existing timer does nothing. An event-time timer at or before the current
// watermark fires at the next AdvanceWatermark. The write is buffered in the
// backend and applied at its next Flush.
func (s *Service) Register(d Domain, k state.Key, ns []byte, t time.Time) error {
	if err := s.check("register", d, k); err != nil {
		return err
	}
	s.probe = entry{t: unixNanos(t), d: d, kg: k.Group, key: k.Bytes, ns: ns}
	if _, ok := s.byKey.Get(&s.probe); ok {
		return nil
	}
	// One allocation for the key and namespace copies.
	buf := make([]byte, len(k.Bytes)+len(ns))
	copy(buf, k.Bytes)
	copy(buf[len(k.Bytes):], ns)
	e := &entry{t: s.probe.t, d: d, kg: k.Group, key: buf[:len(k.Bytes):len(k.Bytes)], ns: buf[len(k.Bytes):]}
	s.insert(e)
	s.raw.Put(k, ns, s.timerKey(d, e.t), nil)
	s.metrics.Registered++
	return nil
}

// Delete removes the timer for (k, ns) at t in domain d, if there is one.
func (s *Service) Delete(d Domain, k state.Key, ns []byte, t time.Time) error {
	if err := s.check("delete", d, k); err != nil {
		return err
	}
	s.probe = entry{t: unixNanos(t), d: d, kg: k.Group, key: k.Bytes, ns: ns}
	e, ok := s.byKey.Get(&s.probe)
	if !ok {
		return nil
	}
	s.remove(e)
	s.raw.Delete(k, ns, s.timerKey(d, e.t))
	s.metrics.Deleted++
	return nil
}

// DeleteKey removes every timer of k, in every namespace and domain.
func (s *Service) DeleteKey(k state.Key) error {
	if err := s.check("delete key", EventTime, k); err != nil {
		return err
	}
	s.deleteMatching(k, nil, false)
	s.raw.DeleteKey(k)
	return nil
}

// DeleteNamespace removes every timer of (k, ns), in both domains.
func (s *Service) DeleteNamespace(k state.Key, ns []byte) error {
	if err := s.check("delete namespace", EventTime, k); err != nil {
		return err
	}
	s.deleteMatching(k, ns, true)
	s.raw.DeleteNamespace(k, ns)
	return nil
}

func (s *Service) deleteMatching(k state.Key, ns []byte, matchNS bool) {
	s.probe = entry{t: -1 << 63, key: k.Bytes, ns: ns}
	if !matchNS {
		s.probe.ns = nil
	}
	var doomed []*entry
	s.byKey.Ascend(&s.probe, func(e *entry) bool {
		if !bytes.Equal(e.key, k.Bytes) || (matchNS && !bytes.Equal(e.ns, ns)) {
			return false
		}
		doomed = append(doomed, e)
		return true
	})
	for _, e := range doomed {
		s.remove(e)
	}
	s.metrics.Deleted += int64(len(doomed))
}

// FireFunc is called for each fired timer. The Timer's slices belong to the
// callee. It may register and delete timers; a timer it registers that is
// already due fires in the same Advance call. An error stops the Advance
// call and is returned; the timer that failed has already been removed.
type FireFunc func(Timer) error

// AdvanceWatermark fires, in (time, key, namespace) order, every event-time
// timer with time <= wm, including timers registered while firing.
func (s *Service) AdvanceWatermark(ctx context.Context, wm time.Time, fire FireFunc) error {
	n := unixNanos(wm)
	if !s.hasWM || n > s.watermark {
		s.watermark, s.hasWM = n, true
	}
	return s.advance(ctx, EventTime, n, fire)
}

// AdvanceProcessingTime fires, in (time, key, namespace) order, every
// processing-time timer with time <= now, including timers registered while
// firing. The runtime calls it with its clock's time when NextProcessingTime
// is reached.
func (s *Service) AdvanceProcessingTime(ctx context.Context, now time.Time, fire FireFunc) error {
	return s.advance(ctx, ProcessingTime, unixNanos(now), fire)
}

func (s *Service) advance(ctx context.Context, d Domain, upTo int64, fire FireFunc) error {
	idx := s.byTime[d]
	for {
		e, ok := idx.Min()
		if !ok || e.t > upTo {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		idx.PopMin()
		s.byKey.Delete(e)
		k := state.Key{Group: e.kg, Bytes: e.key}
		s.raw.Delete(k, e.ns, s.timerKey(d, e.t))
		s.metrics.Fired++
		if err := fire(Timer{Domain: d, Time: time.Unix(0, e.t).UTC(), Key: k, Namespace: e.ns}); err != nil {
			return err
		}
	}
}

// NextProcessingTime returns the time of the earliest processing-time timer,
// so that the runtime can arm its clock; ok is false when there is none.
func (s *Service) NextProcessingTime() (t time.Time, ok bool) {
	return s.next(ProcessingTime)
}

// NextEventTime returns the time of the earliest event-time timer.
func (s *Service) NextEventTime() (t time.Time, ok bool) { return s.next(EventTime) }

func (s *Service) next(d Domain) (time.Time, bool) {
	e, ok := s.byTime[d].Min()
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, e.t).UTC(), true
}

// Watermark returns the highest watermark passed to AdvanceWatermark.
func (s *Service) Watermark() (time.Time, bool) {
	if !s.hasWM {
		return time.Time{}, false
	}
	return time.Unix(0, s.watermark).UTC(), true
}

// Timers calls fn for every timer of domain d in firing order, without
// removing them (for tests and debugging). fn must not modify the timers.
func (s *Service) Timers(d Domain, fn func(Timer) bool) {
	if d != EventTime && d != ProcessingTime {
		return
	}
	s.byTime[d].Scan(func(e *entry) bool {
		return fn(Timer{Domain: d, Time: time.Unix(0, e.t).UTC(), Key: state.Key{Group: e.kg, Bytes: e.key}, Namespace: e.ns})
	})
}

// Metrics returns a snapshot of the service's counters.
func (s *Service) Metrics() Metrics {
	m := s.metrics
	m.EventTimers = s.byTime[EventTime].Len()
	m.ProcessingTimers = s.byTime[ProcessingTime].Len()
	return m
}

// unixNanos is t in Unix nanoseconds, clamped to the int64 range, so that
// compute.MaxWatermark (far beyond year 2262) fires every timer.
func unixNanos(t time.Time) int64 {
	const maxSec = math.MaxInt64 / int64(time.Second)
	switch s := t.Unix(); {
	case s >= maxSec:
		return math.MaxInt64
	case s <= -maxSec:
		return math.MinInt64
	}
	return t.UnixNano()
}
