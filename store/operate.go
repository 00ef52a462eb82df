package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/webhook"
)

// PauseWebhook pauses an active webhook with a reason and the attempt that
// tripped it, and reports whether it did (false when it was not active:
// someone got there first).
func (s *Store) PauseWebhook(ctx context.Context, id int64, reason string, byDelivery int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE webhooks SET status = 'paused', status_reason = ?,
		paused_at = ?, paused_by_delivery = ?, updated_at = ? WHERE id = ? AND status = 'active'`),
		reason, s.now(), byDelivery, s.now(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ConsecutiveFailures is a webhook's circuit-breaker count, as FinishAttempt
// keeps it.
func (s *Store) ConsecutiveFailures(ctx context.Context, id int64) (int, error) {
	var n int
	err := s.read.GetContext(ctx, &n, s.db.Rebind(`SELECT consecutive_failures FROM webhooks WHERE id = ?`), id)
	return n, notFound(err, "webhook %d not found", id)
}

// AttemptCounts returns a webhook's attempts since a time and how many of
// them failed (test deliveries aside).
func (s *Store) AttemptCounts(ctx context.Context, id int64, since time.Time) (attempts, failed int, err error) {
	q, args, err := sqlx.In(`SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN status IN ('retrying', 'failed') AND error_class NOT IN (?) THEN 1 ELSE 0 END), 0)
		FROM deliveries WHERE webhook_id = ? AND is_test = FALSE AND created_at >= ?`, webhook.UnsentClasses, id, since.UTC())
	if err != nil {
		return 0, 0, err
	}
	err = s.read.QueryRowxContext(ctx, s.db.Rebind(q), args...).Scan(&attempts, &failed)
	return attempts, failed, err
}

// RateLimit is one limit: at most Max attempts per fixed Window.
type RateLimit struct {
	Max    int
	Window time.Duration
}

// ReserveSlot takes a slot in every limit's window for one attempt, at the
// earliest time from now on that all have room, and returns that time: now,
// or the start of a later window the attempt must wait for. Windows are fixed
// and aligned to the clock (a minute window runs from :00 to :60). Counts
// live in SQL and are only ever raised below the limit, inside a
// transaction, so any number of workers share them; an attempt told to wait
// already holds its slot, so each waits once, in the order they asked.
//
// An attempt granted in the last moments of a window (its guard) could
// reach the receiver in the next window: it counts in both, and goes only
// when both have room.
//
// The slot is held for the attempt key names until its row is written
// (rate_holds): asked again for the same attempt, ReserveSlot returns the
// slot it holds while that is still usable.
func (s *Store) ReserveSlot(ctx context.Context, webhookID int64, key AttemptKey, limits []RateLimit, now time.Time) (time.Time, error) {
	at, _, err := s.reserve(ctx, webhookID, key, limits, now, true)
	return at, err
}

// SlotHolds says whether a slot reserved for at may still be used at now:
// every window an attempt at now may count in was counted for at. A slot
// whose wait overran its windows (workers down or backlogged) must not be
// used: the attempt would land in a window that never counted it.
func SlotHolds(limits []RateLimit, at, now time.Time) bool {
	at, now = at.UTC(), now.UTC()
	for _, l := range limits {
		if now.Before(at.Add(-guard(l.Window))) {
			return false
		}
		// A worker's clock a little behind the server's (whose timer woke
		// the attempt) is tolerated up to the guard.
		counted := windowsAt(l, at)
		for _, w := range windowsAt(l, latest(now, at)) {
			if !slices.ContainsFunc(counted, w.Equal) {
				return false
			}
		}
	}
	return true
}

// windowsAt are the starts of the windows of a limit an attempt at t counts
// in: the one holding t and, in its guard, the next one too.
func windowsAt(l RateLimit, t time.Time) []time.Time {
	w := t.UTC().Truncate(l.Window)
	if next := w.Add(l.Window); next.Sub(t) <= guard(l.Window) {
		return []time.Time{w, next}
	}
	return []time.Time{w}
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TakeSlotNow takes a slot only if one is free now; otherwise it takes
// nothing and says when the next is.
func (s *Store) TakeSlotNow(ctx context.Context, webhookID int64, limits []RateLimit, now time.Time) (bool, time.Time, error) {
	at, ok, err := s.reserve(ctx, webhookID, AttemptKey{}, limits, now, false)
	return ok, at, err
}

// Windows are the lengths of the per-minute and per-hour rate-limit
// windows: a minute and an hour, where a length is zero (tests shorten
// them). Every reservation, an attempt's or a test delivery's, reads a
// webhook's limits through them.
type Windows struct {
	Minute, Hour time.Duration
}

// Limits are a webhook's rate limits over these windows.
func (win Windows) Limits(w *webhook.Webhook) []RateLimit {
	if win.Minute == 0 {
		win.Minute = time.Minute
	}
	if win.Hour == 0 {
		win.Hour = time.Hour
	}
	return []RateLimit{{Max: w.RateLimitPerMinute, Window: win.Minute}, {Max: w.RateLimitPerHour, Window: win.Hour}}
}

func (s *Store) reserve(ctx context.Context, webhookID int64, key AttemptKey, limits []RateLimit, now time.Time, wait bool) (time.Time, bool, error) {
	start := now.UTC()
	var at time.Time
	granted := false
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		t := start // a rerun after a deadlock starts afresh
		if err := s.lockWebhook(ctx, tx, webhookID); err != nil {
			return err
		}
		held, err := s.heldSlots(ctx, tx, webhookID, []AttemptKey{key})
		if err != nil {
			return err
		}
		if h, ok := held[key]; ok && usable(limits, h, start) {
			at, granted = h, !h.After(start)
			return nil
		}
		for range maxReserveTries {
			moved, err := s.firstRoom(ctx, tx, webhookID, limits, &t)
			if err != nil {
				return err
			}
			if !wait && t.After(now.UTC()) {
				at = t // no room now, and asked not to wait
				return nil
			}
			if !moved {
				at, granted = t, true
				if err := s.take(ctx, tx, webhookID, limits, t); err != nil {
					return err
				}
				return s.hold(ctx, tx, webhookID, []Slot{{key, t}})
			}
		}
		return fmt.Errorf("store: no rate-limit room found for webhook %d after %d tries", webhookID, maxReserveTries)
	})
	return at, granted, err
}

const maxReserveTries = 100

// firstRoom moves t past every full window of each limit, reading the full
// windows ahead of every limit in one query; it reports whether t moved.
func (s *Store) firstRoom(ctx context.Context, tx *sqlx.Tx, webhookID int64, limits []RateLimit, t *time.Time) (bool, error) {
	var where []string
	args := []any{webhookID}
	for _, l := range limits {
		where = append(where, "(window_seconds = ? AND window_start >= ? AND count >= ?)")
		args = append(args, int(l.Window/time.Second), t.Truncate(l.Window), l.Max)
	}
	var rows []struct {
		Seconds int       `db:"window_seconds"`
		Start   time.Time `db:"window_start"`
	}
	err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT window_seconds, window_start FROM rate_windows
		WHERE webhook_id = ? AND (`+strings.Join(where, " OR ")+`)`), args...)
	if err != nil {
		return false, err
	}
	full := map[int]map[time.Time]bool{}
	for _, r := range rows {
		if full[r.Seconds] == nil {
			full[r.Seconds] = map[time.Time]bool{}
		}
		full[r.Seconds][r.Start.UTC()] = true
	}
	start := *t
	for moved := true; moved; {
		moved = false
		for _, l := range limits {
			for _, w := range windowsAt(l, *t) {
				if full[int(l.Window/time.Second)][w] {
					*t, moved = w.Add(l.Window), true
				}
			}
		}
	}
	return t.After(start), nil
}

// take raises each limit's count for the windows holding t. firstRoom has
// just seen room there, and the webhook's row lock keeps every other
// reservation out until the transaction ends.
func (s *Store) take(ctx context.Context, tx *sqlx.Tx, webhookID int64, limits []RateLimit, t time.Time) error {
	return s.takeN(ctx, tx, webhookID, limits, t, 1)
}

// guard is the end of a window in which nothing is granted: a fortieth of
// it, at most a second (enough for a request to reach a receiver).
func guard(window time.Duration) time.Duration { return min(window/40, time.Second) }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// NextAttempt is the number the next attempt of an event to a webhook gets,
// and whether the webhook was one of the event's subscribers at all.
func (s *Store) NextAttempt(ctx context.Context, eventID string, webhookID int64) (int, bool, error) {
	var last *int
	err := s.read.GetContext(ctx, &last, s.db.Rebind(`SELECT MAX(attempt_number) FROM deliveries
		WHERE event_id = ? AND webhook_id = ? AND is_test = FALSE`), eventID, webhookID)
	if err != nil || last == nil {
		return 1, false, err
	}
	return *last + 1, true, nil
}

// FailedEvents lists the events whose delivery to a webhook ended failed (its
// latest attempt failed) in attempts made since a time, oldest first.
func (s *Store) FailedEvents(ctx context.Context, webhookID int64, since time.Time) ([]string, error) {
	var ids []string
	err := s.read.SelectContext(ctx, &ids, s.db.Rebind(`SELECT d.event_id FROM deliveries d
		WHERE d.webhook_id = ? AND d.is_test = FALSE AND d.status = 'failed' AND d.created_at >= ?
		AND d.attempt_number = (SELECT MAX(x.attempt_number) FROM deliveries x
			WHERE x.event_id = d.event_id AND x.webhook_id = d.webhook_id)
		ORDER BY d.id`), webhookID, since.UTC())
	return ids, err
}

// StillFailed reports whether a webhook's delivery of an event has, as its
// latest attempt, a failed one: a bulk retry asks again just before it
// reopens an event, as a retry it made a moment earlier may have delivered.
func (s *Store) StillFailed(ctx context.Context, eventID string, webhookID int64) (bool, error) {
	var status string
	err := s.read.GetContext(ctx, &status, s.db.Rebind(`SELECT status FROM deliveries
		WHERE event_id = ? AND webhook_id = ? AND is_test = FALSE ORDER BY attempt_number DESC LIMIT 1`), eventID, webhookID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return status == string(webhook.AttemptFailed), err
}

// DeleteAttemptsBefore removes attempt rows created before a time, in
// batches so that no statement runs long, and rate windows long over;
// rollups are untouched. It returns the rows removed.
func (s *Store) DeleteAttemptsBefore(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM deliveries WHERE id IN
			(SELECT id FROM deliveries WHERE created_at < ? ORDER BY id LIMIT ?)`), before.UTC(), deleteBatch)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < deleteBatch {
			break
		}
	}
	old := s.now().Add(-48 * time.Hour).UTC()
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM rate_windows WHERE window_start < ?`), old); err != nil {
		return total, err
	}
	// Slots held for attempts that never came (their deliveries cancelled
	// while they waited).
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM rate_holds WHERE slot_at < ?`), old)
	return total, err
}

const deleteBatch = 5000
