package nexmark

// jrand is a bit-exact port of java.util.Random: a 48-bit linear congruential
// generator with the multiplier, increment and output functions fixed by the
// Java specification. nexmark-flink seeds a fresh java.util.Random with each
// event id, so matching it bit for bit is what makes our events equal to
// nexmark-flink's.
//
// It is a value type so that a per-event generator lives on the stack.
type jrand struct {
	seed uint64 // only the low 48 bits are used
}

const (
	jrandMultiplier = 0x5DEECE66D
	jrandAddend     = 0xB
	jrandMask       = (1 << 48) - 1
)

// newJRand is new java.util.Random(seed).
func newJRand(seed int64) jrand {
	return jrand{seed: (uint64(seed) ^ jrandMultiplier) & jrandMask}
}

// next is Random.next(bits): advance the LCG and return its top bits.
func (r *jrand) next(bits uint) int32 {
	r.seed = (r.seed*jrandMultiplier + jrandAddend) & jrandMask
	return int32(r.seed >> (48 - bits))
}

// nextInt is Random.nextInt().
func (r *jrand) nextInt() int32 { return r.next(32) }

// nextIntn is Random.nextInt(bound), including its rejection loop that
// removes modulo bias. bound must be positive (Java throws otherwise; our
// config validation guarantees it).
func (r *jrand) nextIntn(bound int32) int32 {
	x := r.next(31)
	m := bound - 1
	if bound&m == 0 { // a power of two
		return int32((int64(bound) * int64(x)) >> 31)
	}
	u := x
	for {
		x = u % bound
		if u-x+m >= 0 { // int32 overflow here means a biased draw: retry
			return x
		}
		u = r.next(31)
	}
}

// nextLong is Random.nextLong().
func (r *jrand) nextLong() int64 {
	hi := int64(r.next(32)) << 32
	return hi + int64(r.next(32))
}

// nextDouble is Random.nextDouble().
func (r *jrand) nextDouble() float64 {
	hi := int64(r.next(26)) << 27
	return float64(hi+int64(r.next(27))) * (1.0 / (1 << 53))
}

// nextLongn is nexmark's LongGenerator.nextLong(random, n): a value in [0, n)
// drawn with nextInt when n fits an int, and otherwise with the (skewed)
// abs(nextLong() % n) that nexmark-flink uses.
func (r *jrand) nextLongn(n int64) int64 {
	if n < 1<<31-1 {
		return int64(r.nextIntn(int32(n)))
	}
	v := r.nextLong() % n
	if v < 0 {
		v = -v
	}
	return v
}
