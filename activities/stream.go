package activities

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// streamStore is what a stream's activities keep and read.
type streamStore interface {
	Backlog(ctx context.Context, webhookID int64, skip []string, limit int) ([]store.BacklogEntry, error)
	DeliveryProgress(ctx context.Context, webhookID int64, eventIDs []string) (store.Progress, error)
	EndDeliveriesOf(ctx context.Context, webhookID int64) error
	EventsByID(ctx context.Context, ids []string) ([]*webhook.Event, error)
	GetWebhook(ctx context.Context, id int64) (*webhook.Webhook, error)
	ReleaseSlots(ctx context.Context, webhookID int64, limits []store.RateLimit, slots []store.Slot) error
	ReserveSlots(ctx context.Context, webhookID int64, keys []store.AttemptKey, limits []store.RateLimit, now time.Time) ([]time.Time, error)
}

// streamConcurrency bounds the requests one stream batch has in flight.
const streamConcurrency = 32

// AttemptStream makes the attempts of one batch of a stream, as Attempt
// does for one, with the batch's reads and writes done together: the
// webhook once, what was recorded before in one query, rate-limit slots in
// one transaction, pending rows in one statement and outcomes in one
// transaction. Attempts recorded by an earlier try of the batch, and
// deliveries that had ended, are reported, not sent again.
func (a *Activities) AttemptStream(ctx context.Context, in workflows.StreamAttemptInput) (workflows.StreamAttemptResult, error) {
	stop := heartbeat(ctx, nil)
	defer stop()
	w, err := a.Store.GetWebhook(ctx, in.WebhookID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return workflows.StreamAttemptResult{Gone: true}, a.Store.EndDeliveriesOf(ctx, in.WebhookID)
	}
	if err != nil {
		return workflows.StreamAttemptResult{}, err
	}
	b, err := a.newStreamBatch(ctx, w, in)
	if err != nil {
		return workflows.StreamAttemptResult{}, err
	}
	if err := b.hold(ctx); err != nil {
		return workflows.StreamAttemptResult{}, err
	}
	if err := b.send(ctx); err != nil {
		return workflows.StreamAttemptResult{}, retryAfterLease(err, a.now())
	}
	if b.lastFailed != nil {
		if err := a.checkBreaker(ctx, w, b.lastFailed); err != nil {
			return workflows.StreamAttemptResult{}, err
		}
	}
	return workflows.StreamAttemptResult{Results: b.results}, nil
}

// LoadBacklog reads the next deliveries of a stream's backlog, with the
// webhook as they start now. A webhook deleted since ends them all.
func (a *Activities) LoadBacklog(ctx context.Context, in workflows.LoadBacklogInput) (workflows.LoadBacklogResult, error) {
	w, err := a.Store.GetWebhook(ctx, in.WebhookID)
	if webhook.ErrorCode(err) == webhook.ENotFound {
		return workflows.LoadBacklogResult{Gone: true}, a.Store.EndDeliveriesOf(ctx, in.WebhookID)
	}
	if err != nil {
		return workflows.LoadBacklogResult{}, err
	}
	entries, err := a.Store.Backlog(ctx, in.WebhookID, in.Skip, in.Limit)
	if err != nil {
		return workflows.LoadBacklogResult{}, err
	}
	res := workflows.LoadBacklogResult{Subscriber: workflows.SubscriberOf(w, 1)}
	for _, e := range entries {
		res.Entries = append(res.Entries, workflows.BacklogEntry{EventID: e.EventID, EventType: e.EventType, Next: e.Attempts + 1})
	}
	return res, nil
}

// heartbeat tells Temporal an activity is alive twice per
// workflows.HeartbeatTimeout, with its progress (details, if not nil), so
// that one whose worker died is retried within that timeout.
func heartbeat(ctx context.Context, details func() any) (stop func()) {
	if activity.GetInfo(ctx).IsLocalActivity {
		return func() {} // it lives and dies with its workflow task
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(workflows.HeartbeatTimeout / 2)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if details == nil {
					activity.RecordHeartbeat(ctx)
				} else {
					activity.RecordHeartbeat(ctx, details())
				}
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

// streamBatch is one batch under way: its attempts, the events they are
// for, and each one's result as it becomes known.
type streamBatch struct {
	a       *Activities
	w       *webhook.Webhook
	in      workflows.StreamAttemptInput
	events  map[string]*webhook.Event
	results []workflows.AttemptResult
	todo    []int             // attempts still to make, in order
	slots   map[int]time.Time // the rate-limit slot each attempt to make holds
	fresh   map[int]bool      // of them, those this try reserved
	// lastFailed is the batch's last attempt that did not deliver, made now
	// or by an earlier try: the breaker judges by it, once the outcomes
	// are recorded, on every try until one gets through.
	lastFailed *webhook.Attempt
}

// newStreamBatch reads what the batch needs and reports the attempts that
// were made before and the deliveries that had ended.
func (a *Activities) newStreamBatch(ctx context.Context, w *webhook.Webhook, in workflows.StreamAttemptInput) (*streamBatch, error) {
	b := &streamBatch{a: a, w: w, in: in, events: map[string]*webhook.Event{}, results: make([]workflows.AttemptResult, len(in.Attempts)),
		slots: map[int]time.Time{}, fresh: map[int]bool{}}
	ids := make([]string, len(in.Attempts))
	for i, at := range in.Attempts {
		ids[i] = at.EventID
		b.results[i] = workflows.AttemptResult{WebhookID: w.ID, EventID: at.EventID, Attempt: at.Attempt}
	}
	prog, err := a.Store.DeliveryProgress(ctx, w.ID, ids)
	if err != nil {
		return nil, err
	}
	evs, err := a.Store.EventsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		b.events[ev.EventID] = ev
	}
	// In ordered mode an attempt an earlier try made, and that is to be
	// retried, still holds the head: what comes after it waits, as it
	// would have had that try finished.
	headWaits := false
	for i, at := range in.Attempts {
		r := &b.results[i]
		if headWaits {
			r.NotMade = true
			continue
		}
		if d := prog.Finished[store.AttemptKey{EventID: at.EventID, Attempt: at.Attempt}]; d != nil {
			b.report(i, delivery.Recorded(d, a.now()))
			headWaits = in.Ordered && d.Status == webhook.AttemptRetrying
			continue
		}
		if o := prog.Outcomes[at.EventID]; o != "" && o != store.OutcomePending || b.events[at.EventID] == nil {
			// Ended before (handed over twice), or its accept was undone.
			r.Ended, r.Status = true, endedStatus(o)
			continue
		}
		b.todo = append(b.todo, i)
	}
	return b, nil
}

// key names the batch's attempt i.
func (b *streamBatch) key(i int) store.AttemptKey {
	at := b.in.Attempts[i]
	return store.AttemptKey{EventID: at.EventID, Attempt: at.Attempt}
}

func endedStatus(o store.Outcome) webhook.AttemptStatus {
	if o == store.OutcomeDelivered {
		return webhook.AttemptDelivered
	}
	return webhook.AttemptFailed
}

// hold keeps back what may not go now: every attempt while the webhook is
// not active, and those the rate limit has no room for, which wait for the
// slots reserved for them. In ordered mode nothing goes past an attempt
// that waits: the slots of those after it are given back.
func (b *streamBatch) hold(ctx context.Context) error {
	if len(b.todo) == 0 {
		return nil
	}
	if b.w.Status != webhook.StatusActive {
		for _, i := range b.todo {
			b.results[i].Held, b.results[i].HeldReason = true, "webhook is "+string(b.w.Status)+heldWhy(b.w)
		}
		b.todo = nil
		return nil
	}
	limits, now := b.a.limits(b.w), b.a.now()
	var need []int
	for _, i := range b.todo {
		at := b.in.Attempts[i]
		switch {
		case !at.Reserved || (at.ReservedAt != nil && !store.SlotHolds(limits, *at.ReservedAt, now)):
			need = append(need, i)
		case at.ReservedAt != nil:
			b.slots[i] = *at.ReservedAt
		}
	}
	if len(need) == 0 {
		return nil
	}
	keys := make([]store.AttemptKey, len(need))
	for k, i := range need {
		keys[k] = b.key(i)
	}
	slots, err := b.a.Store.ReserveSlots(ctx, b.w.ID, keys, limits, now)
	if err != nil {
		return err
	}
	later := map[int]time.Time{}
	for k, i := range need {
		if slots[k].After(now) {
			later[i] = slots[k]
		} else {
			b.slots[i], b.fresh[i] = slots[k], true
		}
	}
	return b.keepBack(ctx, limits, later)
}

// keepBack takes the attempts whose slot is later out of the batch.
func (b *streamBatch) keepBack(ctx context.Context, limits []store.RateLimit, later map[int]time.Time) error {
	var going []int
	var release []store.Slot
	blocked := false
	for _, i := range b.todo {
		at, waits := later[i]
		switch {
		case blocked:
			b.results[i].NotMade = true
			if waits {
				release = append(release, store.Slot{AttemptKey: b.key(i), At: at})
			} else if t, ok := b.slots[i]; ok {
				release = append(release, store.Slot{AttemptKey: b.key(i), At: t})
			}
		case waits:
			t := at
			b.results[i].RateLimitedUntil = &t
			b.a.Metrics.RateLimitedWait(ctx)
			blocked = b.in.Ordered
		default:
			going = append(going, i)
		}
	}
	b.todo = going
	return b.a.Store.ReleaseSlots(ctx, b.w.ID, limits, release)
}

// send makes the attempts left and reports each.
func (b *streamBatch) send(ctx context.Context) error {
	if len(b.todo) == 0 {
		return nil
	}
	made, err := b.attempt(ctx)
	if err != nil {
		b.giveBack(ctx, err)
		return err
	}
	var release []store.Slot
	for k, i := range b.todo {
		if made[k] == nil {
			b.results[i].NotMade = true
			if t, ok := b.slots[i]; ok {
				release = append(release, store.Slot{AttemptKey: b.key(i), At: t})
			}
			continue
		}
		b.report(i, made[k])
		if !made[k].Replayed {
			b.a.count(ctx, b.w, made[k])
		}
	}
	return b.a.Store.ReleaseSlots(ctx, b.w.ID, b.a.limits(b.w), release)
}

// giveBack returns the slots this try reserved when the batch failed before
// its requests went: its retry reserves again. Slots the stream carried
// from an earlier batch stay with the attempts they were reserved for.
func (b *streamBatch) giveBack(ctx context.Context, cause error) {
	if !errors.As(cause, new(*delivery.NotSent)) {
		return
	}
	var release []store.Slot
	for _, i := range b.todo {
		if b.fresh[i] {
			release = append(release, store.Slot{AttemptKey: b.key(i), At: b.slots[i]})
		}
	}
	if err := b.a.Store.ReleaseSlots(ctx, b.w.ID, b.a.limits(b.w), release); err != nil {
		b.a.Logger.WarnContext(ctx, "cannot give back rate-limit slots", "webhook_id", b.w.ID, "slots", len(release), "error", err)
	}
}

// attempt sends the batch: a webhook's as one recorded batch, an
// integration's one attempt at a time through its connector.
func (b *streamBatch) attempt(ctx context.Context) ([]*delivery.Attempted, error) {
	evs := make([]*webhook.Event, len(b.todo))
	plans := make([]delivery.Plan, len(b.todo))
	for k, i := range b.todo {
		at := b.in.Attempts[i]
		evs[k], plans[k] = b.events[at.EventID], delivery.Plan{Attempt: at.Attempt, Final: at.Final, RetryIn: at.RetryIn}
	}
	m := delivery.Many{Sequential: b.in.Ordered, Concurrency: streamConcurrency}
	if d, ok := ctx.Deadline(); ok {
		m.Deadline = d
	}
	return b.a.Deliverer.AttemptMany(ctx, b.a.Store, b.w, evs, plans, m)
}

// report fills in an attempt's result from its row.
func (b *streamBatch) report(i int, made *delivery.Attempted) {
	d := made.Row
	r := &b.results[i]
	r.AttemptID, r.Status, r.StatusCode, r.DurationMS = d.ID, d.Status, made.StatusCode(), made.DurationMS()
	r.ErrorClass, r.Error, r.RetryIn, r.NextRetryAt = d.ErrorClass, d.LastError, made.RetryIn, d.NextRetryAt
	if d.Status != webhook.AttemptDelivered {
		b.lastFailed = d
	}
}
