package operator

import (
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/changelog"
	"github.com/sluicedata/sluice/compute/exchange"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// TopNPlan is a validated, typed top-n node.
type TopNPlan struct {
	// Schema is the output schema: _op (int8, see compute/changelog), the
	// input columns, then the row number column (int64) when requested.
	Schema *arrow.Schema
	// Keys are the partition column indices in the input.
	Keys []int
	// NewOperator builds one operator instance per subtask.
	NewOperator func() (compute.Operator, error)
}

// MaxTopNLimit is the largest limit a top-n node accepts: a partition's top
// rows are kept in one state value.
const MaxTopNLimit = 10_000

type topnOrder struct {
	col  int
	desc bool
	dt   arrow.DataType
}

type topnPlan struct {
	in        *arrow.Schema
	out       *arrow.Schema
	keys      []int
	keyTypes  []arrow.DataType
	order     []topnOrder
	limit     int
	rowNumber bool
	ttl       time.Duration // state_ttl; 0: partitions are kept forever
}

// PlanTopN validates a top-n node against its input schema.
//
// The node keeps, per partition (the partition_by columns), the first limit
// rows in the order_by order — Flink's `ROW_NUMBER() OVER (PARTITION BY p
// ORDER BY o) <= limit` — in keyed state, and emits an updating stream (see
// compute/changelog) of that table:
//
//   - with row_number: the table is (partition, rank) → row. A row entering
//     at rank r shifts the rows below it: each rank whose row changed gets
//     -U (old row, r) and +U (new row, r); a rank filled for the first time
//     gets +I.
//   - without row_number: the table is the set of top rows. A change that
//     replaces one row by another (limit 1: deduplication) is -U old, +U new;
//     otherwise evicted rows get -D and entering rows +I.
//
// Ties in the order are broken by arrival: an earlier row ranks first, so a
// row that ties with the last of a full top-n does not enter. Order columns:
// integers, floats, strings, timestamps, dates; ascending sorts NULLs first,
// descending NULLs last (Flink's defaults). limit 1 ordered by an event-time
// column is deduplication: ascending keeps the first row, descending the
// last (on equal times the earlier arrival is kept; Flink's keep-last keeps
// the later one). An updating input is rejected.
//
// state_ttl bounds how long a partition's top rows are kept after they last
// changed (state.OnCreateAndWrite, as Flink's table.exec.state.ttl; a row
// that does not enter the top does not extend it): an expired partition
// starts empty, so its next row enters at rank 1 as +I (with limit 1
// ordered by time: deduplication forgets the key and emits it again). The
// rows emitted before the partition expired are not retracted.
func PlanTopN(spec *sluicev1.TopNNode, in *arrow.Schema) (*TopNPlan, error) {
	if spec == nil {
		return nil, fmt.Errorf("no top_n spec")
	}
	if changelog.IsUpdating(in) {
		return nil, fmt.Errorf("input: top_n cannot consume an updating input (it has a %q column); put it before the aggregate or top_n that produces the changelog", changelog.Column)
	}
	p := &topnPlan{in: in, limit: int(spec.GetLimit())}
	var err error
	if len(spec.GetPartitionBy()) == 0 {
		err = errors.Join(err, fmt.Errorf("partition_by: at least one partition column is required"))
	}
	for i, k := range spec.GetPartitionBy() {
		idx := in.FieldIndices(k)
		if len(idx) != 1 {
			err = errors.Join(err, fmt.Errorf("partition_by[%d]: unknown or ambiguous column %q (input columns: %s)", i, k, aggColumnList(in)))
			continue
		}
		if e := exchange.CheckKeyType(in.Field(idx[0]).Type); e != nil {
			err = errors.Join(err, fmt.Errorf("partition_by[%d]: column %q: %w", i, k, e))
			continue
		}
		p.keys = append(p.keys, idx[0])
		p.keyTypes = append(p.keyTypes, in.Field(idx[0]).Type)
	}
	if len(spec.GetOrderBy()) == 0 {
		err = errors.Join(err, fmt.Errorf("order_by: at least one sort key is required"))
	}
	for i, o := range spec.GetOrderBy() {
		idx := in.FieldIndices(o.GetColumn())
		if len(idx) != 1 {
			err = errors.Join(err, fmt.Errorf("order_by[%d].column: unknown or ambiguous column %q (input columns: %s)", i, o.GetColumn(), aggColumnList(in)))
			continue
		}
		dt := in.Field(idx[0]).Type
		switch dt.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.FLOAT32, arrow.FLOAT64, arrow.STRING, arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		default:
			err = errors.Join(err, fmt.Errorf("order_by[%d].column: %q has type %s; order keys must be integers, floats, strings, timestamps or dates", i, o.GetColumn(), aggTypeName(dt)))
			continue
		}
		p.order = append(p.order, topnOrder{col: idx[0], desc: o.GetDescending(), dt: dt})
	}
	switch {
	case p.limit < 1:
		err = errors.Join(err, fmt.Errorf("limit: %d must be at least 1", spec.GetLimit()))
	case p.limit > MaxTopNLimit:
		err = errors.Join(err, fmt.Errorf("limit: %d exceeds the maximum %d", spec.GetLimit(), MaxTopNLimit))
	}
	ttl, terr := planStateTTL("state_ttl", spec.GetStateTtl())
	if terr != nil {
		err = errors.Join(err, terr)
	}
	p.ttl = ttl
	fields := []arrow.Field{changelog.Field()}
	for i, f := range in.Fields() {
		if e := exchange.CheckKeyType(f.Type); e != nil {
			err = errors.Join(err, fmt.Errorf("input column %d %q: type %s cannot be kept in top_n state", i, f.Name, f.Type))
		}
		fields = append(fields, f)
	}
	if rn := spec.GetRowNumber(); rn != "" {
		if rn == changelog.Column || len(in.FieldIndices(rn)) > 0 {
			err = errors.Join(err, fmt.Errorf("row_number: %q clashes with an input column", rn))
		}
		p.rowNumber = true
		fields = append(fields, arrow.Field{Name: rn, Type: arrow.PrimitiveTypes.Int64})
	}
	if err != nil {
		return nil, err
	}
	p.out = arrow.NewSchema(fields, nil)
	return &TopNPlan{
		Schema:      p.out,
		Keys:        p.keys,
		NewOperator: func() (compute.Operator, error) { return newTopNOperator(p), nil },
	}, nil
}
