package window

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"sort"
)

// SessionSet is the merging window set of one key, like Flink's
// MergingWindowSet: the key's live session windows, sorted and pairwise
// disjoint (not even touching), each mapped to the state namespace that holds
// its contents. When windows merge, the merged window keeps the namespace of
// its earliest part, so the contents of only the other parts move.
//
// It is a plain data structure that lives in keyed state (AppendBinary /
// UnmarshalBinary). Not safe for concurrent use.
type SessionSet struct {
	entries []sessionEntry
}

type sessionEntry struct {
	Window, State Window
}

// Merge reports what SessionSet.Add did. Its slices are reused by the next
// Add that receives the same *Merge.
type Merge struct {
	// Window is the session window the added window now belongs to.
	Window Window
	// State is the state namespace holding Window's contents: where the new
	// rows go.
	State Window
	// New is set when the added window created a session of its own.
	New bool
	// Merged lists the session windows that Window replaced. For each, the
	// operator clears its trigger (deleting its timers and its cleanup timer)
	// after merging its trigger state into Window's (Trigger.OnMerge). Empty
	// when nothing merged.
	Merged []Window
	// MergedStates lists the state namespaces whose contents must be merged
	// into State and then cleared. It never contains State.
	MergedStates []Window
}

// Len is the number of live sessions.
func (s *SessionSet) Len() int { return len(s.entries) }

// All yields each session window and its state namespace, in start order.
func (s *SessionSet) All() iter.Seq2[Window, Window] {
	return func(yield func(Window, Window) bool) {
		for _, e := range s.entries {
			if !yield(e.Window, e.State) {
				return
			}
		}
	}
}

// StateWindow is the state namespace of session window w.
func (s *SessionSet) StateWindow(w Window) (Window, bool) {
	i, ok := s.find(w)
	if !ok {
		return Window{}, false
	}
	return s.entries[i].State, true
}

func (s *SessionSet) find(w Window) (int, bool) {
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].Window.Start >= w.Start })
	return i, i < len(s.entries) && s.entries[i].Window == w
}

// Add merges the window w (for a session, [t, t+gap) of a row at t) into
// the set and fills m. Every existing session that intersects w (Flink's rule:
// touching counts) merges with w into one session.
func (s *SessionSet) Add(w Window, m *Merge) {
	m.Merged, m.MergedStates, m.New = m.Merged[:0], m.MergedStates[:0], false
	// Sessions are sorted and disjoint, so those intersecting w are the
	// contiguous run [i, j).
	i := sort.Search(len(s.entries), func(i int) bool { return s.entries[i].Window.End >= w.Start })
	j := i
	for j < len(s.entries) && s.entries[j].Window.Start <= w.End {
		j++
	}
	switch {
	case i == j:
		s.entries = slices.Insert(s.entries, i, sessionEntry{Window: w, State: w})
		m.Window, m.State, m.New = w, w, true
		return
	case j == i+1 && s.entries[i].Window.Cover(w) == s.entries[i].Window:
		m.Window, m.State = s.entries[i].Window, s.entries[i].State
		return
	}
	cover := w
	for k := i; k < j; k++ {
		e := s.entries[k]
		cover = cover.Cover(e.Window)
		m.Merged = append(m.Merged, e.Window)
		if k > i {
			m.MergedStates = append(m.MergedStates, e.State)
		}
	}
	state := s.entries[i].State
	s.entries = slices.Replace(s.entries, i, j, sessionEntry{Window: cover, State: state})
	m.Window, m.State = cover, state
}

// Remove retires session window w (after it fired and was purged, or at its
// cleanup time). It reports whether w was in the set.
func (s *SessionSet) Remove(w Window) bool {
	i, ok := s.find(w)
	if ok {
		s.entries = slices.Delete(s.entries, i, i+1)
	}
	return ok
}

// Reset empties the set, keeping its memory.
func (s *SessionSet) Reset() { s.entries = s.entries[:0] }

const sessionEntrySize = 4 * 8

// AppendBinary appends the encoding of s to dst: a uvarint count, then per
// session its window and state namespace as four big-endian int64s.
func (s *SessionSet) AppendBinary(dst []byte) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(s.entries)))
	for _, e := range s.entries {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Window.Start))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Window.End))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.State.Start))
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.State.End))
	}
	return dst, nil
}

// UnmarshalBinary replaces s with the set encoded in b, checking that the
// sessions are sorted and disjoint.
func (s *SessionSet) UnmarshalBinary(b []byte) error {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) != n*sessionEntrySize {
		return fmt.Errorf("%w: session set of %d bytes", ErrCorrupt, len(b))
	}
	b = b[k:]
	s.entries = slices.Grow(s.entries[:0], int(n))
	for range n {
		u := func(o int) int64 { return int64(binary.BigEndian.Uint64(b[o:])) }
		e := sessionEntry{Window: Window{u(0), u(8)}, State: Window{u(16), u(24)}}
		if e.Window.Start >= e.Window.End {
			return fmt.Errorf("%w: session window %v is empty", ErrCorrupt, e.Window)
		}
		if l := len(s.entries); l > 0 && s.entries[l-1].Window.End >= e.Window.Start {
			return fmt.Errorf("%w: session windows %v and %v overlap", ErrCorrupt, s.entries[l-1].Window, e.Window)
		}
		s.entries = append(s.entries, e)
		b = b[sessionEntrySize:]
	}
	return nil
}

// SessionRun is a group of one key's rows whose session windows merge with
// each other: Window is the union of their [t, t+gap) windows.
type SessionRun struct {
	Window Window
	// Rows are the rows of the run, ascending by time (a sub-slice of the
	// rows passed to CollapseSessions).
	Rows []int32
}

// CollapseSessions is the batch path for sessions: it sorts rows (indices
// into times) by time in place and groups them into runs whose session
// windows of gap touch or overlap, appending one SessionRun per run to dst.
// The operator then calls SessionSet.Add once per run instead of once per
// row; the resulting sessions are the same as adding the rows one by one.
func CollapseSessions(times []int64, rows []int32, gap int64, dst []SessionRun) []SessionRun {
	slices.SortStableFunc(rows, func(a, b int32) int { return cmp.Compare(times[a], times[b]) })
	for k := 0; k < len(rows); {
		w := SessionWindow(times[rows[k]], gap)
		l := k + 1
		for l < len(rows) && times[rows[l]] <= w.End {
			w.End = max(w.End, times[rows[l]]+gap)
			l++
		}
		dst = append(dst, SessionRun{Window: w, Rows: rows[k:l]})
		k = l
	}
	return dst
}
