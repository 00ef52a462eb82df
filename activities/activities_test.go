package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// A slot reserved for one window is only used in that window: when the wait
// for it overran (workers down, a backlog), the attempt takes a new slot
// instead of landing on top of a later window's count.
func TestReservedSlotOnlyHoldsInItsWindow(t *testing.T) {
	ctx := context.Background()
	s := storetest.MustOpen(t, schema.SQLite)
	got, w, ev := mustLimited(t, s, "evt_slot", 1000)

	base := time.Now().UTC().Truncate(time.Minute).Add(10 * time.Minute)
	now := base
	acts := &activities.Activities{Store: s, Deliverer: &integrations.Deliverer{HTTP: delivery.NewSender(delivery.Options{Allow: netguard.Loopback})},
		Logger: slog.New(slog.DiscardHandler), Breaker: activities.DefaultBreaker, Now: func() time.Time { return now }}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	limits := store.Windows{}.Limits(w)
	attempt := func(n int, reservedAt time.Time) workflows.AttemptResult {
		t.Helper()
		v, err := env.ExecuteActivity(workflows.ActivityAttempt.Name, workflows.AttemptInput{
			EventID: ev.EventID, WebhookID: w.ID, Attempt: n, Reserved: true, ReservedAt: &reservedAt})
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.AttemptResult
		must(t, v.Get(&res))
		return res
	}

	// Reserved for base+1m and run inside that minute: it goes.
	slot, err := s.ReserveSlot(ctx, w.ID, store.AttemptKey{}, limits, base.Add(time.Minute))
	must(t, err)
	now = slot.Add(5 * time.Second)
	if res := attempt(1, slot); res.RateLimitedUntil != nil || got.Load() != 1 {
		t.Fatalf("attempt in its window: %+v, receiver got %d", res, got.Load())
	}

	// Reserved for base+2m but run at base+5m, whose only slot another
	// attempt already took: it must wait for base+6m, not send.
	stale, err := s.ReserveSlot(ctx, w.ID, store.AttemptKey{}, limits, base.Add(2*time.Minute))
	must(t, err)
	_, err = s.ReserveSlot(ctx, w.ID, store.AttemptKey{}, limits, base.Add(5*time.Minute))
	must(t, err)
	now = base.Add(5*time.Minute + 5*time.Second)
	res := attempt(2, stale)
	if res.RateLimitedUntil == nil || !res.RateLimitedUntil.Equal(base.Add(6*time.Minute)) || got.Load() != 1 {
		t.Fatalf("late attempt: %+v, receiver got %d; want a wait until %s and no send", res, got.Load(), base.Add(6*time.Minute))
	}
}

// An attempt run again after its worker died between reserving its slot and
// sending finds the slot it reserved: with one attempt a minute, it goes
// now instead of waiting for the next minute behind a slot nobody used.
func TestAttemptRunAgainAfterACrashUsesItsSlot(t *testing.T) {
	ctx := context.Background()
	s := storetest.MustOpen(t, schema.SQLite)
	got, w, ev := mustLimited(t, s, "evt_crashed", 0)
	now := time.Now().UTC().Truncate(time.Minute).Add(10*time.Minute + 5*time.Second)
	limits := store.Windows{}.Limits(w)
	// The first run reserved the minute's only slot, then its worker died.
	if at, err := s.ReserveSlot(ctx, w.ID, store.AttemptKey{EventID: ev.EventID, Attempt: 1}, limits, now); err != nil || !at.Equal(now) {
		t.Fatalf("first run's slot %v, %v", at, err)
	}
	acts := &activities.Activities{Store: s, Deliverer: &integrations.Deliverer{HTTP: delivery.NewSender(delivery.Options{Allow: netguard.Loopback})},
		Logger: slog.New(slog.DiscardHandler), Breaker: activities.DefaultBreaker, Now: func() time.Time { return now.Add(2 * time.Second) }}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	v, err := env.ExecuteActivity(workflows.ActivityAttempt.Name, workflows.AttemptInput{EventID: ev.EventID, WebhookID: w.ID, Attempt: 1})
	must(t, err)
	var res workflows.AttemptResult
	must(t, v.Get(&res))
	if res.RateLimitedUntil != nil || res.Status != webhook.AttemptDelivered || got.Load() != 1 {
		t.Fatalf("attempt run again: %+v, receiver got %d; want it sent on the slot it held", res, got.Load())
	}
}

// mustLimited stores a webhook limited to one attempt a minute (and perHour
// an hour, 0 for the default), whose receiver counts requests, and an event
// for it.
func mustLimited(t *testing.T, s *store.Store, eventID string, perHour int) (*atomic.Int32, *webhook.Webhook, *webhook.Event) {
	t.Helper()
	got := new(atomic.Int32)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	t.Cleanup(rcv.Close)
	w := webhook.New()
	w.Name, w.URL, w.Secret, w.EventTypes = "limited", rcv.URL, webhook.NewSecret(), []string{"compliance.alert"}
	w.RateLimitPerMinute = 1
	if perHour > 0 {
		w.RateLimitPerHour = perHour
	}
	must(t, s.CreateWebhook(context.Background(), w))
	ev := &webhook.Event{EventID: eventID, EventType: "compliance.alert", Source: "loki", SourceID: "d1",
		Payload: json.RawMessage(`{"alert_level":"low"}`), CreatedAt: time.Now().UTC()}
	if _, err := s.CreateEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	return got, w, ev
}

func TestSlotHolds(t *testing.T) {
	at := time.Date(2026, 11, 30, 10, 5, 0, 0, time.UTC)
	limits := []store.RateLimit{{Max: 10, Window: time.Minute}, {Max: 100, Window: time.Hour}}
	for _, c := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"at the slot", at, true},
		{"later in its minute", at.Add(30 * time.Second), true},
		{"in the minute's guard", at.Add(59*time.Second + 500*time.Millisecond), false},
		{"the next minute", at.Add(time.Minute), false},
		{"a worker's clock a little behind", at.Add(-200 * time.Millisecond), true},
		{"before its window", at.Add(-2 * time.Second), false},
		{"next hour, same minute of it", at.Add(time.Hour), false},
	} {
		if got := store.SlotHolds(limits, at, c.now); got != c.want {
			t.Errorf("%s: SlotHolds = %v, want %v", c.name, got, c.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// An ordered batch tried again (its worker lost after the head's attempt
// was recorded as failed) must not send past the head: the events after a
// head that waits for its retry wait too.
func TestOrderedBatchTriedAgainKeepsTheHead(t *testing.T) {
	ctx := context.Background()
	s := storetest.MustOpen(t, schema.SQLite)
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get(webhook.HeaderID))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(rcv.Close)

	w := webhook.New()
	w.Name, w.URL, w.Secret, w.EventTypes = "ordered", rcv.URL, webhook.NewSecret(), []string{"compliance.alert"}
	w.DeliveryMode = webhook.Ordered
	must(t, s.CreateWebhook(ctx, w))
	in := workflows.StreamAttemptInput{WebhookID: w.ID, Ordered: true}
	for _, id := range []string{"evt_head", "evt_next"} {
		ev := &webhook.Event{EventID: id, EventType: "compliance.alert", Source: "loki", SourceID: id,
			Payload: json.RawMessage(`{"alert_level":"low"}`), CreatedAt: time.Now().UTC()}
		if _, err := s.CreateEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		in.Attempts = append(in.Attempts, workflows.AttemptInput{EventID: id, WebhookID: w.ID, Attempt: 1, RetryIn: time.Second})
	}
	acts := &activities.Activities{Store: s, Deliverer: &integrations.Deliverer{HTTP: delivery.NewSender(delivery.Options{Allow: netguard.Loopback})},
		Logger: slog.New(slog.DiscardHandler), Breaker: activities.DefaultBreaker, Now: time.Now}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)

	for try := 1; try <= 2; try++ {
		v, err := env.ExecuteActivity(workflows.ActivityAttemptStream.Name, in)
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.StreamAttemptResult
		must(t, v.Get(&res))
		head, next := res.Results[0], res.Results[1]
		if head.Status != webhook.AttemptRetrying || !next.NotMade || len(got) != 1 || got[0] != "evt_head" {
			t.Fatalf("try %d: head %+v, next %+v, receiver got %v; want the head retrying, the next not attempted, one request",
				try, head, next, got)
		}
	}
}

// An attempt that fails before its request goes (here: another executor
// holds its pending row) gives back the rate-limit slot it reserved, so
// that its retry does not count twice in the window.
func TestAttemptNotSentGivesBackItsSlot(t *testing.T) {
	ctx := context.Background()
	s := storetest.MustOpen(t, schema.SQLite)
	got, w, ev := mustLimited(t, s, "evt_leased", 0)
	sent := time.Now().UTC()
	held := &webhook.Attempt{WebhookID: w.ID, EventID: ev.EventID, EventType: ev.EventType, AttemptNumber: 1, URL: w.URL, SentAt: &sent}
	if _, err := s.StartAttempt(ctx, held); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC()
	acts := &activities.Activities{Store: s, Deliverer: &integrations.Deliverer{HTTP: delivery.NewSender(delivery.Options{Allow: netguard.Loopback})},
		Logger: slog.New(slog.DiscardHandler), Breaker: activities.DefaultBreaker, Now: func() time.Time { return now }}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err := env.ExecuteActivity(workflows.ActivityAttempt.Name, workflows.AttemptInput{EventID: ev.EventID, WebhookID: w.ID, Attempt: 1})
	if err == nil || !strings.Contains(err.Error(), "in flight elsewhere") || got.Load() != 0 {
		t.Fatalf("attempt while another executor holds it: %v, receiver got %d", err, got.Load())
	}
	// Its retry comes when the other's lease runs out, not on the policy's
	// schedule.
	var app *temporal.ApplicationError
	lease := w.Timeout() + 15*time.Second
	if !errors.As(err, &app) || app.Type() != activities.ErrInFlight || app.Category() != temporal.ApplicationErrorCategoryBenign ||
		(app.NextRetryDelay()-(sent.Add(lease).Sub(now))).Abs() > time.Second {
		t.Fatalf("attempt while another executor holds it: %#v, want a retry in about %v", err, sent.Add(lease).Sub(now))
	}
	// The minute's one slot is free again.
	at, err := s.ReserveSlot(ctx, w.ID, store.AttemptKey{}, store.Windows{}.Limits(w), now)
	must(t, err)
	if at.After(now) {
		t.Fatalf("the minute's slot is still taken: next one at %s (now %s)", at, now)
	}
}
