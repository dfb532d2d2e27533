package operator

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// TopNPlan is a validated, typed top-n node.
type TopNPlan struct {
	// Schema is the output schema.
	Schema *arrow.Schema
	// Keys are the partition column indices in the input.
	Keys []int
	// NewOperator builds one operator instance per subtask.
	NewOperator func() (compute.Operator, error)
}

// PlanTopN validates a top-n node against its input schema.
func PlanTopN(spec *sluicev1.TopNNode, in *arrow.Schema) (*TopNPlan, error) {
	return nil, fmt.Errorf("top_n nodes are not supported yet")
}
