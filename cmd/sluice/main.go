// Command sluice is the one Sluice binary: it runs jobs locally, validates job
// files, and runs the benchmark harness.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/sluicedata/sluice/connectors/all" // link every connector
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first interrupt goes to the command's handler, if it set one
		// (run stops a job with a savepoint); otherwise, and on the second
		// interrupt, the command's context is cancelled.
		for range sigs {
			if h := interruptHandler.Swap(nil); h != nil {
				go (*h)()
				continue
			}
			cancel()
		}
	}()
	err := newRootCmd().ExecuteContext(ctx)
	signal.Stop(sigs)
	cancel()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "sluice: cancelled")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "sluice: %v\n", err)
		os.Exit(1)
	}
}

// interruptHandler, when set, handles the first SIGINT or SIGTERM instead of
// cancelling the command.
var interruptHandler atomic.Pointer[func()]

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Sluice: a stream processing engine over Apache Arrow",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newValidateCmd(), newBenchCmd())
	return root
}
