// Package activities holds every side effect of a delivery: recording the
// event, resolving its subscribers, and making each recorded HTTP attempt.
package activities

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/temporal"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// Activities holds the dependencies the activities share.
type Activities struct {
	Store  *store.Store
	Sender *delivery.Sender
	Logger *slog.Logger
}

// StartEvent records the event (a no-op when the API already did) and
// snapshots the active webhooks subscribed to its type.
func (a *Activities) StartEvent(ctx context.Context, ev webhook.Event) (workflows.StartEventResult, error) {
	if _, err := a.Store.CreateEvent(ctx, &ev); err != nil {
		return workflows.StartEventResult{}, err
	}
	hooks, err := a.Store.SubscribedWebhooks(ctx, ev.EventType)
	if err != nil {
		return workflows.StartEventResult{}, err
	}
	res := workflows.StartEventResult{Subscribers: make([]workflows.Subscriber, len(hooks))}
	ids := make([]int64, len(hooks))
	for i, w := range hooks {
		res.Subscribers[i] = workflows.Subscriber{WebhookID: w.ID, Name: w.Name, Policy: w.RetryPolicy()}
		ids[i] = w.ID
	}
	if err := a.Store.SetSubscribers(ctx, ev.EventID, ids); err != nil {
		return workflows.StartEventResult{}, err
	}
	a.Logger.DebugContext(ctx, "event subscribers resolved", "event_id", ev.EventID, "event_type", ev.EventType, "subscribers", len(ids))
	return res, nil
}

// FinishEvent records how the event's deliveries ended and marks it processed.
func (a *Activities) FinishEvent(ctx context.Context, in workflows.FinishEventInput) error {
	return a.Store.FinishEvent(ctx, in.EventID, in.Successful, in.Failed)
}

// Attempt makes one attempt. URL, headers and secret are read now, not at
// event time, so a corrected URL or a rotated secret applies to the next
// attempt of a delivery already under way; and no secret ever enters a
// Temporal history.
func (a *Activities) Attempt(ctx context.Context, in workflows.AttemptInput) (workflows.AttemptResult, error) {
	w, err := a.Store.GetWebhook(ctx, in.WebhookID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return workflows.AttemptResult{}, temporal.NewNonRetryableApplicationError("webhook was deleted", workflows.ErrWebhookGone, err)
	}
	if err != nil {
		return workflows.AttemptResult{}, err
	}
	ev, err := a.Store.GetEvent(ctx, in.EventID)
	if err != nil {
		return workflows.AttemptResult{}, err
	}
	done, err := a.Sender.Attempt(ctx, a.Store, w, ev, delivery.Plan{Attempt: in.Attempt, Final: in.Final, RetryIn: in.RetryIn})
	if err != nil {
		return workflows.AttemptResult{}, err
	}
	d := done.Delivery
	a.Logger.DebugContext(ctx, "attempt finished", "event_id", in.EventID, "webhook_id", in.WebhookID,
		"attempt", in.Attempt, "status", d.Status, "status_code", done.StatusCode(),
		"error_class", d.ErrorClass, "retry_in", done.RetryIn, "replayed", done.Replayed)
	return workflows.AttemptResult{
		DeliveryID:  d.ID,
		Status:      d.Status,
		StatusCode:  done.StatusCode(),
		DurationMS:  done.DurationMS(),
		ErrorClass:  d.ErrorClass,
		Error:       d.LastError,
		RetryIn:     done.RetryIn,
		NextRetryAt: d.NextRetryAt,
	}, nil
}
