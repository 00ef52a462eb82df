package api

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// operateStore is what bulk retries and the failed-event list read.
type operateStore interface {
	FailedEvents(ctx context.Context, webhookID int64, since time.Time) ([]string, error)
	GetEvent(ctx context.Context, eventID string) (*webhook.Event, error)
	LatestAttempts(ctx context.Context, eventID string) ([]*webhook.Attempt, error)
	NextRetries(ctx context.Context, webhookID int64, eventIDs []string) (map[string]time.Time, error)
	StillFailed(ctx context.Context, eventID string, webhookID int64) (bool, error)
}

// retryAnswer says what a retry did and where the delivery stands now.
type retryAnswer struct {
	EventID   string                   `json:"event_id"`
	WebhookID int64                    `json:"webhook_id"`
	Action    string                   `json:"action"` // "signalled" (its workflow runs), "reopened" (it had closed) or "cancelled"
	State     *workflows.DeliveryState `json:"state"`
}

// retryDelivery retries one delivery. A delivery waiting for its next
// attempt goes now; one that failed for good starts over with the webhook's
// retry schedule, in its event's workflow (reopened if it had closed) or its
// subscriber's stream. The workflow answers where the delivery stands.
func (s *Server) retryDelivery(c *fiber.Ctx) error {
	w, d, err := s.liveDeliveryFromPath(c, "send another test instead")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if w.Status != webhook.StatusActive {
		return webhook.Errorf(webhook.EConflict, "webhook %d is %s; set it active first (its held deliveries then go by themselves)", w.ID, w.Status)
	}
	latest, err := s.latestAttempt(ctx, d.EventID, w.ID)
	if err != nil {
		return err
	}
	if latest.Status == webhook.AttemptDelivered {
		return webhook.Errorf(webhook.EConflict, "event %s was already delivered to webhook %d (delivery %d)", d.EventID, w.ID, latest.ID)
	}
	ev, err := s.store.GetEvent(ctx, d.EventID)
	if err != nil {
		return err
	}
	streamed, err := s.streamed(ctx, ev.EventID, w.ID)
	if err != nil {
		return err
	}
	var got workflows.DeliveryAnswer
	if streamed {
		got, err = s.retryInStream(ctx, ev.EventID, w.ID)
	} else {
		got, err = s.retryInEvent(ctx, ev, w.ID)
	}
	if err != nil {
		return err
	}
	ans := retryAnswer{EventID: ev.EventID, WebhookID: w.ID, Action: "signalled", State: got.State}
	if got.Reopened {
		ans.Action = "reopened"
	}
	if ans.State == nil {
		ans.State = s.endedState(ctx, ev.EventID, w.ID)
	}
	return c.Status(fiber.StatusAccepted).JSON(ans)
}

// cancelDelivery stops a delivery that has not ended — waiting for its
// retry, held by a pause or a rate limit — in the workflow delivering it: no
// further attempt is made and its latest attempt row is marked failed. One
// whose attempt is in flight stops after it. A retry starts it over later.
func (s *Server) cancelDelivery(c *fiber.Ctx) error {
	w, d, err := s.liveDeliveryFromPath(c, "it is never retried")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	streamed, err := s.streamed(ctx, d.EventID, w.ID)
	if err != nil {
		return err
	}
	got, err := s.cancelIn(ctx, d.EventID, w.ID, streamed)
	if err != nil {
		return err
	}
	ans := retryAnswer{EventID: d.EventID, WebhookID: w.ID, Action: "cancelled", State: got.State}
	return c.Status(fiber.StatusAccepted).JSON(ans)
}

// liveDeliveryFromPath is deliveryFromPath for retry and cancel, which
// refuse a test delivery: no workflow delivers it. The refusal ends with
// rest, the handler's own advice.
func (s *Server) liveDeliveryFromPath(c *fiber.Ctx, rest string) (*webhook.Webhook, *webhook.Attempt, error) {
	w, d, err := s.deliveryFromPath(c)
	if err != nil {
		return nil, nil, err
	}
	if d.IsTest {
		return nil, nil, webhook.Errorf(webhook.EConflict, "delivery %d is a test delivery; %s", d.ID, rest)
	}
	return w, d, nil
}

func (s *Server) latestAttempt(ctx context.Context, eventID string, webhookID int64) (*webhook.Attempt, error) {
	ds, err := s.store.LatestAttempts(ctx, eventID)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if d.WebhookID == webhookID {
			return d, nil
		}
	}
	return nil, webhook.Errorf(webhook.ENotFound, "event %s has no attempt to webhook %d", eventID, webhookID)
}

// running reports whether the event's workflow is running now.
func (s *Server) running(ctx context.Context, eventID string) bool {
	desc, err := s.temporal.DescribeWorkflowExecution(ctx, workflows.EventWorkflowID(eventID), "")
	return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// redeliver sends the retry signal for one webhook to an event's workflow,
// starting a new run of it when it has closed.
func (s *Server) redeliver(ctx context.Context, ev *webhook.Event, webhookID int64) error {
	opts := reopening(ev, webhookID)
	_, err := s.temporal.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalRetry, workflows.WebhookSignal{WebhookID: webhookID},
		opts, workflows.EventWorkflowName, workflows.EventInput{Event: *ev, Reopened: true})
	if err != nil {
		return unavailable("cannot signal the event's workflow", err)
	}
	return nil
}

// retryFailed retries every delivery of a webhook that failed for good in
// the window (at most limit, default and cap 1000, oldest first). One
// already started over is skipped, so a repeated call while they run
// retries nothing twice and says so.
func (s *Server) retryFailed(c *fiber.Ctx) error {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	hours, err := intQuery(c, "max_age_hours", 24, 1, 24*90)
	if err != nil {
		return err
	}
	limit, err := intQuery(c, "limit", maxBulkRetry, 1, maxBulkRetry)
	if err != nil {
		return err
	}
	if w.Status != webhook.StatusActive {
		return webhook.Errorf(webhook.EConflict, "webhook %d is %s; set it active first", w.ID, w.Status)
	}
	ctx := c.UserContext()
	ids, err := s.store.FailedEvents(ctx, w.ID, s.cfg.Now().Add(-time.Duration(hours)*time.Hour))
	if err != nil {
		return err
	}
	retried, underWay := 0, 0
	for _, id := range ids {
		if retried == limit {
			break
		}
		streamed, err := s.streamed(ctx, id, w.ID)
		if err != nil {
			return err
		}
		if (streamed || s.running(ctx, id)) && s.deliveringAgain(ctx, id, w.ID) {
			underWay++
			continue
		}
		// A retry made a moment ago (by the last call) may have delivered
		// and closed its run since the list was read; do not reopen it.
		failed, err := s.store.StillFailed(ctx, id, w.ID)
		if err != nil {
			return err
		}
		if !failed {
			underWay++
			continue
		}
		if streamed {
			err = s.signalStream(ctx, w.ID, workflows.SignalRetry, workflows.EventSignal{EventID: id})
		} else {
			err = s.redeliverEvent(ctx, id, w.ID)
		}
		if err != nil {
			return err
		}
		retried++
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"retried": retried, "already_under_way": underWay,
		"remaining": len(ids) - retried - underWay, "webhook_id": w.ID, "max_age_hours": hours})
}

const maxBulkRetry = 1000

func (s *Server) redeliverEvent(ctx context.Context, eventID string, webhookID int64) error {
	ev, err := s.store.GetEvent(ctx, eventID)
	if err != nil {
		return err
	}
	return s.redeliver(ctx, ev, webhookID)
}

// deliveringAgain reports whether a running event workflow is delivering to
// the webhook again (started over, waiting for its slot or a resume).
func (s *Server) deliveringAgain(ctx context.Context, eventID string, webhookID int64) bool {
	st, err := s.liveState(ctx, eventID, webhookID)
	return err == nil && st != nil && st.State != workflows.LoopFailed
}

// releaseHeld signals every running event workflow that delivers to the
// webhook to resume, in the order its held deliveries fell due: a retry at
// its planned time, a first attempt when its event arrived. Deliveries the
// signal misses look again within workflows.HoldPoll by themselves.
func (s *Server) releaseHeld(ctx context.Context, webhookID int64) (int, error) {
	runs, err := s.runningFor(ctx, webhookID)
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = strings.TrimPrefix(r.id, workflows.EventWorkflowID(""))
	}
	retries, err := s.store.NextRetries(ctx, webhookID, ids)
	if err != nil {
		return 0, err
	}
	orderByDue(runs, retries)
	released := len(runs)
	if ok, err := s.resumeStream(ctx, webhookID); err != nil {
		return 0, err
	} else if ok {
		released++
	}
	for _, r := range runs {
		err := s.temporal.SignalWorkflow(ctx, r.id, "", workflows.SignalResume, workflows.WebhookSignal{WebhookID: webhookID})
		var done *serviceerror.NotFound
		if err != nil && !errors.As(err, &done) { // a run that ended meanwhile holds nothing
			return 0, err
		}
	}
	return released, nil
}

type heldRun struct {
	id  string
	due time.Time // when its delivery to the webhook fell due; its start until known better
}

// orderByDue sorts held runs by when their delivery fell due: the planned
// retry time its latest attempt recorded (by event id), else the event's
// start.
func orderByDue(runs []heldRun, nextRetry map[string]time.Time) {
	for i := range runs {
		if at, ok := nextRetry[strings.TrimPrefix(runs[i].id, workflows.EventWorkflowID(""))]; ok {
			runs[i].due = at
		}
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].due.Before(runs[j].due) })
}

// runningFor lists the running event workflows that may deliver to the
// webhook: those naming it, and those with too many subscribers to name
// them all (a resume signal to a workflow not delivering to it is a no-op).
func (s *Server) runningFor(ctx context.Context, webhookID int64) ([]heldRun, error) {
	query := fmt.Sprintf(`%s IN ('%d', '%s') AND ExecutionStatus = 'Running' AND WorkflowType = '%s'`,
		workflows.SearchWebhookIDs.GetName(), webhookID, workflows.ManySubscribers, workflows.EventWorkflowName)
	var runs []heldRun
	var token []byte
	for {
		resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			runs = append(runs, heldRun{e.GetExecution().GetWorkflowId(), e.GetStartTime().AsTime()})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return runs, nil
		}
	}
}
