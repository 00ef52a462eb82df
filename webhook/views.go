package webhook

import (
	"encoding/json"
	"time"
)

// The types below are answers of the REST API (/api/v1) that are not a
// domain type as it is: the API writes them and package client reads them,
// so both share one definition of the wire format.

// AcceptedEvent is Herald's receipt for a published event: from it on, the
// event cannot be lost. Duplicate says the event id had been accepted
// before, and nothing is delivered again.
type AcceptedEvent struct {
	EventID    string    `json:"event_id"`
	EventType  string    `json:"event_type"`
	Status     string    `json:"status"`
	Duplicate  bool      `json:"duplicate"`
	WorkflowID string    `json:"workflow_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// TestResult is one real, signed test attempt with an event type's example
// payload, recorded with is_test: the answer of a webhook's or an
// integration's test.
type TestResult struct {
	Success      bool       `json:"success"`
	StatusCode   int        `json:"status_code"`
	DurationMS   float64    `json:"duration_ms"`
	ResponseBody string     `json:"response_body"`
	Error        string     `json:"error"`
	ErrorClass   ErrorClass `json:"error_class"`
	DeliveryID   int64      `json:"delivery_id"`
	EventID      string     `json:"event_id"`
	EventType    string     `json:"event_type"`
	// RequestBody is the body sent, before compression: the payload
	// options applied.
	RequestBody json.RawMessage `json:"request_body"`
	// Filtered says the subscriber's filter would leave this event out;
	// a test is sent anyway.
	Filtered bool `json:"filtered"`
	// RetrySchedule is what a delivery of this event type would wait
	// before each retry, its retry override applied.
	RetrySchedule []float64 `json:"retry_schedule_seconds"`
}

// SubscriberDelivery is where one subscriber's delivery of an event stands:
// its latest attempt row, and while the event's workflow runs, the live
// state of its delivery loop (State, NextAttemptAt). A subscriber held by a
// pause or a rate limit before its first attempt has no row yet: it shows
// with status pending, 0 attempts and its live state.
type SubscriberDelivery struct {
	WebhookID          int64         `json:"webhook_id"`
	Status             AttemptStatus `json:"status"`
	Attempts           int           `json:"attempts"`
	LastDeliveryID     int64         `json:"last_delivery_id"`
	ResponseStatusCode *int          `json:"response_status_code"`
	LastError          string        `json:"last_error"`
	NextRetryAt        *time.Time    `json:"next_retry_at"`
	RespondedAt        *time.Time    `json:"responded_at"`
	State              string        `json:"state,omitempty"`
	NextAttemptAt      *time.Time    `json:"next_attempt_at,omitempty"`
}

// TimelineEntry is one step of an event's delivery, read from its workflow
// history: an attempt, a wait, a signal, a hold; when, to which webhook.
type TimelineEntry struct {
	Time       time.Time  `json:"time"`
	Kind       string     `json:"kind"`
	WebhookID  int64      `json:"webhook_id,omitempty"`
	Attempt    int        `json:"attempt,omitempty"`
	Status     string     `json:"status,omitempty"`
	StatusCode int        `json:"status_code,omitempty"`
	Until      *time.Time `json:"until,omitempty"`
	Detail     string     `json:"detail,omitempty"`
	RunID      string     `json:"run_id"`
}

// IntegrationView is an integration (a connector) as the API shows it:
// credentials masked, the signing secret (zapier, webhook types) masked
// except in the answer that created it.
type IntegrationView struct {
	ID                  int64           `json:"id"`
	Name                string          `json:"name"`
	IntegrationType     string          `json:"integration_type"`
	Description         string          `json:"description"`
	Credentials         map[string]any  `json:"credentials"`
	Config              json.RawMessage `json:"config"`
	EventSubscriptions  []string        `json:"event_subscriptions"`
	Secret              string          `json:"secret,omitempty"`
	Status              Status          `json:"status"`
	StatusReason        string          `json:"status_reason"`
	PausedAt            *time.Time      `json:"paused_at"`
	ConsecutiveFailures int             `json:"consecutive_failures"`
	DeliverySettings
	Filter          json.RawMessage          `json:"filter"`
	RetryOverrides  map[string]RetryOverride `json:"retry_overrides"`
	Batch           *IntegrationBatch        `json:"batch,omitempty"`
	CreatedAt       time.Time                `json:"created_at"`
	UpdatedAt       time.Time                `json:"updated_at"`
	LastTriggeredAt *time.Time               `json:"last_triggered_at"`
}

// IntegrationBatch is a batching connector's settings and its workflow.
type IntegrationBatch struct {
	Size           int    `json:"batch_size"`
	TimeoutSeconds int    `json:"batch_timeout_seconds"`
	WorkflowID     string `json:"workflow_id"`
}
