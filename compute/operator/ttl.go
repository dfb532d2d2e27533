package operator

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sluicedata/sluice/compute/state"
)

// State TTL of the regular join, the unbounded aggregate and top-n
// (the nodes' state_ttl, Flink's table.exec.state.ttl).
//
// Every state of such an operator is declared with
// state.TTL{Duration: state_ttl, Update: state.OnCreateAndWrite}, which is
// Flink's choice for all its SQL operators (StateTtlConfig with
// UpdateType.OnCreateAndWrite and NeverReturnExpired): an entry lives
// state_ttl after it was last written, reading it does not extend it.
// OnReadAndWrite would also rewrite every entry a probe reads (a join reads
// all rows of a key per batch), which costs a write per read for little
// gain. Expired state is never returned (compute/state hides it and deletes
// it on access); a background sweep (ttlSweeper) removes the entries of keys
// nobody touches again.

// Sweep pacing: a pass over the state starts every state_ttl/4 (at least
// ttlMinSweepInterval); within a pass each call examines at most
// ttlSweepBudget entries and the next call follows ttlSweepContinue later,
// so a sweep never holds the subtask for long.
const (
	ttlSweepBudget      = 4096
	ttlMinSweepInterval = 100 * time.Millisecond
	ttlSweepContinue    = 50 * time.Millisecond
)

// TTLMetrics counts an operator subtask's state TTL work.
type TTLMetrics struct {
	// ExpiredOnRead counts expired entries found on access and deleted.
	ExpiredOnRead int64
	// SweepCalls counts background sweep calls; SweepScanned the entries
	// they examined and SweepDeleted the expired entries they removed.
	SweepCalls, SweepScanned, SweepDeleted int64
}

// planStateTTL validates a node's state_ttl: absent or zero disables TTL, a
// negative duration is an error naming field.
func planStateTTL(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, fmt.Errorf("%s: %v", field, err)
	}
	ttl := d.AsDuration()
	if ttl < 0 {
		return 0, fmt.Errorf("%s: %s must not be negative (zero or absent keeps state forever)", field, ttl)
	}
	return ttl, nil
}

// stateTTL is the state.TTL an operator declares its states with; the zero
// value (no TTL) when ttl is zero.
func stateTTL(ttl time.Duration) state.TTL {
	if ttl <= 0 {
		return state.TTL{}
	}
	return state.TTL{Duration: ttl, Update: state.OnCreateAndWrite}
}

// ttlSweeper runs Backend.Sweep on processing time for an operator with a
// state TTL. The zero value (or one opened with ttl 0) never asks for a
// call. It belongs to the operator's goroutine.
type ttlSweeper struct {
	be       *state.Backend
	interval time.Duration
	next     time.Time // zero: no call wanted
	calls    int64
}

// open schedules the first sweep one interval after now.
func (s *ttlSweeper) open(be *state.Backend, ttl time.Duration, now time.Time) {
	s.be = be
	if ttl <= 0 {
		return
	}
	s.interval = max(ttl/4, ttlMinSweepInterval)
	s.next = now.Add(s.interval)
}

// nextTime implements NextProcessingTime for the operator.
func (s *ttlSweeper) nextTime() (time.Time, bool) {
	if s.next.IsZero() {
		return time.Time{}, false
	}
	return s.next, true
}

// run sweeps if the deadline has come and schedules the next call: soon
// when the pass is not finished, one interval later when it is.
func (s *ttlSweeper) run(ctx context.Context, now time.Time) error {
	if s.next.IsZero() || now.Before(s.next) {
		return nil
	}
	st, err := s.be.Sweep(ctx, ttlSweepBudget)
	if err != nil {
		return err
	}
	s.calls++
	if err := s.be.Flush(ctx); err != nil {
		return err
	}
	if st.Wrapped || st.Scanned < ttlSweepBudget {
		s.next = now.Add(s.interval)
	} else {
		s.next = now.Add(min(ttlSweepContinue, s.interval))
	}
	return nil
}

// metrics returns the TTL counters of the operator's backend.
func (s *ttlSweeper) metrics() TTLMetrics {
	if s.be == nil {
		return TTLMetrics{}
	}
	m := s.be.Metrics()
	return TTLMetrics{ExpiredOnRead: m.ExpiredOnRead, SweepCalls: s.calls, SweepScanned: m.SweepScanned, SweepDeleted: m.SweepDeleted}
}
