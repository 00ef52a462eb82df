// Package workflows holds Herald's deterministic Temporal code: the event
// workflow that fans an event out to its subscribers, the names of its
// signals, queries and activities, and the types they exchange. It never
// does I/O itself; every side effect is an activity.
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
//	temporal workflow signal --workflow-id event/<id> --name retry --input '{"webhook_id": 3}'
//	temporal workflow query  --workflow-id event/<id> --type deliveries
const (
	// SignalRetry makes a delivery that waits for its next attempt go now.
	// Its argument is a RetrySignal.
	SignalRetry = "retry"
	// QueryDeliveries returns []DeliveryState, one per subscriber.
	QueryDeliveries = "deliveries"
)

// Activity names, as registered by the worker.
const (
	ActivityStartEvent  = "StartEvent"
	ActivityAttempt     = "Attempt"
	ActivityFinishEvent = "FinishEvent"
)

// ErrWebhookGone is the application error type an attempt fails with when its
// webhook was deleted: the delivery stops, since there is nowhere to send.
const ErrWebhookGone = "WebhookGone"

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

// Event workflow statuses, as HeraldStatus and EventResult.Status.
const (
	StatusDelivering    = "delivering"     // attempts under way
	StatusRetrying      = "retrying"       // at least one delivery waits for a retry
	StatusDelivered     = "delivered"      // every subscriber got it
	StatusFailed        = "failed"         // no subscriber got it
	StatusPartial       = "partial"        // some did, some did not
	StatusNoSubscribers = "no_subscribers" // nobody subscribed to the type
)

// Subscriber is a webhook as snapshotted when its event arrived: which one,
// and the retry schedule its delivery keeps even if the webhook changes.
type Subscriber struct {
	WebhookID int64               `json:"webhook_id"`
	Name      string              `json:"name"`
	Policy    webhook.RetryPolicy `json:"policy"`
}

// StartEventResult is what the StartEvent activity returns.
type StartEventResult struct {
	Subscribers []Subscriber `json:"subscribers"`
}

// AttemptInput asks for one attempt. Final says no attempt follows whatever
// happens; RetryIn is the planned wait before the next one if this fails.
type AttemptInput struct {
	EventID   string        `json:"event_id"`
	WebhookID int64         `json:"webhook_id"`
	Attempt   int           `json:"attempt"`
	Final     bool          `json:"final"`
	RetryIn   time.Duration `json:"retry_in"`
}

// AttemptResult is one attempt's outcome. RetryIn is the wait before the
// next attempt (the plan, stretched by Retry-After) when Status is retrying.
type AttemptResult struct {
	DeliveryID  int64                  `json:"delivery_id"`
	Status      webhook.DeliveryStatus `json:"status"`
	StatusCode  int                    `json:"status_code"`
	DurationMS  float64                `json:"duration_ms"`
	ErrorClass  webhook.ErrorClass     `json:"error_class,omitempty"`
	Error       string                 `json:"error,omitempty"`
	RetryIn     time.Duration          `json:"retry_in,omitempty"`
	NextRetryAt *time.Time             `json:"next_retry_at,omitempty"`
}

// RetrySignal is SignalRetry's argument. WebhookID 0 means every waiting delivery.
type RetrySignal struct {
	WebhookID int64 `json:"webhook_id"`
}

// LoopState is where one subscriber's delivery stands.
type LoopState string

const (
	LoopScheduled  LoopState = "scheduled"  // first attempt not started
	LoopAttempting LoopState = "attempting" // an attempt is in flight
	LoopRetrying   LoopState = "retrying"   // waiting for NextRetryAt
	LoopDelivered  LoopState = "delivered"
	LoopFailed     LoopState = "failed"
	LoopCancelled  LoopState = "cancelled" // stopped: the webhook was deleted
)

func (s LoopState) done() bool {
	return s == LoopDelivered || s == LoopFailed || s == LoopCancelled
}

// DeliveryState is QueryDeliveries' answer for one subscriber.
type DeliveryState struct {
	WebhookID      int64      `json:"webhook_id"`
	WebhookName    string     `json:"webhook_name"`
	State          LoopState  `json:"state"`
	Attempts       int        `json:"attempts"`
	MaxAttempts    int        `json:"max_attempts"`
	NextRetryAt    *time.Time `json:"next_retry_at"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	LastDeliveryID int64      `json:"last_delivery_id,omitempty"`
}

// FinishEventInput is how an event's deliveries ended: a delivery cancelled
// because its webhook was deleted counts as failed.
type FinishEventInput struct {
	EventID    string `json:"event_id"`
	Successful int    `json:"successful"`
	Failed     int    `json:"failed"`
}

// EventResult is EventWorkflow's result.
type EventResult struct {
	Status    string `json:"status"`
	Delivered int    `json:"delivered"`
	Failed    int    `json:"failed"`
	Cancelled int    `json:"cancelled"`
}

// MaxSearchWebhookIDs bounds HeraldWebhookIDs: a search attribute value is
// limited in size (2 KiB by default), and a workflow over it would be refused.
const MaxSearchWebhookIDs = 100

func webhookIDKeywords(subs []Subscriber) []string {
	out := make([]string, 0, min(len(subs), MaxSearchWebhookIDs))
	for _, s := range subs[:min(len(subs), MaxSearchWebhookIDs)] {
		out = append(out, strconv.FormatInt(s.WebhookID, 10))
	}
	return out
}
