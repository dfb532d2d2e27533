package restart_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/compute/restart"

	"github.com/sluicedata/sluice/internal/golden"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestTrace runs testdata/*.script: a first line that builds a strategy
//
//	none
//	fixed-delay attempts=N delay=D
//	exponential initial=D max=D multiplier=F reset-after=D [jitter=F | no-jitter] [seed=N]
//	failure-rate max-failures=N interval=D delay=D
//
// then "fail D" lines (failure times after a fixed start). The trace of
// decisions is compared with the .golden file; -rewrite regenerates it.
func TestTrace(t *testing.T) { golden.Scripts(t, "testdata/*.script", runTrace) }

func runTrace(t *testing.T, script string) string {
	var sb strings.Builder
	var s restart.Strategy
	for _, line := range strings.Split(script, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		fmt.Fprintf(&sb, "%s\n", line)
		if f[0] == "fail" {
			if s == nil {
				t.Fatal("fail before the strategy line")
			}
			delay, ok := s.OnFailure(t0.Add(mustDur(t, f[1])))
			if ok {
				fmt.Fprintf(&sb, "  restart after %v\n", delay)
			} else {
				fmt.Fprintf(&sb, "  give up\n")
			}
			continue
		}
		var err error
		s, err = parseStrategy(f)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		fmt.Fprintf(&sb, "  %s\n", s)
	}
	return sb.String()
}

func parseStrategy(f []string) (restart.Strategy, error) {
	args := map[string]string{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		args[k] = v
	}
	dur := func(k string) time.Duration { d, _ := time.ParseDuration(args[k]); return d }
	num := func(k string) int { n, _ := strconv.Atoi(args[k]); return n }
	flt := func(k string) float64 { x, _ := strconv.ParseFloat(args[k], 64); return x }
	switch f[0] {
	case "none":
		return restart.None(), nil
	case "fixed-delay":
		return restart.NewFixedDelay(restart.FixedDelayConfig{Attempts: num("attempts"), Delay: dur("delay")})
	case "exponential":
		_, noJitter := args["no-jitter"]
		seed := uint64(num("seed"))
		return restart.NewExponentialDelay(restart.ExponentialDelayConfig{
			Initial: dur("initial"), Max: dur("max"), Multiplier: flt("multiplier"), ResetAfter: dur("reset-after"),
			Jitter: flt("jitter"), NoJitter: noJitter, Rand: rand.New(rand.NewPCG(seed, seed)),
		})
	case "failure-rate":
		return restart.NewFailureRate(restart.FailureRateConfig{MaxFailures: num("max-failures"), Interval: dur("interval"), Delay: dur("delay")})
	}
	return nil, fmt.Errorf("unknown strategy %q", f[0])
}

func mustDur(t *testing.T, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func() (restart.Strategy, error)
		want []string // substrings of the error; nil: valid
	}{
		{"fixed defaults", func() (restart.Strategy, error) {
			return restart.NewFixedDelay(restart.FixedDelayConfig{Attempts: 1})
		}, nil},
		{"fixed no attempts", func() (restart.Strategy, error) {
			return restart.NewFixedDelay(restart.FixedDelayConfig{Delay: -time.Second})
		}, []string{"fixed_delay.attempts = 0", "fixed_delay.delay = -1s"}},
		{"exponential defaults", func() (restart.Strategy, error) {
			return restart.NewExponentialDelay(restart.ExponentialDelayConfig{})
		}, nil},
		{"exponential bad", func() (restart.Strategy, error) {
			return restart.NewExponentialDelay(restart.ExponentialDelayConfig{
				Initial: -time.Second, Max: -2 * time.Second, Multiplier: 0.5, ResetAfter: -time.Minute, Jitter: 1.5,
			})
		}, []string{"exponential_delay.initial = -1s", "exponential_delay.max = -2s", "exponential_delay.multiplier = 0.5",
			"exponential_delay.reset_after = -1m0s", "exponential_delay.jitter = 1.5"}},
		{"exponential max below initial", func() (restart.Strategy, error) {
			return restart.NewExponentialDelay(restart.ExponentialDelayConfig{Initial: time.Minute, Max: time.Second})
		}, []string{"exponential_delay.max = 1s: must be at least initial (1m0s)"}},
		{"exponential NaN multiplier", func() (restart.Strategy, error) {
			return restart.NewExponentialDelay(restart.ExponentialDelayConfig{Multiplier: nan()})
		}, []string{"exponential_delay.multiplier = NaN"}},
		{"failure rate defaults", func() (restart.Strategy, error) {
			return restart.NewFailureRate(restart.FailureRateConfig{MaxFailures: 1})
		}, nil},
		{"failure rate bad", func() (restart.Strategy, error) {
			return restart.NewFailureRate(restart.FailureRateConfig{MaxFailures: -1, Interval: -time.Second, Delay: -time.Second})
		}, []string{"failure_rate.max_failures = -1", "failure_rate.interval = -1s", "failure_rate.delay = -1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.make()
			if tc.want == nil {
				if err != nil || s == nil {
					t.Fatalf("got %v, %v; want a strategy", s, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %v, want an error", s)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// TestExponentialProperties drives the exponential strategy with random
// failure times and checks, for every decision: it always restarts; the
// wait is within [Initial*(1-Jitter), Max]; without a quiet run the
// un-jittered wait grows monotonically to Max and stays there; after a
// quiet run of ResetAfter it is back at Initial.
func TestExponentialProperties(t *testing.T) {
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		cfg := restart.ExponentialDelayConfig{
			Initial:    time.Duration(1+rng.IntN(1000)) * time.Millisecond,
			Multiplier: 1 + rng.Float64()*3,
			ResetAfter: time.Duration(1+rng.IntN(60)) * time.Second,
			Jitter:     rng.Float64(),
			NoJitter:   rng.IntN(3) == 0,
			Rand:       rand.New(rand.NewPCG(seed, 2)),
		}
		cfg.Max = cfg.Initial * time.Duration(1+rng.IntN(100))
		s, err := restart.NewExponentialDelay(cfg)
		if err != nil {
			t.Fatal(err)
		}
		jitter := cfg.Jitter
		if cfg.NoJitter {
			jitter = 0
		}
		now := t0
		var prev time.Duration // un-jittered model of the wait
		restarted := time.Time{}
		for i := range 200 {
			quiet := rng.IntN(10) == 0
			run := time.Duration(rng.Int64N(int64(cfg.ResetAfter)))
			if quiet {
				run = cfg.ResetAfter + time.Duration(rng.Int64N(int64(time.Hour)))
			}
			if !restarted.IsZero() {
				now = restarted.Add(run)
			}
			d, ok := s.OnFailure(now)
			if !ok {
				t.Fatalf("seed %d failure %d: exponential gave up", seed, i)
			}
			base := cfg.Initial
			if prev != 0 && !quiet {
				base = min(time.Duration(float64(prev)*cfg.Multiplier), cfg.Max)
				if base < prev {
					t.Fatalf("seed %d failure %d: model wait shrank", seed, i)
				}
			}
			lo := time.Duration(float64(base) * (1 - jitter))
			hi := min(time.Duration(float64(base)*(1+jitter)), cfg.Max)
			if d < lo-time.Microsecond || d > hi+time.Microsecond {
				t.Fatalf("seed %d failure %d (quiet %v): wait %v not in [%v, %v] (base %v, %+v)", seed, i, quiet, d, lo, hi, base, cfg)
			}
			if d > cfg.Max || d < 0 {
				t.Fatalf("seed %d failure %d: wait %v beyond max %v", seed, i, d, cfg.Max)
			}
			prev = base
			restarted = now.Add(d)
		}
	}
}

// TestExponentialReachesMax checks that back-to-back failures reach Max
// within the expected number of steps and stay there.
func TestExponentialReachesMax(t *testing.T) {
	s, err := restart.NewExponentialDelay(restart.ExponentialDelayConfig{
		Initial: time.Second, Max: time.Minute, Multiplier: 2, NoJitter: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	var got []time.Duration
	for range 10 {
		d, _ := s.OnFailure(now)
		got = append(got, d)
		now = now.Add(d + time.Second)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60, 60}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("waits %v, want %v seconds", got, want)
		}
	}
}

// TestFailureRateModel compares the failure-rate strategy with a model that
// keeps every failure time and counts those in (now-Interval, now].
func TestFailureRateModel(t *testing.T) {
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 3))
		cfg := restart.FailureRateConfig{
			MaxFailures: 1 + rng.IntN(5),
			Interval:    time.Duration(1+rng.IntN(60)) * time.Second,
			Delay:       time.Duration(1+rng.IntN(5)) * time.Second,
		}
		s, err := restart.NewFailureRate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var all []time.Time
		now := t0
		for i := range 300 {
			now = now.Add(time.Duration(rng.Int64N(int64(cfg.Interval) / int64(cfg.MaxFailures))))
			if rng.IntN(20) == 0 {
				now = now.Add(cfg.Interval) // a quiet spell
			}
			all = append(all, now)
			in := 0
			for _, f := range all {
				if now.Sub(f) < cfg.Interval {
					in++
				}
			}
			d, ok := s.OnFailure(now)
			if want := in <= cfg.MaxFailures; ok != want {
				t.Fatalf("seed %d failure %d: %d failures within %v (max %d): ok = %v, want %v", seed, i, in, cfg.Interval, cfg.MaxFailures, ok, want)
			}
			if ok && d != cfg.Delay {
				t.Fatalf("seed %d failure %d: wait %v, want %v", seed, i, d, cfg.Delay)
			}
		}
	}
}

// TestFixedDelayCount checks that fixed delay allows exactly Attempts
// restarts, whatever the failure times.
func TestFixedDelayCount(t *testing.T) {
	for attempts := 1; attempts <= 5; attempts++ {
		s, err := restart.NewFixedDelay(restart.FixedDelayConfig{Attempts: attempts, Delay: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		restarts := 0
		for i := range 20 {
			d, ok := s.OnFailure(t0.Add(time.Duration(i) * time.Hour))
			if ok {
				restarts++
				if d != 2*time.Second {
					t.Fatalf("wait %v", d)
				}
			} else if restarts != attempts {
				t.Fatalf("gave up after %d restarts, want %d", restarts, attempts)
			}
		}
		if restarts != attempts {
			t.Fatalf("%d restarts, want %d", restarts, attempts)
		}
	}
}
