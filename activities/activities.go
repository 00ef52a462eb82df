// Package activities holds every side effect of a delivery: recording the
// event, resolving its subscribers, reserving rate-limit room, making each
// recorded HTTP attempt, and pausing a webhook whose receiver is gone or
// failing.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/telemetry"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// deliveryStore is what the per-event activities keep and read: events, their subscribers, deliveries and rate-limit slots.
type deliveryStore interface {
	CancelDelivery(ctx context.Context, eventID string, webhookID int64, attempt int) (bool, error)
	CreateEvent(ctx context.Context, e *webhook.Event) (bool, error)
	EndDelivery(ctx context.Context, eventID string, webhookID int64, outcome store.Outcome) error
	EventsByID(ctx context.Context, ids []string) ([]*webhook.Event, error)
	FinishEvent(ctx context.Context, eventID string) error
	FinishedAttempt(ctx context.Context, eventID string, webhookID int64, attempt int) (*webhook.Attempt, error)
	GetEvent(ctx context.Context, eventID string) (*webhook.Event, error)
	GetWebhook(ctx context.Context, id int64) (*webhook.Webhook, error)
	NextAttempt(ctx context.Context, eventID string, webhookID int64) (int, bool, error)
	ReleaseSlots(ctx context.Context, webhookID int64, limits []store.RateLimit, slots []store.Slot) error
	ReopenDelivery(ctx context.Context, eventID string, webhookID int64) error
	ReserveSlot(ctx context.Context, webhookID int64, key store.AttemptKey, limits []store.RateLimit, now time.Time) (time.Time, error)
	SetSubscribers(ctx context.Context, eventID string, perEvent, batched []int64) error
	Subscribers(ctx context.Context, eventType string) ([]*webhook.Webhook, error)
}

// Store is everything the activities keep and read; each file declares
// its share where it uses it, and the Deliverer records attempts in it.
type Store interface {
	deliveryStore
	batchStore
	breakerStore
	maintenanceStore
	streamStore
	integrations.Recorder
}

// Activities holds the dependencies the activities share.
type Activities struct {
	Store Store
	// Deliverer makes every attempt: a webhook's over HTTP, an
	// integration's through its connector (Slack, Teams, email, Zapier).
	Deliverer *integrations.Deliverer
	// Temporal hands events to batch workflows.
	Temporal client.Client
	// Metrics count attempts, retries and waits (nil: not counted).
	Metrics *telemetry.Metrics
	// Publisher emits Herald's own system.error events (a paused webhook).
	Publisher *ingest.Publisher
	Logger    *slog.Logger
	// Windows are the rate-limit window lengths.
	Windows store.Windows
	Breaker Breaker
	// Now is the clock rate-limit windows are read against.
	Now func() time.Time
}

// Breaker is when a failing webhook is paused: after Consecutive deliveries
// in a row failed for good, or when at least MinAttempts attempts in the
// last Window failed at FailureRate or more (0 turns that test off).
type Breaker struct {
	Consecutive int
	FailureRate float64
	Window      time.Duration
	MinAttempts int
}

// DefaultBreaker is the circuit breaker unless configured otherwise.
var DefaultBreaker = Breaker{Consecutive: 20, FailureRate: 0.95, Window: time.Hour, MinAttempts: 100}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) limits(w *webhook.Webhook) []store.RateLimit { return a.Windows.Limits(w) }

// CancelDelivery records that a cancel signal stopped a delivery.
func (a *Activities) CancelDelivery(ctx context.Context, in workflows.CancelDeliveryInput) error {
	changed, err := a.Store.CancelDelivery(ctx, in.EventID, in.WebhookID, in.Attempt)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return nil // the event's row is gone: nothing shows the delivery as waiting
	}
	if err != nil {
		return err
	}
	a.Logger.InfoContext(ctx, "delivery cancelled", "event_id", in.EventID, "webhook_id", in.WebhookID, "attempt", in.Attempt,
		"attempt_row_failed", changed)
	return nil
}

// StartEvents starts the event workflows of a published batch.
func (a *Activities) StartEvents(ctx context.Context, in workflows.IngestInput) error {
	if a.Publisher == nil {
		return temporal.NewNonRetryableApplicationError("this worker has no publisher to start event workflows with", "NoPublisher", nil)
	}
	skip := 0
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &skip)
	}
	// Heartbeat on a clock, not per start: also while waiting for a start
	// slot, which other batches may hold past the heartbeat timeout.
	var settled atomic.Int64
	settled.Store(int64(skip))
	stop := heartbeat(ctx, func() any { return int(settled.Load()) })
	defer stop()
	return a.Publisher.StartRecorded(ctx, in, skip, func(n int) { settled.Store(int64(n)) })
}

// StartEvent records the event (a no-op when the API already did) and
// snapshots the webhooks subscribed to its type, for an event workflow
// started by an older Herald, whose subscribers were not recorded when the
// event was accepted. They are all delivered one workflow per event.
func (a *Activities) StartEvent(ctx context.Context, ev webhook.Event) (workflows.StartEventResult, error) {
	if _, err := a.Store.CreateEvent(ctx, &ev); err != nil {
		return workflows.StartEventResult{}, err
	}
	hooks, err := a.snapshot(ctx, ev.EventID, func() ([]*webhook.Webhook, error) { return a.Store.Subscribers(ctx, ev.EventType) })
	if err != nil {
		return workflows.StartEventResult{}, err
	}
	res := workflows.StartEventResult{Subscribers: make([]workflows.Subscriber, len(hooks))}
	var perEvent, batched []int64
	for i, w := range hooks {
		res.Subscribers[i] = workflows.SubscriberOf(w, 1)
		res.Subscribers[i].Mode = ""
		if res.Subscribers[i].Batched {
			// A batched integration counts as a subscriber of the batch.
			batched = append(batched, w.ID)
		} else {
			perEvent = append(perEvent, w.ID)
		}
	}
	if err := a.Store.SetSubscribers(ctx, ev.EventID, perEvent, batched); err != nil {
		return workflows.StartEventResult{}, err
	}
	a.Logger.DebugContext(ctx, "event subscribers resolved", "event_id", ev.EventID, "event_type", ev.EventType, "subscribers", len(perEvent))
	return res, nil
}

// snapshot returns the subscribers recorded for an event, when a run
// before this one (cut short by a crash) recorded them, so a webhook
// created or deleted in between changes neither the deliveries nor the
// event's total; otherwise those lookup finds. A recorded subscriber
// deleted since is left out: its delivery ends without an outcome.
func (a *Activities) snapshot(ctx context.Context, eventID string, lookup func() ([]*webhook.Webhook, error)) ([]*webhook.Webhook, error) {
	snap, err := a.Store.EventSubscribers(ctx, []string{eventID})
	if err != nil {
		return nil, err
	}
	rec, ok := snap[eventID]
	if !ok {
		return lookup()
	}
	hooks := []*webhook.Webhook{}
	for _, s := range rec {
		if s.Webhook != nil && s.Outcome != store.OutcomeFiltered {
			hooks = append(hooks, s.Webhook)
		}
	}
	return hooks, nil
}

// LoadSubscriber returns a webhook as a subscriber of an event whose
// delivery to it starts over, with its current retry schedule and the next
// attempt number. A webhook deleted since, or that never was a subscriber,
// is not found.
func (a *Activities) LoadSubscriber(ctx context.Context, in workflows.LoadSubscriberInput) (workflows.LoadSubscriberResult, error) {
	w, err := a.Store.GetWebhook(ctx, in.WebhookID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return workflows.LoadSubscriberResult{}, nil
	}
	if err != nil {
		return workflows.LoadSubscriberResult{}, err
	}
	ev, err := a.Store.GetEvent(ctx, in.EventID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return workflows.LoadSubscriberResult{}, nil
	}
	if err != nil {
		return workflows.LoadSubscriberResult{}, err
	}
	next, was, err := a.Store.NextAttempt(ctx, in.EventID, in.WebhookID)
	if err != nil || !was {
		return workflows.LoadSubscriberResult{}, err
	}
	if err := a.Store.ReopenDelivery(ctx, in.EventID, in.WebhookID); err != nil {
		return workflows.LoadSubscriberResult{}, err
	}
	// Only a batch has attempt rows to a batching integration: starting
	// it over resends it, it is not batched again.
	sub := workflows.SubscriberOf(w, next)
	sub.Batched = false
	return workflows.LoadSubscriberResult{Found: true, Subscriber: sub, EventType: ev.EventType}, nil
}

// FinishEvent records that all of the event's deliveries have ended.
func (a *Activities) FinishEvent(ctx context.Context, in workflows.FinishEventInput) error {
	return a.Store.FinishEvent(ctx, in.EventID)
}

// Attempt makes one attempt, unless the webhook is paused (the attempt is
// held) or its rate limit has no room now (a slot is reserved in a later
// window, and the attempt waits for it). URL, headers and secret are read
// now, not at event time, so a corrected URL or a rotated secret applies to
// the next attempt of a delivery already under way; and no secret ever
// enters a Temporal history.
func (a *Activities) Attempt(ctx context.Context, in workflows.AttemptInput) (workflows.AttemptResult, error) {
	res, err := a.attempt(ctx, in)
	res.WebhookID, res.Attempt = in.WebhookID, in.Attempt
	return res, retryAfterLease(err, a.now())
}

// ErrInFlight is the application error type of an attempt refused because
// another executor holds it (store.InFlight).
const ErrInFlight = "InFlight"

// retryAfterLease makes an attempt held elsewhere go again when the lease
// runs out, rather than on the retry policy's doubling schedule: a worker
// that took over from a lost one would otherwise wait up to twice as long
// as it must.
func retryAfterLease(err error, now time.Time) error {
	var held *store.InFlight
	if !errors.As(err, &held) {
		return err
	}
	return temporal.NewApplicationErrorWithOptions(err.Error(), ErrInFlight, temporal.ApplicationErrorOptions{
		Cause:          err,
		NextRetryDelay: max(held.Until.Sub(now)+leaseSlack, leaseSlack),
		// Waiting out another executor's lease is the design working: the
		// SDK logs a benign error at debug, not as an activity failure.
		Category: temporal.ApplicationErrorCategoryBenign,
	})
}

// leaseSlack is how long past a lease's end the retry comes, so that it
// finds the lease over whatever the clocks of worker and database.
const leaseSlack = 250 * time.Millisecond

func (a *Activities) attempt(ctx context.Context, in workflows.AttemptInput) (workflows.AttemptResult, error) {
	w, err := a.Store.GetWebhook(ctx, in.WebhookID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return workflows.AttemptResult{}, a.gone(ctx, in, "webhook was deleted", err)
	}
	if err != nil {
		return workflows.AttemptResult{}, err
	}
	made, err := a.recorded(ctx, in)
	if err != nil {
		return workflows.AttemptResult{}, err
	}
	if made == nil {
		wait, slot, err := a.mayGo(ctx, w, in)
		if err != nil {
			return workflows.AttemptResult{}, err
		}
		if wait != nil {
			return *wait, nil
		}
		if made, err = a.send(ctx, w, in); err != nil {
			a.giveBack(ctx, w, in, slot, err)
			return workflows.AttemptResult{}, err
		}
		if !made.Replayed {
			a.count(ctx, w, made)
		}
	}
	done := made.Row
	a.Logger.DebugContext(ctx, "attempt finished", "event_id", in.EventID, "webhook_id", in.WebhookID, "attempt", in.Attempt,
		"status", done.Status, "status_code", made.StatusCode(), "error_class", done.ErrorClass, "retry_in", made.RetryIn,
		"signature", done.Signature)
	if done.Status != webhook.AttemptDelivered {
		// Also for an attempt recorded by an earlier try of this activity:
		// the check is idempotent, and that try may have died before it.
		if err := a.checkBreaker(ctx, w, done); err != nil {
			return workflows.AttemptResult{}, err
		}
	}
	// The attempt's span (from the Temporal tracing interceptor) says which
	// delivery it was and how it went; never the URL, payload or secret.
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("herald.event_id", in.EventID),
		attribute.Int64("herald.webhook_id", in.WebhookID), attribute.Int("herald.attempt", in.Attempt),
		attribute.String("herald.event_type", done.EventType), attribute.Int("http.response.status_code", made.StatusCode()),
		attribute.String("herald.error_class", string(done.ErrorClass)), attribute.String("herald.outcome", string(done.Status)))
	return workflows.AttemptResult{AttemptID: done.ID, Status: done.Status, StatusCode: made.StatusCode(),
		DurationMS: made.DurationMS(), ErrorClass: done.ErrorClass, Error: done.LastError, RetryIn: made.RetryIn,
		NextRetryAt: done.NextRetryAt}, nil
}

// gone ends a delivery with nowhere to go: it counts failed on its event,
// and the workflow's loop stops.
func (a *Activities) gone(ctx context.Context, in workflows.AttemptInput, why string, cause error) error {
	if err := a.Store.EndDelivery(ctx, in.EventID, in.WebhookID, store.OutcomeFailed); err != nil {
		return err
	}
	return temporal.NewNonRetryableApplicationError(why, workflows.ErrWebhookGone, cause)
}

// recorded returns the attempt as an earlier try of this activity recorded
// it, to report whatever the webhook's state or rate limit now. A first try
// of a regular activity has no earlier one to look for; a local activity
// counts its tries afresh on the worker that takes over from a dead one.
func (a *Activities) recorded(ctx context.Context, in workflows.AttemptInput) (*delivery.Attempted, error) {
	if info := activity.GetInfo(ctx); info.Attempt <= 1 && !info.IsLocalActivity {
		return nil, nil
	}
	d, err := a.Store.FinishedAttempt(ctx, in.EventID, in.WebhookID, in.Attempt)
	if d == nil || err != nil {
		return nil, err
	}
	return delivery.Recorded(d, a.now()), nil
}

// send makes the attempt: over HTTP for a webhook, through its connector
// for an integration.
func (a *Activities) send(ctx context.Context, w *webhook.Webhook, in workflows.AttemptInput) (*delivery.Attempted, error) {
	ev, err := a.Store.GetEvent(ctx, in.EventID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		// Its accept was undone (Temporal refused part of its group): the
		// publisher was told to publish it again.
		return nil, temporal.NewNonRetryableApplicationError("event is no longer recorded", workflows.ErrWebhookGone, err)
	}
	if err != nil {
		return nil, err
	}
	plan := delivery.Plan{Attempt: in.Attempt, Final: in.Final, RetryIn: in.RetryIn}
	a.Logger.DebugContext(ctx, "attempt starting", "event_id", in.EventID, "webhook_id", w.ID, "attempt", in.Attempt,
		"kind", kind(w), "host", webhook.URLHost(w.URL), "final", in.Final)
	var members []*webhook.Event
	if w.Integration != nil && ev.EventType == webhook.BatchEventType {
		var p webhook.BatchPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return nil, temporal.NewNonRetryableApplicationError("batch payload: "+err.Error(), "BadBatch", err)
		}
		if members, err = a.Store.EventsByID(ctx, p.EventIDs); err != nil {
			return nil, err
		}
	}
	return a.Deliverer.Attempt(ctx, a.Store, w, ev, members, plan)
}

// mayGo returns why an attempt must wait, or nil: the webhook is not active
// (held), or its rate limit has no room now (a slot is reserved for later).
func (a *Activities) mayGo(ctx context.Context, w *webhook.Webhook, in workflows.AttemptInput) (wait *workflows.AttemptResult, slot *time.Time, err error) {
	if w.Status != webhook.StatusActive {
		a.Logger.DebugContext(ctx, "attempt held: webhook not active", "event_id", in.EventID, "webhook_id", w.ID, "attempt", in.Attempt, "status", w.Status)
		return &workflows.AttemptResult{Held: true, HeldReason: "webhook is " + string(w.Status) + heldWhy(w)}, nil, nil
	}
	limits := a.limits(w)
	if len(limits) == 0 || in.Reserved && (in.ReservedAt == nil || store.SlotHolds(limits, *in.ReservedAt, a.now())) {
		return nil, nil, nil
	}
	at, err := a.Store.ReserveSlot(ctx, w.ID, store.AttemptKey{EventID: in.EventID, Attempt: in.Attempt}, limits, a.now())
	if err != nil {
		return nil, nil, err
	}
	if !at.After(a.now()) {
		return nil, &at, nil
	}
	a.Logger.DebugContext(ctx, "attempt waits for its rate-limit slot", "event_id", in.EventID, "webhook_id", w.ID, "attempt", in.Attempt, "at", at)
	a.Metrics.RateLimitedWait(ctx)
	return &workflows.AttemptResult{RateLimitedUntil: &at}, nil, nil
}

// giveBack returns the rate-limit slot an attempt reserved when the attempt
// failed before its request went: the activity's retry, if there is one,
// reserves again, and the slot would otherwise count in its window for
// nothing.
func (a *Activities) giveBack(ctx context.Context, w *webhook.Webhook, in workflows.AttemptInput, slot *time.Time, cause error) {
	if slot == nil || !errors.As(cause, new(*delivery.NotSent)) {
		return
	}
	held := store.Slot{AttemptKey: store.AttemptKey{EventID: in.EventID, Attempt: in.Attempt}, At: *slot}
	if err := a.Store.ReleaseSlots(ctx, w.ID, a.limits(w), []store.Slot{held}); err != nil {
		a.Logger.WarnContext(ctx, "cannot give back a rate-limit slot", "webhook_id", w.ID, "at", *slot, "error", err)
	}
}

// count records a made attempt in the metrics.
func (a *Activities) count(ctx context.Context, w *webhook.Webhook, made *delivery.Attempted) {
	d := made.Row
	k := kind(w)
	a.Metrics.Attempt(ctx, telemetry.Attempt{Kind: k, Outcome: string(d.Status), ErrorClass: string(d.ErrorClass),
		StatusCode: made.StatusCode(), Duration: time.Duration(made.DurationMS() * float64(time.Millisecond))})
	if d.Status == webhook.AttemptRetrying {
		a.Metrics.RetryScheduled(ctx, k)
	}
	if w.Integration != nil {
		a.Metrics.IntegrationSend(ctx, w.Integration.Type, string(d.Status))
	}
}

// kind is what metrics and logs call a subscriber: webhook, or its
// integration type.
func kind(w *webhook.Webhook) string {
	if w.Integration != nil {
		return w.Integration.Type
	}
	return "webhook"
}

func heldWhy(w *webhook.Webhook) string {
	if w.StatusReason == "" {
		return ""
	}
	return ": " + w.StatusReason
}
