package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// These tests run StreamWorkflow in the time-skipping environment with
// Herald's real activities, a real store and loopback receivers, as the
// event workflow tests do. Events are recorded as the API records them and
// handed to the stream as the API's groups are.

// answerBy makes a receiver answer each event from its own script: the
// n-th request for an event gets script(id)[n], the last one repeating.
func (r *receiver) answerBy(scripts map[string][]reply) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.by = func(eventID string, n int) reply {
		s := scripts[eventID]
		if len(s) == 0 {
			return reply{200, ""}
		}
		return s[min(n, len(s)-1)]
	}
}

// arrivals are the event ids of the requests r got, in order.
func (r *receiver) arrivals() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// streamHook creates a webhook in mode m pointing at r.
func (h *harness) streamHook(r *receiver, name string, m webhook.DeliveryMode, edit func(*webhook.Webhook)) *webhook.Webhook {
	return h.hook(r, name, func(w *webhook.Webhook) {
		w.DeliveryMode = m
		w.RetryDelaySeconds, w.MaxDelaySeconds = 60, 3600
		if edit != nil {
			edit(w)
		}
	})
}

// group records events as the API does and returns the stream's share of
// them, as the API signals it.
func (h *harness) group(w *webhook.Webhook, ids ...string) workflows.StreamEvents {
	evs := make([]*webhook.Event, len(ids))
	for i, id := range ids {
		ev := event(id)
		evs[i] = &ev
	}
	recs, err := h.store.RecordEvents(context.Background(), evs, func(_, _ *webhook.Event) error { return nil })
	if err != nil {
		h.t.Fatal(err)
	}
	g := workflows.StreamEvents{}
	for _, rec := range recs {
		for _, sub := range rec.Subscribers {
			if sub.ID == w.ID {
				g.Subscriber = workflows.SubscriberOf(sub, 1)
				g.EventIDs = append(g.EventIDs, rec.Event.EventID)
			}
		}
	}
	return g
}

// sendAt signals a group to the stream at workflow time d.
func (h *harness) sendAt(d time.Duration, g workflows.StreamEvents) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalEvents, g) }, d)
}

// runStream runs a stream until it ends (idle) and returns its error.
func (h *harness) runStream(in workflows.StreamInput) error {
	h.env.ExecuteWorkflow(workflows.StreamWorkflowName, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("stream did not end")
	}
	return h.env.GetWorkflowError()
}

// mustContinue runs a stream that must continue as new, and returns the
// next run's input.
func (h *harness) mustContinue(in workflows.StreamInput) workflows.StreamInput {
	return nextInput[workflows.StreamInput](h.t, h.runStream(in))
}

// nextInput is what a run that ended with err, which must be a
// continue-as-new, hands its next run.
func nextInput[T any](t *testing.T, err error) T {
	t.Helper()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("want a continue-as-new, got %v", err)
	}
	var in T
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func (h *harness) outcome(eventID string) *webhook.Event {
	ev, err := h.store.GetEvent(context.Background(), eventID)
	if err != nil {
		h.t.Fatal(err)
	}
	return ev
}

func (h *harness) queryStream() workflows.StreamState {
	v, err := h.env.QueryWorkflow(workflows.QueryStream)
	if err != nil {
		h.t.Fatal(err)
	}
	var st workflows.StreamState
	if err := v.Get(&st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

func TestStreamDeliversEachEventOnItsOwnSchedule(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"s-2": {{503, ""}, {200, ""}}})
	w := h.streamHook(r, "stream", webhook.Stream, nil)
	h.sendAt(time.Millisecond, h.group(w, "s-0", "s-1", "s-2"))
	h.sendAt(time.Second, h.group(w, "s-3", "s-4", "s-1")) // s-1 handed over twice
	var during workflows.StreamState
	h.env.RegisterDelayedCallback(func() { during = h.queryStream() }, 30*time.Second)
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	got := r.arrivals()
	if len(got) != 6 || strings.Count(strings.Join(got, ","), "s-1") != 1 {
		t.Fatalf("arrivals %v: want each event once, s-2 twice", got)
	}
	if gaps := h.gaps(w.ID); gaps[len(gaps)-1] < 59*time.Second {
		t.Fatalf("s-2's retry came after %v, not its schedule's minute", gaps[len(gaps)-1])
	}
	if during.Held != 1 || during.Waiting != 1 || len(during.Deliveries) != 1 || during.Deliveries[0].EventID != "s-2" ||
		during.Deliveries[0].State != workflows.LoopRetrying || during.Status != workflows.StatusRetrying {
		t.Fatalf("stream while s-2 waited: %+v", during)
	}
	for i := range 5 {
		ev := h.outcome(fmt.Sprintf("s-%d", i))
		if ev.ProcessedAt == nil || ev.SuccessfulDeliveries != 1 || ev.TotalDeliveries != 1 {
			t.Fatalf("event %s: %+v", ev.EventID, ev)
		}
	}
	if rows := h.statuses(w.ID); len(rows) != 6 {
		t.Fatalf("attempt rows %v", rows)
	}
}

// In ordered mode event n+1 is attempted only once event n has ended, and
// the query says which event the rest wait for.
func TestOrderedWaitsForTheHead(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"o-1": {{503, ""}, {500, ""}, {200, ""}}, "o-3": {{400, ""}}})
	w := h.streamHook(r, "ordered", webhook.Ordered, nil)
	h.sendAt(time.Millisecond, h.group(w, "o-0", "o-1"))
	h.sendAt(time.Second, h.group(w, "o-2", "o-3", "o-4"))
	var during workflows.StreamState
	var blocked workflows.DeliveryState
	h.env.RegisterDelayedCallback(func() {
		during = h.queryStream()
		v, err := h.env.QueryWorkflow(workflows.QueryDelivery, "o-3")
		if err == nil {
			err = v.Get(&blocked)
		}
		if err != nil {
			t.Error(err)
		}
	}, 90*time.Second)
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	want := []string{"o-0", "o-1", "o-1", "o-1", "o-2", "o-3", "o-4"}
	if got := r.arrivals(); !slices.Equal(got, want) {
		t.Fatalf("arrivals %v, want %v", got, want)
	}
	if during.Head == nil || during.Head.EventID != "o-1" || during.Head.State != workflows.LoopRetrying || during.Head.NextAttemptAt == nil ||
		during.Mode != webhook.Ordered || blocked.BlockedBy != "o-1" || blocked.State != workflows.LoopScheduled {
		t.Fatalf("while o-1 waited: head %+v, o-3 %+v", during.Head, blocked)
	}
	// o-3 failed for good (400) and o-4 still went: a failure ends a
	// delivery as a success does.
	if ev := h.outcome("o-3"); ev.FailedDeliveries != 1 || ev.ProcessedAt == nil {
		t.Fatalf("o-3: %+v", ev)
	}
}

func TestStreamCancelAndRetrySignals(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"c-0": {{503, ""}, {200, ""}}, "c-1": {{503, ""}, {200, ""}}})
	w := h.streamHook(r, "signals", webhook.Stream, func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	h.sendAt(time.Millisecond, h.group(w, "c-0", "c-1"))
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalCancel, workflows.EventSignal{EventID: "c-0"})
		h.env.SignalWorkflow(workflows.SignalRetry, workflows.EventSignal{EventID: "c-1"}) // go now
	}, 10*time.Minute)
	var cancelled *webhook.Event
	h.env.RegisterDelayedCallback(func() {
		cancelled = h.outcome("c-0")
		// A retry of the cancelled delivery starts it over.
		h.env.SignalWorkflow(workflows.SignalRetry, workflows.EventSignal{EventID: "c-0"})
	}, 20*time.Minute)
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	if cancelled.FailedDeliveries != 1 || cancelled.ProcessedAt == nil {
		t.Fatalf("c-0 after cancel: %+v", cancelled)
	}
	rows, _, _ := h.store.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: w.ID, EventID: "c-0"})
	if len(rows) != 2 || !strings.HasPrefix(rows[1].LastError, "cancelled") || rows[0].Status != webhook.AttemptDelivered || rows[0].AttemptNumber != 2 {
		t.Fatalf("c-0 rows: %+v", rows)
	}
	if ev := h.outcome("c-0"); ev.SuccessfulDeliveries != 1 || ev.FailedDeliveries != 0 {
		t.Fatalf("c-0 after its retry: %+v", ev)
	}
	if gaps := h.gaps(w.ID); !slices.Contains(gaps, 10*time.Minute) {
		t.Fatalf("c-1's retry signal did not cut its hour short: %v", gaps)
	}
}

// A stream answers the API's updates once its main loop has taken them in:
// a waiting delivery retried is attempting, one cancelled is cancelled, one
// that ended and is retried is held again and attempting, and a cancel of
// what was delivered is rejected.
func TestStreamUpdatesAnswer(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"u-0": {{503, ""}, {200, ""}}, "u-1": {{503, ""}, {200, ""}}})
	w := h.streamHook(r, "updates", webhook.Stream, func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	h.sendAt(time.Millisecond, h.group(w, "u-0", "u-1"))
	u := newUpdates(t, h.env)
	h.env.RegisterDelayedCallback(func() {
		u.send("cancel", workflows.UpdateCancel, workflows.EventSignal{EventID: "u-0"})
		u.send("retry", workflows.UpdateRetry, workflows.EventSignal{EventID: "u-1"})
	}, 10*time.Minute)
	h.env.RegisterDelayedCallback(func() {
		u.send("start-over", workflows.UpdateRetry, workflows.EventSignal{EventID: "u-0"})
		u.send("cancel-delivered", workflows.UpdateCancel, workflows.EventSignal{EventID: "u-1"})
	}, 20*time.Minute)
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]workflows.LoopState{"cancel": workflows.LoopCancelled, "retry": workflows.LoopAttempting, "start-over": workflows.LoopAttempting} {
		if a := u.answers[id]; a.State == nil || a.State.State != want {
			t.Errorf("%s answered %+v, want %s", id, a.State, want)
		}
	}
	var app *temporal.ApplicationError
	if err := u.rejected["cancel-delivered"]; !errors.As(err, &app) || app.Type() != workflows.ErrNothingToCancel {
		t.Fatalf("cancel of a delivered delivery: %v", err)
	}
	if ev := h.outcome("u-0"); ev.SuccessfulDeliveries != 1 {
		t.Fatalf("u-0 after its retry: %+v", ev)
	}
}

func TestStreamHeldWhilePausedThenResumed(t *testing.T) {
	h := newHarness(t)
	h.started = h.env.Now()
	r := h.receiver()
	w := h.streamHook(r, "paused", webhook.Stream, nil)
	h.store.UpdateWebhook(context.Background(), w.ID, func(w *webhook.Webhook) error {
		w.SetStatus(webhook.StatusPaused, "maintenance", time.Now())
		return nil
	})
	h.sendAt(time.Millisecond, h.group(w, "p-0", "p-1"))
	var during workflows.StreamState
	h.env.RegisterDelayedCallback(func() {
		during = h.queryStream()
		h.store.UpdateWebhook(context.Background(), w.ID, func(w *webhook.Webhook) error {
			w.SetStatus(webhook.StatusActive, "", time.Now())
			return nil
		})
		h.env.SignalWorkflow(workflows.SignalResume, workflows.EventSignal{})
	}, 20*time.Minute)
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	if !during.Paused || during.Status != workflows.StatusPaused || during.Held != 2 || !strings.Contains(during.Deliveries[0].LastError, "maintenance") {
		t.Fatalf("while paused: %+v", during)
	}
	if got := r.arrivals(); len(got) != 2 {
		t.Fatalf("arrivals %v", got)
	}
	if first := h.attempts[w.ID][0]; first.Sub(h.started) < 20*time.Minute {
		t.Fatalf("an attempt %v into the pause", first.Sub(h.started))
	}
}

func TestStreamKeepsItsRateLimit(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	w := h.streamHook(r, "limited", webhook.Stream, func(w *webhook.Webhook) { w.RateLimitPerMinute = 2 })
	h.sendAt(time.Millisecond, h.group(w, "r-0", "r-1", "r-2", "r-3", "r-4"))
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	perMinute := map[time.Time]int{}
	for _, at := range h.attempts[w.ID] {
		perMinute[at.Truncate(time.Minute)]++
	}
	if len(h.attempts[w.ID]) != 5 || len(perMinute) < 3 {
		t.Fatalf("5 events at 2 a minute: %v", h.attempts[w.ID])
	}
	for m, n := range perMinute {
		if n > 2 {
			t.Fatalf("%d attempts in the minute from %v", n, m)
		}
	}
}

// A run that has taken its share of events continues as new, carrying the
// deliveries not ended; the next run delivers them on their schedule.
func TestStreamContinuesAsNewWithPendingRetries(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"n-1": {{503, ""}, {200, ""}}})
	w := h.streamHook(r, "renewed", webhook.Stream, nil)
	h.sendAt(time.Millisecond, h.group(w, "n-0", "n-1"))
	h.sendAt(2*time.Second, h.group(w, "n-2", "n-3"))
	in := h.mustContinue(workflows.StreamInput{WebhookID: w.ID, EventsPerRun: 3})
	if in.Carried == nil || in.EventsPerRun != 3 || len(in.Carried.Items) == 0 {
		t.Fatalf("carried %+v", in)
	}
	// The next run, on another worker, with the store as the first left it.
	h2 := newHarnessOn(t, h.store)
	r.h = h2
	if err := h2.runStream(in); err != nil {
		t.Fatal(err)
	}
	got := r.arrivals()
	slices.Sort(got)
	if want := []string{"n-0", "n-1", "n-1", "n-2", "n-3"}; !slices.Equal(got, want) {
		t.Fatalf("arrivals over both runs %v, want %v", got, want)
	}
	for _, id := range []string{"n-0", "n-1", "n-2", "n-3"} {
		if ev := h2.outcome(id); ev.SuccessfulDeliveries != 1 {
			t.Fatalf("%s: %+v", id, ev)
		}
	}
}

// A subscriber switched from stream to ordered: the deliveries it holds keep
// their places, and later events wait for them.
func TestStreamSwitchedToOrdered(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"m-0": {{503, ""}, {200, ""}}})
	w := h.streamHook(r, "switch", webhook.Stream, nil)
	h.sendAt(time.Millisecond, h.group(w, "m-0"))
	h.env.RegisterDelayedCallback(func() {
		h.store.UpdateWebhook(context.Background(), w.ID, func(w *webhook.Webhook) error { w.DeliveryMode = webhook.Ordered; return nil })
		h.env.SignalWorkflow(workflows.SignalEvents, h.group(w, "m-1", "m-2"))
	}, 10*time.Second)
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	if got, want := r.arrivals(), []string{"m-0", "m-0", "m-1", "m-2"}; !slices.Equal(got, want) {
		t.Fatalf("arrivals %v, want %v", got, want)
	}
}

func TestStreamEndsWhenItsWebhookIsDeleted(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"d-0": {{503, ""}}})
	w := h.streamHook(r, "deleted", webhook.Stream, nil)
	h.sendAt(time.Millisecond, h.group(w, "d-0"))
	h.env.RegisterDelayedCallback(func() {
		if err := h.store.DeleteWebhook(context.Background(), w.ID); err != nil {
			t.Error(err)
		}
	}, 10*time.Second)
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	if ev := h.outcome("d-0"); ev.FailedDeliveries != 1 || ev.ProcessedAt == nil {
		t.Fatalf("d-0 after its webhook was deleted: %+v", ev)
	}
	if r.count() != 1 {
		t.Fatalf("receiver got %d requests", r.count())
	}
}

// The dispatcher takes groups as signals and starts their event workflows
// a batch at a time; a group's subscribers stay with its events.
func TestDispatcherStartsEverySignalledGroup(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var started [][]string
	h.env.OnActivity(workflows.ActivityStartEvents.Name, mock.Anything, mock.Anything).Return(func(_ context.Context, in workflows.IngestInput) error {
		var ids []string
		for _, e := range in.Events {
			ids = append(ids, e.EventID)
			if len(e.WebhookIDs) != 1 || !slices.ContainsFunc(in.Subscribers, func(s workflows.Subscriber) bool { return s.WebhookID == e.WebhookIDs[0] }) {
				t.Errorf("event %s without its subscriber: %+v", e.EventID, in)
			}
		}
		mu.Lock()
		started = append(started, ids)
		mu.Unlock()
		return nil
	})
	group := func(webhookID int64, ids ...string) workflows.IngestInput {
		g := workflows.IngestInput{Subscribers: []workflows.Subscriber{{WebhookID: webhookID, Name: "w"}}}
		for _, id := range ids {
			g.Events = append(g.Events, workflows.IngestEvent{EventID: id, WebhookIDs: []int64{webhookID}})
		}
		return g
	}
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalEvents, group(1, "a", "b"))
		h.env.SignalWorkflow(workflows.SignalEvents, group(2, "c"))
	}, time.Millisecond)
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalEvents, group(1, "d")) }, time.Minute)
	h.env.ExecuteWorkflow(workflows.IngestWorkflowName, workflows.IngestInput{Dispatch: true})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, ids := range started {
		all = append(all, ids...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []string{"a", "b", "c", "d"}) {
		t.Fatalf("started %v", started)
	}
}

// A stream holds at most MaxHeld deliveries: the rest wait in the store
// and are loaded in order as deliveries end, also by the run after a
// continue-as-new; one cancelled while it waits there is never sent.
func TestStreamBacklogKeepsOrder(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	r.answerBy(map[string][]reply{"b-1": {{503, ""}, {200, ""}}, "b-3": {{503, ""}, {503, ""}, {200, ""}}})
	w := h.streamHook(r, "backlog", webhook.Ordered, nil)
	h.sendAt(time.Millisecond, h.group(w, "b-0", "b-1", "b-2", "b-3", "b-4", "b-5", "b-6", "b-7"))
	h.sendAt(150*time.Second, h.group(w, "b-8")) // the ninth: the run continues as new
	var during workflows.StreamState
	h.env.RegisterDelayedCallback(func() {
		during = h.queryStream()
		h.env.SignalWorkflow(workflows.SignalCancel, workflows.EventSignal{EventID: "b-6"})
	}, 30*time.Second)
	err := h.runStream(workflows.StreamInput{WebhookID: w.ID, MaxHeld: 3, EventsPerRun: 9})
	var next *workflow.ContinueAsNewError
	if !errors.As(err, &next) {
		t.Fatalf("want a continue-as-new, got %v", err)
	}
	if !during.Backlog || during.Held != 2 || during.Head == nil || during.Head.EventID != "b-1" {
		t.Fatalf("stream at 30 s: %+v", during)
	}
	var in workflows.StreamInput
	if err := converter.GetDefaultDataConverter().FromPayloads(next.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.Carried == nil || !in.Carried.Backlog || len(in.Carried.Items) > 3 || in.MaxHeld != 3 {
		t.Fatalf("carried %+v", in)
	}
	h2 := newHarnessOn(t, h.store)
	r.h = h2
	if err := h2.runStream(in); err != nil {
		t.Fatal(err)
	}
	want := []string{"b-0", "b-1", "b-1", "b-2", "b-3", "b-3", "b-3", "b-4", "b-5", "b-7", "b-8"}
	if got := r.arrivals(); !slices.Equal(got, want) {
		t.Fatalf("arrivals %v, want %v", got, want)
	}
	if ev := h2.outcome("b-6"); ev.FailedDeliveries != 1 || ev.ProcessedAt == nil {
		t.Fatalf("b-6, cancelled in the backlog: %+v", ev)
	}
	for _, id := range want {
		if ev := h2.outcome(id); ev.SuccessfulDeliveries != 1 {
			t.Fatalf("%s: %+v", id, ev)
		}
	}
}

// A stream runs two batches at once, of up to StreamBatchSize events
// each: under a burst, the events that wait make the next batches larger
// instead of more of them.
func TestStreamRunsItsBatchesTwoAtATime(t *testing.T) {
	h := newHarness(t)
	w := h.streamHook(h.receiver(), "stream", webhook.Stream, nil)
	var mu sync.Mutex
	var inFlight, most int
	var sizes []int
	h.env.OnActivity(workflows.ActivityAttemptStream.Name, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in workflows.StreamAttemptInput) (workflows.StreamAttemptResult, error) {
			mu.Lock()
			inFlight++
			most, sizes = max(most, inFlight), append(sizes, len(in.Attempts))
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
			var res workflows.StreamAttemptResult
			for _, at := range in.Attempts {
				res.Results = append(res.Results, workflows.AttemptResult{EventID: at.EventID, Attempt: at.Attempt,
					Status: webhook.AttemptDelivered, StatusCode: 200})
			}
			return res, nil
		})
	ids := make([]string, 3*workflows.StreamBatchSize+50)
	for i := range ids {
		ids[i] = fmt.Sprintf("b-%d", i)
	}
	h.sendAt(time.Millisecond, h.group(w, ids...))
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(sizes)
	if most != 2 || !slices.Equal(sizes, []int{50, 100, 100, 100}) {
		t.Fatalf("batches of %v, at most %d at once; want 2 at once", sizes, most)
	}
}

// A run that has taken its share of signals continues as new without
// waiting for a batch that hangs: Temporal would refuse its 10,000th
// signal, and every publish to the subscriber with it. The next run makes
// the deliveries left in flight, and the one whose request was under way
// is not sent again: the receiver gets each event once.
func TestStreamLeavesAHangingBatchAtItsSignalBound(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	w := h.streamHook(r, "hanging", webhook.Stream, nil)
	later := []workflows.StreamEvents{h.group(w, "f-1"), h.group(w, "f-2"), h.group(w, "f-3")}
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	r.arriving = func(id string) {
		if id != "f-0" {
			return
		}
		// The receiver hangs on f-0; meanwhile more events come.
		for _, g := range later {
			h.env.SignalWorkflow(workflows.SignalEvents, g)
		}
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}
	h.sendAt(time.Millisecond, h.group(w, "f-0"))
	in := h.mustContinue(workflows.StreamInput{WebhookID: w.ID, MaxSignals: 4})
	if in.MaxSignals != 4 || in.Carried == nil {
		t.Fatalf("next run's input %+v", in)
	}
	var carried []string
	for _, it := range in.Carried.Items {
		carried = append(carried, it.EventID)
		if it.EventID == "f-0" && it.Next != 1 {
			t.Errorf("f-0 carried at attempt %d, want its attempt in flight, 1", it.Next)
		}
	}
	if !slices.Contains(carried, "f-0") {
		t.Fatalf("carried %v; want f-0, whose batch was left in flight", carried)
	}
	// The receiver answers the request left under way, and the first
	// run's activity records it, before the next run starts.
	once.Do(func() { close(release) })
	h.waitRecorded(w.ID, "f-0")
	h2 := newHarnessOn(t, h.store)
	r.mu.Lock()
	r.h = h2
	r.mu.Unlock()
	if err := h2.runStream(in); err != nil {
		t.Fatal(err)
	}
	got := r.arrivals()
	slices.Sort(got)
	if want := []string{"f-0", "f-1", "f-2", "f-3"}; !slices.Equal(got, want) {
		t.Fatalf("receiver got %v over both runs, want each event once: %v", got, want)
	}
	for _, id := range []string{"f-0", "f-1", "f-2", "f-3"} {
		if ev := h2.outcome(id); ev.SuccessfulDeliveries != 1 {
			t.Fatalf("%s recorded %+v, want delivered once", id, ev)
		}
	}
}

// waitRecorded waits, in real time, until the store holds the outcome of
// an event's latest attempt to the webhook.
func (h *harness) waitRecorded(webhookID int64, eventID string) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		rows, err := h.store.LatestAttempts(context.Background(), eventID)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, d := range rows {
			if d.WebhookID == webhookID && d.Status != webhook.AttemptPending {
				return
			}
		}
	}
	h.t.Fatalf("no outcome recorded for %s in 10 s", eventID)
}

// A small group that arrives while a large batch is in flight goes at once
// as a local activity, beside it, instead of waiting for a round trip
// through Temporal behind it.
func TestStreamRunsASmallBatchLocallyBesideARegularOne(t *testing.T) {
	h := newHarness(t)
	w := h.streamHook(h.receiver(), "stream", webhook.Stream, nil)
	var mu sync.Mutex
	var calls []string
	h.env.OnActivity(workflows.ActivityAttemptStream.Name, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in workflows.StreamAttemptInput) (workflows.StreamAttemptResult, error) {
			local := activity.GetInfo(ctx).IsLocalActivity
			mu.Lock()
			calls = append(calls, fmt.Sprintf("%d local=%v", len(in.Attempts), local))
			mu.Unlock()
			if !local {
				time.Sleep(200 * time.Millisecond)
			}
			var res workflows.StreamAttemptResult
			for _, at := range in.Attempts {
				res.Results = append(res.Results, workflows.AttemptResult{EventID: at.EventID, Attempt: at.Attempt,
					Status: webhook.AttemptDelivered, StatusCode: 200, DurationMS: 5})
			}
			return res, nil
		})
	large := make([]string, 20)
	for i := range large {
		large[i] = fmt.Sprintf("large-%d", i)
	}
	h.sendAt(time.Millisecond, h.group(w, large...))
	h.sendAt(2*time.Millisecond, h.group(w, "small-0", "small-1"))
	if err := h.runStream(workflows.StreamInput{WebhookID: w.ID}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"20 local=false", "2 local=true"}; !slices.Equal(calls, want) {
		t.Fatalf("batches %v, want %v", calls, want)
	}
}
