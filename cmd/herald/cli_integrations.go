package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/webhook"
)

var integrationVerbs = []verb{
	{"list", "[--type slack|teams|email|zapier|webhook] [--limit N] [--offset N]", integrationsList},
	{"get", "NAME", integrationsGet},
	{"create", "--name NAME --type TYPE --credentials JSON [--config JSON] [--events a,b] [settings]", integrationsCreate},
	{"update", "NAME [--name NEW] [--credentials JSON] [--config JSON] [--events a,b] [settings]  (only the flags given change; credentials and config merge key by key)", integrationsUpdate},
	{"delete", "NAME", integrationsDelete},
	{"test", "NAME [--event-type TYPE]", integrationsTest},
	{"health", "", integrationsHealth},
	{"subscriptions", "NAME", integrationsSubscriptions},
	{"subscribe", "NAME EVENT_TYPE  (* for every type)", integrationsSubscribe},
	{"unsubscribe", "NAME EVENT_TYPE", integrationsUnsubscribe},
}

func integrationsList(c *cliCmd, args []string) error {
	var o client.IntegrationListOptions
	c.fs.StringVar(&o.IntegrationType, "type", "", "only integrations of this type")
	c.pageFlags(&o.Limit, &o.Offset)
	if _, err := c.parse(args); err != nil {
		return err
	}
	l, err := c.api.ListIntegrations(c.ctx, o)
	return c.answer(l, err, func(w io.Writer) {
		fmt.Fprintln(w, "NAME\tTYPE\tSTATUS\tEVENTS\tCREATED")
		for _, i := range l.Integrations {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", i.Name, i.IntegrationType, i.Status, or(strings.Join(i.EventSubscriptions, ",")), when(&i.CreatedAt))
		}
		pageLine(w, len(l.Integrations), l.Page)
	})
}

func integrationsGet(c *cliCmd, args []string) error {
	return showArg(c, args, "NAME", func(name string) (*client.Integration, error) { return c.api.GetIntegration(c.ctx, name) }, integrationTable)
}

func integrationTable(w io.Writer, i *client.Integration) {
	fmt.Fprintf(w, "Name\t%s\nType\t%s\nID\t%d\n", i.Name, i.IntegrationType, i.ID)
	fmt.Fprintf(w, "Status\t%s\nEvents\t%s\n", withReason(i.Status, i.StatusReason), or(strings.Join(i.EventSubscriptions, ", ")))
	fmt.Fprintf(w, "Credentials\t%s\nConfig\t%s\n", compactJSON(i.Credentials), compactJSON(i.Config))
	fmt.Fprintf(w, "Retries\t%s, %d retries from %d s\nRate limit\t%d/min, %d/h\n", i.RetryStrategy, i.MaxRetries, i.RetryDelaySeconds,
		i.RateLimitPerMinute, i.RateLimitPerHour)
	if i.Batch != nil {
		fmt.Fprintf(w, "Batch\t%d events or %d s (workflow %s)\n", i.Batch.Size, i.Batch.TimeoutSeconds, i.Batch.WorkflowID)
	}
	fmt.Fprintf(w, "Created\t%s\nLast triggered\t%s\n", when(&i.CreatedAt), when(i.LastTriggeredAt))
}

// integrationFlags are create's and update's.
type integrationFlags struct {
	name, typ, creds, config, events, description, status, reason string
	delivery                                                      deliveryFlags
}

func (f *integrationFlags) register(c *cliCmd, rename string) {
	c.fs.StringVar(&f.name, "name", "", rename)
	c.fs.StringVar(&f.typ, "type", "", "slack, teams, email, zapier or webhook")
	c.fs.StringVar(&f.creds, "credentials", "", `credentials, a JSON object: {"webhook_url": "…"}, SMTP settings for email; @file reads a file`)
	c.fs.StringVar(&f.config, "config", "", "config, a JSON object (docs/integrations.md); @file reads a file")
	c.fs.StringVar(&f.events, "events", "", "event types, comma-separated, or *")
	c.fs.StringVar(&f.description, "description", "", "what it is for")
	c.fs.StringVar(&f.status, "status", "", "active, inactive or paused")
	c.fs.StringVar(&f.reason, "status-reason", "", "why it is paused or inactive")
	f.delivery.register(c.fs)
}

// input is the flags given (set) as an IntegrationInput: what is not given
// is not sent.
func (f *integrationFlags) input(set map[string]bool) (in client.IntegrationInput, err error) {
	if in.DeliverySettings, err = f.delivery.input(set); err != nil {
		return in, err
	}
	in.Name, in.IntegrationType, in.EventSubscriptions = f.name, f.typ, csv(f.events)
	in.Status, in.StatusReason = webhook.Status(f.status), f.reason
	if set["description"] {
		in.Description = &f.description
	}
	if in.Credentials, err = jsonObject("credentials", f.creds); err != nil {
		return in, err
	}
	in.Config, err = jsonObject("config", f.config)
	return in, err
}

func integrationsCreate(c *cliCmd, args []string) error {
	var f integrationFlags
	f.register(c, "name (unique; part of the integration's URL)")
	if _, err := c.parse(args); err != nil {
		return err
	}
	in, err := f.input(c.set())
	if err != nil {
		return err
	}
	i, err := c.api.RegisterIntegration(c.ctx, in)
	return c.answer(i, err, func(w io.Writer) {
		integrationTable(w, i)
		if i.Secret != "" {
			fmt.Fprintf(w, "Secret\t%s\t(shown this once: the receiver verifies signatures with it)\n", i.Secret)
		}
	})
}

func integrationsUpdate(c *cliCmd, args []string) error {
	var f integrationFlags
	f.register(c, "a new name")
	pos, err := c.parse(args, "NAME")
	if err != nil {
		return err
	}
	in, err := f.input(c.set())
	if err != nil {
		return err
	}
	i, err := c.api.UpdateIntegration(c.ctx, pos[0], in)
	return c.answer(i, err, func(w io.Writer) { integrationTable(w, i) })
}

func integrationsDelete(c *cliCmd, args []string) error {
	pos, err := c.parse(args, "NAME")
	if err != nil {
		return err
	}
	if err := c.api.DeleteIntegration(c.ctx, pos[0]); err != nil {
		return err
	}
	return c.say(map[string]any{"deleted": pos[0]}, "integration %q deleted", pos[0])
}

func integrationsTest(c *cliCmd, args []string) error {
	eventType := c.fs.String("event-type", "", "event type of the example (default: the integration's first subscription)")
	return showArg(c, args, "NAME", func(name string) (*client.TestResult, error) { return c.api.TestIntegration(c.ctx, name, *eventType) }, testTable)
}

func integrationsHealth(c *cliCmd, args []string) error {
	if _, err := c.parse(args); err != nil {
		return err
	}
	h, err := c.api.IntegrationHealth(c.ctx)
	return c.answer(h, err, func(w io.Writer) {
		fmt.Fprintf(w, "Overall: %s (%d integrations)\n\n", h.Status, h.Total)
		fmt.Fprintln(w, "NAME\tTYPE\tHEALTH\tLAST EVENT\tERROR")
		for _, name := range slices.Sorted(maps.Keys(h.Integrations)) {
			s := h.Integrations[name]
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", name, s.IntegrationType, s.Status, when(s.LastEvent), or(oneLine(s.Error)))
		}
	})
}

func integrationsSubscriptions(c *cliCmd, args []string) error {
	return showArg(c, args, "NAME", func(name string) (*client.Subscriptions, error) { return c.api.Subscriptions(c.ctx, name) }, subscriptionsTable)
}

func integrationsSubscribe(c *cliCmd, args []string) error {
	return changeSubscription(c, args, (*client.Client).Subscribe)
}

func integrationsUnsubscribe(c *cliCmd, args []string) error {
	return changeSubscription(c, args, (*client.Client).Unsubscribe)
}

// changeSubscription adds or removes one event type, and shows the
// subscriptions as they are now. change is a method of the client, which
// parse makes.
func changeSubscription(c *cliCmd, args []string, change func(api *client.Client, ctx context.Context, name, eventType string) (*client.Subscriptions, error)) error {
	pos, err := c.parse(args, "NAME", "EVENT_TYPE")
	if err != nil {
		return err
	}
	subs, err := change(c.api, c.ctx, pos[0], pos[1])
	return c.answer(subs, err, func(w io.Writer) { subscriptionsTable(w, subs) })
}

func subscriptionsTable(w io.Writer, s *client.Subscriptions) {
	fmt.Fprintf(w, "Integration\t%s\nEvent types\t%s\t(%d)\n", s.Integration, or(strings.Join(s.EventSubscriptions, ", ")), s.Total)
}
