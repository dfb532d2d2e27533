package window

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// EvictInput is a window's buffered rows, shown to an evictor.
type EvictInput struct {
	Window Window
	// Rows are the window's rows in arrival order.
	Rows arrow.RecordBatch
	// Times are the rows' event times (len Rows.NumRows()); nil when the
	// rows carry no event time (processing time), in which case a
	// TimeEvictor keeps everything, as in Flink.
	Times []int64
}

// Evictor removes rows from a window's buffer before and/or after the window
// function runs (Flink's Evictor). Both methods append to keep the indices of
// the rows that stay, ascending, and return it; the operator then takes those
// rows (e.g. exchange.Take) and, after EvictAfter, stores them back. An
// evictor forces the operator to buffer rows rather than aggregate
// incrementally.
type Evictor interface {
	EvictBefore(in *EvictInput, keep []int32) ([]int32, error)
	EvictAfter(in *EvictInput, keep []int32) ([]int32, error)
}

func keepAll(n int, keep []int32) []int32 {
	for i := range n {
		keep = append(keep, int32(i))
	}
	return keep
}

func numRows(in *EvictInput) int {
	if in.Rows == nil {
		return len(in.Times)
	}
	return int(in.Rows.NumRows())
}

// CountEvictor keeps the last Max rows (the latest arrivals). It runs before
// the window function, or after it when After is set.
type CountEvictor struct {
	Max   int64
	After bool
}

func (e CountEvictor) evict(in *EvictInput, keep []int32) []int32 {
	n := numRows(in)
	from := 0
	if int64(n) > e.Max {
		from = n - int(e.Max)
	}
	for i := from; i < n; i++ {
		keep = append(keep, int32(i))
	}
	return keep
}

func (e CountEvictor) EvictBefore(in *EvictInput, keep []int32) ([]int32, error) {
	if e.After {
		return keepAll(numRows(in), keep), nil
	}
	return e.evict(in, keep), nil
}

func (e CountEvictor) EvictAfter(in *EvictInput, keep []int32) ([]int32, error) {
	if !e.After {
		return keepAll(numRows(in), keep), nil
	}
	return e.evict(in, keep), nil
}

// TimeEvictor keeps the rows whose time is within Size milliseconds of the
// latest row time in the buffer: it evicts rows with time <= max - Size.
type TimeEvictor struct {
	Size  int64
	After bool
}

func (e TimeEvictor) evict(in *EvictInput, keep []int32) []int32 {
	if in.Times == nil {
		return keepAll(numRows(in), keep)
	}
	if len(in.Times) == 0 {
		return keep
	}
	hi := in.Times[0]
	for _, t := range in.Times {
		hi = max(hi, t)
	}
	cutoff := hi - e.Size
	for i, t := range in.Times {
		if t > cutoff {
			keep = append(keep, int32(i))
		}
	}
	return keep
}

func (e TimeEvictor) EvictBefore(in *EvictInput, keep []int32) ([]int32, error) {
	if e.After {
		return keepAll(numRows(in), keep), nil
	}
	return e.evict(in, keep), nil
}

func (e TimeEvictor) EvictAfter(in *EvictInput, keep []int32) ([]int32, error) {
	if !e.After {
		return keepAll(numRows(in), keep), nil
	}
	return e.evict(in, keep), nil
}

// DeltaFunc computes, for every row of rows, its delta to row last, into
// out (len rows.NumRows()). It is user code, called once per eviction with
// the whole buffer.
type DeltaFunc func(rows arrow.RecordBatch, last int, out []float64) error

// DeltaEvictor evicts the rows whose delta to the last row (the latest
// arrival) is at least Threshold.
type DeltaEvictor struct {
	Threshold float64
	Delta     DeltaFunc
	After     bool
	scratch   []float64
}

func (e *DeltaEvictor) evict(in *EvictInput, keep []int32) ([]int32, error) {
	n := numRows(in)
	if n == 0 {
		return keep, nil
	}
	if in.Rows == nil {
		return nil, fmt.Errorf("%w: delta evictor needs the window's rows", ErrUnsupported)
	}
	if cap(e.scratch) < n {
		e.scratch = make([]float64, n)
	}
	d := e.scratch[:n]
	if err := e.Delta(in.Rows, n-1, d); err != nil {
		return nil, fmt.Errorf("window: delta evictor: %w", err)
	}
	for i, v := range d {
		if v < e.Threshold {
			keep = append(keep, int32(i))
		}
	}
	return keep, nil
}

func (e *DeltaEvictor) EvictBefore(in *EvictInput, keep []int32) ([]int32, error) {
	if e.After {
		return keepAll(numRows(in), keep), nil
	}
	return e.evict(in, keep)
}

func (e *DeltaEvictor) EvictAfter(in *EvictInput, keep []int32) ([]int32, error) {
	if !e.After {
		return keepAll(numRows(in), keep), nil
	}
	return e.evict(in, keep)
}

func phase(after bool) string {
	if after {
		return "after"
	}
	return "before"
}

func (e CountEvictor) String() string {
	return fmt.Sprintf("CountEvictor(%d, %s)", e.Max, phase(e.After))
}
func (e TimeEvictor) String() string {
	return fmt.Sprintf("TimeEvictor(%d, %s)", e.Size, phase(e.After))
}
func (e *DeltaEvictor) String() string {
	return fmt.Sprintf("DeltaEvictor(%g, %s)", e.Threshold, phase(e.After))
}

var (
	_ Evictor = CountEvictor{}
	_ Evictor = TimeEvictor{}
	_ Evictor = (*DeltaEvictor)(nil)
)
