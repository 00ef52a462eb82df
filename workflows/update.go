package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Updates the API sends to retry or cancel one delivery, in an event's
// workflow (the argument is a WebhookSignal) or a subscriber's stream (an
// EventSignal). They do what the retry and cancel signals do, and the
// workflow answers each, in the same round trip, with a DeliveryAnswer once
// it has taken the request in. The signals stay, for the Temporal CLI and
// for requests naming every delivery.
const (
	UpdateRetry  = "retry-delivery"
	UpdateCancel = "cancel-delivery"
)

// ErrNothingToCancel is the type of the error a cancel update is rejected
// with when the delivery has ended.
const ErrNothingToCancel = "NothingToCancel"

// DeliveryAnswer is a workflow's answer to UpdateRetry and UpdateCancel.
type DeliveryAnswer struct {
	// State is where the delivery stands once the request was taken in:
	// attempting, when a retry made a waiting delivery go now. It is nil
	// when a stream no longer holds the delivery (it ended at once; its
	// latest attempt row says how).
	State *DeliveryState `json:"state"`
	// Reopened says this run was started by the retry: the event's
	// workflow had closed.
	Reopened bool `json:"reopened,omitempty"`
}

// setUpdates registers an event workflow's update handlers.
func (f *fanOut) setUpdates(ctx workflow.Context, in EventInput) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRetry, func(ctx workflow.Context, sig WebhookSignal) (DeliveryAnswer, error) {
		reopened := in.Reopened && f.retried == 0
		var woken *loop // a loop the retry ends a wait of
		if l := f.find(sig.WebhookID); l != nil && (l.state.State == LoopRetrying || l.state.State == LoopPaused) {
			woken = l
		}
		f.handling++
		f.retry(ctx, sig)
		f.handling--
		if woken != nil {
			// The loop takes the request in: it leaves its wait and
			// attempts.
			_ = workflow.Await(ctx, func() bool { return !woken.waiting })
		}
		l := f.find(sig.WebhookID)
		if l == nil {
			return DeliveryAnswer{Reopened: reopened}, nil // deleted, or never a subscriber of this event
		}
		st := l.state
		return DeliveryAnswer{State: &st, Reopened: reopened}, nil
	}, workflow.UpdateHandlerOptions{Validator: func(sig WebhookSignal) error { return oneDelivery(sig.WebhookID != 0) }})
	if err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancel, func(ctx workflow.Context, sig WebhookSignal) (DeliveryAnswer, error) {
		l := f.find(sig.WebhookID)
		f.cancel(sig)
		// An attempt in flight finishes first; a wait ends at once, and the
		// delivery with it.
		_ = workflow.Await(ctx, func() bool { return l.state.State.Done() || l.state.State == LoopAttempting })
		st := l.state
		return DeliveryAnswer{State: &st}, nil
	}, workflow.UpdateHandlerOptions{Validator: func(sig WebhookSignal) error {
		if err := oneDelivery(sig.WebhookID != 0); err != nil {
			return err
		}
		if l := f.find(sig.WebhookID); l == nil || l.state.State.Done() || l.sub.Batched {
			return nothingToCancel(fmt.Sprintf("webhook %d", sig.WebhookID))
		}
		return nil
	}})
}

// ask is an update a stream's main loop takes in, among its signals.
type ask struct {
	retry bool
	sig   EventSignal
	taken bool
	held  *StreamItem // the delivery as the stream held it when the ask was taken
}

// setUpdates registers a stream's update handlers. Each hands its request
// to the main loop (asks), which alone changes what the stream holds, and
// answers once the loop has taken it in and dispatched what it could.
func (s *stream) setUpdates(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRetry, s.handler(true), workflow.UpdateHandlerOptions{
		Validator: func(sig EventSignal) error { return oneDelivery(sig.EventID != "") }})
	if err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancel, s.handler(false), workflow.UpdateHandlerOptions{Validator: s.validateCancel})
}

func (s *stream) handler(retry bool) func(workflow.Context, EventSignal) (DeliveryAnswer, error) {
	return func(ctx workflow.Context, sig EventSignal) (DeliveryAnswer, error) {
		a := &ask{retry: retry, sig: sig}
		s.asks.Send(ctx, a)
		_ = workflow.Await(ctx, func() bool { return a.taken && !s.restarting[sig.EventID] })
		return s.answer(a), nil
	}
}

// answer is where an ask left its delivery.
func (s *stream) answer(a *ask) DeliveryAnswer {
	it := s.items[a.sig.EventID]
	if it == nil {
		it = a.held // cancelled now, and so no longer held
	}
	switch {
	case it == nil && !a.retry:
		// In the backlog: cancelled in the store, it ends when loaded.
		return DeliveryAnswer{State: &DeliveryState{EventID: a.sig.EventID, WebhookID: s.webhookID, State: LoopCancelled, LastError: cancelledBySignal}}
	case it == nil:
		return DeliveryAnswer{} // ended at once, or no longer a subscriber
	}
	st := s.state(it)
	return DeliveryAnswer{State: &st}
}

func (s *stream) validateCancel(sig EventSignal) error {
	if err := oneDelivery(sig.EventID != ""); err != nil {
		return err
	}
	if it := s.items[sig.EventID]; (it == nil || it.ended) && !s.backlog {
		return nothingToCancel(fmt.Sprintf("event %s", sig.EventID))
	}
	return nil
}

// take does what an update asks, as the matching signal would.
func (s *stream) take(ctx workflow.Context, a *ask) {
	a.held = s.items[a.sig.EventID]
	if a.retry {
		s.retry(ctx, a.sig)
	} else {
		s.cancelSignal(ctx, a.sig)
	}
	a.taken = true
}

// settle takes in what came (signals, updates) and lets every update
// handler answer before the run ends; it reports whether anything came,
// and so whether the run must go on.
func (s *stream) settle(ctx workflow.Context) bool {
	if s.drainSignals(ctx) {
		return true
	}
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) || s.asks.Len() > 0 })
	return s.drainSignals(ctx)
}

func oneDelivery(named bool) error {
	if !named {
		return temporal.NewApplicationError("an update names one delivery; the signal serves all", "BadUpdate")
	}
	return nil
}

func nothingToCancel(what string) error {
	return temporal.NewApplicationError(fmt.Sprintf("the delivery to %s has ended: there is nothing to cancel", what), ErrNothingToCancel)
}
