package runtime

import (
	"math"
	"sync"
	"time"
)

// alignGroup is one watermark alignment group (plan.WatermarkStrategy's
// AlignGroup): the source tasks whose watermark declares it. A member whose
// watermark runs more than maxDrift ahead of the slowest active member is
// held: it stops taking batches from its split readers (which then block on
// their channel) until the minimum catches up, while it still takes
// checkpoint barriers and timers. Idle and finished members do not count,
// so the slowest active member is never held and the group cannot stall.
type alignGroup struct {
	maxDrift int64 // ns

	mu sync.Mutex
	// wm is each active member's watermark in ns; a member that has not
	// emitted one yet counts as math.MinInt64 (it holds the others back
	// until its first watermark). Idle and finished members are absent.
	wm map[*task]int64
	// moved is closed, and replaced, whenever the minimum advances or a
	// member leaves: the held members then check again.
	moved chan struct{}
	min   int64
}

func newAlignGroup(maxDrift time.Duration) *alignGroup {
	return &alignGroup{maxDrift: int64(maxDrift), wm: map[*task]int64{}, moved: make(chan struct{}), min: math.MinInt64}
}

// join registers t as an active member without a watermark yet.
func (g *alignGroup) join(t *task) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wm[t] = math.MinInt64
	g.recomputeLocked()
}

// update records t's watermark (active) or that t is idle or finished
// (!active: it no longer holds the group back).
func (g *alignGroup) update(t *task, wm time.Time, active bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if active {
		g.wm[t] = wm.UnixNano()
	} else {
		delete(g.wm, t)
	}
	g.recomputeLocked()
}

func (g *alignGroup) recomputeLocked() {
	m := int64(math.MaxInt64)
	for _, w := range g.wm {
		m = min(m, w)
	}
	if m != g.min {
		g.min = m
		close(g.moved)
		g.moved = make(chan struct{})
	}
}

// hold reports whether t must pause, and if so returns a channel closed
// when it should check again.
func (g *alignGroup) hold(t *task) (<-chan struct{}, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w, ok := g.wm[t]
	if !ok || g.min == math.MinInt64 && w == math.MinInt64 {
		return nil, false
	}
	// w - min > maxDrift, without overflow when min is MinInt64.
	if g.min == math.MinInt64 || w-g.min > g.maxDrift {
		return g.moved, true
	}
	return nil, false
}
