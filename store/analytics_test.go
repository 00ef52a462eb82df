package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

type fakeAttempt struct {
	event  string
	n      int
	status webhook.AttemptStatus
	code   int // 0: no answer
	class  webhook.ErrorClass
	ms     float64
}

// record writes attempts of one webhook as if made at a given time.
func record(t *testing.T, s *store.Store, w *webhook.Webhook, at time.Time, attempts []fakeAttempt) {
	t.Helper()
	s.Now = func() time.Time { return at }
	defer func() { s.Now = time.Now }()
	for _, a := range attempts {
		e, err := s.GetEvent(ctx, a.event)
		if err != nil {
			e = mustEvent(t, s, a.event, "compliance.alert")
		}
		d := attempt(w, e, a.n)
		if _, err := s.StartAttempt(ctx, d); err != nil {
			t.Fatal(err)
		}
		ms := a.ms
		d.Status, d.DurationMS, d.ErrorClass = a.status, &ms, a.class
		if a.code != 0 {
			code := a.code
			d.ResponseStatusCode = &code
		}
		if err := s.FinishAttempt(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	D, R, F = webhook.AttemptDelivered, webhook.AttemptRetrying, webhook.AttemptFailed
)

func TestStats(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w, other := mustWebhook(t, s, "w", "*"), mustWebhook(t, s, "other", "*")
		now := time.Now().UTC()
		// 20 durations 10..200 ms: p95 (nearest rank) is the 19th, 190 ms.
		var attempts []fakeAttempt
		for i := 1; i <= 16; i++ {
			attempts = append(attempts, fakeAttempt{fmt.Sprintf("ok%d", i), 1, D, 200, "", float64(i * 10)})
		}
		attempts = append(attempts,
			fakeAttempt{"flaky", 1, R, 503, webhook.ClassHTTPStatus, 170},
			fakeAttempt{"flaky", 2, D, 200, "", 180},
			fakeAttempt{"dead", 1, R, 0, webhook.ClassTimeout, 190},
			fakeAttempt{"dead", 2, F, 0, webhook.ClassConnection, 200},
		)
		record(t, s, w, now, attempts)
		record(t, s, other, now, []fakeAttempt{{"ok1", 1, F, 404, webhook.ClassHTTPStatus, 5000}})

		got, err := s.Stats(ctx, store.StatsFilter{WebhookID: w.ID, From: now.Add(-time.Hour), To: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Stats{TotalEvents: 18, SuccessfulDeliveries: 17, FailedDeliveries: 1, SuccessRate: 94.44,
			AvgResponseTimeMS: 105, MinResponseTimeMS: 10, MaxResponseTimeMS: 200, P95ResponseTimeMS: 190,
			TotalAttempts: 20, RetryCount: 2, HTTP5xxErrors: 1, TimeoutErrors: 1, NetworkErrors: 1}
		if got != want {
			t.Fatalf("stats\n got %+v\nwant %+v", got, want)
		}
		// The median (nearest rank) of the 20 is the 10th, 100 ms.
		withMedian, p50, err := s.StatsWithMedian(ctx, store.StatsFilter{WebhookID: w.ID, From: now.Add(-time.Hour), To: now.Add(time.Hour)})
		if err != nil || p50 == nil || *p50 != 100 || withMedian != want {
			t.Fatalf("p50 = %v, %v; stats %+v", p50, err, withMedian)
		}
		if _, p50, err := s.StatsWithMedian(ctx, store.StatsFilter{WebhookID: w.ID, From: now.Add(time.Hour), To: now.Add(2 * time.Hour)}); p50 != nil || err != nil {
			t.Fatalf("p50 of an empty period: %v, %v", p50, err)
		}
		all, _ := s.Stats(ctx, store.StatsFilter{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
		if all.TotalEvents != 19 || all.HTTP4xxErrors != 1 || all.FailedDeliveries != 2 || all.MaxResponseTimeMS != 5000 {
			t.Fatalf("all webhooks: %+v", all)
		}
		none, _ := s.Stats(ctx, store.StatsFilter{WebhookID: w.ID, From: now.Add(time.Hour), To: now.Add(2 * time.Hour)})
		if none != (store.Stats{}) {
			t.Fatalf("empty period: %+v", none)
		}
		byType, _ := s.StatsByEventType(ctx, store.StatsFilter{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
		if len(byType) != 1 || byType["compliance.alert"].TotalEvents != 19 {
			t.Fatalf("by type: %+v", byType)
		}
	})
}

func TestRollupAndLongPeriods(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "w", "*")
		today := time.Now().UTC().Truncate(24 * time.Hour)
		old := today.Add(-40 * 24 * time.Hour).Add(13 * time.Hour)
		record(t, s, w, old, []fakeAttempt{{"a", 1, D, 200, "", 100}, {"b", 1, F, 500, webhook.ClassHTTPStatus, 300}})
		record(t, s, w, today.Add(time.Minute), []fakeAttempt{{"c", 1, D, 200, "", 50}})

		for range 2 { // rerunning rewrites, never adds
			if n, err := s.RollupDay(ctx, old); err != nil || n != 1 {
				t.Fatalf("rollup: %d %v", n, err)
			}
		}
		rows, err := s.Rollups(ctx, w.ID, old.Add(-48*time.Hour), today)
		if err != nil || len(rows) != 1 {
			t.Fatalf("rollups %+v %v", rows, err)
		}
		r := rows[0]
		if !r.PeriodDate.Equal(old.Truncate(24*time.Hour)) || r.TotalEvents != 2 || r.SuccessfulDeliveries != 1 ||
			r.FailedDeliveries != 1 || r.AvgResponseTimeMS != 200 || r.P95ResponseTimeMS != 300 || r.SuccessRate != 50 || r.TotalAttempts != 2 {
			t.Fatalf("rollup row %+v", r)
		}
		// Retention deletes the old attempts; a 60-day view still counts them.
		if _, err := s.DeleteAttemptsBefore(ctx, today.Add(-30*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		f := store.StatsFilter{WebhookID: w.ID, From: today.Add(-60 * 24 * time.Hour), To: today.Add(24 * time.Hour)}
		got, err := s.PeriodStats(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalEvents != 3 || got.SuccessfulDeliveries != 2 || got.FailedDeliveries != 1 || got.TotalAttempts != 3 ||
			got.AvgResponseTimeMS != 150 || got.MinResponseTimeMS != 50 || got.MaxResponseTimeMS != 300 || got.P95ResponseTimeMS != 300 {
			t.Fatalf("merged period %+v", got)
		}
		raw, _ := s.Stats(ctx, f)
		if raw.TotalEvents != 1 {
			t.Fatalf("old attempts survived retention: %+v", raw)
		}
	})
}

func TestDaysToRollUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "w", "*")
		today := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
		day := 24 * time.Hour
		dates := func(days []time.Time) string {
			var out []string
			for _, d := range days {
				out = append(out, d.Format("01-02"))
			}
			return strings.Join(out, " ")
		}
		// Nothing at all: yesterday.
		if got, _ := s.DaysToRollUp(ctx, today); dates(got) != "11-28" {
			t.Fatalf("empty store: %s", dates(got))
		}
		// The first run after attempts began four days ago rolls up all of them.
		record(t, s, w, today.Add(-4*day+time.Hour), []fakeAttempt{{"a", 1, D, 200, "", 10}})
		if got, _ := s.DaysToRollUp(ctx, today); dates(got) != "11-25 11-26 11-27 11-28" {
			t.Fatalf("first run: %s", dates(got))
		}
		// After a rollup of the 26th, runs take up after it: an outage of days loses none.
		s.RollupDay(ctx, today.Add(-4*day))
		s.Now = func() time.Time { return today }
		if _, err := s.RollupDay(ctx, today.Add(-3*day)); err != nil {
			t.Fatal(err)
		}
		record(t, s, w, today.Add(-3*day+time.Hour), []fakeAttempt{{"b", 1, D, 200, "", 10}})
		s.RollupDay(ctx, today.Add(-3*day))
		if got, _ := s.DaysToRollUp(ctx, today.Add(3*day)); dates(got) != "11-27 11-28 11-29 11-30 12-01" {
			t.Fatalf("after a gap: %s", dates(got))
		}
		// A run the same day again still rewrites yesterday.
		if got, _ := s.DaysToRollUp(ctx, today.Add(-2*day)); dates(got) != "11-26" {
			t.Fatalf("rerun: %s", dates(got))
		}
	})
}

func TestMergedMinimumIgnoresDaysWithoutAnswers(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustWebhook(t, s, "w", "*")
		today := time.Now().UTC().Truncate(24 * time.Hour)
		// An old day whose only attempt never got a duration, then today.
		record(t, s, w, today.AddDate(0, 0, -40), []fakeAttempt{{"a", 1, F, 0, webhook.ClassConnection, 0}})
		s.RollupDay(ctx, today.AddDate(0, 0, -40))
		s.DeleteAttemptsBefore(ctx, today.AddDate(0, 0, -30))
		record(t, s, w, today.Add(time.Minute), []fakeAttempt{{"b", 1, D, 200, "", 40}})
		got, err := s.PeriodStats(ctx, store.StatsFilter{WebhookID: w.ID, From: today.AddDate(0, 0, -60), To: today.Add(24 * time.Hour)})
		if err != nil || got.MinResponseTimeMS != 40 || got.TotalAttempts != 2 || got.NetworkErrors != 1 {
			t.Fatalf("%+v %v", got, err)
		}
	})
}

func TestGauges(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w, p := mustWebhook(t, s, "gauged", "*"), mustWebhook(t, s, "held", "*")
		if _, err := s.PauseWebhook(ctx, p.ID, "test", 0); err != nil {
			t.Fatal(err)
		}
		fanOut := func(e *webhook.Event, ids ...int64) {
			t.Helper()
			if err := s.SetSubscribers(ctx, e.EventID, ids, nil); err != nil {
				t.Fatal(err)
			}
		}
		// e1: w retrying, p held before its first attempt: both wait.
		e1 := mustEvent(t, s, "g1", "compliance.alert")
		fanOut(e1, w.ID, p.ID)
		a := attempt(w, e1, 1)
		s.StartAttempt(ctx, a)
		finish(t, s, a, webhook.AttemptRetrying, 503)
		// e2: w delivered on its second attempt, p held: one waits.
		e2 := mustEvent(t, s, "g2", "compliance.alert")
		fanOut(e2, w.ID, p.ID)
		b := attempt(w, e2, 1)
		s.StartAttempt(ctx, b)
		finish(t, s, b, webhook.AttemptRetrying, 503)
		b2 := attempt(w, e2, 2)
		s.StartAttempt(ctx, b2)
		finish(t, s, b2, webhook.AttemptDelivered, 200)
		// e3: accepted, not yet fanned out.
		mustEvent(t, s, "g3", "compliance.alert")
		// e4: failed for good and finished, then reopened by a manual retry.
		e4 := mustEvent(t, s, "g4", "compliance.alert")
		fanOut(e4, w.ID)
		c := attempt(w, e4, 1)
		s.StartAttempt(ctx, c)
		finish(t, s, c, webhook.AttemptFailed, 400)
		if err := s.FinishEvent(ctx, e4.EventID); err != nil {
			t.Fatal(err)
		}
		if err := s.ReopenDelivery(ctx, e4.EventID, w.ID); err != nil {
			t.Fatal(err)
		}
		c2 := attempt(w, e4, 2)
		s.StartAttempt(ctx, c2)
		finish(t, s, c2, webhook.AttemptRetrying, 503)
		// e5: delivered and finished.
		e5 := mustEvent(t, s, "g5", "compliance.alert")
		fanOut(e5, w.ID)
		d := attempt(w, e5, 1)
		s.StartAttempt(ctx, d)
		finish(t, s, d, webhook.AttemptDelivered, 200)
		if err := s.FinishEvent(ctx, e5.EventID); err != nil {
			t.Fatal(err)
		}

		g, err := s.Gauges(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := store.Gauges{DeliveriesWaiting: 4, EventsWaiting: 1, WebhooksPaused: 1}
		if g.DeliveriesWaiting != want.DeliveriesWaiting || g.EventsWaiting != want.EventsWaiting ||
			g.WebhooksPaused != want.WebhooksPaused || len(g.Subscribers) != 2 {
			t.Fatalf("gauges %+v, want %+v and 2 subscribers", g, want)
		}
	})
}
