package store_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

func newEvent(id, typ, note string) *webhook.Event {
	return &webhook.Event{EventID: id, EventType: typ, Source: "loki", SourceID: "s",
		Payload: json.RawMessage(`{"note":"` + note + `"}`), CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func conflictUnlessSame(prior, e *webhook.Event) error {
	if string(prior.Payload) != string(e.Payload) {
		return webhook.Errorf(webhook.EConflict, "event_id %q was used for another event", e.EventID)
	}
	return nil
}

func TestRecordEventsIsAllOrNothing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		mustEvent(t, s, "b0", "system.error")
		first := []*webhook.Event{newEvent("b1", "system.error", "one"), newEvent("b2", "system.error", "two")}
		recs, err := s.RecordEvents(ctx, first, conflictUnlessSame)
		if err != nil || !recs[0].New || !recs[1].New || first[0].ID == 0 {
			t.Fatalf("first batch: %+v %v", recs, err)
		}
		// A repeat of b2 beside a new b3: b3 is new, b2 is the prior, not
		// yet handed off.
		recs, err = s.RecordEvents(ctx, []*webhook.Event{newEvent("b3", "system.error", "three"), newEvent("b2", "system.error", "two")}, conflictUnlessSame)
		if err != nil || !recs[0].New || recs[1].New || recs[1].Event.ID != first[1].ID || recs[1].HandedOff {
			t.Fatalf("second batch: %+v %v", recs, err)
		}
		if err := s.MarkHandedOff(ctx, []string{"b2"}); err != nil {
			t.Fatal(err)
		}
		recs, _ = s.RecordEvents(ctx, []*webhook.Event{newEvent("b2", "system.error", "two")}, conflictUnlessSame)
		if !recs[0].HandedOff {
			t.Fatalf("b2 after MarkHandedOff: %+v", recs[0])
		}
		// b4 is new but b1 is reused for another event: nothing is written.
		_, err = s.RecordEvents(ctx, []*webhook.Event{newEvent("b4", "system.error", "four"), newEvent("b1", "system.error", "not one")}, conflictUnlessSame)
		wantCode(t, err, webhook.EConflict)
		if _, err := s.GetEvent(ctx, "b4"); webhook.ErrorCode(err) != webhook.ENotFound {
			t.Fatalf("b4 written by a refused batch: %v", err)
		}
		if err := s.DeleteEvents(ctx, []string{"b1", "b3"}); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]webhook.Code{"b0": "", "b1": webhook.ENotFound, "b2": "", "b3": webhook.ENotFound} {
			if _, err := s.GetEvent(ctx, id); webhook.ErrorCode(err) != want {
				t.Fatalf("%s after DeleteEvents: %v", id, err)
			}
		}
	})
}

// An event's subscribers are recorded with it, each in its mode, and its
// counters follow each delivery's outcome however it ends.
func TestRecordEventsSnapshotsSubscribers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		a := mustWebhook(t, s, "a", "compliance.alert")
		b := mustWebhook(t, s, "b", "*")
		s.UpdateWebhook(ctx, b.ID, func(w *webhook.Webhook) error { w.DeliveryMode = webhook.Ordered; return nil })
		c := mustWebhook(t, s, "c", "compliance.alert")
		s.UpdateWebhook(ctx, c.ID, func(w *webhook.Webhook) error { w.Status = webhook.StatusPaused; return nil })
		off := mustWebhook(t, s, "off", "*")
		s.UpdateWebhook(ctx, off.ID, func(w *webhook.Webhook) error { w.Status = webhook.StatusInactive; return nil })
		zap := mustIntegration(t, s, "zap", "zapier")
		s.UpdateWebhook(ctx, zap.ID, func(w *webhook.Webhook) error {
			w.EventTypes, w.Integration.Config = []string{"compliance.alert"}, json.RawMessage(`{"batch_events":true}`)
			return nil
		})

		recs, err := s.RecordEvents(ctx, []*webhook.Event{newEvent("e1", "compliance.alert", "x"), newEvent("lonely", "report.generated", "y")}, conflictUnlessSame)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, w := range recs[0].Subscribers {
			ids = append(ids, w.ID)
		}
		if !slices.Equal(ids, []int64{a.ID, b.ID, c.ID, zap.ID}) {
			t.Fatalf("subscribers %v", ids)
		}
		e1, _ := s.GetEvent(ctx, "e1")
		if e1.TotalDeliveries != 3 || e1.ProcessedAt != nil {
			t.Fatalf("e1: %+v (the batched integration counts with its batch)", e1)
		}
		// Nobody wants report.generated but b, whose row is still pending.
		lonely, _ := s.GetEvent(ctx, "lonely")
		if lonely.TotalDeliveries != 1 {
			t.Fatalf("lonely: %+v", lonely)
		}
		snap, err := s.EventSubscribers(ctx, []string{"e1"})
		if err != nil || len(snap["e1"]) != 4 {
			t.Fatalf("snapshot %+v %v", snap, err)
		}
		modes := map[int64]store.SubscriberOf{}
		for _, sub := range snap["e1"] {
			modes[sub.WebhookID] = sub
		}
		if modes[b.ID].Mode != webhook.Ordered || modes[a.ID].Mode != webhook.PerEvent || modes[zap.ID].Outcome != store.OutcomeBatched ||
			modes[a.ID].Webhook == nil || modes[a.ID].Webhook.Name != "a" {
			t.Fatalf("snapshot rows %+v", modes)
		}

		// a delivers, b is cancelled before its first attempt, c's webhook
		// is deleted while it waits: the event is processed, 1 ok, 2 failed.
		d := attempt(a, e1, 1)
		s.StartAttempt(ctx, d)
		finish(t, s, d, webhook.AttemptDelivered, 200)
		if _, err := s.CancelDelivery(ctx, "e1", b.ID, 0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetEvent(ctx, "e1"); got.ProcessedAt != nil || got.SuccessfulDeliveries != 1 || got.FailedDeliveries != 1 {
			t.Fatalf("e1 with c pending: %+v", got)
		}
		s.DeleteWebhook(ctx, c.ID)
		if err := s.EndDelivery(ctx, "e1", c.ID, store.OutcomeFailed); err != nil {
			t.Fatal(err)
		}
		got, _ := s.GetEvent(ctx, "e1")
		if got.ProcessedAt == nil || got.SuccessfulDeliveries != 1 || got.FailedDeliveries != 2 || got.TotalDeliveries != 3 {
			t.Fatalf("e1 ended: %+v", got)
		}
		// A manual retry reopens b's delivery, and its success counts.
		if err := s.ReopenDelivery(ctx, "e1", b.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.GetEvent(ctx, "e1"); got.FailedDeliveries != 1 {
			t.Fatalf("e1 reopened: %+v", got)
		}
		d = attempt(b, e1, 1)
		s.StartAttempt(ctx, d)
		finish(t, s, d, webhook.AttemptDelivered, 200)
		if got, _ := s.GetEvent(ctx, "e1"); got.SuccessfulDeliveries != 2 || got.FailedDeliveries != 1 {
			t.Fatalf("e1 redelivered: %+v", got)
		}
	})
}

func TestEventNobodyWantsIsProcessedAtOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		recs, err := s.RecordEvents(ctx, []*webhook.Event{newEvent("none", "report.generated", "z")}, conflictUnlessSame)
		if err != nil || !recs[0].New || len(recs[0].Subscribers) != 0 {
			t.Fatalf("%+v %v", recs, err)
		}
		got, _ := s.GetEvent(ctx, "none")
		if got.ProcessedAt == nil || got.TotalDeliveries != 0 {
			t.Fatalf("%+v", got)
		}
	})
}

// A stream's backlog is its deliveries not ended, in the order their
// events were accepted, with the attempts made; per_event deliveries and
// those the stream holds are not part of it.
func TestBacklogInAcceptanceOrder(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "streamed", "compliance.alert")
		s.UpdateWebhook(ctx, w.ID, func(w *webhook.Webhook) error { w.DeliveryMode = webhook.Ordered; return nil })
		other := mustWebhook(t, s, "per-event", "compliance.alert")
		var evs []*webhook.Event
		for _, id := range []string{"q-3", "q-1", "q-4", "q-0", "q-2"} {
			evs = append(evs, newEvent(id, "compliance.alert", id))
		}
		if _, err := s.RecordEvents(ctx, evs, conflictUnlessSame); err != nil {
			t.Fatal(err)
		}
		d := attempt(w, evs[1], 1) // q-1 waits for its second attempt
		s.StartAttempt(ctx, d)
		finish(t, s, d, webhook.AttemptRetrying, 503)
		d = attempt(w, evs[2], 1) // q-4 is delivered
		s.StartAttempt(ctx, d)
		finish(t, s, d, webhook.AttemptDelivered, 200)

		got, err := s.Backlog(ctx, w.ID, nil, 10)
		const a = "compliance.alert"
		want := []store.BacklogEntry{{EventID: "q-3", EventType: a}, {EventID: "q-1", EventType: a, Attempts: 1}, {EventID: "q-0", EventType: a}, {EventID: "q-2", EventType: a}}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("backlog %+v %v, want %+v", got, err, want)
		}
		got, _ = s.Backlog(ctx, w.ID, []string{"q-3", "q-0"}, 1)
		if !slices.Equal(got, []store.BacklogEntry{{EventID: "q-1", EventType: a, Attempts: 1}}) {
			t.Fatalf("backlog skipping q-3 and q-0, one: %+v", got)
		}
		if got, _ := s.Backlog(ctx, other.ID, nil, 10); len(got) != 0 {
			t.Fatalf("a per_event webhook has no backlog: %+v", got)
		}
	})
}

// A filter is evaluated as the event is recorded: the subscriber it leaves
// out is recorded as filtered, not counted among the event's deliveries,
// counted by analytics, and never handed a delivery. Filter and retry
// overrides round-trip.
func TestFilteredSubscribers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ptr := func(v int) *int { return &v }
		pass := mustWebhook(t, s, "pass", "system.error")
		pass.Filter = json.RawMessage(`{"data.note":{"$regex":"^disk"}}`)
		pass.RetryOverrides = map[string]webhook.RetryOverride{"system.error": {MaxRetries: ptr(1)}}
		out := mustWebhook(t, s, "out", "system.error")
		out.Filter = json.RawMessage(`{"data.note":"memory"}`)
		for _, w := range []*webhook.Webhook{pass, out} {
			if _, err := s.UpdateWebhook(ctx, w.ID, func(cur *webhook.Webhook) error {
				cur.Filter, cur.RetryOverrides = w.Filter, w.RetryOverrides
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.GetWebhook(ctx, pass.ID)
		if err != nil || string(got.Filter) != string(pass.Filter) || *got.RetryOverrides["system.error"].MaxRetries != 1 {
			t.Fatalf("round trip: %+v %v", got, err)
		}
		from := time.Now().Add(-time.Minute)
		recs, err := s.RecordEvents(ctx, []*webhook.Event{newEvent("f1", "system.error", "disk full")}, conflictUnlessSame)
		if err != nil {
			t.Fatal(err)
		}
		r := recs[0]
		if len(r.Subscribers) != 1 || r.Subscribers[0].ID != pass.ID || len(r.Filtered) != 1 || r.Filtered[0].ID != out.ID || r.Event.TotalDeliveries != 1 {
			t.Fatalf("recording %+v", r)
		}
		if p := r.Subscribers[0].RetryPolicies()["system.error"]; p.MaxRetries != 1 {
			t.Fatalf("snapshot's override %+v", p)
		}
		snap, err := s.EventSubscribers(ctx, []string{"f1"})
		if err != nil || len(snap["f1"]) != 2 || snap["f1"][1].Outcome != store.OutcomeFiltered {
			t.Fatalf("snapshot %+v %v", snap, err)
		}
		st, err := s.PeriodStats(ctx, store.StatsFilter{WebhookID: out.ID, From: from, To: time.Now().Add(time.Minute)})
		if err != nil || st.FilteredEvents != 1 || st.FailedDeliveries != 0 {
			t.Fatalf("stats %+v %v", st, err)
		}
		if err := s.EndDeliveriesOf(ctx, out.ID); err != nil {
			t.Fatal(err)
		}
		ev, _ := s.GetEvent(ctx, "f1")
		if ev.TotalDeliveries != 1 || ev.FailedDeliveries != 0 {
			t.Fatalf("event counters %+v", ev)
		}
	})
}
