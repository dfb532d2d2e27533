package operator

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
)

type sessionScratch struct{}

func (o *WindowOperator) processSession(ctx context.Context, b arrow.RecordBatch, out compute.Emitter) error {
	return fmt.Errorf("window: session windows: not implemented yet")
}

func (o *WindowOperator) fireSession(ctx context.Context, out compute.Emitter) error {
	return fmt.Errorf("window: session windows: not implemented yet")
}
