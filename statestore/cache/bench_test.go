package cache

import "testing"

func BenchmarkBlockCacheGetParallel(b *testing.B) {
	c, _ := New(Options{Capacity: 64 << 20})
	for i := uint64(0); i < 4096; i++ {
		c.Set(1, i*4096, make([]byte, 4096))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := uint64(0)
		for pb.Next() {
			c.Get(1, (i%4096)*4096)
			i += 7
		}
	})
}
