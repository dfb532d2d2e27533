package state

import (
	"context"
	"fmt"

	"github.com/sluicedata/sluice/statestore"
)

// sweepCursor is where the incremental TTL sweep resumes: the state ID, the
// key group, and the last key examined (nil: start of the segment).
type sweepCursor struct {
	id   int // state ID being swept; 0 before the first call
	kg   uint16
	last []byte
}

// SweepStats reports one Sweep call.
type SweepStats struct {
	// Scanned and Deleted count the entries examined and deleted.
	Scanned, Deleted int
	// Wrapped is set when the sweep finished a full pass over every TTL
	// state and started again from the beginning.
	Wrapped bool
}

// Sweep examines up to budget entries of the states that have a TTL,
// continuing where the previous call stopped, and buffers a delete for each
// entry that has expired on the backend's clock. Call it from the subtask's
// goroutine when it is idle or between batches; a full pass over the state
// takes (entries / budget) calls. Deletes are applied at the next Flush.
//
// The store hides entries that expired on its own clock and the LSM drops
// them in compaction, so with one clock for both the sweep mostly finds what
// the store still shows (a store clock behind the backend's, or entries
// whose TTL a later write shortened). It is the backstop, not the main
// mechanism.
func (b *Backend) Sweep(ctx context.Context, budget int) (SweepStats, error) {
	var stats SweepStats
	if budget <= 0 {
		return stats, nil
	}
	if !b.hasTTLStates() {
		return stats, nil
	}
	if err := b.Flush(ctx); err != nil {
		return stats, err
	}
	now := b.now()
	c := &b.sweep
	if c.id == 0 || b.states[c.id] == nil || !b.states[c.id].ttl.Enabled() {
		b.sweepAdvance(true, &stats)
	}
	startID, startKG := c.id, c.kg
	for stats.Scanned < budget {
		st := b.states[c.id]
		lower := statestore.AppendKeyGroup(nil, c.kg)
		lower = append(lower, st.id)
		upper := PrefixEnd(nil, lower)
		if c.last != nil {
			lower = append(append([]byte(nil), c.last...), 0) // first key after last
		}
		it, err := b.store.Scan(ctx, lower, upper)
		if err != nil {
			return stats, fmt.Errorf("state %s: sweep of %s state %q, key group %d: %w", b.name, st.kind, st.name, c.kg, err)
		}
		exhausted := true
		for ok := it.First(); ok; ok = it.Next() {
			if stats.Scanned >= budget {
				exhausted = false
				break
			}
			stats.Scanned++
			b.metrics.SweepScanned++
			c.last = append(c.last[:0], it.Key()...)
			_, _, live, err := b.decode(st, it.Value(), now)
			if err != nil {
				it.Close()
				return stats, fmt.Errorf("state %s: sweep: key %x: %w", b.name, it.Key(), err)
			}
			if !live {
				stats.Deleted++
				b.metrics.SweepDeleted++
				b.metrics.Writes++
				b.wb.Delete(it.Key())
			}
		}
		if err := it.Close(); err != nil {
			return stats, fmt.Errorf("state %s: sweep of %s state %q, key group %d: %w", b.name, st.kind, st.name, c.kg, err)
		}
		if !exhausted {
			break
		}
		b.sweepAdvance(false, &stats)
		if c.id == startID && c.kg == startKG && c.last == nil {
			break // one full lap within this call
		}
	}
	return stats, nil
}

func (b *Backend) hasTTLStates() bool {
	for _, st := range b.states {
		if st != nil && st.ttl.Enabled() {
			return true
		}
	}
	return false
}

// sweepAdvance moves the cursor to the next (key group, TTL state) segment.
// It orders segments by key group, then state ID, like the keys.
func (b *Backend) sweepAdvance(restart bool, stats *SweepStats) {
	c := &b.sweep
	c.last = nil
	if restart {
		c.kg = b.owned.Start
		c.id = 0
	}
	for {
		c.id++
		if c.id >= len(b.states) {
			c.id = 0
			c.kg++
			if c.kg >= b.owned.End {
				c.kg = b.owned.Start
				if !restart {
					stats.Wrapped = true
				}
			}
			continue
		}
		if st := b.states[c.id]; st != nil && st.ttl.Enabled() {
			return
		}
	}
}
