package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// plan is what one group hands to Temporal: each event whose subscribers
// (or lack of any) call for a workflow of its own, and for each subscriber
// that delivers through a stream, the group's events for it.
type plan struct {
	eventIDs []string
	perEvent []workflows.IngestEvent
	subs     map[int64]workflows.Subscriber // every subscriber of a per-event delivery, by webhook id
	events   map[string]*webhook.Event
	streams  map[int64]*workflows.StreamEvents // by webhook id, events in the order they were recorded
	// later are streams' shares of a merged group whose subscriber was
	// snapshotted differently (its settings changed between groups):
	// signalled after streams, in order.
	later []*workflows.StreamEvents
}

// merge adds another group's plan to this one, after it.
func (pl *plan) merge(o *plan) {
	pl.init()
	pl.eventIDs = append(pl.eventIDs, o.eventIDs...)
	pl.perEvent = append(pl.perEvent, o.perEvent...)
	maps.Copy(pl.events, o.events)
	for id, s := range o.subs {
		if _, ok := pl.subs[id]; !ok {
			pl.subs[id] = s
		}
	}
	for _, id := range slices.Sorted(maps.Keys(o.streams)) {
		st, mine := o.streams[id], pl.streams[id]
		switch {
		case mine == nil:
			cp := *st
			pl.streams[id] = &cp
		case reflect.DeepEqual(mine.Subscriber, st.Subscriber) && len(pl.later) == 0:
			mine.EventIDs = append(mine.EventIDs, st.EventIDs...)
			mine.EventTypes = append(mine.EventTypes, st.EventTypes...)
		default:
			pl.later = append(pl.later, st)
		}
	}
	pl.later = append(pl.later, o.later...)
}

// agrees says the per-event subscribers both plans share were snapshotted
// alike.
func (pl *plan) agrees(o *plan) bool {
	for id, s := range o.subs {
		if mine, ok := pl.subs[id]; ok && !reflect.DeepEqual(mine, s) {
			return false
		}
	}
	return true
}

func (pl *plan) init() {
	if pl.events == nil {
		pl.events, pl.subs, pl.streams = map[string]*webhook.Event{}, map[int64]workflows.Subscriber{}, map[int64]*workflows.StreamEvents{}
	}
}

// add plans an event's hand-off to its subscribers, snapshotted when it
// was recorded.
func (pl *plan) add(ev *webhook.Event, subs []*webhook.Webhook) {
	pl.init()
	pl.eventIDs = append(pl.eventIDs, ev.EventID)
	pl.events[ev.EventID] = ev
	own := workflows.IngestEvent{EventID: ev.EventID}
	for _, w := range subs {
		s := workflows.SubscriberOf(w, 1)
		if s.Mode.Streamed() {
			st := pl.streams[s.WebhookID]
			if st == nil {
				st = &workflows.StreamEvents{Subscriber: s}
				pl.streams[s.WebhookID] = st
			}
			st.EventIDs = append(st.EventIDs, ev.EventID)
			if len(s.Overrides) > 0 {
				st.EventTypes = append(st.EventTypes, ev.EventType)
			}
			continue
		}
		pl.subs[s.WebhookID] = s
		own.WebhookIDs = append(own.WebhookIDs, s.WebhookID)
	}
	// An event nobody subscribes to still gets its workflow: the Temporal
	// UI shows every event, with status no_subscribers.
	if len(own.WebhookIDs) > 0 || len(subs) == 0 {
		pl.perEvent = append(pl.perEvent, own)
	}
}

// directStarts is the most event workflows a hand-off starts itself: a
// lone event's, at once, since a start answered with its first workflow
// task (eager) is the shortest way to a delivery. Anything more goes to the
// dispatcher: a start costs Temporal several times a signal, and under
// load its answer takes a hundred milliseconds and more.
const directStarts = 1

func (pl *plan) webhookIDs() []int64 {
	ids := make([]int64, 0, len(pl.subs)+len(pl.streams))
	for id := range pl.subs {
		ids = append(ids, id)
	}
	for id := range pl.streams {
		ids = append(ids, id)
	}
	return ids
}

// subscribersOf returns an event's per-event subscribers from the plan.
func (pl *plan) subscribersOf(e workflows.IngestEvent) []workflows.Subscriber {
	out := make([]workflows.Subscriber, len(e.WebhookIDs))
	for i, id := range e.WebhookIDs {
		out[i] = pl.subs[id]
	}
	return out
}

// handOff gives a group to Temporal: a few events' workflows are started
// directly, side by side; more are handed to the dispatcher, one signal
// for the group; each stream gets one signal. They go at once, and the
// group is handed off only when every one is through. some says whether
// any part got through: its deliveries may have begun.
func (p *Publisher) handOff(ctx context.Context, pl *plan) (some bool, err error) {
	if len(pl.eventIDs) == 0 && len(pl.later) == 0 {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.startTimeout())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	do := func(f func() error) {
		wg.Go(func() {
			err := f()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				first = cmpErr(first, err)
			} else {
				some = true
			}
		})
	}
	if len(pl.perEvent) > directStarts {
		do(func() error { return p.dispatch(ctx, pl) })
	} else {
		for _, e := range pl.perEvent {
			do(func() error { return p.startEvent(ctx, pl.events[e.EventID], pl.subscribersOf(e)) })
		}
	}
	for _, st := range pl.streams {
		do(func() error { return p.signalStream(ctx, st) })
	}
	wg.Wait()
	for _, st := range pl.later {
		if first != nil {
			break
		}
		if first = p.signalStream(ctx, st); first == nil {
			some = true
		}
	}
	return some, first
}

// cmpErr keeps the first error, unless a later one is a fault of ours
// (not EUnavailable), which says more.
func cmpErr(first, err error) error {
	if first == nil || webhook.ErrorCode(first) == webhook.EUnavailable && webhook.ErrorCode(err) != webhook.EUnavailable {
		return err
	}
	return first
}

// startEvent makes sure a recorded event's workflow exists, with its
// per-event subscribers in its input.
func (p *Publisher) startEvent(ctx context.Context, ev *webhook.Event, subs []workflows.Subscriber) error {
	return p.start(ctx, ev, workflows.EventInput{Event: *ev, Recorded: true, Subscribers: subs}, workflows.RecordedAttributes(ev, subs))
}

// start makes sure an event's workflow exists. A start whose answer was
// lost may still have happened, so a failure is checked against Temporal
// before it is reported.
func (p *Publisher) start(ctx context.Context, ev *webhook.Event, in workflows.EventInput, attrs temporal.SearchAttributes) error {
	id := workflows.EventWorkflowID(ev.EventID)
	_, err := p.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                workflows.TaskQueue,
		WorkflowIDReusePolicy:                    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    attrs,
		EnableEagerStart:                         p.EagerStart,
	}, workflows.EventWorkflowName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err == nil || errors.As(err, &started) || p.exists(ctx, id) {
		return nil
	}
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		return fmt.Errorf("temporal refused event %s: %w", ev.EventID, err) // a fault of ours, not the caller's
	}
	return unavailable(ev, "cannot hand the event to Temporal", err)
}

// dispatch hands a group's event workflows to the dispatcher, an
// IngestWorkflow that takes groups as signals (started if it is not
// running) and starts each event's workflow.
func (p *Publisher) dispatch(ctx context.Context, pl *plan) error {
	in := workflows.IngestInput{Events: pl.perEvent}
	for _, id := range slices.Sorted(maps.Keys(pl.subs)) {
		in.Subscribers = append(in.Subscribers, pl.subs[id])
	}
	id := workflows.DispatchWorkflowID(int(p.dispatched.Add(1) % workflows.DispatchShards))
	_, err := p.Temporal.SignalWithStartWorkflow(ctx, id, workflows.SignalEvents, in,
		client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.IngestWorkflowName, workflows.IngestInput{Dispatch: true})
	if err != nil {
		return groupUnavailable("cannot hand the events to Temporal", err)
	}
	return nil
}

// signalStream hands a stream its share of the group, starting the stream
// if it is not running. The stream ignores events it already holds, so a
// repeated signal delivers nothing twice.
func (p *Publisher) signalStream(ctx context.Context, st *workflows.StreamEvents) error {
	id := workflows.StreamWorkflowID(st.Subscriber.WebhookID)
	_, err := p.Temporal.SignalWithStartWorkflow(ctx, id, workflows.SignalEvents, st, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             workflows.TaskQueue,
		TypedSearchAttributes: workflows.StreamAttributes(st.Subscriber),
	}, workflows.StreamWorkflowName, workflows.StreamInput{WebhookID: st.Subscriber.WebhookID})
	if err != nil {
		return groupUnavailable(fmt.Sprintf("cannot hand the events to the stream of webhook %d", st.Subscriber.WebhookID), err)
	}
	return nil
}

// exists says a workflow with this id exists: a start whose answer was
// lost may have gone through.
func (p *Publisher) exists(ctx context.Context, id string) bool {
	descCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.startTimeout())
	defer cancel()
	_, err := p.Temporal.DescribeWorkflowExecution(descCtx, id, "")
	return err == nil
}

func groupUnavailable(what string, err error) error {
	return &webhook.Error{Code: webhook.EUnavailable,
		Message: fmt.Sprintf("%s, so none was accepted (%v); publish again with the same event_id", what, err)}
}
