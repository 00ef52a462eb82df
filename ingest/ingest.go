// Package ingest accepts events: it records each once, keyed by its event
// id, with the subscribers it goes to, and hands it to Temporal. The API
// publishes what LOKI sends; Herald publishes its own system.error events
// the same way.
//
// Concurrent publishes are committed as a group: one transaction records
// their rows and one hand-off gives them to Temporal, so that acceptance
// outruns the rate at which Temporal starts workflows. A lone event goes at
// once, as a group of one.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/groupcommit"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

// Store is what accepting an event needs of Herald's database.
type Store interface {
	RecordEvents(ctx context.Context, evs []*webhook.Event, same func(prior, ev *webhook.Event) error) ([]store.Recording, error)
	EventSubscribers(ctx context.Context, eventIDs []string) (map[string][]store.SubscriberOf, error)
	EventsByID(ctx context.Context, ids []string) ([]*webhook.Event, error)
	MarkHandedOff(ctx context.Context, eventIDs []string) error
	MarkTriggered(ctx context.Context, webhookIDs []int64) error
	DeleteEvents(ctx context.Context, eventIDs []string) error
}

// Temporal is what handing events over needs of Temporal.
type Temporal interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
	SignalWithStartWorkflow(ctx context.Context, workflowID string, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// Publisher accepts events.
type Publisher struct {
	Store    Store
	Temporal Temporal
	// StartTimeout bounds handing a group to Temporal (default 10 s).
	StartTimeout time.Duration
	Logger       *slog.Logger
	// EagerStart asks Temporal to hand a workflow's first task back in the
	// start call, to a worker on the same client; Temporal falls back to
	// the task queue when there is none with room.
	EagerStart bool
	// Groups bounds the groups being recorded at once (default 1): while
	// they are, the next publishes queue up to form the next group.
	Groups int

	dispatched atomic.Int64 // groups handed to dispatchers, which take them in turn
	once       sync.Once
	records    *groupcommit.Queue[*request]    // publishes waiting to be recorded
	handOffs   *groupcommit.Queue[*handOffJob] // recorded groups waiting to be handed off

	mu        sync.Mutex
	triggered map[int64]time.Time // when this process last marked each webhook triggered

	slotsOnce sync.Once
	slots     chan struct{} // event workflow starts in flight for recorded groups (startsInFlight)
}

// Publish accepts an event: the first time its event_id is seen it is
// recorded and handed to Temporal (created is true); a repeat of the same
// event returns the first one (created false); a different event under a
// used id is an EConflict. When Publish returns without error Temporal
// holds the event, so it cannot be lost. On EUnavailable nothing was
// accepted and the same event may be published again: it is never
// delivered twice.
func (p *Publisher) Publish(ctx context.Context, ev *webhook.Event) (accepted *webhook.Event, created bool, err error) {
	r := &request{ctx: ctx, ev: ev, done: make(chan outcome, 1)}
	p.queues()
	p.records.Add(r)
	select {
	case o := <-r.done:
		return o.ev, o.created, o.err
	case <-ctx.Done():
		// The group may still accept it: a publish again finds it.
		return nil, false, unavailable(ev, "gave up waiting for the event to be accepted", ctx.Err())
	}
}

// Published is one event of a published batch: as accepted, and whether
// it was new.
type Published struct {
	Event   *webhook.Event
	Created bool
}

// PublishBatch accepts events together, as one group of the caller's
// choosing: recorded in one transaction and handed to Temporal at once.
// When it returns without error Temporal holds every one of them. It is
// all or nothing: a used event_id of a different event is an EConflict and
// records nothing; on EUnavailable nothing was accepted and the same batch
// may be published again. Repeats of events already accepted count as in
// Publish.
func (p *Publisher) PublishBatch(ctx context.Context, evs []*webhook.Event) ([]Published, error) {
	outs, err := p.accept(ctx, evs, true)
	if err != nil {
		return nil, err
	}
	res := make([]Published, len(evs))
	for i, o := range outs {
		if o.err != nil {
			return nil, o.err
		}
		res[i] = Published{Event: o.ev, Created: o.created}
	}
	return res, nil
}

// outcome is how accepting one event went: ev is the event recorded under
// its id (with err, the one it conflicts with).
type outcome struct {
	ev      *webhook.Event
	created bool
	err     error
}

// accept records evs (their ids distinct) as one group and hands to
// Temporal those that need it. With whole, a conflict refuses every event;
// otherwise only its own. The error is the group's: nothing was accepted.
func (p *Publisher) accept(ctx context.Context, evs []*webhook.Event, whole bool) ([]outcome, error) {
	r, err := p.record(ctx, evs, whole)
	if err != nil {
		return nil, err
	}
	return r.outs, p.complete(ctx, r)
}

// recorded is a group whose rows are written, waiting for its hand-off.
type recorded struct {
	recs []store.Recording
	outs []outcome
	plan plan
}

// record writes a group's rows and plans its hand-off.
func (p *Publisher) record(ctx context.Context, evs []*webhook.Event, whole bool) (*recorded, error) {
	same := func(prior, ev *webhook.Event) error { return nil }
	if whole {
		same = sameOrConflict
	}
	recs, err := p.Store.RecordEvents(ctx, evs, same)
	if webhook.ErrorCode(err) == webhook.EConflict {
		return nil, err
	}
	if err != nil {
		return nil, &webhook.Error{Code: webhook.EUnavailable,
			Message: fmt.Sprintf("cannot record the events, so none was accepted (%v); publish them again with the same event_ids", err)}
	}
	r := &recorded{recs: recs, outs: make([]outcome, len(evs))}
	for i, rec := range recs {
		r.outs[i] = outcome{ev: rec.Event, created: rec.New}
		switch {
		case rec.New:
			r.plan.add(rec.Event, rec.Subscribers)
			p.logger().DebugContext(ctx, "event subscribers resolved", "event_id", rec.Event.EventID,
				"event_type", rec.Event.EventType, "subscribers", len(rec.Subscribers))
		case !Same(rec.Event, evs[i]):
			r.outs[i] = outcome{ev: rec.Event, err: sameOrConflict(rec.Event, evs[i])}
		case !rec.HandedOff:
			if err := p.again(ctx, rec.Event, &r.plan); err != nil {
				return nil, unavailable(rec.Event, "cannot read the event's subscribers", err)
			}
		}
	}
	return r, nil
}

// complete hands a recorded group to Temporal, or undoes its rows when no
// part of the hand-off got through.
func (p *Publisher) complete(ctx context.Context, r *recorded) error {
	if some, err := p.handOff(ctx, &r.plan); err != nil {
		if !some {
			p.undo(ctx, r.recs)
		}
		return err
	}
	go p.settle(context.WithoutCancel(ctx), &r.plan)
	return nil
}

// again plans a repeated event whose first publish may not have handed it
// off (its answer was lost, or it failed half-way, some parts through and
// some not): it is handed off again whole, since every part may be
// repeated safely (a workflow already started is not started twice, and a
// stream skips what it holds or has delivered).
func (p *Publisher) again(ctx context.Context, ev *webhook.Event, pl *plan) error {
	snap, err := p.Store.EventSubscribers(ctx, []string{ev.EventID})
	if err != nil {
		return err
	}
	var subs []*webhook.Webhook
	for _, s := range snap[ev.EventID] {
		if s.Webhook == nil || s.Outcome == store.OutcomeFiltered {
			continue // deleted since, or its filter left the event out
		}
		w := *s.Webhook
		w.DeliveryMode = s.Mode // the mode it was accepted in
		subs = append(subs, &w)
	}
	pl.add(ev, subs)
	return nil
}

// undo removes the rows of a group Temporal refused whole, so that they do
// not claim events nobody will deliver. A row whose delivery began stays.
func (p *Publisher) undo(ctx context.Context, recs []store.Recording) {
	var fresh []string
	for _, rec := range recs {
		if rec.New {
			fresh = append(fresh, rec.Event.EventID)
		}
	}
	if err := p.Store.DeleteEvents(context.WithoutCancel(ctx), fresh); err != nil {
		p.logger().Error("cannot remove events Temporal refused", "events", len(fresh), "error", err)
	}
}

// settle records, after the answer is known, what a later publish of the
// same events may skip: that they were handed off, and that their
// subscribers were triggered.
func (p *Publisher) settle(ctx context.Context, pl *plan) {
	if err := p.Store.MarkHandedOff(ctx, pl.eventIDs); err != nil {
		p.logger().Warn("cannot mark events handed off; a repeat publish hands them off again", "events", len(pl.eventIDs), "error", err)
	}
	if ids := p.due(pl.webhookIDs()); len(ids) > 0 {
		if err := p.Store.MarkTriggered(ctx, ids); err != nil {
			p.logger().Warn("cannot mark webhooks triggered", "error", err)
		}
	}
}

// due returns the webhooks this process has not marked triggered in the
// last second, and notes them marked now: the column shows when a webhook
// last got an event, to the second.
func (p *Publisher) due(ids []int64) []int64 {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.triggered == nil {
		p.triggered = map[int64]time.Time{}
	}
	var out []int64
	for _, id := range ids {
		if now.Sub(p.triggered[id]) >= time.Second {
			p.triggered[id] = now
			out = append(out, id)
		}
	}
	return out
}

func (p *Publisher) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

func (p *Publisher) startTimeout() time.Duration {
	if p.StartTimeout <= 0 {
		return 10 * time.Second
	}
	return p.StartTimeout
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
// Payloads that differ only in insignificant space are the same.
func Same(a, b *webhook.Event) bool {
	return a.EventType == b.EventType && a.Source == b.Source && a.SourceID == b.SourceID && sameJSON(a.Payload, b.Payload)
}

func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}
