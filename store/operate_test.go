package store_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

func TestReserveSlotHoldsBothLimits(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "limited", "*")
		limits := []store.RateLimit{{Max: 3, Window: time.Minute}, {Max: 5, Window: time.Hour}}
		base := time.Date(2026, 11, 29, 10, 0, 10, 0, time.UTC)
		reserve := func(at time.Time) time.Time {
			got, err := s.ReserveSlot(ctx, w.ID, store.AttemptKey{}, limits, at)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		// Seven asked at once: three now, two in the next minute (the hour's
		// last two), then the next hour.
		var got []string
		for range 7 {
			got = append(got, reserve(base).Format("15:04:05"))
		}
		if want := "10:00:10 10:00:10 10:00:10 10:01:00 10:01:00 11:00:00 11:00:00"; strings.Join(got, " ") != want {
			t.Fatalf("slots %v, want %s", got, want)
		}
		// Later in the first hour there is no room left: the next hour has.
		if at := reserve(base.Add(20 * time.Minute)); !at.Equal(base.Truncate(time.Hour).Add(time.Hour)) {
			t.Fatalf("slot %v", at)
		}
		// In the last second of a window an attempt could reach the
		// receiver in the next: it goes now and counts in both.
		late := base.Add(5 * time.Hour).Truncate(time.Minute).Add(59*time.Second + 500*time.Millisecond)
		next := late.Truncate(time.Minute).Add(time.Minute)
		if at := reserve(late); !at.Equal(late) {
			t.Fatalf("in the guard with room in both windows: slot %v", at)
		}
		if a, b, c := reserve(next), reserve(next), reserve(next); !a.Equal(next) || !b.Equal(next) || !c.Equal(next.Add(time.Minute)) {
			t.Fatalf("the next minute held the guard's attempt and two more: %v %v %v", a, b, c)
		}
		// The next minute full, an attempt in this one's guard waits past it.
		busy := mustWebhook(t, s, "busy", "*")
		minute := []store.RateLimit{{Max: 3, Window: time.Minute}}
		for range 3 {
			s.ReserveSlot(ctx, busy.ID, store.AttemptKey{}, minute, next)
		}
		if at, _ := s.ReserveSlot(ctx, busy.ID, store.AttemptKey{}, minute, late); !at.Equal(next.Add(time.Minute)) {
			t.Fatalf("in the guard, the next window full: slot %v", at)
		}
		if !store.SlotHolds(minute, late, late.Add(300*time.Millisecond)) || store.SlotHolds(minute, next, next.Add(59*time.Second+500*time.Millisecond)) {
			t.Fatal("a slot holds in its window's guard only if it counted in the next window too")
		}
		other := mustWebhook(t, s, "other", "*")
		if at, _ := s.ReserveSlot(ctx, other.ID, store.AttemptKey{}, limits, base); !at.Equal(base) {
			t.Fatal("limits leak between webhooks")
		}
		_, err := s.ReserveSlot(ctx, 9999, store.AttemptKey{}, limits, base)
		wantCode(t, err, webhook.ENotFound)
	})
}

// Many workers reserving at once never put more than the limit in a window
// between them, and every one gets a slot.
func TestReserveSlotIsAtomic(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "contended", "*")
		limits := []store.RateLimit{{Max: 7, Window: time.Minute}, {Max: 100, Window: time.Hour}}
		now := time.Date(2026, 11, 29, 10, 0, 5, 0, time.UTC)
		var mu sync.Mutex
		perWindow := map[time.Time]int{}
		var wg sync.WaitGroup
		for range 30 {
			wg.Go(func() {
				at, err := s.ReserveSlot(ctx, w.ID, store.AttemptKey{}, limits, now)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				perWindow[at.Truncate(time.Minute)]++
				mu.Unlock()
			})
		}
		wg.Wait()
		total := 0
		for win, n := range perWindow {
			if n > 7 {
				t.Fatalf("window %v got %d slots, limit 7", win, n)
			}
			total += n
		}
		if total != 30 || len(perWindow) != 5 {
			t.Fatalf("%d slots in %d windows: %v", total, len(perWindow), perWindow)
		}
	})
}

func TestPauseAndBreakerCount(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "w", "*")
		count := func() int {
			got, _ := s.GetWebhook(ctx, w.ID)
			return got.ConsecutiveFailures
		}
		for i, st := range []webhook.AttemptStatus{webhook.AttemptFailed, webhook.AttemptRetrying, webhook.AttemptFailed, webhook.AttemptFailed} {
			e := mustEvent(t, s, fmt.Sprintf("e%d", i), "compliance.alert")
			d := attempt(w, e, 1)
			s.StartAttempt(ctx, d)
			finish(t, s, d, st, 500)
		}
		if n := count(); n != 3 {
			t.Fatalf("3 deliveries failed for good (one attempt only retrying), count %d", n)
		}
		e := mustEvent(t, s, "ok", "compliance.alert")
		d := attempt(w, e, 1)
		s.StartAttempt(ctx, d)
		finish(t, s, d, webhook.AttemptDelivered, 200)
		if n := count(); n != 0 {
			t.Fatalf("a delivery left count %d", n)
		}
		paused, err := s.PauseWebhook(ctx, w.ID, "receiver answered 410 Gone", 77)
		if err != nil || !paused {
			t.Fatalf("pause: %v %v", paused, err)
		}
		if again, _ := s.PauseWebhook(ctx, w.ID, "again", 78); again {
			t.Fatal("paused twice")
		}
		got, _ := s.GetWebhook(ctx, w.ID)
		if got.Status != webhook.StatusPaused || got.StatusReason != "receiver answered 410 Gone" || got.PausedAt == nil || *got.PausedByDelivery != 77 {
			t.Fatalf("%+v", got)
		}
	})
}

func TestFailedEventsAndNextAttempt(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "w", "*")
		for i, statuses := range [][]webhook.AttemptStatus{
			{webhook.AttemptFailed},
			{webhook.AttemptFailed, webhook.AttemptDelivered},
			{webhook.AttemptRetrying},
			{webhook.AttemptRetrying, webhook.AttemptFailed},
		} {
			e := mustEvent(t, s, fmt.Sprintf("e%d", i), "compliance.alert")
			for n, st := range statuses {
				a := attempt(w, e, n+1)
				s.StartAttempt(ctx, a)
				finish(t, s, a, st, 500)
			}
		}
		ids, err := s.FailedEvents(ctx, w.ID, time.Now().Add(-time.Hour))
		if err != nil || fmt.Sprint(ids) != "[e0 e3]" {
			t.Fatalf("failed events %v %v", ids, err)
		}
		if ids, _ := s.FailedEvents(ctx, w.ID, time.Now().Add(time.Hour)); len(ids) != 0 {
			t.Fatalf("window ignored: %v", ids)
		}
		if n, was, _ := s.NextAttempt(ctx, "e3", w.ID); n != 3 || !was {
			t.Fatalf("next attempt %d %v", n, was)
		}
		if n, was, _ := s.NextAttempt(ctx, "e3", w.ID+1); n != 1 || was {
			t.Fatalf("not a subscriber: %d %v", n, was)
		}
		// Attempts never sent (a body the payload options could not make)
		// count as attempts, not as the receiver's failures.
		unsent := mustEvent(t, s, "e-unsent", "compliance.alert")
		for n, class := range webhook.UnsentClasses {
			a := attempt(w, unsent, n+1)
			s.StartAttempt(ctx, a)
			a.Status, a.ErrorClass, a.LastError = webhook.AttemptRetrying, class, "template"
			if err := s.FinishAttempt(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		attempts, failed, err := s.AttemptCounts(ctx, w.ID, time.Now().Add(-time.Hour))
		if err != nil || attempts != 8 || failed != 5 {
			t.Fatalf("attempt counts %d/%d %v", failed, attempts, err)
		}
		n, err := s.DeleteAttemptsBefore(ctx, time.Now().Add(time.Minute))
		if err != nil || n != 8 {
			t.Fatalf("retention deleted %d %v", n, err)
		}
	})
}

func TestNextRetries(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "due", "*")
		e1, e2 := mustEvent(t, s, "n1", "compliance.alert"), mustEvent(t, s, "n2", "compliance.alert")
		mustEvent(t, s, "n3", "compliance.alert")
		a1 := attempt(w, e1, 1)
		s.StartAttempt(ctx, a1)
		finish(t, s, a1, webhook.AttemptRetrying, 503)
		a2 := attempt(w, e1, 2)
		s.StartAttempt(ctx, a2)
		finish(t, s, a2, webhook.AttemptRetrying, 503)
		b := attempt(w, e2, 1)
		s.StartAttempt(ctx, b)
		finish(t, s, b, webhook.AttemptDelivered, 200)
		got, err := s.NextRetries(ctx, w.ID, []string{"n1", "n2", "n3"})
		if err != nil || len(got) != 1 || !got["n1"].Equal(a2.NextRetryAt.UTC()) {
			t.Fatalf("next retries %v %v, want n1 at %v", got, err, a2.NextRetryAt)
		}
	})
}

// A slot is held for the attempt it was reserved for until that attempt's
// row is written: the attempt asking again (run again after a crash before
// its request) gets the same slot, not a second one that would count in
// its window for nothing.
func TestReservedSlotIsHeldForItsAttempt(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "held", "*")
		e1, e2 := mustEvent(t, s, "evt_held_1", "compliance.alert"), mustEvent(t, s, "evt_held_2", "compliance.alert")
		k1, k2 := store.AttemptKey{EventID: e1.EventID, Attempt: 1}, store.AttemptKey{EventID: e2.EventID, Attempt: 1}
		limits := []store.RateLimit{{Max: 1, Window: time.Minute}}
		base := time.Date(2026, 11, 29, 10, 0, 10, 0, time.UTC)
		minute := func(n int) time.Time { return base.Truncate(time.Minute).Add(time.Duration(n) * time.Minute) }
		reserve := func(k store.AttemptKey, now time.Time) time.Time {
			t.Helper()
			at, err := s.ReserveSlot(ctx, w.ID, k, limits, now)
			if err != nil {
				t.Fatal(err)
			}
			return at
		}
		if at := reserve(k1, base); !at.Equal(base) {
			t.Fatalf("first slot %v", at)
		}
		if at := reserve(k1, base.Add(time.Second)); !at.Equal(base) {
			t.Fatalf("the same attempt again: slot %v, want the one it holds (%v)", at, base)
		}
		// In one batch, the held attempt keeps its slot and the other takes
		// the next free one; the same batch again takes nothing more.
		for range 2 {
			ats, err := s.ReserveSlots(ctx, w.ID, []store.AttemptKey{k1, k2}, limits, base.Add(2*time.Second))
			if err != nil || len(ats) != 2 || !ats[0].Equal(base) || !ats[1].Equal(minute(1)) {
				t.Fatalf("batch slots %v, %v; want %v and %v", ats, err, base, minute(1))
			}
		}
		if at := reserve(store.AttemptKey{}, base); !at.Equal(minute(2)) {
			t.Fatalf("another attempt: slot %v, want %v (two minutes counted, not more)", at, minute(2))
		}
		// Once the attempt's row is written, its row stands for it: asked
		// again (a send again after a lost worker), it takes a new slot.
		if _, err := s.StartAttempt(ctx, attempt(w, e1, 1)); err != nil {
			t.Fatal(err)
		}
		if at := reserve(k1, base.Add(3*time.Second)); !at.Equal(minute(3)) {
			t.Fatalf("after its row: slot %v, want a new one (%v)", at, minute(3))
		}
		// A slot given back is no longer held, and its minute has room.
		if err := s.ReleaseSlots(ctx, w.ID, limits, []store.Slot{{AttemptKey: k2, At: minute(1)}}); err != nil {
			t.Fatal(err)
		}
		if at := reserve(k2, base.Add(4*time.Second)); !at.Equal(minute(1)) {
			t.Fatalf("after giving back: slot %v, want %v afresh", at, minute(1))
		}
	})
}
