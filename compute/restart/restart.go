package restart

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Strategy decides whether and when a failed job restarts. Not safe for
// concurrent use: one job's supervisor owns it.
type Strategy interface {
	// OnFailure records a failure at now and returns how long to wait
	// before restarting, or ok=false to give up: the job fails for good.
	// Calls come with non-decreasing times.
	OnFailure(now time.Time) (delay time.Duration, ok bool)
	// String describes the strategy and its parameters, for logs.
	String() string
}

// None returns the strategy that never restarts.
func None() Strategy { return none{} }

type none struct{}

func (none) OnFailure(time.Time) (time.Duration, bool) { return 0, false }
func (none) String() string                            { return "none" }

// DefaultDelay is the default wait of FixedDelay and FailureRate.
const DefaultDelay = time.Second

func configError(field string, v any, why string) error {
	return fmt.Errorf("restart strategy: %s = %v: %s", field, v, why)
}

// FixedDelayConfig configures NewFixedDelay.
type FixedDelayConfig struct {
	// Attempts is how many restarts are allowed over the job's life.
	// Required; at least 1.
	Attempts int
	// Delay is the wait before each restart. Default 1s.
	Delay time.Duration
}

// EnsureDefaults fills unset fields.
func (c *FixedDelayConfig) EnsureDefaults() {
	if c.Delay == 0 {
		c.Delay = DefaultDelay
	}
}

// Validate names every field out of range.
func (c *FixedDelayConfig) Validate() error {
	var err error
	if c.Attempts < 1 {
		err = errors.Join(err, configError("fixed_delay.attempts", c.Attempts, "must be at least 1"))
	}
	if c.Delay < 0 {
		err = errors.Join(err, configError("fixed_delay.delay", c.Delay, "must not be negative"))
	}
	return err
}

// NewFixedDelay returns the strategy that restarts up to c.Attempts times,
// waiting c.Delay each time.
func NewFixedDelay(c FixedDelayConfig) (Strategy, error) {
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &fixedDelay{cfg: c}, nil
}

type fixedDelay struct {
	cfg      FixedDelayConfig
	failures int
}

func (s *fixedDelay) OnFailure(time.Time) (time.Duration, bool) {
	s.failures++
	if s.failures > s.cfg.Attempts {
		return 0, false
	}
	return s.cfg.Delay, true
}

func (s *fixedDelay) String() string {
	return fmt.Sprintf("fixed-delay(attempts=%d, delay=%v, used=%d)", s.cfg.Attempts, s.cfg.Delay, min(s.failures, s.cfg.Attempts))
}

// ExponentialDelayConfig configures NewExponentialDelay.
type ExponentialDelayConfig struct {
	// Initial is the first wait. Default 1s.
	Initial time.Duration
	// Max is the largest wait, jitter included. Default 5m; at least
	// Initial.
	Max time.Duration
	// Multiplier is the growth of the wait per failure. Default 2; at
	// least 1.
	Multiplier float64
	// ResetAfter: a run this long without failure (from the restart to
	// the next failure) resets the wait to Initial. Default 1h.
	ResetAfter time.Duration
	// Jitter spreads each wait uniformly over [w*(1-Jitter), w*(1+Jitter)]
	// (then capped at Max). A fraction in [0, 1]. 0 means the default 0.1;
	// set NoJitter for none.
	Jitter   float64
	NoJitter bool
	// Rand draws the jitter. Default: a generator seeded at random. Tests
	// inject a seeded one.
	Rand *rand.Rand
}

// EnsureDefaults fills unset fields.
func (c *ExponentialDelayConfig) EnsureDefaults() {
	if c.Initial == 0 {
		c.Initial = time.Second
	}
	if c.Max == 0 {
		c.Max = 5 * time.Minute
	}
	if c.Multiplier == 0 {
		c.Multiplier = 2
	}
	if c.ResetAfter == 0 {
		c.ResetAfter = time.Hour
	}
	if c.Jitter == 0 && !c.NoJitter {
		c.Jitter = 0.1
	}
	if c.NoJitter {
		c.Jitter = 0
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
}

// Validate names every field out of range.
func (c *ExponentialDelayConfig) Validate() error {
	var err error
	bad := func(field string, v any, why string) {
		err = errors.Join(err, configError("exponential_delay."+field, v, why))
	}
	if c.Initial <= 0 {
		bad("initial", c.Initial, "must be positive")
	}
	if c.Max < c.Initial {
		bad("max", c.Max, fmt.Sprintf("must be at least initial (%v)", c.Initial))
	}
	if !(c.Multiplier >= 1) || math.IsInf(c.Multiplier, 0) {
		bad("multiplier", c.Multiplier, "must be a finite number of at least 1")
	}
	if c.ResetAfter <= 0 {
		bad("reset_after", c.ResetAfter, "must be positive")
	}
	if !(c.Jitter >= 0 && c.Jitter <= 1) {
		bad("jitter", c.Jitter, "must be in [0, 1]")
	}
	return err
}

// NewExponentialDelay returns the strategy that always restarts, waiting
// Initial after the first failure and Multiplier times longer after each
// further one, up to Max, with Jitter; a run of ResetAfter without failure
// starts over at Initial.
func NewExponentialDelay(c ExponentialDelayConfig) (Strategy, error) {
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &exponentialDelay{cfg: c}, nil
}

type exponentialDelay struct {
	cfg ExponentialDelayConfig
	// base is the un-jittered wait of the last restart; 0 before the
	// first failure or after a reset.
	base      time.Duration
	restarted time.Time // when the last restart happened (failure + wait)
}

func (s *exponentialDelay) OnFailure(now time.Time) (time.Duration, bool) {
	switch {
	case s.base == 0 || now.Sub(s.restarted) >= s.cfg.ResetAfter:
		s.base = s.cfg.Initial
	default:
		next := float64(s.base) * s.cfg.Multiplier
		s.base = time.Duration(min(next, float64(s.cfg.Max)))
	}
	d := s.base
	if s.cfg.Jitter > 0 {
		f := 1 + s.cfg.Jitter*(2*s.cfg.Rand.Float64()-1)
		d = time.Duration(float64(d) * f)
	}
	d = min(d, s.cfg.Max)
	s.restarted = now.Add(d)
	return d, true
}

func (s *exponentialDelay) String() string {
	return fmt.Sprintf("exponential-delay(initial=%v, max=%v, multiplier=%g, reset_after=%v, jitter=%g, current=%v)",
		s.cfg.Initial, s.cfg.Max, s.cfg.Multiplier, s.cfg.ResetAfter, s.cfg.Jitter, s.base)
}

// FailureRateConfig configures NewFailureRate.
type FailureRateConfig struct {
	// MaxFailures is how many failures are allowed within Interval.
	// Required; at least 1.
	MaxFailures int
	// Interval is the sliding window failures are counted in. Default 1m.
	Interval time.Duration
	// Delay is the wait before each restart. Default 1s.
	Delay time.Duration
}

// EnsureDefaults fills unset fields.
func (c *FailureRateConfig) EnsureDefaults() {
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	if c.Delay == 0 {
		c.Delay = DefaultDelay
	}
}

// Validate names every field out of range.
func (c *FailureRateConfig) Validate() error {
	var err error
	if c.MaxFailures < 1 {
		err = errors.Join(err, configError("failure_rate.max_failures", c.MaxFailures, "must be at least 1"))
	}
	if c.Interval <= 0 {
		err = errors.Join(err, configError("failure_rate.interval", c.Interval, "must be positive"))
	}
	if c.Delay < 0 {
		err = errors.Join(err, configError("failure_rate.delay", c.Delay, "must not be negative"))
	}
	return err
}

// NewFailureRate returns the strategy that restarts after c.Delay unless
// more than c.MaxFailures failures, this one included, happened within
// the last c.Interval (failures at times t with now-t < Interval).
func NewFailureRate(c FailureRateConfig) (Strategy, error) {
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &failureRate{cfg: c}, nil
}

type failureRate struct {
	cfg FailureRateConfig
	// recent holds the times of the failures within the window, oldest
	// first; at most MaxFailures+1 of them.
	recent []time.Time
}

func (s *failureRate) OnFailure(now time.Time) (time.Duration, bool) {
	keep := 0
	for keep < len(s.recent) && now.Sub(s.recent[keep]) >= s.cfg.Interval {
		keep++
	}
	s.recent = append(s.recent[keep:], now)
	if len(s.recent) > s.cfg.MaxFailures+1 {
		s.recent = s.recent[len(s.recent)-s.cfg.MaxFailures-1:]
	}
	if len(s.recent) > s.cfg.MaxFailures {
		return 0, false
	}
	return s.cfg.Delay, true
}

func (s *failureRate) String() string {
	return fmt.Sprintf("failure-rate(max_failures=%d, interval=%v, delay=%v)", s.cfg.MaxFailures, s.cfg.Interval, s.cfg.Delay)
}
