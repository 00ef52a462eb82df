package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

// attemptAt makes an attempt of an event to a webhook at a given time,
// ending as status says.
func attemptAt(t *testing.T, s *store.Store, w *webhook.Webhook, eventID string, n int, status webhook.AttemptStatus, at time.Time) {
	t.Helper()
	s.Now = func() time.Time { return at }
	defer func() { s.Now = time.Now }()
	e := &webhook.Event{EventID: eventID, EventType: "compliance.alert", Payload: json.RawMessage(`{}`), CreatedAt: at}
	if got, err := s.GetEvent(ctx, eventID); err == nil {
		e = got
	}
	d := attempt(w, e, n)
	d.IsTest = eventID == "test_delivery"
	if _, err := s.StartAttempt(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Status = status
	if status == webhook.AttemptRetrying {
		next := at.Add(time.Hour)
		d.NextRetryAt = &next
	}
	if err := s.FinishAttempt(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// waitingHistory records deliveries that wait, end and wait again at
// known minutes from m(0), half an hour ago, to webhook w, and to v through
// a filter that lets only one event through.
func waitingHistory(t *testing.T, s *store.Store) (m func(int) time.Time) {
	w := mustWebhook(t, s, "w", "compliance.alert", "validation.failed")
	v := mustWebhook(t, s, "v", "compliance.alert")
	if _, err := s.UpdateWebhook(ctx, v.ID, func(cur *webhook.Webhook) error {
		cur.Filter = json.RawMessage(`{"data.note":"to both"}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	m0 := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	m = func(i int) time.Time { return m0.Add(time.Duration(i) * time.Minute) }
	accept := func(id, typ, note string, at time.Time) {
		e := newEvent(id, typ, note)
		e.CreatedAt = at
		if _, err := s.RecordEvents(ctx, []*webhook.Event{e}, conflictUnlessSame); err != nil {
			t.Fatal(err)
		}
	}
	accept("a", "compliance.alert", "a", m(0)) // waits from m0, delivered at its second attempt at m5
	accept("b", "compliance.alert", "b", m(1)) // waits from m1 on, never attempted
	accept("c", "compliance.alert", "c", m(1)) // failed for good at m3, retried by hand at m9
	accept("d", "compliance.alert", "to both", m(2))
	accept("e", "validation.failed", "e", m(2)) // waits from m2 on
	accept("f", "compliance.alert", "f", m(6))  // delivered at once: never waits
	attemptAt(t, s, w, "a", 1, R, m(2))
	attemptAt(t, s, w, "c", 1, F, m(3))
	attemptAt(t, s, w, "test_delivery", 1, R, m(3))
	attemptAt(t, s, w, "d", 1, R, m(4))
	attemptAt(t, s, w, "a", 2, D, m(5))
	attemptAt(t, s, w, "f", 1, D, m(6))
	// d waited for its retry to w until cancelled; to v, it was cancelled
	// before any attempt.
	if _, err := s.CancelDelivery(ctx, "d", w.ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.EndDelivery(ctx, "d", v.ID, store.OutcomeCancelled); err != nil {
		t.Fatal(err)
	}
	if err := s.ReopenDelivery(ctx, "c", w.ID); err != nil {
		t.Fatal(err)
	}
	attemptAt(t, s, w, "c", 2, R, m(9))
	return m
}

// What waited at each time: accepted deliveries wait until an attempt ends
// them, a manual retry's attempt makes one wait again, and a delivery
// cancelled while it waited counts as ended at its last attempt; one a
// filter left out, one cancelled before any attempt, one delivered at the
// instant it was accepted and test deliveries never count. What waits now
// is what the gauge says.
func TestWaitingAt(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		m := waitingHistory(t, s)
		var ends []time.Time
		for i := -1; i <= 10; i++ {
			ends = append(ends, m(i))
			if i == 2 {
				ends = append(ends, m(2).Add(30*time.Second))
			}
		}
		ends = append(ends, time.Now().Add(time.Hour))
		//          m-1 m0 m1 m2 m2½ m3 m4 m5 m6 m7 m8 m9 m10 later
		all := []int64{0, 1, 3, 5, 5, 4, 3, 2, 2, 2, 2, 3, 3, 3}
		alerts := []int64{0, 1, 3, 4, 4, 3, 2, 1, 1, 1, 1, 2, 2, 2}
		for typ, want := range map[string][]int64{"": all, "compliance.alert": alerts} {
			got, err := s.WaitingAt(ctx, typ, ends)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("waiting (type %q)\n got %v %v\nwant %v", typ, got, err, want)
			}
		}
		g, err := s.Gauges(ctx)
		if err != nil || g.DeliveriesWaiting != all[len(all)-1] {
			t.Errorf("the gauge says %d waiting now (%v), the series %d", g.DeliveriesWaiting, err, all[len(all)-1])
		}
		if got, err := s.WaitingAt(ctx, "", nil); got != nil || err != nil {
			t.Errorf("no times: %v %v", got, err)
		}
	})
}
