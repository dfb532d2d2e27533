package checkpoint

// Data-driven trace tests of the Coordinator as a state machine on a fake
// clock. Each testdata/coordinator/*.script is a list of commands:
//
//	config interval=D timeout=D min-pause=D max-concurrent=N tolerable=N retained=N
//	first-id N                  Deps.FirstID
//	start                       New + Start (config and first-id come before)
//	advance D                   move the clock forward
//	ack ID TASK [pos=NODE:SPLIT:POS] [state=NODE:SUB] [txn=NODE:SUB:CKPT]
//	decline ID TASK MESSAGE...
//	finished TASK LAST [pos=...] [txn=...]  TaskFinished after barrier LAST
//	savepoint                   TriggerSavepoint (its result shows when ready)
//	final-id                    FinalID
//	finish [pos=...] [txn=...]  Finish
//	fail-writes PREFIX          CreateIfAbsent on names with PREFIX fails
//	conflict-writes PREFIX      ... fails with ErrAlreadyExists
//	fail-commit on|off          Deps.Commit fails
//	heal                        storage faults off
//	stats                       Stats()
//	store                       list the job's objects
//	stop                        Stop
//
// The trace prints each command and then what it caused: injected
// barriers, storage writes and deletes, commits, retention and job
// failures. Run with -rewrite to regenerate the .golden files.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/statestore/objstore"

	"github.com/sluicedata/sluice/internal/golden"
)

func TestCoordinatorTrace(t *testing.T) {
	golden.Scripts(t, "testdata/coordinator/*.script", runCoordinatorTrace)
}

func runCoordinatorTrace(t *testing.T, script string) string {
	r := newRig(t)
	var sb strings.Builder
	type waiter struct {
		n     int
		reply chan result
	}
	var savepoints []waiter
	nsp := 0
	for ln, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d %q: %s", ln+1, line, fmt.Sprintf(format, args...))
		}
		id := func() uint64 {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				fail("%v", err)
			}
			return n
		}
		fmt.Fprintf(&sb, "%s\n", line)
		var out []string
		switch f[0] {
		case "config":
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				d, _ := time.ParseDuration(v)
				n, _ := strconv.Atoi(v)
				switch k {
				case "interval":
					r.cfg.Interval = d
				case "timeout":
					r.cfg.Timeout = d
				case "min-pause":
					r.cfg.MinPause = d
				case "max-concurrent":
					r.cfg.MaxConcurrent = n
				case "tolerable":
					r.cfg.TolerableFailures = n
				case "retained":
					r.cfg.Retained = n
				default:
					fail("unknown config %q", k)
				}
			}
			continue
		case "first-id":
			r.deps.FirstID = id()
			continue
		case "start":
			r.start()
		case "advance":
			d, err := time.ParseDuration(f[1])
			if err != nil {
				fail("%v", err)
			}
			r.clk.Advance(d)
		case "ack":
			r.c.Ack(id(), f[2], parseSnap(t, id(), f[3:]))
		case "decline":
			r.c.Decline(id(), f[2], errors.New(strings.Join(f[3:], " ")))
		case "finished":
			last, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				fail("%v", err)
			}
			r.c.TaskFinished(f[1], last, parseSnap(t, last, f[3:]))
		case "savepoint":
			nsp++
			savepoints = append(savepoints, waiter{nsp, r.c.requestSavepoint("mem://?prefix=sp/")})
			out = append(out, fmt.Sprintf("savepoint #%d requested", nsp))
		case "final-id":
			out = append(out, fmt.Sprintf("final id %d", r.c.FinalID()))
		case "finish":
			err := r.c.Finish(context.Background(), parseSnap(t, r.c.FinalID(), f[1:]))
			out = append(out, r.takeTrace()...)
			out = append(out, fmt.Sprintf("finish: %v", errString(err)))
		case "fail-writes":
			r.fault.AddRule(objstore.Rule{Ops: objstore.OpCreateIfAbsent, Prefix: f[1]})
		case "fail-commit":
			r.mu.Lock()
			r.mu.commitErr = nil
			if f[1] == "on" {
				r.mu.commitErr = errors.New("sink unreachable")
			}
			r.mu.Unlock()
		case "conflict-writes":
			r.fault.AddRule(objstore.Rule{Ops: objstore.OpCreateIfAbsent, Prefix: f[1], Err: objstore.ErrAlreadyExists})
		case "heal":
			r.fault.ClearRules()
		case "stats":
			r.c.sync()
			s := r.c.Stats()
			out = append(out, fmt.Sprintf("triggered=%d completed=%d failed=%d aborted=%d in-flight=%d consecutive-failures=%d last-completed=%d last-duration=%v",
				s.Triggered, s.Completed, s.Failed, s.Aborted, s.InFlight, s.ConsecutiveFailures, s.LastCompleted, s.LastDuration))
		case "store":
			r.c.sync()
			out = append(out, r.listStore()...)
		case "stop":
			r.c.Stop()
		default:
			fail("unknown command")
		}
		if f[0] != "stop" && r.c != nil {
			r.c.sync()
		}
		out = append(out, r.takeTrace()...)
		kept := savepoints[:0]
		for _, w := range savepoints {
			select {
			case res := <-w.reply:
				if res.err != nil {
					out = append(out, fmt.Sprintf("savepoint #%d: %v", w.n, res.err))
				} else {
					out = append(out, fmt.Sprintf("savepoint #%d: written to %s", w.n, res.url))
				}
			default:
				kept = append(kept, w)
			}
		}
		savepoints = kept
		for _, o := range out {
			fmt.Fprintf(&sb, "  %s\n", o)
		}
	}
	return sb.String()
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
