package window

import (
	"encoding/binary"
	"fmt"
)

// Result is what a trigger decides for a window. Fire emits the window's
// contents (or its aggregate); Purge clears them. The zero Result is Continue.
type Result uint8

const (
	Continue     Result = 0
	Fire         Result = 1
	Purge        Result = 2
	FireAndPurge Result = Fire | Purge
)

// IsFire reports whether r emits the window.
func (r Result) IsFire() bool { return r&Fire != 0 }

// IsPurge reports whether r clears the window's contents.
func (r Result) IsPurge() bool { return r&Purge != 0 }

func (r Result) String() string {
	switch r {
	case Continue:
		return "CONTINUE"
	case Fire:
		return "FIRE"
	case Purge:
		return "PURGE"
	case FireAndPurge:
		return "FIRE_AND_PURGE"
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// TriggerContext is what the operator gives a trigger for one (key, window):
// the current times and timer registration scoped to that key and window.
// Registering a timer that exists, or deleting one that does not, is a no-op.
type TriggerContext interface {
	// Watermark is the current event-time watermark in milliseconds
	// (NoWatermark before the first).
	Watermark() int64
	// ProcessingTime is the current processing time in milliseconds.
	ProcessingTime() int64
	RegisterEventTimeTimer(t int64)
	RegisterProcessingTimeTimer(t int64)
	DeleteEventTimeTimer(t int64)
	DeleteProcessingTimeTimer(t int64)
}

// TriggerState is the per-(key, window) state of a trigger: the rows counted
// so far (count triggers) and the next fire time (continuous triggers). It
// is small and fixed-size so it can be stored next to the window's contents
// in keyed state (AppendBinary). The zero value is the initial state; a
// state that IsZero again need not be stored.
type TriggerState struct {
	Count    int64
	NextFire int64 // valid when HasNext
	HasNext  bool
}

// IsZero reports whether s is the initial state.
func (s TriggerState) IsZero() bool { return s == TriggerState{} }

// TriggerStateSize is the length of TriggerState's encoding.
const TriggerStateSize = 17

// AppendBinary appends the fixed 17-byte encoding: a flags byte (bit 0:
// HasNext), Count and NextFire as big-endian int64s.
func (s TriggerState) AppendBinary(dst []byte) ([]byte, error) {
	var flags byte
	if s.HasNext {
		flags = 1
	}
	dst = append(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, uint64(s.Count))
	return binary.BigEndian.AppendUint64(dst, uint64(s.NextFire)), nil
}

// UnmarshalBinary decodes an encoding written by AppendBinary.
func (s *TriggerState) UnmarshalBinary(b []byte) error {
	if len(b) != TriggerStateSize || b[0] > 1 {
		return fmt.Errorf("%w: trigger state of %d bytes", ErrCorrupt, len(b))
	}
	*s = TriggerState{
		HasNext:  b[0] == 1,
		Count:    int64(binary.BigEndian.Uint64(b[1:])),
		NextFire: int64(binary.BigEndian.Uint64(b[9:])),
	}
	return nil
}

// Elements describes rows being added to one window at once.
type Elements struct {
	// N is the number of rows, at least 1.
	N int64
	// FirstTime is the event time of the first of them in arrival order;
	// a continuous event-time trigger aligns its first fire on it.
	FirstTime int64
}

// Trigger decides when a window fires, Flink style, as a state machine over
// TriggerState. Triggers are stateless values; all their state is in the
// *TriggerState the operator passes (and stores). Methods are called for one
// (key, window) at a time from the operator's goroutine.
//
// Batch protocol for OnElements: the operator adds the first consumed rows
// to the window, acts on the result (fire, purge), and calls OnElements again
// with the remaining rows until all are consumed. A trigger consumes at least
// one row. Only count-based triggers stop early, so for time triggers a whole
// group of rows costs one call. An event-time trigger that sees rows for a
// window the watermark has passed (late, within allowed lateness) fires once
// for the whole group, where Flink would fire once per row; the final result
// is the same.
type Trigger interface {
	OnElements(e Elements, w Window, st *TriggerState, c TriggerContext) (consumed int64, r Result)
	// OnEventTime is called when an event-time timer at t registered for w
	// fires (the watermark reached t).
	OnEventTime(t int64, w Window, st *TriggerState, c TriggerContext) Result
	// OnProcessingTime is called when a processing-time timer at t fires.
	OnProcessingTime(t int64, w Window, st *TriggerState, c TriggerContext) Result
	// CanMerge reports whether the trigger supports merging (session) windows.
	CanMerge() bool
	// OnMerge is called when windows merge into w: merged holds the trigger
	// states of the windows that were merged (including w's previous
	// state, if any, which the operator passes as one of them); st starts
	// zero and receives the merged state. The operator then calls Clear for
	// each merged window.
	OnMerge(w Window, st *TriggerState, merged []TriggerState, c TriggerContext)
	// Clear deletes the trigger's timers for w and resets st, when the window
	// is purged at cleanup or merged away.
	Clear(w Window, st *TriggerState, c TriggerContext)
	String() string
}

// EventTimeTrigger fires once the watermark passes the window's end, and
// again for each group of late rows within the allowed lateness. The default
// trigger of event-time windows.
type EventTimeTrigger struct{}

func (EventTimeTrigger) OnElements(e Elements, w Window, _ *TriggerState, c TriggerContext) (int64, Result) {
	if w.MaxTimestamp() <= c.Watermark() {
		return e.N, Fire
	}
	c.RegisterEventTimeTimer(w.MaxTimestamp())
	return e.N, Continue
}

func (EventTimeTrigger) OnEventTime(t int64, w Window, _ *TriggerState, _ TriggerContext) Result {
	if t == w.MaxTimestamp() {
		return Fire
	}
	return Continue
}

func (EventTimeTrigger) OnProcessingTime(int64, Window, *TriggerState, TriggerContext) Result {
	return Continue
}

func (EventTimeTrigger) CanMerge() bool { return true }

func (EventTimeTrigger) OnMerge(w Window, _ *TriggerState, _ []TriggerState, c TriggerContext) {
	if w.MaxTimestamp() > c.Watermark() {
		c.RegisterEventTimeTimer(w.MaxTimestamp())
	}
}

func (EventTimeTrigger) Clear(w Window, st *TriggerState, c TriggerContext) {
	c.DeleteEventTimeTimer(w.MaxTimestamp())
	*st = TriggerState{}
}

func (EventTimeTrigger) String() string { return "EventTimeTrigger" }

// ProcessingTimeTrigger fires when the processing-time clock passes the
// window's end. The default trigger of processing-time windows.
type ProcessingTimeTrigger struct{}

func (ProcessingTimeTrigger) OnElements(e Elements, w Window, _ *TriggerState, c TriggerContext) (int64, Result) {
	c.RegisterProcessingTimeTimer(w.MaxTimestamp())
	return e.N, Continue
}

func (ProcessingTimeTrigger) OnEventTime(int64, Window, *TriggerState, TriggerContext) Result {
	return Continue
}

func (ProcessingTimeTrigger) OnProcessingTime(int64, Window, *TriggerState, TriggerContext) Result {
	return Fire
}

func (ProcessingTimeTrigger) CanMerge() bool { return true }

func (ProcessingTimeTrigger) OnMerge(w Window, _ *TriggerState, _ []TriggerState, c TriggerContext) {
	if w.MaxTimestamp() > c.ProcessingTime() {
		c.RegisterProcessingTimeTimer(w.MaxTimestamp())
	}
}

func (ProcessingTimeTrigger) Clear(w Window, st *TriggerState, c TriggerContext) {
	c.DeleteProcessingTimeTimer(w.MaxTimestamp())
	*st = TriggerState{}
}

func (ProcessingTimeTrigger) String() string { return "ProcessingTimeTrigger" }

// CountTrigger fires each time Max rows have been added since the last fire.
type CountTrigger struct{ Max int64 }

func (t CountTrigger) OnElements(e Elements, _ Window, st *TriggerState, _ TriggerContext) (int64, Result) {
	need := t.Max - st.Count
	if need <= 0 { // merged counts can exceed Max; the next row fires
		need = 1
	}
	if e.N < need {
		st.Count += e.N
		return e.N, Continue
	}
	st.Count = 0
	return need, Fire
}

func (CountTrigger) OnEventTime(int64, Window, *TriggerState, TriggerContext) Result { return Continue }

func (CountTrigger) OnProcessingTime(int64, Window, *TriggerState, TriggerContext) Result {
	return Continue
}

func (CountTrigger) CanMerge() bool { return true }

// OnMerge sums the merged counts, as Flink does; it does not fire even when
// the sum reaches Max (the next row does).
func (CountTrigger) OnMerge(_ Window, st *TriggerState, merged []TriggerState, _ TriggerContext) {
	for _, m := range merged {
		st.Count += m.Count
	}
}

func (CountTrigger) Clear(_ Window, st *TriggerState, _ TriggerContext) { *st = TriggerState{} }

func (t CountTrigger) String() string { return fmt.Sprintf("CountTrigger(%d)", t.Max) }

// ContinuousEventTimeTrigger fires every Interval milliseconds of event time
// (aligned to multiples of Interval, starting after the window's first row)
// and at the window's end.
type ContinuousEventTimeTrigger struct{ Interval int64 }

func (t ContinuousEventTimeTrigger) OnElements(e Elements, w Window, st *TriggerState, c TriggerContext) (int64, Result) {
	if w.MaxTimestamp() <= c.Watermark() {
		return e.N, Fire
	}
	c.RegisterEventTimeTimer(w.MaxTimestamp())
	if !st.HasNext {
		t.registerNext(floorStart(e.FirstTime, 0, t.Interval), w, st, c)
	}
	return e.N, Continue
}

func (t ContinuousEventTimeTrigger) registerNext(from int64, w Window, st *TriggerState, c TriggerContext) {
	st.NextFire, st.HasNext = min(satAdd(from, t.Interval), w.MaxTimestamp()), true
	c.RegisterEventTimeTimer(st.NextFire)
}

func (t ContinuousEventTimeTrigger) OnEventTime(time int64, w Window, st *TriggerState, c TriggerContext) Result {
	if time == w.MaxTimestamp() {
		return Fire
	}
	if st.HasNext && st.NextFire == time {
		t.registerNext(time, w, st, c)
		return Fire
	}
	return Continue
}

func (ContinuousEventTimeTrigger) OnProcessingTime(int64, Window, *TriggerState, TriggerContext) Result {
	return Continue
}

func (ContinuousEventTimeTrigger) CanMerge() bool { return true }

// OnMerge keeps the earliest pending fire time of the merged windows.
func (ContinuousEventTimeTrigger) OnMerge(w Window, st *TriggerState, merged []TriggerState, c TriggerContext) {
	mergeNextFire(st, merged)
	if st.HasNext {
		c.RegisterEventTimeTimer(st.NextFire)
	}
	if w.MaxTimestamp() > c.Watermark() {
		c.RegisterEventTimeTimer(w.MaxTimestamp())
	}
}

func (ContinuousEventTimeTrigger) Clear(w Window, st *TriggerState, c TriggerContext) {
	if st.HasNext {
		c.DeleteEventTimeTimer(st.NextFire)
	}
	c.DeleteEventTimeTimer(w.MaxTimestamp())
	*st = TriggerState{}
}

func (t ContinuousEventTimeTrigger) String() string {
	return fmt.Sprintf("ContinuousEventTimeTrigger(%d)", t.Interval)
}

func mergeNextFire(st *TriggerState, merged []TriggerState) {
	for _, m := range merged {
		if m.HasNext && (!st.HasNext || m.NextFire < st.NextFire) {
			st.NextFire, st.HasNext = m.NextFire, true
		}
	}
}

// ContinuousProcessingTimeTrigger fires every Interval milliseconds of
// processing time (aligned to multiples of Interval) while the window has
// rows, and last at the window's end.
type ContinuousProcessingTimeTrigger struct{ Interval int64 }

func (t ContinuousProcessingTimeTrigger) OnElements(e Elements, w Window, st *TriggerState, c TriggerContext) (int64, Result) {
	if !st.HasNext {
		t.registerNext(floorStart(c.ProcessingTime(), 0, t.Interval), w, st, c)
	}
	return e.N, Continue
}

func (t ContinuousProcessingTimeTrigger) registerNext(from int64, w Window, st *TriggerState, c TriggerContext) {
	st.NextFire, st.HasNext = min(satAdd(from, t.Interval), w.MaxTimestamp()), true
	c.RegisterProcessingTimeTimer(st.NextFire)
}

func (ContinuousProcessingTimeTrigger) OnEventTime(int64, Window, *TriggerState, TriggerContext) Result {
	return Continue
}

func (t ContinuousProcessingTimeTrigger) OnProcessingTime(time int64, w Window, st *TriggerState, c TriggerContext) Result {
	if st.HasNext && st.NextFire == time {
		if time < w.MaxTimestamp() {
			t.registerNext(time, w, st, c)
		} else {
			st.HasNext = false
		}
		return Fire
	}
	return Continue
}

func (ContinuousProcessingTimeTrigger) CanMerge() bool { return true }

func (ContinuousProcessingTimeTrigger) OnMerge(_ Window, st *TriggerState, merged []TriggerState, c TriggerContext) {
	mergeNextFire(st, merged)
	if st.HasNext {
		c.RegisterProcessingTimeTimer(st.NextFire)
	}
}

func (ContinuousProcessingTimeTrigger) Clear(_ Window, st *TriggerState, c TriggerContext) {
	if st.HasNext {
		c.DeleteProcessingTimeTimer(st.NextFire)
	}
	*st = TriggerState{}
}

func (t ContinuousProcessingTimeTrigger) String() string {
	return fmt.Sprintf("ContinuousProcessingTimeTrigger(%d)", t.Interval)
}

// NeverTrigger never fires: the default of global windows, which need a
// custom trigger to emit anything.
type NeverTrigger struct{}

func (NeverTrigger) OnElements(e Elements, _ Window, _ *TriggerState, _ TriggerContext) (int64, Result) {
	return e.N, Continue
}
func (NeverTrigger) OnEventTime(int64, Window, *TriggerState, TriggerContext) Result { return Continue }
func (NeverTrigger) OnProcessingTime(int64, Window, *TriggerState, TriggerContext) Result {
	return Continue
}
func (NeverTrigger) CanMerge() bool                                                { return true }
func (NeverTrigger) OnMerge(Window, *TriggerState, []TriggerState, TriggerContext) {}
func (NeverTrigger) Clear(_ Window, st *TriggerState, _ TriggerContext)            { *st = TriggerState{} }
func (NeverTrigger) String() string                                                { return "NeverTrigger" }

// Purging wraps a trigger and turns each of its fires into FIRE_AND_PURGE,
// so every fire emits only the rows since the previous one.
type Purging struct{ Inner Trigger }

func purge(r Result) Result {
	if r.IsFire() {
		return FireAndPurge
	}
	return r
}

func (p Purging) OnElements(e Elements, w Window, st *TriggerState, c TriggerContext) (int64, Result) {
	n, r := p.Inner.OnElements(e, w, st, c)
	return n, purge(r)
}

func (p Purging) OnEventTime(t int64, w Window, st *TriggerState, c TriggerContext) Result {
	return purge(p.Inner.OnEventTime(t, w, st, c))
}

func (p Purging) OnProcessingTime(t int64, w Window, st *TriggerState, c TriggerContext) Result {
	return purge(p.Inner.OnProcessingTime(t, w, st, c))
}

func (p Purging) CanMerge() bool { return p.Inner.CanMerge() }

func (p Purging) OnMerge(w Window, st *TriggerState, merged []TriggerState, c TriggerContext) {
	p.Inner.OnMerge(w, st, merged, c)
}

func (p Purging) Clear(w Window, st *TriggerState, c TriggerContext) { p.Inner.Clear(w, st, c) }

func (p Purging) String() string { return "Purging(" + p.Inner.String() + ")" }

var (
	_ Trigger = EventTimeTrigger{}
	_ Trigger = ProcessingTimeTrigger{}
	_ Trigger = CountTrigger{}
	_ Trigger = ContinuousEventTimeTrigger{}
	_ Trigger = ContinuousProcessingTimeTrigger{}
	_ Trigger = NeverTrigger{}
	_ Trigger = Purging{}
)

// ValidateTrigger checks the parameters of t (and of a purging trigger's
// inner trigger): counts and intervals must be positive.
func ValidateTrigger(t Trigger) error {
	switch t := t.(type) {
	case nil:
		return cfgErr("trigger", nil, "missing")
	case CountTrigger:
		if t.Max <= 0 {
			return cfgErr("trigger.count", t.Max, "must be positive")
		}
	case ContinuousEventTimeTrigger:
		if t.Interval <= 0 {
			return cfgErr("trigger.interval", t.Interval, "must be positive")
		}
	case ContinuousProcessingTimeTrigger:
		if t.Interval <= 0 {
			return cfgErr("trigger.interval", t.Interval, "must be positive")
		}
	case Purging:
		return ValidateTrigger(t.Inner)
	}
	return nil
}
