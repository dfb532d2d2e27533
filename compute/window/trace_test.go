package window

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func parseTimes(t *testing.T, lines ...string) []int64 {
	t.Helper()
	var out []int64
	for _, l := range lines {
		for _, f := range strings.Fields(l) {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				t.Fatalf("bad time %q: %v", f, err)
			}
			out = append(out, v)
		}
	}
	return out
}

func parseWindow(t *testing.T, s string) Window {
	t.Helper()
	var w Window
	if _, err := fmt.Sscanf(s, "[%d,%d)", &w.Start, &w.End); err != nil {
		t.Fatalf("bad window %q: %v", s, err)
	}
	return w
}

func dur(t *testing.T, d *ddCase, name string) time.Duration {
	t.Helper()
	v, err := time.ParseDuration(d.argOr(name, "0s"))
	if err != nil {
		t.Fatalf("%s: %s: %v", d.Pos, name, err)
	}
	return v
}

func specOf(t *testing.T, d *ddCase) Spec {
	t.Helper()
	kinds := map[string]Kind{"tumbling": Tumbling, "sliding": Sliding, "session": Session, "global": GlobalWindows,
		"count-tumbling": CountTumbling, "count-sliding": CountSliding}
	k, ok := kinds[d.arg(t, "kind")]
	if !ok {
		t.Fatalf("%s: unknown kind", d.Pos)
	}
	s := Spec{Kind: k, Size: dur(t, d, "size"), Slide: dur(t, d, "slide"), Offset: dur(t, d, "offset"),
		Gap: dur(t, d, "gap"), AllowedLateness: dur(t, d, "lateness")}
	s.Count, _ = strconv.ParseInt(d.argOr("count", "0"), 10, 64)
	s.CountSlide, _ = strconv.ParseInt(d.argOr("count-slide", "0"), 10, 64)
	if d.argOr("domain", "event") == "processing" {
		s.Domain = ProcessingTime
	}
	return s
}

func windowsString(r Range) string {
	var parts []string
	for w := range r.All() {
		parts = append(parts, w.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func TestAssignTrace(t *testing.T) {
	runDataDriven(t, "testdata/assign", func(t *testing.T, d *ddCase) string {
		spec := specOf(t, d)
		times := parseTimes(t, d.Input...)
		var b strings.Builder
		switch spec.Kind {
		case Tumbling, Sliding:
			s, err := spec.Slicer()
			if err != nil {
				return err.Error()
			}
			fmt.Fprintf(&b, "slice width %d, %d slices per window\n", s.SliceWidth(), s.SlicesPerWindow())
			slices, unassigned := s.AssignSlices(times, nil)
			for i, tm := range times {
				if slices[i] == NoSlice {
					fmt.Fprintf(&b, "t=%d: no window\n", tm)
					continue
				}
				fmt.Fprintf(&b, "t=%d: slice %v in %s; next end %d\n", tm, s.Slice(slices[i]),
					windowsString(s.WindowsOfSlice(slices[i])), s.NextWindowEnd(tm))
			}
			fmt.Fprintf(&b, "unassigned: %d", unassigned)
		case Session:
			if err := spec.Validate(); err != nil {
				return err.Error()
			}
			rows := make([]int32, len(times))
			for i := range rows {
				rows[i] = int32(i)
			}
			for _, r := range CollapseSessions(times, rows, spec.GapMillis(), nil) {
				var ts []int64
				for _, i := range r.Rows {
					ts = append(ts, times[i])
				}
				fmt.Fprintf(&b, "run %v rows at %v\n", r.Window, ts)
			}
		default:
			if err := spec.Validate(); err != nil {
				return err.Error()
			}
			fmt.Fprintf(&b, "all rows in %v; trigger %v; evictor %v", Global, spec.DefaultTrigger(), spec.DefaultEvictor())
		}
		return b.String()
	})
}

func TestSessionTrace(t *testing.T) {
	runDataDriven(t, "testdata/sessions", func(t *testing.T, d *ddCase) string {
		var set SessionSet
		var m Merge
		var b strings.Builder
		for _, l := range d.Input {
			f := strings.Fields(l)
			switch f[0] {
			case "add":
				w := parseWindow(t, f[1])
				set.Add(w, &m)
				switch {
				case m.New:
					fmt.Fprintf(&b, "add %v: new session\n", w)
				case len(m.Merged) == 0:
					fmt.Fprintf(&b, "add %v: inside %v (state %v)\n", w, m.Window, m.State)
				default:
					fmt.Fprintf(&b, "add %v: merged %v into %v; state %v absorbs %v\n", w, m.Merged, m.Window, m.State, m.MergedStates)
				}
			case "remove":
				w := parseWindow(t, f[1])
				fmt.Fprintf(&b, "remove %v: %v\n", w, set.Remove(w))
			case "roundtrip":
				enc, _ := set.AppendBinary(nil)
				var back SessionSet
				if err := back.UnmarshalBinary(enc); err != nil {
					fmt.Fprintf(&b, "roundtrip: %v\n", err)
				} else {
					e2, _ := back.AppendBinary(nil)
					fmt.Fprintf(&b, "roundtrip: %d bytes, equal %v\n", len(enc), string(e2) == string(enc))
				}
			default:
				t.Fatalf("%s: unknown op %q", d.Pos, l)
			}
			var parts []string
			for w, st := range set.All() {
				parts = append(parts, fmt.Sprintf("%v@%v", w, st))
			}
			fmt.Fprintf(&b, "  set: %s\n", strings.Join(parts, " "))
		}
		return b.String()
	})
}

func parseTrigger(t *testing.T, s string) Trigger {
	t.Helper()
	name, arg, _ := strings.Cut(s, ":")
	n, _ := strconv.ParseInt(arg, 10, 64)
	switch name {
	case "", "default":
		return nil
	case "event":
		return EventTimeTrigger{}
	case "proc":
		return ProcessingTimeTrigger{}
	case "count":
		return CountTrigger{Max: n}
	case "cont-event":
		return ContinuousEventTimeTrigger{Interval: n}
	case "cont-proc":
		return ContinuousProcessingTimeTrigger{Interval: n}
	case "never":
		return NeverTrigger{}
	case "purging":
		return Purging{Inner: parseTrigger(t, arg)}
	}
	t.Fatalf("unknown trigger %q", s)
	return nil
}

func parseEvictor(t *testing.T, s string) Evictor {
	t.Helper()
	if s == "" {
		return nil
	}
	name, arg, _ := strings.Cut(s, ":")
	after := strings.HasSuffix(arg, ":after")
	n, _ := strconv.ParseInt(strings.TrimSuffix(arg, ":after"), 10, 64)
	switch name {
	case "count":
		return CountEvictor{Max: n, After: after}
	case "time":
		return TimeEvictor{Size: n, After: after}
	}
	t.Fatalf("unknown evictor %q", s)
	return nil
}

// TestOperatorTrace drives the reference operator (sim) through rows,
// watermarks and processing-time advances, printing triggers, timers, fires,
// purges, merges, cleanups and late rows.
func TestOperatorTrace(t *testing.T) {
	runDataDriven(t, "testdata/operator", func(t *testing.T, d *ddCase) string {
		spec := specOf(t, d)
		// purging:count:3 -> Purging{Count 3}
		trig := parseTrigger(t, d.argOr("trigger", ""))
		s, err := newSim(spec, trig, parseEvictor(t, d.argOr("evictor", "")))
		if err != nil {
			return err.Error()
		}
		if trig != nil {
			if err := ValidateTrigger(trig); err != nil {
				return err.Error()
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "trigger %v\n", s.trig)
		for _, l := range d.Input {
			f := strings.Fields(l)
			b.WriteString(l + "\n")
			switch f[0] {
			case "rows":
				s.rows(parseTimes(t, f[1:]...))
			case "watermark":
				s.advance(false, parseTimes(t, f[1])[0])
			case "proctime":
				s.advance(true, parseTimes(t, f[1])[0])
			default:
				t.Fatalf("%s: unknown op %q", d.Pos, l)
			}
			b.WriteString(s.flush())
		}
		fmt.Fprintf(&b, "side output: %v", s.sideOut)
		return b.String()
	})
}

func TestLatenessTrace(t *testing.T) {
	runDataDriven(t, "testdata/lateness", func(t *testing.T, d *ddCase) string {
		spec := specOf(t, d)
		wm := parseTimes(t, d.arg(t, "wm"))[0]
		var b strings.Builder
		if d.Cmd == "window" {
			for _, l := range d.Input {
				w := parseWindow(t, l)
				fmt.Fprintf(&b, "%v: %v (cleanup at %d)\n", w, ClassifyWindow(w, wm, spec.Lateness()), CleanupTime(w, spec.Lateness()))
			}
			return b.String()
		}
		s, err := spec.Slicer()
		if err != nil {
			return err.Error()
		}
		times := parseTimes(t, d.Input...)
		slices, _ := s.AssignSlices(times, nil)
		status, tooLate := s.Classify(slices, wm, spec.Lateness(), nil)
		for i, tm := range times {
			fmt.Fprintf(&b, "t=%d: %v\n", tm, status[i])
		}
		fmt.Fprintf(&b, "too late: %d", tooLate)
		return b.String()
	})
}
