package workflows

import (
	"math/rand/v2"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
)

// Activities retry on infrastructure faults (database down, worker lost)
// without limit: giving up would lose the event. The webhook's own retry
// schedule is the loop below, not this policy.
var activityRetry = &temporal.RetryPolicy{
	InitialInterval:        time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        time.Minute,
	NonRetryableErrorTypes: []string{ErrWebhookGone},
}

var activityOptions = workflow.ActivityOptions{
	// An attempt's HTTP timeout is at most 30 s; the rest is database time.
	StartToCloseTimeout: 90 * time.Second,
	RetryPolicy:         activityRetry,
}

// EventWorkflow delivers one event: it records the event and snapshots its
// subscribers (StartEvent), runs one delivery loop per subscriber, and when
// every loop has ended records the outcome (FinishEvent).
func EventWorkflow(ctx workflow.Context, ev webhook.Event) (EventResult, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	f := &fanOut{event: ev}
	if err := workflow.SetQueryHandler(ctx, QueryDeliveries, f.query); err != nil {
		return EventResult{}, err
	}
	var start StartEventResult
	if err := workflow.ExecuteActivity(ctx, ActivityStartEvent, ev).Get(ctx, &start); err != nil {
		return EventResult{}, err
	}
	f.subscribe(ctx, start.Subscribers)
	f.status = f.aggregate()
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchWebhookIDs.ValueSet(webhookIDKeywords(start.Subscribers)), SearchStatus.ValueSet(f.status)); err != nil {
		return EventResult{}, err
	}

	workflow.Go(ctx, f.routeSignals)
	wg := workflow.NewWaitGroup(ctx)
	for _, l := range f.loops {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			f.deliver(ctx, l)
		})
	}
	wg.Wait(ctx)
	res := f.result()
	finish := FinishEventInput{EventID: ev.EventID, Successful: res.Delivered, Failed: res.Failed + res.Cancelled}
	if err := workflow.ExecuteActivity(ctx, ActivityFinishEvent, finish).Get(ctx, nil); err != nil {
		return res, err
	}
	return res, nil
}

// fanOut is the state of one event's deliveries.
type fanOut struct {
	event  webhook.Event
	loops  []*loop
	status string // last published HeraldStatus
}

type loop struct {
	sub   Subscriber
	state DeliveryState
	wake  workflow.Channel // a retry signal for this loop
}

func (f *fanOut) subscribe(ctx workflow.Context, subs []Subscriber) {
	for _, s := range subs {
		f.loops = append(f.loops, &loop{sub: s, wake: workflow.NewBufferedChannel(ctx, 1), state: DeliveryState{
			WebhookID: s.WebhookID, WebhookName: s.Name, State: LoopScheduled, MaxAttempts: s.Policy.Attempts(),
		}})
	}
}

func (f *fanOut) query() ([]DeliveryState, error) {
	out := make([]DeliveryState, len(f.loops))
	for i, l := range f.loops {
		out[i] = l.state
	}
	return out, nil
}

// deliver is one subscriber's loop: attempt, and on a retryable failure wait
// on a durable timer (or a retry signal) and attempt again.
func (f *fanOut) deliver(ctx workflow.Context, l *loop) {
	policy := l.sub.Policy
	for n := 1; ; n++ {
		in := AttemptInput{EventID: f.event.EventID, WebhookID: l.sub.WebhookID, Attempt: n, Final: n >= policy.Attempts()}
		if !in.Final {
			in.RetryIn = policy.NextDelay(n, jitter(ctx))
		}
		l.state.State, l.state.Attempts, l.state.NextRetryAt = LoopAttempting, n, nil
		var res AttemptResult
		if err := workflow.ExecuteActivity(ctx, ActivityAttempt, in).Get(ctx, &res); err != nil {
			// Only a non-retryable error ends up here: the webhook is gone.
			l.state.State, l.state.LastError = LoopCancelled, err.Error()
			f.publishStatus(ctx)
			return
		}
		l.state.LastStatusCode, l.state.LastError, l.state.LastDeliveryID = res.StatusCode, res.Error, res.DeliveryID
		switch res.Status {
		case webhook.DeliveryDelivered:
			l.state.State = LoopDelivered
		case webhook.DeliveryFailed:
			l.state.State = LoopFailed
		default:
			l.state.State, l.state.NextRetryAt = LoopRetrying, res.NextRetryAt
		}
		f.publishStatus(ctx)
		if l.state.State.done() {
			return
		}
		f.wait(ctx, l, res.RetryIn)
	}
}

// wait sleeps until the retry is due or a retry signal names this loop.
func (f *fanOut) wait(ctx workflow.Context, l *loop, d time.Duration) {
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimer(timerCtx, d), func(workflow.Future) {})
	sel.AddReceive(l.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
	// A signal that raced the timer must not cut the next wait short.
	for l.wake.ReceiveAsync(nil) {
	}
}

// routeSignals hands each retry signal to the loops it names that are
// waiting; a loop that is not waiting has nothing to cut short.
func (f *fanOut) routeSignals(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalRetry)
	for {
		var sig RetrySignal
		ch.Receive(ctx, &sig)
		for _, l := range f.loops {
			if (sig.WebhookID == 0 || sig.WebhookID == l.sub.WebhookID) && l.state.State == LoopRetrying {
				l.wake.SendAsync(struct{}{})
			}
		}
	}
}

// jitter draws u in [0, 1) once and records it, so replays see the same value.
func jitter(ctx workflow.Context) float64 {
	var u float64
	_ = workflow.SideEffect(ctx, func(workflow.Context) any { return rand.Float64() }).Get(&u)
	return u
}

// aggregate is the event's overall status from its loops.
func (f *fanOut) aggregate() string {
	if len(f.loops) == 0 {
		return StatusNoSubscribers
	}
	switch {
	case f.count(LoopRetrying) > 0:
		return StatusRetrying
	case f.count(LoopScheduled)+f.count(LoopAttempting) > 0:
		return StatusDelivering
	case f.count(LoopDelivered) == len(f.loops):
		return StatusDelivered
	case f.count(LoopDelivered) > 0:
		return StatusPartial
	}
	return StatusFailed
}

func (f *fanOut) count(s LoopState) int {
	n := 0
	for _, l := range f.loops {
		if l.state.State == s {
			n++
		}
	}
	return n
}

// publishStatus upserts HeraldStatus when it changed, so the UI can filter
// on it without a history event per attempt.
func (f *fanOut) publishStatus(ctx workflow.Context) {
	s := f.aggregate()
	if s == f.status {
		return
	}
	f.status = s
	_ = workflow.UpsertTypedSearchAttributes(ctx, SearchStatus.ValueSet(s))
}

func (f *fanOut) result() EventResult {
	return EventResult{
		Status:    f.aggregate(),
		Delivered: f.count(LoopDelivered),
		Failed:    f.count(LoopFailed),
		Cancelled: f.count(LoopCancelled),
	}
}
