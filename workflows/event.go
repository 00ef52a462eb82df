package workflows

import (
	"fmt"
	"hash/fnv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
)

// Activities retry on infrastructure faults (database down, worker lost)
// without limit: giving up would lose the event. The webhook's own retry
// schedule is the loop below, not this policy.
var activityRetry = &temporal.RetryPolicy{
	InitialInterval:    time.Second,
	BackoffCoefficient: 2,
	// Short, so that a delivery goes again within seconds of the database
	// coming back, not up to a minute after: the chaos suite counts that
	// lateness as stuck.
	MaximumInterval:        10 * time.Second,
	NonRetryableErrorTypes: []string{ErrWebhookGone},
}

// HeartbeatTimeout is how long a long-running activity (a stream batch,
// the dispatchers' workflow starts) may go without a heartbeat before
// Temporal gives it to another worker: a worker lost mid-batch holds up
// every event of the batch until then. The activities heartbeat twice in
// it, so a live worker that misses one is no harm.
const HeartbeatTimeout = 10 * time.Second

var activityOptions = workflow.ActivityOptions{
	// An attempt's HTTP timeout is at most 30 s; the rest is database time.
	StartToCloseTimeout: 90 * time.Second,
	RetryPolicy:         activityRetry,
}

// Event workflows run their activities as local activities: in the worker
// that runs the workflow task, with no task queue round trip and one marker
// in the history instead of three events. A worker that dies mid-attempt
// costs a workflow task timeout (seconds) instead of the activity's 90 s
// timeout; the attempt is made again by the next worker, which first looks
// for the row of one that finished.
var localOptions = workflow.LocalActivityOptions{
	// Unset, the SDK would take StartToCloseTimeout for it and give up
	// retrying after 90 s: a database down longer would drop deliveries.
	ScheduleToCloseTimeout: 10 * 365 * 24 * time.Hour,
	StartToCloseTimeout:    activityOptions.StartToCloseTimeout,
	RetryPolicy:            activityRetry,
}

// EventWorkflow delivers one event: it records the event and snapshots its
// subscribers (StartEvent), runs one delivery loop per subscriber, and when
// every loop has ended records the outcome (FinishEvent). Retry and resume
// signals steer the loops; a retry naming a webhook whose delivery ended
// starts it over, here or, once the workflow has closed, in a reopened run.
func EventWorkflow(ctx workflow.Context, in EventInput) (EventResult, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	f := newFanOut(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryDeliveries, f.query); err != nil {
		return EventResult{}, err
	}
	if err := f.setUpdates(ctx, in); err != nil {
		return EventResult{}, err
	}
	if !in.Reopened {
		if err := f.begin(ctx, in); err != nil {
			return EventResult{}, err
		}
	}
	workflow.Go(ctx, f.routeSignals)
	if in.Reopened {
		// The retry signal that reopened the event names what to deliver.
		if _, err := workflow.AwaitWithTimeout(ctx, time.Minute, func() bool { return f.retried > 0 }); err != nil {
			return f.result(), err
		}
	}
	res, err := f.untilEnded(ctx, in)
	if err == nil {
		// Every update answered: one still waiting would get no answer.
		err = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
	}
	return res, err
}

func newFanOut(ctx workflow.Context, in EventInput) *fanOut {
	f := &fanOut{
		event:   in.Event,
		wg:      workflow.NewWaitGroup(ctx),
		retries: workflow.GetSignalChannel(ctx, SignalRetry),
		resumes: workflow.GetSignalChannel(ctx, SignalResume),
		cancels: workflow.GetSignalChannel(ctx, SignalCancel),
		resumed: map[int64]int{},
		status:  StatusDelivering,
	}
	return f
}

// untilEnded waits for every delivery to end, signals taken in, and for an
// event from before snapshots records that it finished.
func (f *fanOut) untilEnded(ctx workflow.Context, in EventInput) (EventResult, error) {
	finished := false
	for {
		f.wg.Wait(ctx)
		// A signal not yet handled, or being handled, may start a delivery.
		if err := workflow.Await(ctx, f.settled); err != nil {
			return f.result(), err
		}
		if f.running() > 0 {
			finished = false
			continue
		}
		if finished || in.Recorded {
			// A recorded event's outcomes were recorded with each
			// delivery's last attempt: there is nothing left to record.
			return f.result(), nil
		}
		started := f.started
		if err := ActivityFinishEvent.Call(ctx, f.call(""), FinishEventInput{EventID: in.Event.EventID}).Get(ctx, nil); err != nil {
			return f.result(), err
		}
		// Go round once more: a retry that came while finishing starts over.
		// One may even have run to its end while FinishEvent was in flight;
		// then FinishEvent must run again, after it.
		finished = f.started == started
	}
}

// begin starts a delivery loop per subscriber: those recorded when the
// event was accepted, whose search attributes the workflow started with, or
// else those StartEvent resolves now.
func (f *fanOut) begin(ctx workflow.Context, in EventInput) error {
	subs := in.Subscribers
	if !in.Recorded {
		start, err := f.startEvent(ctx, in).Result(ctx)
		if err != nil {
			return err
		}
		subs = start.Subscribers
	}
	for _, s := range subs {
		f.run(ctx, f.loopFor(ctx, s.WebhookID), s)
	}
	if in.Recorded {
		f.status = f.aggregate()
		return nil
	}
	f.publishWebhooks(ctx)
	return nil
}

// startEvent records the event and resolves its subscribers: those of its
// type, or for a batch its one integration.
func (f *fanOut) startEvent(ctx workflow.Context, in EventInput) Future[StartEventResult] {
	if in.Batch != nil {
		return ActivityStartBatch.Call(ctx, f.call(""), StartBatchInput{Event: in.Event, WebhookID: in.Batch.WebhookID})
	}
	return ActivityStartEvent.Call(ctx, f.call(""), in.Event)
}

// call runs an activity locally: in the worker that runs the workflow
// task, with no task queue round trip and one marker in the history.
func (f *fanOut) call(summary string) call { return call{local: true, summary: summary} }

// fanOut is the state of one event's deliveries.
type fanOut struct {
	event            webhook.Event
	loops            []*loop
	wg               workflow.WaitGroup
	retries, resumes workflow.ReceiveChannel
	cancels          workflow.ReceiveChannel
	handling         int           // signals being handled (a restart loads its subscriber)
	started          int           // deliveries started, first runs and restarts
	retried          int           // retry signals handled
	resumed          map[int64]int // resume signals handled, per webhook (0: for all)
	status           string        // last published HeraldStatus
}

type loop struct {
	sub       Subscriber
	state     DeliveryState
	wake      workflow.Channel // a retry signal: go now
	resume    workflow.Channel // a resume signal: the webhook is active again
	stop      workflow.Channel // a cancel signal: end every wait
	cancelled bool             // a cancel signal came for this run of the loop
	waiting   bool             // in wait: for its retry, a resume or its slot
}

// settled is true when no signal waits to be handled or is being handled.
func (f *fanOut) settled() bool {
	return f.handling == 0 && f.retries.Len() == 0 && f.resumes.Len() == 0 && f.pendingCancels() == 0
}

// pendingCancels counts cancel signals not yet handled.
func (f *fanOut) pendingCancels() int { return f.cancels.Len() }

// loopFor returns the loop of a webhook, creating an idle one.
func (f *fanOut) loopFor(ctx workflow.Context, webhookID int64) *loop {
	if l := f.find(webhookID); l != nil {
		return l
	}
	l := &loop{wake: workflow.NewBufferedChannel(ctx, 1), resume: workflow.NewBufferedChannel(ctx, 1), stop: workflow.NewBufferedChannel(ctx, 1)}
	l.state.WebhookID = webhookID
	f.loops = append(f.loops, l)
	return l
}

// run starts (or starts over) a loop's delivery to a subscriber.
func (f *fanOut) run(ctx workflow.Context, l *loop, s Subscriber) {
	if s.FirstAttempt < 1 {
		s.FirstAttempt = 1
	}
	f.started++
	l.sub, l.cancelled = s, false
	for l.stop.ReceiveAsync(nil) {
	}
	l.state = DeliveryState{WebhookID: s.WebhookID, WebhookName: s.Name, State: LoopScheduled,
		Attempts: s.FirstAttempt - 1, LastAttempt: s.FirstAttempt + s.PolicyFor(f.event.EventType).Attempts() - 1}
	f.wg.Add(1)
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer f.wg.Done()
		if s.Batched {
			f.addToBatch(ctx, l)
			return
		}
		f.deliver(ctx, l)
	})
}

// addToBatch hands the event to a batched subscriber's batch, which
// delivers it (with others) as an event of its own.
func (f *fanOut) addToBatch(ctx workflow.Context, l *loop) {
	l.state.State = LoopAttempting
	summary := fmt.Sprintf("webhook %d (%s): add to batch", l.sub.WebhookID, l.sub.Name)
	err := ActivityAddToBatch.Call(ctx, regular(summary), AddToBatchInput{EventID: f.event.EventID, WebhookID: l.sub.WebhookID}).Get(ctx, nil)
	if err != nil {
		l.state.State, l.state.LastError = LoopCancelled, err.Error()
	} else {
		l.state.State = LoopBatched
	}
	f.publishStatus(ctx)
}

func (f *fanOut) running() int {
	n := 0
	for _, l := range f.loops {
		if !l.state.State.Done() {
			n++
		}
	}
	return n
}

func (f *fanOut) query() ([]DeliveryState, error) {
	out := make([]DeliveryState, len(f.loops))
	for i, l := range f.loops {
		out[i] = l.state
	}
	return out, nil
}

// deliver is one subscriber's loop: attempt, and on a retryable failure wait
// on a durable timer (or a retry signal) and attempt again. An attempt held
// by a paused webhook, or waiting for its rate-limit slot, is made again with
// the same number: it was never sent.
func (f *fanOut) deliver(ctx workflow.Context, l *loop) {
	s := l.sub
	planned, plannedFor := time.Duration(0), 0
	hold := HoldPoll
	var reserved *time.Time
	for n := s.FirstAttempt; ; {
		if l.cancelled {
			f.stopLoop(ctx, l)
			return
		}
		in := AttemptInput{EventID: f.event.EventID, WebhookID: s.WebhookID, Attempt: n, Final: n >= l.state.LastAttempt,
			Reserved: reserved != nil, ReservedAt: reserved}
		if !in.Final {
			if plannedFor != n {
				planned, plannedFor = s.PolicyFor(f.event.EventType).NextDelay(n-s.FirstAttempt+1, f.jitter(s.WebhookID, n)), n
			}
			in.RetryIn = planned
		}
		l.state.State, l.state.NextAttemptAt = LoopAttempting, nil
		resumedBefore := f.resumedFor(s.WebhookID)
		summary := fmt.Sprintf("webhook %d (%s), attempt %d", s.WebhookID, s.Name, n)
		res, err := ActivityAttempt.Call(ctx, f.call(summary), in).Result(ctx)
		if err != nil {
			// Only a non-retryable error ends up here: the webhook is gone.
			l.state.State, l.state.LastError = LoopCancelled, err.Error()
			f.publishStatus(ctx)
			return
		}
		reserved = nil
		switch {
		case res.Held:
			if f.resumedFor(s.WebhookID) != resumedBefore {
				continue // resumed while the attempt was being held: look again now
			}
			l.state.State, l.state.LastError = LoopPaused, res.HeldReason
			f.publishStatus(ctx)
			f.wait(ctx, l, l.resume, hold, fmt.Sprintf("webhook %d paused: look again", s.WebhookID))
			hold = min(2*hold, MaxHoldPoll)
			continue
		case res.RateLimitedUntil != nil:
			l.state.State, l.state.NextAttemptAt = LoopRateLimited, res.RateLimitedUntil
			f.publishStatus(ctx)
			d := max(res.RateLimitedUntil.Sub(workflow.Now(ctx)), time.Millisecond)
			f.wait(ctx, l, nil, d, fmt.Sprintf("webhook %d rate limit: attempt %d in its slot", s.WebhookID, n))
			reserved = res.RateLimitedUntil
			continue
		}
		hold = HoldPoll
		l.took(n, res)
		f.publishStatus(ctx)
		if l.state.State.Done() {
			return
		}
		workflow.GetLogger(ctx).Debug("retry scheduled", "event_id", f.event.EventID, "webhook_id", s.WebhookID,
			"attempt", n+1, "retry_in", res.RetryIn, "last_status_code", res.StatusCode, "error_class", res.ErrorClass)
		f.wait(ctx, l, l.wake, res.RetryIn, fmt.Sprintf("webhook %d retry: attempt %d", s.WebhookID, n+1))
		n++
	}
}

// took records attempt n's result on the loop's state.
func (l *loop) took(n int, res AttemptResult) {
	l.state.Attempts = n
	l.state.LastStatusCode, l.state.LastError, l.state.LastAttemptID = res.StatusCode, res.Error, res.AttemptID
	switch res.Status {
	case webhook.AttemptDelivered:
		l.state.State = LoopDelivered
	case webhook.AttemptFailed:
		l.state.State = LoopFailed
	default:
		l.state.State, l.state.NextAttemptAt = LoopRetrying, res.NextRetryAt
	}
}

// stopLoop ends a cancelled delivery: its latest attempt row, if it waits
// for a retry, is marked failed, so nothing shows it as still waiting.
//
// The loop counts as ended only once that is recorded: a retry signal that
// comes meanwhile finds it still running, not cancelled and restartable.
func (f *fanOut) stopLoop(ctx workflow.Context, l *loop) {
	summary := fmt.Sprintf("webhook %d (%s): cancelled", l.sub.WebhookID, l.sub.Name)
	_ = ActivityCancelDelivery.Call(ctx, f.call(summary), CancelDeliveryInput{EventID: f.event.EventID, WebhookID: l.sub.WebhookID, Attempt: l.state.Attempts}).Get(ctx, nil)
	l.state.State, l.state.NextAttemptAt, l.state.LastError = LoopCancelled, nil, cancelledBySignal
	f.publishStatus(ctx)
}

// wait sleeps on a durable timer until d has passed, a signal arrives on
// early (when not nil), or the loop is cancelled.
func (f *fanOut) wait(ctx workflow.Context, l *loop, early workflow.Channel, d time.Duration, summary string) {
	if l.cancelled {
		return
	}
	l.waiting = true
	defer func() { l.waiting = false }()
	timerCtx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: summary}), func(workflow.Future) {})
	if early != nil {
		sel.AddReceive(early, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	}
	sel.AddReceive(l.stop, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	sel.Select(ctx)
	if early != nil {
		// A signal that raced the timer must not cut the next wait short.
		for early.ReceiveAsync(nil) {
		}
	}
}

// routeSignals handles signals as they come. It waits for them rather than
// receiving in a selector, so a signal stays in its channel, visible to the
// main loop's settled check, until it is handled.
func (f *fanOut) routeSignals(ctx workflow.Context) {
	for {
		_ = workflow.Await(ctx, func() bool { return f.retries.Len()+f.resumes.Len()+f.pendingCancels() > 0 })
		var sig WebhookSignal
		f.handling++
		switch {
		case f.retries.ReceiveAsync(&sig):
			f.retry(ctx, sig)
		case f.resumes.ReceiveAsync(&sig):
			f.resume(sig)
		case f.cancels.ReceiveAsync(&sig):
			f.cancel(sig)
		}
		f.handling--
	}
}

// retry makes waiting deliveries of the named webhook (0: all) go now, and
// starts ended ones over with the webhook's current retry schedule.
func (f *fanOut) retry(ctx workflow.Context, sig WebhookSignal) {
	defer func() { f.retried++ }()
	if sig.WebhookID != 0 && f.find(sig.WebhookID) == nil {
		f.restart(ctx, sig.WebhookID)
		return
	}
	for _, l := range f.loops {
		if sig.WebhookID != 0 && l.state.WebhookID != sig.WebhookID {
			continue
		}
		switch l.state.State {
		case LoopRetrying:
			l.wake.SendAsync(struct{}{})
		case LoopPaused:
			l.resume.SendAsync(struct{}{})
		case LoopFailed, LoopCancelled:
			f.restart(ctx, l.sub.WebhookID)
		}
	}
}

// restart loads a webhook as a subscriber of this event afresh and runs its
// delivery from its next attempt number.
func (f *fanOut) restart(ctx workflow.Context, webhookID int64) {
	res, err := ActivityLoadSubscriber.Call(ctx, regular(""), LoadSubscriberInput{EventID: f.event.EventID, WebhookID: webhookID}).Result(ctx)
	if err != nil || !res.Found {
		return // deleted, or never a subscriber of this event: nothing to retry
	}
	l := f.loopFor(ctx, webhookID)
	if l.state.State != "" && !l.state.State.Done() {
		return // started meanwhile by another signal
	}
	f.run(ctx, l, res.Subscriber)
	f.publishWebhooks(ctx)
	f.publishStatus(ctx)
}

// resume releases held deliveries of the named webhook (0: all). Deliveries
// whose attempt is in flight see the count change and look again at once.
func (f *fanOut) resume(sig WebhookSignal) {
	f.resumed[sig.WebhookID]++
	for _, l := range f.loops {
		if (sig.WebhookID == 0 || l.state.WebhookID == sig.WebhookID) && l.state.State == LoopPaused {
			l.resume.SendAsync(struct{}{})
		}
	}
}

// cancel stops the named webhook's deliveries (0: all) that have not ended:
// each ends its wait and, before attempting again, stops.
func (f *fanOut) cancel(sig WebhookSignal) {
	for _, l := range f.loops {
		if (sig.WebhookID == 0 || l.state.WebhookID == sig.WebhookID) && !l.state.State.Done() && !l.sub.Batched {
			l.cancelled = true
			l.stop.SendAsync(struct{}{})
		}
	}
}

func (f *fanOut) resumedFor(webhookID int64) int { return f.resumed[webhookID] + f.resumed[0] }

func (f *fanOut) find(webhookID int64) *loop {
	for _, l := range f.loops {
		if l.state.WebhookID == webhookID {
			return l
		}
	}
	return nil
}

// jitter is u in [0, 1) for the wait after one attempt, the same on every
// replay: a hash of the event, webhook and attempt, spread as a random
// draw would be, with no marker in the history.
func (f *fanOut) jitter(webhookID int64, attempt int) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%d", f.event.EventID, webhookID, attempt)
	return float64(h.Sum64()>>11) / (1 << 53)
}

// aggregate is the event's overall status from its loops: a waiting state
// wins over progress, so the UI can find what is stuck.
func (f *fanOut) aggregate() string {
	if len(f.loops) == 0 {
		return StatusNoSubscribers
	}
	switch {
	case f.count(LoopPaused) > 0:
		return StatusPaused
	case f.count(LoopRateLimited) > 0:
		return StatusRateLimited
	case f.count(LoopRetrying) > 0:
		return StatusRetrying
	case f.running() > 0:
		return StatusDelivering
	case f.count(LoopDelivered)+f.count(LoopBatched) == len(f.loops):
		return StatusDelivered
	case f.count(LoopDelivered)+f.count(LoopBatched) > 0:
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

// publishWebhooks upserts HeraldWebhookIDs with the webhooks delivered to.
func (f *fanOut) publishWebhooks(ctx workflow.Context) {
	ids := make([]int64, len(f.loops))
	for i, l := range f.loops {
		ids[i] = l.sub.WebhookID
	}
	f.status = f.aggregate()
	_ = workflow.UpsertTypedSearchAttributes(ctx, SearchWebhookIDs.ValueSet(idKeywords(ids)), SearchStatus.ValueSet(f.status))
}

func (f *fanOut) result() EventResult {
	return EventResult{
		Status:    f.aggregate(),
		Delivered: f.count(LoopDelivered),
		Failed:    f.count(LoopFailed),
		Cancelled: f.count(LoopCancelled),
		Batched:   f.count(LoopBatched),
	}
}
