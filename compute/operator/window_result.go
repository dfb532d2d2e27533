package operator

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/compute/window"
)

// resultSet collects the fired windows of one firing round and emits them
// as one batch: key columns (decoded from the state keys), window_start,
// window_end and the aggregate results, appended straight into Arrow
// builders.
type resultSet struct {
	o      *WindowOperator
	keys   state.KeyBatch
	starts []int64
	ends   []int64
	late   []bool
	aggB   []array.Builder
	kbuf   [][]byte
	aggSch *arrow.Schema
}

func (r *resultSet) init(o *WindowOperator) {
	r.o = o
	r.aggB = make([]array.Builder, len(o.aggs))
	var fields []arrow.Field
	for i, f := range o.aggs {
		r.aggB[i] = array.NewBuilder(o.mem, f.ResultType())
		fields = append(fields, arrow.Field{Name: o.cfg.Aggregates[i].Name, Type: f.ResultType(), Nullable: true})
	}
	r.aggSch = arrow.NewSchema(fields, nil)
}

func (r *resultSet) release() {
	for _, b := range r.aggB {
		if b != nil {
			b.Release()
		}
	}
	r.aggB = nil
}

func (r *resultSet) len() int { return len(r.starts) }

// add appends one fired window's row.
func (r *resultSet) add(k state.Key, w window.Window, accs []*window.Accumulator, late bool) error {
	for i, a := range accs {
		if err := a.AppendResult(r.aggB[i]); err != nil {
			return err
		}
	}
	r.keys.Append(k)
	r.starts = append(r.starts, w.Start)
	r.ends = append(r.ends, w.End)
	r.late = append(r.late, late)
	r.o.metrics.Fired++
	if late {
		r.o.metrics.LateFires++
	}
	return nil
}

func (r *resultSet) reset() {
	r.keys.Reset()
	r.starts, r.ends, r.late = r.starts[:0], r.ends[:0], r.late[:0]
}

func (r *resultSet) timestamps(vals []int64) arrow.Array {
	b := array.NewTimestampBuilder(r.o.mem, windowFieldType.(*arrow.TimestampType))
	defer b.Release()
	b.Reserve(len(vals))
	for _, v := range vals {
		b.UnsafeAppend(arrow.Timestamp(v))
	}
	return b.NewArray()
}

// keyColumns decodes the collected keys into the key columns.
func (r *resultSet) keyColumns() ([]arrow.Array, error) {
	if len(r.o.cfg.Keys) == 0 {
		return nil, nil
	}
	r.kbuf = r.keys.Keys(r.kbuf[:0])
	return r.o.enc.DecodeKeys(r.o.mem, r.kbuf)
}

// flush emits the collected rows as one batch (or hands each to the
// AggregateProcess function) and resets the set.
func (r *resultSet) flush(ctx context.Context, out compute.Emitter) error {
	n := r.len()
	if n == 0 {
		return nil
	}
	defer r.reset()
	keyCols, err := r.keyColumns()
	if err != nil {
		for _, b := range r.aggB {
			b.Release()
		}
		r.init(r.o)
		return err
	}
	cols := make([]arrow.Array, 0, len(keyCols)+2+len(r.aggB))
	cols = append(cols, keyCols...)
	cols = append(cols, r.timestamps(r.starts), r.timestamps(r.ends))
	for _, b := range r.aggB {
		cols = append(cols, b.NewArray())
	}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	if r.o.cfg.AggregateProcess != nil {
		return r.process(ctx, cols, len(keyCols), out)
	}
	return out.Emit(ctx, array.NewRecordBatch(r.o.schema, cols, int64(n)))
}

// process calls the AggregateProcess function once per collected row.
func (r *resultSet) process(ctx context.Context, cols []arrow.Array, nk int, out compute.Emitter) error {
	o := r.o
	var keyBatch, aggBatch arrow.RecordBatch
	if nk > 0 {
		keyBatch = array.NewRecordBatch(arrow.NewSchema(o.cfg.OutputSchemaKeys(), nil), cols[:nk], int64(r.len()))
		defer keyBatch.Release()
	}
	aggBatch = array.NewRecordBatch(r.aggSch, cols[nk+2:], int64(r.len()))
	defer aggBatch.Release()
	pt := o.clk.Now().UnixMilli()
	for i := 0; i < r.len(); i++ {
		m := &window.Meta{Window: window.Window{Start: r.starts[i], End: r.ends[i]}, Watermark: o.wm, ProcessingTime: pt, Late: r.late[i]}
		if keyBatch != nil {
			m.Key = keyBatch.NewSlice(int64(i), int64(i+1))
		}
		row := aggBatch.NewSlice(int64(i), int64(i+1))
		err := o.cfg.AggregateProcess.ProcessAggregate(ctx, m, row, out)
		row.Release()
		if m.Key != nil {
			m.Key.Release()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// OutputSchemaKeys are the key fields of the input.
func (c *WindowConfig) OutputSchemaKeys() []arrow.Field {
	var fields []arrow.Field
	for _, k := range c.Keys {
		fields = append(fields, c.Input.Field(k))
	}
	return fields
}
