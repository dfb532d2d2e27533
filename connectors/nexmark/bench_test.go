package nexmark

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluicedata/sluice/connectors"
)

// benchStream reads one split of stream at full speed and reports events
// per second in the event-number space (all 50 events of each cycle count,
// whichever stream is materialized).
func benchStream(b *testing.B, stream Stream) {
	src, err := New(Config{Stream: stream})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	splits, _ := src.Splits(ctx, 1)
	r, err := src.Open(ctx, splits[0], nil, connectors.ReadOptions{Allocator: memory.NewGoAllocator(), BatchSize: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var rows int64
	for range b.N {
		rec, err := r.Next(ctx)
		if err == io.EOF {
			b.Fatal("unbounded source ended")
		}
		if err != nil {
			b.Fatal(err)
		}
		rows += rec.NumRows()
		rec.Release()
	}
	b.StopTimer()
	cpu := (cpuTime() - cpu0).Seconds()
	pos, _ := DecodePosition(r.Position())
	b.ReportMetric(float64(pos)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(pos)/cpu, "events/cpu-s")
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkGenerateBids is the bid stream of q0/q1/q2.
func BenchmarkGenerateBids(b *testing.B) { benchStream(b, StreamBid) }

// BenchmarkGeneratePersons and BenchmarkGenerateAuctions are the other two
// streams alone.
func BenchmarkGeneratePersons(b *testing.B)  { benchStream(b, StreamPerson) }
func BenchmarkGenerateAuctions(b *testing.B) { benchStream(b, StreamAuction) }

// BenchmarkGenerateAll materializes all three streams of the same event
// range (what a combined generator does), reporting events/s.
func BenchmarkGenerateAll(b *testing.B) {
	g, err := NewGenerator(Config{})
	if err != nil {
		b.Fatal(err)
	}
	// Recycle batch memory, as the source's readers do.
	mem := newRecycler(memory.NewGoAllocator())
	defer mem.close()
	b.ReportAllocs()
	const span = 4096
	cpu0 := cpuTime()
	var from int64
	for range b.N {
		for _, s := range []Stream{StreamPerson, StreamAuction, StreamBid} {
			rec, _ := g.Batch(mem, s, from, from+span, span)
			rec.Release()
		}
		from += span
	}
	b.ReportMetric(float64(from)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(from)/(cpuTime()-cpu0).Seconds(), "events/cpu-s")
}

// cpuTime is the CPU time (user + system) of the whole process, GC
// included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
