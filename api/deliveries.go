package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

func (s *Server) listDeliveries(c *fiber.Ctx) error {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	p, err := page(c)
	if err != nil {
		return err
	}
	status := webhook.AttemptStatus(c.Query("status"))
	if status != "" && !status.Valid() {
		return webhook.Errorf(webhook.EInvalid, "status must be one of pending, delivered, retrying, failed")
	}
	eventID := c.Query("event_id")
	if eventID != "" && !webhook.ValidEventID(eventID) {
		return webhook.Errorf(webhook.EInvalid, "event_id is not a valid event id")
	}
	ds, total, err := s.store.ListDeliveries(c.UserContext(), w.ID, store.DeliveryFilter{Status: status, EventID: eventID, Page: p})
	if err != nil {
		return err
	}
	return listBody[*webhook.Attempt]{Items: ds, Total: total, Page: p, Plural: "deliveries"}.send(c)
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
	d, err := s.store.GetDelivery(c.UserContext(), w.ID, did)
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
