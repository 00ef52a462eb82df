package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// eventReader reads an event and its subscribers, for the event handlers
// and the timeline alike.
type eventReader interface {
	EventSubscribers(ctx context.Context, eventIDs []string) (map[string][]store.SubscriberOf, error)
	GetEvent(ctx context.Context, eventID string) (*webhook.Event, error)
}

// eventStore is what the event handlers read.
type eventStore interface {
	eventReader
	LatestAttempts(ctx context.Context, eventID string) ([]*webhook.Attempt, error)
	ListEvents(ctx context.Context, f store.EventFilter) ([]*webhook.Event, int, error)
}

type eventInput struct {
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Source    string          `json:"source"`
	SourceID  string          `json:"source_id"`
	Payload   json.RawMessage `json:"payload"`
}

const maxSourceLen = 200

// validate checks the request against its type, built in or custom, and
// returns the event to deliver.
func (in *eventInput) validate(ctx context.Context, types *eventtypes.Registry, maxPayload int, now time.Time) (*webhook.Event, error) {
	if len(in.Payload) > maxPayload {
		return nil, webhook.Errorf(webhook.ETooLarge, "payload is %d bytes; the limit is %d", len(in.Payload), maxPayload)
	}
	var fe webhook.FieldErrors
	et, err := types.Get(ctx, in.EventType)
	known := err == nil
	switch {
	case in.EventType == "":
		fe.Add("event_type", "is required")
	case webhook.ErrorCode(err) == webhook.EUnavailable:
		return nil, err
	case !known:
		fe.Add("event_type", "unknown event type %q; see GET /api/v1/event-types", in.EventType)
	}
	if in.EventID != "" && !webhook.ValidEventID(in.EventID) {
		fe.Add("event_id", "must be 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit")
	} else if strings.HasPrefix(strings.ToLower(in.EventID), webhook.ReservedEventIDPrefix) {
		fe.Add("event_id", "must not begin %q: such ids are Herald's own (batches, pause notices)", webhook.ReservedEventIDPrefix)
	}
	if in.Source == "" {
		in.Source = webhook.DefaultSource
	}
	if len(in.Source) > maxSourceLen || !webhook.PlainText(in.Source, false) {
		fe.Add("source", "must be at most %d characters, none of them control characters", maxSourceLen)
	}
	if len(in.SourceID) > maxSourceLen || !webhook.PlainText(in.SourceID, false) {
		fe.Add("source_id", "must be at most %d characters, none of them control characters", maxSourceLen)
	}
	var payload bytes.Buffer
	if len(in.Payload) == 0 || string(in.Payload) == "null" {
		fe.Add("payload", "is required")
	} else if err := json.Compact(&payload, in.Payload); err != nil {
		fe.Add("payload", "must be a JSON object")
	} else if known {
		if err := et.ValidatePayload(payload.Bytes()); err != nil {
			var herr *webhook.Error
			if errors.As(err, &herr) {
				fe = append(fe, herr.Details.([]webhook.FieldError)...)
			}
		}
	}
	if err := fe.Err("event"); err != nil {
		return nil, err
	}
	if in.EventID == "" {
		in.EventID = uuid.Must(uuid.NewV7()).String()
	}
	return &webhook.Event{
		EventID: in.EventID, EventType: in.EventType, Source: in.Source, SourceID: in.SourceID,
		// Kept as published, byte for byte: include_raw_payload sends these
		// bytes, and the standard body compacts them as it always has.
		Payload: bytes.Clone(in.Payload), CreatedAt: now.UTC().Truncate(time.Millisecond),
	}, nil
}

type acceptedEvent = webhook.AcceptedEvent

// publishEvent accepts an event. It answers 202 only once Temporal holds its
// workflow: from then on the event cannot be lost. A repeated event_id
// answers 200 with the first acceptance and delivers nothing again.
func (s *Server) publishEvent(c *fiber.Ctx) error {
	var in eventInput
	if err := decode(c, &in); err != nil {
		return err
	}
	ev, err := in.validate(c.UserContext(), s.types, s.cfg.MaxPayloadBytes, s.cfg.Now())
	if err != nil {
		return err
	}
	ev, created, err := s.publisher.Publish(c.UserContext(), ev)
	if err != nil {
		return err
	}
	status := fiber.StatusAccepted
	if !created {
		status = fiber.StatusOK
	} else {
		s.metrics().EventAccepted(c.UserContext(), ev.EventType)
	}
	return c.Status(status).JSON(acceptedEvent{EventID: ev.EventID, EventType: ev.EventType, Status: "accepted",
		Duplicate: !created, WorkflowID: workflows.EventWorkflowID(ev.EventID), CreatedAt: ev.CreatedAt})
}

type batchInput struct {
	Events []eventInput `json:"events"`
}

type acceptedBatch struct {
	Accepted   int             `json:"accepted"`
	Duplicates int             `json:"duplicates"`
	Events     []acceptedEvent `json:"events"`
}

// publishEvents accepts up to workflows.MaxIngestBatch events at once, all
// or none: it answers 202 once Temporal holds the one workflow that starts
// theirs, so from then on none can be lost. One start for the batch instead
// of one per event is what lets a source publish faster than Temporal
// starts workflows; deliveries follow at that pace.
func (s *Server) publishEvents(c *fiber.Ctx) error {
	var in batchInput
	if err := decode(c, &in); err != nil {
		return err
	}
	evs, err := in.validate(c.UserContext(), s.types, s.cfg.MaxPayloadBytes, s.cfg.Now())
	if err != nil {
		return err
	}
	published, err := s.publisher.PublishBatch(c.UserContext(), evs)
	if err != nil {
		return err
	}
	out := acceptedBatch{Events: make([]acceptedEvent, len(published))}
	for i, p := range published {
		ev := p.Event
		out.Events[i] = acceptedEvent{EventID: ev.EventID, EventType: ev.EventType, Status: "accepted",
			Duplicate: !p.Created, WorkflowID: workflows.EventWorkflowID(ev.EventID), CreatedAt: ev.CreatedAt}
		if p.Created {
			out.Accepted++
			s.metrics().EventAccepted(c.UserContext(), ev.EventType)
		} else {
			out.Duplicates++
		}
	}
	status := fiber.StatusAccepted
	if out.Accepted == 0 {
		status = fiber.StatusOK
	}
	return c.Status(status).JSON(out)
}

// validate checks every event of the batch; the errors name each by its
// index (events[3].payload.alert_level).
func (in *batchInput) validate(ctx context.Context, types *eventtypes.Registry, maxPayload int, now time.Time) ([]*webhook.Event, error) {
	var fe webhook.FieldErrors
	if len(in.Events) == 0 || len(in.Events) > workflows.MaxIngestBatch {
		// A field list like every validation_failed, so clients read one shape.
		fe.Add("events", "must hold 1 to %d events, not %d", workflows.MaxIngestBatch, len(in.Events))
		return nil, fe.Err("batch")
	}
	evs := make([]*webhook.Event, len(in.Events))
	first := map[string]int{}
	for i := range in.Events {
		prefix := fmt.Sprintf("events[%d].", i)
		ev, err := in.Events[i].validate(ctx, types, maxPayload, now)
		var herr *webhook.Error
		switch {
		case err == nil:
			evs[i] = ev
			if j, seen := first[ev.EventID]; seen {
				fe.Add(prefix+"event_id", "repeats events[%d].event_id", j)
			}
			first[ev.EventID] = i
		case errors.As(err, &herr) && herr.Code == webhook.EValidation:
			for _, f := range herr.Details.([]webhook.FieldError) {
				fe.Add(prefix+f.Field, "%s", f.Message)
			}
		case errors.As(err, &herr) && herr.Code == webhook.ETooLarge:
			return nil, webhook.Errorf(webhook.ETooLarge, "events[%d]: %s", i, herr.Message)
		default:
			return nil, err
		}
	}
	if err := fe.Err("batch"); err != nil {
		return nil, err
	}
	return evs, nil
}

type eventView struct {
	*webhook.Event
	WorkflowID string `json:"workflow_id"`
}

func (s *Server) listEvents(c *fiber.Ctx) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	typ, err := s.typeFilter(c)
	if err != nil {
		return err
	}
	evs, total, err := s.store.ListEvents(c.UserContext(), store.EventFilter{EventType: typ, Page: p})
	if err != nil {
		return err
	}
	views := make([]eventView, len(evs))
	for i, e := range evs {
		views[i] = eventView{Event: e, WorkflowID: workflows.EventWorkflowID(e.EventID)}
	}
	return listBody[eventView]{Items: views, Total: total, Page: p, Plural: "events"}.send(c)
}

// subscriberSummary is where one subscriber's delivery of the event stands.
type subscriberSummary = webhook.SubscriberDelivery

func (s *Server) getEvent(c *fiber.Ctx) error {
	id := c.Params("event_id")
	if !webhook.ValidEventID(id) {
		return webhook.Errorf(webhook.ENotFound, "event %q not found", id)
	}
	ev, err := s.store.GetEvent(c.UserContext(), id)
	if err != nil {
		return err
	}
	latest, err := s.store.LatestAttempts(c.UserContext(), ev.EventID)
	if err != nil {
		return err
	}
	subs := make([]subscriberSummary, len(latest))
	for i, d := range latest {
		subs[i] = subscriberSummary{WebhookID: d.WebhookID, Status: d.Status, Attempts: d.AttemptNumber, LastDeliveryID: d.ID,
			ResponseStatusCode: d.ResponseStatusCode, LastError: d.LastError, NextRetryAt: d.NextRetryAt, RespondedAt: d.RespondedAt}
	}
	if ev.ProcessedAt == nil || ev.TotalDeliveries > ev.SuccessfulDeliveries+ev.FailedDeliveries {
		subs = s.withLiveStates(c.UserContext(), ev.EventID, subs)
	} else {
		snap, err := s.store.EventSubscribers(c.UserContext(), []string{ev.EventID})
		if err != nil {
			return err
		}
		subs = mergeStates(subs, nil, snap[ev.EventID])
	}
	return c.JSON(struct {
		eventView
		Deliveries []subscriberSummary `json:"deliveries"`
	}{eventView{ev, workflows.EventWorkflowID(ev.EventID)}, subs})
}

// withLiveStates adds each delivery's live state from the workflow
// delivering it (the event's, or its subscriber's stream), and the
// subscribers that have no attempt row yet. The rows alone are the answer
// when a workflow cannot be asked (it has ended, or Temporal is slow): they
// are what is durable.
func (s *Server) withLiveStates(ctx context.Context, eventID string, subs []subscriberSummary) []subscriberSummary {
	snap, err := s.store.EventSubscribers(ctx, []string{eventID})
	if err != nil {
		return subs
	}
	recorded := snap[eventID]
	var states []workflows.DeliveryState
	inEventWorkflow := len(recorded) == 0 // recorded before snapshots: all there
	for _, sub := range recorded {
		if sub.Outcome == store.OutcomeFiltered {
			continue // nothing delivers it: its outcome is all there is
		}
		if !sub.Mode.Streamed() {
			inEventWorkflow = true
			continue
		}
		if st, err := s.streamState(ctx, eventID, sub.WebhookID); err == nil && st != nil {
			states = append(states, *st)
		}
	}
	if inEventWorkflow {
		if es, err := s.liveStates(ctx, eventID); err == nil {
			states = append(states, es...)
		}
	}
	return mergeStates(subs, states, recorded)
}

// mergeStates adds live states to the subscribers' summaries, and a
// summary for each subscriber without an attempt row: pending while its
// delivery is under way, else what ended it (failed, cancelled, batched).
func mergeStates(subs []subscriberSummary, states []workflows.DeliveryState, recorded []store.SubscriberOf) []subscriberSummary {
	at := make(map[int64]int, len(subs))
	for i, sub := range subs {
		at[sub.WebhookID] = i
	}
	row := func(webhookID int64, status webhook.AttemptStatus, lastError string) int {
		if i, ok := at[webhookID]; ok {
			return i
		}
		subs = append(subs, subscriberSummary{WebhookID: webhookID, Status: status, LastError: lastError})
		at[webhookID] = len(subs) - 1
		return len(subs) - 1
	}
	for _, st := range states {
		status := webhook.AttemptPending
		if st.State.Done() {
			status = webhook.AttemptStatus(st.State)
		}
		i := row(st.WebhookID, status, st.LastError)
		subs[i].State, subs[i].NextAttemptAt = string(st.State), st.NextAttemptAt
	}
	for _, sub := range recorded {
		row(sub.WebhookID, webhook.AttemptStatus(sub.Outcome), "")
	}
	return subs
}
