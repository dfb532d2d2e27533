// Package timer is the timer service of a stateful operator subtask:
// event-time and processing-time timers per (key, namespace), kept in keyed
// state so that they checkpoint, restore and rescale like any other state,
// and indexed in memory so that they fire in time order.
//
// It owns the timer state (a state.RawState, by default state.TimerStateID)
// and its in-memory indexes; the operator owns the Backend, flushes it and
// checkpoints it. The runtime owns the clock and the watermark: it calls
// AdvanceWatermark from ProcessWatermark, and AdvanceProcessingTime when the
// time NextProcessingTime reports has come on its injected clock.
//
// # Storage
//
// A timer is one entry with an empty value under the state key
//
//	keyGroup | stateID | key | len(ns) | namespace | domain (1 B) | time (8 B, BE, sign flipped)
//
// so a key group's timers are a byte range (restored per key group, clipped
// to the subtask's range on rescale), all timers of a key or of a (key,
// namespace) are one delete-range, and registering the same (domain, key,
// namespace, time) twice writes the same entry. Open scans the timer state
// of every owned key group once and builds two ordered indexes: per domain
// by (time, key, namespace) for firing, and by (key, namespace, domain,
// time) for deletes.
//
// # Firing
//
// AdvanceWatermark(wm) fires every event-time timer with time <= wm in
// (time, key, namespace) order, removing each before calling fire; timers
// that fire registers and that are already due fire in the same call. A
// fired timer's state entry is deleted in the backend's pending batch.
//
// # Concurrency
//
// A Service belongs to the subtask's goroutine, like its Backend. Nothing is
// safe for concurrent use.
//
// # Usage
//
//	ts, _ := timer.Open(ctx, timer.Options{Backend: be, Keys: enc})
//	// in ProcessBatch, for row i assigned to window w:
//	_ = ts.Register(timer.EventTime, keys.At(i), ns, windowEnd)
//	// in ProcessWatermark:
//	err := ts.AdvanceWatermark(ctx, wm, func(t timer.Timer) error {
//		return op.emitWindow(ctx, t.Key, t.Namespace)
//	})
//	_ = be.Flush(ctx)
//	// runtime, processing time:
//	if next, ok := ts.NextProcessingTime(); ok { arm(next) }
package timer
