package webhook

import (
	"math"
	"time"
)

// RetryStrategy names how the delay grows between attempts.
type RetryStrategy string

const (
	ExponentialBackoff RetryStrategy = "exponential_backoff"
	LinearBackoff      RetryStrategy = "linear_backoff"
	FixedInterval      RetryStrategy = "fixed_interval"
	NoRetry            RetryStrategy = "no_retry"
)

func (s RetryStrategy) Valid() bool {
	switch s {
	case ExponentialBackoff, LinearBackoff, FixedInterval, NoRetry:
		return true
	}
	return false
}

// MaxRetryAfter bounds how long a receiver's Retry-After can hold a delivery.
const MaxRetryAfter = 24 * time.Hour

// RetryPolicy is a webhook's retry schedule, copied into each delivery when
// its event arrives so that the schedule of a running delivery never shifts.
type RetryPolicy struct {
	Strategy   RetryStrategy `json:"strategy"`
	MaxRetries int           `json:"max_retries"`
	Delay      time.Duration `json:"delay"`
	Multiplier float64       `json:"multiplier"`
	MaxDelay   time.Duration `json:"max_delay"`
	Jitter     float64       `json:"jitter"` // fraction: 0.2 spreads each delay by ±20 %
}

// Attempts is the total number of attempts, the first one included.
func (p RetryPolicy) Attempts() int {
	if p.Strategy == NoRetry {
		return 1
	}
	return 1 + p.MaxRetries
}

// Backoff is the delay before retry n (n ≥ 1 is the attempt number that just
// failed), before jitter: exponential Delay·Multiplierⁿ⁻¹, linear Delay·n,
// fixed Delay, each capped at MaxDelay.
func (p RetryPolicy) Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	base := p.Delay.Seconds()
	var secs float64
	switch p.Strategy {
	case ExponentialBackoff:
		m := p.Multiplier
		if m < 1 {
			m = 1
		}
		secs = base * math.Pow(m, float64(n-1))
	case LinearBackoff:
		secs = base * float64(n)
	default:
		secs = base
	}
	if limit := p.MaxDelay.Seconds(); limit > 0 && secs > limit {
		secs = limit
	}
	return time.Duration(secs * float64(time.Second))
}

// NextDelay is Backoff(n) spread by the policy's jitter: u in [0, 1) maps
// linearly onto [d·(1-Jitter), d·(1+Jitter)). It never goes below one second
// nor above MaxDelay: a draw past the cap is mirrored below it, so retries
// held at the cap stay spread out instead of all landing on it together.
func (p RetryPolicy) NextDelay(n int, u float64) time.Duration {
	d := p.Backoff(n)
	if p.Jitter > 0 {
		d += time.Duration(float64(d) * p.Jitter * (2*u - 1))
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = max(2*p.MaxDelay-d, 0)
	}
	d = d.Round(time.Millisecond)
	if d < time.Second {
		d = time.Second
	}
	return d
}

// Schedule lists the delays before each retry, without jitter.
func (p RetryPolicy) Schedule() []time.Duration {
	out := make([]time.Duration, 0, p.Attempts()-1)
	for n := 1; n < p.Attempts(); n++ {
		out = append(out, p.Backoff(n))
	}
	return out
}

// WithRetryAfter stretches a planned delay to what the receiver asked for in
// Retry-After, never shortening it and never beyond MaxRetryAfter.
func WithRetryAfter(planned, retryAfter time.Duration) time.Duration {
	retryAfter = min(retryAfter, MaxRetryAfter)
	return max(planned, retryAfter)
}
