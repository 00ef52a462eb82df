package store

import (
	"context"

	"github.com/loki-interceptor/herald/webhook"
)

// SubscriberStats sums up a subscriber's attempts (test deliveries aside):
// how many delivered, failed for good, or failed and awaited a retry, and
// its latest attempt and latest failure.
type SubscriberStats struct {
	Delivered, Failed, Retried int
	Last                       *webhook.Attempt // nil before the first attempt
	LastFailure                *webhook.Attempt
}

// SubscriberStats reads the stats of the given subscribers, keyed by id;
// one without attempts has zero stats.
func (s *Store) SubscriberStats(ctx context.Context, ids []int64) (map[int64]*SubscriberStats, error) {
	out := make(map[int64]*SubscriberStats, len(ids))
	for _, id := range ids {
		out[id] = &SubscriberStats{}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var counts []struct {
		WebhookID int64  `db:"webhook_id"`
		Status    string `db:"status"`
		N         int    `db:"n"`
	}
	if err := selectIn(ctx, s.db, &counts, `SELECT webhook_id, status, COUNT(*) AS n FROM deliveries
		WHERE webhook_id IN (?) AND is_test = FALSE GROUP BY webhook_id, status`, ids); err != nil {
		return nil, err
	}
	for _, c := range counts {
		st := out[c.WebhookID]
		switch webhook.AttemptStatus(c.Status) {
		case webhook.AttemptDelivered:
			st.Delivered = c.N
		case webhook.AttemptFailed:
			st.Failed = c.N
		case webhook.AttemptRetrying:
			st.Retried = c.N
		}
	}
	last, err := s.latestAttempts(ctx, ids, "")
	if err != nil {
		return nil, err
	}
	failed, err := s.latestAttempts(ctx, ids, ` AND status IN ('failed', 'retrying')`)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		out[id].Last, out[id].LastFailure = last[id], failed[id]
	}
	return out, nil
}

// latestAttempts are the subscribers' newest finished attempt rows that
// match cond, by subscriber, in one query.
func (s *Store) latestAttempts(ctx context.Context, ids []int64, cond string) (map[int64]*webhook.Attempt, error) {
	var rows []attemptRow
	if err := selectIn(ctx, s.db, &rows, `SELECT `+attemptColumns+` FROM deliveries WHERE id IN (SELECT MAX(id) FROM deliveries
		WHERE webhook_id IN (?) AND is_test = FALSE AND status <> 'pending'`+cond+` GROUP BY webhook_id)`, ids); err != nil {
		return nil, err
	}
	out := make(map[int64]*webhook.Attempt, len(rows))
	for i := range rows {
		d := rows[i].attempt()
		out[d.WebhookID] = d
	}
	return out, nil
}

// EventsByID returns the stored events with these ids, in the order asked;
// ids not found are left out.
func (s *Store) EventsByID(ctx context.Context, ids []string) ([]*webhook.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []eventRow
	if err := selectIn(ctx, s.read, &rows, `SELECT `+eventColumns+` FROM events WHERE event_id IN (?)`, ids); err != nil {
		return nil, err
	}
	byID := make(map[string]*webhook.Event, len(rows))
	for i := range rows {
		ev := rows[i].event()
		byID[ev.EventID] = ev
	}
	out := make([]*webhook.Event, 0, len(ids))
	for _, id := range ids {
		if ev, ok := byID[id]; ok {
			out = append(out, ev)
		}
	}
	return out, nil
}
