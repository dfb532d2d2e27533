package main

import (
	"fmt"
	"log/slog"
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
	cmd.AddCommand(newBenchNexmarkCmd(), newBenchStatestoreCmd(), newBenchCheckpointCmd())
	return cmd
}

func newBenchStatestoreCmd() *cobra.Command {
	var (
		cfg    bench.StatestoreConfig
		report string
	)
	cmd := &cobra.Command{
		Use:   "statestore",
		Short: "Compare the LSM state store with Pebble, and measure remote reads, checkpoint cost, recovery and rescale",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.RunStatestore(cmd.Context(), cfg, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if report != "" {
				return bench.WriteReport(report, rep)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.Quick, "quick", false, "small sizes, about a minute")
	f.StringVar(&cfg.Dir, "dir", "", "folder for the local state (default: a temporary folder)")
	f.IntVar(&cfg.Keys, "keys", 0, "working set of the put/get comparison (default 1,000,000; quick 200,000)")
	f.Int64Var(&cfg.StateBytes, "state-bytes", 0, "state size for checkpoint and rescale (default 1 GiB; quick 64 MiB)")
	f.DurationVar(&cfg.RemoteLatency, "remote-latency", 0, "latency injected per object-store request (default 20ms)")
	f.Int64SliceVar(&cfg.RecoverySizes, "recovery-sizes", nil, "state sizes in bytes whose recovery is timed (default 1 GiB,10 GiB; quick 16 MiB,64 MiB)")
	f.StringVar(&report, "report", "", "write a JSON report to this path")
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

func newBenchCheckpointCmd() *cobra.Command {
	var (
		cfg     bench.CheckpointConfig
		queries string
		report  string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "checkpoint",
		Short: "Measure durability: LSM backend with checkpoints vs in-memory state, checkpoint duration and size, recovery time",
		Long: `Run Nexmark queries into a blackhole, alternately with the in-memory state
backend and with the LSM backend on a local folder taking periodic
checkpoints, and report events per CPU-second of both and their ratio (the
median of the measured runs), each checkpoint's duration and uploaded bytes,
and the time from an injected failure to the first output row after the
restart (and to its first checkpoint, when a transactional sink's output
becomes visible).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, q := range strings.Split(queries, ",") {
				if q = strings.TrimSpace(q); q != "" {
					cfg.Queries = append(cfg.Queries, q)
				}
			}
			if verbose {
				cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			rep, err := bench.RunCheckpoint(cmd.Context(), cfg, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if report != "" {
				if err := bench.WriteReport(report, rep); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "report written to %s\n", report)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&cfg.Quick, "quick", false, "CI-sized: 1M events, checkpoints every 1s, one run, one recovery trial")
	f.StringVar(&queries, "query", "q5,q7,q8", "comma-separated Nexmark queries")
	f.Int64Var(&cfg.Events, "events", 0, "Nexmark events per throughput run of every query (default: per query, q5 16M, q7 40M, q8 50M, about 25 s each on the LSM; quick 1M)")
	f.DurationVar(&cfg.Interval, "interval", 0, "checkpoint interval (default 10s; quick 1s)")
	f.IntVar(&cfg.Runs, "runs", 0, "measured runs per backend; the median is reported (default 3; quick 1)")
	f.IntVar(&cfg.Warmup, "warmup", -1, "unmeasured warm-up runs per backend (default 1; quick 0)")
	f.IntVar(&cfg.RecoveryTrials, "recovery-trials", -1, "injected failures timed per query (default 3; quick 1)")
	f.Int64Var(&cfg.MemtableBytes, "memtable-bytes", 0, "LSM memtable size in bytes (default: the job spec's default)")
	f.Int64Var(&cfg.MemtableEntries, "memtable-entries", 0, "most entries of one LSM memtable (default: the job spec's default)")
	f.IntVar(&cfg.Parallelism, "parallelism", 1, "parallelism of every node")
	f.StringVar(&cfg.Dir, "dir", "", "folder for the LSM state (default: a temporary folder)")
	f.StringVar(&cfg.ProfileDir, "cpuprofile-dir", "", "write CPU profiles of one extra run per query and backend into this folder")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "bound on each run")
	f.StringVar(&report, "report", "", "write a JSON report to this path")
	f.BoolVarP(&verbose, "verbose", "v", false, "log the runtime's checkpoints and warnings to stderr")
	return cmd
}
