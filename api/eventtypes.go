package api

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/webhook"
)

// eventTypeStore keeps operators' event type definitions.
type eventTypeStore interface {
	DeleteEventType(ctx context.Context, name string) error
	EventTypeSubscribers(ctx context.Context, eventType string) ([]string, error)
	PutEventType(ctx context.Context, d *eventtypes.Def) (created bool, err error)
}

// eventTypeView is a catalog entry as the API shows it: the type, and
// where its JSON Schema is served.
type eventTypeView struct {
	eventtypes.Type
	SchemaURL string `json:"schema_url"`
}

func viewOf(t eventtypes.Type) eventTypeView {
	return eventTypeView{Type: t, SchemaURL: "/api/v1/event-types/" + t.Name + "/schema"}
}

func (s *Server) listEventTypes(c *fiber.Ctx) error {
	types, err := s.types.List(c.UserContext())
	if err != nil {
		return err
	}
	views := make([]eventTypeView, len(types))
	for i, t := range types {
		views[i] = viewOf(t)
	}
	return c.JSON(fiber.Map{"event_types": views, "total": len(views)})
}

func (s *Server) getEventType(c *fiber.Ctx) error {
	t, err := s.types.Get(c.UserContext(), c.Params("type"))
	if err != nil {
		return err
	}
	return c.JSON(viewOf(t))
}

// getEventTypeSchema serves the JSON Schema payloads of the type are
// validated against: for an extended built-in type, the built-in schema
// and the operator's together.
func (s *Server) getEventTypeSchema(c *fiber.Ctx) error {
	t, err := s.types.Get(c.UserContext(), c.Params("type"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/schema+json")
	return c.Send(t.Schema)
}

type eventTypeInput struct {
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example"`
}

// putEventType defines a custom event type, or extends a built-in one's
// schema, replacing any earlier definition: 201 when new, else 200.
// Events already accepted keep the validation they had.
func (s *Server) putEventType(c *fiber.Ctx) error {
	var in eventTypeInput
	if err := decode(c, &in); err != nil {
		return err
	}
	d := &eventtypes.Def{Name: c.Params("type"), Description: strings.TrimSpace(in.Description),
		Schema: compact(in.Schema), Example: compact(in.Example)}
	if _, err := eventtypes.Check(d); err != nil {
		return err
	}
	created, err := s.store.PutEventType(c.UserContext(), d)
	if err != nil {
		return err
	}
	t, err := s.reloadedType(c, d.Name)
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
	}
	return c.Status(status).JSON(viewOf(t))
}

// deleteEventType removes a definition: a custom type is gone, a built-in
// one is back to its built-in schema. A custom type some webhook or
// integration still subscribes to is kept (409): its subscriptions would
// name a type that does not exist.
func (s *Server) deleteEventType(c *fiber.Ctx) error {
	ctx, name := c.UserContext(), c.Params("type")
	if _, builtin := eventtypes.Lookup(name); !builtin {
		subs, err := s.store.EventTypeSubscribers(ctx, name)
		if err != nil {
			return err
		}
		if len(subs) > 0 {
			return &webhook.Error{Code: webhook.EConflict, Details: fiber.Map{"subscribers": subs},
				Message: "event type " + name + " is subscribed to by " + strings.Join(subs, ", ") + "; unsubscribe them first"}
		}
	}
	err := s.store.DeleteEventType(ctx, name)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		if _, builtin := eventtypes.Lookup(name); builtin {
			return webhook.Errorf(webhook.ENotFound, "event type %s is built in and has no extension to remove", name)
		}
		return webhook.Errorf(webhook.ENotFound, "event type %q not found", name)
	}
	if err != nil {
		return err
	}
	if err := s.types.Reload(ctx); err != nil {
		s.cfg.Logger.Warn("cannot re-read event types after a delete", "error", err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// reloadedType re-reads the registry after a change, so that this
// process's next request sees it, and returns the type as now defined.
func (s *Server) reloadedType(c *fiber.Ctx, name string) (eventtypes.Type, error) {
	if err := s.types.Reload(c.UserContext()); err != nil {
		return eventtypes.Type{}, err
	}
	return s.types.Get(c.UserContext(), name)
}

// typeFilter is the event_type query parameter, refused when it names no
// type (400): a typo would otherwise look like a type without events.
func (s *Server) typeFilter(c *fiber.Ctx) (string, error) {
	typ := c.Query("event_type")
	if typ == "" {
		return "", nil
	}
	if _, err := s.types.Get(c.UserContext(), typ); webhook.ErrorCode(err) == webhook.ENotFound {
		return "", webhook.Errorf(webhook.EInvalid, "unknown event_type %q", typ)
	} else if err != nil {
		return "", err
	}
	return typ, nil
}

// compact drops insignificant space, keeping the members' order.
func compact(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil {
		return raw // not JSON: kept for validation to refuse
	}
	if b.String() == "null" {
		return nil
	}
	return b.Bytes()
}
