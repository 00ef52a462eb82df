package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

func TestRecordDeadlineIsTheFirstLeaseEnd(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	sent := func(ago, lease time.Duration) *webhook.Attempt {
		at := now.Add(-ago)
		return &webhook.Attempt{SentAt: &at, Lease: lease}
	}
	tests := []struct {
		name string
		rows []*webhook.Attempt
		want time.Time
	}{
		{"nothing sent", nil, now.Add(recordFor)},
		{"a 30 s request answered after 1 s", []*webhook.Attempt{sent(time.Second, 45*time.Second)}, now.Add(42 * time.Second)},
		{"the earliest lease of a group", []*webhook.Attempt{sent(time.Second, 45*time.Second), sent(20*time.Second, 45*time.Second)}, now.Add(23 * time.Second)},
		{"a lease ending sooner than recordFor", []*webhook.Attempt{sent(40*time.Second, 45*time.Second)}, now.Add(recordFor)},
		{"a row without a lease", []*webhook.Attempt{{Lease: 0}}, now.Add(recordFor)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recordDeadline(tt.rows, now); !got.Equal(tt.want) {
				t.Fatalf("until %v, want %v", got.Sub(now), tt.want.Sub(now))
			}
		})
	}
}

// A store away for longer than recordFor but back within the lease gets
// the outcome: the attempt is not sent again.
func TestKeepRecordingOutlastsAnOutage(t *testing.T) {
	back := time.Now().Add(recordFor + 2*time.Second)
	calls := 0
	err := keepRecording(context.Background(), time.Now().Add(recordFor+5*time.Second), func(context.Context) error {
		calls++
		if time.Now().Before(back) {
			return webhook.Errorf(webhook.EUnavailable, "database restarting")
		}
		return nil
	})
	if err != nil || calls < 2 {
		t.Fatalf("err %v after %d tries", err, calls)
	}
	refused := webhook.Errorf(webhook.EConflict, "not this row")
	if err := keepRecording(context.Background(), time.Now().Add(time.Minute), func(context.Context) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("a refusal was retried or lost: %v", err)
	}
}
