package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/webhook"
)

var deliveryVerbs = []verb{
	{"list", "[WEBHOOK_ID] [--status pending|delivered|retrying|failed] [--event EVENT_ID] [--type EVENT_TYPE] [--since TIME] [--until TIME] [--limit N] [--offset N]", deliveriesList},
	{"get", "WEBHOOK_ID DELIVERY_ID", deliveriesGet},
	{"retry", "WEBHOOK_ID DELIVERY_ID", deliveriesAct("retry", (*client.Client).RetryDelivery)},
	{"cancel", "WEBHOOK_ID DELIVERY_ID", deliveriesAct("cancel", (*client.Client).CancelDelivery)},
}

// deliveriesList lists a webhook's attempts, or every webhook's and
// integration's without one.
func deliveriesList(c *cliCmd, args []string) error {
	var o client.DeliveryListOptions
	status := c.fs.String("status", "", "only attempts in this status")
	c.fs.StringVar(&o.EventID, "event", "", "only this event's attempts")
	c.fs.StringVar(&o.EventType, "type", "", "only attempts of this event type")
	since := c.fs.String("since", "", "only attempts made at or after this time (RFC 3339)")
	until := c.fs.String("until", "", "only attempts made before this time (RFC 3339)")
	c.pageFlags(&o.Limit, &o.Offset)
	pos, err := c.parse(args, "[WEBHOOK_ID]")
	if err != nil {
		return err
	}
	o.Status = webhook.AttemptStatus(*status)
	for _, t := range []struct {
		flag, v string
		dst     *time.Time
	}{{"since", *since, &o.Since}, {"until", *until, &o.Until}} {
		if t.v == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339Nano, t.v); err != nil {
			return fmt.Errorf("--%s %q is not a time in RFC 3339, like 2026-12-05T07:00:00Z", t.flag, t.v)
		}
	}
	l, err := c.attemptsOf(pos, o)
	return c.answer(l, err, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tEVENT ID\tTYPE\tATTEMPT\tSTATUS\tCODE\tMS\tAT\tERROR")
		for _, d := range l.Deliveries {
			ms := "-"
			if d.DurationMS != nil {
				ms = fmt.Sprintf("%.0f", *d.DurationMS)
			}
			test := ""
			if d.IsTest {
				test = " (test)"
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s%s\t%s\t%s\t%s\t%s\n", d.ID, d.EventID, d.EventType, d.AttemptNumber, d.Status, test,
				statusCode(d.ResponseStatusCode), ms, when(&d.CreatedAt), or(oneLine(d.LastError)))
		}
		pageLine(w, len(l.Deliveries), l.Page)
	})
}

// attemptsOf lists the attempts of the webhook pos names, or of every one.
func (c *cliCmd) attemptsOf(pos []string, o client.DeliveryListOptions) (*client.DeliveryList, error) {
	if len(pos) == 0 {
		return c.api.ListAllDeliveries(c.ctx, o)
	}
	id, err := parseID("webhook", pos[0])
	if err != nil {
		return nil, err
	}
	return c.api.ListDeliveries(c.ctx, id, o)
}

// deliveryArgs reads WEBHOOK_ID DELIVERY_ID.
func deliveryArgs(c *cliCmd, args []string) (int64, int64, error) {
	pos, err := c.parse(args, "WEBHOOK_ID", "DELIVERY_ID")
	if err != nil {
		return 0, 0, err
	}
	wid, err := parseID("webhook", pos[0])
	if err != nil {
		return 0, 0, err
	}
	did, err := parseID("delivery", pos[1])
	return wid, did, err
}

func deliveriesGet(c *cliCmd, args []string) error {
	wid, did, err := deliveryArgs(c, args)
	if err != nil {
		return err
	}
	d, err := c.api.GetDelivery(c.ctx, wid, did)
	return c.answer(d, err, func(w io.Writer) {
		fmt.Fprintf(w, "Delivery\t%d (webhook %d)\nEvent\t%s %s\n", d.ID, d.WebhookID, d.EventID, d.EventType)
		fmt.Fprintf(w, "Attempt\t%d\nStatus\t%s\nTest\t%t\nURL\t%s\n", d.AttemptNumber, d.Status, d.IsTest, d.URL)
		fmt.Fprintf(w, "Sent\t%s\nAnswer\t%s\nNext retry\t%s\n", when(d.SentAt), statusCode(d.ResponseStatusCode), when(d.NextRetryAt))
		if d.LastError != "" {
			fmt.Fprintf(w, "Error\t%s (%s)\n", d.LastError, d.ErrorClass)
		}
		fmt.Fprintf(w, "Request headers\t%s\nRequest body\t%s\nResponse body\t%s\n", sortedPairs(d.RequestHeaders), d.RequestBody, or(oneLine(d.ResponseBody)))
		if d.Live != nil {
			stateLine(w, d.Live)
		} else if d.LiveError != "" {
			fmt.Fprintf(w, "Live\tunknown: %s\n", d.LiveError)
		}
	})
}

// stateLine shows where a delivery loop stands.
func stateLine(w io.Writer, s *client.DeliveryState) {
	fmt.Fprintf(w, "Live\t%s after %d attempt(s)", s.State, s.Attempts)
	if s.NextAttemptAt != nil {
		fmt.Fprintf(w, ", next at %s", when(s.NextAttemptAt))
	}
	if s.BlockedBy != "" {
		fmt.Fprintf(w, ", waiting for %s", s.BlockedBy)
	}
	fmt.Fprintln(w)
}

// deliveriesAct is retry and cancel: the same arguments, the same answer.
func deliveriesAct(what string, act func(*client.Client, context.Context, int64, int64) (*client.RetryResult, error)) func(*cliCmd, []string) error {
	return func(c *cliCmd, args []string) error {
		wid, did, err := deliveryArgs(c, args)
		if err != nil {
			return err
		}
		r, err := act(c.api, c.ctx, wid, did)
		return c.answer(r, err, func(w io.Writer) {
			fmt.Fprintf(w, "%s\tevent %s to webhook %d: %s\n", what, r.EventID, r.WebhookID, r.Action)
			if r.State != nil {
				stateLine(w, r.State)
			}
		})
	}
}
