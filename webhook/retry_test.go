package webhook_test

import (
	"testing"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

func TestRetrySchedules(t *testing.T) {
	s := time.Second
	tests := []struct {
		name   string
		policy webhook.RetryPolicy
		want   []time.Duration
	}{
		{"exponential doubles (LOKI guide)", webhook.RetryPolicy{Strategy: webhook.ExponentialBackoff, MaxRetries: 5, Delay: 60 * s, Multiplier: 2, MaxDelay: 3600 * s},
			[]time.Duration{60 * s, 120 * s, 240 * s, 480 * s, 960 * s}},
		{"exponential capped at max delay", webhook.RetryPolicy{Strategy: webhook.ExponentialBackoff, MaxRetries: 8, Delay: 60 * s, Multiplier: 2, MaxDelay: 3600 * s},
			[]time.Duration{60 * s, 120 * s, 240 * s, 480 * s, 960 * s, 1920 * s, 3600 * s, 3600 * s}},
		{"exponential 1.5 (example 4)", webhook.RetryPolicy{Strategy: webhook.ExponentialBackoff, MaxRetries: 4, Delay: 30 * s, Multiplier: 1.5, MaxDelay: 7200 * s},
			[]time.Duration{30 * s, 45 * s, 67500 * time.Millisecond, 101250 * time.Millisecond}},
		{"exponential huge multiplier does not overflow", webhook.RetryPolicy{Strategy: webhook.ExponentialBackoff, MaxRetries: 20, Delay: 86400 * s, Multiplier: 10, MaxDelay: 7 * 86400 * s},
			repeat(20, 86400*s, 7*86400*s)},
		{"linear (LOKI guide)", webhook.RetryPolicy{Strategy: webhook.LinearBackoff, MaxRetries: 5, Delay: 60 * s, MaxDelay: 3600 * s},
			[]time.Duration{60 * s, 120 * s, 180 * s, 240 * s, 300 * s}},
		{"linear capped", webhook.RetryPolicy{Strategy: webhook.LinearBackoff, MaxRetries: 4, Delay: 60 * s, MaxDelay: 150 * s},
			[]time.Duration{60 * s, 120 * s, 150 * s, 150 * s}},
		{"fixed (LOKI guide)", webhook.RetryPolicy{Strategy: webhook.FixedInterval, MaxRetries: 5, Delay: 60 * s, MaxDelay: 3600 * s},
			[]time.Duration{60 * s, 60 * s, 60 * s, 60 * s, 60 * s}},
		{"no retry ignores max_retries", webhook.RetryPolicy{Strategy: webhook.NoRetry, MaxRetries: 5, Delay: 60 * s},
			[]time.Duration{}},
		{"zero retries", webhook.RetryPolicy{Strategy: webhook.ExponentialBackoff, MaxRetries: 0, Delay: 60 * s, Multiplier: 2},
			[]time.Duration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.policy.Schedule()
			if len(got) != len(tt.want) {
				t.Fatalf("schedule %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("retry %d: %v, want %v (schedule %v)", i+1, got[i], tt.want[i], got)
				}
			}
			if tt.policy.Attempts() != len(tt.want)+1 {
				t.Fatalf("attempts %d, want %d", tt.policy.Attempts(), len(tt.want)+1)
			}
		})
	}
}

// repeat builds the exponential schedule that saturates at cap from the first retry on.
func repeat(n int, first, capped time.Duration) []time.Duration {
	out := []time.Duration{first}
	for len(out) < n {
		out = append(out, capped)
	}
	return out
}

func TestJitterBounds(t *testing.T) {
	p := webhook.RetryPolicy{Strategy: webhook.ExponentialBackoff, MaxRetries: 5, Delay: 60 * time.Second, Multiplier: 2, MaxDelay: time.Hour, Jitter: 0.2}
	tests := []struct {
		u    float64
		want time.Duration
	}{
		{0, 96 * time.Second},         // 120s - 20 %
		{0.5, 120 * time.Second},      // centre
		{0.999999, 144 * time.Second}, // just under +20 %
	}
	for _, tt := range tests {
		if got := p.NextDelay(2, tt.u); got != tt.want.Round(time.Millisecond) && (got-tt.want).Abs() > time.Millisecond {
			t.Errorf("u=%v: %v, want %v", tt.u, got, tt.want)
		}
	}
	for i := 0; i <= 1000; i++ {
		u := float64(i) / 1001
		for n := 1; n <= 5; n++ {
			d, base := p.NextDelay(n, u), p.Backoff(n)
			lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
			if d < lo-time.Millisecond || d > hi+time.Millisecond {
				t.Fatalf("retry %d u=%v: %v outside [%v, %v]", n, u, d, lo, hi)
			}
		}
	}
	noJitter := p
	noJitter.Jitter = 0
	if got := noJitter.NextDelay(3, 0.9); got != 240*time.Second {
		t.Fatalf("no jitter: %v", got)
	}
	// At the cap, jitter spreads retries below it, never past it.
	capped := webhook.RetryPolicy{Strategy: webhook.ExponentialBackoff, MaxRetries: 20, Delay: 60 * time.Second, Multiplier: 2, MaxDelay: time.Hour, Jitter: 0.1}
	for _, c := range []struct {
		u    float64
		want time.Duration
	}{{0, 54 * time.Minute}, {0.5, time.Hour}, {0.75, 57 * time.Minute}, {0.999999, 54 * time.Minute}} {
		if got := capped.NextDelay(12, c.u); (got - c.want).Abs() > time.Millisecond {
			t.Errorf("capped, u=%v: %v, want %v", c.u, got, c.want)
		}
	}
	tiny := webhook.RetryPolicy{Strategy: webhook.FixedInterval, Delay: time.Second, Jitter: 0.5}
	if got := tiny.NextDelay(1, 0); got != time.Second {
		t.Fatalf("delay must not go below one second, got %v", got)
	}
}

func TestWithRetryAfter(t *testing.T) {
	tests := []struct{ planned, retryAfter, want time.Duration }{
		{time.Minute, 0, time.Minute},
		{time.Minute, 2 * time.Minute, 2 * time.Minute},
		{time.Minute, 30 * time.Second, time.Minute},
		{time.Minute, 72 * time.Hour, webhook.MaxRetryAfter},
	}
	for _, tt := range tests {
		if got := webhook.WithRetryAfter(tt.planned, tt.retryAfter); got != tt.want {
			t.Errorf("WithRetryAfter(%v, %v) = %v, want %v", tt.planned, tt.retryAfter, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code  int
		class webhook.ErrorClass
		want  webhook.Outcome
	}{
		{200, "", webhook.Delivered},
		{204, "", webhook.Delivered},
		{299, "", webhook.Delivered},
		{301, webhook.ClassHTTPStatus, webhook.Retryable},
		{400, webhook.ClassHTTPStatus, webhook.Permanent},
		{401, webhook.ClassHTTPStatus, webhook.Permanent},
		{404, webhook.ClassHTTPStatus, webhook.Permanent},
		{408, webhook.ClassHTTPStatus, webhook.Retryable},
		{410, webhook.ClassHTTPStatus, webhook.Permanent},
		{422, webhook.ClassHTTPStatus, webhook.Permanent},
		{429, webhook.ClassHTTPStatus, webhook.Retryable},
		{500, webhook.ClassHTTPStatus, webhook.Retryable},
		{503, webhook.ClassHTTPStatus, webhook.Retryable},
		{0, webhook.ClassTimeout, webhook.Retryable},
		{0, webhook.ClassConnection, webhook.Retryable},
		{0, webhook.ClassDNS, webhook.Retryable},
		{0, webhook.ClassTLS, webhook.Retryable},
		{0, webhook.ClassRequest, webhook.Permanent},
	}
	for _, tt := range tests {
		if got := webhook.Classify(tt.code, tt.class); got != tt.want {
			t.Errorf("Classify(%d, %q) = %v, want %v", tt.code, tt.class, got, tt.want)
		}
	}
}
