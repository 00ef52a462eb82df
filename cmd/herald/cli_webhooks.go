package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/webhook"
)

var webhookVerbs = []verb{
	{"list", "[--status active|inactive|paused] [--limit N] [--offset N]", webhooksList},
	{"get", "ID", webhooksGet},
	{"create", "--name NAME --url URL --events a,b|* [settings]", webhooksCreate},
	{"update", "ID [settings]  (only the flags given change)", webhooksUpdate},
	{"delete", "ID", webhooksDelete},
	{"test", "ID [--event-type TYPE]", webhooksTest},
}

func webhooksList(c *cliCmd, args []string) error {
	var o client.WebhookListOptions
	status := c.fs.String("status", "", "only webhooks in this status")
	c.pageFlags(&o.Limit, &o.Offset)
	if _, err := c.parse(args); err != nil {
		return err
	}
	o.Status = webhook.Status(*status)
	l, err := c.api.ListWebhooks(c.ctx, o)
	return c.answer(l, err, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tNAME\tSTATUS\tMODE\tEVENTS\tURL")
		for _, h := range l.Webhooks {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Name, h.Status, h.DeliveryMode, strings.Join(h.EventTypes, ","), h.URL)
		}
		pageLine(w, len(l.Webhooks), l.Page)
	})
}

func webhooksGet(c *cliCmd, args []string) error {
	return showWebhook(c, args, func(id int64) (*client.Webhook, error) { return c.api.GetWebhook(c.ctx, id) }, webhookTable)
}

// showWebhook shows what fetch answers for the one webhook ID argument.
func showWebhook[T any](c *cliCmd, args []string, fetch func(id int64) (T, error), table func(io.Writer, T)) error {
	return showArg(c, args, "ID", func(arg string) (T, error) {
		id, err := parseID("webhook", arg)
		if err != nil {
			var none T
			return none, err
		}
		return fetch(id)
	}, table)
}

// webhookFlags are create's and update's.
type webhookFlags struct {
	name, url, events, description, secret, status, reason, metadata string
	headers                                                          kvFlag
	delivery                                                         deliveryFlags
}

func (f *webhookFlags) register(c *cliCmd) {
	c.fs.StringVar(&f.name, "name", "", "name (unique)")
	c.fs.StringVar(&f.url, "url", "", "where to deliver: https://… (http:// for loopback in herald dev)")
	c.fs.StringVar(&f.events, "events", "", "event types, comma-separated, or * for all")
	c.fs.StringVar(&f.description, "description", "", "what it is for")
	c.fs.StringVar(&f.secret, "secret", "", "signing secret (generated when left out)")
	c.fs.StringVar(&f.status, "status", "", "active, inactive or paused")
	c.fs.StringVar(&f.reason, "status-reason", "", "why it is paused or inactive")
	c.fs.StringVar(&f.metadata, "metadata", "", "metadata, a JSON object (payload options: docs/payloads.md); @file reads a file")
	f.headers = kvFlag{}
	c.fs.Var(f.headers, "header", "custom header K=V, repeatable (replaces all custom headers)")
	f.delivery.register(c.fs)
}

func (f *webhookFlags) input(set map[string]bool) (client.WebhookInput, error) {
	settings, err := f.delivery.input(set)
	if err != nil {
		return client.WebhookInput{}, err
	}
	in := client.WebhookInput{DeliverySettings: settings}
	in.Name, in.URL, in.EventTypes, in.Secret = f.name, f.url, csv(f.events), f.secret
	in.Status, in.StatusReason = webhook.Status(f.status), f.reason
	if set["description"] {
		in.Description = &f.description
	}
	if set["header"] {
		in.CustomHeaders = f.headers
	}
	in.Metadata, err = jsonObject("metadata", f.metadata)
	return in, err
}

func webhooksCreate(c *cliCmd, args []string) error {
	var f webhookFlags
	f.register(c)
	if _, err := c.parse(args); err != nil {
		return err
	}
	in, err := f.input(c.set())
	if err != nil {
		return err
	}
	h, err := c.api.CreateWebhook(c.ctx, in)
	return c.answer(h, err, func(w io.Writer) {
		webhookTable(w, h)
		fmt.Fprintf(w, "Secret\t%s\t(shown this once: give it to the receiver, which verifies signatures with it)\n", h.Secret)
	})
}

func webhooksUpdate(c *cliCmd, args []string) error {
	var f webhookFlags
	f.register(c)
	id, err := c.parseIDArg(args, "webhook", "ID")
	if err != nil {
		return err
	}
	in, err := f.input(c.set())
	if err != nil {
		return err
	}
	h, err := c.api.UpdateWebhook(c.ctx, id, in)
	return c.answer(h, err, func(w io.Writer) { webhookTable(w, h) })
}

func webhooksDelete(c *cliCmd, args []string) error {
	id, err := c.parseIDArg(args, "webhook", "ID")
	if err != nil {
		return err
	}
	if err := c.api.DeleteWebhook(c.ctx, id); err != nil {
		return err
	}
	return c.say(map[string]any{"deleted": id}, "webhook %d deleted", id)
}

func webhooksTest(c *cliCmd, args []string) error {
	eventType := c.fs.String("event-type", "", "event type of the example payload (default: the webhook's first)")
	return showWebhook(c, args, func(id int64) (*client.TestResult, error) { return c.api.TestWebhook(c.ctx, id, *eventType) }, testTable)
}

// testTable shows a test delivery's outcome.
func testTable(w io.Writer, r *client.TestResult) {
	outcome := "delivered"
	if !r.Success {
		outcome = "FAILED"
	}
	fmt.Fprintf(w, "Test\t%s (%s, delivery %d)\n", outcome, r.EventType, r.DeliveryID)
	if r.StatusCode != 0 {
		fmt.Fprintf(w, "Answer\t%d in %.0f ms\n", r.StatusCode, r.DurationMS)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "Error\t%s (%s)\n", r.Error, r.ErrorClass)
	}
	if r.Filtered {
		fmt.Fprintf(w, "Filter\twould leave this event out (a test is sent anyway)\n")
	}
	fmt.Fprintf(w, "Response\t%s\n", or(oneLine(r.ResponseBody)))
}

func webhookTable(w io.Writer, h *client.Webhook) {
	fmt.Fprintf(w, "ID\t%d\nName\t%s\nURL\t%s\n", h.ID, h.Name, h.URL)
	fmt.Fprintf(w, "Status\t%s\nEvent types\t%s\nDelivery mode\t%s\n", withReason(h.Status, h.StatusReason), strings.Join(h.EventTypes, ", "), h.DeliveryMode)
	if h.Description != "" {
		fmt.Fprintf(w, "Description\t%s\n", h.Description)
	}
	fmt.Fprintf(w, "Retries\t%s, %d retries, waits %s s\n", h.RetryStrategy, h.MaxRetries, seconds(h.RetryScheduleSeconds))
	fmt.Fprintf(w, "Timeout\t%d s\nRate limit\t%d/min, %d/h\n", h.TimeoutSeconds, h.RateLimitPerMinute, h.RateLimitPerHour)
	fmt.Fprintf(w, "Headers\t%s\nMetadata\t%s\nFilter\t%s\n", sortedPairs(h.CustomHeaders), compactJSON(h.Metadata), compactJSON(h.Filter))
	fmt.Fprintf(w, "Created\t%s\nLast triggered\t%s\n", when(&h.CreatedAt), when(h.LastTriggeredAt))
}

func seconds(s []float64) string {
	if len(s) == 0 {
		return "none"
	}
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = fmt.Sprintf("%g", v)
	}
	return strings.Join(parts, " ")
}

// oneLine keeps a body to one line of at most 200 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
