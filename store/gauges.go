package store

import (
	"context"
	"time"
)

// Gauges is the state the metrics' gauges show.
type Gauges struct {
	DeliveriesWaiting, EventsWaiting, WebhooksPaused int64
	Subscribers                                      []Seen
}

// Seen is when a subscriber was last triggered (created, if never).
type Seen struct {
	Name, Status string
	At           time.Time
}

// Gauges reads what the metrics' gauges show: deliveries not yet delivered
// or failed for good, events accepted whose deliveries have not begun (no
// attempt yet: queued behind a backlog, or held), paused webhooks, and when
// each subscriber was last triggered (created, if never).
//
// A delivery gets its first attempt row only when that attempt is sent, so
// the attempt rows alone miss the deliveries a backlog, a pause or a rate
// limit holds back: an open event's counters say how many of its
// subscribers have not finished; a manual retry reopens its event. Each
// read costs what is open, not the history kept.
func (s *Store) Gauges(ctx context.Context) (Gauges, error) {
	var st Gauges
	err := s.read.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN total_deliveries > successful_deliveries + failed_deliveries
			THEN total_deliveries - successful_deliveries - failed_deliveries ELSE 0 END), 0) AS open_deliveries,
		COALESCE(SUM(CASE WHEN total_deliveries = 0 OR NOT EXISTS (
			SELECT 1 FROM deliveries d WHERE d.event_id = events.event_id) THEN 1 ELSE 0 END), 0) AS open_events
		FROM events WHERE processed_at IS NULL`).Scan(&st.DeliveriesWaiting, &st.EventsWaiting)
	if err != nil {
		return st, err
	}
	var rows []struct {
		Name      string     `db:"name"`
		Status    string     `db:"status"`
		Created   time.Time  `db:"created_at"`
		Triggered *time.Time `db:"last_triggered_at"`
	}
	if err := s.read.SelectContext(ctx, &rows, `SELECT name, status, created_at, last_triggered_at FROM webhooks`); err != nil {
		return st, err
	}
	for _, r := range rows {
		at := r.Created
		if r.Triggered != nil {
			at = *r.Triggered
		}
		if r.Status == "paused" {
			st.WebhooksPaused++
		}
		st.Subscribers = append(st.Subscribers, Seen{Name: r.Name, Status: r.Status, At: at.UTC()})
	}
	return st, nil
}
