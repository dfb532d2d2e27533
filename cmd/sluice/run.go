package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
)

func newRunCmd() *cobra.Command {
	var (
		quiet         bool
		resume        bool
		fromSavepoint string
		savepointDir  string
	)
	cmd := &cobra.Command{
		Use:   "run JOBFILE",
		Short: "Run a job file (YAML or JSON) in this process until its input ends or it is interrupted",
		Long: `Run a job file in this process, with the state backend, checkpoints and
restart strategy of its spec (state defaults to the LSM in ./state).

With --savepoint-dir, the first SIGINT or SIGTERM stops the job with a
savepoint (a second one cancels it), and SIGUSR1 takes a savepoint while the
job keeps running; each prints the savepoint's URL. A job starts from a
savepoint with --from-savepoint URL, or from its own latest checkpoint with
--resume.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadPlan(args[0])
			if err != nil {
				return err
			}
			if fromSavepoint, err = storageURL(fromSavepoint); err != nil {
				return fmt.Errorf("--from-savepoint: %w", err)
			}
			if savepointDir, err = storageURL(savepointDir); err != nil {
				return fmt.Errorf("--savepoint-dir: %w", err)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			start := time.Now()
			ctx := cmd.Context()
			sv, err := runtime.Run(ctx, p, runtime.Options{Logger: logger}, runtime.RunOptions{Resume: resume, FromSavepoint: fromSavepoint})
			if err != nil {
				return err
			}
			out := cmd.ErrOrStderr()
			if savepointDir != "" {
				stop := func() {
					u, err := sv.StopWithSavepoint(ctx, savepointDir)
					if err != nil {
						fmt.Fprintf(out, "sluice: stop with savepoint failed: %v (interrupt again to cancel)\n", err)
						return
					}
					fmt.Fprintf(out, "savepoint written: %s\n", u)
				}
				interruptHandler.Store(&stop)
				defer interruptHandler.Store(nil)
				usr1 := make(chan os.Signal, 1)
				signal.Notify(usr1, syscall.SIGUSR1)
				defer signal.Stop(usr1)
				go func() {
					for {
						select {
						case <-usr1:
							u, err := sv.TriggerSavepoint(ctx, savepointDir)
							if err != nil {
								fmt.Fprintf(out, "sluice: savepoint failed: %v\n", err)
								continue
							}
							fmt.Fprintf(out, "savepoint written: %s\n", u)
						case <-sv.Done():
							return
						}
					}
				}()
			}
			err = sv.Wait()
			if !quiet {
				status := "finished"
				switch {
				case sv.Stopped():
					status = "stopped with a savepoint"
				case err != nil:
					status = "stopped"
				}
				printSummary(out, p.Name, status, time.Since(start), sv.Metrics())
				st := sv.Stats()
				if st.Restarts > 0 || p.Checkpoints.Interval > 0 {
					fmt.Fprintf(out, "  %d restarts, %d checkpoints completed, %d state bytes uploaded\n", st.Restarts, st.CheckpointsCompleted, st.CheckpointBytes)
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not print the summary")
	cmd.Flags().BoolVar(&resume, "resume", false, "start from the job's latest completed checkpoint, if any")
	cmd.Flags().StringVar(&fromSavepoint, "from-savepoint", "", "start from the savepoint (or retained checkpoint) at this URL or path")
	cmd.Flags().StringVar(&savepointDir, "savepoint-dir", "", "where SIGINT/SIGTERM (stop) and SIGUSR1 (keep running) write savepoints: a URL or a local path")
	return cmd
}

// storageURL turns a local path into a file:// URL; URLs pass unchanged.
func storageURL(s string) (string, error) {
	if s == "" || strings.Contains(s, "://") {
		return s, nil
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", err
	}
	return "file://" + filepath.ToSlash(abs), nil
}

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate JOBFILE",
		Short: "Check a job file: fields, connectors, expressions and types, without running it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadPlan(args[0])
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "job %s is valid\n", p.Name)
			for _, n := range p.Nodes {
				var in []string
				for _, e := range n.Inputs {
					in = append(in, fmt.Sprintf("%s (%s)", e.From.ID, e.Partitioning))
				}
				fmt.Fprintf(w, "  %s\t%s\tx%d\tinputs: %s\n", n.ID, n.Kind, n.Parallelism, strings.Join(in, ", "))
				fmt.Fprintf(w, "  \t\t\tschema: %s\n", schemaLine(n))
			}
			return w.Flush()
		},
	}
}

func schemaLine(n *plan.Node) string {
	var cols []string
	for _, f := range n.Schema.Fields() {
		cols = append(cols, f.Name+" "+f.Type.String())
	}
	return strings.Join(cols, ", ")
}

// loadPlan reads and validates a job file.
func loadPlan(path string) (*plan.Plan, error) {
	spec, err := plan.ReadJobFile(path)
	if err != nil {
		return nil, err
	}
	p, err := plan.Build(spec)
	if err != nil {
		return nil, fmt.Errorf("job file %s is not valid:\n%w", path, indent(err))
	}
	return p, nil
}

// indent puts each line of a (joined) error on its own indented line.
func indent(err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = "  - " + l
	}
	return fmt.Errorf("%s", strings.Join(lines, "\n"))
}

func printSummary(w io.Writer, name, status string, d time.Duration, m runtime.Metrics) {
	fmt.Fprintf(w, "job %s %s after %s\n", name, status, d.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range m.Nodes {
		switch n.Kind {
		case plan.Source:
			fmt.Fprintf(tw, "  %s\tsource\tx%d\t%d rows out\n", n.ID, n.Parallelism, n.RowsOut)
		case plan.Sink:
			fmt.Fprintf(tw, "  %s\tsink\tx%d\t%d rows in\n", n.ID, n.Parallelism, n.RowsIn)
		default:
			side := ""
			if n.RowsSide > 0 {
				side = fmt.Sprintf(", %d rows to side outputs", n.RowsSide)
			}
			fmt.Fprintf(tw, "  %s\ttransform\tx%d\t%d rows in, %d rows out%s\n", n.ID, n.Parallelism, n.RowsIn, n.RowsOut, side)
		}
	}
	tw.Flush()
}
