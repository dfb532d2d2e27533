// Package restart holds the restart strategies of a job: pure functions of
// the times of its failures that say whether the job restarts and how long
// it waits first. They follow the job spec's RestartStrategy message:
//
//	None                   never restart
//	NewFixedDelay          up to Attempts restarts, Delay apart
//	NewExponentialDelay    always restart; the wait grows by Multiplier per
//	                       failure up to Max, with Jitter, and starts over
//	                       after a run of ResetAfter without failure
//	NewFailureRate         restart after Delay unless more than MaxFailures
//	                       failures happened within the last Interval
//
// Each constructor fills defaults (EnsureDefaults) and validates its config
// (Validate), naming the field and value that are wrong. Strategies read no
// clock: the caller passes the time of each failure. Randomness (jitter)
// comes from an injected *rand.Rand. A Strategy is not safe for concurrent
// use.
//
// Usage:
//
//	s, err := restart.NewExponentialDelay(restart.ExponentialDelayConfig{Max: time.Minute})
//	delay, ok := s.OnFailure(clk.Now())
//	if !ok { return err } // give up
//	// wait delay, then restart from the latest checkpoint
package restart
