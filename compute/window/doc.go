// Package window is the pure windowing core of Sluice: Flink's DataStream
// windowing API (assigners, triggers, evictors, allowed lateness, incremental
// aggregates, process window functions) over Arrow batches. It holds no
// state and starts no timers itself; the window operator (compute/operator)
// stores what this package computes in keyed state (compute/state) and arms
// timers (compute/timer). Everything here is a plain value or data structure
// with a byte encoding, so it can live in keyed state and be checkpointed.
//
// # Time
//
// Times are int64 milliseconds since the Unix epoch (Flink's unit; Nexmark's
// timestamp[ms]). TimesMillis reads a time column (timestamp of any unit,
// date64, int64 ms) without copying when it is already in milliseconds. A
// Window is the half-open interval [Start, End); MaxTimestamp = End-1 is when
// an event-time window fires. Watermarks use the same unit (ToMillis;
// NoWatermark before the first).
//
// # Concepts
//
//   - Spec describes an assigner: Tumbling, Sliding, Session, GlobalWindows,
//     CountTumbling, CountSliding, in EventTime or ProcessingTime. Validate
//     reports every bad field at once (size, slide, gap, offset, count,
//     count_slide, allowed_lateness), each with its value and the reason.
//     A slide larger than the size is accepted, as in Flink (the windows
//     sample the stream; rows between windows get NoSlice / NoWindow and
//     must be counted, not treated as late). Arroyo rejects it; we follow the
//     reference users know.
//   - Slicer (tumbling and sliding): every row goes to exactly one slice of
//     width gcd(size, slide), so an event costs one state update, not
//     size/slide. A window is SlicesOfWindow(w); a slice is in
//     WindowsOfSlice(start). For tumbling windows the slice is the window.
//   - SessionSet: a key's merging window set (Flink's MergingWindowSet).
//     Add reports, in a Merge, which session windows merged (their triggers
//     and timers are cleared) and which state namespaces must be folded into
//     the kept one. CollapseSessions turns a key's rows of one batch into
//     runs, so Add is called per run, not per row.
//   - Trigger: a state machine over a small TriggerState (17 bytes) with
//     results CONTINUE / FIRE / PURGE / FIRE_AND_PURGE and hooks OnElements
//     (n rows at once), OnEventTime, OnProcessingTime, OnMerge, Clear. Timers
//     are registered through the TriggerContext the operator supplies.
//     Triggers: EventTimeTrigger, ProcessingTimeTrigger, CountTrigger,
//     ContinuousEventTimeTrigger, ContinuousProcessingTimeTrigger,
//     NeverTrigger, Purging; Spec.DefaultTrigger picks Flink's default.
//   - Evictor: CountEvictor, TimeEvictor, DeltaEvictor, before or after the
//     window function, returning the row indices that stay.
//   - Lateness: ClassifyWindow says OnTime / Late (within allowed lateness:
//     fire again) / TooLate (state gone); Slicer.Classify does it per row for
//     a whole batch, and counts the TooLate rows, which the operator must
//     route to the late-data side output and count. Nothing is dropped
//     silently.
//   - Aggregates: AggFunc (count, count_non_null, sum, min, max, avg, first,
//     last, count_distinct) and its Accumulator: Add(values, times, rows) for
//     a group of rows, Merge (slices into windows, sessions into sessions;
//     associative), AppendResult into an Arrow builder, and a binary
//     encoding documented on Accumulator. Unsupported input types give an
//     *AggTypeError naming the function and the type.
//   - ProcessFunc / AggregateProcessFunc: user functions that see Meta
//     (window, key, watermark, processing time, late fire) and the window's
//     rows or its aggregate row. ResultBuilder collects many windows' results
//     into one output batch.
//   - Groups partitions a batch's rows by (key id, slice) without
//     allocating in steady state.
//
// # How the window operator uses this, a batch at a time
//
// Non-merging time windows (tumbling, sliding), event time:
//
//  1. times := TimesMillis(batch.Column(ts)); slices := slicer.AssignSlices
//     (times, buf); status, tooLate := slicer.Classify(slices, wm, lateness,
//     buf). Route rows with status TooLate to the side output and count them;
//     count NoWindow rows.
//  2. groups.Build(keyIDs, slices, status): one group per (key, slice).
//  3. One MultiGet for all groups' state: the namespace of a group is its
//     slice, Slice(start).AppendKey. Decode the accumulators
//     (UnmarshalBinary), Add the group's rows, write them back in one batch.
//  4. Timers: per (key, window) an event-time timer at the window's
//     MaxTimestamp and a cleanup timer at CleanupTime(w, lateness). With
//     slices an operator can instead keep one timer per key at
//     NextWindowEnd and re-arm it after each fire, and drop a slice's state
//     once the watermark passes LastWindowEnd(slice)-1+lateness.
//  5. Trigger state is per (key, window) (namespace: the window). With the
//     default EventTimeTrigger it is empty, so nothing is stored. Late rows
//     (status Late) fire each window of their slice that ClassifyWindow
//     calls Late again, once per batch.
//  6. On a timer (or FIRE from OnElements): merge the accumulators of
//     SlicesOfWindow(w) in order into fresh accumulators, append the row to
//     a ResultBuilder (prefixed with the key columns), and emit one batch
//     per watermark, not one per window. On PURGE or cleanup delete the
//     window's trigger state and, when no later window needs them, its
//     slices.
//
// Sessions: per key, load the SessionSet (one state value; AppendBinary),
// CollapseSessions the key's rows, Add each run. For a Merge with merged
// windows: merge their trigger states with Trigger.OnMerge, Clear the old
// windows' triggers and delete their cleanup timers, fold the accumulators
// of MergedStates into State and delete them, register the cleanup timer of
// the new window. If the resulting window is TooLate, Remove it and send
// the run's rows to the side output. Contents live under State; trigger
// state and timers under the session window itself (as in Flink).
//
// Count windows and global windows: a single Global namespace per key; the
// CountTrigger's OnElements consumes rows up to the next fire, so a batch
// may fire several times; the operator buffers rows (as Arrow batches or
// accumulators) and applies the evictor when one is set.
//
// Processing-time windows use the same assigners with the processing-time
// clock: all rows of a batch share one time, so assignment is one slice per
// batch, and timers are processing-time timers at MaxTimestamp (which is
// also the cleanup time; nothing is late).
//
// Departures from Flink, all documented where they arise: late rows of one
// batch for one window cause one re-fire, not one per row; within a batch,
// a key's session rows are merged in time order, so a row beyond allowed
// lateness that a later row of the same batch bridges to a live session is
// kept; First and Last are by event time when times are given (arrival
// order otherwise); Avg returns float64 (Flink returns the input's integer
// type for BIGINT); integer Sum wraps on overflow like Flink's BIGINT.
//
// count_distinct keeps its set in the accumulator: memory and encoded size
// are O(distinct values) per (key, window or slice) — 8 bytes per numeric
// value, length+bytes per string — and a sliding window composes the sets of
// its slices at fire time. Until it is backed by MapState, use it only where
// the distinct count per key and window is known to be bounded.
//
// # Concurrency
//
// Specs, Slicers, AggFuncs, triggers and the count and time evictors are
// immutable values, safe for concurrent use. SessionSet, Accumulator,
// Groups, ResultBuilder and DeltaEvictor (it keeps a scratch buffer) belong
// to one goroutine, the operator's.
//
// # Example
//
//	s, err := window.NewSliding(10*time.Second, 2*time.Second, 0)
//	times, err := window.TimesMillis(batch.Column(tsCol), nil)
//	slices, unassigned := s.AssignSlices(times, nil)
//	status, tooLate := s.Classify(slices, wm, lateness, nil)
//	var g window.Groups
//	g.Build(keyIDs, slices, status) // g.Excluded -> side output / counters
//	sum, _ := window.NewAggFunc(window.Sum, arrow.PrimitiveTypes.Int64)
//	for i := range g.Len() {
//		acc := sum.NewAccumulator()
//		_ = acc.UnmarshalBinary(stored[i]) // from MultiGet; skip when absent
//		_ = acc.Add(batch.Column(valCol), times, g.Group(i))
//		stored[i], _ = acc.AppendBinary(stored[i][:0])
//	}
//	// When the watermark reaches w.MaxTimestamp():
//	total := sum.NewAccumulator()
//	for sl := range s.SlicesOfWindow(w).All() {
//		part := sum.NewAccumulator()
//		_ = part.UnmarshalBinary(sliceState(sl))
//		_ = total.Merge(part)
//	}
//	_ = results.Append(w, []*window.Accumulator{total})
package window
