package operator

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// AggregatePlan is a validated, typed unbounded aggregate node.
type AggregatePlan struct {
	// Schema is the output schema.
	Schema *arrow.Schema
	// Keys are the group-by column indices in the input.
	Keys []int
	// NewOperator builds one operator instance per subtask.
	NewOperator func() (compute.Operator, error)
}

// PlanAggregate validates an aggregate node against its input schema.
func PlanAggregate(spec *sluicev1.AggregateNode, in *arrow.Schema) (*AggregatePlan, error) {
	return nil, fmt.Errorf("aggregate nodes are not supported yet")
}
