package window

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"time"
)

// TimeDomain says which clock drives a window: the rows' event time (and the
// watermark), or the operator's processing-time clock.
type TimeDomain uint8

const (
	EventTime TimeDomain = iota
	ProcessingTime
)

func (d TimeDomain) String() string {
	if d == ProcessingTime {
		return "processing-time"
	}
	return "event-time"
}

// Kind is the kind of window assigner.
type Kind uint8

const (
	// Tumbling windows: fixed size, no overlap.
	Tumbling Kind = iota
	// Sliding (hopping) windows: fixed size, a new window every Slide.
	Sliding
	// Session windows: a row opens [t, t+Gap); overlapping windows merge.
	Session
	// GlobalWindows: one window per key; nothing fires unless a trigger says so.
	GlobalWindows
	// CountTumbling: the global window with a purging count trigger of Count.
	CountTumbling
	// CountSliding: the global window, a count trigger of CountSlide and a
	// count evictor keeping the last Count rows.
	CountSliding
)

func (k Kind) String() string {
	switch k {
	case Tumbling:
		return "tumbling"
	case Sliding:
		return "sliding"
	case Session:
		return "session"
	case GlobalWindows:
		return "global"
	case CountTumbling:
		return "count-tumbling"
	case CountSliding:
		return "count-sliding"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Spec describes a window assigner the way Flink's DataStream API does. It is
// a plain value: validate it once with Validate, then build the pieces with
// Slicer, DefaultTrigger and DefaultEvictor.
type Spec struct {
	Kind   Kind
	Domain TimeDomain
	// Size is the window length (Tumbling, Sliding). Whole milliseconds.
	Size time.Duration
	// Slide is the distance between window starts (Sliding). A Slide larger
	// than Size is allowed, as in Flink: the windows sample the stream and
	// rows between two windows belong to no window (Slicer reports them as
	// unassigned, so the operator can count them).
	Slide time.Duration
	// Offset shifts window starts from the epoch (Tumbling, Sliding); its
	// absolute value must be below Size (Tumbling) or Slide (Sliding).
	Offset time.Duration
	// Gap is the session gap (Session).
	Gap time.Duration
	// Count is the window size in rows (CountTumbling, CountSliding).
	Count int64
	// CountSlide fires a CountSliding window every CountSlide rows.
	CountSlide int64
	// AllowedLateness keeps an event-time window's state for this long after
	// the watermark passed its end; late rows within it fire the window again.
	// Zero by default; never negative.
	AllowedLateness time.Duration
}

// Validate reports every problem with s at once (joined), each naming the
// field, the value and the reason.
func (s Spec) Validate() error {
	var err error
	positive := func(field string, d time.Duration) {
		if d <= 0 {
			err = errors.Join(err, cfgErr(field, d, "must be positive"))
		} else if _, e := millis(field, d); e != nil {
			err = errors.Join(err, e)
		}
	}
	switch s.Kind {
	case Tumbling:
		positive("size", s.Size)
		if s.Size > 0 && (s.Offset >= s.Size || s.Offset <= -s.Size) {
			err = errors.Join(err, cfgErr("offset", s.Offset, fmt.Sprintf("absolute value must be below size %v", s.Size)))
		}
	case Sliding:
		positive("size", s.Size)
		positive("slide", s.Slide)
		if s.Slide > 0 && (s.Offset >= s.Slide || s.Offset <= -s.Slide) {
			err = errors.Join(err, cfgErr("offset", s.Offset, fmt.Sprintf("absolute value must be below slide %v", s.Slide)))
		}
	case Session:
		positive("gap", s.Gap)
	case GlobalWindows:
	case CountTumbling, CountSliding:
		if s.Count <= 0 {
			err = errors.Join(err, cfgErr("count", s.Count, "must be positive"))
		}
		if s.Kind == CountSliding && s.CountSlide <= 0 {
			err = errors.Join(err, cfgErr("count_slide", s.CountSlide, "must be positive"))
		}
	default:
		err = errors.Join(err, cfgErr("kind", s.Kind, "unknown window kind"))
	}
	if s.Kind == Tumbling || s.Kind == Sliding || s.Kind == Session {
		if s.Offset%time.Millisecond != 0 {
			err = errors.Join(err, cfgErr("offset", s.Offset, "must be a whole number of milliseconds"))
		}
	}
	if s.AllowedLateness < 0 {
		err = errors.Join(err, cfgErr("allowed_lateness", s.AllowedLateness, "must not be negative"))
	} else if s.AllowedLateness%time.Millisecond != 0 {
		err = errors.Join(err, cfgErr("allowed_lateness", s.AllowedLateness, "must be a whole number of milliseconds"))
	}
	if s.Domain != EventTime && s.Domain != ProcessingTime {
		err = errors.Join(err, cfgErr("domain", s.Domain, "unknown time domain"))
	}
	return err
}

// Lateness is AllowedLateness in milliseconds; zero in processing time,
// where nothing is late.
func (s Spec) Lateness() int64 {
	if s.Domain == ProcessingTime {
		return 0
	}
	return int64(s.AllowedLateness / time.Millisecond)
}

// GapMillis is the session gap in milliseconds.
func (s Spec) GapMillis() int64 { return int64(s.Gap / time.Millisecond) }

// IsMerging reports whether windows of this kind merge (sessions).
func (s Spec) IsMerging() bool { return s.Kind == Session }

// Slicer builds the slicer of a Tumbling or Sliding spec.
func (s Spec) Slicer() (*Slicer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	switch s.Kind {
	case Tumbling:
		return newSlicer(s.Size, s.Size, s.Offset), nil
	case Sliding:
		return newSlicer(s.Size, s.Slide, s.Offset), nil
	}
	return nil, cfgErr("kind", s.Kind, "only tumbling and sliding windows are sliced")
}

// DefaultTrigger is Flink's default trigger for the assigner: an event-time
// or processing-time trigger at the window end for time windows, a purging
// count trigger for tumbling count windows, a count trigger of CountSlide for
// sliding count windows, and a trigger that never fires for global windows.
func (s Spec) DefaultTrigger() Trigger {
	switch s.Kind {
	case GlobalWindows:
		return NeverTrigger{}
	case CountTumbling:
		return Purging{Inner: CountTrigger{Max: s.Count}}
	case CountSliding:
		return CountTrigger{Max: s.CountSlide}
	}
	if s.Domain == ProcessingTime {
		return ProcessingTimeTrigger{}
	}
	return EventTimeTrigger{}
}

// DefaultEvictor is the evictor implied by the assigner: a count evictor of
// Count for sliding count windows, nil otherwise.
func (s Spec) DefaultEvictor() Evictor {
	if s.Kind == CountSliding {
		return CountEvictor{Max: s.Count}
	}
	return nil
}

// SessionWindow is the window a row at t opens in a session of gap
// milliseconds: [t, t+gap).
func SessionWindow(t, gap int64) Window { return Window{Start: t, End: t + gap} }

// NoSlice marks, in AssignSlices output, a row that belongs to no window
// (it falls between two sliding windows whose slide exceeds their size).
const NoSlice = math.MinInt64

// Slicer assigns rows of tumbling and sliding windows to slices (panes) of
// width gcd(size, slide), so each row updates exactly one piece of state. A
// window is the union of size/width consecutive slices, composed when it
// fires. For tumbling windows a slice is the window itself.
//
// Slices are identified by their start, or as the Window [start, start+width),
// which is also their state namespace. A Slicer is immutable and safe for
// concurrent use.
type Slicer struct {
	size, slide, offset, width int64
	gaps                       bool // slide > size: some slices are in no window
}

// NewTumbling returns the slicer of tumbling windows of size, shifted by
// offset.
func NewTumbling(size, offset time.Duration) (*Slicer, error) {
	return Spec{Kind: Tumbling, Size: size, Offset: offset}.Slicer()
}

// NewSliding returns the slicer of sliding windows of size starting every
// slide, shifted by offset.
func NewSliding(size, slide, offset time.Duration) (*Slicer, error) {
	return Spec{Kind: Sliding, Size: size, Slide: slide, Offset: offset}.Slicer()
}

func newSlicer(size, slide, offset time.Duration) *Slicer {
	sz, sl, off := int64(size/time.Millisecond), int64(slide/time.Millisecond), int64(offset/time.Millisecond)
	return &Slicer{size: sz, slide: sl, offset: off, width: gcd(sz, sl), gaps: sl > sz}
}

// Size, Slide, Offset and SliceWidth are in milliseconds.
func (s *Slicer) Size() int64       { return s.size }
func (s *Slicer) Slide() int64      { return s.slide }
func (s *Slicer) Offset() int64     { return s.offset }
func (s *Slicer) SliceWidth() int64 { return s.width }

// SlicesPerWindow is size / slice width: how many slices a window composes.
func (s *Slicer) SlicesPerWindow() int { return int(s.size / s.width) }

// Slice is the slice that starts at start.
func (s *Slicer) Slice(start int64) Window { return Window{Start: start, End: start + s.width} }

// SliceOf is the slice containing t; ok is false when t lies in no window.
func (s *Slicer) SliceOf(t int64) (slice Window, ok bool) {
	start := floorStart(t, s.offset, s.width)
	if s.gaps && !s.inWindow(start) {
		return Window{}, false
	}
	return s.Slice(start), true
}

// inWindow reports whether the slice starting at start lies in a window.
func (s *Slicer) inWindow(start int64) bool {
	return start-floorStart(start, s.offset, s.slide) < s.size
}

// AssignSlices writes the slice start of each row time into dst (grown as
// needed and returned) and counts the rows that belong to no window; those
// get NoSlice. It allocates only when dst is too small, and skips the
// division while consecutive rows stay in the same slice.
func (s *Slicer) AssignSlices(times []int64, dst []int64) (out []int64, unassigned int) {
	if cap(dst) < len(times) {
		dst = make([]int64, len(times))
	}
	dst = dst[:len(times)]
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64) // current slice [lo, hi)
	var cur int64
	width, offset := s.width, s.offset
	for i, t := range times {
		if t >= lo && t < hi {
			dst[i] = cur
			continue
		}
		r := (t - offset) % width
		if r < 0 {
			r += width
		}
		cur = t - r
		lo, hi = cur, cur+width
		if s.gaps && !s.inWindow(cur) {
			cur = NoSlice
		}
		dst[i] = cur
	}
	if s.gaps {
		for _, v := range dst {
			if v == NoSlice {
				unassigned++
			}
		}
	}
	return dst, unassigned
}

// Range is an arithmetic sequence of N windows: the i-th is
// [First + i*Step, First + i*Step + Width).
type Range struct {
	First, Step, Width int64
	N                  int
}

// At is the i-th window of r.
func (r Range) At(i int) Window {
	st := r.First + int64(i)*r.Step
	return Window{Start: st, End: st + r.Width}
}

// All yields the windows of r in start order.
func (r Range) All() iter.Seq[Window] {
	return func(yield func(Window) bool) {
		for i := 0; i < r.N; i++ {
			if !yield(r.At(i)) {
				return
			}
		}
	}
}

// Last is the last window of r; r must not be empty.
func (r Range) Last() Window { return r.At(r.N - 1) }

// WindowsOf is the windows that contain t, in start order: the naive
// per-row assignment (one window for tumbling, about size/slide for
// sliding, none in a gap). The operator uses WindowsOfSlice instead; this is
// the reference the slicing is tested against.
func (s *Slicer) WindowsOf(t int64) Range {
	last := floorStart(t, s.offset, s.slide)
	r := Range{Step: s.slide, Width: s.size}
	if last+s.size <= t {
		return r
	}
	// first start > t - size with the same phase as last.
	n := (last-(t-s.size)-1)/s.slide + 1
	r.First, r.N = last-(n-1)*s.slide, int(n)
	return r
}

// WindowsOfSlice is the windows that contain the whole slice starting at
// start, in start order (empty for a slice in a gap). A row's windows are its
// slice's windows.
func (s *Slicer) WindowsOfSlice(start int64) Range {
	// A window contains the slice iff it contains the slice's first instant.
	return s.WindowsOf(start)
}

// SlicesOfWindow is the slices that compose w, in start order.
func (s *Slicer) SlicesOfWindow(w Window) Range {
	return Range{First: w.Start, Step: s.width, Width: s.width, N: int((w.End - w.Start) / s.width)}
}

// LastWindowEnd is the end of the last window containing the slice starting
// at start: once the watermark passes LastWindowEnd-1+lateness, the slice's
// state can be dropped. It returns math.MinInt64 for a slice in no window.
func (s *Slicer) LastWindowEnd(start int64) int64 {
	r := s.WindowsOfSlice(start)
	if r.N == 0 {
		return math.MinInt64
	}
	return r.Last().End
}

// NextWindowEnd is the smallest window end strictly greater than t. Window
// ends form one arithmetic sequence (step slide), so an operator can keep a
// single event-time timer per key at the next end and re-arm it after firing.
func (s *Slicer) NextWindowEnd(t int64) int64 {
	// ends are start + size, starts ≡ offset (mod slide).
	return floorStart(t, s.offset+s.size, s.slide) + s.slide
}

// WindowEndingAt is the window whose end is end (end must be a window end).
func (s *Slicer) WindowEndingAt(end int64) Window { return Window{Start: end - s.size, End: end} }
