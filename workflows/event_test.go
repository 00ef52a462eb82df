package workflows_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
	"github.com/loki-interceptor/herald/workflows"
)

// These tests run EventWorkflow in the SDK's time-skipping test environment
// with Herald's real activities: a real (SQLite) store, real signed HTTP
// requests to loopback receivers. Only time is simulated.

type reply struct {
	status     int
	retryAfter string
}

// receiver answers from a script (the last reply repeats) and keeps what it
// got, and when, in workflow time.
type receiver struct {
	t      *testing.T
	h      *harness
	srv    *httptest.Server
	mu     sync.Mutex
	script []reply
	got    [][]byte
	hook   *webhook.Webhook
	// by, when set, answers each event from its own script (answerBy);
	// ids are the event ids of the requests, in order.
	by      func(eventID string, n int) reply
	ids     []string
	byEvent map[string]int
	// arriving, when set, is called with each request's event id before
	// it is answered (a test makes the receiver hang there).
	arriving func(eventID string)
}

func (h *harness) receiver(script ...reply) *receiver {
	t := h.t
	if len(script) == 0 {
		script = []reply{{200, ""}}
	}
	r := &receiver{t: t, h: h, script: script, byEvent: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if r.arriving != nil {
			r.arriving(req.Header.Get(webhook.HeaderID))
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.VerifyHeaders(r.hook.Secret, req.Header, body, time.Now()); err != nil {
			t.Errorf("receiver %s: bad signature: %v", r.hook.Name, err)
		}
		id := req.Header.Get(webhook.HeaderID)
		var rep reply
		if r.by != nil {
			rep = r.by(id, r.byEvent[id])
			r.byEvent[id]++
		} else {
			rep = r.script[min(len(r.got), len(r.script)-1)]
		}
		r.got, r.ids = append(r.got, body), append(r.ids, id)
		r.h.mu.Lock()
		r.h.attempts[r.hook.ID] = append(r.h.attempts[r.hook.ID], r.h.env.Now())
		r.h.mu.Unlock()
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.WriteHeader(rep.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

type harness struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	store    *store.Store
	acts     *activities.Activities
	mu       sync.Mutex
	attempts map[int64][]time.Time // webhook id → workflow time of each attempt that was sent
	started  time.Time             // workflow time a test notes as its start
}

func newHarness(t *testing.T) *harness {
	return newHarnessOn(t, storetest.MustOpen(t, schema.SQLite))
}

// newHarnessOn runs a fresh test environment over an existing store, as a
// later run of Herald would.
func newHarnessOn(t *testing.T, s *store.Store) *harness {
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	h := &harness{t: t, env: env, store: s, attempts: map[int64][]time.Time{}}
	sender := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	h.acts = &activities.Activities{Store: s, Deliverer: &integrations.Deliverer{HTTP: sender},
		Logger: slog.New(slog.DiscardHandler), Breaker: activities.DefaultBreaker, Now: env.Now}
	worker.Register(env, h.acts)
	env.RegisterWorkflow(burst)
	return h
}

// hook creates a webhook pointing at r, shaped by edit.
func (h *harness) hook(r *receiver, name string, edit func(*webhook.Webhook)) *webhook.Webhook {
	w := webhook.New()
	w.Name, w.URL, w.Secret, w.EventTypes = name, r.srv.URL, webhook.NewSecret(), []string{"compliance.alert"}
	w.JitterPercentage = 0
	if edit != nil {
		edit(w)
	}
	if err := h.store.CreateWebhook(context.Background(), w); err != nil {
		h.t.Fatal(err)
	}
	r.hook = w
	return w
}

func event(id string) webhook.Event {
	return webhook.Event{EventID: id, EventType: "compliance.alert", Source: "loki", SourceID: "doc_1",
		Payload:   json.RawMessage(`{"alert_level":"high","alert_type":"gdpr_violation","message":"m"}`),
		CreatedAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
}

// run delivers an event as Herald does: recorded with its subscribers, as
// the API records it, then its workflow started with them.
func (h *harness) run(ev webhook.Event) workflows.EventResult {
	return h.runInput(h.recorded(ev))
}

// recorded records an event as the API does and returns its workflow's
// input: the subscribers it goes to one workflow per event.
func (h *harness) recorded(ev webhook.Event) workflows.EventInput {
	recs, err := h.store.RecordEvents(context.Background(), []*webhook.Event{&ev}, func(_, _ *webhook.Event) error { return nil })
	if err != nil {
		h.t.Fatal(err)
	}
	in := workflows.EventInput{Event: *recs[0].Event, Recorded: true}
	for _, w := range recs[0].Subscribers {
		if sub := workflows.SubscriberOf(w, 1); !sub.Mode.Streamed() {
			in.Subscribers = append(in.Subscribers, sub)
		}
	}
	return in
}

func (h *harness) runInput(in workflows.EventInput) workflows.EventResult {
	h.env.ExecuteWorkflow(workflows.EventWorkflowName, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatal(err)
	}
	var res workflows.EventResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

// gaps are the waits between consecutive attempts, in workflow time.
func (h *harness) gaps(webhookID int64) []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.attempts[webhookID]
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]).Round(time.Second))
	}
	return out
}

func (h *harness) statuses(webhookID int64) []webhook.AttemptStatus {
	rows, _, err := h.store.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: webhookID})
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]webhook.AttemptStatus, len(rows))
	for i, r := range rows {
		out[len(rows)-1-i] = r.Status // oldest first
	}
	return out
}

const (
	R = webhook.AttemptRetrying
	D = webhook.AttemptDelivered
	F = webhook.AttemptFailed
)

func TestDeliveryScenarios(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name     string
		script   []reply
		edit     func(*webhook.Webhook)
		status   string
		rows     []webhook.AttemptStatus
		gaps     []time.Duration
		received int
	}{
		{"retries on 5xx then succeeds", []reply{{503, ""}, {500, ""}, {200, ""}}, nil,
			workflows.StatusDelivered, []webhook.AttemptStatus{R, R, D}, []time.Duration{m, 2 * m}, 3},
		{"no retry on 400", []reply{{400, ""}}, nil,
			workflows.StatusFailed, []webhook.AttemptStatus{F}, nil, 1},
		{"408 and 429 are retried", []reply{{408, ""}, {429, ""}, {204, ""}}, nil,
			workflows.StatusDelivered, []webhook.AttemptStatus{R, R, D}, []time.Duration{m, 2 * m}, 3},
		{"Retry-After stretches the wait", []reply{{503, "600"}, {200, ""}}, func(w *webhook.Webhook) { w.RetryStrategy = webhook.FixedInterval },
			workflows.StatusDelivered, []webhook.AttemptStatus{R, D}, []time.Duration{10 * m}, 2},
		{"Retry-After shorter than the plan is ignored", []reply{{429, "5"}, {200, ""}}, nil,
			workflows.StatusDelivered, []webhook.AttemptStatus{R, D}, []time.Duration{m}, 2},
		{"exhausted retries fail", []reply{{503, ""}}, func(w *webhook.Webhook) { w.MaxRetries = 3 },
			workflows.StatusFailed, []webhook.AttemptStatus{R, R, R, F}, []time.Duration{m, 2 * m, 4 * m}, 4},
		{"linear backoff", []reply{{502, ""}}, func(w *webhook.Webhook) {
			w.RetryStrategy, w.MaxRetries, w.RetryDelaySeconds = webhook.LinearBackoff, 3, 30
		},
			workflows.StatusFailed, []webhook.AttemptStatus{R, R, R, F}, []time.Duration{30 * time.Second, m, 90 * time.Second}, 4},
		{"exponential capped by max delay", []reply{{500, ""}}, func(w *webhook.Webhook) { w.MaxRetries, w.MaxDelaySeconds = 4, 150 },
			workflows.StatusFailed, []webhook.AttemptStatus{R, R, R, R, F}, []time.Duration{m, 2 * m, 150 * time.Second, 150 * time.Second}, 5},
		{"no_retry sends once", []reply{{503, ""}}, func(w *webhook.Webhook) { w.RetryStrategy = webhook.NoRetry },
			workflows.StatusFailed, []webhook.AttemptStatus{F}, nil, 1},
		{"max_retries 0 sends once", []reply{{503, ""}}, func(w *webhook.Webhook) { w.MaxRetries = 0 },
			workflows.StatusFailed, []webhook.AttemptStatus{F}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := h.receiver(tt.script...)
			w := h.hook(r, "w", tt.edit)
			res := h.run(event("evt-" + strconv.Itoa(len(tt.name))))
			if res.Status != tt.status {
				t.Errorf("status %s, want %s", res.Status, tt.status)
			}
			if got := h.statuses(w.ID); !slices.Equal(got, tt.rows) {
				t.Errorf("attempt rows %v, want %v", got, tt.rows)
			}
			if got := h.gaps(w.ID); !slices.Equal(got, tt.gaps) {
				t.Errorf("waits between attempts %v, want %v", got, tt.gaps)
			}
			if r.count() != tt.received {
				t.Errorf("receiver got %d requests, want %d", r.count(), tt.received)
			}
		})
	}
}

func TestFanOutWithOneFailing(t *testing.T) {
	h := newHarness(t)
	ok1, ok2, bad := h.receiver(reply{200, ""}), h.receiver(reply{503, ""}, reply{200, ""}), h.receiver(reply{404, ""})
	w1, w2, w3 := h.hook(ok1, "ok1", nil), h.hook(ok2, "ok2", nil), h.hook(bad, "bad", nil)
	other := h.receiver(reply{200, ""})
	h.hook(other, "other", func(w *webhook.Webhook) { w.EventTypes = []string{"batch.completed"} })

	ev := event("fan-out")
	res := h.run(ev)
	if res != (workflows.EventResult{Status: workflows.StatusPartial, Delivered: 2, Failed: 1}) {
		t.Fatalf("result %+v", res)
	}
	for w, want := range map[int64][]webhook.AttemptStatus{w1.ID: {D}, w2.ID: {R, D}, w3.ID: {F}} {
		if got := h.statuses(w); !slices.Equal(got, want) {
			t.Errorf("webhook %d rows %v, want %v", w, got, want)
		}
	}
	if other.count() != 0 {
		t.Fatal("a webhook not subscribed to the type received the event")
	}
	body, _ := ev.Body()
	for _, r := range []*receiver{ok1, ok2, bad} {
		for _, got := range r.got {
			if string(got) != string(body) {
				t.Fatalf("%s got body %s, want %s", r.hook.Name, got, body)
			}
		}
	}
	stored, err := h.store.GetEvent(context.Background(), ev.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.TotalDeliveries != 3 || stored.SuccessfulDeliveries != 2 || stored.FailedDeliveries != 1 || stored.ProcessedAt == nil {
		t.Fatalf("event counters %+v", stored)
	}
}

func TestRetrySignalCutsTheWaitShort(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{503, ""}, reply{200, ""})
	w := h.hook(r, "w", func(w *webhook.Webhook) { w.RetryDelaySeconds = 3600 })
	var during []workflows.DeliveryState
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(workflows.QueryDeliveries)
		if err != nil {
			t.Error(err)
			return
		}
		if err := v.Get(&during); err != nil {
			t.Error(err)
		}
		// A signal for another webhook changes nothing.
		h.env.SignalWorkflow(workflows.SignalRetry, workflows.WebhookSignal{WebhookID: w.ID + 100})
	}, 5*time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(workflows.SignalRetry, workflows.WebhookSignal{WebhookID: w.ID})
	}, 10*time.Minute)
	res := h.run(event("signal"))
	if res.Status != workflows.StatusDelivered {
		t.Fatalf("result %+v", res)
	}
	if got := h.gaps(w.ID); !slices.Equal(got, []time.Duration{10 * time.Minute}) {
		t.Fatalf("waits %v, want the signal's 10m", got)
	}
	if len(during) != 1 || during[0].State != workflows.LoopRetrying || during[0].Attempts != 1 ||
		during[0].LastAttempt != 6 || during[0].NextAttemptAt == nil || during[0].LastStatusCode != 503 || during[0].WebhookName != "w" {
		t.Fatalf("query while waiting: %+v", during)
	}
}

func TestJitterStaysInBounds(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{500, ""})
	w := h.hook(r, "w", func(w *webhook.Webhook) { w.JitterPercentage = 0.2; w.MaxRetries = 4 })
	h.run(event("jitter"))
	for i, g := range h.gaps(w.ID) {
		base := w.RetryPolicy().Backoff(i + 1)
		lo, hi := time.Duration(float64(base)*0.8)-time.Second, time.Duration(float64(base)*1.2)+time.Second
		if g < lo || g > hi {
			t.Fatalf("wait %d is %v, outside [%v, %v]", i+1, g, lo, hi)
		}
	}
}

func TestDeletedWebhookStopsItsDelivery(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{503, ""})
	w := h.hook(r, "w", nil)
	h.env.RegisterDelayedCallback(func() {
		if err := h.store.DeleteWebhook(context.Background(), w.ID); err != nil {
			t.Error(err)
		}
	}, 30*time.Second)
	res := h.run(event("deleted"))
	if res != (workflows.EventResult{Status: workflows.StatusFailed, Cancelled: 1}) {
		t.Fatalf("result %+v", res)
	}
	if r.count() != 1 {
		t.Fatalf("receiver got %d requests after its webhook was deleted", r.count())
	}
	stored, _ := h.store.GetEvent(context.Background(), "deleted")
	if stored.ProcessedAt == nil || stored.FailedDeliveries != 1 || stored.TotalDeliveries != 1 {
		t.Fatalf("event after its only webhook was deleted: %+v", stored)
	}
}

func TestNoSubscribers(t *testing.T) {
	for name, in := range map[string]func(h *harness, ev webhook.Event) workflows.EventInput{
		"recorded at accept":     (*harness).recorded,
		"resolved by StartEvent": func(_ *harness, ev webhook.Event) workflows.EventInput { return workflows.EventInput{Event: ev} },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			res := h.runInput(in(h, event("nobody")))
			if res.Status != workflows.StatusNoSubscribers {
				t.Fatalf("result %+v", res)
			}
			stored, _ := h.store.GetEvent(context.Background(), "nobody")
			if stored == nil || stored.ProcessedAt == nil || stored.TotalDeliveries != 0 {
				t.Fatalf("event %+v", stored)
			}
		})
	}
}

// An event workflow started by an older Herald resolves its subscribers
// and records its finish itself.
func TestEventResolvedByStartEvent(t *testing.T) {
	h := newHarness(t)
	ok, bad := h.receiver(reply{200, ""}), h.receiver(reply{404, ""})
	h.hook(ok, "ok", nil)
	h.hook(bad, "bad", nil)
	ev := event("legacy")
	res := h.runInput(workflows.EventInput{Event: ev})
	if res != (workflows.EventResult{Status: workflows.StatusPartial, Delivered: 1, Failed: 1}) {
		t.Fatalf("result %+v", res)
	}
	stored, _ := h.store.GetEvent(context.Background(), "legacy")
	if stored.TotalDeliveries != 2 || stored.SuccessfulDeliveries != 1 || stored.FailedDeliveries != 1 || stored.ProcessedAt == nil {
		t.Fatalf("event counters %+v", stored)
	}
}
