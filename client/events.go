package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/webhook"
)

// EventInput is an event to publish. Payload is any value that encodes to
// a JSON object: a map, a json.RawMessage, or one of package webhook's
// payload types (eventtypes.ComplianceAlertEvent, …).
type EventInput struct {
	EventID   string `json:"event_id,omitempty"` // generated when ""; a repeat is accepted once
	EventType string `json:"event_type"`
	Source    string `json:"source,omitempty"` // "": loki
	SourceID  string `json:"source_id,omitempty"`
	Payload   any    `json:"payload"`
}

// Accepted is Herald's receipt for an event: from it on, the event cannot
// be lost. Duplicate says the event id had been accepted before, and
// nothing is delivered again.
type Accepted = webhook.AcceptedEvent

// PublishEvent hands one event to Herald, which delivers it to every
// subscriber of its type (webhooks and integrations).
func (c *Client) PublishEvent(ctx context.Context, ev EventInput) (*Accepted, error) {
	return call[Accepted](ctx, c, http.MethodPost, "/events", nil, ev)
}

// BatchAccepted is the receipt for a batch, one Accepted per event in the
// order sent.
type BatchAccepted struct {
	Accepted   int        `json:"accepted"`
	Duplicates int        `json:"duplicates"`
	Events     []Accepted `json:"events"`
}

// PublishEvents hands 1–100 events to Herald at once, all or none: an
// invalid one refuses the batch, its errors naming events[i].field.
func (c *Client) PublishEvents(ctx context.Context, evs []EventInput) (*BatchAccepted, error) {
	var a BatchAccepted
	in := struct {
		Events []EventInput `json:"events"`
	}{evs}
	return &a, c.do(ctx, http.MethodPost, "/events/batch", nil, in, &a)
}

// RouteEvent is the LOKI guide's IntegrationManager.route_event: in Herald an
// event is routed by publishing it, to every integration and webhook
// subscribed to its type. Where it went is in GetEvent's Deliveries.
func (c *Client) RouteEvent(ctx context.Context, eventType string, payload any) (*Accepted, error) {
	return c.PublishEvent(ctx, EventInput{EventType: eventType, Payload: payload})
}

// Event is an accepted event with its delivery counters.
type Event struct {
	webhook.Event
	WorkflowID string `json:"workflow_id"`
}

// SubscriberDelivery is where one subscriber's delivery of an event stands:
// its latest attempt and, while it is under way, its live State.
type SubscriberDelivery = webhook.SubscriberDelivery

// EventDetail is an event and each subscriber's delivery of it.
type EventDetail struct {
	Event
	Deliveries []SubscriberDelivery `json:"deliveries"`
}

// GetEvent reads an event by its id.
func (c *Client) GetEvent(ctx context.Context, eventID string) (*EventDetail, error) {
	return call[EventDetail](ctx, c, http.MethodGet, path("events", eventID), nil, nil)
}

// EventListOptions select and page ListEvents.
type EventListOptions struct {
	EventType string
	Limit     int // 1–1000; 0: 50
	Offset    int
}

// EventList is a page of events, newest first.
type EventList struct {
	Events []Event `json:"events"`
	Page
}

// ListEvents lists recent events.
func (c *Client) ListEvents(ctx context.Context, o EventListOptions) (*EventList, error) {
	return list[EventList](ctx, c, "/events", o.Limit, o.Offset, "event_type", o.EventType)
}

// TimelineEntry is one step of an event's delivery from its workflow
// history: an attempt, a wait, a signal, a hold.
type TimelineEntry = webhook.TimelineEntry

// Timeline is an event's delivery, step by step, oldest first.
type Timeline struct {
	EventID    string          `json:"event_id"`
	WorkflowID string          `json:"workflow_id"`
	Timeline   []TimelineEntry `json:"timeline"`
	Note       string          `json:"note"`
}

// EventTimeline reads an event's delivery timeline from Temporal.
func (c *Client) EventTimeline(ctx context.Context, eventID string) (*Timeline, error) {
	return call[Timeline](ctx, c, http.MethodGet, path("events", eventID, "timeline"), nil, nil)
}

// EventType is a catalog entry: the type, its payload fields, an example,
// and where its JSON Schema is served.
type EventType struct {
	eventtypes.Type
	SchemaURL string `json:"schema_url"`
}

// ListEventTypes lists every event type: the built-in ones, then custom.
func (c *Client) ListEventTypes(ctx context.Context) ([]EventType, error) {
	var l struct {
		EventTypes []EventType `json:"event_types"`
	}
	err := c.do(ctx, http.MethodGet, "/event-types", nil, nil, &l)
	return l.EventTypes, err
}

// GetEventType reads one event type.
func (c *Client) GetEventType(ctx context.Context, name string) (*EventType, error) {
	return call[EventType](ctx, c, http.MethodGet, path("event-types", name), nil, nil)
}

// EventTypeSchema reads the JSON Schema (draft 2020-12) payloads of the type
// are checked against.
func (c *Client) EventTypeSchema(ctx context.Context, name string) (json.RawMessage, error) {
	var s json.RawMessage
	err := c.do(ctx, http.MethodGet, path("event-types", name, "schema"), nil, nil, &s)
	return s, err
}
