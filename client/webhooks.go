package client

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// Ptr returns a pointer to v, for the optional fields where the zero value
// is a setting of its own (MaxRetries 0: no retries; Description "").
func Ptr[T any](v T) *T { return &v }

// Webhook is a webhook as the API shows it: Herald's own type (the secret
// masked except in CreateWebhook's answer) and its retry schedule spelled
// out, jitter aside.
type Webhook struct {
	webhook.Webhook
	RetryScheduleSeconds []float64 `json:"retry_schedule_seconds"`
	// ReleasedDeliveries counts the held deliveries an update that made
	// the webhook active again set going.
	ReleasedDeliveries *int `json:"released_deliveries,omitempty"`
}

// WebhookInput creates a webhook (Name, URL and EventTypes required) or
// updates one: a field left at its zero value is not sent, so an update
// changes only what is set. Fields whose zero value is a real setting are
// pointers (see Ptr). A non-nil empty CustomHeaders, Metadata or
// RetryOverrides clears them; Filter json.RawMessage(`{}`) removes the filter.
type WebhookInput struct {
	Name        string         `json:"name,omitempty"`
	URL         string         `json:"url,omitempty"`
	EventTypes  []string       `json:"event_types,omitempty"` // catalog names, or "*"
	Description *string        `json:"description,omitempty"`
	Secret      string         `json:"secret,omitempty"` // generated when a create leaves it out
	Status      webhook.Status `json:"status,omitempty"`
	// StatusReason says why a webhook is set paused or inactive.
	StatusReason string `json:"status_reason,omitempty"`

	DeliverySettings

	CustomHeaders map[string]string `json:"custom_headers,omitzero"`
	// Metadata is free-form; its payload_format, payload_template,
	// include_raw_payload, compression and transformation_rules shape
	// the body (docs/payloads.md).
	Metadata map[string]any `json:"metadata,omitzero"`
}

// DeliverySettings are how Herald delivers to a subscriber, webhook or
// integration: its retry schedule, timeout, rate limits, mode, filter and
// per-type schedules. Zero fields are not sent.
type DeliverySettings struct {
	RetryStrategy      webhook.RetryStrategy `json:"retry_strategy,omitempty"`
	MaxRetries         *int                  `json:"max_retries,omitempty"`
	RetryDelaySeconds  int                   `json:"retry_delay_seconds,omitempty"`
	BackoffMultiplier  float64               `json:"backoff_multiplier,omitempty"`
	MaxDelaySeconds    int                   `json:"max_delay_seconds,omitempty"`
	JitterPercentage   *float64              `json:"jitter_percentage,omitempty"` // a fraction: 0.1 is ±10 %
	TimeoutSeconds     int                   `json:"timeout_seconds,omitempty"`
	RateLimitPerMinute int                   `json:"rate_limit_per_minute,omitempty"`
	RateLimitPerHour   int                   `json:"rate_limit_per_hour,omitempty"`
	DeliveryMode       webhook.DeliveryMode  `json:"delivery_mode,omitempty"`
	// Filter json.RawMessage(`{}`) removes the filter.
	Filter         json.RawMessage                  `json:"filter,omitzero"`
	RetryOverrides map[string]webhook.RetryOverride `json:"retry_overrides,omitzero"`
}

// CreateWebhook registers a webhook. The answer is the only one that shows
// the whole secret.
func (c *Client) CreateWebhook(ctx context.Context, in WebhookInput) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodPost, "/webhooks", nil, in)
}

// WebhookListOptions selects and pages ListWebhooks.
type WebhookListOptions struct {
	Status webhook.Status // "": every status
	Limit  int            // 1–1000; 0: 50
	Offset int
}

// WebhookList is a page of webhooks, newest first.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
	Page
}

// ListWebhooks lists webhooks (integrations have ListIntegrations).
func (c *Client) ListWebhooks(ctx context.Context, o WebhookListOptions) (*WebhookList, error) {
	return list[WebhookList](ctx, c, "/webhooks", o.Limit, o.Offset, "status", string(o.Status))
}

// GetWebhook reads one webhook; its secret and credential-looking header
// values come masked.
func (c *Client) GetWebhook(ctx context.Context, webhookID int64) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodGet, path("webhooks", id(webhookID)), nil, nil)
}

// UpdateWebhook changes the fields set in in and returns the result.
func (c *Client) UpdateWebhook(ctx context.Context, webhookID int64, in WebhookInput) (*Webhook, error) {
	return call[Webhook](ctx, c, http.MethodPut, path("webhooks", id(webhookID)), nil, in)
}

// DeleteWebhook removes a webhook; deliveries under way stop.
func (c *Client) DeleteWebhook(ctx context.Context, webhookID int64) error {
	return c.do(ctx, http.MethodDelete, path("webhooks", id(webhookID)), nil, nil, nil)
}

// TestResult is one real, signed test attempt with an event type's example
// payload, recorded with is_test.
type TestResult = webhook.TestResult

type testInput struct {
	EventType string `json:"event_type,omitempty"`
}

// TestWebhook sends one test delivery of eventType ("": the webhook's first
// subscribed type). A rate limit without room now is an *Error rate_limited.
func (c *Client) TestWebhook(ctx context.Context, webhookID int64, eventType string) (*TestResult, error) {
	return call[TestResult](ctx, c, http.MethodPost, path("webhooks", id(webhookID), "test"), nil, testInput{eventType})
}

// RotateOptions shape a secret rotation.
type RotateOptions struct {
	// OverlapHours is how long the old secret keeps signing beside the new
	// one (nil: the server's default, 24 h; 0: retire it now).
	OverlapHours *int   `json:"overlap_hours,omitempty"`
	Secret       string `json:"secret,omitempty"` // the new secret; generated when ""
}

// RotatedSecret is the only answer that shows the new secret.
type RotatedSecret struct {
	ID                      int64      `json:"id"`
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// RotateSecret gives the webhook a new signing secret.
func (c *Client) RotateSecret(ctx context.Context, webhookID int64, o RotateOptions) (*RotatedSecret, error) {
	return call[RotatedSecret](ctx, c, http.MethodPost, path("webhooks", id(webhookID), "rotate-secret"), nil, o)
}

// Stats are delivery figures over a period (test deliveries aside).
type Stats struct {
	TotalEvents          int     `json:"total_events"`
	SuccessfulDeliveries int     `json:"successful_deliveries"`
	FailedDeliveries     int     `json:"failed_deliveries"`
	SuccessRate          float64 `json:"success_rate"` // percent
	AvgResponseTimeMS    float64 `json:"avg_response_time_ms"`
	MinResponseTimeMS    float64 `json:"min_response_time_ms"`
	MaxResponseTimeMS    float64 `json:"max_response_time_ms"`
	P95ResponseTimeMS    float64 `json:"p95_response_time_ms"`
	TotalAttempts        int     `json:"total_attempts"`
	RetryCount           int     `json:"retry_count"`
	HTTP4xxErrors        int     `json:"http_4xx_errors"`
	HTTP5xxErrors        int     `json:"http_5xx_errors"`
	TimeoutErrors        int     `json:"timeout_errors"`
	NetworkErrors        int     `json:"network_errors"`
	FilteredEvents       int     `json:"filtered_events"` // left out by the subscriber's filter
}

// WebhookAnalytics are one webhook's figures.
type WebhookAnalytics struct {
	WebhookID  int64 `json:"webhook_id"`
	PeriodDays int   `json:"period_days"`
	Stats
}

// WebhookAnalytics answers a webhook's figures over the last periodDays
// days (1–366; 0: 7).
func (c *Client) WebhookAnalytics(ctx context.Context, webhookID int64, periodDays int) (*WebhookAnalytics, error) {
	return call[WebhookAnalytics](ctx, c, http.MethodGet, path("webhooks", id(webhookID), "analytics"), period(periodDays), nil)
}

// AnalyticsOptions select Analytics' period (days, 0: 7) and event type.
type AnalyticsOptions struct {
	PeriodDays int
	EventType  string
}

// Analytics are the figures across every subscriber.
type Analytics struct {
	PeriodDays  int              `json:"period_days"`
	EventType   string           `json:"event_type"`
	Overall     Stats            `json:"overall"`
	ByEventType map[string]Stats `json:"by_event_type"`
	ByWebhook   []WebhookFigures `json:"by_webhook"` // integrations included
}

// WebhookFigures are one subscriber's part of Analytics.
type WebhookFigures struct {
	WebhookID int64  `json:"webhook_id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Stats
}

// Analytics answers the figures across webhooks and integrations, per
// event type and per subscriber.
func (c *Client) Analytics(ctx context.Context, o AnalyticsOptions) (*Analytics, error) {
	q := period(o.PeriodDays)
	setString(q, "event_type", o.EventType)
	return call[Analytics](ctx, c, http.MethodGet, "/analytics", q, nil)
}
