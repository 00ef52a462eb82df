package store

import (
	"context"
	"time"
)

// Gauges is the state the metrics' gauges show.
type Gauges struct {
	DeliveriesWaiting, WebhooksPaused int64
	Subscribers                       []Seen
}

// Seen is when a subscriber was last triggered (created, if never).
type Seen struct {
	Name, Status string
	At           time.Time
}

// Gauges reads what the metrics' gauges show: deliveries waiting for an
// attempt (their latest attempt pending or retrying), paused webhooks, and
// when each subscriber was last triggered (created, if never).
func (s *Store) Gauges(ctx context.Context) (Gauges, error) {
	var st Gauges
	err := s.db.GetContext(ctx, &st.DeliveriesWaiting, `SELECT COUNT(*) FROM deliveries d
		WHERE d.status IN ('pending', 'retrying') AND d.is_test = FALSE AND NOT EXISTS (
			SELECT 1 FROM deliveries n WHERE n.event_id = d.event_id AND n.webhook_id = d.webhook_id
			AND n.attempt_number > d.attempt_number)`)
	if err != nil {
		return st, err
	}
	var rows []struct {
		Name      string     `db:"name"`
		Status    string     `db:"status"`
		Created   time.Time  `db:"created_at"`
		Triggered *time.Time `db:"last_triggered_at"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT name, status, created_at, last_triggered_at FROM webhooks`); err != nil {
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
