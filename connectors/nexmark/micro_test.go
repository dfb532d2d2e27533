package nexmark

import "testing"

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

// poolAlloc recycles freed buffers by exact capacity, to see what the
// generator costs without heap churn.
type poolAlloc struct{ free map[int][][]byte }

func (p *poolAlloc) Allocate(n int) []byte {
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		return b
	}
	return make([]byte, n)
}
func (p *poolAlloc) Reallocate(n int, b []byte) []byte {
	nb := p.Allocate(n)
	copy(nb, b)
	p.Free(b)
	return nb
}
func (p *poolAlloc) Free(b []byte) { p.free[cap(b)] = append(p.free[cap(b)], b[:cap(b)]) }

func BenchmarkMicroBidsPooled(b *testing.B) {
	g, _ := NewGenerator(Config{})
	mem := &poolAlloc{free: map[int][][]byte{}}
	c0 := cpuTime()
	var from int64
	for range b.N {
		rec, next := g.Batch(mem, StreamBid, from, from+1<<20, 4096)
		from = next
		rec.Release()
	}
	b.ReportMetric(float64(from)/(cpuTime()-c0).Seconds(), "events/cpu-s")
}
