package integrations

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/webhook"
)

// Deliverer makes recorded attempts to subscribers: a webhook's over HTTP
// (HTTP), an integration's rendered for its platform and sent over HTTP or
// SMTP, recorded as a webhook's would be. Every attempt takes this path,
// the workers' and the API's tests alike.
type Deliverer struct {
	HTTP *delivery.Sender
	Mail *Mailer
}

// Recorder records attempts, one or many at a time.
type Recorder interface {
	delivery.Recorder
	delivery.ManyRecorder
}

// Attempt makes one recorded attempt of ev to the subscriber w. For an
// integration's batch, members are the events it carries, sent as one
// message.
func (d *Deliverer) Attempt(ctx context.Context, rec delivery.Recorder, w *webhook.Webhook, ev *webhook.Event, members []*webhook.Event, p delivery.Plan) (*delivery.Attempted, error) {
	if w.Integration == nil {
		return d.HTTP.Attempt(ctx, rec, w, ev, p)
	}
	c, err := Parse(w.Integration)
	if err != nil {
		return nil, err
	}
	if c.Type == Email {
		return d.attemptEmail(ctx, rec, w, c, ev, p)
	}
	body, err := Render(c, ev, members)
	if err != nil {
		return d.refuse(ctx, rec, w, c, ev, p, err)
	}
	target := *w
	target.URL = c.Credentials.WebhookURL
	req := d.HTTP.NewRequest(&target, ev.EventID, ev.EventType, p.Attempt, body)
	req.ShownURL = c.DisplayURL()
	return d.HTTP.AttemptRequest(ctx, rec, w.ID, ev, req, p, d.HTTP.Send)
}

func (d *Deliverer) attemptEmail(ctx context.Context, rec delivery.Recorder, w *webhook.Webhook, c *Connector, ev *webhook.Event, p delivery.Plan) (*delivery.Attempted, error) {
	msg, err := RenderEmail(c, ev)
	if err != nil {
		return d.refuse(ctx, rec, w, c, ev, p, err)
	}
	h := http.Header{}
	for k, v := range msg.Headers() {
		h.Set(k, v)
	}
	req := &delivery.Request{URL: c.DisplayURL(), Header: h, Body: msg.Summary(), Timeout: w.Timeout()}
	mailer := d.Mail
	if mailer == nil {
		mailer = &Mailer{}
	}
	return d.HTTP.AttemptRequest(ctx, rec, w.ID, ev, req, p, func(ctx context.Context, r *delivery.Request) *delivery.Result {
		return mailer.Send(ctx, c, msg, r.Timeout)
	})
}

// refuse records an attempt that could not be rendered (an email with no
// recipient for this event, say): failed for good, since trying again
// renders the same.
func (d *Deliverer) refuse(ctx context.Context, rec delivery.Recorder, w *webhook.Webhook, c *Connector, ev *webhook.Event, p delivery.Plan, why error) (*delivery.Attempted, error) {
	req := &delivery.Request{URL: c.DisplayURL(), Header: http.Header{}, Body: []byte("null")}
	return d.HTTP.AttemptRequest(ctx, rec, w.ID, ev, req, p, func(context.Context, *delivery.Request) *delivery.Result {
		now := time.Now()
		return &delivery.Result{SentAt: now, RespondedAt: now, Class: webhook.ClassRequest, Error: "rendering the message: " + why.Error()}
	})
}

// Render is the request body a connector sends for ev: the platform's
// message for Slack and Teams; for Zapier and a generic webhook the event's
// own body, or for a batch a JSON array of its events' bodies (Zapier runs
// its Zap once per element).
func Render(c *Connector, ev *webhook.Event, members []*webhook.Event) ([]byte, error) {
	switch c.Type {
	case Slack:
		return RenderSlack(ev, c.Config)
	case Teams:
		return RenderTeams(ev, c.Config)
	case Zapier, Webhook:
		if ev.EventType == webhook.BatchEventType {
			return RenderBatch(members)
		}
		return ev.Body()
	}
	return nil, fmt.Errorf("integrations: no renderer for type %q", c.Type)
}

// RenderBatch is a batch's body: its events' bodies, in order, as a JSON
// array, each byte for byte what the event alone would send.
func RenderBatch(members []*webhook.Event) ([]byte, error) {
	// Joined by hand: json.Marshal would HTML-escape the bodies' bytes.
	out := []byte{'['}
	for i, ev := range members {
		b, err := ev.Body()
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	return append(out, ']'), nil
}
