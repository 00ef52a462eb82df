package api

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/gofiber/fiber/v2"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// timelineStore is what an event's timeline reads beside its history.
type timelineStore interface {
	eventReader
	ListAttempts(ctx context.Context, f store.AttemptFilter) ([]*webhook.Attempt, int, error)
}

// timelineEntry is one step of an event's delivery, read from its workflow
// history.
type timelineEntry = webhook.TimelineEntry

// eventTimeline answers the event's delivery timeline from Temporal: every
// attempt, wait, signal, hold and rate-limit pause, across every run of its
// workflow (a manual retry of a finished event starts a new run).
func (s *Server) eventTimeline(c *fiber.Ctx) error {
	id := c.Params("event_id")
	if !webhook.ValidEventID(id) {
		return webhook.Errorf(webhook.ENotFound, "event %q not found", id)
	}
	ctx := c.UserContext()
	ev, err := s.store.GetEvent(ctx, id)
	if err != nil {
		return err
	}
	snap, err := s.store.EventSubscribers(ctx, []string{id})
	if err != nil {
		return err
	}
	entries, note := []timelineEntry{}, ""
	if ownWorkflow(snap[id]) {
		if entries, note, err = s.workflowEntries(ctx, id); err != nil {
			return err
		}
	}
	entries = append(entries, s.streamEntries(ctx, ev, snap[id])...)
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Time.Before(entries[j].Time) })
	return c.JSON(fiber.Map{"event_id": id, "workflow_id": workflows.EventWorkflowID(id), "timeline": entries, "note": note})
}

// ownWorkflow says an event has a workflow of its own: unless every
// subscriber it goes to (its filter let it through) takes it through a
// stream. An event that goes to none has one, which says so.
func ownWorkflow(recorded []store.SubscriberOf) bool {
	delivered := 0
	for _, sub := range recorded {
		if sub.Outcome == store.OutcomeFiltered {
			continue
		}
		delivered++
		if !sub.Mode.Streamed() {
			return true
		}
	}
	return delivered == 0
}

// workflowEntries reads the steps of every run of the event's workflow.
func (s *Server) workflowEntries(ctx context.Context, id string) ([]timelineEntry, string, error) {
	runs, err := s.runsOf(ctx, workflows.EventWorkflowID(id))
	if err != nil {
		return nil, "", unavailable("cannot read the event's history from Temporal", err)
	}
	entries, note := []timelineEntry{}, ""
	for _, run := range runs {
		es, err := s.runTimeline(ctx, workflows.EventWorkflowID(id), run)
		var gone *serviceerror.NotFound
		if errors.As(err, &gone) {
			note = "Temporal no longer keeps this event's history (past the namespace's retention); the attempt rows remain"
			continue
		}
		if err != nil {
			return nil, "", unavailable("cannot read the event's history from Temporal", err)
		}
		entries = append(entries, es...)
	}
	return entries, note, nil
}

// streamEntries are the steps of the event's deliveries that went through
// their subscribers' streams, from its attempt rows: a stream's history
// holds the steps of thousands of events, and its rows hold this one's.
func (s *Server) streamEntries(ctx context.Context, ev *webhook.Event, recorded []store.SubscriberOf) []timelineEntry {
	var out []timelineEntry
	for _, sub := range recorded {
		if sub.Outcome == store.OutcomeFiltered {
			out = append(out, timelineEntry{Time: ev.CreatedAt, Kind: "filtered", WebhookID: sub.WebhookID,
				Detail: "left out by the subscriber's filter: not delivered"})
			continue
		}
		if !sub.Mode.Streamed() {
			continue
		}
		out = append(out, timelineEntry{Time: ev.CreatedAt, Kind: "streamed", WebhookID: sub.WebhookID,
			Detail: fmt.Sprintf("handed to %s (%s)", workflows.StreamWorkflowID(sub.WebhookID), sub.Mode)})
		rows, _, err := s.store.ListAttempts(ctx, store.AttemptFilter{WebhookID: sub.WebhookID, EventID: ev.EventID, Page: store.Page{Limit: 1000}})
		if err != nil {
			continue // deleted since: its rows went with it
		}
		last := ev.CreatedAt
		for i := len(rows) - 1; i >= 0; i-- {
			e := attemptEntry(rows[i])
			out, last = append(out, e), e.Time
		}
		if sub.Outcome == store.OutcomeCancelled {
			// The rows keep no time for a cancel: it came after the last attempt.
			out = append(out, timelineEntry{Time: last, Kind: "cancelled", WebhookID: sub.WebhookID, Detail: "stopped by a cancel signal"})
		}
	}
	return out
}

func attemptEntry(d *webhook.Attempt) timelineEntry {
	e := timelineEntry{Time: d.CreatedAt, Kind: "attempt", WebhookID: d.WebhookID, Attempt: d.AttemptNumber,
		Status: string(d.Status), Until: d.NextRetryAt, Detail: d.LastError}
	if d.SentAt != nil {
		e.Time = *d.SentAt
	}
	if d.ResponseStatusCode != nil {
		e.StatusCode = *d.ResponseStatusCode
	}
	return e
}

// runsOf lists a workflow's runs, oldest first.
func (s *Server) runsOf(ctx context.Context, workflowID string) ([]string, error) {
	resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", workflowID),
	})
	if err != nil {
		return nil, err
	}
	execs := resp.GetExecutions()
	sort.Slice(execs, func(i, j int) bool { return execs[i].GetStartTime().AsTime().Before(execs[j].GetStartTime().AsTime()) })
	runs := make([]string, len(execs))
	for i, e := range execs {
		runs[i] = e.GetExecution().GetRunId()
	}
	if len(runs) == 0 {
		// Visibility lags a just-started workflow; its latest run still reads.
		runs = []string{""}
	}
	return runs, nil
}

type scheduled struct {
	activity string
	attempt  workflows.AttemptInput
}

func (s *Server) runTimeline(ctx context.Context, workflowID, runID string) ([]timelineEntry, error) {
	it := s.temporal.GetWorkflowHistory(ctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	dc := converter.GetDefaultDataConverter()
	activities := map[int64]scheduled{}
	var out []timelineEntry
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		at := ev.GetEventTime().AsTime()
		e := timelineEntry{Time: at, RunID: runID}
		switch ev.GetEventType() {
		case enums.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			started := describeStart(dc, ev)
			runID = started[0].RunID
			out = append(out, started...)
			continue
		case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			a := ev.GetActivityTaskScheduledEventAttributes()
			sch := scheduled{activity: a.GetActivityType().GetName()}
			fromPayloads(dc, a.GetInput(), &sch.attempt)
			activities[ev.GetEventId()] = sch
			continue
		case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			a := ev.GetActivityTaskCompletedEventAttributes()
			if !describeCompletion(dc, activities[a.GetScheduledEventId()], a.GetResult(), &e) {
				continue
			}
		case enums.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			a := ev.GetActivityTaskFailedEventAttributes()
			sch := activities[a.GetScheduledEventId()]
			e.Kind, e.WebhookID, e.Attempt, e.Detail = "activity_failed", sch.attempt.WebhookID, sch.attempt.Attempt, sch.activity+": "+a.GetFailure().GetMessage()
		case enums.EVENT_TYPE_MARKER_RECORDED:
			if !describeLocalActivity(dc, ev.GetMarkerRecordedEventAttributes(), &e) {
				continue
			}
		default:
			if !describeFlow(dc, ev, &e) {
				continue
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// describeStart is a run's first entries: accepted (or reopened by a
// retry), and for an event recorded with its subscribers, how many.
func describeStart(dc converter.DataConverter, ev *historypb.HistoryEvent) []timelineEntry {
	a := ev.GetWorkflowExecutionStartedEventAttributes()
	at := ev.GetEventTime().AsTime()
	e := timelineEntry{Time: at, RunID: a.GetOriginalExecutionRunId(), Kind: "accepted", Detail: "event workflow started"}
	var in workflows.EventInput
	if fromPayloads(dc, a.GetInput(), &in) && in.Reopened {
		e.Kind, e.Detail = "reopened", "a manual retry reopened the event"
	}
	if !in.Recorded || in.Reopened {
		return []timelineEntry{e}
	}
	return []timelineEntry{e, {Time: at, RunID: e.RunID, Kind: "subscribers",
		Detail: fmt.Sprintf("%d subscribed webhook(s) delivered in this workflow", len(in.Subscribers))}}
}

// describeFlow fills in e for the workflow's own steps (waits, signals,
// updates, its end) and reports whether ev is one the timeline shows.
func describeFlow(dc converter.DataConverter, ev *historypb.HistoryEvent, e *timelineEntry) bool {
	switch ev.GetEventType() {
	case enums.EVENT_TYPE_TIMER_STARTED:
		d := ev.GetTimerStartedEventAttributes().GetStartToFireTimeout().AsDuration()
		until := e.Time.Add(d)
		e.Kind, e.Until, e.Detail = "wait", &until, summary(dc, ev.GetUserMetadata().GetSummary())
	case enums.EVENT_TYPE_TIMER_FIRED:
		e.Kind = "wait_over"
	case enums.EVENT_TYPE_TIMER_CANCELED:
		e.Kind, e.Detail = "wait_cut_short", "a retry or cancel ended the wait early"
	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		a := ev.GetWorkflowExecutionSignaledEventAttributes()
		var sig workflows.WebhookSignal
		fromPayloads(dc, a.GetInput(), &sig)
		e.Kind, e.WebhookID, e.Detail = "signal", sig.WebhookID, a.GetSignalName()
	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
		in := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput()
		var sig workflows.WebhookSignal
		fromPayloads(dc, in.GetArgs(), &sig)
		e.Kind, e.WebhookID, e.Detail = "update", sig.WebhookID, in.GetName()
	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		var res workflows.EventResult
		fromPayloads(dc, ev.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &res)
		e.Kind, e.Status = "finished", res.Status
	case enums.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enums.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enums.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		e.Kind, e.Detail = "ended", ev.GetEventType().String()
	default:
		return false
	}
	return true
}

// describeLocalActivity fills an entry from a local activity's marker: its
// type is in the marker's data, its outcome in its result or failure. An
// attempt's result names its webhook and number, as the marker holds no
// input.
func describeLocalActivity(dc converter.DataConverter, m *historypb.MarkerRecordedEventAttributes, e *timelineEntry) bool {
	var data struct {
		ActivityType string `json:"activityType"`
	}
	if m.GetMarkerName() != "LocalActivity" || !fromPayloads(dc, m.GetDetails()["data"], &data) {
		return false
	}
	sch := scheduled{activity: data.ActivityType}
	var r workflows.AttemptResult
	if fromPayloads(dc, m.GetDetails()["result"], &r) {
		sch.attempt.WebhookID, sch.attempt.Attempt = r.WebhookID, r.Attempt
	}
	if f := m.GetFailure(); f != nil {
		e.Kind, e.WebhookID, e.Attempt, e.Detail = "activity_failed", sch.attempt.WebhookID, sch.attempt.Attempt, sch.activity+": "+f.GetMessage()
		return true
	}
	return describeCompletion(dc, sch, m.GetDetails()["result"], e)
}

// describeCompletion fills an entry for an activity that completed; it
// reports false for those not worth a line.
func describeCompletion(dc converter.DataConverter, sch scheduled, result *commonpb.Payloads, e *timelineEntry) bool {
	switch sch.activity {
	case workflows.ActivityStartEvent.Name:
		var r workflows.StartEventResult
		fromPayloads(dc, result, &r)
		e.Kind, e.Detail = "subscribers", fmt.Sprintf("%d subscribed webhook(s)", len(r.Subscribers))
		return true
	case workflows.ActivityAttempt.Name:
		var r workflows.AttemptResult
		fromPayloads(dc, result, &r)
		e.WebhookID, e.Attempt = sch.attempt.WebhookID, sch.attempt.Attempt
		switch {
		case r.Held:
			e.Kind, e.Detail = "held", r.HeldReason
		case r.RateLimitedUntil != nil:
			e.Kind, e.Until, e.Detail = "rate_limited", r.RateLimitedUntil, "rate limit full; waiting for the next window"
		default:
			e.Kind, e.Status, e.StatusCode, e.Until, e.Detail = "attempt", string(r.Status), r.StatusCode, r.NextRetryAt, r.Error
		}
		return true
	case workflows.ActivityFinishEvent.Name:
		e.Kind = "recorded"
		e.Detail = "every delivery ended; counters recorded"
		return true
	}
	return false
}

func fromPayloads(dc converter.DataConverter, p *commonpb.Payloads, v any) bool {
	return p != nil && dc.FromPayloads(p, v) == nil
}

func summary(dc converter.DataConverter, p *commonpb.Payload) string {
	var s string
	if p != nil {
		_ = dc.FromPayload(p, &s)
	}
	return s
}
