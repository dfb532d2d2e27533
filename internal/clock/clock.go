// Package clock abstracts wall-clock time so that everything that waits,
// lingers, rate-limits or fires processing-time timers can be driven by a fake
// clock in tests. Production code receives a Clock; it never calls time.Now or
// time.Sleep directly.
//
// Real is safe for concurrent use. Fake is safe for concurrent use; time moves
// only when a test calls Advance or Set.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock is the source of time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer. C delivers the fire time.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing. It reports whether it was pending.
	Stop() bool
	// Reset re-arms the timer to fire d from now. Call it only on a stopped or
	// fired timer whose channel has been drained.
	Reset(d time.Duration)
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return &realTimer{t: time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r *realTimer) C() <-chan time.Time   { return r.t.C }
func (r *realTimer) Stop() bool            { return r.t.Stop() }
func (r *realTimer) Reset(d time.Duration) { r.t.Reset(d) }

// Fake is a manually driven clock for tests.
type Fake struct {
	mu struct {
		sync.Mutex
		now    time.Time
		timers []*fakeTimer
	}
	// waiters is signalled whenever a timer is created or reset, so a test can
	// wait (without sleeping) until the code under test is blocked on a timer.
	waiters chan struct{}
}

// NewFake returns a fake clock set to start.
func NewFake(start time.Time) *Fake {
	f := &Fake{waiters: make(chan struct{}, 1)}
	f.mu.now = start
	return f
}

// Now implements Clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.now
}

// NewTimer implements Clock.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d and fires every timer that is due, in
// deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.mu.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves the clock to t (never backwards) and fires due timers.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.Before(f.mu.now) {
		return
	}
	f.mu.now = t
	sort.Slice(f.mu.timers, func(i, j int) bool { return f.mu.timers[i].deadline.Before(f.mu.timers[j].deadline) })
	kept := f.mu.timers[:0]
	for _, tm := range f.mu.timers {
		if !tm.deadline.After(t) {
			select {
			case tm.c <- tm.deadline:
			default:
			}
			continue
		}
		kept = append(kept, tm)
	}
	for i := len(kept); i < len(f.mu.timers); i++ {
		f.mu.timers[i] = nil
	}
	f.mu.timers = kept
}

// PendingTimers returns the number of armed timers.
func (f *Fake) PendingTimers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.mu.timers)
}

// TimerArmed returns a channel that receives a value after a timer is armed.
// Tests use it to wait until the code under test is blocked on the clock.
func (f *Fake) TimerArmed() <-chan struct{} { return f.waiters }

type fakeTimer struct {
	f        *Fake
	c        chan time.Time
	deadline time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	return t.removeLocked()
}

func (t *fakeTimer) removeLocked() bool {
	for i, x := range t.f.mu.timers {
		if x == t {
			t.f.mu.timers = append(t.f.mu.timers[:i], t.f.mu.timers[i+1:]...)
			return true
		}
	}
	return false
}

func (t *fakeTimer) Reset(d time.Duration) {
	t.f.mu.Lock()
	t.removeLocked()
	t.deadline = t.f.mu.now.Add(d)
	if d <= 0 {
		select {
		case t.c <- t.deadline:
		default:
		}
	} else {
		t.f.mu.timers = append(t.f.mu.timers, t)
	}
	t.f.mu.Unlock()
	select {
	case t.f.waiters <- struct{}{}:
	default:
	}
}
