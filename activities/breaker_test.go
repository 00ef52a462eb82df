package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// figures are a webhook's failure figures, as the store would count them.
type figures struct {
	consecutive      int
	attempts, failed int
	since            time.Time // what AttemptCounts was asked for
	err              error
}

func (f *figures) ConsecutiveFailures(context.Context, int64) (int, error) {
	return f.consecutive, f.err
}

func (f *figures) AttemptCounts(_ context.Context, _ int64, since time.Time) (int, int, error) {
	f.since = since
	return f.attempts, f.failed, f.err
}

func (f *figures) GetWebhook(context.Context, int64) (*webhook.Webhook, error) { return nil, f.err }

func (f *figures) PauseWebhook(context.Context, int64, string, int64) (bool, error) {
	return false, f.err
}

func TestBreakerTripsOn(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	resumed := now.Add(-10 * time.Minute)
	gone, ok := 410, 500
	failed := &webhook.Attempt{Status: webhook.AttemptFailed, ResponseStatusCode: &ok}
	tests := []struct {
		name string
		d    *webhook.Attempt
		st   figures
		want string
	}{
		{"410 Gone, whatever the figures", &webhook.Attempt{Status: webhook.AttemptRetrying, ResponseStatusCode: &gone}, figures{}, "the receiver answered 410 Gone"},
		{"a payload that could not be built", &webhook.Attempt{Status: webhook.AttemptFailed, ErrorClass: webhook.ClassPayload}, figures{consecutive: 99, attempts: 200, failed: 200}, ""},
		{"20 failed deliveries in a row", failed, figures{consecutive: 20}, "20 deliveries in a row failed"},
		{"19 in a row", failed, figures{consecutive: 19}, ""},
		{"95 % of 100 attempts failed", failed, figures{attempts: 100, failed: 95}, "95 of 100 attempts in the last 1h0m0s failed"},
		{"94 % failed", failed, figures{attempts: 100, failed: 94}, ""},
		{"too few attempts to judge", failed, figures{attempts: 99, failed: 99}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &webhook.Webhook{ID: 1}
			got, err := DefaultBreaker.tripReason(context.Background(), &tt.st, now, w, tt.d)
			if err != nil || got != tt.want {
				t.Fatalf("reason %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("failures before a resume do not count", func(t *testing.T) {
		st := &figures{}
		if _, err := DefaultBreaker.tripReason(context.Background(), st, now, &webhook.Webhook{ID: 1, ResumedAt: &resumed}, failed); err != nil {
			t.Fatal(err)
		}
		if !st.since.Equal(resumed) {
			t.Fatalf("counted since %v, want the resume at %v", st.since, resumed)
		}
	})
	t.Run("a store that cannot answer", func(t *testing.T) {
		down := errors.New("database down")
		if _, err := DefaultBreaker.tripReason(context.Background(), &figures{err: down}, now, &webhook.Webhook{ID: 1}, failed); !errors.Is(err, down) {
			t.Fatalf("error %v", err)
		}
	})
}
