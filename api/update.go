package api

import (
	"context"
	"errors"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// The API's retry and cancel of one delivery are Workflow Updates: the
// workflow delivering it (its event's, or its subscriber's stream) does what
// was asked and answers where the delivery stands, in one round trip. A
// retry starts that workflow if it has closed (update-with-start).

// retryInEvent retries a webhook's delivery in its event's workflow,
// reopening the event if its workflow had closed.
func (s *Server) retryInEvent(ctx context.Context, ev *webhook.Event, webhookID int64) (workflows.DeliveryAnswer, error) {
	opts := reopening(ev, webhookID)
	opts.WorkflowIDConflictPolicy = enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	start := s.temporal.NewWithStartWorkflowOperation(opts, workflows.EventWorkflowName, workflows.EventInput{Event: *ev, Reopened: true})
	return s.updateWithStart(ctx, start, opts.ID, workflows.UpdateRetry, workflows.WebhookSignal{WebhookID: webhookID})
}

// retryInStream retries a delivery in its subscriber's stream, starting the
// stream if it has ended.
func (s *Server) retryInStream(ctx context.Context, eventID string, webhookID int64) (workflows.DeliveryAnswer, error) {
	opts := streamStart(webhookID)
	opts.WorkflowIDConflictPolicy = enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	start := s.temporal.NewWithStartWorkflowOperation(opts, workflows.StreamWorkflowName, workflows.StreamInput{WebhookID: webhookID})
	return s.updateWithStart(ctx, start, opts.ID, workflows.UpdateRetry, workflows.EventSignal{EventID: eventID})
}

// reopening starts an event's workflow again, a new run on its ID, for a
// retry of one webhook's delivery (by update or signal).
func reopening(ev *webhook.Event, webhookID int64) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    workflows.EventWorkflowID(ev.EventID),
		TaskQueue:             workflows.TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: workflows.StartAttributes(ev, webhookID),
	}
}

// streamStart starts a subscriber's stream that is not running.
func streamStart(webhookID int64) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                    workflows.StreamWorkflowID(webhookID),
		TaskQueue:             workflows.TaskQueue,
		TypedSearchAttributes: workflows.StreamAttributes(workflows.Subscriber{WebhookID: webhookID}),
	}
}

// cancelIn cancels a delivery in the workflow delivering it: its stream's
// when streamed, else its event's.
func (s *Server) cancelIn(ctx context.Context, eventID string, webhookID int64, streamed bool) (workflows.DeliveryAnswer, error) {
	opts := client.UpdateWorkflowOptions{WorkflowID: workflows.EventWorkflowID(eventID), UpdateName: workflows.UpdateCancel,
		Args: []any{workflows.WebhookSignal{WebhookID: webhookID}}, WaitForStage: client.WorkflowUpdateStageCompleted}
	if streamed {
		opts.WorkflowID, opts.Args = workflows.StreamWorkflowID(webhookID), []any{workflows.EventSignal{EventID: eventID}}
	}
	h, err := s.temporal.UpdateWorkflow(ctx, opts)
	var notRunning *serviceerror.NotFound
	if errors.As(err, &notRunning) {
		return workflows.DeliveryAnswer{}, webhook.Errorf(webhook.EConflict,
			"the delivery of event %s to webhook %d has ended; there is nothing to cancel", eventID, webhookID)
	}
	return answerOf(ctx, h, err)
}

func (s *Server) updateWithStart(ctx context.Context, start client.WithStartWorkflowOperation, id, name string, arg any) (workflows.DeliveryAnswer, error) {
	h, err := s.temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name, Args: []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	return answerOf(ctx, h, err)
}

// answerOf waits for an update's answer: a rejection is the caller's
// conflict, anything else Temporal's unavailability.
func answerOf(ctx context.Context, h client.WorkflowUpdateHandle, err error) (workflows.DeliveryAnswer, error) {
	var ans workflows.DeliveryAnswer
	if err == nil {
		err = h.Get(ctx, &ans)
	}
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return ans, nil
	case errors.As(err, &app) && app.Type() == workflows.ErrNothingToCancel:
		return ans, webhook.Errorf(webhook.EConflict, "%s", app.Message())
	}
	return ans, unavailable("cannot reach the workflow delivering it", err)
}
