package main

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
)

// The naive Temporal design: one workflow per event, one plain activity per
// delivery whose retry policy is the webhook's schedule. No store, no
// records of attempts, no signals, no search attributes: what Herald
// would be with the least code on the same server.
const (
	naiveQueue        = "herald-bench-naive"
	naiveWorkflowName = "NaiveEvent"
	naiveActivityName = "NaiveDeliver"
)

type naiveInput struct {
	Event webhook.Event
	URLs  []string
}

type naiveDelivery struct {
	URL   string
	Event webhook.Event
}

func naiveWorkflow(ctx workflow.Context, in naiveInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: retryDelay, BackoffCoefficient: 1, MaximumAttempts: maxAttempts},
	})
	futures := make([]workflow.Future, len(in.URLs))
	for i, u := range in.URLs {
		futures[i] = workflow.ExecuteActivity(ctx, naiveActivityName, naiveDelivery{URL: u, Event: in.Event})
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// naiveSystem runs the naive design on its own task queue and client, on
// the same embedded server as Herald.
type naiveSystem struct {
	*baseline
	client client.Client
	worker sdkworker.Worker
}

func startNaive(ctx context.Context, address string, log *slog.Logger) (*naiveSystem, error) {
	n := &naiveSystem{}
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: "default", Logger: sdklog.NewStructuredLogger(log)})
	if err != nil {
		return nil, err
	}
	n.client = c
	n.worker = sdkworker.New(c, naiveQueue, sdkworker.Options{MaxConcurrentActivityExecutionSize: workerSlots})
	n.worker.RegisterWorkflowWithOptions(naiveWorkflow, workflow.RegisterOptions{Name: naiveWorkflowName})
	n.worker.RegisterActivityWithOptions(n.deliver, activity.RegisterOptions{Name: naiveActivityName})
	if err := n.worker.Start(); err != nil {
		c.Close()
		return nil, err
	}
	if n.baseline, err = startBaseline(n.accept); err != nil {
		n.worker.Stop()
		c.Close()
		return nil, err
	}
	return n, nil
}

func (n *naiveSystem) close() {
	n.baseline.close()
	n.worker.Stop()
	n.client.Close()
}

func (n *naiveSystem) name() string  { return "naive" }
func (n *naiveSystem) label() string { return "Naive Temporal" }

// accept answers once Temporal holds the workflow, as Herald does.
func (n *naiveSystem) accept(ctx context.Context, ev *webhook.Event, hooks []*hook) error {
	urls := make([]string, len(hooks))
	for i, h := range hooks {
		urls[i] = h.url
	}
	_, err := n.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "naive/" + ev.EventID, TaskQueue: naiveQueue},
		naiveWorkflowName, naiveInput{Event: *ev, URLs: urls})
	return err
}

func (n *naiveSystem) deliver(ctx context.Context, d naiveDelivery) error {
	h := n.hookAt(d.URL)
	if h == nil {
		return temporal.NewNonRetryableApplicationError("no such subscriber", "gone", nil)
	}
	body, err := d.Event.Body()
	if err != nil {
		return err
	}
	return n.post.send(ctx, d.URL, h.secret, &d.Event, body, int(activity.GetInfo(ctx).Attempt))
}

func (n *naiveSystem) settle(ctx context.Context) error {
	return noneRunning(ctx, n.client, naiveWorkflowName)
}

func (n *naiveSystem) history(ctx context.Context, eventID string) (map[string]int, error) {
	return countHistory(ctx, n.client, "naive/"+eventID)
}
