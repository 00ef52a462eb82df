package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/loki-interceptor/herald/client"
)

const analyticsSynopsis = "[--webhook ID] [--days N] [--event-type TYPE]"

// runAnalytics is `herald analytics`: one webhook's figures, or every
// subscriber's with the totals.
func runAnalytics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCmd(ctx, "analytics", analyticsSynopsis, stdout, stderr)
	return c.explain(analytics(c, args))
}

func analytics(c *cliCmd, args []string) error {
	webhookID := c.fs.Int64("webhook", 0, "one webhook's figures")
	var o client.AnalyticsOptions
	c.fs.IntVar(&o.PeriodDays, "days", 0, "the last N days, 1-366 (default 7)")
	c.fs.StringVar(&o.EventType, "event-type", "", "only this event type (across webhooks)")
	if _, err := c.parse(args); err != nil {
		return err
	}
	if *webhookID != 0 {
		if o.EventType != "" {
			return errors.New("analytics: --event-type applies across webhooks, not with --webhook")
		}
		a, err := c.api.WebhookAnalytics(c.ctx, *webhookID, o.PeriodDays)
		return c.answer(a, err, func(w io.Writer) {
			fmt.Fprintf(w, "Webhook %d, last %d day(s)\n", a.WebhookID, a.PeriodDays)
			statsTable(w, a.Stats)
		})
	}
	a, err := c.api.Analytics(c.ctx, o)
	return c.answer(a, err, func(w io.Writer) { overallTable(w, a) })
}

func statsTable(w io.Writer, s client.Stats) {
	fmt.Fprintf(w, "Deliveries\t%d (%d delivered, %d failed, %d filtered out)\n", s.TotalEvents, s.SuccessfulDeliveries, s.FailedDeliveries, s.FilteredEvents)
	fmt.Fprintf(w, "Success rate\t%.1f %%\n", s.SuccessRate)
	fmt.Fprintf(w, "Attempts\t%d (%d retries)\n", s.TotalAttempts, s.RetryCount)
	fmt.Fprintf(w, "Response time\tavg %.0f ms, p95 %.0f ms, min %.0f ms, max %.0f ms\n", s.AvgResponseTimeMS, s.P95ResponseTimeMS, s.MinResponseTimeMS, s.MaxResponseTimeMS)
	fmt.Fprintf(w, "Errors\t%d 4xx, %d 5xx, %d timeouts, %d network\n", s.HTTP4xxErrors, s.HTTP5xxErrors, s.TimeoutErrors, s.NetworkErrors)
}

func overallTable(w io.Writer, a *client.Analytics) {
	scope := "every event type"
	if a.EventType != "" {
		scope = a.EventType
	}
	fmt.Fprintf(w, "All subscribers, last %d day(s), %s\n", a.PeriodDays, scope)
	statsTable(w, a.Overall)
	fmt.Fprintln(w, "\nWEBHOOK\tNAME\tSTATUS\tDELIVERIES\tDELIVERED\tFAILED\tSUCCESS %\tAVG MS\tP95 MS")
	for _, f := range a.ByWebhook {
		fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%d\t%d\t%.1f\t%.0f\t%.0f\n", f.WebhookID, f.Name, f.Status, f.TotalEvents, f.SuccessfulDeliveries,
			f.FailedDeliveries, f.SuccessRate, f.AvgResponseTimeMS, f.P95ResponseTimeMS)
	}
	fmt.Fprintln(w, "\nEVENT TYPE\tDELIVERIES\tDELIVERED\tFAILED\tSUCCESS %")
	for _, t := range slices.Sorted(maps.Keys(a.ByEventType)) {
		s := a.ByEventType[t]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.1f\n", t, s.TotalEvents, s.SuccessfulDeliveries, s.FailedDeliveries, s.SuccessRate)
	}
}
