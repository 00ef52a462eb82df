package workflows

import (
	"cmp"
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
)

// StreamItem is one event a stream holds until its delivery ends.
type StreamItem struct {
	EventID string `json:"event_id"`
	// EventType picks the item's retry schedule among the subscriber's
	// overrides (empty: the subscriber's own).
	EventType string     `json:"event_type,omitempty"`
	Seq       int64      `json:"seq"` // order of arrival
	Sub       Subscriber `json:"subscriber"`
	Next      int        `json:"next"` // the number of its next attempt
	// Planned is the wait after attempt PlannedFor should it fail, drawn
	// once so that a repeat of the attempt plans the same.
	Planned    time.Duration `json:"planned,omitempty"`
	PlannedFor int           `json:"planned_for,omitempty"`
	// ReservedAt is the rate-limit slot the next attempt waits for.
	ReservedAt *time.Time `json:"reserved_at,omitempty"`
	// DueAt is when a waiting delivery goes, in workflow time.
	DueAt *time.Time    `json:"due_at,omitempty"`
	State DeliveryState `json:"state"`

	// CancelAfter carries cancel to the next run, for a delivery whose
	// attempt was in flight when its run left.
	CancelAfter bool `json:"cancel_after,omitempty"`

	inFlight bool
	cancel   bool // a cancel signal came while its attempt was in flight
	ended    bool
}

// stream is one run's state. Everything it does happens in the workflow's
// one coroutine: signals, batch results and timers are taken in turn.
type stream struct {
	webhookID  int64
	mode       webhook.DeliveryMode
	seq        int64
	items      map[string]*StreamItem
	order      []*StreamItem // by arrival; ended items are dropped lazily
	ended      int           // ended items still in order
	ready      []*StreamItem // stream mode: due now, in the order they fell due
	waiting    dueHeap       // retries and reserved slots, by due time
	counts     map[LoopState]int
	paused     bool
	holdPoll   time.Duration
	heldUntil  *time.Time
	tasks      []*task // batches and other activities in flight
	arrived    int     // events taken in this run
	perRun     int     // events a run takes before it continues as new
	batchesAt  int     // batches in flight at most (stream mode)
	quick      bool    // the receiver answered the last batch quickly
	gone       bool    // the webhook was deleted
	maxHeld    int     // deliveries held at most; the rest are the backlog
	signals    int     // signals this run has taken
	maxSignals int     // signals a run takes before it leaves its batches in flight
	backlog    bool    // events wait in the store that it does not hold
	loading    bool    // a backlog load is in flight
	left       int     // events left to the backlog as they arrived
	rng        *rand.Rand
	status     string

	timer       workflow.Future
	timerAt     time.Time
	cancelTimer workflow.CancelFunc
	// idleTimer fires StreamIdleTimeout after the stream was last busy
	// (lastBusy) when it may end; one timer an hour, not one per group.
	idleTimer workflow.Future
	lastBusy  time.Time

	events, retries, resumes, cancels workflow.ReceiveChannel
	asks                              workflow.Channel // updates, for the main loop (ask)
	restarting                        map[string]bool  // events a retry is starting over
}

// task is an activity in flight and what to do with its result.
type task struct {
	future workflow.Future
	done   func(ctx workflow.Context) // reads future's result
	batch  bool
}

func newStream(ctx workflow.Context, in StreamInput) (*stream, error) {
	s := &stream{webhookID: in.WebhookID, mode: webhook.Stream, items: map[string]*StreamItem{}, counts: map[LoopState]int{},
		holdPoll: HoldPoll, perRun: cmp.Or(in.EventsPerRun, StreamEventsPerRun), maxHeld: cmp.Or(in.MaxHeld, StreamMaxHeld), quick: true,
		maxSignals: cmp.Or(in.MaxSignals, StreamMaxSignals),
		events:     workflow.GetSignalChannel(ctx, SignalEvents), retries: workflow.GetSignalChannel(ctx, SignalRetry),
		resumes: workflow.GetSignalChannel(ctx, SignalResume), cancels: workflow.GetSignalChannel(ctx, SignalCancel),
		asks: workflow.NewBufferedChannel(ctx, 64), restarting: map[string]bool{}}
	var seed uint64
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return rand.Uint64() }).Get(&seed); err != nil {
		return nil, err
	}
	// Jitter is drawn in workflow code, in the order events are handled:
	// a replay draws the same values from the same seed.
	s.rng = rand.New(rand.NewPCG(seed, uint64(in.WebhookID)))
	// Two batches in flight instead of four: under a burst the events that
	// wait make each batch larger, and every batch costs the engine the
	// same round trips however many events it carries.
	s.batchesAt = StreamBatches
	if workflow.GetVersion(ctx, versionTwoBatches, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		s.batchesAt = streamBatchesBefore
	}
	s.lastBusy = workflow.Now(ctx)
	if c := in.Carried; c != nil {
		s.restore(ctx, c)
	}
	for _, q := range []struct {
		name    string
		handler any
	}{{QueryDelivery, s.queryDelivery}, {QueryStream, s.queryStream}, {QueryDeliveries, s.queryDeliveries}} {
		if err := workflow.SetQueryHandler(ctx, q.name, q.handler); err != nil {
			return nil, err
		}
	}
	if err := s.setUpdates(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *stream) restore(ctx workflow.Context, c *StreamCarry) {
	s.mode, s.seq, s.paused, s.backlog = c.Mode, c.Seq, c.Paused, c.Backlog
	if c.HoldPoll > 0 {
		s.holdPoll = c.HoldPoll
	}
	if s.paused {
		at := workflow.Now(ctx).Add(s.holdPoll)
		s.heldUntil = &at
	}
	for i := range c.Items {
		it := c.Items[i]
		it.cancel, it.CancelAfter = it.CancelAfter, false
		s.add(&it)
		switch {
		case it.State.State == LoopPaused:
		case it.DueAt != nil:
			heap.Push(&s.waiting, due{it: &it, at: *it.DueAt})
		default:
			s.setState(&it, LoopScheduled)
			s.ready = append(s.ready, &it)
		}
	}
}

// add holds a new item.
func (s *stream) add(it *StreamItem) {
	s.items[it.EventID] = it
	s.order = append(s.order, it)
	s.counts[it.State.State]++
}

// setState moves an item to a state, keeping the counts the stream's
// status is made of.
func (s *stream) setState(it *StreamItem, st LoopState) {
	s.counts[it.State.State]--
	it.State.State = st
	s.counts[st]++
}

// end drops an item whose delivery ended.
func (s *stream) end(it *StreamItem) {
	if it.ended {
		return
	}
	it.ended = true
	s.counts[it.State.State]--
	delete(s.items, it.EventID)
	s.ended++
	if s.ended > 64 && s.ended > len(s.order)/2 {
		kept := s.order[:0]
		for _, x := range s.order {
			if !x.ended {
				kept = append(kept, x)
			}
		}
		clear(s.order[len(kept):])
		s.order, s.ended = kept, 0
	}
}

// takeEvents holds a group's events, in its order, after those held.
func (s *stream) takeEvents(g StreamEvents) {
	if g.Subscriber.Mode.Streamed() && g.Subscriber.Mode != s.mode {
		s.switchMode(g.Subscriber.Mode)
	}
	for i, id := range g.EventIDs {
		if s.items[id] != nil {
			continue // handed over again: it is held already
		}
		s.arrived++
		if s.backlog || len(s.items) >= s.maxHeld {
			// Full: it waits in the store, and so does every later one,
			// until the backlog is loaded, so that order holds.
			s.backlog = true
			s.left++
			continue
		}
		s.hold(id, g.TypeOf(i), g.Subscriber, 1)
	}
}

// switchMode changes between stream and ordered for the deliveries not yet
// attempted: those in flight finish as they began.
func (s *stream) switchMode(m webhook.DeliveryMode) {
	s.mode = m
	s.ready = s.ready[:0]
	if m == webhook.Ordered {
		return
	}
	for _, it := range s.order {
		if !it.ended && !it.inFlight && it.State.State == LoopScheduled {
			s.ready = append(s.ready, it)
		}
	}
}

// head is, in ordered mode, the earliest event held: every later one waits
// for its delivery to end.
func (s *stream) head() *StreamItem {
	for _, it := range s.order {
		if !it.ended {
			return it
		}
	}
	return nil
}

// takeDue readies the deliveries whose wait is over, and looks again at a
// paused webhook when its hold poll is due.
func (s *stream) takeDue(ctx workflow.Context) {
	now := workflow.Now(ctx)
	if s.paused && s.heldUntil != nil && !s.heldUntil.After(now) {
		s.holdPoll = min(2*s.holdPoll, MaxHoldPoll)
		s.unpause()
	}
	for s.waiting.Len() > 0 && !s.waiting[0].at.After(now) {
		d := heap.Pop(&s.waiting).(due)
		if d.stale() {
			continue
		}
		s.readyNow(d.it)
	}
}

// readyNow makes a waiting delivery due now, keeping a reserved slot.
func (s *stream) readyNow(it *StreamItem) {
	it.State.NextAttemptAt, it.DueAt = nil, nil
	s.setState(it, LoopScheduled)
	if s.mode != webhook.Ordered {
		s.ready = append(s.ready, it)
	}
}

// unpause releases the deliveries a paused webhook held: their next
// attempt finds out whether it is active again.
func (s *stream) unpause() {
	s.paused, s.heldUntil = false, nil
	for _, it := range s.order {
		if !it.ended && it.State.State == LoopPaused {
			it.State.LastError = ""
			s.readyNow(it)
		}
	}
}

// dispatch starts batches of due deliveries: up to batchesAt at once,
// or in ordered mode one, from the head on.
func (s *stream) dispatch(ctx workflow.Context) {
	if s.paused || s.gone || s.continuing(ctx) {
		return
	}
	s.loadBacklog(ctx)
	if s.mode == webhook.Ordered {
		if s.batches() == 0 {
			s.startBatch(ctx, s.orderedBatch())
		}
		return
	}
	for s.batches() < s.batchesAt {
		var items []*StreamItem
		for len(s.ready) > 0 && len(items) < StreamBatchSize {
			it := s.ready[0]
			s.ready = s.ready[1:]
			if !it.ended && !it.inFlight && it.State.State == LoopScheduled {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			return
		}
		s.startBatch(ctx, items)
	}
}

// orderedBatch is the head, when due, and the due events right after it.
func (s *stream) orderedBatch() []*StreamItem {
	var items []*StreamItem
	for _, it := range s.order {
		if it.ended {
			continue
		}
		if it.inFlight || it.State.State != LoopScheduled || len(items) == StreamBatchSize {
			break
		}
		items = append(items, it)
	}
	return items
}

func (s *stream) batches() int {
	n := 0
	for _, t := range s.tasks {
		if t.batch {
			n++
		}
	}
	return n
}

// startBatch runs the attempts of items as one activity.
func (s *stream) startBatch(ctx workflow.Context, items []*StreamItem) {
	if len(items) == 0 {
		return
	}
	in := StreamAttemptInput{WebhookID: s.webhookID, Ordered: s.mode == webhook.Ordered, Attempts: make([]AttemptInput, len(items))}
	for i, it := range items {
		in.Attempts[i] = s.attemptInput(it)
		it.inFlight = true
		s.setState(it, LoopAttempting)
	}
	summary := fmt.Sprintf("webhook %d: %d event(s) from %s", s.webhookID, len(items), items[0].EventID)
	var f Future[StreamAttemptResult]
	if s.runsLocally(ctx, items) {
		f = ActivityAttemptStream.Call(ctx, call{local: true, summary: summary}, in)
	} else {
		opts := workflow.ActivityOptions{
			StartToCloseTimeout: streamActivityStart,
			// A live worker that misses its heartbeats is no harm: the
			// next try sends nothing while the first one's requests may
			// still be answered (their rows' leases), and the first
			// finishes those and starts no more.
			HeartbeatTimeout: HeartbeatTimeout,
			RetryPolicy:      activityRetry,
			Summary:          summary,
		}
		f = ActivityAttemptStream.Run(workflow.WithActivityOptions(ctx, opts), in)
	}
	s.tasks = append(s.tasks, &task{future: f.Untyped(), batch: true, done: func(ctx workflow.Context) {
		res, err := f.Result(ctx)
		s.quick = quick(res)
		s.finishBatch(ctx, items, res, err)
	}})
}

// A small batch to a receiver that answers quickly runs as a local
// activity: in the workflow task that took its events, with no round trip
// through Temporal before the requests go. That task stays open until the
// batch is done, holding up the stream's other work, so a receiver that
// has been slow gets regular activities, which let the stream go on.
//
// It runs so also beside a regular batch in flight: under a steady load
// one regular batch in flight would otherwise make the next one regular
// too, each paying two round trips through Temporal. A local batch run a
// second time (its workflow task timed out while a slow worker still
// sent) finds its rows leased by the first and waits; it sends nothing
// twice. Runs recorded before versionLocalBeside kept local batches for a
// stream with nothing in flight.
const (
	streamLocalMax = 16
	quickAnswer    = 250 // milliseconds
)

const versionLocalBeside = "stream-local-beside"

func (s *stream) runsLocally(ctx workflow.Context, items []*StreamItem) bool {
	if !s.quick || len(items) > streamLocalMax {
		return false
	}
	return s.batches() == 0 || workflow.GetVersion(ctx, versionLocalBeside, workflow.DefaultVersion, 1) == 1
}

// quick says a batch's receiver answered quickly: every attempt it made.
func quick(res StreamAttemptResult) bool {
	for _, r := range res.Results {
		if r.DurationMS > quickAnswer || r.ErrorClass == webhook.ClassTimeout {
			return false
		}
	}
	return true
}

// attemptInput asks for an item's next attempt, planning the wait after it.
func (s *stream) attemptInput(it *StreamItem) AttemptInput {
	n := it.Next
	in := AttemptInput{EventID: it.EventID, WebhookID: s.webhookID, Attempt: n, Final: n >= it.State.LastAttempt,
		Reserved: it.ReservedAt != nil, ReservedAt: it.ReservedAt}
	if !in.Final {
		if it.PlannedFor != n {
			it.Planned, it.PlannedFor = it.Sub.PolicyFor(it.EventType).NextDelay(n-it.Sub.FirstAttemptOr1()+1, s.rng.Float64()), n
		}
		in.RetryIn = it.Planned
	}
	return in
}

// finishBatch applies a batch's results to its items.
func (s *stream) finishBatch(ctx workflow.Context, items []*StreamItem, res StreamAttemptResult, err error) {
	if res.Gone {
		s.gone = true
	}
	for i, it := range items {
		it.inFlight = false
		switch {
		case res.Gone:
			s.end(it)
		case err != nil || i >= len(res.Results):
			// Only a fault of ours gets here (activities retry the rest):
			// the delivery ends, recorded as cancelled, for an operator's
			// retry to start over.
			s.cancelItem(ctx, it, errorText(err, "the batch returned no result"))
		default:
			s.apply(ctx, it, res.Results[i])
		}
		if it.cancel && !it.ended {
			s.cancelItem(ctx, it, cancelledBySignal)
		}
	}
}

func errorText(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

// apply records one attempt's result on its item.
func (s *stream) apply(ctx workflow.Context, it *StreamItem, r AttemptResult) {
	now := workflow.Now(ctx)
	switch {
	case r.Held:
		it.State.LastError = r.HeldReason
		s.setState(it, LoopPaused)
		if !s.paused {
			s.paused = true
			at := now.Add(s.holdPoll)
			s.heldUntil = &at
		}
		return
	case r.RateLimitedUntil != nil:
		it.ReservedAt = r.RateLimitedUntil
		s.schedule(it, LoopRateLimited, *r.RateLimitedUntil)
		return
	case r.NotMade:
		it.ReservedAt = nil // the batch gave its slot back
		s.setState(it, LoopScheduled)
		if s.mode != webhook.Ordered {
			s.ready = append([]*StreamItem{it}, s.ready...)
		}
		return
	}
	it.ReservedAt = nil
	it.State.Attempts, it.State.LastStatusCode, it.State.LastError, it.State.LastAttemptID = r.Attempt, r.StatusCode, r.Error, r.AttemptID
	switch r.Status {
	case webhook.AttemptDelivered:
		s.setState(it, LoopDelivered)
		s.end(it)
	case webhook.AttemptFailed, "":
		s.setState(it, LoopFailed)
		s.end(it)
	default:
		it.Next = r.Attempt + 1
		s.schedule(it, LoopRetrying, now.Add(r.RetryIn))
		if r.NextRetryAt != nil {
			it.State.NextAttemptAt = r.NextRetryAt
		}
	}
}

// schedule puts an item on the timer until at.
func (s *stream) schedule(it *StreamItem, st LoopState, at time.Time) {
	s.setState(it, st)
	it.State.NextAttemptAt, it.DueAt = &at, &at
	heap.Push(&s.waiting, due{it: it, at: at})
}

// cancelledBySignal is a delivery's last error once a cancel signal (the
// API's cancel, or an operator's) stopped it.
const cancelledBySignal = "cancelled by a cancel signal"

// cancelItem stops a delivery, saying why: its latest attempt row, if it
// waits for a retry, is marked failed, and the event counts it failed.
func (s *stream) cancelItem(ctx workflow.Context, it *StreamItem, why string) {
	it.State.LastError, it.State.NextAttemptAt = why, nil
	s.setState(it, LoopCancelled)
	s.end(it)
	in := CancelDeliveryInput{EventID: it.EventID, WebhookID: s.webhookID, Attempt: it.State.Attempts}
	f := ActivityCancelDelivery.Call(ctx, regular(fmt.Sprintf("event %s: cancelled", it.EventID)), in)
	s.tasks = append(s.tasks, &task{future: f, done: func(ctx workflow.Context) { _ = f.Get(ctx, nil) }})
}

// restart loads an event whose delivery had ended and holds it again, from
// its next attempt number, after the events held.
func (s *stream) restart(ctx workflow.Context, eventID string) {
	in := LoadSubscriberInput{EventID: eventID, WebhookID: s.webhookID}
	f := ActivityLoadSubscriber.Call(ctx, regular(fmt.Sprintf("event %s: start over", eventID)), in)
	s.restarting[eventID] = true
	s.tasks = append(s.tasks, &task{future: f.Untyped(), done: func(ctx workflow.Context) {
		delete(s.restarting, eventID)
		res, err := f.Result(ctx)
		if err != nil || !res.Found || s.items[eventID] != nil {
			return
		}
		s.hold(eventID, res.EventType, res.Subscriber, res.Subscriber.FirstAttemptOr1())
	}})
}

// FirstAttemptOr1 is the number of the subscriber's first attempt.
func (sub Subscriber) FirstAttemptOr1() int { return max(sub.FirstAttempt, 1) }

// quiet says nothing is in flight.
func (s *stream) quiet() bool { return len(s.tasks) == 0 }

// idle says the stream holds nothing and does nothing.
func (s *stream) idle() bool { return len(s.items) == 0 && s.quiet() }

// continuing says this run has taken its share of events or signals (or
// Temporal suggests a new run): it starts no more batches, and continues
// as new once those in flight are done, or at once past its signals
// (mustLeave).
func (s *stream) continuing(ctx workflow.Context) bool {
	return s.arrived >= s.perRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() || s.overSignals(ctx) || s.historyFull(ctx)
}

// A run's last workflow task is often refused under load: a signal came
// while it ran (Temporal's "unhandled command"), and the worker then
// replays the whole run before it can try again, while Temporal refuses
// the stream's signals, and every publish to its subscriber waits. The
// replay takes time in proportion to the run's history, so a stream
// continues as new after StreamHistoryPerRun history events, an eighth of
// Temporal's suggestion: more runs, each wait an eighth as long. Runs
// recorded before versionShortRuns went on to Temporal's suggestion.
const (
	StreamHistoryPerRun = 512
	versionShortRuns    = "stream-short-runs"
)

func (s *stream) historyFull(ctx workflow.Context) bool {
	return workflow.GetInfo(ctx).GetCurrentHistoryLength() >= StreamHistoryPerRun &&
		workflow.GetVersion(ctx, versionShortRuns, workflow.DefaultVersion, 1) == 1
}

func (s *stream) carry() *StreamCarry {
	c := &StreamCarry{Mode: s.mode, Seq: s.seq, Paused: s.paused, HoldPoll: s.holdPoll, Backlog: s.backlog}
	for _, it := range s.order {
		if !it.ended {
			cp := *it
			cp.CancelAfter = it.cancel
			c.Items = append(c.Items, cp)
		}
	}
	return c
}

// overSignals says the run has taken its share of signals. Runs recorded
// before versionSignalBound did not count them.
func (s *stream) overSignals(ctx workflow.Context) bool {
	return s.signals >= s.maxSignals && workflow.GetVersion(ctx, versionSignalBound, workflow.DefaultVersion, 1) == 1
}

// mustLeave says the run continues as new now, with batches in flight:
// Temporal refuses a run's signals past 10,000
// (history.maximumSignalsPerExecution), and with them every publish to
// this subscriber, while a batch to a receiver that hangs can be in flight
// for minutes. The next run makes the deliveries of the batches left
// behind: an attempt recorded by then is reported, one still under way
// waits for its row's lease, and none is sent twice. It waits for any
// other activity (a backlog read, a cancel), which takes moments.
func (s *stream) mustLeave(ctx workflow.Context) bool {
	return !slices.ContainsFunc(s.tasks, func(t *task) bool { return !t.batch }) && s.overSignals(ctx)
}

// loadBacklog reads the next events of the backlog once the stream holds
// half of what it may. A delivery a cancel ended may still read pending in
// the store until its CancelDelivery is done, so no load starts while one
// is in flight.
func (s *stream) loadBacklog(ctx workflow.Context) {
	if !s.backlog || s.loading || len(s.items) > s.maxHeld/2 || slices.ContainsFunc(s.tasks, func(t *task) bool { return !t.batch }) {
		return
	}
	in := LoadBacklogInput{WebhookID: s.webhookID, Limit: s.maxHeld - len(s.items)}
	for _, it := range s.order {
		if !it.ended {
			in.Skip = append(in.Skip, it.EventID)
		}
	}
	s.loading = true
	left := s.left
	f := ActivityLoadBacklog.Call(ctx, regular(fmt.Sprintf("backlog: next %d", in.Limit)), in)
	s.tasks = append(s.tasks, &task{future: f.Untyped(), done: func(ctx workflow.Context) {
		s.loading = false
		res, err := f.Result(ctx)
		if err != nil {
			return // activities retry until they succeed: the next dispatch asks again
		}
		if res.Gone {
			s.gone = true
			return
		}
		for _, e := range res.Entries {
			if s.items[e.EventID] == nil { // else a retry signal held it meanwhile
				s.hold(e.EventID, e.EventType, res.Subscriber, e.Next)
			}
		}
		// Done once a load finds less than it asked for and no event was
		// left to the backlog while it read: any left since it began may
		// have been recorded after its read.
		if len(res.Entries) < in.Limit && s.left == left {
			s.backlog = false
		}
	}})
}

// hold holds a delivery from attempt next on, after those held: one just
// arrived, one from the backlog, or one started over.
func (s *stream) hold(eventID, eventType string, sub Subscriber, next int) {
	// Each held item keeps its own schedule only: a thousand items each
	// carrying every override would swell what continue-as-new carries.
	sub.FirstAttempt, sub.Policy, sub.Overrides = next, sub.PolicyFor(eventType), nil
	s.seq++
	it := &StreamItem{EventID: eventID, EventType: eventType, Seq: s.seq, Sub: sub, Next: next,
		State: DeliveryState{EventID: eventID, WebhookID: s.webhookID, WebhookName: sub.Name,
			Attempts: next - 1, LastAttempt: next + sub.PolicyFor(eventType).Attempts() - 1}}
	s.add(it)
	s.setState(it, LoopScheduled)
	if s.mode != webhook.Ordered {
		s.ready = append(s.ready, it)
	}
}
