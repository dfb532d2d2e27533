package stream

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// Assigner places rows into windows; build one with Tumbling, Sliding,
// Session, CountWindow or Global.
type Assigner func(w *sluicev1.WindowNode)

// Tumbling windows of a fixed size.
func Tumbling(size time.Duration) Assigner {
	return func(w *sluicev1.WindowNode) {
		w.Assigner = &sluicev1.WindowNode_Tumbling{Tumbling: &sluicev1.TumblingWindow{Size: durationpb.New(size)}}
	}
}

// Sliding (hopping) windows of size, one starting every slide.
func Sliding(size, slide time.Duration) Assigner {
	return func(w *sluicev1.WindowNode) {
		w.Assigner = &sluicev1.WindowNode_Sliding{Sliding: &sluicev1.SlidingWindow{Size: durationpb.New(size), Slide: durationpb.New(slide)}}
	}
}

// Session windows that close after gap without rows.
func Session(gap time.Duration) Assigner {
	return func(w *sluicev1.WindowNode) {
		w.Assigner = &sluicev1.WindowNode_Session{Session: &sluicev1.SessionWindow{Gap: durationpb.New(gap)}}
	}
}

// CountWindow groups every size rows of a key, one window every slide rows
// (0: tumbling).
func CountWindow(size, slide int64) Assigner {
	return func(w *sluicev1.WindowNode) {
		w.Assigner = &sluicev1.WindowNode_Count{Count: &sluicev1.CountWindow{Size: size, Slide: slide}}
	}
}

// Global puts all rows of a key in one window; it needs a trigger.
func Global() Assigner {
	return func(w *sluicev1.WindowNode) {
		w.Assigner = &sluicev1.WindowNode_Global{Global: &sluicev1.GlobalWindow{}}
	}
}

// WindowOptions are the optional parts of a window.
type WindowOptions struct {
	// TimeColumn is the event-time column; leave empty with ProcessingTime.
	TimeColumn string
	// ProcessingTime assigns windows by the processing-time clock.
	ProcessingTime bool
	// AllowedLateness keeps windows open for late rows this long.
	AllowedLateness time.Duration
	// Trigger and Evictor override the defaults.
	Trigger *sluicev1.Trigger
	Evictor *sluicev1.Evictor
}

// Aggregate is one aggregate column; build it with Count, Sum, Min, Max, Avg,
// First, Last or CountDistinct.
type Aggregate = *sluicev1.Aggregate

// Agg is an aggregate by function name.
func Agg(name, function, expr string) Aggregate {
	return &sluicev1.Aggregate{Name: name, Function: function, Expr: expr}
}

// Count counts rows.
func Count(name string) Aggregate { return Agg(name, "count", "") }

// Sum adds up expr.
func Sum(name, expr string) Aggregate { return Agg(name, "sum", expr) }

// Min is the smallest expr.
func Min(name, expr string) Aggregate { return Agg(name, "min", expr) }

// Max is the largest expr.
func Max(name, expr string) Aggregate { return Agg(name, "max", expr) }

// Avg is the mean of expr.
func Avg(name, expr string) Aggregate { return Agg(name, "avg", expr) }

// First is expr of the first row.
func First(name, expr string) Aggregate { return Agg(name, "first", expr) }

// Last is expr of the last row.
func Last(name, expr string) Aggregate { return Agg(name, "last", expr) }

// CountDistinct counts the distinct non-NULL values of expr.
func CountDistinct(name, expr string) Aggregate { return Agg(name, "count_distinct", expr) }

// Window groups the stream by keys and windows and computes aggregates when
// windows fire. Rows too late for their window go to the side output "late":
// read it with LateRows.
func (s *Stream) Window(keys []string, a Assigner, opts WindowOptions, aggs ...Aggregate) *Stream {
	w := &sluicev1.WindowNode{
		Keys:           keys,
		TimeColumn:     opts.TimeColumn,
		ProcessingTime: opts.ProcessingTime,
		Trigger:        opts.Trigger,
		Evictor:        opts.Evictor,
		Aggregates:     aggs,
	}
	if opts.AllowedLateness != 0 {
		w.AllowedLateness = durationpb.New(opts.AllowedLateness)
	}
	a(w)
	return s.then("window", &sluicev1.Node{Kind: &sluicev1.Node_Window{Window: w}})
}

// LateRows is the side output of a window: the rows that arrived after their
// window's allowed lateness.
func (s *Stream) LateRows() *Stream {
	return &Stream{env: s.env, node: s.node, tag: "late"}
}

// JoinOptions are the optional parts of a join.
type JoinOptions struct {
	// Prefixes for the left and right column names in the joined row.
	LeftPrefix, RightPrefix string
	// Interval makes it an interval join; Window a window join.
	Interval *sluicev1.IntervalJoin
	Window   *sluicev1.WindowJoin
	// Condition is an extra boolean condition over the joined row.
	Condition string
	// Columns project the joined row; default all columns.
	Columns []Column
}

// Join is an inner equi-join of s (left) and right on the key columns.
func (s *Stream) Join(right *Stream, leftKeys, rightKeys []string, opts JoinOptions) *Stream {
	n := &sluicev1.Node{Kind: &sluicev1.Node_Join{Join: &sluicev1.JoinNode{
		LeftKeys: leftKeys, RightKeys: rightKeys,
		LeftPrefix: opts.LeftPrefix, RightPrefix: opts.RightPrefix,
		Interval: opts.Interval, Window: opts.Window,
		Condition: opts.Condition, Columns: opts.Columns,
	}}}
	out := s.then("join", n)
	n.Inputs = append(n.Inputs, right.ref())
	return out
}

// GroupAggregate is an unbounded group-by; its output is an updating stream.
func (s *Stream) GroupAggregate(keys []string, aggs ...Aggregate) *Stream {
	return s.then("aggregate", &sluicev1.Node{Kind: &sluicev1.Node_Aggregate{Aggregate: &sluicev1.AggregateNode{Keys: keys, Aggregates: aggs}}})
}

// SortKey is one ordering column of TopN.
type SortKey = *sluicev1.SortKey

// Asc orders by column ascending; Desc descending.
func Asc(column string) SortKey  { return &sluicev1.SortKey{Column: column} }
func Desc(column string) SortKey { return &sluicev1.SortKey{Column: column, Descending: true} }

// TopN keeps the first limit rows per partition in the given order; with
// rowNumber set, an output column of that name holds the rank. Its output is
// an updating stream.
func (s *Stream) TopN(limit int64, partitionBy []string, orderBy []SortKey, rowNumber string) *Stream {
	return s.then("top_n", &sluicev1.Node{Kind: &sluicev1.Node_TopN{TopN: &sluicev1.TopNNode{
		PartitionBy: partitionBy, OrderBy: orderBy, Limit: limit, RowNumber: rowNumber,
	}}})
}

// WatermarkOptions configure a source's event time.
type WatermarkOptions struct {
	// MaxOutOfOrderness is how far the watermark trails the largest time seen.
	MaxOutOfOrderness time.Duration
	// Expr computes each row's watermark candidate instead.
	Expr string
	// IdleTimeout marks a silent split idle.
	IdleTimeout time.Duration
}

// WithWatermark gives a source event time from column. It applies only to
// streams made by FromSource.
func (s *Stream) WithWatermark(column string, opts WatermarkOptions) *Stream {
	src := s.node.GetSource()
	if src == nil {
		if s.env.err == nil {
			s.env.err = errNotSource(s.node.Id)
		}
		return s
	}
	wm := &sluicev1.WatermarkSpec{Column: column, Expr: opts.Expr}
	if opts.MaxOutOfOrderness != 0 {
		wm.MaxOutOfOrderness = durationpb.New(opts.MaxOutOfOrderness)
	}
	if opts.IdleTimeout != 0 {
		wm.IdleTimeout = durationpb.New(opts.IdleTimeout)
	}
	src.Watermark = wm
	return s
}
