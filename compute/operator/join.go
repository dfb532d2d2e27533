package operator

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// JoinPlan is a validated, typed join node.
type JoinPlan struct {
	// Schema is the output schema.
	Schema *arrow.Schema
	// LeftKeys and RightKeys are the key column indices in each input; both
	// inputs are hash-partitioned by them.
	LeftKeys, RightKeys []int
	// NewOperator builds one operator instance per subtask.
	NewOperator func() (compute.Operator, error)
}

// PlanJoin validates a join node against its input schemas.
func PlanJoin(spec *sluicev1.JoinNode, left, right *arrow.Schema) (*JoinPlan, error) {
	return nil, fmt.Errorf("join nodes are not supported yet")
}
