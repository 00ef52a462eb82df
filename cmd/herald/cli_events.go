package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/loki-interceptor/herald/client"
)

var eventVerbs = []verb{
	{"send", "--type TYPE [--payload JSON|@file|-] [--id ID] [--source S] [--source-id ID]  |  --batch FILE|-", eventsSend},
	{"get", "EVENT_ID [--timeline]", eventsGet},
	{"list", "[--type TYPE] [--limit N] [--offset N]", eventsList},
}

func eventsSend(c *cliCmd, args []string) error {
	var ev client.EventInput
	c.fs.StringVar(&ev.EventType, "type", "", "event type")
	payload := c.fs.String("payload", "", "payload, a JSON object; @file reads a file, - standard input (default: the type's example)")
	c.fs.StringVar(&ev.EventID, "id", "", "event id (generated when left out; a repeat is accepted once)")
	c.fs.StringVar(&ev.Source, "source", "", "source (default loki)")
	c.fs.StringVar(&ev.SourceID, "source-id", "", "id of what the event is about, e.g. a document")
	batch := c.fs.String("batch", "", "publish 1-100 events at once, all or none: a file (- for standard input) holding a JSON array of events")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if *batch != "" {
		return sendBatch(c, *batch)
	}
	if ev.EventType == "" {
		return errors.New("events send: --type is required (herald events send --type compliance.alert)")
	}
	if *payload == "" {
		// As `stripe trigger` does: the catalog's example, to try a receiver.
		et, err := c.api.GetEventType(c.ctx, ev.EventType)
		if err != nil {
			return err
		}
		ev.Payload = et.Example
	} else {
		raw, err := jsonArg("payload", *payload)
		if err != nil {
			return err
		}
		ev.Payload = raw
	}
	a, err := c.api.PublishEvent(c.ctx, ev)
	return c.answer(a, err, func(w io.Writer) { acceptedLine(w, a) })
}

func acceptedLine(w io.Writer, a *client.Accepted) {
	what := "accepted"
	if a.Duplicate {
		what = "duplicate (accepted before; not delivered again)"
	}
	fmt.Fprintf(w, "%s\t%s\t%s\tworkflow %s\n", a.EventID, a.EventType, what, a.WorkflowID)
}

func sendBatch(c *cliCmd, file string) error {
	if file != "-" {
		file = "@" + file
	}
	raw, err := jsonArg("batch", file)
	if err != nil {
		return err
	}
	// Payloads are passed on as written: decoded into maps, their keys
	// would be reordered and big numbers rounded.
	var in []struct {
		client.EventInput
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return fmt.Errorf("--batch must hold a JSON array of events: %w", err)
	}
	evs := make([]client.EventInput, len(in))
	for i, e := range in {
		evs[i] = e.EventInput
		evs[i].Payload = e.Payload
	}
	a, err := c.api.PublishEvents(c.ctx, evs)
	return c.answer(a, err, func(w io.Writer) {
		for i := range a.Events {
			acceptedLine(w, &a.Events[i])
		}
		fmt.Fprintf(w, "(%d accepted, %d duplicates)\n", a.Accepted, a.Duplicates)
	})
}

func eventsGet(c *cliCmd, args []string) error {
	timeline := c.fs.Bool("timeline", false, "also show the delivery timeline from Temporal")
	pos, err := c.parse(args, "EVENT_ID")
	if err != nil {
		return err
	}
	ev, err := c.api.GetEvent(c.ctx, pos[0])
	if err != nil {
		return err
	}
	out := struct {
		*client.EventDetail
		Timeline *client.Timeline `json:"timeline,omitempty"`
	}{EventDetail: ev}
	if *timeline {
		if out.Timeline, err = c.api.EventTimeline(c.ctx, pos[0]); err != nil {
			return err
		}
	}
	return c.show(out, func(w io.Writer) {
		eventTable(w, ev)
		if out.Timeline != nil {
			timelineTable(w, out.Timeline)
		}
	})
}

func eventTable(w io.Writer, ev *client.EventDetail) {
	fmt.Fprintf(w, "Event ID\t%s\nType\t%s\nSource\t%s %s\n", ev.EventID, ev.EventType, ev.Source, ev.SourceID)
	fmt.Fprintf(w, "Accepted\t%s\nProcessed\t%s\nWorkflow\t%s\n", when(&ev.CreatedAt), when(ev.ProcessedAt), ev.WorkflowID)
	fmt.Fprintf(w, "Deliveries\t%d delivered, %d failed, of %d\n", ev.SuccessfulDeliveries, ev.FailedDeliveries, ev.TotalDeliveries)
	fmt.Fprintf(w, "Payload\t%s\n\n", ev.Payload)
	fmt.Fprintln(w, "WEBHOOK\tSTATUS\tSTATE\tATTEMPTS\tCODE\tNEXT ATTEMPT\tERROR")
	for _, d := range ev.Deliveries {
		next := d.NextAttemptAt
		if next == nil {
			next = d.NextRetryAt
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", d.WebhookID, d.Status, or(d.State), d.Attempts, statusCode(d.ResponseStatusCode), when(next), or(d.LastError))
	}
}

func timelineTable(w io.Writer, tl *client.Timeline) {
	fmt.Fprintln(w, "\nTIME\tKIND\tWEBHOOK\tATTEMPT\tSTATUS\tCODE\tDETAIL")
	for _, e := range tl.Timeline {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("15:04:05.000"), e.Kind, blank(e.WebhookID),
			blank(int64(e.Attempt)), or(e.Status), blank(int64(e.StatusCode)), e.Detail)
	}
	if tl.Note != "" {
		fmt.Fprintf(w, "(%s)\n", tl.Note)
	}
}

// blank shows 0 as "-".
func blank(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func eventsList(c *cliCmd, args []string) error {
	var o client.EventListOptions
	c.fs.StringVar(&o.EventType, "type", "", "only events of this type")
	c.pageFlags(&o.Limit, &o.Offset)
	if _, err := c.parse(args); err != nil {
		return err
	}
	l, err := c.api.ListEvents(c.ctx, o)
	return c.answer(l, err, func(w io.Writer) {
		fmt.Fprintln(w, "EVENT ID\tTYPE\tSOURCE\tDELIVERED\tFAILED\tOF\tACCEPTED")
		for _, e := range l.Events {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", e.EventID, e.EventType, e.Source, e.SuccessfulDeliveries, e.FailedDeliveries,
				e.TotalDeliveries, when(&e.CreatedAt))
		}
		pageLine(w, len(l.Events), l.Page)
	})
}
