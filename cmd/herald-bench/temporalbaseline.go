package main

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
)

// The baselines on Temporal (naive, ceiling) share their workflow's input,
// their delivery and their plumbing; they differ in how the workflow runs
// its deliveries and in how it is started.

// eventInput is a baseline workflow's input: the event and where it goes.
type eventInput struct {
	Event webhook.Event
	URLs  []string
}

// deliveryInput is one delivery, the input of a baseline's activity.
type deliveryInput struct {
	URL   string
	Event webhook.Event
}

// deliverAll starts the event's deliveries at once, each an activity of
// the given name that start runs (workflow.ExecuteActivity or
// ExecuteLocalActivity), and waits for them all.
func deliverAll(ctx workflow.Context, in eventInput, start func(workflow.Context, any, ...any) workflow.Future, activityName string) error {
	futures := make([]workflow.Future, len(in.URLs))
	for i, u := range in.URLs {
		futures[i] = start(ctx, activityName, deliveryInput{URL: u, Event: in.Event})
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// temporalSpec is what sets one Temporal baseline apart.
type temporalSpec struct {
	name         string // the system's
	queue        string // its own task queue
	workflowName string
	workflow     func(workflow.Context, eventInput) error
	activityName string
	// eager starts each workflow with eager workflow start: its first task
	// comes back in the start call's answer, to this baseline's worker.
	eager bool
}

// temporalBaseline runs a baseline workflow on its own task queue and
// client, on the same embedded server as Herald. The worker is made from
// the client that starts the workflows: eager start hands tasks only to a
// worker of the starting client.
type temporalBaseline struct {
	*baseline
	spec   temporalSpec
	client client.Client
	worker sdkworker.Worker
}

func startTemporalBaseline(ctx context.Context, address string, log *slog.Logger, spec temporalSpec) (*temporalBaseline, error) {
	t := &temporalBaseline{spec: spec}
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: "default", Logger: sdklog.NewStructuredLogger(log),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: worker.Compression(address)}})
	if err != nil {
		return nil, err
	}
	t.client = c
	t.worker = sdkworker.New(c, spec.queue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize: workerSlots, MaxConcurrentLocalActivityExecutionSize: workerSlots})
	t.worker.RegisterWorkflowWithOptions(spec.workflow, workflow.RegisterOptions{Name: spec.workflowName})
	t.worker.RegisterActivityWithOptions(t.deliver, activity.RegisterOptions{Name: spec.activityName})
	if err := t.worker.Start(); err != nil {
		c.Close()
		return nil, err
	}
	if t.baseline, err = startBaseline(t.accept); err != nil {
		t.worker.Stop()
		c.Close()
		return nil, err
	}
	return t, nil
}

func (t *temporalBaseline) close() {
	t.baseline.close()
	t.worker.Stop()
	t.client.Close()
}

func (t *temporalBaseline) name() string { return t.spec.name }

func (t *temporalBaseline) workflowID(eventID string) string { return t.spec.name + "/" + eventID }

// accept answers once Temporal holds the workflow, as Herald does.
func (t *temporalBaseline) accept(ctx context.Context, ev *webhook.Event, hooks []*hook) error {
	urls := make([]string, len(hooks))
	for i, h := range hooks {
		urls[i] = h.url
	}
	_, err := t.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: t.workflowID(ev.EventID), TaskQueue: t.spec.queue,
		EnableEagerStart: t.spec.eager}, t.spec.workflowName, eventInput{Event: *ev, URLs: urls})
	return err
}

// deliver is one attempt: the signed body POSTed, nothing recorded.
func (t *temporalBaseline) deliver(ctx context.Context, d deliveryInput) error {
	h := t.hookAt(d.URL)
	if h == nil {
		return temporal.NewNonRetryableApplicationError("no such subscriber", "gone", nil)
	}
	body, err := d.Event.Body()
	if err != nil {
		return err
	}
	return t.post.send(ctx, d.URL, h.secret, &d.Event, body, int(activity.GetInfo(ctx).Attempt))
}

func (t *temporalBaseline) settle(ctx context.Context) error {
	return noneRunning(ctx, t.client, t.spec.workflowName)
}

func (t *temporalBaseline) history(ctx context.Context, eventID string) (map[string]int, error) {
	return countHistory(ctx, t.client, t.workflowID(eventID))
}

// deliveryRetry is the webhooks' schedule (fixed 1 s, 5 retries) as a
// Temporal retry policy.
var deliveryRetry = &temporal.RetryPolicy{InitialInterval: retryDelay, BackoffCoefficient: 1, MaximumAttempts: maxAttempts}
