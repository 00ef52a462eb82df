// Package webhook holds Herald's domain: webhooks and their validation,
// events, attempts, retry schedules, outcome classification, signatures,
// and the error codes every layer shares. It is pure logic with no I/O,
// importable by receivers written in Go. What each event type carries is
// package eventtypes'.
package webhook

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Status is a webhook's state. Only active webhooks get new events.
type Status string

const (
	StatusActive   Status = "active"
	StatusInactive Status = "inactive"
	StatusPaused   Status = "paused"
)

func (s Status) Valid() bool {
	return s == StatusActive || s == StatusInactive || s == StatusPaused
}

// DeliveryMode is how a subscriber's events travel through Temporal.
type DeliveryMode string

const (
	// PerEvent delivers each event in a workflow of its own, event/<id>:
	// deliveries to one subscriber run side by side, each step in the
	// event's history.
	PerEvent DeliveryMode = "per_event"
	// Stream delivers through one long-running workflow per subscriber,
	// stream/<webhook id>, fed groups of events: many deliveries per
	// workflow task, for throughput.
	Stream DeliveryMode = "stream"
	// Ordered is a stream that delivers one event at a time, in the order
	// they were accepted: event n+1 is attempted once event n has ended.
	Ordered DeliveryMode = "ordered"
)

func (m DeliveryMode) Valid() bool { return m == PerEvent || m == Stream || m == Ordered }

// Streamed says the mode delivers through a subscriber's stream workflow.
func (m DeliveryMode) Streamed() bool { return m == Stream || m == Ordered }

// RetrySettings are a subscriber's retry schedule as configured.
type RetrySettings struct {
	RetryStrategy     RetryStrategy `json:"retry_strategy" db:"retry_strategy"`
	MaxRetries        int           `json:"max_retries" db:"max_retries"`
	RetryDelaySeconds int           `json:"retry_delay_seconds" db:"retry_delay_seconds"`
	BackoffMultiplier float64       `json:"backoff_multiplier" db:"backoff_multiplier"`
	MaxDelaySeconds   int           `json:"max_delay_seconds" db:"max_delay_seconds"`
	JitterPercentage  float64       `json:"jitter_percentage" db:"jitter_percentage"`
}

// DeliverySettings are how deliveries to a subscriber go, a webhook's and
// an integration's alike: the retry schedule, each request's timeout, the
// rate limits and the delivery mode.
type DeliverySettings struct {
	RetrySettings
	TimeoutSeconds     int `json:"timeout_seconds" db:"timeout_seconds"`
	RateLimitPerMinute int `json:"rate_limit_per_minute" db:"rate_limit_per_minute"`
	RateLimitPerHour   int `json:"rate_limit_per_hour" db:"rate_limit_per_hour"`
	// DeliveryMode is how events travel to the subscriber; a change
	// applies to events accepted after it.
	DeliveryMode DeliveryMode `json:"delivery_mode" db:"delivery_mode"`
}

// Webhook is a subscriber endpoint and how to deliver to it.
type Webhook struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	URL         string `json:"url"`
	Description string `json:"description"`
	// Secret keys both signatures. The API shows it in full only once.
	Secret string `json:"secret"`
	// PreviousSecret is the secret a rotation replaced: until
	// PreviousSecretExpiresAt every delivery is signed with it too, so a
	// receiver can switch secrets at its own pace.
	PreviousSecret          string     `json:"-"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	Status                  Status     `json:"status"`
	// StatusReason says why a webhook is paused or inactive; PausedAt when.
	StatusReason string     `json:"status_reason"`
	PausedAt     *time.Time `json:"paused_at"`
	// ConsecutiveFailures counts deliveries failed for good since the last
	// success; the circuit breaker pauses the webhook at a threshold.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// PausedByDelivery is the attempt that tripped the circuit breaker;
	// ResumedAt when the webhook was last set active.
	PausedByDelivery *int64     `json:"paused_by_delivery"`
	ResumedAt        *time.Time `json:"resumed_at"`
	EventTypes       []string   `json:"event_types"`

	DeliverySettings

	CustomHeaders map[string]string `json:"custom_headers"`
	// Metadata is the subscriber's own, and holds the payload options the
	// LOKI guide (LOKI-webhooks.md) puts there (package payload reads them).
	Metadata map[string]any `json:"metadata"`
	// Filter, when set, lets through only the events that match it
	// (package filter); the rest are recorded as filtered for this
	// subscriber and not delivered.
	Filter json.RawMessage `json:"filter"`
	// RetryOverrides replace parts of the retry schedule for some event
	// types: an alert and a nightly report deserve different schedules.
	RetryOverrides map[string]RetryOverride `json:"retry_overrides"`

	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	LastTriggeredAt *time.Time `json:"last_triggered_at"`

	// Integration is set when the subscriber is a connector managed through
	// the integrations API (Slack, Teams, email, Zapier, a generic webhook);
	// nil for a plain webhook. Deliveries to both share everything else.
	Integration *Integration `json:"-"`
}

// Integration is what a connector adds to a subscriber. Package
// integrations reads Credentials and Config; here they are opaque JSON so
// that the store can keep them (credentials sealed) without knowing types.
type Integration struct {
	Type        string
	Credentials json.RawMessage
	Config      json.RawMessage
}

// BatchSwitch is the part of a connector's configuration that says its
// events are collected into batches; the connectors' configuration embeds
// it, and Batched reads it.
type BatchSwitch struct {
	BatchEvents bool `json:"batch_events,omitempty"`
}

// Batched reports whether deliveries to w go through a batch: a connector
// configured with batch_events.
func (w *Webhook) Batched() bool {
	if w.Integration == nil || len(w.Integration.Config) == 0 {
		return false
	}
	var c BatchSwitch
	return json.Unmarshal(w.Integration.Config, &c) == nil && c.BatchEvents
}

// Defaults for fields a create request leaves out.
const (
	DefaultMaxRetries         = 5
	DefaultRetryDelaySeconds  = 60
	DefaultBackoffMultiplier  = 2.0
	DefaultMaxDelaySeconds    = 3600
	DefaultJitterPercentage   = 0.1
	DefaultTimeoutSeconds     = 10
	DefaultRateLimitPerMinute = 60
	DefaultRateLimitPerHour   = 3600
)

// New returns a webhook with every default filled in.
func New() *Webhook {
	return &Webhook{
		Status: StatusActive,
		DeliverySettings: DeliverySettings{
			RetrySettings: RetrySettings{RetryStrategy: ExponentialBackoff, MaxRetries: DefaultMaxRetries,
				RetryDelaySeconds: DefaultRetryDelaySeconds, BackoffMultiplier: DefaultBackoffMultiplier,
				MaxDelaySeconds: DefaultMaxDelaySeconds, JitterPercentage: DefaultJitterPercentage},
			TimeoutSeconds: DefaultTimeoutSeconds, RateLimitPerMinute: DefaultRateLimitPerMinute,
			RateLimitPerHour: DefaultRateLimitPerHour, DeliveryMode: PerEvent,
		},
		CustomHeaders:  map[string]string{},
		Metadata:       map[string]any{},
		RetryOverrides: map[string]RetryOverride{},
	}
}

// SetStatus changes the status, keeping StatusReason and PausedAt in step:
// leaving active records when and why; becoming active again clears them
// and gives the circuit breaker a fresh count.
func (w *Webhook) SetStatus(s Status, reason string, now time.Time) {
	if s == w.Status && reason == "" {
		return
	}
	if s == StatusActive {
		t := now.UTC().Truncate(time.Microsecond)
		w.Status, w.StatusReason, w.PausedAt, w.PausedByDelivery, w.ConsecutiveFailures, w.ResumedAt = s, "", nil, nil, 0, &t
		return
	}
	if reason == "" {
		reason = "set to " + string(s) + " by an operator"
	}
	if s != w.Status {
		t := now.UTC().Truncate(time.Microsecond) // as stored
		w.PausedAt = &t
	}
	w.Status, w.StatusReason = s, reason
}

// RotateSecret makes secret the webhook's secret and keeps the current one
// valid (signing alongside) for overlap.
func (w *Webhook) RotateSecret(secret string, overlap time.Duration, now time.Time) {
	w.PreviousSecret, w.Secret = w.Secret, secret
	t := now.Add(overlap).UTC().Truncate(time.Microsecond)
	w.PreviousSecretExpiresAt = &t
	if overlap <= 0 {
		w.PreviousSecret, w.PreviousSecretExpiresAt = "", nil
	}
}

// SigningSecrets are the secrets deliveries are signed with now: the
// current one, then the previous one while its overlap lasts.
func (w *Webhook) SigningSecrets(now time.Time) []string {
	if w.PreviousSecret != "" && w.PreviousSecretExpiresAt != nil && now.Before(*w.PreviousSecretExpiresAt) {
		return []string{w.Secret, w.PreviousSecret}
	}
	return []string{w.Secret}
}

// RetryPolicy is the schedule the settings make.
func (w *RetrySettings) RetryPolicy() RetryPolicy {
	return RetryPolicy{
		Strategy:   w.RetryStrategy,
		MaxRetries: w.MaxRetries,
		Delay:      time.Duration(w.RetryDelaySeconds) * time.Second,
		Multiplier: w.BackoffMultiplier,
		MaxDelay:   time.Duration(w.MaxDelaySeconds) * time.Second,
		Jitter:     w.JitterPercentage,
	}
}

// RetryOverride is the retry schedule of one event type where it differs
// from the subscriber's: a field left out keeps the subscriber's value.
type RetryOverride struct {
	RetryStrategy     *RetryStrategy `json:"retry_strategy,omitempty"`
	MaxRetries        *int           `json:"max_retries,omitempty"`
	RetryDelaySeconds *int           `json:"retry_delay_seconds,omitempty"`
	BackoffMultiplier *float64       `json:"backoff_multiplier,omitempty"`
	MaxDelaySeconds   *int           `json:"max_delay_seconds,omitempty"`
	JitterPercentage  *float64       `json:"jitter_percentage,omitempty"`
}

// SetRetry sets the retry fields o gives, and keeps the others.
func (w *Webhook) SetRetry(o RetryOverride) {
	setIf(&w.RetryStrategy, o.RetryStrategy)
	setIf(&w.MaxRetries, o.MaxRetries)
	setIf(&w.RetryDelaySeconds, o.RetryDelaySeconds)
	setIf(&w.BackoffMultiplier, o.BackoffMultiplier)
	setIf(&w.MaxDelaySeconds, o.MaxDelaySeconds)
	setIf(&w.JitterPercentage, o.JitterPercentage)
}

// withOverride is the webhook with an event type's override applied to
// its retry fields.
func (w *Webhook) withOverride(o RetryOverride) *Webhook {
	c := *w
	c.SetRetry(o)
	return &c
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// RetryPolicies are the schedules of the event types with an override.
func (w *Webhook) RetryPolicies() map[string]RetryPolicy {
	if len(w.RetryOverrides) == 0 {
		return nil
	}
	out := make(map[string]RetryPolicy, len(w.RetryOverrides))
	for t, o := range w.RetryOverrides {
		out[t] = w.withOverride(o).RetryPolicy()
	}
	return out
}

// RetryPolicyFor is the schedule of an event of this type.
func (w *Webhook) RetryPolicyFor(eventType string) RetryPolicy {
	if o, ok := w.RetryOverrides[eventType]; ok {
		return w.withOverride(o).RetryPolicy()
	}
	return w.RetryPolicy()
}

// Timeout is how long one attempt may take, connect to last body byte.
func (w *Webhook) Timeout() time.Duration {
	return time.Duration(w.TimeoutSeconds) * time.Second
}

// Subscribes reports whether the webhook wants events of this type.
func (w *Webhook) Subscribes(eventType string) bool {
	for _, t := range w.EventTypes {
		if t == eventType || t == AllEvents {
			return true
		}
	}
	return false
}

// Redacted is the webhook as the API shows it after creation: the secret
// reduced to a recognisable prefix and secret-looking header values masked.
func (w *Webhook) Redacted() *Webhook {
	c := *w
	c.Secret = MaskSecret(w.Secret)
	c.CustomHeaders = RedactHeaders(w.CustomHeaders)
	return &c
}

// MaskSecret keeps enough of a secret to tell two apart and hides the rest.
func MaskSecret(s string) string {
	keep := len(SecretPrefix) + 4
	if !strings.HasPrefix(s, SecretPrefix) {
		keep = 4
	}
	if len(s) <= keep+4 {
		return strings.Repeat("*", len(s))
	}
	return s[:keep] + strings.Repeat("*", 8)
}

// RedactHeaders masks the values of headers whose names suggest a
// credential, so that a GET never echoes a bearer token back.
func RedactHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if sensitiveHeader(k) {
			v = MaskSecret(v)
		}
		out[k] = v
	}
	return out
}

func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	if slices.Contains(reservedHeaders, n) {
		return false // Herald's own: signatures are not secrets
	}
	for _, s := range []string{"authorization", "cookie", "token", "secret", "key", "pass", "signature", "auth", "cred", "session", "private"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
