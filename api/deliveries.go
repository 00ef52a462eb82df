package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// attemptLog is what the delivery log reads: attempt rows.
type attemptLog interface {
	GetAttempt(ctx context.Context, webhookID, id int64) (*webhook.Attempt, error)
	ListAttempts(ctx context.Context, f store.AttemptFilter) ([]*webhook.Attempt, int, error)
}

// listDeliveries lists one webhook's (or integration's) attempt rows.
func (s *Server) listDeliveries(c *fiber.Ctx) error {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	f, err := s.deliveryFilter(c)
	if err != nil {
		return err
	}
	f.WebhookID = w.ID
	return s.sendDeliveries(c, f)
}

// listAllDeliveries lists attempt rows across every webhook and
// integration, or one named by webhook_id.
func (s *Server) listAllDeliveries(c *fiber.Ctx) error {
	f, err := s.deliveryFilter(c)
	if err != nil {
		return err
	}
	if raw := c.Query("webhook_id"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id < 1 {
			return webhook.Errorf(webhook.EInvalid, "webhook_id must be a positive integer")
		}
		f.WebhookID = id
	}
	return s.sendDeliveries(c, f)
}

func (s *Server) sendDeliveries(c *fiber.Ctx, f store.AttemptFilter) error {
	ds, total, err := s.store.ListAttempts(c.UserContext(), f)
	if err != nil {
		return err
	}
	return listBody[*webhook.Attempt]{Items: ds, Total: total, Page: f.Page, Plural: "deliveries"}.send(c)
}

// deliveryFilter reads a delivery list's query: status, event_id,
// event_type, since, until (RFC 3339), limit and offset.
func (s *Server) deliveryFilter(c *fiber.Ctx) (store.AttemptFilter, error) {
	var f store.AttemptFilter
	var err error
	if f.Page, err = page(c); err != nil {
		return f, err
	}
	f.Status = webhook.AttemptStatus(c.Query("status"))
	if f.Status != "" && !f.Status.Valid() {
		return f, webhook.Errorf(webhook.EInvalid, "status must be one of pending, delivered, retrying, failed")
	}
	f.EventID = c.Query("event_id")
	if f.EventID != "" && !webhook.ValidEventID(f.EventID) {
		return f, webhook.Errorf(webhook.EInvalid, "event_id is not a valid event id")
	}
	if f.EventType, err = s.typeFilter(c); err != nil {
		return f, err
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if raw := c.Query(name); raw != "" {
			if *dst, err = time.Parse(time.RFC3339Nano, raw); err != nil {
				return f, webhook.Errorf(webhook.EInvalid, "%s must be a time in RFC 3339, like 2026-12-05T07:00:00Z", name)
			}
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, webhook.Errorf(webhook.EInvalid, "until must be after since")
	}
	return f, nil
}

// deliveryView is an attempt row plus, while its event's workflow can
// answer, the live state of its delivery loop.
type deliveryView struct {
	*webhook.Attempt
	Live      *workflows.DeliveryState `json:"live"`
	LiveError string                   `json:"live_error,omitempty"`
}

// deliveryFromPath reads the webhook and the delivery the path names.
func (s *Server) deliveryFromPath(c *fiber.Ctx) (*webhook.Webhook, *webhook.Attempt, error) {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return nil, nil, err
	}
	did, err := pathID(c, "delivery_id", "delivery")
	if err != nil {
		return nil, nil, err
	}
	d, err := s.store.GetAttempt(c.UserContext(), w.ID, did)
	if err != nil {
		return nil, nil, err
	}
	return w, d, nil
}

func (s *Server) getDelivery(c *fiber.Ctx) error {
	_, d, err := s.deliveryFromPath(c)
	if err != nil {
		return err
	}
	v := deliveryView{Attempt: d}
	if !d.IsTest {
		v.Live, err = s.liveState(c.UserContext(), d.EventID, d.WebhookID)
		if err != nil {
			v.LiveError = err.Error()
		}
	}
	return c.JSON(v)
}

// liveStates asks the event's workflow where each subscriber's delivery
// stands, within the query timeout.
func (s *Server) liveStates(ctx context.Context, eventID string) ([]workflows.DeliveryState, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	v, err := s.temporal.QueryWorkflow(ctx, workflows.EventWorkflowID(eventID), "", workflows.QueryDeliveries)
	if err != nil {
		return nil, err
	}
	var states []workflows.DeliveryState
	if err := v.Get(&states); err != nil {
		return nil, err
	}
	return states, nil
}

// liveState asks the workflow delivering it, the event's or the webhook's
// stream, where this webhook's delivery stands.
func (s *Server) liveState(ctx context.Context, eventID string, webhookID int64) (*workflows.DeliveryState, error) {
	if streamed, err := s.streamed(ctx, eventID, webhookID); err != nil || streamed {
		if err != nil {
			return nil, err
		}
		return s.streamState(ctx, eventID, webhookID)
	}
	states, err := s.liveStates(ctx, eventID)
	if err != nil {
		return nil, err
	}
	for i := range states {
		if states[i].WebhookID == webhookID {
			return &states[i], nil
		}
	}
	return nil, nil
}
