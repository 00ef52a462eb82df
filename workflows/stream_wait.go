package workflows

import (
	"container/heap"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
)

// await blocks until something happens: a signal, an activity's result,
// the timer of the earliest wait, or for an idle stream its idle timeout,
// which it reports.
func (s *stream) await(ctx workflow.Context) (idleTimedOut bool) {
	sel := workflow.NewSelector(ctx)
	s.addSignals(ctx, sel)
	var finished *task
	for _, t := range s.tasks {
		sel.AddFuture(t.future, func(workflow.Future) { finished = t })
	}
	if at, ok := s.nextDue(); ok {
		s.arm(ctx, at)
	}
	if s.timer != nil {
		sel.AddFuture(s.timer, func(workflow.Future) { s.timer = nil })
	}
	if s.idle() && s.idleTimer == nil {
		d := max(s.lastBusy.Add(StreamIdleTimeout).Sub(workflow.Now(ctx)), time.Second)
		s.idleTimer = workflow.NewTimerWithOptions(ctx, d, workflow.TimerOptions{Summary: "idle: end unless an event comes"})
	}
	if s.idleTimer != nil {
		sel.AddFuture(s.idleTimer, func(workflow.Future) {
			s.idleTimer = nil
			idleTimedOut = s.idle() && !workflow.Now(ctx).Before(s.lastBusy.Add(StreamIdleTimeout))
		})
	}
	sel.Select(ctx)
	if finished != nil {
		s.tasks = slices.DeleteFunc(s.tasks, func(t *task) bool { return t == finished })
		finished.done(ctx)
	}
	if !s.idle() {
		s.lastBusy = workflow.Now(ctx)
	}
	return idleTimedOut
}

// addSignals adds a handler for each signal channel, and for updates.
func (s *stream) addSignals(ctx workflow.Context, sel workflow.Selector) {
	sel.AddReceive(s.events, func(c workflow.ReceiveChannel, _ bool) {
		var g StreamEvents
		c.Receive(ctx, &g)
		s.signals++
		s.takeEvents(g)
	})
	sel.AddReceive(s.retries, func(c workflow.ReceiveChannel, _ bool) {
		var sig EventSignal
		c.Receive(ctx, &sig)
		s.signals++
		s.retry(ctx, sig)
	})
	sel.AddReceive(s.resumes, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.signals++
		s.holdPoll = HoldPoll
		s.unpause()
	})
	sel.AddReceive(s.cancels, func(c workflow.ReceiveChannel, _ bool) {
		var sig EventSignal
		c.Receive(ctx, &sig)
		s.signals++
		s.cancelSignal(ctx, sig)
	})
	sel.AddReceive(s.asks, func(c workflow.ReceiveChannel, _ bool) {
		var a *ask
		c.Receive(ctx, &a)
		s.take(ctx, a)
	})
}

// drainSignals handles every signal already received, before the run
// ends; it reports whether there was any.
func (s *stream) drainSignals(ctx workflow.Context) bool {
	any := false
	for s.events.Len()+s.retries.Len()+s.resumes.Len()+s.cancels.Len()+s.asks.Len() > 0 {
		sel := workflow.NewSelector(ctx)
		s.addSignals(ctx, sel)
		sel.Select(ctx)
		any = true
	}
	return any
}

// retry makes a waiting delivery go now, and starts one that ended over;
// for every event (an empty EventID), every waiting delivery goes now.
func (s *stream) retry(ctx workflow.Context, sig EventSignal) {
	if sig.EventID == "" {
		for _, it := range s.order {
			if !it.ended && it.State.State == LoopRetrying {
				s.readyNow(it)
			}
		}
		return
	}
	it := s.items[sig.EventID]
	switch {
	case it == nil:
		s.restart(ctx, sig.EventID)
	case it.State.State == LoopRetrying:
		s.readyNow(it)
	case it.State.State == LoopPaused:
		s.unpause() // the next attempt finds out whether the webhook is active
	}
}

// cancelSignal stops the named delivery (every one, for an empty EventID)
// that has not ended; one whose attempt is in flight stops after it.
func (s *stream) cancelSignal(ctx workflow.Context, sig EventSignal) {
	if sig.EventID != "" && s.items[sig.EventID] == nil {
		// Not held: in the backlog, or its events signal still on the way.
		// Cancelled in the store, it is reported ended when it comes.
		in := CancelDeliveryInput{EventID: sig.EventID, WebhookID: s.webhookID}
		f := ActivityCancelDelivery.Call(ctx, regular(fmt.Sprintf("event %s: cancelled", sig.EventID)), in)
		s.tasks = append(s.tasks, &task{future: f, done: func(ctx workflow.Context) { _ = f.Get(ctx, nil) }})
		return
	}
	for _, it := range slices.Clone(s.order) {
		if it.ended || (sig.EventID != "" && it.EventID != sig.EventID) {
			continue
		}
		if it.inFlight {
			it.cancel = true
			continue
		}
		s.cancelItem(ctx, it, cancelledBySignal)
	}
}

// nextDue is when the earliest waiting delivery, or a paused stream's next
// look, is due.
func (s *stream) nextDue() (time.Time, bool) {
	for s.waiting.Len() > 0 && s.waiting[0].stale() {
		heap.Pop(&s.waiting)
	}
	var at time.Time
	ok := false
	if s.waiting.Len() > 0 {
		at, ok = s.waiting[0].at, true
	}
	if s.paused && s.heldUntil != nil && (!ok || s.heldUntil.Before(at)) {
		at, ok = *s.heldUntil, true
	}
	return at, ok
}

// arm sets the stream's one timer for at, unless it already fires sooner:
// one timer serves every waiting delivery, and a timer that fires early
// only makes the loop look again.
func (s *stream) arm(ctx workflow.Context, at time.Time) {
	if s.timer != nil && !at.Before(s.timerAt) {
		return
	}
	if s.cancelTimer != nil {
		s.cancelTimer()
	}
	timerCtx, cancel := workflow.WithCancel(ctx)
	d := max(at.Sub(workflow.Now(ctx)), time.Millisecond)
	s.timer = workflow.NewTimerWithOptions(timerCtx, d, workflow.TimerOptions{Summary: fmt.Sprintf("webhook %d: next retry or slot", s.webhookID)})
	s.timerAt, s.cancelTimer = at, cancel
}

// aggregate is the stream's status: a waiting state wins over progress,
// so the UI can find what is stuck.
func (s *stream) aggregate() string {
	switch {
	case s.paused || s.counts[LoopPaused] > 0:
		return StatusPaused
	case s.counts[LoopRateLimited] > 0:
		return StatusRateLimited
	case s.counts[LoopRetrying] > 0:
		return StatusRetrying
	case len(s.items) > 0:
		return StatusDelivering
	}
	return StatusIdle
}

// publishStatus upserts HeraldStatus when it changed.
func (s *stream) publishStatus(ctx workflow.Context) {
	if st := s.aggregate(); st != s.status {
		s.status = st
		_ = workflow.UpsertTypedSearchAttributes(ctx, SearchStatus.ValueSet(st))
	}
}

func (s *stream) state(it *StreamItem) DeliveryState {
	st := it.State
	if s.mode == webhook.Ordered {
		if h := s.head(); h != nil && h != it {
			st.BlockedBy = h.EventID
		}
	}
	return st
}

func (s *stream) queryDelivery(eventID string) (DeliveryState, error) {
	it := s.items[eventID]
	if it == nil {
		return DeliveryState{}, fmt.Errorf("stream of webhook %d %s %q: its delivery ended, waits in the backlog, or has not arrived", s.webhookID, NotHeld, eventID)
	}
	return s.state(it), nil
}

func (s *stream) queryDeliveries() ([]DeliveryState, error) {
	var out []DeliveryState
	for _, it := range s.order {
		if !it.ended && len(out) < 10*StreamStateMax {
			out = append(out, s.state(it))
		}
	}
	return out, nil
}

func (s *stream) queryStream() (StreamState, error) {
	st := StreamState{WebhookID: s.webhookID, Mode: s.mode, Status: s.aggregate(), Held: len(s.items), Paused: s.paused, Backlog: s.backlog,
		InFlight: s.counts[LoopAttempting], Waiting: s.counts[LoopRetrying] + s.counts[LoopRateLimited], Deliveries: []DeliveryState{}}
	if h := s.head(); h != nil && s.mode == webhook.Ordered {
		hs := s.state(h)
		st.Head = &hs
	}
	for _, it := range s.order {
		if len(st.Deliveries) == StreamStateMax {
			break
		}
		if !it.ended {
			st.Deliveries = append(st.Deliveries, s.state(it))
		}
	}
	return st, nil
}

// due is a waiting delivery on the stream's timer. An entry whose item
// ended or was readied since is stale and skipped.
type due struct {
	it *StreamItem
	at time.Time
}

func (d due) stale() bool {
	return d.it.ended || d.it.DueAt == nil || !d.it.DueAt.Equal(d.at)
}

// dueHeap orders waiting deliveries by due time, then arrival.
type dueHeap []due

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].it.Seq < h[j].it.Seq
	}
	return h[i].at.Before(h[j].at)
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
