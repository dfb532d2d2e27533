package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/sluicedata/sluice/compute/plan"
	"github.com/sluicedata/sluice/compute/runtime"
	queries "github.com/sluicedata/sluice/examples/nexmark"
	sluicev1 "github.com/sluicedata/sluice/gen/sluice/v1"
)

// Baseline case names: generate and discard.
const (
	// GeneratorBids generates the bid stream, which every stateless query reads.
	GeneratorBids = "generator"
	// GeneratorAll generates all three streams.
	GeneratorAll = "generator-all"
)

// NexmarkConfig configures a Nexmark run.
type NexmarkConfig struct {
	// Queries are the cases to run: query names such as "q1", or the
	// baselines GeneratorBids and GeneratorAll.
	Queries []string
	// Events is the number of Nexmark events per run. Default 10,000,000.
	Events int64
	// Runs is the number of measured runs per case; the median is reported.
	// Default 3.
	Runs int
	// Warmup is the number of unmeasured runs before them. Default 1.
	Warmup int
	// Parallelism of every node. Default 1.
	Parallelism int
	// Timeout bounds each run. Default 5 minutes.
	Timeout time.Duration
	// ReportPath, when set, receives the JSON report.
	ReportPath string
}

func (c *NexmarkConfig) ensureDefaults() {
	if c.Events <= 0 {
		c.Events = 10_000_000
	}
	if c.Runs <= 0 {
		c.Runs = 3
	}
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
}

// Measurement is one run of one case.
type Measurement struct {
	Events          int64   `json:"events"`
	RowsOut         int64   `json:"rows_out"`
	WallSeconds     float64 `json:"wall_seconds"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
	EventsPerCPUSec float64 `json:"events_per_cpu_second"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
}

// CaseReport is the result of one case.
type CaseReport struct {
	Name   string        `json:"name"`
	Runs   []Measurement `json:"runs"`
	Median Measurement   `json:"median"`
}

// NexmarkReport is the result of a Nexmark run.
type NexmarkReport struct {
	Time        time.Time    `json:"time"`
	GoVersion   string       `json:"go_version"`
	CPUs        int          `json:"cpus"`
	Parallelism int          `json:"parallelism"`
	Events      int64        `json:"events"`
	Cases       []CaseReport `json:"cases"`
}

// RunNexmark runs every case of cfg and writes a human-readable report to w.
func RunNexmark(ctx context.Context, cfg NexmarkConfig, w io.Writer) (*NexmarkReport, error) {
	cfg.ensureDefaults()
	rep := &NexmarkReport{
		Time: time.Now().UTC(), GoVersion: goruntime.Version(), CPUs: goruntime.NumCPU(),
		Parallelism: cfg.Parallelism, Events: cfg.Events,
	}
	for _, name := range cfg.Queries {
		spec, err := nexmarkSpec(name, cfg)
		if err != nil {
			return nil, err
		}
		p, err := plan.Build(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(w, "== %s: %d events, parallelism %d, %d warm-up + %d runs\n", name, cfg.Events, cfg.Parallelism, cfg.Warmup, cfg.Runs)
		cr := CaseReport{Name: name}
		for i := 0; i < cfg.Warmup+cfg.Runs; i++ {
			m, err := runOnce(ctx, p, cfg)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			m.Events = cfg.Events
			m.EventsPerSecond = float64(m.Events) / m.WallSeconds
			m.EventsPerCPUSec = float64(m.Events) / m.CPUSeconds
			kind := "run"
			if i < cfg.Warmup {
				kind = "warm-up"
			} else {
				cr.Runs = append(cr.Runs, m)
			}
			fmt.Fprintf(w, "   %-7s wall %7.3fs  cpu %7.3fs  %12.0f events/s  %12.0f events/cpu-s  rows out %d\n",
				kind, m.WallSeconds, m.CPUSeconds, m.EventsPerSecond, m.EventsPerCPUSec, m.RowsOut)
		}
		cr.Median = median(cr.Runs)
		rep.Cases = append(rep.Cases, cr)
		md := cr.Median
		fmt.Fprintf(w, "   median: events %d, wall %.3fs, cpu %.3fs, %.0f events/s, peak RSS %.0f MiB\n",
			md.Events, md.WallSeconds, md.CPUSeconds, md.EventsPerSecond, float64(md.PeakRSSBytes)/(1<<20))
		fmt.Fprintf(w, "events per CPU-second: %.0f\n", md.EventsPerCPUSec)
	}
	if cfg.ReportPath != "" {
		if err := WriteReport(cfg.ReportPath, rep); err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "report written to %s\n", cfg.ReportPath)
	}
	return rep, nil
}

func median(ms []Measurement) Measurement {
	s := append([]Measurement(nil), ms...)
	sort.Slice(s, func(i, j int) bool { return s[i].EventsPerCPUSec < s[j].EventsPerCPUSec })
	return s[len(s)/2]
}

// nexmarkSpec loads a case's job spec and points it at the benchmark: every
// Nexmark source generates cfg.Events events and every sink is a blackhole.
func nexmarkSpec(name string, cfg NexmarkConfig) (*sluicev1.JobSpec, error) {
	var spec *sluicev1.JobSpec
	switch name {
	case GeneratorBids, GeneratorAll:
		streams := []string{"bid"}
		if name == GeneratorAll {
			streams = []string{"person", "auction", "bid"}
		}
		spec = &sluicev1.JobSpec{Name: name}
		for _, s := range streams {
			spec.Nodes = append(spec.Nodes,
				&sluicev1.Node{Id: s, Kind: &sluicev1.Node_Source{Source: &sluicev1.SourceNode{
					Connector: "nexmark", Options: &structpb.Struct{Fields: map[string]*structpb.Value{"stream": structpb.NewStringValue(s)}},
				}}},
				&sluicev1.Node{Id: s + "-out", Inputs: []string{s}, Kind: &sluicev1.Node_Sink{Sink: &sluicev1.SinkNode{}}})
		}
	default:
		data, err := queries.Query(name)
		if err != nil {
			return nil, err
		}
		if spec, err = plan.ParseJobFile(data); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	spec.Parallelism = int32(cfg.Parallelism)
	for _, n := range spec.Nodes {
		n.Parallelism = 0
		switch k := n.Kind.(type) {
		case *sluicev1.Node_Source:
			if k.Source.Connector == "nexmark" {
				if k.Source.Options == nil {
					k.Source.Options = &structpb.Struct{Fields: map[string]*structpb.Value{}}
				}
				k.Source.Options.Fields["events"] = structpb.NewNumberValue(float64(cfg.Events))
			}
		case *sluicev1.Node_Sink:
			k.Sink.Connector, k.Sink.Options = "blackhole", nil
		}
	}
	return spec, nil
}

func runOnce(ctx context.Context, p *plan.Plan, cfg NexmarkConfig) (Measurement, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	goruntime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	job, err := runtime.Start(ctx, p, runtime.Options{})
	if err != nil {
		return Measurement{}, err
	}
	if err := job.Wait(); err != nil {
		return Measurement{}, fmt.Errorf("run did not complete within %s: %w", cfg.Timeout, err)
	}
	m := Measurement{
		WallSeconds: time.Since(start).Seconds(),
		CPUSeconds:  (cpuTime() - cpu0).Seconds(),
	}
	for _, n := range job.Metrics().Nodes {
		if n.Kind == plan.Sink {
			m.RowsOut += n.RowsIn
		}
	}
	m.PeakRSSBytes = peakRSS()
	return m, nil
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSS is the process's peak resident set size in bytes.
func peakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss * 1024 // Linux reports KiB
}

// WriteReport writes a report as indented JSON, creating its folder.
func WriteReport(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
