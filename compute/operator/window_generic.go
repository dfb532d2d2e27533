package operator

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/timer"
)

type genericScratch struct{}

func (o *WindowOperator) openGeneric() error { return nil }

func (o *WindowOperator) processGeneric(ctx context.Context, b arrow.RecordBatch, out compute.Emitter) error {
	return fmt.Errorf("window: generic windows: not implemented yet")
}

func (o *WindowOperator) fireGeneric(ctx context.Context, d timer.Domain, out compute.Emitter) error {
	return fmt.Errorf("window: generic windows: not implemented yet")
}
