// Package ingest accepts events: it records each once, keyed by its event
// id, and makes sure its delivery workflow exists. The API publishes what
// LOKI sends; Herald publishes its own system.error events the same way.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// Publisher accepts events.
type Publisher struct {
	Store    *store.Store
	Temporal client.Client
	// StartTimeout bounds handing an event to Temporal (default 10 s).
	StartTimeout time.Duration
	Logger       *slog.Logger
	// EagerStart asks Temporal to hand the workflow's first task back in
	// the start call, to a worker on the same client; Temporal falls back
	// to the task queue when there is none with room.
	EagerStart bool
}

// Publish accepts an event: the first time its event_id is seen it is
// recorded and its workflow started (created is true); a repeat of the same
// event returns the first one (created false); a different event under a
// used id is an EConflict. When Publish returns without error Temporal holds
// the workflow, so the event cannot be lost. On EUnavailable nothing was
// accepted and the same event may be published again.
func (p *Publisher) Publish(ctx context.Context, ev *webhook.Event) (accepted *webhook.Event, created bool, err error) {
	created, err = p.Store.CreateEvent(ctx, ev)
	if err != nil {
		return nil, false, unavailable(ev, "cannot record the event", err)
	}
	if !created {
		prior, err := p.Store.GetEvent(ctx, ev.EventID)
		if err != nil {
			return nil, false, err
		}
		if !Same(prior, ev) {
			return nil, false, webhook.Errorf(webhook.EConflict, "event_id %q was already used for a different event", ev.EventID)
		}
		ev = prior
		if ran(prior) {
			// Its workflow fanned it out already. Temporal forgets closed
			// workflows after the namespace's retention, so a start now
			// could succeed and deliver the event a second time.
			return ev, false, nil
		}
	}
	if err := p.start(ctx, ev); err != nil {
		if created {
			// Undo, so the row does not claim an event nobody will deliver.
			if derr := p.Store.DeleteEvent(context.WithoutCancel(ctx), ev.EventID); derr != nil && p.Logger != nil {
				p.Logger.Error("cannot remove an event Temporal refused", "event_id", ev.EventID, "error", derr)
			}
		}
		return nil, false, err
	}
	return ev, created, nil
}

// start makes sure the event's workflow exists. A start whose answer was lost
// may still have happened, so a failure is checked against Temporal before
// it is reported.
func (p *Publisher) start(ctx context.Context, ev *webhook.Event) error {
	timeout := p.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	id := workflows.EventWorkflowID(ev.EventID)
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := p.Temporal.ExecuteWorkflow(startCtx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    workflows.StartAttributes(ev),
		EnableEagerStart:                         p.EagerStart,
	}, workflows.EventWorkflowName, workflows.EventInput{Event: *ev})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err == nil || errors.As(err, &started) {
		return nil
	}
	descCtx, cancelDesc := context.WithTimeout(ctx, timeout)
	defer cancelDesc()
	if _, derr := p.Temporal.DescribeWorkflowExecution(descCtx, id, ""); derr == nil {
		return nil
	}
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		return fmt.Errorf("temporal refused event %s: %w", ev.EventID, err) // a fault of ours, not the caller's
	}
	return unavailable(ev, "cannot hand the event to Temporal", err)
}

// ran says an event's workflow has run: it recorded the event's
// subscribers, or finished (with none). Until then a repeat publish makes
// sure the workflow exists, for an earlier accept that failed half-way.
func ran(ev *webhook.Event) bool {
	return ev.TotalDeliveries > 0 || ev.ProcessedAt != nil
}

func unavailable(ev *webhook.Event, what string, err error) error {
	return &webhook.Error{Code: webhook.EUnavailable,
		Message: fmt.Sprintf("%s, so it was not accepted (%v); retry with the same event_id", what, err),
		Details: map[string]string{"event_id": ev.EventID}}
}

// Same tells a repeated publish from a different event under a used id.
func Same(a, b *webhook.Event) bool {
	return a.EventType == b.EventType && a.Source == b.Source && a.SourceID == b.SourceID && bytes.Equal(a.Payload, b.Payload)
}
