package activities

import (
	"context"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// batchStore is what a batch's activities keep.
type batchStore interface {
	CreateEvent(ctx context.Context, e *webhook.Event) (bool, error)
	GetWebhook(ctx context.Context, id int64) (*webhook.Webhook, error)
	SetSubscribers(ctx context.Context, eventID string, perEvent, batched []int64) error
	EventSubscribers(ctx context.Context, eventIDs []string) (map[string][]store.SubscriberOf, error)
}

// AddToBatch hands an event to its integration's batch collector, starting
// the collector if it is not running. The batch settings are read now, so a
// changed batch_size applies from the next event on; an integration that
// stopped batching since the event started gets it in a batch of one (the
// event was counted as batched when it started).
func (a *Activities) AddToBatch(ctx context.Context, in workflows.AddToBatchInput) error {
	w, err := a.Store.GetWebhook(ctx, in.WebhookID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return temporal.NewNonRetryableApplicationError("integration was deleted", workflows.ErrWebhookGone, err)
	}
	if err != nil {
		return err
	}
	item := workflows.BatchItem{EventID: in.EventID, Size: 1, TimeoutSeconds: 1}
	if w.Integration != nil {
		c, err := integrations.Parse(w.Integration)
		if err != nil {
			return err
		}
		if size, timeout, ok := c.Batch(); ok {
			item.Size, item.TimeoutSeconds = size, timeout
		}
	}
	_, err = a.Temporal.SignalWithStartWorkflow(ctx, workflows.BatchWorkflowID(w.ID), workflows.SignalBatchAdd, item,
		client.StartWorkflowOptions{
			TaskQueue:     workflows.TaskQueue,
			StaticSummary: "batch collector of integration " + w.Name,
		}, workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: w.ID})
	if err != nil {
		return err
	}
	a.Logger.DebugContext(ctx, "event added to batch", "event_id", in.EventID, "webhook_id", w.ID, "batch_size", item.Size)
	return nil
}

// StartBatch records a batch event and returns its one subscriber, the
// integration it was collected for (none if it was deleted since).
func (a *Activities) StartBatch(ctx context.Context, in workflows.StartBatchInput) (workflows.StartEventResult, error) {
	if _, err := a.Store.CreateEvent(ctx, &in.Event); err != nil {
		return workflows.StartEventResult{}, err
	}
	hooks, err := a.snapshot(ctx, in.Event.EventID, func() ([]*webhook.Webhook, error) {
		w, err := a.Store.GetWebhook(ctx, in.WebhookID)
		if webhook.ErrorCode(err) == webhook.ENotFound {
			return nil, nil
		}
		return []*webhook.Webhook{w}, err
	})
	if err != nil {
		return workflows.StartEventResult{}, err
	}
	if len(hooks) == 0 {
		return workflows.StartEventResult{}, a.Store.SetSubscribers(ctx, in.Event.EventID, nil, nil)
	}
	w := hooks[0]
	if err := a.Store.SetSubscribers(ctx, in.Event.EventID, []int64{w.ID}, nil); err != nil {
		return workflows.StartEventResult{}, err
	}
	// The batch itself goes to the integration directly, in its event's
	// own workflow.
	sub := workflows.SubscriberOf(w, 1)
	sub.Batched, sub.Mode = false, ""
	return workflows.StartEventResult{Subscribers: []workflows.Subscriber{sub}}, nil
}
