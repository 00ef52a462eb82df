// Package workflows holds Herald's deterministic Temporal code: the event
// workflow that fans an event out to its subscribers, the maintenance
// workflow, the names of their signals, queries and activities, and the
// types they exchange. It never does I/O itself; every side effect is an
// activity.
package workflows

import (
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/loki-interceptor/herald/webhook"
)

// TaskQueue is where Herald's workers poll.
const TaskQueue = "herald"

// EventWorkflowName is the registered name of EventWorkflow.
const EventWorkflowName = "EventWorkflow"

// EventWorkflowID is the workflow ID of an event's delivery: one workflow per
// event id, which is what makes a repeated event id deliver once.
func EventWorkflowID(eventID string) string { return "event/" + eventID }

// Signal and query names, usable from the Temporal CLI:
//
//	temporal workflow signal --workflow-id event/<id> --name retry  --input '{"webhook_id": 3}'
//	temporal workflow signal --workflow-id event/<id> --name resume --input '{"webhook_id": 3}'
//	temporal workflow signal --workflow-id event/<id> --name cancel --input '{"webhook_id": 3}'
//	temporal workflow query  --workflow-id event/<id> --type deliveries
const (
	// SignalRetry makes a delivery waiting for its next attempt go now, and
	// starts a delivery that failed for good over with a fresh retry
	// schedule. Its argument is a WebhookSignal; webhook_id 0 means all.
	SignalRetry = "retry"
	// SignalResume releases deliveries held while their webhook was paused
	// or inactive, once it is active again. Its argument is a WebhookSignal.
	SignalResume = "resume"
	// SignalCancel stops deliveries of the named webhook (0: all) that have
	// not ended: no further attempt is made, and the latest attempt row is
	// marked failed. An attempt in flight finishes first. A retry signal
	// starts a cancelled delivery over. Its argument is a WebhookSignal.
	SignalCancel = "cancel"
	// QueryDeliveries returns []DeliveryState, one per subscriber.
	QueryDeliveries = "deliveries"
)

// The event workflow's activities.
var (
	ActivityStartEvent     = Activity[webhook.Event, StartEventResult]{Name: "StartEvent"}
	ActivityStartBatch     = Activity[StartBatchInput, StartEventResult]{Name: "StartBatch"}
	ActivityAddToBatch     = Action[AddToBatchInput]{Name: "AddToBatch"}
	ActivityLoadSubscriber = Activity[LoadSubscriberInput, LoadSubscriberResult]{Name: "LoadSubscriber"}
	ActivityAttempt        = Activity[AttemptInput, AttemptResult]{Name: "Attempt"}
	ActivityFinishEvent    = Action[FinishEventInput]{Name: "FinishEvent"}
	ActivityCancelDelivery = Action[CancelDeliveryInput]{Name: "CancelDelivery"}
)

// CancelDeliveryInput names a delivery a cancel signal stopped.
type CancelDeliveryInput struct {
	EventID   string `json:"event_id"`
	WebhookID int64  `json:"webhook_id"`
	Attempt   int    `json:"attempt"` // the last attempt made (0: none)
}

// ErrWebhookGone is the application error type an attempt fails with when its
// webhook was deleted: the delivery stops, since there is nowhere to send.
const ErrWebhookGone = "WebhookGone"

// HoldPoll is how soon a delivery held by a paused webhook first looks
// again, in case the resume signal was missed; each further look waits twice
// as long, up to MaxHoldPoll, so a long pause costs a few history events a
// day.
const (
	HoldPoll    = time.Hour
	MaxHoldPoll = 24 * time.Hour
)

// Custom search attributes, so the Temporal UI can filter events, e.g.
// HeraldEventType = "compliance.alert" AND HeraldStatus = "retrying".
var (
	SearchEventType  = temporal.NewSearchAttributeKeyKeyword("HeraldEventType")
	SearchSource     = temporal.NewSearchAttributeKeyKeyword("HeraldSource")
	SearchWebhookIDs = temporal.NewSearchAttributeKeyKeywordList("HeraldWebhookIDs")
	SearchStatus     = temporal.NewSearchAttributeKeyKeyword("HeraldStatus")
)

// SearchAttributes is what must be registered on the namespace.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SearchEventType.GetName():  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchSource.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchWebhookIDs.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		SearchStatus.GetName():     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}

// StartAttributes are the search attributes an event workflow starts with;
// webhookIDs may be empty when they are not known yet.
func StartAttributes(ev *webhook.Event, webhookIDs ...int64) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{
		SearchEventType.ValueSet(ev.EventType),
		SearchSource.ValueSet(ev.Source),
		SearchStatus.ValueSet(StatusDelivering),
	}
	if len(webhookIDs) > 0 {
		updates = append(updates, SearchWebhookIDs.ValueSet(idKeywords(webhookIDs)))
	}
	return temporal.NewSearchAttributes(updates...)
}

// RecordedAttributes are the search attributes of an event workflow whose
// subscribers were recorded when the event was accepted: all of them known
// at start, so the workflow upserts nothing until its status changes.
func RecordedAttributes(ev *webhook.Event, subs []Subscriber) temporal.SearchAttributes {
	ids := make([]int64, len(subs))
	for i, s := range subs {
		ids[i] = s.WebhookID
	}
	status := StatusDelivering
	if len(subs) == 0 {
		status = StatusNoSubscribers
	}
	return temporal.NewSearchAttributes(
		SearchEventType.ValueSet(ev.EventType),
		SearchSource.ValueSet(ev.Source),
		SearchStatus.ValueSet(status),
		SearchWebhookIDs.ValueSet(idKeywords(ids)),
	)
}

// Event workflow statuses, as HeraldStatus and EventResult.Status.
const (
	StatusDelivering    = "delivering"     // attempts under way
	StatusRetrying      = "retrying"       // a delivery waits for a retry
	StatusRateLimited   = "rate_limited"   // a delivery waits for room under its webhook's rate limit
	StatusPaused        = "paused"         // a delivery is held: its webhook is paused or inactive
	StatusDelivered     = "delivered"      // every subscriber got it
	StatusFailed        = "failed"         // no subscriber got it
	StatusPartial       = "partial"        // some did, some did not
	StatusNoSubscribers = "no_subscribers" // nobody subscribed to the type
	StatusIdle          = "idle"           // a stream holding no delivery
)

// EventInput starts an EventWorkflow. Reopened is set when a manual retry
// starts the workflow of a finished event again: the subscribers then come
// from the retry signals, not from a new snapshot.
//
// Recorded says the event's subscribers were recorded when it was
// accepted: Subscribers are those delivered one workflow per event (none
// may be left), each delivery's outcome is recorded with its last attempt,
// and the workflow neither resolves subscribers nor records a finish. A
// reopened event and a batch are not Recorded: their workflow does both.
type EventInput struct {
	Event       webhook.Event `json:"event"`
	Reopened    bool          `json:"reopened,omitempty"`
	Recorded    bool          `json:"recorded,omitempty"`
	Subscribers []Subscriber  `json:"subscribers,omitempty"`
	// Batch is set when the event is a batch (webhook.BatchEventType): it
	// goes to that one integration, not to the type's subscribers.
	Batch *BatchDelivery `json:"batch,omitempty"`
}

// BatchDelivery names the integration a batch goes to.
type BatchDelivery struct {
	WebhookID int64 `json:"webhook_id"`
}

// Subscriber is a webhook as snapshotted when its delivery starts: which
// one, the retry schedule the delivery keeps even if the webhook changes,
// and the number of its first attempt (above 1 when a delivery starts over).
type Subscriber struct {
	WebhookID    int64               `json:"webhook_id"`
	Name         string              `json:"name"`
	Policy       webhook.RetryPolicy `json:"policy"`
	FirstAttempt int                 `json:"first_attempt"`
	// Batched says the subscriber collects events into batches: the
	// event is handed to its BatchWorkflow instead of attempted here.
	Batched bool `json:"batched,omitempty"`
	// Mode is how the subscriber's events travel (empty: per_event).
	Mode webhook.DeliveryMode `json:"mode,omitempty"`
	// Overrides are the schedules of event types whose retry_overrides
	// differ from Policy.
	Overrides map[string]webhook.RetryPolicy `json:"overrides,omitempty"`
}

// PolicyFor is the retry schedule of an event of this type.
func (s Subscriber) PolicyFor(eventType string) webhook.RetryPolicy {
	if p, ok := s.Overrides[eventType]; ok {
		return p
	}
	return s.Policy
}

// SubscriberOf is a webhook as a delivery starting now snapshots it, its
// first attempt numbered first.
func SubscriberOf(w *webhook.Webhook, first int) Subscriber {
	s := Subscriber{WebhookID: w.ID, Name: w.Name, Policy: w.RetryPolicy(), FirstAttempt: first, Batched: w.Batched(),
		Overrides: w.RetryPolicies()}
	if w.DeliveryMode.Streamed() && !s.Batched {
		s.Mode = w.DeliveryMode
	}
	return s
}

// StartEventResult is what the StartEvent activity returns.
type StartEventResult struct {
	Subscribers []Subscriber `json:"subscribers"`
}

// LoadSubscriberInput asks for one webhook of an event, to start its
// delivery over.
type LoadSubscriberInput struct {
	EventID   string `json:"event_id"`
	WebhookID int64  `json:"webhook_id"`
}

// LoadSubscriberResult is the subscriber, when the webhook exists and was
// one of the event's subscribers.
type LoadSubscriberResult struct {
	Found      bool       `json:"found"`
	Subscriber Subscriber `json:"subscriber"`
	// EventType is the event's, for the subscriber's retry overrides.
	EventType string `json:"event_type,omitempty"`
}

// AttemptInput asks for one attempt. Final says no attempt follows whatever
// happens; RetryIn is the planned wait before the next one if this fails.
// Reserved says a rate-limit slot was already taken for it at ReservedAt
// (it waited for that slot's window); a slot whose window has passed by the
// time the attempt runs is not used, and a new one is taken.
type AttemptInput struct {
	EventID    string        `json:"event_id"`
	WebhookID  int64         `json:"webhook_id"`
	Attempt    int           `json:"attempt"`
	Final      bool          `json:"final"`
	RetryIn    time.Duration `json:"retry_in"`
	Reserved   bool          `json:"reserved,omitempty"`
	ReservedAt *time.Time    `json:"reserved_at,omitempty"`
}

// AttemptResult is one attempt's outcome. When the webhook is paused the
// attempt is Held; when its rate limit has no room now, a slot was reserved
// for RateLimitedUntil and the attempt waits for it. Neither sends anything
// nor counts as an attempt. Otherwise RetryIn is the wait before the next
// attempt (the plan, stretched by Retry-After) when Status is retrying.
type AttemptResult struct {
	// WebhookID, EventID and Attempt repeat the input: a local
	// activity's marker in the history holds its result, not its input.
	WebhookID int64  `json:"webhook_id,omitempty"`
	EventID   string `json:"event_id,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	// NotMade and Ended are a stream batch's: the attempt was not made
	// (StreamAttemptResult), or the delivery had ended before, as Status
	// says.
	NotMade          bool                  `json:"not_made,omitempty"`
	Ended            bool                  `json:"ended,omitempty"`
	Held             bool                  `json:"held,omitempty"`
	HeldReason       string                `json:"held_reason,omitempty"`
	RateLimitedUntil *time.Time            `json:"rate_limited_until,omitempty"`
	AttemptID        int64                 `json:"delivery_id,omitempty"`
	Status           webhook.AttemptStatus `json:"status,omitempty"`
	StatusCode       int                   `json:"status_code,omitempty"`
	DurationMS       float64               `json:"duration_ms,omitempty"`
	ErrorClass       webhook.ErrorClass    `json:"error_class,omitempty"`
	Error            string                `json:"error,omitempty"`
	RetryIn          time.Duration         `json:"retry_in,omitempty"`
	NextRetryAt      *time.Time            `json:"next_retry_at,omitempty"`
}

// WebhookSignal is the argument of SignalRetry and SignalResume.
type WebhookSignal struct {
	WebhookID int64 `json:"webhook_id"`
}

// StartBatchInput starts the delivery of a batch to its integration.
type StartBatchInput struct {
	Event     webhook.Event `json:"event"`
	WebhookID int64         `json:"webhook_id"`
}

// AddToBatchInput hands an event to a batched subscriber's batch.
type AddToBatchInput struct {
	EventID   string `json:"event_id"`
	WebhookID int64  `json:"webhook_id"`
}

// FinishEventInput names the event whose deliveries have all ended.
type FinishEventInput struct {
	EventID string `json:"event_id"`
}

// LoopState is where one subscriber's delivery stands.
type LoopState string

const (
	LoopScheduled   LoopState = "scheduled"    // first attempt not started
	LoopAttempting  LoopState = "attempting"   // an attempt is in flight
	LoopRetrying    LoopState = "retrying"     // waiting for NextAttemptAt after a failure
	LoopRateLimited LoopState = "rate_limited" // waiting for NextAttemptAt, when the rate limit has room
	LoopPaused      LoopState = "paused"       // held until the webhook is active again
	LoopDelivered   LoopState = "delivered"
	LoopFailed      LoopState = "failed"
	LoopCancelled   LoopState = "cancelled" // stopped: the webhook was deleted, or a cancel signal
	// LoopBatched: handed to the subscriber's batch, which is delivered
	// as an event of its own (webhook.BatchEventType).
	LoopBatched LoopState = "batched"
)

// Done says the delivery has ended: nothing more will be attempted unless
// a retry starts it over.
func (s LoopState) Done() bool {
	return s == LoopDelivered || s == LoopFailed || s == LoopCancelled || s == LoopBatched
}

// DeliveryState is QueryDeliveries' answer for one subscriber, and a
// stream's for one event.
type DeliveryState struct {
	// EventID and BlockedBy are a stream's: the event, and in ordered mode
	// the event it waits for.
	EventID        string     `json:"event_id,omitempty"`
	BlockedBy      string     `json:"blocked_by,omitempty"`
	WebhookID      int64      `json:"webhook_id"`
	WebhookName    string     `json:"webhook_name"`
	State          LoopState  `json:"state"`
	Attempts       int        `json:"attempts"`
	LastAttempt    int        `json:"last_attempt"` // the number of the last attempt this run will make
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	LastAttemptID  int64      `json:"last_delivery_id,omitempty"`
}

// EventResult is EventWorkflow's result.
type EventResult struct {
	Status    string `json:"status"`
	Delivered int    `json:"delivered"`
	Failed    int    `json:"failed"`
	Cancelled int    `json:"cancelled"`
	Batched   int    `json:"batched,omitempty"`
}

// MaxSearchWebhookIDs bounds HeraldWebhookIDs: a search attribute value is
// limited in size (2 KiB by default), and a workflow over it would be refused.
// An event with more subscribers lists the first MaxSearchWebhookIDs-1 and
// ManySubscribers, so a query for one webhook can include them all:
// HeraldWebhookIDs IN ('7', 'many').
const MaxSearchWebhookIDs = 100

// ManySubscribers in HeraldWebhookIDs marks an event whose subscribers are
// too many to list.
const ManySubscribers = "many"

func idKeywords(ids []int64) []string {
	n := len(ids)
	if n > MaxSearchWebhookIDs {
		n = MaxSearchWebhookIDs - 1
	}
	out := make([]string, 0, MaxSearchWebhookIDs)
	for _, id := range ids[:n] {
		out = append(out, strconv.FormatInt(id, 10))
	}
	if n < len(ids) {
		out = append(out, ManySubscribers)
	}
	return out
}
