package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/filter"
	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

// webhookStore keeps webhooks and integrations (webhooks with a
// connector), and webhooks' rate-limit windows.
type webhookStore interface {
	CreateWebhook(ctx context.Context, w *webhook.Webhook) error
	DeleteWebhook(ctx context.Context, id int64) error
	GetWebhook(ctx context.Context, id int64) (*webhook.Webhook, error)
	GetWebhookByName(ctx context.Context, name string) (*webhook.Webhook, error)
	ListWebhooks(ctx context.Context, f store.WebhookFilter) ([]*webhook.Webhook, int, error)
	TakeSlotNow(ctx context.Context, webhookID int64, limits []store.RateLimit, now time.Time) (bool, time.Time, error)
	UpdateWebhook(ctx context.Context, id int64, edit func(*webhook.Webhook) error) (*webhook.Webhook, error)
}

// webhookInput is a create or update request: every field optional, a
// missing one keeps its default (create) or its current value (update).
type webhookInput struct {
	Name        *string         `json:"name"`
	URL         *string         `json:"url"`
	Description *string         `json:"description"`
	Secret      *string         `json:"secret"`
	Status      *webhook.Status `json:"status"`
	EventTypes  *[]string       `json:"event_types"`
	deliveryInput
	CustomHeaders *map[string]string `json:"custom_headers"`
	Metadata      *map[string]any    `json:"metadata"`
	StatusReason  *string            `json:"status_reason"`

	// Read-only fields a GET shows; accepted and ignored, so that what a GET
	// returned can be sent back.
	ReadOnlyID                  json.RawMessage `json:"id"`
	ReadOnlyCreatedAt           json.RawMessage `json:"created_at"`
	ReadOnlyUpdatedAt           json.RawMessage `json:"updated_at"`
	ReadOnlyLastTriggeredAt     json.RawMessage `json:"last_triggered_at"`
	ReadOnlyPausedAt            json.RawMessage `json:"paused_at"`
	ReadOnlyConsecutiveFailures json.RawMessage `json:"consecutive_failures"`
	ReadOnlyPausedByDelivery    json.RawMessage `json:"paused_by_delivery"`
	ReadOnlyResumedAt           json.RawMessage `json:"resumed_at"`
	ReadOnlyRetrySchedule       json.RawMessage `json:"retry_schedule_seconds"`
	ReadOnlyReleased            json.RawMessage `json:"released_deliveries"`
	ReadOnlyPreviousSecretUntil json.RawMessage `json:"previous_secret_expires_at"`
}

// deliveryInput is how a subscriber is delivered to: the retry schedule,
// timeout and rate limits webhooks and integrations share.
type deliveryInput struct {
	webhook.RetryOverride                       // the retry fields
	TimeoutSeconds        *int                  `json:"timeout_seconds"`
	RateLimitPerMinute    *int                  `json:"rate_limit_per_minute"`
	RateLimitPerHour      *int                  `json:"rate_limit_per_hour"`
	DeliveryMode          *webhook.DeliveryMode `json:"delivery_mode"`
	// Filter is null or {} for none.
	Filter         *json.RawMessage                  `json:"filter"`
	RetryOverrides *map[string]webhook.RetryOverride `json:"retry_overrides"`
}

func (in *deliveryInput) applyTo(w *webhook.Webhook) {
	w.SetRetry(in.RetryOverride)
	set(&w.TimeoutSeconds, in.TimeoutSeconds)
	set(&w.RateLimitPerMinute, in.RateLimitPerMinute)
	set(&w.RateLimitPerHour, in.RateLimitPerHour)
	set(&w.DeliveryMode, in.DeliveryMode)
	if in.Filter != nil {
		w.Filter = compactFilter(*in.Filter)
	}
	set(&w.RetryOverrides, in.RetryOverrides)
	if w.RetryOverrides == nil {
		w.RetryOverrides = map[string]webhook.RetryOverride{}
	}
}

// compactFilter stores a filter without insignificant space; null and {}
// are no filter. What is not JSON is kept, for validation to refuse.
func compactFilter(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	if s := b.String(); s == "null" || s == "{}" {
		return nil
	}
	return b.Bytes()
}

// templateOf is a webhook's payload template, if any.
func templateOf(w *webhook.Webhook) string {
	t, _ := w.Metadata[payload.KeyTemplate].(string)
	return t
}

// templateAllowed refuses a new or changed payload template unless the key
// is an admin's. A template is a program run for every delivery in the
// workers' processes; its time is bounded between jq steps, but a single
// step (repeating a string, encoding a deeply shared value) can run long
// and large, so only those trusted with every webhook may write one.
func templateAllowed(c *fiber.Ctx, was string, w *webhook.Webhook) error {
	if now := templateOf(w); now == "" || now == was || callerAllows(c, apikey.Admin) {
		return nil
	}
	return webhook.Errorf(webhook.EForbidden, "metadata.%s is a program run for every delivery: setting or changing it needs an API key with the admin scope", payload.KeyTemplate)
}

// subscriberChecks validate the parts of a subscriber other packages own:
// a webhook's payload options (integrations make their own bodies) and
// the filter.
func subscriberChecks(w *webhook.Webhook, fe *webhook.FieldErrors) {
	if w.Integration == nil {
		_, errs := payload.Parse(w.Metadata)
		*fe = append(*fe, errs...)
	}
	_, errs := filter.Parse(w.Filter, "filter")
	*fe = append(*fe, errs...)
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// applyTo merges the request into w. A value sent back exactly as a GET
// showed it masked (secret, credential-looking header) keeps the stored one,
// so a client may GET, edit, PUT without knowing the credentials.
func (in *webhookInput) applyTo(w *webhook.Webhook, now time.Time) {
	// in stays as sent: a store may run the edit again (a retried
	// transaction), and must get the same outcome.
	secret := in.Secret
	if secret != nil && *secret == webhook.MaskSecret(w.Secret) && w.Secret != "" {
		secret = nil
	}
	if in.CustomHeaders != nil {
		w.CustomHeaders = unmasked(*in.CustomHeaders, w.CustomHeaders)
	}
	set(&w.Name, in.Name)
	set(&w.URL, in.URL)
	set(&w.Description, in.Description)
	set(&w.Secret, secret)
	if in.Status != nil || in.StatusReason != nil {
		status, reason := w.Status, ""
		set(&status, in.Status)
		set(&reason, in.StatusReason)
		w.SetStatus(status, reason, now)
	}
	set(&w.EventTypes, in.EventTypes)
	in.deliveryInput.applyTo(w)
	set(&w.Metadata, in.Metadata)
	if w.CustomHeaders == nil {
		w.CustomHeaders = map[string]string{}
	}
	if w.Metadata == nil {
		w.Metadata = map[string]any{}
	}
}

// unmasked is the headers sent, each sent back masked as the API shows it
// replaced by its stored value.
func unmasked(sent, stored map[string]string) map[string]string {
	masked := webhook.RedactHeaders(stored)
	out := make(map[string]string, len(sent))
	for k, v := range sent {
		if old, ok := stored[k]; ok && v == masked[k] {
			v = old
		}
		out[k] = v
	}
	return out
}

// keepsCredentialsFor refuses an update that moves a webhook to another
// host while keeping a credential-looking header the caller did not send in
// full: the API never shows those values, and must not hand them to a
// receiver of the caller's choosing.
func (in *webhookInput) keepsCredentialsFor(w *webhook.Webhook) error {
	if in.URL == nil || webhook.URLHost(*in.URL) == webhook.URLHost(w.URL) {
		return nil
	}
	masked := webhook.RedactHeaders(w.CustomHeaders)
	for k := range w.CustomHeaders {
		if masked[k] == w.CustomHeaders[k] {
			continue // not a credential: shown in full anyway
		}
		sent, ok := "", false
		if in.CustomHeaders != nil {
			sent, ok = (*in.CustomHeaders)[k]
		}
		if in.CustomHeaders == nil || ok && sent == masked[k] {
			var fe webhook.FieldErrors
			fe.Add("custom_headers."+k, "must be sent again in full (or left out) when the url moves to another host")
			return fe.Err("update")
		}
	}
	return nil
}

// webhookView is a webhook as the API shows it, with its retry schedule
// spelled out (no jitter) so nobody has to work it out by hand.
type webhookView struct {
	*webhook.Webhook
	RetrySchedule []float64 `json:"retry_schedule_seconds"`
	// Released counts the event workflows told to resume held deliveries
	// when an update made the webhook active again.
	Released *int `json:"released_deliveries,omitempty"`
}

func view(w *webhook.Webhook) webhookView {
	return webhookView{Webhook: w, RetrySchedule: seconds(w.RetryPolicy().Schedule())}
}

func seconds(ds []time.Duration) []float64 {
	secs := make([]float64, len(ds))
	for i, d := range ds {
		secs[i] = d.Seconds()
	}
	return secs
}

func (s *Server) createWebhook(c *fiber.Ctx) error {
	var in webhookInput
	if err := decode(c, &in); err != nil {
		return err
	}
	w := webhook.New()
	in.applyTo(w, s.cfg.Now())
	if err := templateAllowed(c, "", w); err != nil {
		return err
	}
	if w.Secret == "" {
		w.Secret = webhook.NewSecret()
	}
	if err := w.Validate(s.cfg.URLPolicy, subscriberChecks); err != nil {
		return err
	}
	w.EventTypes = webhook.NormalizeEventTypes(w.EventTypes)
	if err := s.store.CreateWebhook(c.UserContext(), w); err != nil {
		return err
	}
	c.Location("/api/v1/webhooks/" + strconv.FormatInt(w.ID, 10))
	// The only response that carries the whole secret.
	return c.Status(fiber.StatusCreated).JSON(view(w))
}

func (s *Server) listWebhooks(c *fiber.Ctx) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	status := webhook.Status(c.Query("status"))
	if status != "" && !status.Valid() {
		return webhook.Errorf(webhook.EInvalid, "status must be one of active, inactive, paused")
	}
	ws, total, err := s.store.ListWebhooks(c.UserContext(), store.WebhookFilter{Status: status, Page: p})
	if err != nil {
		return err
	}
	views := make([]webhookView, len(ws))
	for i, w := range ws {
		views[i] = view(w.Redacted())
	}
	return listBody[webhookView]{Items: views, Total: total, Page: p, Plural: "webhooks"}.send(c)
}

func (s *Server) getWebhook(c *fiber.Ctx) error {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	return c.JSON(view(w.Redacted()))
}

// subscriberKey holds, in a request's locals, the integration an
// integration route resolved by name.
const subscriberKey = "herald.subscriber"

// webhookFromPath loads the webhook the :id parameter names or, on an
// integration route, the integration already resolved. The webhook routes
// show webhooks only; integrations have their own.
func (s *Server) webhookFromPath(c *fiber.Ctx) (*webhook.Webhook, error) {
	if w, ok := c.Locals(subscriberKey).(*webhook.Webhook); ok {
		return w, nil
	}
	id, err := pathID(c, "id", "webhook")
	if err != nil {
		return nil, err
	}
	w, err := s.store.GetWebhook(c.UserContext(), id)
	if err == nil && w.Integration != nil {
		return nil, webhook.Errorf(webhook.ENotFound, "webhook %d not found (it is the integration %q: /api/v1/integrations/%s)", id, w.Name, url.PathEscape(w.Name))
	}
	return w, err
}

func (s *Server) updateWebhook(c *fiber.Ctx) error {
	cur, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	id := cur.ID
	var in webhookInput
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Secret != nil && *in.Secret == "" {
		var fe webhook.FieldErrors
		fe.Add("secret", "must not be empty; leave it out to keep the current secret")
		return fe.Err("update")
	}
	var was webhook.Status
	w, err := s.store.UpdateWebhook(c.UserContext(), id, func(w *webhook.Webhook) error {
		was = w.Status
		moved := in.keepsCredentialsFor(w) // read before the update applies
		template := templateOf(w)
		in.applyTo(w, s.cfg.Now())
		if err := templateAllowed(c, template, w); err != nil {
			return err
		}
		if err := w.Validate(s.cfg.URLPolicy, subscriberChecks); err != nil {
			return err
		}
		if moved != nil {
			return moved
		}
		w.EventTypes = webhook.NormalizeEventTypes(w.EventTypes)
		return nil
	})
	if err != nil {
		return err
	}
	v := view(w.Redacted())
	if was != webhook.StatusActive && w.Status == webhook.StatusActive {
		n, err := s.releaseHeld(c.UserContext(), w.ID)
		if err != nil {
			// The update stands; held deliveries find out within the hour.
			s.cfg.Logger.Warn("cannot signal held deliveries to resume", "webhook_id", w.ID, "error", err)
		}
		v.Released = &n
	}
	return c.JSON(v)
}

func (s *Server) deleteWebhook(c *fiber.Ctx) error {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWebhook(c.UserContext(), w.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type testInput struct {
	EventType string `json:"event_type"`
}

type testResult = webhook.TestResult

// testWebhook sends one real, signed attempt with the event type's example
// payload, without retry, and records it as a test delivery.
func (s *Server) testWebhook(c *fiber.Ctx) error {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	return s.sendTest(c, w)
}

// testSlotWait is how long a test waits for a rate-limit slot about to
// open, as one does at every window's end (nothing is granted in its last
// second), rather than refusing.
const testSlotWait = 2 * time.Second

// testSlot takes a rate-limit slot for a test: a test counts against the
// limit like any attempt, and goes now (or in a moment) or not at all.
func (s *Server) testSlot(ctx context.Context, w *webhook.Webhook) (bool, time.Time, error) {
	limits := s.cfg.Windows.Limits(w)
	ok, next, err := s.store.TakeSlotNow(ctx, w.ID, limits, s.cfg.Now())
	if ok || err != nil || next.Sub(s.cfg.Now()) > testSlotWait {
		return ok, next, err
	}
	t := time.NewTimer(next.Sub(s.cfg.Now()))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, next, ctx.Err()
	case <-t.C:
	}
	return s.store.TakeSlotNow(ctx, w.ID, limits, s.cfg.Now())
}

// sendTest makes a test attempt to a webhook or integration: the example
// payload of the event type asked for, or of its first subscribed type.
func (s *Server) sendTest(c *fiber.Ctx, w *webhook.Webhook) error {
	var in testInput
	if len(c.Request().Body()) > 0 {
		if err := decode(c, &in); err != nil {
			return err
		}
	}
	if in.EventType == "" {
		in.EventType = webhook.ValidationCompleted
		if len(w.EventTypes) > 0 && w.EventTypes[0] != webhook.AllEvents {
			in.EventType = w.EventTypes[0]
		}
	}
	et, ok := s.types.Lookup(in.EventType)
	if !ok {
		var fe webhook.FieldErrors
		fe.Add("event_type", "unknown event type %q", in.EventType)
		return fe.Err("test request")
	}
	ev := &webhook.Event{
		EventID: "test_" + uuid.NewString(), EventType: et.Name, Source: "herald-test",
		Payload: et.Example, CreatedAt: s.cfg.Now().UTC().Truncate(time.Millisecond),
	}
	ok, next, err := s.testSlot(c.UserContext(), w)
	if err != nil {
		return err
	}
	if !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(time.Until(next).Seconds())+1))
		return &webhook.Error{Code: webhook.ERateLimited, Message: "the rate limit has no room now; a test would exceed it",
			Details: fiber.Map{"next_slot_at": next}}
	}
	// A filter that cannot be read leaves every event out, as acceptance does.
	pass, _ := filter.Match(w.Filter, ev)
	filtered := !pass
	plan := delivery.Plan{Attempt: 1, Final: true, Test: true}
	done, err := s.deliverer.Attempt(c.UserContext(), s.store, w, ev, nil, plan)
	if err != nil {
		return err
	}
	d := done.Row
	return c.JSON(testResult{
		Success:       d.Status == webhook.AttemptDelivered,
		StatusCode:    done.StatusCode(),
		DurationMS:    done.DurationMS(),
		ResponseBody:  d.ResponseBody,
		Error:         d.LastError,
		ErrorClass:    d.ErrorClass,
		DeliveryID:    d.ID,
		EventID:       ev.EventID,
		EventType:     ev.EventType,
		RequestBody:   d.RequestBody,
		Filtered:      filtered,
		RetrySchedule: seconds(w.RetryPolicyFor(ev.EventType).Schedule()),
	})
}
