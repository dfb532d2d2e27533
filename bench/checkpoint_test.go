package bench

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/compute/checkpoint"
	_ "github.com/sluicedata/sluice/connectors/all" // nexmark, blackhole
)

// TestRunCheckpointSmall runs the checkpoint benchmark on a small input
// with frequent checkpoints and checks that every figure was measured.
func TestRunCheckpointSmall(t *testing.T) {
	var out bytes.Buffer
	rep, err := RunCheckpoint(context.Background(), CheckpointConfig{
		Queries: []string{"q5"}, Events: 300_000, Interval: 100 * time.Millisecond,
		Runs: 1, Warmup: 0, RecoveryTrials: 1, Dir: t.TempDir(), Timeout: 2 * time.Minute,
	}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != 1 {
		t.Fatalf("%d cases, want 1", len(rep.Cases))
	}
	c := rep.Cases[0]
	if c.Ratio <= 0 || c.WallRatio <= 0 || c.Memory.Median.RowsOut == 0 || c.LSM.Median.RowsOut != c.Memory.Median.RowsOut {
		t.Errorf("throughput: ratio %.2f, wall ratio %.2f, rows out %d (memory) and %d (lsm)", c.Ratio, c.WallRatio, c.Memory.Median.RowsOut, c.LSM.Median.RowsOut)
	}
	ck := c.Checkpoints
	if len(ck.PerRun) != 1 || ck.PerRun[0] == 0 || len(ck.All) != ck.PerRun[0] {
		t.Fatalf("checkpoints per run %v, %d in all", ck.PerRun, len(ck.All))
	}
	if ck.MedianDurationSeconds <= 0 || ck.MaxDurationSeconds < ck.MedianDurationSeconds || ck.MedianBytes <= 0 || ck.MeanBytes <= 0 {
		t.Errorf("checkpoint figures %+v", ck)
	}
	r := c.Recovery
	if len(r.Trials) != 1 || r.Trials[0].Restored == 0 || r.MedianFirstRowSeconds <= 0 || r.MedianCommitSeconds <= 0 {
		t.Errorf("recovery figures %+v", r)
	}
	if !strings.Contains(out.String(), "lsm ev/cpu-s") {
		t.Errorf("no table in the output")
	}
}

// TestCheckpointLog checks how the log handler attributes uploaded bytes
// to checkpoints: the coordinator logs a checkpoint before the supervisor
// counts its bytes, savepoints are not periodic checkpoints, and the final
// commit ends the last checkpoint's count (the supervisor counts that one
// twice).
func TestCheckpointLog(t *testing.T) {
	l := newCkptLog(slog.DiscardHandler)
	var counted int64
	count := func() int64 { return counted }
	l.s.count.Store(&count)
	log := slog.New(l).With("job", "j", "attempt", uint64(3))
	done := func(id uint64, kind checkpoint.Kind, d time.Duration) {
		log.Info("checkpoint completed", "checkpoint", id, "kind", kind, "duration", d)
	}
	first := l.completed(3)
	later := l.completed(4)
	done(1, checkpoint.Periodic, time.Second)
	counted += 100
	done(2, checkpoint.Savepoint, time.Second)
	counted += 7
	done(3, checkpoint.Periodic, 2*time.Second)
	counted += 50
	log.Info("final commit completed", "checkpoint", uint64(4))
	counted += 50 // the supervisor counts checkpoint 3 again
	got := l.checkpoints(counted)
	want := []CheckpointStat{{1, 107}, {2, 50}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("checkpoints %v, want %v", got, want)
	}
	if all := l.all(); len(all) != 2 || all[1].id != 3 || all[1].attempt != 3 {
		t.Errorf("checkpoints %+v, want 1 and 3 of attempt 3", all)
	}
	select {
	case <-first:
	default:
		t.Errorf("the waiter for attempt 3 is not released")
	}
	select {
	case <-later:
		t.Errorf("the waiter for attempt 4 is released by attempt 3")
	default:
	}
}
