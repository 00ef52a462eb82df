package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
)

// chaosStore is a migrated PostgreSQL store with two webhooks, opened as the
// chaos run reads it.
func chaosStore(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	url := storetest.MustURL(t, schema.Postgres)
	s, err := store.Open(ctx, url, secretbox.Ephemeral())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, name := range []string{"one", "two"} {
		mustExec(t, db, `INSERT INTO webhooks (name, url, secret, status, event_types, retry_strategy, max_retries,
			retry_delay_seconds, backoff_multiplier, max_delay_seconds, jitter_percentage, timeout_seconds,
			rate_limit_per_minute, rate_limit_per_hour, custom_headers, metadata, created_at, updated_at)
			VALUES ($1, 'http://127.0.0.1/', '', 'active', '[]', 'fixed_interval', 1, 1, 1, 1, 0, 2, 60, 600, '', '{}', now(), now())`, name)
	}
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// addAttempt writes an attempt row; nextRetry is nil or a time.Time.
func addAttempt(t *testing.T, db *sql.DB, webhook int64, event string, attempt int, status string, nextRetry any, created time.Time) {
	t.Helper()
	mustExec(t, db, `INSERT INTO deliveries (webhook_id, event_id, event_type, attempt_number, status, url,
		request_headers, request_body, signature, next_retry_at, created_at)
		VALUES ($1, $2, 't', $3, $4, 'http://127.0.0.1/', '{}', '{}', '', $5, $6)`, webhook, event, attempt, status, nextRetry, created)
}

// TestStuckSample runs the watch's queries on Herald's PostgreSQL schema:
// a retry overdue by more than the grace is stuck, and so is an event
// accepted that long ago whose first attempt left no row and reached no
// receiver; one its receiver got a request for, or that has a row, is not.
func TestStuckSample(t *testing.T) {
	db := chaosStore(t)
	now, grace := time.Now(), time.Minute
	addAttempt(t, db, 1, "late-retry", 1, "retrying", now.Add(-2*grace), now.Add(-3*grace))
	addAttempt(t, db, 2, "late-retry", 1, "delivered", nil, now.Add(-3*grace))
	addAttempt(t, db, 1, "on-time", 1, "retrying", now.Add(time.Second), now.Add(-3*grace))
	addAttempt(t, db, 2, "on-time", 1, "delivered", nil, now.Add(-3*grace))

	p := newPublished()
	for _, id := range []string{"late-retry", "on-time", "reached", "never", "recent"} {
		p.payloads[id], p.accepted[id] = []byte(`{}`), now.Add(-2*grace)
	}
	p.accepted["recent"] = now
	ordered := map[string]any{"delivery_mode": "ordered"}
	hooks := []*hook{{ID: 1, rcv: &receiver{name: "r1"}}, {ID: 2, rcv: &receiver{name: "r2"}},
		{ID: 3, rcv: &receiver{name: "r3"}, spec: ordered}, {ID: 4, rcv: &receiver{name: "r4"}, spec: ordered}}
	for _, h := range hooks[:2] {
		h.rcv.record(arrival{At: now.Add(-grace / 2), EventID: "reached", Answer: answerReset})
	}
	hooks[1].rcv.record(arrival{EventID: "never", Answer: answerOK})
	// Ordered: r3's queue moves (a request within the grace), so what it
	// has not got yet waits its turn; r4 heard nothing for longer.
	hooks[2].rcv.record(arrival{At: now.Add(-grace / 2), EventID: "reached", Answer: answerOK})
	hooks[3].rcv.record(arrival{At: now.Add(-2 * grace), EventID: "reached", Answer: answerOK})

	got, err := newStuckWatch(db, grace, p, hooks).count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []target{{1, "never"}, {4, "late-retry"}, {4, "on-time"}, {4, "never"}}
	if got.rows != 1 || !sameTargets(got.unstarted, want) {
		t.Errorf("stuck = %d rows, never started %v; want 1 row and %v", got.rows, got.unstarted, want)
	}
	rows, err := readRows(context.Background(), db)
	if err != nil || len(rows) != 4 {
		t.Errorf("read %d rows, %v; want 4", len(rows), err)
	}
}

func sameTargets(a, b []target) bool {
	key := func(t target) string { return fmt.Sprint(t.webhook, "/", t.event) }
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i, t := range a {
		as[i] = key(t)
	}
	for i, t := range b {
		bs[i] = key(t)
	}
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}
