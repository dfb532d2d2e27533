package runtime

import (
	"context"
	"time"

	"github.com/sluicedata/sluice/compute"
)

// channel connects one upstream subtask to one downstream subtask.
type channel struct {
	ch     chan compute.Message
	notify chan struct{} // the receiving gate's wake-up
}

func newChannel(capacity int, notify chan struct{}) *channel {
	return &channel{ch: make(chan compute.Message, capacity), notify: notify}
}

// send blocks while the channel is full, which is backpressure. On error the
// message's batch is released.
func (c *channel) send(ctx context.Context, m compute.Message) error {
	select {
	case c.ch <- m:
	default:
		select {
		case c.ch <- m:
		case <-ctx.Done():
			if m.Batch != nil {
				m.Batch.Release()
			}
			return ctx.Err()
		}
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

// drain releases every batch left in the channel. Call it only once nobody
// sends any more.
func (c *channel) drain() {
	for {
		select {
		case m := <-c.ch:
			if m.Batch != nil {
				m.Batch.Release()
			}
		default:
			return
		}
	}
}

// inChannel is the gate's view of one incoming channel.
type inChannel struct {
	*channel
	input     int // which of the operator's inputs it feeds
	ended     bool
	blocked   bool // holding back behind a barrier
	idle      bool // the sender is idle: it does not hold back the watermark
	watermark time.Time
}

// inputGate merges a task's incoming channels.
type inputGate struct {
	chans  []*inChannel
	notify chan struct{}
	next   int // round-robin start
	open   int // channels that have not ended

	watermark time.Time // last combined watermark returned
	idle      bool      // every open channel is idle, and downstream was told
	// barrier alignment
	aligning bool
	barrier  compute.Barrier
	arrived  int
	finished bool
}

func newInputGate(notify chan struct{}) *inputGate {
	return &inputGate{notify: notify}
}

func (g *inputGate) add(c *channel, input int) {
	g.chans = append(g.chans, &inChannel{channel: c, input: input})
	g.open++
}

// gateEvent is what the gate returns: a message and the operator input it is for.
type gateEvent struct {
	compute.Message
	input int
}

// poll returns the next event without blocking. ok is false when no channel
// has anything deliverable.
func (g *inputGate) poll() (ev gateEvent, ok bool) {
	n := len(g.chans)
	for k := 0; k < n; k++ {
		i := g.next + k
		if i >= n {
			i -= n
		}
		c := g.chans[i]
		if c.ended || c.blocked {
			continue
		}
		select {
		case m := <-c.ch:
			g.next = i + 1
			if ev, ok := g.handle(c, m); ok {
				return ev, true
			}
			k = -1 // rescan from the next channel: state changed
			if g.finished {
				return gateEvent{}, false
			}
		default:
		}
	}
	return gateEvent{}, false
}

// handle turns a raw channel message into a gate event, if it yields one.
func (g *inputGate) handle(c *inChannel, m compute.Message) (gateEvent, bool) {
	switch m.Kind {
	case compute.KindBatch:
		c.idle = false
		g.idle = false
		return gateEvent{Message: m, input: c.input}, true
	case compute.KindWatermark:
		if m.Idle {
			c.idle = true
			return g.combinedWatermark()
		}
		c.idle = false
		if m.Watermark.After(c.watermark) {
			c.watermark = m.Watermark
		}
		return g.combinedWatermark()
	case compute.KindBarrier:
		if !g.aligning {
			g.aligning, g.barrier, g.arrived = true, m.Barrier, 0
		}
		c.blocked = true
		g.arrived++
		return g.checkAligned()
	case compute.KindEndOfInput:
		c.ended = true
		g.open--
		if g.aligning && c.blocked {
			g.arrived--
		}
		c.blocked = false
		if g.open == 0 {
			g.finished = true
			return gateEvent{Message: compute.Message{Kind: compute.KindEndOfInput}}, true
		}
		if ev, ok := g.checkAligned(); ok {
			return ev, true
		}
		return g.combinedWatermark()
	}
	return gateEvent{}, false
}

func (g *inputGate) checkAligned() (gateEvent, bool) {
	if !g.aligning || g.arrived < g.open {
		return gateEvent{}, false
	}
	for _, c := range g.chans {
		c.blocked = false
	}
	g.aligning = false
	return gateEvent{Message: compute.Message{Kind: compute.KindBarrier, Barrier: g.barrier}}, true
}

// combinedWatermark returns a watermark event when the minimum over open,
// active channels has advanced, or an idle event when every open channel has
// become idle.
func (g *inputGate) combinedWatermark() (gateEvent, bool) {
	var min time.Time
	first, open := true, 0
	for _, c := range g.chans {
		if c.ended {
			continue
		}
		open++
		if c.idle {
			continue
		}
		if first || c.watermark.Before(min) {
			min, first = c.watermark, false
		}
	}
	if first {
		if open > 0 && !g.idle {
			g.idle = true
			return gateEvent{Message: compute.Message{Kind: compute.KindWatermark, Idle: true}}, true
		}
		return gateEvent{}, false
	}
	g.idle = false
	if !min.After(g.watermark) {
		return gateEvent{}, false
	}
	g.watermark = min
	return gateEvent{Message: compute.Message{Kind: compute.KindWatermark, Watermark: min}}, true
}
