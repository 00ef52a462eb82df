package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// WaitingAt counts, at each of the times ends (oldest first), the
// deliveries of one event type ("": every type) that were waiting then.
//
// A delivery is one event to one subscriber: test deliveries aside, and
// neither one a filter left out nor a batched integration's share of an
// event (its batch is a delivery of its own). It waits at T when
//
//   - it had begun by T: its event was accepted at or before T, or it has
//     an attempt row made at or before T; and
//   - it had no terminal outcome by T: its latest attempt row made at or
//     before T (the highest attempt number) is neither delivered nor
//     failed; with no such row, it has not ended since without any attempt
//     (outcome still pending, or an attempt made after T).
//
// An attempt counts from when it was made (created_at), with the outcome
// its row holds now; a manual retry's new attempt makes a failed delivery
// wait again. Herald keeps no time for a cancel or a webhook's deletion:
// a delivery cancelled while it waited for a retry counts as ended at its
// last attempt, and one that ended with no attempt row (cancelled before
// its first attempt, or its webhook deleted, which deletes its attempts)
// counts at no time.
//
// The counts are what waits now, taken back past the changes recorded
// after each time: each time costs the events and attempts of its
// interval, not the history kept, and the open events alone give what
// waits now (an event is closed once each of its deliveries has ended).
// One read-only transaction reads it all, so every count comes from one
// snapshot.
func (s *Store) WaitingAt(ctx context.Context, eventType string, ends []time.Time) ([]int64, error) {
	if len(ends) == 0 {
		return nil, nil
	}
	tx, err := s.read.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	typed := eventType != ""
	// args are a statement's: its bounds, then the event type, once for the
	// acceptances and once for the attempts (just the type for waitingNow).
	args := func(bounds ...time.Time) []any {
		var one []any
		for _, b := range bounds {
			one = append(one, b.UTC())
		}
		if typed {
			one = append(one, eventType)
		}
		return append(one, one...)
	}
	var now int64
	if err := tx.GetContext(ctx, &now, tx.Rebind(waitingNow(typed)), args()...); err != nil {
		return nil, err
	}
	// changes[k] were recorded after ends[k], up to the next (the last, on).
	changes, last := make([]int64, len(ends)), len(ends)-1
	between, err := tx.PreparexContext(ctx, tx.Rebind(waitingChange(typed, true)))
	if err != nil {
		return nil, err
	}
	defer between.Close()
	for k := range last {
		if err := between.GetContext(ctx, &changes[k], args(ends[k], ends[k+1])...); err != nil {
			return nil, err
		}
	}
	if err := tx.GetContext(ctx, &changes[last], tx.Rebind(waitingChange(typed, false)), args(ends[last])...); err != nil {
		return nil, err
	}
	out := make([]int64, len(ends))
	for k := last; k >= 0; k-- {
		now -= changes[k]
		out[k] = now
	}
	return out, nil
}

// stillWaiting is 1 for an attempt row (alias %[1]s) whose delivery waits
// after it, 0 for one that ended it.
const stillWaiting = `CASE WHEN %[1]s.status IN ('delivered', 'failed') THEN 0 ELSE 1 END`

// ownDelivery selects the snapshot rows (alias es) that are deliveries.
const ownDelivery = `es.outcome NOT IN ('filtered', 'batched')`

// samePair matches attempt rows (alias a) to the delivery of alias b,
// tests aside: the (event, webhook, attempt) index finds them. A lookup
// that also compares their times orders by attempt_number instead of
// filtering on created_at, which would lead SQLite to scan the webhook's
// attempts by time.
func samePair(a, b string) string {
	return fmt.Sprintf("%[1]s.event_id = %[2]s.event_id AND %[1]s.webhook_id = %[2]s.webhook_id AND %[1]s.is_test = FALSE", a, b)
}

// waitingNow counts the deliveries waiting now: of the open events, those
// whose latest attempt row has not ended them, or with no row, whose
// outcome is pending. With typed, it takes the event type twice.
func waitingNow(typed bool) string {
	open := `SELECT event_id FROM events WHERE processed_at IS NULL`
	if typed {
		open += ` AND event_type = ?`
	}
	return `SELECT COUNT(*) FROM (
		SELECT es.event_id, es.webhook_id FROM event_subscribers es WHERE es.event_id IN (` + open + `) AND ` + ownDelivery + `
		UNION SELECT d.event_id, d.webhook_id FROM deliveries d WHERE d.event_id IN (` + open + `) AND d.is_test = FALSE) p
		WHERE COALESCE((SELECT ` + fmt.Sprintf(stillWaiting, "l") + ` FROM deliveries l WHERE ` + samePair("l", "p") + `
			ORDER BY l.attempt_number DESC LIMIT 1),
		(SELECT COUNT(*) FROM event_subscribers es WHERE es.event_id = p.event_id AND es.webhook_id = p.webhook_id
			AND es.outcome = 'pending')) = 1`
}

// waitingChange is how many more deliveries waited after the changes
// recorded in (from, to] than before them: those accepted then, with no
// attempt yet, that have not ended without one; and each attempt made
// then, as its row's state less the one before it (its previous attempt's,
// or whether the event had been accepted earlier). Without bounded, the
// changes after from. It takes from (and to), and with typed the event
// type, once for the acceptances and once for the attempts.
func waitingChange(typed, bounded bool) string {
	span := func(col string) string {
		w := col + " > ?"
		if bounded {
			w += " AND " + col + " <= ?"
		}
		return w
	}
	etyp, dtyp := "", ""
	if typed {
		etyp, dtyp = " AND e.event_type = ?", " AND d.event_type = ?"
	}
	return `SELECT (SELECT COUNT(*) FROM event_subscribers es JOIN events e ON e.event_id = es.event_id
		WHERE ` + span("e.created_at") + etyp + ` AND ` + ownDelivery + `
		AND (es.outcome = 'pending' OR EXISTS (SELECT 1 FROM deliveries x WHERE ` + samePair("x", "es") + `))
		AND NOT COALESCE((SELECT x.created_at <= e.created_at FROM deliveries x WHERE ` + samePair("x", "es") + `
			ORDER BY x.attempt_number LIMIT 1), FALSE))
	+ (SELECT COALESCE(SUM(` + fmt.Sprintf(stillWaiting, "d") + ` - COALESCE(
		(SELECT ` + fmt.Sprintf(stillWaiting, "p") + ` FROM deliveries p WHERE ` + samePair("p", "d") + `
			AND p.attempt_number < d.attempt_number ORDER BY p.attempt_number DESC LIMIT 1),
		(SELECT COUNT(*) FROM event_subscribers es JOIN events e ON e.event_id = es.event_id
			WHERE es.event_id = d.event_id AND es.webhook_id = d.webhook_id AND ` + ownDelivery + `
			AND e.created_at < d.created_at))), 0)
		FROM deliveries d WHERE d.is_test = FALSE AND ` + span("d.created_at") + dtyp + `)`
}
