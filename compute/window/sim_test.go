package window

// sim is a single-key reference window operator built from the package's
// pieces, row-at-a-time where that is simpler and batch-at-a-time where the
// API is meant to be used that way. The data-driven trace tests drive it and
// print what happens.

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

type timerKey struct {
	w Window
	t int64
}

type sim struct {
	spec     Spec
	trig     Trigger
	ev       Evictor
	lateness int64
	gap      int64
	slicer   *Slicer
	wm, pt   int64

	contents map[Window][]int64       // by state namespace
	tstate   map[Window]*TriggerState // by actual window
	event    map[timerKey]bool
	proc     map[timerKey]bool
	sessions SessionSet
	sideOut  []int64
	log      *strings.Builder
	cur      Window // window of the trigger context
}

func newSim(spec Spec, trig Trigger, ev Evictor) (*sim, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	s := &sim{spec: spec, trig: trig, ev: ev, lateness: spec.Lateness(), gap: spec.GapMillis(),
		wm: NoWatermark, contents: map[Window][]int64{}, tstate: map[Window]*TriggerState{},
		event: map[timerKey]bool{}, proc: map[timerKey]bool{}, log: &strings.Builder{}}
	if trig == nil {
		s.trig = spec.DefaultTrigger()
	}
	if ev == nil {
		s.ev = spec.DefaultEvictor()
	}
	if spec.Kind == Tumbling || spec.Kind == Sliding {
		sl, err := spec.Slicer()
		if err != nil {
			return nil, err
		}
		s.slicer = sl
	}
	return s, nil
}

// TriggerContext for s.cur.
func (s *sim) Watermark() int64      { return s.wm }
func (s *sim) ProcessingTime() int64 { return s.pt }
func (s *sim) RegisterEventTimeTimer(t int64) {
	if k := (timerKey{s.cur, t}); !s.event[k] {
		s.event[k] = true
		fmt.Fprintf(s.log, "  +event-timer %v@%d\n", s.cur, t)
	}
}
func (s *sim) RegisterProcessingTimeTimer(t int64) {
	if k := (timerKey{s.cur, t}); !s.proc[k] {
		s.proc[k] = true
		fmt.Fprintf(s.log, "  +proc-timer %v@%d\n", s.cur, t)
	}
}
func (s *sim) DeleteEventTimeTimer(t int64) {
	if k := (timerKey{s.cur, t}); s.event[k] {
		delete(s.event, k)
		fmt.Fprintf(s.log, "  -event-timer %v@%d\n", s.cur, t)
	}
}
func (s *sim) DeleteProcessingTimeTimer(t int64) {
	if k := (timerKey{s.cur, t}); s.proc[k] {
		delete(s.proc, k)
		fmt.Fprintf(s.log, "  -proc-timer %v@%d\n", s.cur, t)
	}
}

func (s *sim) ts(w Window) *TriggerState {
	st, ok := s.tstate[w]
	if !ok {
		st = &TriggerState{}
		s.tstate[w] = st
	}
	return st
}

func (s *sim) stateOf(w Window) Window {
	if s.spec.IsMerging() {
		if st, ok := s.sessions.StateWindow(w); ok {
			return st
		}
	}
	return w
}

func (s *sim) cleanupTime(w Window) int64 {
	if w == Global {
		return NoWatermark // never
	}
	if s.spec.Domain == ProcessingTime {
		return w.MaxTimestamp()
	}
	return CleanupTime(w, s.lateness)
}

func (s *sim) registerCleanup(w Window) {
	if ct := s.cleanupTime(w); ct != NoWatermark {
		s.cur = w
		if s.spec.Domain == ProcessingTime {
			s.RegisterProcessingTimeTimer(ct)
		} else {
			s.RegisterEventTimeTimer(ct)
		}
	}
}

// rows processes one batch of row times.
func (s *sim) rows(times []int64) {
	pt := s.pt
	type group struct {
		w    Window
		rows []int64
	}
	var groups []*group
	byWin := map[Window]*group{}
	add := func(w Window, t int64) {
		g, ok := byWin[w]
		if !ok {
			g = &group{w: w}
			byWin[w] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, t)
	}
	domainTime := func(t int64) int64 {
		if s.spec.Domain == ProcessingTime {
			return pt
		}
		return t
	}
	switch s.spec.Kind {
	case Tumbling, Sliding:
		for _, t := range times {
			r := s.slicer.WindowsOf(domainTime(t))
			if r.N == 0 {
				fmt.Fprintf(s.log, "  row %d: no window\n", t)
				continue
			}
			live := 0
			for w := range r.All() {
				if s.spec.Domain == EventTime && ClassifyWindow(w, s.wm, s.lateness) == TooLate {
					continue
				}
				live++
				add(w, t)
			}
			if live == 0 {
				s.sideOut = append(s.sideOut, t)
				fmt.Fprintf(s.log, "  row %d: too late -> side output\n", t)
			}
		}
	case GlobalWindows, CountTumbling, CountSliding:
		for _, t := range times {
			add(Global, t)
		}
	case Session:
		idx := make([]int32, len(times))
		dt := make([]int64, len(times))
		for i, t := range times {
			idx[i], dt[i] = int32(i), domainTime(t)
		}
		var m Merge
		for _, run := range CollapseSessions(dt, idx, s.gap, nil) {
			s.sessions.Add(run.Window, &m)
			if s.spec.Domain == EventTime && ClassifyWindow(m.Window, s.wm, s.lateness) == TooLate {
				s.sessions.Remove(m.Window)
				for _, r := range run.Rows {
					s.sideOut = append(s.sideOut, times[r])
					fmt.Fprintf(s.log, "  row %d: too late -> side output\n", times[r])
				}
				continue
			}
			if len(m.Merged) > 0 {
				fmt.Fprintf(s.log, "  merge %v into %v (state %v, merged states %v)\n", m.Merged, m.Window, m.State, m.MergedStates)
				var merged []TriggerState
				for _, mw := range m.Merged {
					merged = append(merged, *s.ts(mw))
				}
				st := s.ts(m.Window)
				s.cur = m.Window
				s.trig.OnMerge(m.Window, st, merged, s)
				for _, mw := range m.Merged {
					s.cur = mw
					s.trig.Clear(mw, s.ts(mw), s)
					delete(s.tstate, mw)
					if ct := s.cleanupTime(mw); ct != NoWatermark {
						s.DeleteEventTimeTimer(ct)
					}
				}
				for _, ms := range m.MergedStates {
					s.contents[m.State] = append(s.contents[m.State], s.contents[ms]...)
					delete(s.contents, ms)
				}
			} else if m.New {
				fmt.Fprintf(s.log, "  new session %v\n", m.Window)
			}
			for _, r := range run.Rows {
				add(m.Window, times[r])
			}
		}
	}
	for _, g := range groups {
		s.registerCleanup(g.w)
		rows := g.rows
		for len(rows) > 0 {
			s.cur = g.w
			n, r := s.trig.OnElements(Elements{N: int64(len(rows)), FirstTime: rows[0]}, g.w, s.ts(g.w), s)
			ns := s.stateOf(g.w)
			s.contents[ns] = append(s.contents[ns], rows[:n]...)
			fmt.Fprintf(s.log, "  %v +%d rows: %v\n", g.w, n, r)
			s.act(g.w, r)
			rows = rows[n:]
		}
	}
}

func (s *sim) act(w Window, r Result) {
	ns := s.stateOf(w)
	if r.IsFire() {
		rows := s.contents[ns]
		if s.ev != nil {
			in := &EvictInput{Window: w, Times: rows}
			keep, _ := s.ev.EvictBefore(in, nil)
			kept := make([]int64, len(keep))
			for i, k := range keep {
				kept[i] = rows[k]
			}
			rows = kept
			s.contents[ns] = kept
		}
		fmt.Fprintf(s.log, "  FIRE %v rows=%v wm=%s\n", w, rows, wmString(s.wm))
		if s.ev != nil {
			in := &EvictInput{Window: w, Times: rows}
			keep, _ := s.ev.EvictAfter(in, nil)
			kept := make([]int64, len(keep))
			for i, k := range keep {
				kept[i] = rows[k]
			}
			s.contents[ns] = kept
		}
	}
	if r.IsPurge() {
		delete(s.contents, ns)
		fmt.Fprintf(s.log, "  PURGE %v\n", w)
	}
}

func wmString(wm int64) string {
	if wm == NoWatermark {
		return "none"
	}
	return fmt.Sprint(wm)
}

func (s *sim) advance(proc bool, to int64) {
	timers := s.event
	if proc {
		timers = s.proc
		s.pt = to
	} else {
		s.wm = to
	}
	for {
		var due []timerKey
		for k := range timers {
			if k.t <= to {
				due = append(due, k)
			}
		}
		if len(due) == 0 {
			return
		}
		slices.SortFunc(due, func(a, b timerKey) int {
			return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.w.Start, b.w.Start), cmp.Compare(a.w.End, b.w.End))
		})
		k := due[0]
		delete(timers, k)
		s.cur = k.w
		var r Result
		if proc {
			r = s.trig.OnProcessingTime(k.t, k.w, s.ts(k.w), s)
		} else {
			r = s.trig.OnEventTime(k.t, k.w, s.ts(k.w), s)
		}
		fmt.Fprintf(s.log, "  timer %v@%d: %v\n", k.w, k.t, r)
		s.act(k.w, r)
		if (s.spec.Domain == ProcessingTime) == proc && k.t == s.cleanupTime(k.w) {
			s.cur = k.w
			s.trig.Clear(k.w, s.ts(k.w), s)
			delete(s.tstate, k.w)
			delete(s.contents, s.stateOf(k.w))
			if s.spec.IsMerging() {
				s.sessions.Remove(k.w)
			}
			fmt.Fprintf(s.log, "  cleanup %v\n", k.w)
		}
	}
}

func (s *sim) flush() string {
	out := s.log.String()
	s.log.Reset()
	return out
}
