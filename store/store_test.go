package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
)

// Every test runs against both dialects: the same suite, the same assertions.
func forEachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, storetest.MustOpen(t, d))
		})
	}
}

var ctx = context.Background()

func mustWebhook(t *testing.T, s *store.Store, name string, types ...string) *webhook.Webhook {
	t.Helper()
	w := webhook.New()
	w.Name = name
	w.URL = "https://example.com/" + name
	w.Secret = webhook.NewSecret()
	w.EventTypes = types
	w.CustomHeaders = map[string]string{"Authorization": "Bearer token-" + name, "X-Client-ID": "loki"}
	w.Metadata = map[string]any{"team": "compliance", "priority": "high"}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	return w
}

func mustEvent(t *testing.T, s *store.Store, id, typ string) *webhook.Event {
	t.Helper()
	e := &webhook.Event{EventID: id, EventType: typ, Source: "loki", SourceID: "doc_1",
		Payload: json.RawMessage(`{"alert_level": "high",  "message":"spaced  as sent"}`), CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	created, err := s.CreateEvent(ctx, e)
	if err != nil || !created {
		t.Fatalf("CreateEvent: %v %v", created, err)
	}
	return e
}

func wantCode(t *testing.T, err error, code webhook.Code) {
	t.Helper()
	if webhook.ErrorCode(err) != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		applied, err := s.Migrate(ctx)
		if err != nil || len(applied) != 0 {
			t.Fatalf("second migrate applied %v, %v", applied, err)
		}
		ms, _ := schema.Migrations(s.Dialect())
		var n int
		if err := s.DB().Get(&n, `SELECT COUNT(*) FROM herald_migrations`); err != nil || n != len(ms) {
			t.Fatalf("%d migrations recorded, want %d (%v)", n, len(ms), err)
		}
	})
}

func TestWebhookRoundTrip(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "alerts", "compliance.alert", "validation.failed")
		if w.ID == 0 || w.CreatedAt.IsZero() {
			t.Fatalf("not filled in: %+v", w)
		}
		got, err := s.GetWebhook(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, w)
		}
		_, err = s.GetWebhook(ctx, w.ID+1000)
		wantCode(t, err, webhook.ENotFound)
	})
}

func TestSecretsAreEncryptedAtRest(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "sealed", "*")
		var secret, headers string
		if err := s.DB().QueryRow(s.DB().Rebind(`SELECT secret, custom_headers FROM webhooks WHERE id = ?`), w.ID).Scan(&secret, &headers); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(secret, w.Secret) || strings.Contains(secret, strings.TrimPrefix(w.Secret, "whsec_")) {
			t.Fatalf("secret stored in clear: %s", secret)
		}
		if strings.Contains(headers, "token-sealed") || strings.Contains(headers, "Authorization") {
			t.Fatalf("custom headers stored in clear: %s", headers)
		}
	})
}

func TestListWebhooks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		for i := range 5 {
			w := mustWebhook(t, s, fmt.Sprintf("w%d", i), "*")
			if i%2 == 1 {
				if _, err := s.UpdateWebhook(ctx, w.ID, func(w *webhook.Webhook) error { w.Status = webhook.StatusPaused; return nil }); err != nil {
					t.Fatal(err)
				}
			}
		}
		tests := []struct {
			filter    store.WebhookFilter
			wantNames string
			wantTotal int
		}{
			{store.WebhookFilter{}, "w4,w3,w2,w1,w0", 5},
			{store.WebhookFilter{Status: webhook.StatusPaused}, "w3,w1", 2},
			{store.WebhookFilter{Status: webhook.StatusActive, Page: store.Page{Limit: 2}}, "w4,w2", 3},
			{store.WebhookFilter{Page: store.Page{Limit: 2, Offset: 3}}, "w1,w0", 5},
			{store.WebhookFilter{Status: webhook.StatusInactive}, "", 0},
		}
		for _, tt := range tests {
			ws, total, err := s.ListWebhooks(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, w := range ws {
				names = append(names, w.Name)
			}
			if strings.Join(names, ",") != tt.wantNames || total != tt.wantTotal {
				t.Errorf("%+v: %v total %d, want %s total %d", tt.filter, names, total, tt.wantNames, tt.wantTotal)
			}
		}
	})
}

func TestUpdateWebhook(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "a", "*")
		other := mustWebhook(t, s, "b", "*")
		s.Now = func() time.Time { return w.UpdatedAt.Add(time.Hour) }
		got, err := s.UpdateWebhook(ctx, w.ID, func(w *webhook.Webhook) error {
			w.MaxRetries = 10
			w.Metadata = map[string]any{"updated_reason": "Receiver maintenance"}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		reread, _ := s.GetWebhook(ctx, w.ID)
		if reread.MaxRetries != 10 || reread.Metadata["updated_reason"] != "Receiver maintenance" || !reflect.DeepEqual(got, reread) {
			t.Fatalf("update not stored: %+v", reread)
		}
		if !reread.UpdatedAt.Equal(w.UpdatedAt.Add(time.Hour)) || !reread.CreatedAt.Equal(w.CreatedAt) {
			t.Fatalf("timestamps: created %v updated %v", reread.CreatedAt, reread.UpdatedAt)
		}
		// A refused edit writes nothing.
		_, err = s.UpdateWebhook(ctx, w.ID, func(w *webhook.Webhook) error {
			w.MaxRetries = 3
			return webhook.Errorf(webhook.EValidation, "no")
		})
		wantCode(t, err, webhook.EValidation)
		if again, _ := s.GetWebhook(ctx, w.ID); again.MaxRetries != 10 {
			t.Fatalf("refused edit was written: %d", again.MaxRetries)
		}
		_, err = s.UpdateWebhook(ctx, other.ID, func(o *webhook.Webhook) error { o.Name = "a"; return nil })
		wantCode(t, err, webhook.EConflict)
		_, err = s.UpdateWebhook(ctx, 9999, func(*webhook.Webhook) error { return nil })
		wantCode(t, err, webhook.ENotFound)
	})
}

func TestWebhookNameIsUnique(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		mustWebhook(t, s, "dup", "*")
		w := webhook.New()
		w.Name, w.URL, w.Secret, w.EventTypes = "dup", "https://x", webhook.NewSecret(), []string{"*"}
		wantCode(t, s.CreateWebhook(ctx, w), webhook.EConflict)
	})
}

func TestSubscribers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		alerts := mustWebhook(t, s, "alerts", "compliance.alert", "system.error")
		all := mustWebhook(t, s, "all", "*")
		mustWebhook(t, s, "batches", "batch.completed")
		paused := mustWebhook(t, s, "paused", "compliance.alert")
		s.UpdateWebhook(ctx, paused.ID, func(w *webhook.Webhook) error { w.Status = webhook.StatusPaused; return nil })
		inactive := mustWebhook(t, s, "inactive", "*")
		s.UpdateWebhook(ctx, inactive.ID, func(w *webhook.Webhook) error { w.Status = webhook.StatusInactive; return nil })

		tests := map[string][]int64{
			"compliance.alert":  {alerts.ID, all.ID, paused.ID},
			"system.error":      {alerts.ID, all.ID},
			"report.generated":  {all.ID},
			"validation.failed": {all.ID},
		}
		for typ, want := range tests {
			ws, err := s.Subscribers(ctx, typ)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, w := range ws {
				ids = append(ids, w.ID)
				if w.Secret != "" || w.URL != "" {
					t.Fatal("a snapshot holds neither secret nor URL: they are read at each attempt")
				}
				if w.RetryPolicy() != alerts.RetryPolicy() || w.DeliveryMode != webhook.PerEvent {
					t.Fatalf("snapshot %+v lacks the retry policy or mode", w)
				}
			}
			if !reflect.DeepEqual(ids, want) {
				t.Errorf("%s: %v, want %v", typ, ids, want)
			}
		}
	})
}

func TestEvents(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		e := mustEvent(t, s, "evt-1", "compliance.alert")
		again := *e
		again.Payload = json.RawMessage(`{"other":1}`)
		created, err := s.CreateEvent(ctx, &again)
		if err != nil || created {
			t.Fatalf("second CreateEvent: created=%v err=%v", created, err)
		}
		got, err := s.GetEvent(ctx, "evt-1")
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Payload) != string(e.Payload) || !got.CreatedAt.Equal(e.CreatedAt) || got.Source != "loki" || got.SourceID != "doc_1" {
			t.Fatalf("event changed in storage: %+v", got)
		}
		_, err = s.GetEvent(ctx, "nope")
		wantCode(t, err, webhook.ENotFound)

		later := mustEvent(t, s, "evt-2", "batch.completed")
		_ = later
		list, total, err := s.ListEvents(ctx, store.EventFilter{})
		if err != nil || total != 2 || list[0].EventID != "evt-2" || list[1].EventID != "evt-1" {
			t.Fatalf("ListEvents: %v total %d err %v", list, total, err)
		}
		list, total, _ = s.ListEvents(ctx, store.EventFilter{EventType: "compliance.alert"})
		if total != 1 || len(list) != 1 || list[0].EventID != "evt-1" {
			t.Fatalf("ListEvents by type: %v total %d", list, total)
		}
	})
}

func TestSetSubscribers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w1, w2 := mustWebhook(t, s, "a", "*"), mustWebhook(t, s, "b", "*")
		mustEvent(t, s, "e", "compliance.alert")
		if err := s.SetSubscribers(ctx, "e", []int64{w1.ID, w2.ID}, nil); err != nil {
			t.Fatal(err)
		}
		e, _ := s.GetEvent(ctx, "e")
		if e.TotalDeliveries != 2 || e.ProcessedAt != nil {
			t.Fatalf("event after SetSubscribers: %+v", e)
		}
		for _, id := range []int64{w1.ID, w2.ID} {
			if w, _ := s.GetWebhook(ctx, id); w.LastTriggeredAt == nil {
				t.Fatalf("webhook %d not marked triggered", id)
			}
		}
		mustEvent(t, s, "lonely", "report.generated")
		if err := s.SetSubscribers(ctx, "lonely", nil, nil); err != nil {
			t.Fatal(err)
		}
		if e, _ := s.GetEvent(ctx, "lonely"); e.TotalDeliveries != 0 {
			t.Fatalf("event with no subscribers: %+v", e)
		}
		wantCode(t, s.SetSubscribers(ctx, "missing", nil, nil), webhook.ENotFound)
		// Recorded once: a second call, as from an activity run again after
		// a crash, changes neither the rows nor the total.
		w3 := mustWebhook(t, s, "c", "*")
		if err := s.SetSubscribers(ctx, "e", []int64{w1.ID, w2.ID, w3.ID}, nil); err != nil {
			t.Fatal(err)
		}
		snap, err := s.EventSubscribers(ctx, []string{"e"})
		if err != nil {
			t.Fatal(err)
		}
		if e, _ := s.GetEvent(ctx, "e"); e.TotalDeliveries != 2 || len(snap["e"]) != 2 {
			t.Fatalf("after a second SetSubscribers: total %d, rows %+v; want the first call's 2", e.TotalDeliveries, snap["e"])
		}
	})
}

func attempt(w *webhook.Webhook, e *webhook.Event, n int) *webhook.Attempt {
	body, _ := e.Body()
	sent := time.Now().UTC().Truncate(time.Microsecond)
	return &webhook.Attempt{WebhookID: w.ID, EventID: e.EventID, EventType: e.EventType, AttemptNumber: n,
		URL: w.URL, RequestHeaders: map[string]string{"Content-Type": "application/json"}, RequestBody: body,
		Signature: webhook.Sign(w.Secret, body), SentAt: &sent}
}

func finish(t *testing.T, s *store.Store, d *webhook.Attempt, status webhook.AttemptStatus, code int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ms := 12.5
	d.Status, d.ResponseStatusCode, d.RespondedAt, d.DurationMS = status, &code, &now, &ms
	d.ResponseHeaders = map[string]string{"Content-Type": "text/plain"}
	d.ResponseBody = "answer"
	if status == webhook.AttemptRetrying {
		next := now.Add(time.Minute)
		d.NextRetryAt, d.LastError, d.ErrorClass = &next, "HTTP 503", webhook.ClassHTTPStatus
	}
	if err := s.FinishAttempt(ctx, d); err != nil {
		t.Fatal(err)
	}
}

func TestAttemptsAndCounters(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ok, bad := mustWebhook(t, s, "ok", "*"), mustWebhook(t, s, "bad", "*")
		e := mustEvent(t, s, "e1", "compliance.alert")
		s.SetSubscribers(ctx, e.EventID, []int64{ok.ID, bad.ID}, nil)

		a1 := attempt(ok, e, 1)
		if done, err := s.StartAttempt(ctx, a1); err != nil || done != nil || a1.ID == 0 {
			t.Fatalf("StartAttempt: %v %v", done, err)
		}
		// Another executor of the attempt, while the first may still be
		// answered, is told it is in flight and sends nothing.
		done, err := s.StartAttempt(ctx, attempt(ok, e, 1))
		if webhook.ErrorCode(err) != webhook.EConflict || done != nil {
			t.Fatalf("second executor within the lease: %v %v, want conflict", done, err)
		}
		// It is told when it may go: the first's lease, from its sent_at.
		var held *store.InFlight
		if !errors.As(err, &held) || held.Until.Sub(a1.SentAt.Add(store.AttemptLease)).Abs() > time.Millisecond {
			t.Fatalf("second executor told %v, want the lease's end %s", err, a1.SentAt.Add(store.AttemptLease))
		}
		// Once the lease has run out (the first crashed mid-request), the
		// pending row is reused.
		s.Now = func() time.Time { return time.Now().Add(store.AttemptLease + time.Second) }
		a1again := attempt(ok, e, 1)
		if done, err := s.StartAttempt(ctx, a1again); err != nil || done != nil || a1again.ID != a1.ID {
			t.Fatalf("restart got id %d, want %d (%v %v)", a1again.ID, a1.ID, done, err)
		}
		s.Now = time.Now
		// The executor that took the row over records the outcome (a1's
		// own finish would come too late: TestALateFinishDoesNotOverwriteTheRowTakenOver).
		finish(t, s, a1again, webhook.AttemptRetrying, 503)
		// One retried after the attempt finished gets the finished row back.
		done, err = s.StartAttempt(ctx, attempt(ok, e, 1))
		if err != nil || done == nil || done.ID != a1.ID || done.Status != webhook.AttemptRetrying || *done.ResponseStatusCode != 503 || done.NextRetryAt == nil {
			t.Fatalf("StartAttempt of a finished attempt: %+v %v", done, err)
		}
		if e, _ := s.GetEvent(ctx, "e1"); e.SuccessfulDeliveries+e.FailedDeliveries != 0 {
			t.Fatalf("retrying changed counters: %+v", e)
		}
		a2 := attempt(ok, e, 2)
		s.StartAttempt(ctx, a2)
		finish(t, s, a2, webhook.AttemptDelivered, 200)
		b1 := attempt(bad, e, 1)
		s.StartAttempt(ctx, b1)
		finish(t, s, b1, webhook.AttemptFailed, 400)

		// Each subscriber's last attempt ended its delivery: the event is
		// processed.
		got, _ := s.GetEvent(ctx, "e1")
		if got.SuccessfulDeliveries != 1 || got.FailedDeliveries != 1 || got.ProcessedAt == nil {
			t.Fatalf("counters %+v", got)
		}
		// Finishing the same attempt twice (an activity retry) does not double count.
		finish(t, s, a2, webhook.AttemptDelivered, 200)
		if again, _ := s.GetEvent(ctx, "e1"); again.SuccessfulDeliveries != 1 {
			t.Fatalf("re-finish changed event: %+v", again)
		}

		d, err := s.GetAttempt(ctx, ok.ID, a1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != webhook.AttemptRetrying || d.NextRetryAt == nil || *d.ResponseStatusCode != 503 ||
			d.ResponseBody != "answer" || d.ErrorClass != webhook.ClassHTTPStatus || string(d.RequestBody) != string(a1.RequestBody) ||
			string(d.EventData) != `{"alert_level":"high","message":"spaced  as sent"}` || d.Signature != a1.Signature {
			t.Fatalf("delivery row: %+v", d)
		}
		_, err = s.GetAttempt(ctx, bad.ID, a1.ID)
		wantCode(t, err, webhook.ENotFound)

		list, total, err := s.ListAttempts(ctx, store.AttemptFilter{WebhookID: ok.ID})
		if err != nil || total != 2 || list[0].ID != a2.ID || list[1].ID != a1.ID {
			t.Fatalf("ListAttempts: %v %d %v", list, total, err)
		}
		list, total, _ = s.ListAttempts(ctx, store.AttemptFilter{WebhookID: ok.ID, Status: webhook.AttemptRetrying})
		if total != 1 || list[0].ID != a1.ID {
			t.Fatalf("filter by status: %v", list)
		}
		list, total, _ = s.ListAttempts(ctx, store.AttemptFilter{WebhookID: bad.ID, Status: webhook.AttemptFailed, Page: store.Page{Limit: 100}})
		if total != 1 || list[0].ID != b1.ID {
			t.Fatalf("failed deliveries: %v", list)
		}

		latest, err := s.LatestAttempts(ctx, "e1")
		if err != nil || len(latest) != 2 || latest[0].ID != a2.ID || latest[0].AttemptNumber != 2 || latest[1].ID != b1.ID {
			t.Fatalf("LatestAttempts: %v %v", latest, err)
		}

		// Deleting a webhook takes its history with it, and stops new attempts.
		if err := s.DeleteWebhook(ctx, ok.ID); err != nil {
			t.Fatal(err)
		}
		if _, total, _ := s.ListAttempts(ctx, store.AttemptFilter{WebhookID: ok.ID}); total != 0 {
			t.Fatalf("%d deliveries left after delete", total)
		}
		wantCode(t, s.DeleteWebhook(ctx, ok.ID), webhook.ENotFound)
		_, err = s.StartAttempt(ctx, attempt(ok, e, 3))
		wantCode(t, err, webhook.ENotFound)
	})
}

func TestLaterSuccessOutweighsFailure(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "w", "*")
		e := mustEvent(t, s, "e", "compliance.alert")
		s.SetSubscribers(ctx, "e", []int64{w.ID}, nil)
		a1 := attempt(w, e, 1)
		s.StartAttempt(ctx, a1)
		finish(t, s, a1, webhook.AttemptFailed, 500)
		if got, _ := s.GetEvent(ctx, "e"); got.FailedDeliveries != 1 {
			t.Fatalf("%+v", got)
		}
		a2 := attempt(w, e, 2) // a manual retry after the final failure
		s.StartAttempt(ctx, a2)
		finish(t, s, a2, webhook.AttemptDelivered, 200)
		if got, _ := s.GetEvent(ctx, "e"); got.FailedDeliveries != 0 || got.SuccessfulDeliveries != 1 {
			t.Fatalf("%+v", got)
		}
	})
}

// Subscribers of one event finishing at the same moment must all be counted.
func TestConcurrentFinishesCountEveryone(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		const n = 12
		e := mustEvent(t, s, "burst", "compliance.alert")
		var ws []*webhook.Webhook
		var ids []int64
		for i := range n {
			w := mustWebhook(t, s, fmt.Sprintf("w%d", i), "*")
			ws, ids = append(ws, w), append(ids, w.ID)
		}
		s.SetSubscribers(ctx, "burst", ids, nil)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for _, w := range ws {
			wg.Go(func() {
				d := attempt(w, e, 1)
				if _, err := s.StartAttempt(ctx, d); err != nil {
					errs <- err
					return
				}
				code := 200
				d.Status, d.ResponseStatusCode = webhook.AttemptDelivered, &code
				errs <- s.FinishAttempt(ctx, d)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, _ := s.GetEvent(ctx, "burst")
		if got.SuccessfulDeliveries != n {
			t.Fatalf("counted %d of %d", got.SuccessfulDeliveries, n)
		}
	})
}

func TestFinishEvent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ok, bad := mustWebhook(t, s, "ok", "*"), mustWebhook(t, s, "bad", "*")
		e := mustEvent(t, s, "e", "compliance.alert")
		// Three subscribers; the third was deleted before any attempt.
		s.SetSubscribers(ctx, "e", []int64{ok.ID, bad.ID, 9999}, nil)
		for _, a := range []struct {
			w      *webhook.Webhook
			n      int
			status webhook.AttemptStatus
		}{{ok, 1, webhook.AttemptRetrying}, {ok, 2, webhook.AttemptDelivered}, {bad, 1, webhook.AttemptFailed}} {
			d := attempt(a.w, e, a.n)
			s.StartAttempt(ctx, d)
			finish(t, s, d, a.status, 200)
		}
		if err := s.FinishEvent(ctx, "e"); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetEvent(ctx, "e")
		if got.SuccessfulDeliveries != 1 || got.FailedDeliveries != 2 || got.ProcessedAt == nil {
			t.Fatalf("%+v", got)
		}
		first := *got.ProcessedAt
		// A reopened delivery that succeeds moves the counters and the time.
		d := attempt(bad, e, 2)
		s.StartAttempt(ctx, d)
		finish(t, s, d, webhook.AttemptDelivered, 200)
		s.Now = func() time.Time { return first.Add(time.Hour) }
		s.FinishEvent(ctx, "e")
		if again, _ := s.GetEvent(ctx, "e"); again.SuccessfulDeliveries != 2 || again.FailedDeliveries != 1 || !again.ProcessedAt.Equal(first.Add(time.Hour)) {
			t.Fatalf("after redelivery: %+v", again)
		}
		wantCode(t, s.FinishEvent(ctx, "missing"), webhook.ENotFound)
	})
}

func TestDeleteEventOnlyBeforeAnyAttempt(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "w", "*")
		mustEvent(t, s, "fresh", "compliance.alert")
		e := mustEvent(t, s, "attempted", "compliance.alert")
		s.StartAttempt(ctx, attempt(w, e, 1))
		for _, id := range []string{"fresh", "attempted", "missing"} {
			if err := s.DeleteEvent(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		_, err := s.GetEvent(ctx, "fresh")
		wantCode(t, err, webhook.ENotFound)
		if _, err := s.GetEvent(ctx, "attempted"); err != nil {
			t.Fatalf("an attempted event was deleted: %v", err)
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	for _, u := range []string{"mysql://x", "sqlite:", "", "/tmp/file.db"} {
		if _, err := store.Open(ctx, u, secretbox.Ephemeral()); err == nil {
			t.Errorf("Open(%q) accepted", u)
		}
	}
	if _, err := store.Open(ctx, "sqlite::memory:", nil); err == nil || !strings.Contains(err.Error(), "secret box") {
		t.Errorf("Open without box: %v", err)
	}
}

// PostgreSQL over its Unix socket: the dialer's TCP options must not get
// in the way of a socket that has none.
func TestOpenOverUnixSocket(t *testing.T) {
	const dir = "/var/run/postgresql"
	if _, err := os.Stat(dir + "/.s.PGSQL.5432"); err != nil {
		t.Skip("no PostgreSQL socket in " + dir)
	}
	s, err := store.Open(ctx, "postgres://postgres@/test?host="+dir+"&sslmode=disable", secretbox.Ephemeral())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// A batch one of whose attempts another executor holds writes nothing: had
// it written (and so leased) its other rows each time it was tried again,
// their leases would never all run out together.
func TestStartAttemptsIsAllOrNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "batch", "*")
		a, b := mustEvent(t, s, "a", "compliance.alert"), mustEvent(t, s, "b", "compliance.alert")
		if _, err := s.StartAttempt(ctx, attempt(w, a, 1)); err != nil {
			t.Fatal(err)
		}
		err := s.StartAttempts(ctx, []*webhook.Attempt{attempt(w, a, 1), attempt(w, b, 1)})
		if webhook.ErrorCode(err) != webhook.EConflict {
			t.Fatalf("batch with a leased attempt: %v, want a conflict", err)
		}
		var n int
		if err := s.DB().Get(&n, s.DB().Rebind(`SELECT count(*) FROM deliveries WHERE event_id = ?`), "b"); err != nil || n != 0 {
			t.Fatalf("the batch left %d row(s) for b (%v)", n, err)
		}
	})
}

// The delivery log across webhooks: every webhook's attempt rows, newest
// first, narrowed by webhook, event type, status and when they were made.
func TestListAttemptsAcrossWebhooks(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		one, two := mustWebhook(t, s, "one", "*"), mustWebhook(t, s, "two", "*")
		alert, errEv := mustEvent(t, s, "log-alert", "compliance.alert"), mustEvent(t, s, "log-error", "system.error")
		before := time.Now().Add(-time.Minute)
		var made []int64
		for _, a := range []*webhook.Attempt{attempt(one, alert, 1), attempt(two, alert, 1), attempt(two, errEv, 1)} {
			if _, err := s.StartAttempt(ctx, a); err != nil {
				t.Fatal(err)
			}
			made = append(made, a.ID)
		}
		finish(t, s, &webhook.Attempt{ID: made[2], WebhookID: two.ID, EventID: errEv.EventID, AttemptNumber: 1}, webhook.AttemptFailed, 500)
		ids := func(f store.AttemptFilter) string {
			t.Helper()
			list, total, err := s.ListAttempts(ctx, f)
			if err != nil || total != len(list) {
				t.Fatalf("%+v: %d of %d, %v", f, len(list), total, err)
			}
			var out []string
			for _, d := range list {
				out = append(out, fmt.Sprint(d.ID))
			}
			return strings.Join(out, " ")
		}
		id := func(i ...int) string {
			var out []string
			for _, k := range i {
				out = append(out, fmt.Sprint(made[k]))
			}
			return strings.Join(out, " ")
		}
		for _, c := range []struct {
			name string
			f    store.AttemptFilter
			want string
		}{
			{"all, newest first", store.AttemptFilter{}, id(2, 1, 0)},
			{"one webhook", store.AttemptFilter{WebhookID: one.ID}, id(0)},
			{"an event type", store.AttemptFilter{EventType: "compliance.alert"}, id(1, 0)},
			{"a status", store.AttemptFilter{Status: webhook.AttemptFailed}, id(2)},
			{"webhook and type", store.AttemptFilter{WebhookID: two.ID, EventType: "system.error"}, id(2)},
			{"since before them", store.AttemptFilter{Since: before}, id(2, 1, 0)},
			{"since after them", store.AttemptFilter{Since: time.Now().Add(time.Minute)}, ""},
			{"until before them", store.AttemptFilter{Until: before}, ""},
			{"a page", store.AttemptFilter{Page: store.Page{Limit: 1, Offset: 1}}, id(1)},
		} {
			if c.name == "a page" {
				list, total, err := s.ListAttempts(ctx, c.f)
				if err != nil || total != 3 || len(list) != 1 || fmt.Sprint(list[0].ID) != c.want {
					t.Errorf("%s: %v of %d, %v", c.name, list, total, err)
				}
				continue
			}
			if got := ids(c.f); got != c.want {
				t.Errorf("%s: %q, want %q", c.name, got, c.want)
			}
		}
	})
}

// An executor whose lease ran out while it waited for its answer (a live
// but slow worker) finishes too late: the row another executor took over
// keeps that one's outcome, and nothing counts twice.
func TestALateFinishDoesNotOverwriteTheRowTakenOver(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "taken-over", "*")
		e := mustEvent(t, s, "taken-over-1", "compliance.alert")
		s.SetSubscribers(ctx, e.EventID, []int64{w.ID}, nil)
		slow := attempt(w, e, 1)
		if _, err := s.StartAttempt(ctx, slow); err != nil || slow.ID == 0 {
			t.Fatalf("first executor's start: %v", err)
		}
		later := time.Now().Add(store.AttemptLease + time.Second)
		s.Now = func() time.Time { return later }
		next := attempt(w, e, 1)
		next.SentAt = &later
		if _, err := s.StartAttempt(ctx, next); err != nil || next.ID != slow.ID {
			t.Fatalf("second executor's start after the lease: %v (row %d, want %d)", err, next.ID, slow.ID)
		}
		finish(t, s, next, webhook.AttemptRetrying, 503)
		finish(t, s, slow, webhook.AttemptDelivered, 200) // too late: its claim is gone
		d, err := s.GetAttempt(ctx, w.ID, slow.ID)
		if err != nil || d.Status != webhook.AttemptRetrying || *d.ResponseStatusCode != 503 {
			t.Fatalf("row after the late finish: %+v, %v; want the second executor's 503", d, err)
		}
		ev, _ := s.GetEvent(ctx, e.EventID)
		if ev.SuccessfulDeliveries != 0 {
			t.Fatalf("the late 200 counted: %+v", ev)
		}
	})
}
