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
