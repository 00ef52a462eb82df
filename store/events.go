package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/webhook"
)

type eventRow struct {
	ID                   int64      `db:"id"`
	EventID              string     `db:"event_id"`
	EventType            string     `db:"event_type"`
	Source               string     `db:"source"`
	SourceID             string     `db:"source_id"`
	Payload              string     `db:"payload"`
	TotalDeliveries      int        `db:"total_deliveries"`
	SuccessfulDeliveries int        `db:"successful_deliveries"`
	FailedDeliveries     int        `db:"failed_deliveries"`
	CreatedAt            time.Time  `db:"created_at"`
	ProcessedAt          *time.Time `db:"processed_at"`
}

const eventColumns = `id, event_id, event_type, source, source_id, payload, total_deliveries,
	successful_deliveries, failed_deliveries, created_at, processed_at`

func (r *eventRow) event() *webhook.Event {
	return &webhook.Event{
		ID: r.ID, EventID: r.EventID, EventType: r.EventType, Source: r.Source, SourceID: r.SourceID,
		Payload:              json.RawMessage(r.Payload),
		TotalDeliveries:      r.TotalDeliveries,
		SuccessfulDeliveries: r.SuccessfulDeliveries,
		FailedDeliveries:     r.FailedDeliveries,
		CreatedAt:            r.CreatedAt.UTC(),
		ProcessedAt:          utcPtr(r.ProcessedAt),
	}
}

// CreateEvent records an event once, as handed off: it reports false, and
// changes nothing, when an event with that event_id exists. e.CreatedAt
// must be set (the publisher's acceptance time, which the delivered body
// carries). Publishers record events with RecordEvents; this is for an
// event that reaches a worker some other way (a workflow started by an
// older Herald).
func (s *Store) CreateEvent(ctx context.Context, e *webhook.Event) (bool, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, s.db.Rebind(`INSERT INTO events
		(event_id, event_type, source, source_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING RETURNING id`),
		e.EventID, e.EventType, e.Source, e.SourceID, string(e.Payload), *dbTime(&e.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	e.ID = id
	return true, nil
}

// DeleteEvents removes events nobody has attempted yet: the undo of an
// accept whose workflow Temporal refused.
func (s *Store) DeleteEvents(ctx context.Context, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`DELETE FROM events WHERE event_id IN (?)
		AND NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.event_id = events.event_id)`, eventIDs)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(q), args...)
	return err
}

// GetEvent returns an event by its event_id.
func (s *Store) GetEvent(ctx context.Context, eventID string) (*webhook.Event, error) {
	return getOne(ctx, s, (*eventRow).event, "event %q not found", `SELECT `+eventColumns+` FROM events WHERE event_id = ?`, eventID)
}

// EventFilter narrows ListEvents.
type EventFilter struct {
	EventType string
	Page
}

// ListEvents returns recent events, newest first, and the total matching.
func (s *Store) ListEvents(ctx context.Context, f EventFilter) ([]*webhook.Event, int, error) {
	f.Page = f.Page.norm()
	where, args := "", []any{}
	if f.EventType != "" {
		where, args = " WHERE event_type = ?", append(args, f.EventType)
	}
	var total int
	if err := s.read.GetContext(ctx, &total, s.db.Rebind(`SELECT COUNT(*) FROM events`+where), args...); err != nil {
		return nil, 0, err
	}
	var rows []eventRow
	err := s.read.SelectContext(ctx, &rows, s.db.Rebind(`SELECT `+eventColumns+` FROM events`+where+
		` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`), append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	return fromRows(rows, (*eventRow).event), total, nil
}

// DeleteEvent removes an event nobody has attempted yet: the API's undo when
// Temporal refused the event it had just recorded.
func (s *Store) DeleteEvent(ctx context.Context, eventID string) error {
	return s.DeleteEvents(ctx, []string{eventID})
}

// SetSubscribers records the webhooks an event goes to, when the workflow
// resolves them itself (an event accepted by an older Herald, or a batch
// going to its integration): perEvent one workflow per event, batched into
// their integration's batch (not counted, as RecordEvents does), and marks
// the perEvent ones triggered. Only the first call records: an activity
// re-run after a crash may have looked up a different set, and the event's
// total must stay the count of the rows its deliveries end.
func (s *Store) SetSubscribers(ctx context.Context, eventID string, perEvent, batched []int64) error {
	if err := s.MarkTriggered(ctx, perEvent); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		var recorded int
		err := tx.GetContext(ctx, &recorded, tx.Rebind(`SELECT COUNT(*) FROM event_subscribers WHERE event_id = ?`), eventID)
		if err != nil || recorded > 0 {
			return err
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE events SET total_deliveries = ? WHERE event_id = ?`), len(perEvent), eventID)
		if err := changed(res, err, "event %q not found", eventID); err != nil {
			return err
		}
		for _, row := range []struct {
			ids     []int64
			outcome Outcome
		}{{perEvent, OutcomePending}, {batched, OutcomeBatched}} {
			for _, id := range row.ids {
				_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO event_subscribers (event_id, webhook_id, delivery_mode, outcome)
					VALUES (?, ?, 'per_event', ?) ON CONFLICT (event_id, webhook_id) DO NOTHING`), eventID, id, string(row.outcome))
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// MarkTriggered sets last_triggered_at, in a statement of its own that locks
// the rows in id order, so it cannot deadlock with another event's. A
// webhook marked in the last second is left alone, unlocked: every event
// would otherwise queue on its subscribers' rows behind each attempt's
// rate-limit reservation.
func (s *Store) MarkTriggered(ctx context.Context, webhookIDs []int64) error {
	if len(webhookIDs) == 0 {
		return nil
	}
	now := s.now()
	q, args, err := sqlx.In(`UPDATE webhooks SET last_triggered_at = ? WHERE id IN (
		SELECT id FROM webhooks WHERE id IN (?) AND (last_triggered_at IS NULL OR last_triggered_at < ?)
		ORDER BY id`+s.forUpdate()+`)`, now, webhookIDs, now.Add(-time.Second))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(q), args...)
	return err
}

// FinishEvent records that every delivery of an event has ended, for an
// event workflow that says so at its end: a subscriber whose delivery left
// no outcome (its webhook was deleted) counts as failed. processed_at is
// when this last happened: a manual retry that reopens the event moves it.
func (s *Store) FinishEvent(ctx context.Context, eventID string) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		var one int
		err := tx.GetContext(ctx, &one, tx.Rebind(`SELECT 1 FROM events WHERE event_id = ?`+s.forUpdate()), eventID)
		if err != nil {
			return notFound(err, "event %q not found", eventID)
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE event_subscribers SET outcome = CASE WHEN EXISTS (
			SELECT 1 FROM deliveries d WHERE d.event_id = event_subscribers.event_id
			AND d.webhook_id = event_subscribers.webhook_id AND d.status = 'delivered' AND d.is_test = FALSE)
			THEN 'delivered' ELSE 'failed' END WHERE event_id = ? AND outcome = 'pending'`), eventID)
		if err != nil {
			return err
		}
		if err := s.recountEvent(ctx, tx, eventID); err != nil {
			return err
		}
		// An event recorded before snapshots has only its count of
		// subscribers: those not delivered to failed.
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE events SET processed_at = ?,
			failed_deliveries = CASE WHEN EXISTS (SELECT 1 FROM event_subscribers s WHERE s.event_id = events.event_id)
				THEN failed_deliveries ELSE total_deliveries - successful_deliveries END
			WHERE event_id = ?`), s.now(), eventID)
		return err
	})
}

// recountFromAttempts counts an event recorded before snapshots were kept
// from its attempt rows: a subscriber counts as successful once any attempt
// delivered, as failed when an attempt failed for good and none delivered.
func (s *Store) recountFromAttempts(ctx context.Context, tx *sqlx.Tx, eventID string) error {
	_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE events SET
		successful_deliveries = (SELECT COUNT(DISTINCT webhook_id) FROM deliveries
			WHERE event_id = ? AND status = 'delivered' AND is_test = FALSE),
		failed_deliveries = (SELECT COUNT(DISTINCT d.webhook_id) FROM deliveries d
			WHERE d.event_id = ? AND d.status = 'failed' AND d.is_test = FALSE AND NOT EXISTS (
				SELECT 1 FROM deliveries ok WHERE ok.event_id = d.event_id
				AND ok.webhook_id = d.webhook_id AND ok.status = 'delivered'))
		WHERE event_id = ?`), eventID, eventID, eventID)
	return err
}
