package timer

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/state"
	"github.com/sluicedata/sluice/internal/clock"
	"github.com/sluicedata/sluice/statestore"
	"github.com/sluicedata/sluice/statestore/memstore"
)

type mtimer struct {
	d   Domain
	key int64
	enc string // encoded key, for ordering
	ns  string
	t   int64
}

func cmpTimer(a, b mtimer) int {
	return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.enc, b.enc), cmp.Compare(a.ns, b.ns))
}

// TestRandomizedTimers runs random registers, deletes, watermark and
// processing-time advances and checkpoint/restore cycles, and compares the
// fired sequence with a model that sorts the due timers.
func TestRandomizedTimers(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runRandomTimers(t, seed) })
	}
}

func runRandomTimers(t *testing.T, seed uint64) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, 7))
	const k = 16
	enc, _ := state.NewKeyEncoder([]arrow.DataType{arrow.PrimitiveTypes.Int64}, k)
	clk := clock.NewFake(epoch)
	e := &traceEnv{t: t, k: k, clk: clk, reg: memstore.NewRegistry(memstore.Options{Clock: clk}), enc: enc, mem: mem}
	defer func() {
		for _, s := range e.stores {
			s.Close()
		}
	}()
	full := statestore.FullKeyGroupRange(k)
	if err := e.open(ctx, nil, full); err != nil {
		t.Fatal(err)
	}
	model := map[mtimer]bool{}
	keys := map[int64]state.Key{}
	key := func(v int64) state.Key {
		if kk, ok := keys[v]; ok {
			return kk
		}
		keys[v] = e.key(v)
		return keys[v]
	}
	mk := func(d Domain, kv int64, ns string, tm int64) mtimer {
		return mtimer{d: d, key: kv, enc: string(key(kv).Bytes), ns: ns, t: tm}
	}
	var wm, now int64
	// fire records; timers in namespace "c" register a follow-up, like an
	// operator re-arming a trigger.
	fire := func(got *[]mtimer) FireFunc {
		return func(tm Timer) error {
			m := mtimer{d: tm.Domain, key: e.keyInt(tm.Key), enc: string(tm.Key.Bytes), ns: string(tm.Namespace), t: ms(tm.Time)}
			*got = append(*got, m)
			if m.ns == "c" {
				return e.ts.Register(tm.Domain, tm.Key, []byte("d"), tm.Time.Add(time.Millisecond))
			}
			return nil
		}
	}
	// expect removes and returns the model's due timers of d in order,
	// including the follow-ups of "c" timers.
	expect := func(d Domain, upTo int64) []mtimer {
		var out []mtimer
		for {
			var due []mtimer
			for m := range model {
				if m.d == d && m.t <= upTo {
					due = append(due, m)
				}
			}
			if len(due) == 0 {
				return out
			}
			slices.SortFunc(due, cmpTimer)
			m := due[0]
			delete(model, m)
			out = append(out, m)
			if m.ns == "c" {
				model[mk(d, m.key, "d", m.t+1)] = true
			}
		}
	}
	nss := []string{"a", "b", "c"}
	for step := 0; step < 600; step++ {
		switch op := rnd.IntN(10); op {
		case 0, 1, 2:
			d := []Domain{EventTime, ProcessingTime}[rnd.IntN(2)]
			kv, ns := rnd.Int64N(8), nss[rnd.IntN(3)]
			base := wm
			if d == ProcessingTime {
				base = now
			}
			tm := base + rnd.Int64N(50) - 5
			if err := e.ts.Register(d, key(kv), []byte(ns), at(tm)); err != nil {
				t.Fatal(err)
			}
			model[mk(d, kv, ns, tm)] = true
		case 3: // delete an existing timer (or a missing one)
			var m mtimer
			for m = range model {
				break
			}
			if rnd.IntN(4) == 0 {
				m.t++
			}
			if m.enc == "" {
				continue
			}
			if err := e.ts.Delete(m.d, key(m.key), []byte(m.ns), at(m.t)); err != nil {
				t.Fatal(err)
			}
			delete(model, m)
		case 4:
			kv := rnd.Int64N(8)
			if rnd.IntN(2) == 0 {
				if err := e.ts.DeleteKey(key(kv)); err != nil {
					t.Fatal(err)
				}
				for m := range model {
					if m.key == kv {
						delete(model, m)
					}
				}
			} else {
				ns := nss[rnd.IntN(3)]
				if err := e.ts.DeleteNamespace(key(kv), []byte(ns)); err != nil {
					t.Fatal(err)
				}
				for m := range model {
					if m.key == kv && m.ns == ns {
						delete(model, m)
					}
				}
			}
		case 5, 6:
			wm += rnd.Int64N(30)
			var got []mtimer
			if err := e.ts.AdvanceWatermark(ctx, at(wm), fire(&got)); err != nil {
				t.Fatal(err)
			}
			if want := expect(EventTime, wm); !slices.Equal(got, want) {
				t.Fatalf("step %d: watermark %d fired\n%v\nwant\n%v", step, wm, got, want)
			}
		case 7:
			now += rnd.Int64N(30)
			var got []mtimer
			if err := e.ts.AdvanceProcessingTime(ctx, at(now), fire(&got)); err != nil {
				t.Fatal(err)
			}
			if want := expect(ProcessingTime, now); !slices.Equal(got, want) {
				t.Fatalf("step %d: processing time %d fired\n%v\nwant\n%v", step, now, got, want)
			}
			next, ok := e.ts.NextProcessingTime()
			var wantNext int64 = -1
			for m := range model {
				if m.d == ProcessingTime && (wantNext < 0 || m.t < wantNext) {
					wantNext = m.t
				}
			}
			if ok != (wantNext >= 0) || (ok && ms(next) != wantNext) {
				t.Fatalf("step %d: NextProcessingTime = %d,%v; want %d", step, ms(next), ok, wantNext)
			}
		case 8:
			if err := e.be.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		case 9: // checkpoint and restore
			p, err := e.be.Checkpoint(ctx, uint64(step))
			if err != nil {
				t.Fatal(err)
			}
			if e.handle, err = p.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := e.open(ctx, []statestore.Handle{e.handle}, full); err != nil {
				t.Fatal(err)
			}
			if got := e.ts.Metrics(); got.EventTimers+got.ProcessingTimers != len(model) {
				t.Fatalf("step %d: restored %d timers, model has %d", step, got.EventTimers+got.ProcessingTimers, len(model))
			}
		}
	}
	// Everything left fires at the end, in order.
	var got []mtimer
	if err := e.ts.AdvanceWatermark(ctx, at(1<<40), fire(&got)); err != nil {
		t.Fatal(err)
	}
	if want := expect(EventTime, 1<<40); !slices.Equal(got, want) {
		t.Fatalf("final watermark fired %v, want %v", got, want)
	}
}
