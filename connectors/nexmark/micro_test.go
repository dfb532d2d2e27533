package nexmark

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func BenchmarkMicroBid(b *testing.B) {
	g, _ := NewGenerator(Config{})
	buf := make([]byte, 0, 200)
	var row bidRow
	n := int64(0)
	c0 := cpuTime()
	defer func() { b.ReportMetric(float64(b.N)/(cpuTime()-c0).Seconds(), "bids/cpu-s") }()
	for range b.N {
		if g.KindOf(n) != KindBid {
			n++
		}
		buf = g.bid(n, &row, buf[:0])
		n++
	}
}

func BenchmarkMicroExact(b *testing.B) {
	buf := make([]byte, 0, 200)
	r := newJRand(1)
	for range b.N {
		buf = appendExactString(buf[:0], &r, 68)
	}
}

func BenchmarkMicroPrice(b *testing.B) {
	r := newJRand(1)
	var s int64
	for range b.N {
		s += nextPrice(&r)
	}
	_ = s
}

// BenchmarkMicroBidsRecycled is the columnar bid path through Generator.Batch
// with recycled memory, without the reader.
func BenchmarkMicroBidsRecycled(b *testing.B) {
	g, _ := NewGenerator(Config{})
	mem := newRecycler(memory.NewGoAllocator())
	defer mem.close()
	c0 := cpuTime()
	var from int64
	for range b.N {
		rec, next := g.Batch(mem, StreamBid, from, from+1<<20, 4096)
		from = next
		rec.Release()
	}
	b.ReportMetric(float64(from)/(cpuTime()-c0).Seconds(), "events/cpu-s")
}
