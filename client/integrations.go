package client

import (
	"context"
	"net/http"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// Integration types.
const (
	Slack       = "slack"
	Teams       = "teams"
	Email       = "email"
	Zapier      = "zapier"
	WebhookType = "webhook" // a generic signed webhook managed by name
)

// Integration is a connector as the API shows it: credentials masked, the
// signing secret (zapier, webhook) masked except in RegisterIntegration's
// answer.
type Integration = webhook.IntegrationView

// IntegrationBatch is a batching connector's settings and its workflow.
type IntegrationBatch = webhook.IntegrationBatch

// IntegrationInput registers an integration (Name and IntegrationType
// required) or updates one: as with WebhookInput, zero fields are not sent;
// Credentials and Config are merged key by key into the stored ones, and a
// masked value sent back keeps the stored secret.
type IntegrationInput struct {
	Name               string         `json:"name,omitempty"`
	IntegrationType    string         `json:"integration_type,omitempty"`
	Description        *string        `json:"description,omitempty"`
	Credentials        map[string]any `json:"credentials,omitzero"` // webhook_url, smtp_host, …
	Config             map[string]any `json:"config,omitzero"`      // default_channel, default_recipients, batch_events, …
	EventSubscriptions []string       `json:"event_subscriptions,omitzero"`
	Status             webhook.Status `json:"status,omitempty"`
	StatusReason       string         `json:"status_reason,omitempty"`

	DeliverySettings
}

// RegisterIntegration creates an integration.
func (c *Client) RegisterIntegration(ctx context.Context, in IntegrationInput) (*Integration, error) {
	return call[Integration](ctx, c, http.MethodPost, "/integrations", nil, in)
}

// IntegrationListOptions select and page ListIntegrations.
type IntegrationListOptions struct {
	IntegrationType string // "": every type
	Limit           int
	Offset          int
}

// IntegrationList is a page of integrations, newest first.
type IntegrationList struct {
	Integrations []Integration `json:"integrations"`
	Page
}

// ListIntegrations lists integrations.
func (c *Client) ListIntegrations(ctx context.Context, o IntegrationListOptions) (*IntegrationList, error) {
	return list[IntegrationList](ctx, c, "/integrations", o.Limit, o.Offset, "integration_type", o.IntegrationType)
}

// GetIntegration reads an integration by name.
func (c *Client) GetIntegration(ctx context.Context, name string) (*Integration, error) {
	return call[Integration](ctx, c, http.MethodGet, path("integrations", name), nil, nil)
}

// UpdateIntegration changes what in sets (a new Name renames it).
func (c *Client) UpdateIntegration(ctx context.Context, name string, in IntegrationInput) (*Integration, error) {
	return call[Integration](ctx, c, http.MethodPatch, path("integrations", name), nil, in)
}

// DeleteIntegration removes an integration.
func (c *Client) DeleteIntegration(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, path("integrations", name), nil, nil, nil)
}

// TestIntegration sends one real message with an example of eventType (""
// the integration's first subscription), recorded as a test delivery.
func (c *Client) TestIntegration(ctx context.Context, name, eventType string) (*TestResult, error) {
	return call[TestResult](ctx, c, http.MethodPost, path("integrations", name, "test"), nil, testInput{eventType})
}

// Subscriptions are an integration's event types.
type Subscriptions struct {
	Integration        string   `json:"integration"`
	EventSubscriptions []string `json:"event_subscriptions"`
	Total              int      `json:"total"`
}

// Subscriptions reads an integration's event types.
func (c *Client) Subscriptions(ctx context.Context, name string) (*Subscriptions, error) {
	return call[Subscriptions](ctx, c, http.MethodGet, path("integrations", name, "subscriptions"), nil, nil)
}

// Subscribe adds an event type ("*": all) to an integration; adding one it
// has changes nothing.
func (c *Client) Subscribe(ctx context.Context, name, eventType string) (*Subscriptions, error) {
	return call[Subscriptions](ctx, c, http.MethodPost, path("integrations", name, "subscribe", eventType), nil, nil)
}

// Unsubscribe removes an event type; one it does not have is not_found.
func (c *Client) Unsubscribe(ctx context.Context, name, eventType string) (*Subscriptions, error) {
	return call[Subscriptions](ctx, c, http.MethodDelete, path("integrations", name, "subscribe", eventType), nil, nil)
}

// IntegrationStatus is one integration's health: healthy (its latest
// attempt delivered), idle (none yet), failing, paused or inactive.
type IntegrationStatus struct {
	Status          string     `json:"status"`
	IntegrationType string     `json:"integration_type"`
	LastEvent       *time.Time `json:"last_event"`
	LastEventID     string     `json:"last_event_id,omitempty"`
	LastEventType   string     `json:"last_event_type,omitempty"`
	Error           string     `json:"error,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
}

// IntegrationHealth is the LOKI guide's integration_health(): healthy, degraded
// (some are not) or unhealthy (all failing), and each integration by name.
type IntegrationHealth struct {
	Status       string                       `json:"status"`
	Total        int                          `json:"total"`
	CheckedAt    time.Time                    `json:"checked_at"`
	Integrations map[string]IntegrationStatus `json:"integrations"`
}

// IntegrationHealth reads every integration's health.
func (c *Client) IntegrationHealth(ctx context.Context) (*IntegrationHealth, error) {
	return call[IntegrationHealth](ctx, c, http.MethodGet, "/integrations/health", nil, nil)
}

// IntegrationMetric is what one integration sent (tests aside).
type IntegrationMetric struct {
	IntegrationType string   `json:"integration_type"`
	Status          string   `json:"status"`
	Subscriptions   int      `json:"subscriptions"`
	Sent            int      `json:"sent"`
	Failed          int      `json:"failed"`
	Retried         int      `json:"retried"`
	SuccessRate     *float64 `json:"success_rate"` // percent; nil before the first attempt
}

// IntegrationMetrics is the LOKI guide's get_metrics().
type IntegrationMetrics struct {
	TotalIntegrations  int                          `json:"total_integrations"`
	ActiveIntegrations int                          `json:"active_integrations"`
	TotalSubscriptions int                          `json:"total_subscriptions"`
	TotalSent          int                          `json:"total_sent"`
	TotalFailed        int                          `json:"total_failed"`
	ByType             map[string]int               `json:"by_type"`
	Integrations       map[string]IntegrationMetric `json:"integrations"`
}

// IntegrationMetrics reads the integrations' totals.
func (c *Client) IntegrationMetrics(ctx context.Context) (*IntegrationMetrics, error) {
	return call[IntegrationMetrics](ctx, c, http.MethodGet, "/integrations/metrics", nil, nil)
}

// IntegrationAnalytics answers an integration's figures over the last
// periodDays days, as WebhookAnalytics does for a webhook.
func (c *Client) IntegrationAnalytics(ctx context.Context, name string, periodDays int) (*WebhookAnalytics, error) {
	return call[WebhookAnalytics](ctx, c, http.MethodGet, path("integrations", name, "analytics"), period(periodDays), nil)
}
