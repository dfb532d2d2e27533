package timer

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"go.uber.org/goleak"

	"github.com/sluicedata/sluice/compute"
	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output in testdata files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// ms formats a time as milliseconds since epoch.
func ms(t time.Time) int64 { return t.Sub(epoch).Milliseconds() }

func at(ms int64) time.Time { return epoch.Add(time.Duration(ms) * time.Millisecond) }

// traceEnv drives one Service over memstore for a trace file.
type traceEnv struct {
	t      *testing.T
	k      int
	clk    *clock.Fake
	reg    *memstore.Registry
	enc    *state.KeyEncoder
	stores []statestore.Store
	be     *state.Backend
	ts     *Service
	handle statestore.Handle
	mem    *memory.CheckedAllocator
}

func (e *traceEnv) key(v int64) state.Key {
	b := array.NewInt64Builder(e.mem)
	defer b.Release()
	b.Append(v)
	a := b.NewArray()
	defer a.Release()
	var kb state.KeyBatch
	if err := e.enc.Encode([]arrow.Array{a}, &kb); err != nil {
		e.t.Fatal(err)
	}
	k := kb.At(0)
	k.Bytes = bytes.Clone(k.Bytes)
	return k
}

func (e *traceEnv) keyInt(k state.Key) int64 {
	arrs, err := e.enc.DecodeKeys(e.mem, [][]byte{k.Bytes})
	if err != nil {
		e.t.Fatal(err)
	}
	defer arrs[0].Release()
	return arrs[0].(*array.Int64).Value(0)
}

func (e *traceEnv) open(ctx context.Context, from []statestore.Handle, owned statestore.KeyGroupRange) error {
	st, err := e.reg.Open(ctx, statestore.ShardOptions{Name: "op"}, from, owned)
	if err != nil {
		return err
	}
	e.stores = append(e.stores, st)
	e.be, err = state.Open(ctx, state.Options{Store: st, KeyGroups: owned, Clock: e.clk})
	if err != nil {
		return err
	}
	e.ts, err = Open(ctx, Options{Backend: e.be, Keys: e.enc})
	return err
}

func (e *traceEnv) fmtTimer(t Timer) string {
	return fmt.Sprintf("%s key=%d ns=%s t=%d", t.Domain, e.keyInt(t.Key), t.Namespace, ms(t.Time))
}

type args map[string]string

func (a args) int(t *testing.T, name string) int64 {
	v, ok := a[name]
	if !ok {
		t.Fatalf("missing argument %s", name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("argument %s=%q: %v", name, v, err)
	}
	return n
}

func (a args) domain(t *testing.T) Domain {
	switch a["domain"] {
	case "", "event":
		return EventTime
	case "proc", "processing":
		return ProcessingTime
	}
	t.Fatalf("bad domain %q", a["domain"])
	return 0
}

func (a args) kgRange(t *testing.T, k int) statestore.KeyGroupRange {
	v, ok := a["kg"]
	if !ok {
		return statestore.FullKeyGroupRange(k)
	}
	lo, hi, _ := strings.Cut(v, "-")
	l, err1 := strconv.Atoi(lo)
	h, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad kg range %q", v)
	}
	return statestore.KeyGroupRange{Start: uint16(l), End: uint16(h)}
}

// fire returns a FireFunc that records fired timers, and, for timers in
// namespace "chain", registers a follow-up in namespace "chained" 1 ms later.
func (e *traceEnv) fire(out *strings.Builder) FireFunc {
	return func(t Timer) error {
		fmt.Fprintf(out, "fired %s\n", e.fmtTimer(t))
		if string(t.Namespace) == "chain" {
			return e.ts.Register(t.Domain, t.Key, []byte("chained"), t.Time.Add(time.Millisecond))
		}
		return nil
	}
}

func (e *traceEnv) run(ctx context.Context, cmd string, a args) string {
	t := e.t
	var out strings.Builder
	check := func(err error) {
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
		}
	}
	switch cmd {
	case "register":
		check(e.ts.Register(a.domain(t), e.key(a.int(t, "key")), []byte(a["ns"]), at(a.int(t, "t"))))
	case "delete":
		check(e.ts.Delete(a.domain(t), e.key(a.int(t, "key")), []byte(a["ns"]), at(a.int(t, "t"))))
	case "delete-key":
		check(e.ts.DeleteKey(e.key(a.int(t, "key"))))
	case "delete-ns":
		check(e.ts.DeleteNamespace(e.key(a.int(t, "key")), []byte(a["ns"])))
	case "watermark":
		check(e.ts.AdvanceWatermark(ctx, at(a.int(t, "t")), e.fire(&out)))
		check(e.be.Flush(ctx))
	case "proc":
		e.clk.Set(at(a.int(t, "t")))
		check(e.ts.AdvanceProcessingTime(ctx, e.clk.Now(), e.fire(&out)))
		check(e.be.Flush(ctx))
	case "next":
		if nt, ok := e.ts.NextProcessingTime(); ok {
			fmt.Fprintf(&out, "next processing time: %d\n", ms(nt))
		} else {
			out.WriteString("no processing-time timer\n")
		}
	case "list":
		for _, d := range []Domain{EventTime, ProcessingTime} {
			e.ts.Timers(d, func(tm Timer) bool {
				fmt.Fprintf(&out, "%s\n", e.fmtTimer(tm))
				return true
			})
		}
		m := e.ts.Metrics()
		fmt.Fprintf(&out, "event=%d processing=%d\n", m.EventTimers, m.ProcessingTimers)
	case "checkpoint":
		p, err := e.be.Checkpoint(ctx, uint64(len(e.stores)))
		if err == nil {
			e.handle, err = p.Wait(ctx)
		}
		check(err)
	case "restore":
		owned := a.kgRange(t, e.k)
		if err := e.open(ctx, []statestore.Handle{e.handle}, owned); err != nil {
			check(err)
			break
		}
		fmt.Fprintf(&out, "restored %d timers in %v\n", e.ts.Metrics().Restored, owned)
	case "keygroup":
		fmt.Fprintf(&out, "key %d: key group %d\n", a.int(t, "key"), e.key(a.int(t, "key")).Group)
	default:
		t.Fatalf("unknown command %q", cmd)
	}
	if out.Len() == 0 {
		return "ok\n"
	}
	return out.String()
}

// TestTraces runs the data-driven traces in testdata/*.txt. A case is
//
//	command key=value ...
//	----
//	expected output
//
// separated by blank lines. go test -run TestTraces -rewrite rewrites the
// expected outputs.
func TestTraces(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no trace files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runTraceFile(t, f) })
	}
}

func runTraceFile(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	const k = 16
	enc, err := state.NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(epoch)
	e := &traceEnv{t: t, k: k, clk: clk, reg: memstore.NewRegistry(memstore.Options{Clock: clk}), enc: enc, mem: mem}
	defer func() {
		for _, s := range e.stores {
			s.Close()
		}
	}()
	if err := e.open(ctx, nil, statestore.FullKeyGroupRange(k)); err != nil {
		t.Fatal(err)
	}

	var rewritten strings.Builder
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			rewritten.WriteString(line + "\n")
			i++
			continue
		}
		cmdLine := line
		i++
		if i >= len(lines) || lines[i] != "----" {
			t.Fatalf("%s:%d: want ---- after %q", path, i+1, cmdLine)
		}
		i++
		var want strings.Builder
		for i < len(lines) && strings.TrimSpace(lines[i]) != "" {
			want.WriteString(lines[i] + "\n")
			i++
		}
		fields := strings.Fields(cmdLine)
		a := args{}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			a[k] = v
		}
		got := e.run(ctx, fields[0], a)
		if !*rewrite && got != want.String() {
			t.Errorf("%s: %s\ngot:\n%swant:\n%s", path, cmdLine, got, want.String())
		}
		rewritten.WriteString(cmdLine + "\n----\n" + got)
	}
	if *rewrite {
		out := strings.TrimRight(rewritten.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMaxWatermarkFiresEverything checks that the end-of-input watermark,
// which lies beyond what Unix nanoseconds can hold, fires every event-time
// timer, even ones set beyond that range.
func TestMaxWatermarkFiresEverything(t *testing.T) {
	ctx := context.Background()
	const k = 16
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	enc, err := state.NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(epoch)
	e := &traceEnv{t: t, k: k, clk: clk, reg: memstore.NewRegistry(memstore.Options{Clock: clk}), enc: enc, mem: mem}
	defer func() {
		for _, s := range e.stores {
			s.Close()
		}
	}()
	if err := e.open(ctx, nil, statestore.FullKeyGroupRange(k)); err != nil {
		t.Fatal(err)
	}
	for i, when := range []time.Time{at(5), time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC), compute.MaxWatermark} {
		if err := e.ts.Register(EventTime, e.key(int64(i)), nil, when); err != nil {
			t.Fatal(err)
		}
	}
	fired := 0
	if err := e.ts.AdvanceWatermark(ctx, compute.MaxWatermark, func(Timer) error { fired++; return nil }); err != nil {
		t.Fatal(err)
	}
	if fired != 3 {
		t.Fatalf("the maximum watermark fired %d of 3 timers", fired)
	}
}
