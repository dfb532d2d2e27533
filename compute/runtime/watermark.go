package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/plan"
)

// maxEventTime returns the largest non-null timestamp in a, and false when a
// has none.
func maxEventTime(a arrow.Array) (time.Time, bool, error) {
	ts, ok := a.(*array.Timestamp)
	if !ok {
		return time.Time{}, false, fmt.Errorf("event time column has type %s, want a timestamp", a.DataType())
	}
	vals := ts.TimestampValues()
	var max arrow.Timestamp
	found := false
	if ts.NullN() == 0 {
		for _, v := range vals {
			if !found || v > max {
				max, found = v, true
			}
		}
	} else {
		for i, v := range vals {
			if ts.IsValid(i) && (!found || v > max) {
				max, found = v, true
			}
		}
	}
	if !found {
		return time.Time{}, false, nil
	}
	return max.ToTime(ts.DataType().(*arrow.TimestampType).Unit).UTC(), true, nil
}

// watermarkCandidate is the watermark a split may advance to after batch b.
func watermarkCandidate(ctx context.Context, mem memory.Allocator, s *plan.WatermarkStrategy, b arrow.RecordBatch) (time.Time, bool, error) {
	if s.Expr != nil {
		a, err := s.Expr.Eval(ctx, mem, b)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("watermark expression: %w", err)
		}
		defer a.Release()
		return maxEventTime(a)
	}
	t, ok, err := maxEventTime(b.Column(s.Column))
	if !ok || err != nil {
		return t, ok, err
	}
	return t.Add(-s.Delay), true, nil
}

// splitWatermark is a source subtask's view of one split's event time.
type splitWatermark struct {
	wm         time.Time
	has        bool // wm is set
	lastActive time.Time
	idle       bool
	ended      bool
}

// sourceWatermarks combines the watermarks of one source subtask's splits.
type sourceWatermarks struct {
	strategy *plan.WatermarkStrategy
	splits   []splitWatermark
	emitted  time.Time // last watermark sent downstream
	idle     bool      // the subtask told downstream it is idle
}

func newSourceWatermarks(s *plan.WatermarkStrategy, splits int, now time.Time) *sourceWatermarks {
	w := &sourceWatermarks{strategy: s, splits: make([]splitWatermark, splits)}
	for i := range w.splits {
		w.splits[i].lastActive = now
	}
	return w
}

// observe records a batch of split i and its candidate watermark.
func (w *sourceWatermarks) observe(i int, cand time.Time, ok bool, now time.Time) {
	sp := &w.splits[i]
	sp.lastActive, sp.idle = now, false
	if ok && (!sp.has || cand.After(sp.wm)) {
		sp.wm, sp.has = cand, true
	}
}

// touch counts every active split as active at now: a source subtask held
// back by watermark alignment takes no batch, which says nothing about
// whether its splits have data.
func (w *sourceWatermarks) touch(now time.Time) {
	for i := range w.splits {
		if sp := &w.splits[i]; !sp.ended && !sp.idle {
			sp.lastActive = now
		}
	}
}

// end records that split i is exhausted.
func (w *sourceWatermarks) end(i int) { w.splits[i].ended = true }

// markIdle marks splits idle that delivered nothing since now - timeout, and
// returns the next time one of the active splits could become idle.
func (w *sourceWatermarks) markIdle(now time.Time) (next time.Time, ok bool) {
	d := w.strategy.IdleTimeout
	if d <= 0 {
		return time.Time{}, false
	}
	for i := range w.splits {
		sp := &w.splits[i]
		if sp.ended || sp.idle {
			continue
		}
		deadline := sp.lastActive.Add(d)
		if !deadline.After(now) {
			sp.idle = true
			continue
		}
		if !ok || deadline.Before(next) {
			next, ok = deadline, true
		}
	}
	return next, ok
}

// next reports what to send downstream now: a new watermark, the idle
// status, or nothing.
func (w *sourceWatermarks) next() (wm time.Time, advance, goIdle bool) {
	var min time.Time
	active := 0
	for _, sp := range w.splits {
		if sp.ended || sp.idle {
			continue
		}
		if !sp.has {
			return time.Time{}, false, false // an active split without event time holds everything back
		}
		if active == 0 || sp.wm.Before(min) {
			min = sp.wm
		}
		active++
	}
	if active == 0 {
		for _, sp := range w.splits {
			if !sp.ended {
				if !w.idle {
					w.idle = true
					return time.Time{}, false, true
				}
				return time.Time{}, false, false
			}
		}
		return time.Time{}, false, false // all ended: the final watermark follows
	}
	if min.After(w.emitted) {
		w.emitted, w.idle = min, false
		return min, true, false
	}
	return time.Time{}, false, false
}
