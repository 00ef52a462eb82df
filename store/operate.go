package store

import (
	"context"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/webhook"
)

// PauseWebhook pauses an active webhook with a reason, and reports whether
// it did (false when it was not active: someone got there first).
func (s *Store) PauseWebhook(ctx context.Context, id int64, reason string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE webhooks SET status = 'paused', status_reason = ?,
		paused_at = ?, updated_at = ? WHERE id = ? AND status = 'active'`), reason, s.now(), s.now(), id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AttemptCounts returns a webhook's attempts since a time and how many of
// them failed (test deliveries aside).
func (s *Store) AttemptCounts(ctx context.Context, id int64, since time.Time) (attempts, failed int, err error) {
	err = s.db.QueryRowxContext(ctx, s.db.Rebind(`SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN status IN ('retrying', 'failed') THEN 1 ELSE 0 END), 0)
		FROM deliveries WHERE webhook_id = ? AND is_test = FALSE AND created_at >= ?`), id, since.UTC()).Scan(&attempts, &failed)
	return attempts, failed, err
}

// RateLimit is one limit: at most Max attempts per fixed Window.
type RateLimit struct {
	Max    int
	Window time.Duration
}

// ReserveSlot takes one attempt from each limit's current window, or none.
// Windows are fixed and aligned to the clock (a minute window runs from :00
// to :60). The count lives in SQL, so every worker shares it. When a window
// is full it returns false and when the fullest limit next has room.
//
// Nothing is granted in the last moments of a window (its guard): an
// attempt granted then could reach the receiver in the next window, on top
// of that window's own. It waits for the next window instead.
func (s *Store) ReserveSlot(ctx context.Context, webhookID int64, limits []RateLimit, now time.Time) (bool, time.Time, error) {
	now = now.UTC()
	var retryAt time.Time
	for _, l := range limits {
		if end := now.Truncate(l.Window).Add(l.Window); end.Sub(now) <= guard(l.Window) {
			retryAt = later(retryAt, end)
		}
	}
	if !retryAt.IsZero() {
		return false, retryAt, nil
	}
	var granted bool
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		granted, retryAt = true, time.Time{}
		for _, l := range limits {
			start := now.Truncate(l.Window)
			rows, err := tx.QueryxContext(ctx, tx.Rebind(`INSERT INTO rate_windows (webhook_id, window_seconds, window_start, count)
				VALUES (?, ?, ?, 1) ON CONFLICT (webhook_id, window_seconds, window_start)
				DO UPDATE SET count = rate_windows.count + 1 WHERE rate_windows.count < ? RETURNING count`),
				webhookID, int(l.Window/time.Second), start, l.Max)
			if err != nil {
				return err
			}
			got := rows.Next()
			if err := rows.Close(); err != nil {
				return err
			}
			if !got {
				granted = false
				retryAt = later(retryAt, start.Add(l.Window))
			}
		}
		if !granted {
			return errDenied // roll back the windows that did have room
		}
		return nil
	})
	if err == errDenied {
		return false, retryAt, nil
	}
	if isForeignKeyViolation(err) {
		return false, time.Time{}, webhook.Errorf(webhook.ENotFound, "webhook %d not found", webhookID)
	}
	return granted, retryAt, err
}

var errDenied = errors.New("rate window full")

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
	err := s.db.GetContext(ctx, &last, s.db.Rebind(`SELECT MAX(attempt_number) FROM deliveries
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
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(`SELECT d.event_id FROM deliveries d
		WHERE d.webhook_id = ? AND d.is_test = FALSE AND d.status = 'failed' AND d.created_at >= ?
		AND d.attempt_number = (SELECT MAX(x.attempt_number) FROM deliveries x
			WHERE x.event_id = d.event_id AND x.webhook_id = d.webhook_id)
		ORDER BY d.id`), webhookID, since.UTC())
	return ids, err
}

// DeleteAttemptsBefore removes attempt rows created before a time, and rate
// windows long over; rollups are untouched. It returns the rows removed.
func (s *Store) DeleteAttemptsBefore(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM deliveries WHERE created_at < ?`), before.UTC())
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	_, err = s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM rate_windows WHERE window_start < ?`), s.now().Add(-48*time.Hour))
	return n, err
}
