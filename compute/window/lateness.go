package window

import "math"

// Status classifies a row or a window against the current watermark.
type Status uint8

const (
	// OnTime: no window the row belongs to has fired yet.
	OnTime Status = iota
	// Late: a window of the row has already fired but is within its allowed
	// lateness: the row is added and that window fires again.
	Late
	// TooLate: every window of the row is past its allowed lateness. The
	// operator must count the row and route it to the late-data side output;
	// it is never dropped silently.
	TooLate
	// NoWindow: the row falls between sliding windows (slide > size) and
	// belongs to no window. Not late; the operator counts such rows.
	NoWindow
)

func (s Status) String() string {
	switch s {
	case OnTime:
		return "on-time"
	case Late:
		return "late"
	case TooLate:
		return "too-late"
	case NoWindow:
		return "no-window"
	}
	return "status(?)"
}

// NoWatermark is the watermark before the first one arrives.
const NoWatermark int64 = math.MinInt64

// ClassifyWindow classifies window w under watermark wm (milliseconds) and
// allowed lateness (milliseconds): OnTime while wm < w.MaxTimestamp(); Late
// while wm < w.MaxTimestamp()+lateness (its state is kept and late rows fire
// it again); TooLate after (Flink's isWindowLate): the window's state is gone.
func ClassifyWindow(w Window, wm, lateness int64) Status {
	maxTs := w.MaxTimestamp()
	switch {
	case wm < maxTs:
		return OnTime
	case wm < satAdd(maxTs, lateness):
		return Late
	}
	return TooLate
}

// CleanupTime is when the state of w can be dropped: the watermark at which
// w becomes TooLate (Flink's cleanup timer at maxTimestamp + lateness).
func CleanupTime(w Window, lateness int64) int64 { return satAdd(w.MaxTimestamp(), lateness) }

func satAdd(a, b int64) int64 {
	if s := a + b; b >= 0 && s < a {
		return math.MaxInt64
	} else {
		return s
	}
}

// Classify writes the status of each row of a sliced (tumbling or sliding)
// event-time window into dst (grown as needed and returned), given the rows'
// slice starts from AssignSlices, and returns the number of TooLate rows. A
// row is TooLate when the last window of its slice is TooLate, Late when its
// first window has fired (the operator fires again each of the slice's
// windows that ClassifyWindow calls Late), OnTime otherwise.
func (s *Slicer) Classify(slices []int64, wm, lateness int64, dst []Status) (out []Status, tooLate int) {
	if cap(dst) < len(slices) {
		dst = make([]Status, len(slices))
	}
	dst = dst[:len(slices)]
	if wm == NoWatermark {
		for i, sl := range slices {
			dst[i] = OnTime
			if sl == NoSlice {
				dst[i] = NoWindow
			}
		}
		return dst, 0
	}
	// Cache the decision per slice: rows of a batch share few slices.
	cur, curStatus := int64(NoSlice), NoWindow
	for i, sl := range slices {
		if sl != cur {
			cur = sl
			if sl == NoSlice {
				curStatus = NoWindow
			} else {
				r := s.WindowsOfSlice(sl)
				switch {
				case ClassifyWindow(r.Last(), wm, lateness) == TooLate:
					curStatus = TooLate
				case ClassifyWindow(r.At(0), wm, lateness) != OnTime:
					curStatus = Late
				default:
					curStatus = OnTime
				}
			}
		}
		dst[i] = curStatus
		if curStatus == TooLate {
			tooLate++
		}
	}
	return dst, tooLate
}
