package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
)

// BatchWorkflowName is the registered name of BatchWorkflow.
const BatchWorkflowName = "BatchWorkflow"

// BatchWorkflowID is the one batch collector of a batched integration.
func BatchWorkflowID(webhookID int64) string { return "batch/" + strconv.FormatInt(webhookID, 10) }

// SignalBatchAdd adds an event to a batch; its argument is a BatchItem.
// QueryBatch returns the BatchState.
//
//	temporal workflow query --workflow-id batch/<integration id> --type batch
const (
	SignalBatchAdd = "batch-add"
	QueryBatch     = "batch"
)

// BatchIdle is how long a collector with nothing pending waits for an event
// before it ends; the next event starts it again.
const BatchIdle = time.Hour

// maxRemembered bounds the event ids a collector remembers having batched,
// so that an event handed over twice (a retried hand-over) is batched once.
const maxRemembered = 1000

// batchRunFlushes is how many batches a run sends before it continues as
// new, keeping every history short.
const batchRunFlushes = 100

// BatchItem is one event for a batch, with the integration's batch settings
// as they were when it was handed over (so a config change applies to the
// events after it).
type BatchItem struct {
	EventID        string    `json:"event_id"`
	Size           int       `json:"size"`
	TimeoutSeconds int       `json:"timeout_seconds"`
	AddedAt        time.Time `json:"added_at,omitempty"` // set by the collector
}

// BatchInput starts (or continues) a collector: the events pending and the
// ids recently batched.
type BatchInput struct {
	WebhookID int64       `json:"webhook_id"`
	Pending   []BatchItem `json:"pending,omitempty"`
	Recent    []string    `json:"recent,omitempty"`
	Flushed   int         `json:"flushed,omitempty"`
	// StartFailures, LastError and RetryAt are the collector's failed
	// starts in a row, carried across continue-as-new so the backoff goes
	// on doubling and the integration's health still says why; zero in an
	// input from before they were carried, as in a fresh collector.
	StartFailures int        `json:"start_failures,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	RetryAt       *time.Time `json:"retry_at,omitempty"`
}

// BatchState is QueryBatch's answer.
type BatchState struct {
	Pending []string   `json:"pending"`
	DueAt   *time.Time `json:"due_at"` // when the pending batch goes if it does not fill first
	Flushed int        `json:"flushed"`
	// StartFailures counts the tries in a row whose batch could not be
	// started; LastError says why, and RetryAt when the next try is.
	StartFailures int        `json:"start_failures,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	RetryAt       *time.Time `json:"retry_at,omitempty"`
}

// A batch that cannot be started is tried again after a wait that doubles
// from batchRetryFirst up to batchRetryMax; its events stay pending.
const (
	batchRetryFirst = time.Second
	batchRetryMax   = 5 * time.Minute
)

// BatchWorkflow collects a batched integration's events and sends them as
// one batch when batch_size have arrived or batch_timeout_seconds have
// passed since the first, whichever comes first. Each batch is an event of
// its own, delivered by a child EventWorkflow (so it is retried, recorded and
// retried by hand like any event) that outlives the collector. Pending events
// live in this workflow's history, so a worker restart loses none.
func BatchWorkflow(ctx workflow.Context, in BatchInput) error {
	b := &batcher{in: in, adds: workflow.GetSignalChannel(ctx, SignalBatchAdd), runStart: in.Flushed}
	if err := workflow.SetQueryHandler(ctx, QueryBatch, b.query); err != nil {
		return err
	}
	for {
		b.receive(ctx)
		if len(b.in.Pending) == 0 {
			if ok, _ := workflow.AwaitWithTimeout(ctx, BatchIdle, func() bool { return b.adds.Len() > 0 }); !ok && b.adds.Len() == 0 {
				return nil
			}
			continue
		}
		if !b.full() {
			wait := b.due().Sub(workflow.Now(ctx))
			if wait > 0 {
				timerCtx, cancel := workflow.WithCancel(ctx)
				timer := workflow.NewTimerWithOptions(timerCtx, wait, workflow.TimerOptions{Summary: "batch timeout"})
				_ = workflow.Await(ctx, func() bool { return b.adds.Len() > 0 || timer.IsReady() })
				// Read before cancelling: a cancelled timer is ready too.
				fired := timer.IsReady()
				cancel()
				if !fired {
					continue // more events: look again at size and due time
				}
			}
		}
		if err := b.flush(ctx); err != nil {
			var notStarted *batchNotStarted
			if !errors.As(err, &notStarted) {
				return err
			}
			b.backOff(ctx, notStarted)
			if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
				return workflow.NewContinueAsNewError(ctx, BatchWorkflowName, b.in)
			}
			continue
		}
		if b.in.Flushed-b.runStart >= batchRunFlushes || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			b.receive(ctx)
			return workflow.NewContinueAsNewError(ctx, BatchWorkflowName, b.in)
		}
	}
}

type batcher struct {
	in       BatchInput
	adds     workflow.ReceiveChannel
	runStart int
}

// batchNotStarted is a flush whose batch's workflow could not be started.
type batchNotStarted struct {
	eventID string
	err     error
}

func (e *batchNotStarted) Error() string {
	return fmt.Sprintf("batch %s could not start: %v", e.eventID, e.err)
}

// backOff waits before the next try of a batch that did not start, keeping
// its events (and taking new ones meanwhile): a collector that failed its
// workflow task instead would fail it again on every retry, since the
// failed start is in its history.
func (b *batcher) backOff(ctx workflow.Context, e *batchNotStarted) {
	b.in.StartFailures++
	b.in.LastError = e.Error()
	wait := min(batchRetryFirst<<min(b.in.StartFailures-1, 20), batchRetryMax)
	at := workflow.Now(ctx).Add(wait)
	b.in.RetryAt = &at
	workflow.GetLogger(ctx).Warn("batch not started; trying again", "error", b.in.LastError, "failures", b.in.StartFailures, "retry_in", wait)
	_ = workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: "batch start: try again"}).Get(ctx, nil)
	b.receive(ctx)
}

// receive takes every event signalled so far, dropping ones already pending
// or batched.
func (b *batcher) receive(ctx workflow.Context) {
	var item BatchItem
	for b.adds.ReceiveAsync(&item) {
		if slices.Contains(b.in.Recent, item.EventID) || slices.ContainsFunc(b.in.Pending, func(p BatchItem) bool { return p.EventID == item.EventID }) {
			continue
		}
		item.AddedAt = workflow.Now(ctx)
		b.in.Pending = append(b.in.Pending, item)
	}
}

// size is the newest item's batch size: the integration's config as last
// read.
func (b *batcher) size() int { return max(b.in.Pending[len(b.in.Pending)-1].Size, 1) }

func (b *batcher) full() bool { return len(b.in.Pending) >= b.size() }

// due is when the pending batch goes if it does not fill: its first event's
// timeout after that event came, as configured when it came.
func (b *batcher) due() time.Time {
	first := b.in.Pending[0]
	return first.AddedAt.Add(time.Duration(max(first.TimeoutSeconds, 1)) * time.Second)
}

// flush sends up to a batch's size of the pending events as one batch event,
// and returns once its delivery workflow has started.
func (b *batcher) flush(ctx workflow.Context) error {
	n := min(b.size(), len(b.in.Pending))
	ids := make([]string, n)
	for i, it := range b.in.Pending[:n] {
		ids[i] = it.EventID
	}
	payload, err := json.Marshal(webhook.BatchPayload{IntegrationID: b.in.WebhookID, EventIDs: ids})
	if err != nil {
		return err
	}
	ev := webhook.Event{
		EventID: BatchEventID(b.in.WebhookID, workflow.GetInfo(ctx).WorkflowExecution.RunID, b.in.Flushed+1), EventType: webhook.BatchEventType,
		Source: "herald", SourceID: BatchWorkflowID(b.in.WebhookID), Payload: payload, CreatedAt: workflow.Now(ctx).UTC(),
	}
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            EventWorkflowID(ev.EventID),
		TaskQueue:             TaskQueue,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		TypedSearchAttributes: StartAttributes(&ev, b.in.WebhookID),
		StaticSummary:         fmt.Sprintf("batch of %d events for integration %d", n, b.in.WebhookID),
	})
	child := workflow.ExecuteChildWorkflow(cctx, EventWorkflowName, EventInput{Event: ev, Batch: &BatchDelivery{WebhookID: b.in.WebhookID}})
	var started workflow.Execution
	if err := child.GetChildWorkflowExecution().Get(ctx, &started); err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return &batchNotStarted{eventID: ev.EventID, err: err}
	}
	b.in.StartFailures, b.in.LastError, b.in.RetryAt = 0, "", nil
	b.in.Pending = slices.Delete(b.in.Pending, 0, n)
	b.in.Recent = append(b.in.Recent, ids...)
	b.in.Recent = b.in.Recent[max(len(b.in.Recent)-maxRemembered, 0):]
	b.in.Flushed++
	return nil
}

func (b *batcher) query() (BatchState, error) {
	st := BatchState{Pending: []string{}, Flushed: b.in.Flushed, StartFailures: b.in.StartFailures, LastError: b.in.LastError, RetryAt: b.in.RetryAt}
	for _, it := range b.in.Pending {
		st.Pending = append(st.Pending, it.EventID)
	}
	if len(b.in.Pending) > 0 {
		due := b.due()
		st.DueAt = &due
	}
	return st, nil
}

// BatchEventID names a batch: its integration, the collector run that sent
// it and its number in the collector's count, unique by construction. The
// herald- prefix is reserved: publishers cannot use it.
func BatchEventID(webhookID int64, runID string, n int) string {
	return fmt.Sprintf("herald-batch-%d-%s-%d", webhookID, runID, n)
}
