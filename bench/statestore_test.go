package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines. (The first test file of package
// bench; move this when a shared main_test.go appears.)
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRunStatestoreSmall runs every statestore comparison on tiny sizes and
// checks the report is complete and consistent.
func TestRunStatestoreSmall(t *testing.T) {
	var out bytes.Buffer
	rep, err := RunStatestore(context.Background(), StatestoreConfig{
		Dir: t.TempDir(), Keys: 5000, StateBytes: 4 << 20, RecoverySizes: []int64{1 << 20, 2 << 20},
		RemoteLatency: time.Millisecond,
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if !strings.Contains(out.String(), "ratio vs pebble: ") || rep.RatioVsPebble <= 0 {
		t.Fatalf("no pebble ratio in the report")
	}
	if rep.CheckpointFraction <= 0 || rep.CheckpointFraction > 0.05 {
		t.Fatalf("checkpoint after changing 1%% uploaded %.2f%% of the state", 100*rep.CheckpointFraction)
	}
	if len(rep.RecoveryFirstRead) != 2 || rep.RescaleSplitBytes == 0 || rep.RescaleSplitBytes > rep.StateBytes/2 {
		t.Fatalf("recovery %v, rescale read %d bytes of %d", rep.RecoveryFirstRead, rep.RescaleSplitBytes, rep.StateBytes)
	}
}

// BenchmarkStatestoreLocal runs the local-tier comparison (random put and
// get, LSM and Pebble) once per iteration, for profiling:
//
//	go test ./bench -run XXX -bench StatestoreLocal -benchtime 1x -cpuprofile cpu.out
func BenchmarkStatestoreLocal(b *testing.B) {
	for b.Loop() {
		rep := &StatestoreReport{}
		cfg := StatestoreConfig{Dir: b.TempDir(), Quick: true}
		cfg.ensureDefaults()
		if err := benchLocal(context.Background(), cfg, cfg.Dir, rep); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(rep.PutOpsLSM, "lsm-put/s")
		b.ReportMetric(rep.PutOpsPebble, "pebble-put/s")
		b.ReportMetric(rep.GetOpsLSM, "lsm-get/s")
		b.ReportMetric(rep.GetOpsPebble, "pebble-get/s")
	}
}

// BenchmarkStatestoreQuick runs the whole --quick comparison once per
// iteration, for profiling.
func BenchmarkStatestoreQuick(b *testing.B) {
	for b.Loop() {
		var out bytes.Buffer
		if _, err := RunStatestore(context.Background(), StatestoreConfig{Dir: b.TempDir(), Quick: true}, &out); err != nil {
			b.Fatal(err)
		}
		b.Log("\n" + out.String())
	}
}
