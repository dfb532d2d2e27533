package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/internal/clock"
)

// withClockDeadline returns a context that is cancelled with cause when clk
// reaches deadline (context.WithDeadline follows the real clock, not an
// injected one). The returned function releases it and waits for its timer
// goroutine.
func withClockDeadline(parent context.Context, clk clock.Clock, deadline time.Time, cause error) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	d := deadline.Sub(clk.Now())
	if d <= 0 {
		cancel(cause)
		return ctx, func() {}
	}
	t := clk.NewTimer(d)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-t.C():
			cancel(cause)
		case <-ctx.Done():
			t.Stop()
		}
	}()
	return ctx, func() {
		cancel(context.Canceled)
		<-exited
	}
}

// withCause adds the cause of ctx's cancellation to err, which storage and
// callbacks usually report as a bare "context canceled".
func withCause(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// mergeContexts returns a context cancelled when either a or b is.
func mergeContexts(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}
