package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// DeliveryListOptions select and page ListDeliveries and ListAllDeliveries.
type DeliveryListOptions struct {
	Status    webhook.AttemptStatus // pending, delivered, retrying, failed; "": all
	EventID   string                // one event's attempts
	EventType string                // one event type's attempts
	// Since and Until bound when the attempts were made: [Since, Until);
	// zero for no bound.
	Since, Until time.Time
	Limit        int // 1–1000; 0: 50
	Offset       int
}

func (o DeliveryListOptions) filters() []string {
	return []string{"status", string(o.Status), "event_id", o.EventID, "event_type", o.EventType,
		"since", timeParam(o.Since), "until", timeParam(o.Until)}
}

func timeParam(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// DeliveryList is a page of attempt rows, newest first.
type DeliveryList struct {
	Deliveries []webhook.Attempt `json:"deliveries"`
	Page
}

// ListDeliveries lists a webhook's attempts.
func (c *Client) ListDeliveries(ctx context.Context, webhookID int64, o DeliveryListOptions) (*DeliveryList, error) {
	return list[DeliveryList](ctx, c, path("webhooks", id(webhookID), "deliveries"), o.Limit, o.Offset, o.filters()...)
}

// ListAllDeliveries lists the attempts of every webhook and integration.
func (c *Client) ListAllDeliveries(ctx context.Context, o DeliveryListOptions) (*DeliveryList, error) {
	return list[DeliveryList](ctx, c, path("deliveries"), o.Limit, o.Offset, o.filters()...)
}

// DeliveryState is where a delivery loop stands, from the workflow running
// it: State is scheduled, attempting, retrying, paused, rate_limited,
// delivered, failed, cancelled or batched.
type DeliveryState struct {
	EventID        string     `json:"event_id,omitempty"`
	BlockedBy      string     `json:"blocked_by,omitempty"` // ordered mode: the event it waits for
	WebhookID      int64      `json:"webhook_id"`
	WebhookName    string     `json:"webhook_name"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	LastAttempt    int        `json:"last_attempt"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	LastDeliveryID int64      `json:"last_delivery_id,omitempty"`
}

// DeliveryDetail is one attempt row and, while its workflow can answer,
// the live state of its delivery loop.
type DeliveryDetail struct {
	webhook.Attempt
	Live      *DeliveryState `json:"live"`
	LiveError string         `json:"live_error,omitempty"`
}

// GetDelivery reads one attempt of a webhook.
func (c *Client) GetDelivery(ctx context.Context, webhookID, deliveryID int64) (*DeliveryDetail, error) {
	return call[DeliveryDetail](ctx, c, http.MethodGet, path("webhooks", id(webhookID), "deliveries", id(deliveryID)), nil, nil)
}

// RetryResult says what a retry or cancel did: Action is "signalled" (the
// workflow was running), "reopened" (it had ended) or "cancelled".
type RetryResult struct {
	EventID   string         `json:"event_id"`
	WebhookID int64          `json:"webhook_id"`
	Action    string         `json:"action"`
	State     *DeliveryState `json:"state"`
}

// RetryDelivery retries the delivery an attempt belongs to: now if it
// waits for its next attempt, from the start of the retry schedule if it
// failed for good. One already delivered is an *Error conflict.
func (c *Client) RetryDelivery(ctx context.Context, webhookID, deliveryID int64) (*RetryResult, error) {
	return call[RetryResult](ctx, c, http.MethodPost, path("webhooks", id(webhookID), "deliveries", id(deliveryID), "retry"), nil, nil)
}

// CancelDelivery stops a delivery that has not ended; its latest attempt is
// marked failed. One that has ended is an *Error conflict.
func (c *Client) CancelDelivery(ctx context.Context, webhookID, deliveryID int64) (*RetryResult, error) {
	return call[RetryResult](ctx, c, http.MethodPost, path("webhooks", id(webhookID), "deliveries", id(deliveryID), "cancel"), nil, nil)
}

// RetryFailedOptions bound RetryFailed: failures of the last MaxAgeHours
// (0: 24), at most Limit of them (0: 1000).
type RetryFailedOptions struct {
	MaxAgeHours int
	Limit       int
}

// BulkRetry is what RetryFailed did.
type BulkRetry struct {
	Retried         int   `json:"retried"`
	AlreadyUnderWay int   `json:"already_under_way"`
	Remaining       int   `json:"remaining"`
	WebhookID       int64 `json:"webhook_id"`
	MaxAgeHours     int   `json:"max_age_hours"`
}

// RetryFailed retries every delivery of the webhook that failed for good
// in the window, oldest first; a repeated call retries nothing twice.
func (c *Client) RetryFailed(ctx context.Context, webhookID int64, o RetryFailedOptions) (*BulkRetry, error) {
	q := url.Values{}
	setInt(q, "max_age_hours", o.MaxAgeHours)
	setInt(q, "limit", o.Limit)
	return call[BulkRetry](ctx, c, http.MethodPost, path("webhooks", id(webhookID), "retry"), q, nil)
}
