package nexmark

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestJRandAgainstJava checks the port against outputs of the real
// java.util.Random, recorded by testdata/JavaRandomGolden.java.
func TestJRandAgainstJava(t *testing.T) {
	f, err := os.Open("testdata/java_random.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type key struct {
		seed int64
		op   string
		arg  int64
	}
	rs := map[key]*jrand{}
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			t.Fatalf("bad line %q", sc.Text())
		}
		seed, _ := strconv.ParseInt(fs[0], 10, 64)
		arg, _ := strconv.ParseInt(fs[2], 10, 64)
		want, err := strconv.ParseInt(fs[3], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		k := key{seed, fs[1], arg}
		r := rs[k]
		if r == nil || fs[1] == "price1" {
			nr := newJRand(seed)
			r = &nr
			rs[k] = r
		}
		var got int64
		switch fs[1] {
		case "int":
			got = int64(r.nextInt())
		case "intn":
			got = int64(r.nextIntn(int32(arg)))
		case "long":
			got = r.nextLong()
		case "double":
			got = int64(math.Float64bits(r.nextDouble()))
		case "price", "price1":
			got = nextPrice(r)
		default:
			t.Fatalf("unknown op in %q", sc.Text())
		}
		if got != want {
			t.Fatalf("%s: got %d", sc.Text(), got)
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 20000 {
		t.Fatalf("only %d reference lines", lines)
	}
}

// TestJRandKnownValues pins the values quoted in the issue and in Java
// folklore, independently of the golden file.
func TestJRandKnownValues(t *testing.T) {
	r := newJRand(42)
	if a, b := r.nextInt(), r.nextInt(); a != -1170105035 || b != 234785527 {
		t.Fatalf("new Random(42).nextInt() x2 = %d, %d", a, b)
	}
	r = newJRand(0)
	if v := r.nextInt(); v != -1155484576 {
		t.Fatalf("new Random(0).nextInt() = %d", v)
	}
	r = newJRand(0)
	if v := r.nextDouble(); v != 0.730967787376657 {
		t.Fatalf("new Random(0).nextDouble() = %v", v)
	}
	r = newJRand(0)
	if v := r.nextLong(); v != -4962768465676381896 {
		t.Fatalf("new Random(0).nextLong() = %d", v)
	}
}

func TestJavaRound(t *testing.T) {
	for _, c := range []struct {
		x    float64
		want int64
	}{{0.5, 1}, {1.5, 2}, {2.5, 3}, {-0.5, 0}, {-1.5, -1}, {0.49999999999999994, 0}, {13.6, 14}, {13.4, 13}, {100, 100}} {
		if got := javaRound(c.x); got != c.want {
			t.Errorf("javaRound(%v) = %d, want %d", c.x, got, c.want)
		}
	}
}

// TestExactStringFastPath compares appendExactString with the literal
// Java loop (division by 26, six characters per nextInt).
func TestExactStringFastPath(t *testing.T) {
	slow := func(r *jrand, length int) []byte {
		var out []byte
		var rnd int32
		n := 0
		for ; length > 0; length-- {
			if n == 0 {
				rnd = r.nextInt()
				n = 6
			}
			out = append(out, byte('a'+rnd%26))
			rnd /= 26
			n--
		}
		return out
	}
	for seed := int64(0); seed < 3000; seed++ {
		length := int(seed % 97)
		r1, r2 := newJRand(seed), newJRand(seed)
		got := appendExactString(make([]byte, 0, length), &r1, length)
		want := slow(&r2, length)
		if string(got) != string(want) || r1 != r2 {
			t.Fatalf("seed %d length %d: got %q want %q", seed, length, got, want)
		}
	}
	// Extremes of rnd: 0, MinInt32, MaxInt32, -1.
	for _, rnd := range []int32{0, -1, 1, math.MinInt32, math.MaxInt32, -676, 676 * 676} {
		var want, got [6]byte
		x := rnd
		for i := range want {
			want[i] = byte('a' + x%26)
			x /= 26
		}
		u := uint32(rnd)
		tb := &charPairs[0]
		if rnd < 0 {
			tb = &charPairs[1]
			u = -u
		}
		q := u / 676
		p0, p1, p2 := tb[u-q*676], tb[q%676], tb[q/676%676]
		got = [6]byte{byte(p0), byte(p0 >> 8), byte(p1), byte(p1 >> 8), byte(p2), byte(p2 >> 8)}
		if got != want {
			t.Errorf("rnd %d: %q, want %q", rnd, got, want)
		}
	}
}

func TestPow10(t *testing.T) {
	r := newJRand(3)
	for i := range 1_000_000 {
		y := r.nextDouble() * 6
		if i < 8 {
			y = []float64{0, 0.5, 1, 1.5, 2, 5.999999999999999, 3, 0.25}[i]
		}
		if got, want := pow10(y), math.Pow(10, y); got != want {
			t.Fatalf("pow10(%v) = %v, math.Pow = %v", y, got, want)
		}
	}
}
