package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
)

func newRunCmd() *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "run JOBFILE",
		Short: "Run a job file (YAML or JSON) in this process until its input ends or it is interrupted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := loadPlan(args[0])
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			start := time.Now()
			job, err := runtime.Start(cmd.Context(), p, runtime.Options{Logger: logger})
			if err != nil {
				return err
			}
			err = job.Wait()
			if !quiet {
				printSummary(cmd.ErrOrStderr(), p.Name, time.Since(start), job.Metrics(), err)
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not print the summary")
	return cmd
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

func printSummary(w io.Writer, name string, d time.Duration, m runtime.Metrics, err error) {
	status := "finished"
	if err != nil {
		status = "stopped"
	}
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
