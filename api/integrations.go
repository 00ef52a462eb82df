package api

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// integrationInput is a create or update request. An integration is a
// subscriber like a webhook (same retry, rate-limit and status fields); its
// destination and secrets are in credentials, its formatting in config.
type integrationInput struct {
	Name               *string            `json:"name"`
	IntegrationType    *integrations.Type `json:"integration_type"`
	Description        *string            `json:"description"`
	Credentials        json.RawMessage    `json:"credentials"`
	Config             json.RawMessage    `json:"config"`
	EventSubscriptions *[]string          `json:"event_subscriptions"`
	Status             *webhook.Status    `json:"status"`
	StatusReason       *string            `json:"status_reason"`
	deliveryInput

	// Read-only fields a GET shows, accepted and ignored.
	ReadOnlyID                  json.RawMessage `json:"id"`
	ReadOnlySecret              json.RawMessage `json:"secret"`
	ReadOnlyCreatedAt           json.RawMessage `json:"created_at"`
	ReadOnlyUpdatedAt           json.RawMessage `json:"updated_at"`
	ReadOnlyLastTriggeredAt     json.RawMessage `json:"last_triggered_at"`
	ReadOnlyPausedAt            json.RawMessage `json:"paused_at"`
	ReadOnlyConsecutiveFailures json.RawMessage `json:"consecutive_failures"`
	ReadOnlyBatch               json.RawMessage `json:"batch"`
}

// subscriberFields is the part shared with webhooks, applied by their rules.
func (in *integrationInput) subscriberFields() *webhookInput {
	return &webhookInput{
		Name: in.Name, Description: in.Description, Status: in.Status, StatusReason: in.StatusReason,
		EventTypes: in.EventSubscriptions, deliveryInput: in.deliveryInput,
	}
}

// integrationView is an integration as the API shows it.
type integrationView = webhook.IntegrationView

type batchView = webhook.IntegrationBatch

// integrationOf shows w; the signing secret in full only when full is set
// (the create response).
func integrationOf(w *webhook.Webhook, c *integrations.Connector, full bool) integrationView {
	v := integrationView{
		ID: w.ID, Name: w.Name, IntegrationType: string(c.Type), Description: w.Description,
		Credentials: c.Masked(), Config: w.Integration.Config, EventSubscriptions: w.EventTypes,
		Status: w.Status, StatusReason: w.StatusReason, PausedAt: w.PausedAt, ConsecutiveFailures: w.ConsecutiveFailures,
		DeliverySettings: w.DeliverySettings, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, LastTriggeredAt: w.LastTriggeredAt,
		Filter: w.Filter, RetryOverrides: w.RetryOverrides,
	}
	if v.EventSubscriptions == nil {
		v.EventSubscriptions = []string{}
	}
	if c.Type == integrations.Zapier || c.Type == integrations.Webhook {
		v.Secret = webhook.MaskSecret(w.Secret)
		if full {
			v.Secret = w.Secret
		}
	}
	if size, timeout, ok := c.Batch(); ok {
		v.Batch = &batchView{Size: size, TimeoutSeconds: timeout, WorkflowID: workflows.BatchWorkflowID(w.ID)}
	}
	return v
}

// reservedNames would be read as the routes beside /integrations/{name}.
var reservedNames = []string{"health", "metrics"}

// checkIntegrationName adds the rules a name in a URL path needs.
func checkIntegrationName(fe *webhook.FieldErrors, name string) {
	switch {
	case strings.ContainsAny(name, "/+%?#"):
		fe.Add("name", "must not contain '/', '+', '%%', '?' or '#': the name is part of the integration's URL")
	case name == "." || name == "..":
		fe.Add("name", "must not be %q: the name is part of the integration's URL", name)
	case slices.Contains(reservedNames, strings.ToLower(strings.TrimSpace(name))):
		fe.Add("name", "%q is reserved (it is a route under /api/v1/integrations/)", name)
	}
}

// build applies a request to an integration (new, or a copy of the stored
// one) and validates the whole.
func (s *Server) buildIntegration(w *webhook.Webhook, c *integrations.Connector, in *integrationInput) error {
	old := *c
	if err := c.Decode(in.Credentials, in.Config); err != nil {
		return err
	}
	if err := c.KeepMasked(&old, integrations.Sends(in.Credentials, "smtp_password")); err != nil {
		return err
	}
	if c.Credentials.Secret != "" {
		w.Secret, c.Credentials.Secret = c.Credentials.Secret, ""
	}
	in.subscriberFields().applyTo(w, s.cfg.Now())
	var fe webhook.FieldErrors
	checkIntegrationName(&fe, w.Name)
	if err := fe.Err("integration"); err != nil {
		return err
	}
	if err := c.Validate(s.cfg.URLPolicy); err != nil {
		return err
	}
	integ, err := c.Integration()
	if err != nil {
		return err
	}
	w.Integration, w.URL = integ, c.DisplayURL()
	if err := w.Validate(s.cfg.URLPolicy, subscriberChecks); err != nil {
		return err
	}
	w.EventTypes = webhook.NormalizeEventTypes(w.EventTypes)
	return nil
}

func (s *Server) createIntegration(c *fiber.Ctx) error {
	var in integrationInput
	if err := decode(c, &in); err != nil {
		return err
	}
	var fe webhook.FieldErrors
	if in.IntegrationType == nil {
		fe.Add("integration_type", "is required: one of %s", typeNames())
	} else if !in.IntegrationType.Valid() {
		fe.Add("integration_type", "must be one of %s", typeNames())
	}
	if err := fe.Err("integration"); err != nil {
		return err
	}
	w := webhook.New()
	w.EventTypes = []string{}
	w.Secret = webhook.NewSecret()
	conn := &integrations.Connector{Type: *in.IntegrationType}
	if err := s.buildIntegration(w, conn, &in); err != nil {
		return err
	}
	if err := s.store.CreateWebhook(c.UserContext(), w); err != nil {
		return err
	}
	c.Location("/api/v1/integrations/" + url.PathEscape(w.Name))
	return c.Status(fiber.StatusCreated).JSON(integrationOf(w, conn, true))
}

func typeNames() string {
	names := make([]string, len(integrations.Types))
	for i, t := range integrations.Types {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func (s *Server) listIntegrations(c *fiber.Ctx) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := store.WebhookFilter{Integrations: true, Page: p}
	if t := integrations.Type(c.Query("integration_type")); t != "" {
		if !t.Valid() {
			return webhook.Errorf(webhook.EInvalid, "integration_type must be one of %s", typeNames())
		}
		f.IntegrationType = string(t)
	}
	ws, total, err := s.store.ListWebhooks(c.UserContext(), f)
	if err != nil {
		return err
	}
	views := make([]integrationView, 0, len(ws))
	for _, w := range ws {
		conn, err := integrations.Parse(w.Integration)
		if err != nil {
			return err
		}
		views = append(views, integrationOf(w, conn, false))
	}
	return listBody[integrationView]{Items: views, Total: total, Page: p, Plural: "integrations"}.send(c)
}

// integrationFromPath loads the integration the :name parameter names.
func (s *Server) integrationFromPath(c *fiber.Ctx) (*webhook.Webhook, *integrations.Connector, error) {
	name := c.Params("name")
	w, err := s.store.GetWebhookByName(c.UserContext(), name)
	if webhook.ErrorCode(err) == webhook.ENotFound || err == nil && w.Integration == nil {
		return nil, nil, webhook.Errorf(webhook.ENotFound, "integration %q not found", name)
	}
	if err != nil {
		return nil, nil, err
	}
	conn, err := integrations.Parse(w.Integration)
	return w, conn, err
}

// asIntegration runs a webhook route's handler for the integration named in
// the path: deliveries, retries and analytics work alike for both.
func (s *Server) asIntegration(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		w, _, err := s.integrationFromPath(c)
		if err != nil {
			return err
		}
		c.Locals(subscriberKey, w)
		return h(c)
	}
}

func (s *Server) getIntegration(c *fiber.Ctx) error {
	w, conn, err := s.integrationFromPath(c)
	if err != nil {
		return err
	}
	return c.JSON(integrationOf(w, conn, false))
}

func (s *Server) updateIntegration(c *fiber.Ctx) error {
	w, _, err := s.integrationFromPath(c)
	if err != nil {
		return err
	}
	var in integrationInput
	if err := decode(c, &in); err != nil {
		return err
	}
	var was webhook.Status
	var conn *integrations.Connector
	updated, err := s.store.UpdateWebhook(c.UserContext(), w.ID, func(w *webhook.Webhook) error {
		if w.Integration == nil {
			return webhook.Errorf(webhook.ENotFound, "integration %q not found", c.Params("name"))
		}
		var err error
		if conn, err = integrations.Parse(w.Integration); err != nil {
			return err
		}
		if in.IntegrationType != nil && *in.IntegrationType != conn.Type {
			var fe webhook.FieldErrors
			fe.Add("integration_type", "cannot change from %s to %s; create a new integration instead", conn.Type, *in.IntegrationType)
			return fe.Err("update")
		}
		was = w.Status
		return s.buildIntegration(w, conn, &in)
	})
	if err != nil {
		return err
	}
	if was != webhook.StatusActive && updated.Status == webhook.StatusActive {
		if _, err := s.releaseHeld(c.UserContext(), updated.ID); err != nil {
			s.cfg.Logger.Warn("cannot signal held deliveries to resume", "webhook_id", updated.ID, "error", err)
		}
	}
	c.Location("/api/v1/integrations/" + url.PathEscape(updated.Name))
	return c.JSON(integrationOf(updated, conn, false))
}

func (s *Server) deleteIntegration(c *fiber.Ctx) error {
	w, _, err := s.integrationFromPath(c)
	if err != nil {
		return err
	}
	if err := s.store.DeleteWebhook(c.UserContext(), w.ID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// subscriptions answers with an integration's event subscriptions.
func subscriptions(c *fiber.Ctx, w *webhook.Webhook) error {
	subs := w.EventTypes
	if subs == nil {
		subs = []string{}
	}
	return c.JSON(fiber.Map{"integration": w.Name, "event_subscriptions": subs, "total": len(subs)})
}

func (s *Server) getSubscriptions(c *fiber.Ctx) error {
	w, _, err := s.integrationFromPath(c)
	if err != nil {
		return err
	}
	return subscriptions(c, w)
}

// subscribe adds (or, with remove, takes away) one event type. Adding one
// already there changes nothing; removing one not there is a 404.
func (s *Server) subscribe(remove bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		w, _, err := s.integrationFromPath(c)
		if err != nil {
			return err
		}
		et := c.Params("event_type")
		if _, ok := s.types.Lookup(et); !ok && et != webhook.AllEvents {
			var fe webhook.FieldErrors
			fe.Add("event_type", "unknown event type %q; known: %s, or *", et, strings.Join(s.types.Names(), ", "))
			return fe.Err("subscription")
		}
		updated, err := s.store.UpdateWebhook(c.UserContext(), w.ID, func(w *webhook.Webhook) error {
			has := slices.Contains(w.EventTypes, et)
			switch {
			case remove && !has:
				return webhook.Errorf(webhook.ENotFound, "integration %q is not subscribed to %s", w.Name, et)
			case remove:
				w.EventTypes = slices.DeleteFunc(slices.Clone(w.EventTypes), func(t string) bool { return t == et })
			default:
				w.EventTypes = webhook.NormalizeEventTypes(append(slices.Clone(w.EventTypes), et))
			}
			return nil
		})
		if err != nil {
			return err
		}
		return subscriptions(c, updated)
	}
}

// testIntegration sends one real message with an example of the
// integration's first subscribed event type (or the type asked for),
// without retry, recorded as a test delivery.
func (s *Server) testIntegration(c *fiber.Ctx) error {
	w, _, err := s.integrationFromPath(c)
	if err != nil {
		return err
	}
	return s.sendTest(c, w)
}
