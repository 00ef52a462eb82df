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
	"sync"
	"time"

	"github.com/google/uuid"
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

	slotsOnce sync.Once
	slots     chan struct{} // batch starts in flight (startsInFlight)
}

// Publish accepts an event: the first time its event_id is seen it is
// recorded and its workflow started (created is true); a repeat of the same
// event returns the first one (created false); a different event under a
// used id is an EConflict. When Publish returns without error Temporal holds
// the workflow, so the event cannot be lost. On EUnavailable nothing was
// accepted and the same event may be published again.
func (p *Publisher) Publish(ctx context.Context, ev *webhook.Event) (accepted *webhook.Event, created bool, err error) {
	news, priors, err := p.Store.CreateEvents(ctx, []*webhook.Event{ev}, sameOrConflict)
	if webhook.ErrorCode(err) == webhook.EConflict {
		return nil, false, err
	}
	if err != nil {
		return nil, false, unavailable(ev, "cannot record the event", err)
	}
	if created = news[0]; !created {
		ev = priors[ev.EventID]
		if ran(ev) {
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

// Published is one event of a published batch: as accepted, and whether
// it was new.
type Published struct {
	Event   *webhook.Event
	Created bool
}

// PublishBatch accepts events together: they are recorded in one
// transaction and handed to Temporal with one workflow start, an
// IngestWorkflow that starts each event's own workflow. When it returns
// without error Temporal holds that workflow, so no event of the batch can
// be lost. It is all or nothing: a used event_id of a different event is an
// EConflict and records nothing; on EUnavailable nothing was accepted and
// the same batch may be published again. Repeats of events already
// accepted count as in Publish.
func (p *Publisher) PublishBatch(ctx context.Context, evs []*webhook.Event) ([]Published, error) {
	created, priors, err := p.Store.CreateEvents(ctx, evs, sameOrConflict)
	if webhook.ErrorCode(err) == webhook.EConflict {
		return nil, err
	}
	if err != nil {
		return nil, &webhook.Error{Code: webhook.EUnavailable,
			Message: fmt.Sprintf("cannot record the events, so none was accepted (%v); retry with the same event_ids", err)}
	}
	out := make([]Published, len(evs))
	var fresh []string
	for i, ev := range evs {
		if !created[i] {
			ev = priors[ev.EventID]
		}
		out[i] = Published{Event: ev, Created: created[i]}
		if created[i] {
			fresh = append(fresh, ev.EventID)
		}
	}
	err = p.startRepeats(ctx, out)
	if err == nil && len(fresh) > 0 {
		err = p.startBatch(ctx, fresh)
	}
	if err != nil {
		if derr := p.Store.DeleteEvents(context.WithoutCancel(ctx), fresh); derr != nil && p.Logger != nil {
			p.Logger.Error("cannot remove events Temporal refused", "events", len(fresh), "error", derr)
		}
		return nil, err
	}
	return out, nil
}

// startRepeats makes sure the workflows of repeated events whose workflow
// has not run exist, here and with the events themselves: the publish that
// recorded one may still fail and remove its row, which an IngestWorkflow
// reading rows would then skip.
func (p *Publisher) startRepeats(ctx context.Context, published []Published) error {
	for _, pub := range published {
		if pub.Created || ran(pub.Event) {
			continue
		}
		if err := p.start(ctx, pub.Event); err != nil {
			return err
		}
	}
	return nil
}

// startBatch starts the IngestWorkflow of a batch, checking a failure
// against Temporal as start does.
func (p *Publisher) startBatch(ctx context.Context, eventIDs []string) error {
	id := workflows.IngestWorkflowID(uuid.Must(uuid.NewV7()).String())
	startCtx, cancel := context.WithTimeout(ctx, p.startTimeout())
	defer cancel()
	_, err := p.Temporal.ExecuteWorkflow(startCtx, client.StartWorkflowOptions{
		ID:               id,
		TaskQueue:        workflows.TaskQueue,
		EnableEagerStart: p.EagerStart,
	}, workflows.IngestWorkflowName, workflows.IngestInput{EventIDs: eventIDs})
	if err == nil {
		return nil
	}
	descCtx, cancelDesc := context.WithTimeout(ctx, p.startTimeout())
	defer cancelDesc()
	if _, derr := p.Temporal.DescribeWorkflowExecution(descCtx, id, ""); derr == nil {
		return nil
	}
	return &webhook.Error{Code: webhook.EUnavailable,
		Message: fmt.Sprintf("cannot hand the events to Temporal, so none was accepted (%v); retry with the same event_ids", err)}
}

// StartRecorded makes sure the workflow of each recorded event exists, for
// an IngestWorkflow: an event whose workflow already ran is left alone, as
// in Publish. The starts go in order, a few at a time across every batch
// this Publisher serves, so a burst of batches queues here instead of
// swamping Temporal's frontend. skip is how many of the ids a previous try
// settled; done is told, after each, how many of the first ids are settled.
func (p *Publisher) StartRecorded(ctx context.Context, eventIDs []string, skip int, done func(settled int)) error {
	prog := &progress{finished: make([]bool, len(eventIDs)), settled: skip, done: done}
	evs, err := p.Store.EventsByID(ctx, eventIDs[min(skip, len(eventIDs)):])
	if err != nil {
		return err
	}
	recorded := make(map[string]*webhook.Event, len(evs))
	for _, ev := range evs {
		recorded[ev.EventID] = ev
	}
	var wg sync.WaitGroup
	for i := skip; i < len(eventIDs) && !prog.givingUp() && ctx.Err() == nil; i++ {
		ev := recorded[eventIDs[i]]
		if ev == nil || ran(ev) {
			prog.finish(i) // its accept was undone, or it has run
			continue
		}
		if p.acquire(ctx) != nil {
			break
		}
		wg.Go(func() {
			defer p.release()
			if err := p.start(ctx, ev); err != nil {
				prog.fail(err)
				return
			}
			prog.finish(i)
		})
	}
	wg.Wait()
	if err := prog.err(); err != nil {
		return err
	}
	return ctx.Err() // cancelled before every start was made
}

// progress counts a batch's settled prefix as its starts finish. A start
// that fails leaves a gap for the next try, and the others go on, so one
// event Temporal keeps refusing holds up no other; after a few failures
// (Temporal unreachable, most likely) the rest wait for the next try too.
type progress struct {
	mu       sync.Mutex
	finished []bool
	settled  int
	done     func(settled int)
	failures int
	first    error
}

// maxStartFailures is how many failed starts end a try early.
const maxStartFailures = 3

func (pr *progress) fail(err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.failures++
	if pr.first == nil {
		pr.first = err
	}
}

func (pr *progress) givingUp() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.failures >= maxStartFailures
}

func (pr *progress) err() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.first
}

func (pr *progress) finish(i int) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.finished[i] = true
	for pr.settled < len(pr.finished) && pr.finished[pr.settled] {
		pr.settled++
	}
	if pr.done != nil {
		pr.done(pr.settled)
	}
}

// startsInFlight bounds a Publisher's concurrent workflow starts for
// batches: enough to hide a start's round trip, few enough to leave
// Temporal's frontend room for everything else.
const startsInFlight = 8

func (p *Publisher) acquire(ctx context.Context) error {
	p.slotsOnce.Do(func() { p.slots = make(chan struct{}, startsInFlight) })
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Publisher) release() { <-p.slots }

func (p *Publisher) startTimeout() time.Duration {
	if p.StartTimeout <= 0 {
		return 10 * time.Second
	}
	return p.StartTimeout
}

// start makes sure the event's workflow exists. A start whose answer was lost
// may still have happened, so a failure is checked against Temporal before
// it is reported.
func (p *Publisher) start(ctx context.Context, ev *webhook.Event) error {
	timeout := p.startTimeout()
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

// sameOrConflict refuses a different event under a used event_id.
func sameOrConflict(prior, ev *webhook.Event) error {
	if !Same(prior, ev) {
		return webhook.Errorf(webhook.EConflict, "event_id %q was already used for a different event", ev.EventID)
	}
	return nil
}

// Same tells a repeated publish from a different event under a used id.
func Same(a, b *webhook.Event) bool {
	return a.EventType == b.EventType && a.Source == b.Source && a.SourceID == b.SourceID && bytes.Equal(a.Payload, b.Payload)
}
