package nexmark_test

// End-to-end tests of the window queries q11 (event-time sessions) and q12
// (processing-time tumbling windows): the real job files, plan, runtime,
// window operator and nexmark source, against plain Go over the generator's
// bids.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/compute/computetest"
	"github.com/sluicedata/sluice/compute/runtime"
	"github.com/sluicedata/sluice/internal/clock"
)

// sessionRows is q11's SQL over bids: per bidder, sessions of bids whose
// 10 s gap windows [t, t+10s) touch or overlap (Flink merges touching
// session windows), with the bid count, start and end.
func sessionRows(bids []bidLite, gap int64) []string {
	byBidder := map[int64][]int64{}
	for _, b := range bids {
		byBidder[b.bidder] = append(byBidder[b.bidder], b.t)
	}
	var out []string
	for bidder, ts := range byBidder {
		slices.Sort(ts)
		start, end, n := ts[0], ts[0]+gap, 1
		for _, t := range ts[1:] {
			if t <= end {
				end, n = max(end, t+gap), n+1
				continue
			}
			out = append(out, fmt.Sprintf("%d %d %d %d", bidder, n, start, end))
			start, end, n = t, t+gap, 1
		}
		out = append(out, fmt.Sprintf("%d %d %d %d", bidder, n, start, end))
	}
	return out
}

type bidLite struct{ bidder, t int64 }

func TestQ11Sessions(t *testing.T) {
	// 100k events at 200 events/s of event time span about 8 minutes, so
	// most bidders' sessions close and reopen many times.
	const events = 100_000
	opts := map[string]any{"seed": 3, "first_event_rate": 200}
	_, srcOpts := loadSpec(t, "q11", events, opts)
	var lite []bidLite
	for _, b := range bids(t, events, srcOpts) {
		lite = append(lite, bidLite{b.Bidder, b.DateTime})
	}
	want := sessionRows(lite, 10_000)
	perBidder := map[string]int{}
	for _, r := range want {
		var bidder int64
		fmt.Sscan(r, &bidder)
		perBidder[fmt.Sprint(bidder)]++
	}
	if len(want) < 2*len(perBidder) {
		t.Fatalf("the model has %d sessions for %d bidders: sessions rarely close, the test is weak", len(want), len(perBidder))
	}
	for _, par := range []int32{1, 2} {
		t.Run(fmt.Sprintf("parallelism%d", par), func(t *testing.T) {
			spec, _ := loadSpec(t, "q11", events, opts)
			spec.Parallelism = par
			res := computetest.Run(t, spec)
			var got []string
			for _, r := range res.Rows("out") {
				got = append(got, fmt.Sprintf("%d %d %d %d", r["bidder"], r["bid_count"],
					r["starttime"].(time.Time).UnixMilli(), r["endtime"].(time.Time).UnixMilli()))
			}
			compareStrings(t, got, want)
		})
	}
}

// tickingClock is a fake clock that moves forward by step at every reading,
// so processing time passes (and processing-time timers fire) as the job
// runs, deterministically and without sleeping.
type tickingClock struct {
	*clock.Fake
	step time.Duration
}

func (c tickingClock) Now() time.Time {
	c.Fake.Advance(c.step)
	return c.Fake.Now()
}

func TestQ12ProcessingTimeWindows(t *testing.T) {
	const events = 200_000
	opts := map[string]any{"seed": 5}
	_, srcOpts := loadSpec(t, "q12", events, opts)
	wantPerBidder := map[int64]int64{}
	for _, b := range bids(t, events, srcOpts) {
		wantPerBidder[b.Bidder]++
	}
	for _, par := range []int32{1, 2} {
		t.Run(fmt.Sprintf("parallelism%d", par), func(t *testing.T) {
			spec, _ := loadSpec(t, "q12", events, opts)
			spec.Parallelism = par
			p, sinks := computetest.Build(t, spec)
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			clk := tickingClock{Fake: clock.NewFake(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), step: 5 * time.Millisecond}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			job, err := runtime.Start(ctx, p, runtime.Options{Allocator: mem, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			if err := job.Wait(); err != nil {
				t.Fatal(err)
			}
			// Processing time is not reproducible, so the windows are not
			// compared with a model; what must hold: every bid is counted
			// once, in one 10 s-aligned window, and a bidder has at most
			// one row per window.
			got := map[int64]int64{}
			windows := map[int64]bool{}
			seen := map[string]bool{}
			for _, r := range sinks["out"].Rows() {
				b := r["bidder"].(int64)
				st, end := r["starttime"].(time.Time).UnixMilli(), r["endtime"].(time.Time).UnixMilli()
				if st%10_000 != 0 || end-st != 10_000 {
					t.Fatalf("row %v: window [%d, %d) is not a 10 s tumbling window", r, st, end)
				}
				k := fmt.Sprint(b, st)
				if seen[k] {
					t.Fatalf("bidder %d has two rows for window starting %d", b, st)
				}
				seen[k] = true
				windows[st] = true
				got[b] += r["bid_count"].(int64)
			}
			if len(windows) < 2 {
				t.Fatalf("all rows fell in %d window(s): processing time did not pass, the test is weak", len(windows))
			}
			if len(got) != len(wantPerBidder) {
				t.Fatalf("%d bidders, want %d", len(got), len(wantPerBidder))
			}
			for b, n := range wantPerBidder {
				if got[b] != n {
					t.Fatalf("bidder %d: counted %d bids over its windows, want %d", b, got[b], n)
				}
			}
		})
	}
}

func compareStrings(t *testing.T, got, want []string) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	sort.Strings(got)
	sort.Strings(want)
	if slices.Equal(got, want) {
		return
	}
	var missing, extra []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j >= len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i >= len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	t.Fatalf("%d rows, want %d; %d missing (first %v), %d unexpected (first %v)", len(got), len(want),
		len(missing), missing[:min(5, len(missing))], len(extra), extra[:min(5, len(extra))])
}
