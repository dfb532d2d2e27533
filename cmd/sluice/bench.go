package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluicedata/sluice/bench"
	examples "github.com/sluicedata/sluice/examples/nexmark"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run benchmarks",
	}
	cmd.AddCommand(newBenchNexmarkCmd())
	return cmd
}

func newBenchNexmarkCmd() *cobra.Command {
	var (
		cfg        bench.NexmarkConfig
		queries    string
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "nexmark",
		Short: "Run Nexmark queries into a blackhole and report events per CPU-second",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, q := range strings.Split(queries, ",") {
				if q = strings.TrimSpace(q); q != "" {
					cfg.Queries = append(cfg.Queries, q)
				}
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return fmt.Errorf("--cpuprofile: %w", err)
				}
				defer pprof.StopCPUProfile()
			}
			_, err := bench.RunNexmark(cmd.Context(), cfg, cmd.OutOrStdout())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&queries, "query", "q1", "comma-separated cases: "+strings.Join(examples.Queries(), ", ")+", "+bench.GeneratorBids+", "+bench.GeneratorAll)
	f.Int64Var(&cfg.Events, "events", 10_000_000, "Nexmark events per run")
	f.IntVar(&cfg.Runs, "runs", 3, "measured runs per case; the median is reported")
	f.IntVar(&cfg.Warmup, "warmup", 1, "unmeasured warm-up runs per case")
	f.IntVar(&cfg.Parallelism, "parallelism", 1, "parallelism of every node")
	f.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "bound on each run")
	f.StringVar(&cfg.ReportPath, "report", "", "write a JSON report to this path")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this path")
	return cmd
}
