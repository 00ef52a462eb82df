package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// burst runs one EventWorkflow per event, as the API would start them, and
// waits for all: the test environment runs a single top-level workflow.
// With sequential set it starts each after the previous ended.
func burst(ctx workflow.Context, ins []workflows.EventInput, sequential bool) ([]workflows.EventResult, error) {
	var futures []workflow.ChildWorkflowFuture
	results := make([]workflows.EventResult, len(ins))
	for i, in := range ins {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: workflows.EventWorkflowID(in.Event.EventID)})
		f := workflow.ExecuteChildWorkflow(cctx, workflows.EventWorkflowName, in)
		if sequential {
			if err := f.Get(ctx, &results[i]); err != nil {
				return nil, err
			}
			continue
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		if err := f.Get(ctx, &results[i]); err != nil {
			return nil, err
		}
	}
	return results, nil
}

func (h *harness) burst(events []webhook.Event, sequential bool) []workflows.EventResult {
	h.env.ExecuteWorkflow(burst, h.inputs(events), sequential)
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatal(err)
	}
	var res []workflows.EventResult
	h.env.GetWorkflowResult(&res)
	return res
}

// inputs records events as the API does and returns their workflows' inputs.
func (h *harness) inputs(events []webhook.Event) []workflows.EventInput {
	ins := make([]workflows.EventInput, len(events))
	for i, ev := range events {
		ins[i] = h.recorded(ev)
	}
	return ins
}

func events(prefix string, n int) []webhook.Event {
	out := make([]webhook.Event, n)
	for i := range out {
		out[i] = event(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// A webhook limited to N a minute gets a burst of 3N events: every one
// arrives, never more than N in one minute window, and waiting for room is
// neither an attempt nor a failure.
func TestRateLimitHoldsAndLosesNothing(t *testing.T) {
	const n = 4
	h := newHarness(t)
	r := h.receiver(reply{200, ""})
	w := h.hook(r, "limited", func(w *webhook.Webhook) { w.RateLimitPerMinute, w.RateLimitPerHour = n, 1000 })
	h.env.SetStartTime(time.Date(2026, 11, 29, 9, 0, 30, 0, time.UTC))
	res := h.burst(events("burst", 3*n), false)
	for i, r := range res {
		if r.Status != workflows.StatusDelivered {
			t.Fatalf("event %d: %+v", i, r)
		}
	}
	perWindow := map[time.Time]int{}
	h.mu.Lock()
	for _, at := range h.attempts[w.ID] {
		perWindow[at.UTC().Truncate(time.Minute)]++
	}
	arrived := len(h.attempts[w.ID])
	h.mu.Unlock()
	if arrived != 3*n {
		t.Fatalf("%d arrived, want %d", arrived, 3*n)
	}
	if len(perWindow) < 3 {
		t.Fatalf("all arrived within %d windows: %v", len(perWindow), perWindow)
	}
	for win, c := range perWindow {
		if c > n {
			t.Fatalf("window %v got %d attempts, limit %d", win, c, n)
		}
	}
	_, total, _ := h.store.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: w.ID})
	if total != 3*n {
		t.Fatalf("%d attempt rows, want %d: waiting must not be an attempt", total, 3*n)
	}
}

func TestHourLimitToo(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{200, ""})
	w := h.hook(r, "hourly", func(w *webhook.Webhook) { w.RateLimitPerMinute, w.RateLimitPerHour = 100, 2 })
	h.env.SetStartTime(time.Date(2026, 11, 29, 9, 10, 0, 0, time.UTC))
	h.burst(events("hourly", 5), false)
	perHour := map[time.Time]int{}
	for _, at := range h.attempts[w.ID] {
		perHour[at.UTC().Truncate(time.Hour)]++
	}
	if len(h.attempts[w.ID]) != 5 || perHour[time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)] != 2 ||
		perHour[time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)] != 2 || perHour[time.Date(2026, 11, 29, 11, 0, 0, 0, time.UTC)] != 1 {
		t.Fatalf("arrivals per hour %v", perHour)
	}
}

func TestPausedWebhookHoldsUntilResumed(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{200, ""})
	w := h.hook(r, "paused", func(w *webhook.Webhook) { w.SetStatus(webhook.StatusPaused, "maintenance", time.Now()) })
	var during []workflows.DeliveryState
	h.env.RegisterDelayedCallback(func() {
		v, _ := h.env.QueryWorkflow(workflows.QueryDeliveries)
		v.Get(&during)
		if r.count() != 0 {
			t.Error("a paused webhook received a delivery")
		}
		h.store.UpdateWebhook(context.Background(), w.ID, func(w *webhook.Webhook) error {
			w.SetStatus(webhook.StatusActive, "", time.Now())
			return nil
		})
		h.env.SignalWorkflow(workflows.SignalResume, workflows.WebhookSignal{WebhookID: w.ID})
	}, 20*time.Minute)
	res := h.run(event("held"))
	if res.Status != workflows.StatusDelivered || r.count() != 1 {
		t.Fatalf("result %+v, %d received", res, r.count())
	}
	if len(during) != 1 || during[0].State != workflows.LoopPaused || during[0].Attempts != 0 || during[0].LastError != "webhook is paused: maintenance" {
		t.Fatalf("state while held: %+v", during)
	}
	if got := h.attempts[w.ID]; len(got) != 1 || got[0].Sub(h.env.Now()) > 0 || h.gaps(w.ID) != nil {
		t.Fatalf("attempts %v", got)
	}
	rows, _, _ := h.store.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: w.ID})
	if len(rows) != 1 || rows[0].AttemptNumber != 1 {
		t.Fatalf("a held attempt was recorded: %+v", rows)
	}
}

// A resume signal that never comes (missed, or the webhook reactivated by
// hand in the database) is made up for by the looks a held delivery takes:
// after an hour, then after two more, four more, … up to a day.
func TestHeldDeliveryLooksAgainByItself(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{200, ""})
	w := h.hook(r, "paused", func(w *webhook.Webhook) { w.SetStatus(webhook.StatusPaused, "", time.Now()) })
	start := h.env.Now()
	h.env.RegisterDelayedCallback(func() {
		h.store.UpdateWebhook(context.Background(), w.ID, func(w *webhook.Webhook) error {
			w.SetStatus(webhook.StatusActive, "", time.Now())
			return nil
		})
	}, 90*time.Minute)
	if res := h.run(event("look-again")); res.Status != workflows.StatusDelivered {
		t.Fatalf("result %+v", res)
	}
	if at := h.attempts[w.ID][0].Sub(start).Round(time.Minute); at != 3*time.Hour {
		t.Fatalf("delivered %v after start, want at the second look (1 h, then 2 h later)", at)
	}
}

// A retry signal starts a delivery that failed for good over, while other
// deliveries of the event still run.
func TestRetrySignalRestartsAFailedDelivery(t *testing.T) {
	h := newHarness(t)
	bad := h.receiver(reply{400, ""}, reply{200, ""})
	slow := h.receiver(reply{503, ""}, reply{200, ""})
	wb := h.hook(bad, "bad", nil)
	h.hook(slow, "slow", func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalRetry, workflows.WebhookSignal{WebhookID: wb.ID})
	}, 10*time.Minute)
	res := h.run(event("restart"))
	if res != (workflows.EventResult{Status: workflows.StatusDelivered, Delivered: 2}) {
		t.Fatalf("result %+v", res)
	}
	if got := h.statuses(wb.ID); !slices.Equal(got, []webhook.AttemptStatus{F, D}) {
		t.Fatalf("bad webhook rows %v", got)
	}
	if g := h.gaps(wb.ID); len(g) != 1 || g[0] != 10*time.Minute {
		t.Fatalf("restart came after %v", g)
	}
	ev, _ := h.store.GetEvent(context.Background(), "restart")
	if ev.SuccessfulDeliveries != 2 || ev.FailedDeliveries != 0 {
		t.Fatalf("event counters %+v", ev)
	}
}

// A retry of a delivery whose event's workflow already closed reopens it
// (the API does so with signal-with-start); only the named webhook goes again.
func TestReopenedEventRedeliversOnlyTheNamedWebhook(t *testing.T) {
	first := newHarness(t)
	bad := first.receiver(reply{400, ""}, reply{200, ""})
	good := first.receiver(reply{200, ""})
	wb := first.hook(bad, "bad", nil)
	first.hook(good, "good", nil)
	if res := first.run(event("reopen")); res.Status != workflows.StatusPartial {
		t.Fatalf("first run %+v", res)
	}
	ev, _ := first.store.GetEvent(context.Background(), "reopen")
	if ev.FailedDeliveries != 1 {
		t.Fatalf("after first run %+v", ev)
	}

	second := newHarnessOn(t, first.store)
	bad.h, good.h = second, second
	second.env.RegisterDelayedCallback(func() {
		second.env.SignalWorkflow(workflows.SignalRetry, workflows.WebhookSignal{WebhookID: wb.ID})
	}, time.Millisecond)
	res := second.runInput(workflows.EventInput{Event: *ev, Reopened: true})
	if res != (workflows.EventResult{Status: workflows.StatusDelivered, Delivered: 1}) {
		t.Fatalf("reopened run %+v", res)
	}
	if bad.count() != 2 || good.count() != 1 {
		t.Fatalf("bad got %d, good got %d", bad.count(), good.count())
	}
	rows, _, _ := second.store.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: wb.ID})
	if len(rows) != 2 || rows[0].AttemptNumber != 2 || rows[0].Status != D {
		t.Fatalf("rows %+v", rows)
	}
	ev, _ = second.store.GetEvent(context.Background(), "reopen")
	if ev.SuccessfulDeliveries != 2 || ev.FailedDeliveries != 0 {
		t.Fatalf("after reopening %+v", ev)
	}
}

func TestGoneReceiverPausesItsWebhook(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{410, ""})
	w := h.hook(r, "gone", nil)
	if res := h.run(event("gone")); res.Status != workflows.StatusFailed {
		t.Fatalf("result %+v", res)
	}
	got, _ := h.store.GetWebhook(context.Background(), w.ID)
	if got.Status != webhook.StatusPaused || got.StatusReason != "the receiver answered 410 Gone" || got.PausedAt == nil {
		t.Fatalf("webhook after 410: %+v", got)
	}
}

func TestCircuitBreaker(t *testing.T) {
	tests := []struct {
		name    string
		breaker activities.Breaker
		script  []reply
		events  int
		reason  string
	}{
		{"consecutive failed deliveries", activities.Breaker{Consecutive: 2}, []reply{{400, ""}}, 2,
			"2 deliveries in a row failed"},
		{"failure rate over a window", activities.Breaker{FailureRate: 0.75, Window: time.Hour, MinAttempts: 4}, []reply{{503, ""}}, 1,
			"4 of 4 attempts in the last 1h0m0s failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.acts.Breaker = tt.breaker
			r := h.receiver(tt.script...)
			w := h.hook(r, "failing", func(w *webhook.Webhook) { w.RetryDelaySeconds, w.MaxRetries = 1, 3 })
			h.env.ExecuteWorkflow(burst, h.inputs(events("trip", tt.events)), true)
			got, _ := h.store.GetWebhook(context.Background(), w.ID)
			if got.Status != webhook.StatusPaused || got.StatusReason != tt.reason {
				t.Fatalf("webhook %s: %q", got.Status, got.StatusReason)
			}
		})
	}
}

// The webhook is set active (and resume signalled, as the API does) while
// the attempt that found it paused is still in flight: the delivery must not
// then sleep until its next look.
func TestResumeDuringAHeldAttempt(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{200, ""})
	w := h.hook(r, "p", func(w *webhook.Webhook) { w.SetStatus(webhook.StatusPaused, "x", time.Now()) })
	calls := 0
	h.env.OnActivity(workflows.ActivityAttempt.Name, mock.Anything, mock.Anything).Return(func(ctx context.Context, in workflows.AttemptInput) (workflows.AttemptResult, error) {
		calls++
		res, err := h.acts.Attempt(ctx, in)
		if calls == 1 {
			h.store.UpdateWebhook(context.Background(), w.ID, func(w *webhook.Webhook) error { w.SetStatus(webhook.StatusActive, "", time.Now()); return nil })
			h.env.SignalWorkflow(workflows.SignalResume, workflows.WebhookSignal{WebhookID: w.ID})
			time.Sleep(100 * time.Millisecond)
		}
		return res, err
	})
	start := h.env.Now()
	if res := h.run(event("resume-race")); res.Status != workflows.StatusDelivered {
		t.Fatalf("result %+v", res)
	}
	if d := h.attempts[w.ID][0].Sub(start); d > time.Minute {
		t.Fatalf("resume lost: delivered after %v", d)
	}
}

// A retry signal that arrives while the event is being finished, either
// while FinishEvent runs or together with its completion, still starts the
// delivery over. Only an event workflow started by an older Herald records
// a finish; a recorded event's deliveries record their own outcomes.
func TestRetryWhileFinishing(t *testing.T) {
	for _, slowLoad := range []bool{false, true} {
		t.Run(fmt.Sprintf("slow load %v", slowLoad), func(t *testing.T) {
			h := newHarness(t)
			bad := h.receiver(reply{400, ""}, reply{200, ""})
			wb := h.hook(bad, "bad", nil)
			calls := 0
			h.env.OnActivity(workflows.ActivityFinishEvent.Name, mock.Anything, mock.Anything).Return(func(ctx context.Context, in workflows.FinishEventInput) error {
				calls++
				if calls == 1 {
					h.env.SignalWorkflow(workflows.SignalRetry, workflows.WebhookSignal{WebhookID: wb.ID})
					if slowLoad {
						time.Sleep(300 * time.Millisecond)
					}
				}
				return h.acts.FinishEvent(ctx, in)
			})
			h.env.OnActivity(workflows.ActivityLoadSubscriber.Name, mock.Anything, mock.Anything).Return(func(ctx context.Context, in workflows.LoadSubscriberInput) (workflows.LoadSubscriberResult, error) {
				if slowLoad {
					time.Sleep(600 * time.Millisecond) // a slow database
				}
				return h.acts.LoadSubscriber(ctx, in)
			})
			res := h.runInput(workflows.EventInput{Event: event("finishing")})
			if res.Status != workflows.StatusDelivered || bad.count() != 2 || calls != 2 {
				t.Fatalf("result %+v, receiver got %d, FinishEvent ran %d times", res, bad.count(), calls)
			}
		})
	}
}

// A cancel signal stops a delivery waiting for its retry, and one held by
// a paused webhook, while the event's other deliveries go on; a retry
// signal afterwards starts a cancelled delivery over.
func TestCancelSignalStopsWaitingDeliveries(t *testing.T) {
	h := newHarness(t)
	failing := h.receiver(reply{503, ""})
	held := h.receiver(reply{200, ""})
	again := h.receiver(reply{503, ""}, reply{200, ""})
	fine := h.receiver(reply{503, ""}, reply{200, ""})
	wf := h.hook(failing, "failing", func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	wh := h.hook(held, "held", func(w *webhook.Webhook) { w.SetStatus(webhook.StatusPaused, "", time.Now()) })
	wa := h.hook(again, "again", func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	h.hook(fine, "fine", func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 * 2 })
	for _, id := range []int64{wf.ID, wh.ID, wa.ID} {
		h.env.RegisterDelayedCallback(func() {
			h.env.SignalWorkflow(workflows.SignalCancel, workflows.WebhookSignal{WebhookID: id})
		}, 10*time.Minute)
	}
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalRetry, workflows.WebhookSignal{WebhookID: wa.ID})
	}, 20*time.Minute)
	res := h.run(event("cancel"))
	if res != (workflows.EventResult{Status: workflows.StatusPartial, Delivered: 2, Cancelled: 2}) {
		t.Fatalf("result %+v", res)
	}
	if failing.count() != 1 || held.count() != 0 || again.count() != 2 || fine.count() != 2 {
		t.Fatalf("receivers got %d, %d, %d, %d", failing.count(), held.count(), again.count(), fine.count())
	}
	rows, _, err := h.store.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: wf.ID})
	if err != nil || len(rows) != 1 || rows[0].Status != F || rows[0].NextRetryAt != nil || !strings.HasPrefix(rows[0].LastError, "cancelled") {
		t.Fatalf("cancelled delivery's row: %+v %v", rows, err)
	}
	if got := h.statuses(wa.ID); !slices.Equal(got, []webhook.AttemptStatus{F, D}) {
		t.Fatalf("cancelled then retried: rows %v", got)
	}
	if g := h.gaps(wa.ID); len(g) != 1 || g[0] != 20*time.Minute {
		t.Fatalf("retry after the cancel came after %v", g)
	}
	ev, _ := h.store.GetEvent(context.Background(), "cancel")
	if ev.TotalDeliveries != 4 || ev.SuccessfulDeliveries != 2 || ev.FailedDeliveries != 2 {
		t.Fatalf("event counters %+v", ev)
	}
}

// The API's updates get the workflow's own answer: a retry of a waiting
// delivery answers that it is attempting; a cancel answers it cancelled; a
// cancel of what has ended, or an update naming no webhook, is rejected
// without a trace in the history.
func TestUpdatesAnswerWhereTheDeliveryStands(t *testing.T) {
	h := newHarness(t)
	slow := h.receiver(reply{503, ""}, reply{200, ""})
	stuck := h.receiver(reply{503, ""})
	ws := h.hook(slow, "slow", func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	wc := h.hook(stuck, "stuck", func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	// Keeps the workflow running past the second cancel.
	later := h.receiver(reply{503, ""}, reply{200, ""})
	h.hook(later, "later", func(w *webhook.Webhook) { w.RetryDelaySeconds = 1800 })
	u := newUpdates(t, h.env)
	update := func(id, name string, webhookID int64) {
		u.send(id, name, workflows.WebhookSignal{WebhookID: webhookID})
	}
	h.env.RegisterDelayedCallback(func() {
		update("retry", workflows.UpdateRetry, ws.ID)
		update("cancel", workflows.UpdateCancel, wc.ID)
		update("all", workflows.UpdateRetry, 0)
	}, 10*time.Minute)
	h.env.RegisterDelayedCallback(func() { update("cancel-again", workflows.UpdateCancel, wc.ID) }, 20*time.Minute)
	res := h.run(event("updates"))
	if res != (workflows.EventResult{Status: workflows.StatusPartial, Delivered: 2, Cancelled: 1}) {
		t.Fatalf("result %+v", res)
	}
	answers, rejected := u.answers, u.rejected
	if a := answers["retry"]; a.State == nil || a.State.State != workflows.LoopAttempting || a.State.Attempts != 1 || a.Reopened {
		t.Fatalf("retry answered %+v (%+v)", a, a.State)
	}
	if a := answers["cancel"]; a.State == nil || a.State.State != workflows.LoopCancelled {
		t.Fatalf("cancel answered %+v", a)
	}
	var app *temporal.ApplicationError
	if err := rejected["cancel-again"]; !errors.As(err, &app) || app.Type() != workflows.ErrNothingToCancel {
		t.Fatalf("cancel of an ended delivery: %v, answers %+v", err, answers)
	}
	if rejected["all"] == nil {
		t.Fatal("an update naming no webhook was taken")
	}
	if slow.count() != 2 || stuck.count() != 1 {
		t.Fatalf("receivers got %d and %d", slow.count(), stuck.count())
	}
}

// updates sends updates in a test run and keeps their answers and
// rejections, by update id.
type updates struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	answers  map[string]workflows.DeliveryAnswer
	rejected map[string]error
}

func newUpdates(t *testing.T, env *testsuite.TestWorkflowEnvironment) *updates {
	return &updates{t: t, env: env, answers: map[string]workflows.DeliveryAnswer{}, rejected: map[string]error{}}
}

func (u *updates) send(id, name string, arg any) {
	u.env.UpdateWorkflow(name, id, &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { u.rejected[id] = err },
		OnComplete: func(v any, err error) {
			if err != nil {
				u.t.Errorf("update %s: %v", id, err)
				return
			}
			var a workflows.DeliveryAnswer
			b, _ := json.Marshal(v)
			if err := json.Unmarshal(b, &a); err != nil {
				u.t.Errorf("update %s answered %v", id, v)
			}
			u.answers[id] = a
		},
	}, arg)
}
