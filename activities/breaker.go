package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/webhook"
)

// breakerStore is what the circuit breaker reads and the pause it writes.
type breakerStore interface {
	failureCounts
	GetWebhook(ctx context.Context, id int64) (*webhook.Webhook, error)
	PauseWebhook(ctx context.Context, id int64, reason string, byDelivery int64) (bool, error)
}

// failureCounts are the figures the breaker's rule reads.
type failureCounts interface {
	AttemptCounts(ctx context.Context, id int64, since time.Time) (attempts, failed int, err error)
	ConsecutiveFailures(ctx context.Context, id int64) (int, error)
}

// checkBreaker pauses a webhook whose receiver answered 410 Gone, or whose
// deliveries keep failing, and announces it with a system.error event.
func (a *Activities) checkBreaker(ctx context.Context, w *webhook.Webhook, d *webhook.Attempt) error {
	reason, err := a.Breaker.tripReason(ctx, a.Store, a.now(), w, d)
	if reason == "" || err != nil {
		return err
	}
	paused, err := a.Store.PauseWebhook(ctx, w.ID, reason, d.ID)
	if err != nil {
		return err
	}
	if !paused {
		// Announce only a pause this attempt made: now, or in an earlier try
		// of this activity that died before announcing it.
		cur, err := a.Store.GetWebhook(ctx, w.ID)
		if err != nil || cur.PausedByDelivery == nil || *cur.PausedByDelivery != d.ID {
			return err
		}
	} else {
		a.Logger.WarnContext(ctx, "webhook paused", "event_id", d.EventID, "webhook_id", w.ID, "attempt", d.AttemptNumber, "reason", reason)
	}
	if a.Publisher == nil {
		return nil
	}
	// The id is fixed by the attempt, so a repeat is accepted once; a
	// conflict means it was announced with the webhook's details as they were.
	_, _, err = a.Publisher.Publish(ctx, pausedEvent(w, d, reason))
	if webhook.ErrorCode(err) == webhook.EConflict {
		return nil
	}
	return err
}

// tripReason is why the attempt d trips the breaker of w, or "".
func (b Breaker) tripReason(ctx context.Context, st failureCounts, now time.Time, w *webhook.Webhook, d *webhook.Attempt) (string, error) {
	if d.ResponseStatusCode != nil && *d.ResponseStatusCode == 410 {
		return "the receiver answered 410 Gone", nil
	}
	if d.ErrorClass.Unsent() {
		return "", nil // never sent: the receiver is not to blame
	}
	if b.Consecutive > 0 && d.Status == webhook.AttemptFailed {
		n, err := st.ConsecutiveFailures(ctx, w.ID)
		if err != nil {
			return "", err
		}
		if n >= b.Consecutive {
			return fmt.Sprintf("%d deliveries in a row failed", n), nil
		}
	}
	if b.FailureRate > 0 && b.Window > 0 {
		since := now.Add(-b.Window)
		if w.ResumedAt != nil && w.ResumedAt.After(since) {
			since = *w.ResumedAt // failures before an operator set it active again do not count
		}
		attempts, failed, err := st.AttemptCounts(ctx, w.ID, since)
		if err != nil {
			return "", err
		}
		if attempts >= b.MinAttempts && attempts > 0 && float64(failed)/float64(attempts) >= b.FailureRate {
			return fmt.Sprintf("%d of %d attempts in the last %v failed", failed, attempts, b.Window), nil
		}
	}
	return "", nil
}

// pausedEvent is the system.error event that tells subscribers (Slack, email,
// …) a webhook was paused.
func pausedEvent(w *webhook.Webhook, d *webhook.Attempt, reason string) *webhook.Event {
	payload, _ := json.Marshal(eventtypes.SystemErrorEvent{
		ErrorCode: "WEBHOOK_PAUSED",
		Component: "herald",
		Severity:  "high",
		Message:   fmt.Sprintf("Webhook %d (%s) was paused: %s. Deliveries to it wait until it is active again.", w.ID, w.Name, reason),
		Details: map[string]any{
			"webhook_id": w.ID, "webhook_name": w.Name, "url": w.URL, "reason": reason,
			"delivery_id": d.ID, "event_id": d.EventID,
		},
	})
	return &webhook.Event{
		EventID:   fmt.Sprintf("herald-webhook-%d-paused-%d", w.ID, d.ID),
		EventType: webhook.SystemError,
		Source:    "herald",
		SourceID:  fmt.Sprintf("webhook/%d", w.ID),
		Payload:   payload,
		CreatedAt: d.CreatedAt,
	}
}
