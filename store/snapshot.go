package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/filter"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/webhook"
)

// Outcome is how one subscriber's delivery of an event ended, as
// event_subscribers keeps it.
type Outcome string

const (
	OutcomePending   Outcome = "pending"
	OutcomeDelivered Outcome = "delivered"
	OutcomeFailed    Outcome = "failed"
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeBatched marks a batched integration: the event went into its
	// batch, which is delivered and counted as an event of its own.
	OutcomeBatched Outcome = "batched"
)

// Recording is what RecordEvents found for one event.
type Recording struct {
	// Event is as recorded: the new row, or the one recorded before
	// under its event_id.
	Event *webhook.Event
	New   bool
	// HandedOff says the event was handed to Temporal by the publish
	// that recorded it; until then a repeat hands it off again.
	HandedOff bool
	// Subscribers of a new event, snapshotted as it was recorded: the
	// webhooks subscribed to its type, active or paused, without secrets,
	// whose filters let it through.
	Subscribers []*webhook.Webhook
	// Filtered are the subscribers whose filters left it out: recorded
	// with outcome filtered, delivered nothing.
	Filtered []*webhook.Webhook
}

// OutcomeFiltered marks a subscriber whose filter left the event out.
const OutcomeFiltered Outcome = "filtered"

// RecordEvents records events in one transaction, each once by its
// event_id, with the subscribers each goes to. For an event_id already
// recorded, same is called with the recorded event and the new one; its
// error undoes the whole call, so callers choose between all or nothing
// (return the error) and each on its own (note it and return nil). The
// events' ids must differ.
func (s *Store) RecordEvents(ctx context.Context, evs []*webhook.Event, same func(prior, ev *webhook.Event) error) ([]Recording, error) {
	var out []Recording
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		out = make([]Recording, len(evs))
		byType, err := s.subscribersByType(ctx, tx, evs)
		if err != nil {
			return err
		}
		routes := make([]Recording, len(evs))
		for i, e := range evs {
			routes[i].Subscribers, routes[i].Filtered = filter.Split(e, byType[e.EventType])
		}
		ids, err := s.insertEvents(ctx, tx, evs, routes)
		if err != nil {
			return err
		}
		var again []string
		for i, e := range evs {
			if id, ok := ids[e.EventID]; ok {
				e.ID, e.TotalDeliveries = id, counted(routes[i].Subscribers)
				out[i] = Recording{Event: e, New: true, Subscribers: routes[i].Subscribers, Filtered: routes[i].Filtered}
			} else {
				again = append(again, e.EventID)
			}
		}
		if err := s.insertSubscribers(ctx, tx, out); err != nil {
			return err
		}
		return s.readPriors(ctx, tx, evs, again, out, same)
	})
	return out, err
}

// readPriors fills in the recorded event of each repeat.
func (s *Store) readPriors(ctx context.Context, tx *sqlx.Tx, evs []*webhook.Event, again []string, out []Recording, same func(prior, ev *webhook.Event) error) error {
	if len(again) == 0 {
		return nil
	}
	var rows []struct {
		eventRow
		HandedOff bool `db:"handed_off"`
	}
	if err := selectIn(ctx, tx, &rows, `SELECT `+eventColumns+`, handed_off FROM events WHERE event_id IN (?)`, again); err != nil {
		return err
	}
	byID := make(map[string]int, len(rows))
	for i := range rows {
		byID[rows[i].EventID] = i
	}
	for i, e := range evs {
		if out[i].New {
			continue
		}
		j, ok := byID[e.EventID]
		if !ok {
			return fmt.Errorf("store: event %q neither inserted nor found", e.EventID)
		}
		prior := rows[j].event()
		if err := same(prior, e); err != nil {
			return err
		}
		out[i] = Recording{Event: prior, HandedOff: rows[j].HandedOff}
	}
	return nil
}

// counted is how many subscribers an event's counters count: a batched
// integration's share is its batch's.
func counted(subs []*webhook.Webhook) int {
	n := 0
	for _, w := range subs {
		if !w.Batched() {
			n++
		}
	}
	return n
}

// rowsPerInsert bounds a multi-row INSERT well inside both dialects' limit
// on bound parameters.
const rowsPerInsert = 500

// insertEvents inserts the events not yet recorded, each with its
// subscriber count, and returns the new rows' ids by event_id. An event
// nobody subscribes to has nothing left to do: it is processed at once.
func (s *Store) insertEvents(ctx context.Context, tx *sqlx.Tx, evs []*webhook.Event, routes []Recording) (map[string]int64, error) {
	ids := make(map[string]int64, len(evs))
	for start := 0; start < len(evs); start += rowsPerInsert {
		chunk := evs[start:min(start+rowsPerInsert, len(evs))]
		var values []string
		var args []any
		for i, e := range chunk {
			total := counted(routes[start+i].Subscribers)
			created := dbTime(&e.CreatedAt)
			var processed *time.Time
			if total == 0 {
				processed = created
			}
			values = append(values, "(?, ?, ?, ?, ?, ?, ?, ?, FALSE)")
			args = append(args, e.EventID, e.EventType, e.Source, e.SourceID, string(e.Payload), *created, total, processed)
		}
		rows, err := tx.QueryxContext(ctx, tx.Rebind(`INSERT INTO events
			(event_id, event_type, source, source_id, payload, created_at, total_deliveries, processed_at, handed_off)
			VALUES `+strings.Join(values, ", ")+` ON CONFLICT (event_id) DO NOTHING RETURNING event_id, id`), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var eventID string
			var id int64
			if err := rows.Scan(&eventID, &id); err != nil {
				rows.Close()
				return nil, err
			}
			ids[eventID] = id
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// insertSubscribers records the snapshot of every new event.
func (s *Store) insertSubscribers(ctx context.Context, tx *sqlx.Tx, recs []Recording) error {
	var values []string
	var args []any
	flush := func() error {
		if len(values) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO event_subscribers (event_id, webhook_id, delivery_mode, outcome)
			VALUES `+strings.Join(values, ", ")), args...)
		values, args = values[:0], args[:0]
		return err
	}
	for _, r := range recs {
		for _, w := range slices.Concat(r.Subscribers, r.Filtered) {
			outcome := OutcomePending
			switch {
			case slices.Contains(r.Filtered, w):
				outcome = OutcomeFiltered
			case w.Batched():
				outcome = OutcomeBatched
			}
			values = append(values, "(?, ?, ?, ?)")
			args = append(args, r.Event.EventID, w.ID, string(w.DeliveryMode), string(outcome))
			if len(values) == rowsPerInsert {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// subscriberColumns are what a delivery needs to know of a subscriber when
// its event is accepted: no URL, header or secret, which are read at each
// attempt.
const subscriberColumns = `id, name, status, delivery_mode, retry_strategy, max_retries,
	retry_delay_seconds, backoff_multiplier, max_delay_seconds, jitter_percentage,
	integration_type, config, event_filter, retry_overrides`

type subscriberRow struct {
	ID           int64                `db:"id"`
	Name         string               `db:"name"`
	Status       string               `db:"status"`
	DeliveryMode webhook.DeliveryMode `db:"delivery_mode"`
	webhook.RetrySettings
	IntegrationType string `db:"integration_type"`
	Config          string `db:"config"`
	EventFilter     string `db:"event_filter"`
	RetryOverrides  string `db:"retry_overrides"`
}

func (r *subscriberRow) webhook() *webhook.Webhook {
	w := &webhook.Webhook{ID: r.ID, Name: r.Name, Status: webhook.Status(r.Status),
		DeliverySettings: webhook.DeliverySettings{RetrySettings: r.RetrySettings, DeliveryMode: r.DeliveryMode}}
	if r.IntegrationType != "" {
		w.Integration = &webhook.Integration{Type: r.IntegrationType, Config: json.RawMessage(r.Config)}
	}
	if r.EventFilter != "" {
		w.Filter = json.RawMessage(r.EventFilter)
	}
	// Written by the API from a validated map: a row that does not parse
	// keeps the subscriber's own schedule for every type.
	_ = json.Unmarshal([]byte(r.RetryOverrides), &w.RetryOverrides)
	return w
}

// Subscribers returns the subscribers of an event type, oldest first,
// without secrets: active webhooks, and paused ones, whose deliveries wait
// until they are active again. Inactive webhooks subscribe to nothing.
func (s *Store) Subscribers(ctx context.Context, eventType string) ([]*webhook.Webhook, error) {
	return s.subscribers(ctx, s.read, eventType)
}

func (s *Store) subscribers(ctx context.Context, q sqlx.QueryerContext, eventType string) ([]*webhook.Webhook, error) {
	match := `EXISTS (SELECT 1 FROM json_each(webhooks.event_types) WHERE json_each.value IN (?, '*'))`
	if s.dialect == schema.Postgres {
		match = `(event_types @> jsonb_build_array(?::text) OR event_types @> '["*"]')`
	}
	var rows []subscriberRow
	err := sqlx.SelectContext(ctx, q, &rows, s.db.Rebind(`SELECT `+subscriberColumns+` FROM webhooks
		WHERE status IN ('active', 'paused') AND `+match+` ORDER BY id`), eventType)
	if err != nil {
		return nil, err
	}
	return fromRows(rows, (*subscriberRow).webhook), nil
}

func (s *Store) subscribersByType(ctx context.Context, tx *sqlx.Tx, evs []*webhook.Event) (map[string][]*webhook.Webhook, error) {
	out := map[string][]*webhook.Webhook{}
	for _, e := range evs {
		if _, done := out[e.EventType]; done {
			continue
		}
		subs, err := s.subscribers(ctx, tx, e.EventType)
		if err != nil {
			return nil, err
		}
		out[e.EventType] = subs
	}
	return out, nil
}

// SubscriberOf is one subscriber of an event as recorded when it was
// accepted, with the webhook as it is now (nil if it was deleted).
type SubscriberOf struct {
	WebhookID int64
	Mode      webhook.DeliveryMode
	Outcome   Outcome
	Webhook   *webhook.Webhook
}

// EventSubscribers returns the subscribers recorded for each of the events,
// by event_id; an event recorded before snapshots were kept has none.
func (s *Store) EventSubscribers(ctx context.Context, eventIDs []string) (map[string][]SubscriberOf, error) {
	out := map[string][]SubscriberOf{}
	if len(eventIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		EventID   string `db:"event_id"`
		WebhookID int64  `db:"webhook_id"`
		Mode      string `db:"delivery_mode"`
		Outcome   string `db:"outcome"`
		nullableSubscriber
	}
	if err := selectIn(ctx, s.read, &rows, `SELECT s.event_id, s.webhook_id, s.delivery_mode, s.outcome, `+prefixed("w.", subscriberColumns)+`
		FROM event_subscribers s LEFT JOIN webhooks w ON w.id = s.webhook_id
		WHERE s.event_id IN (?) ORDER BY s.event_id, s.webhook_id`, eventIDs); err != nil {
		return nil, err
	}
	for _, r := range rows {
		sub := SubscriberOf{WebhookID: r.WebhookID, Mode: webhook.DeliveryMode(r.Mode), Outcome: Outcome(r.Outcome), Webhook: r.webhook()}
		out[r.EventID] = append(out[r.EventID], sub)
	}
	return out, nil
}

// nullableSubscriber is a subscriberRow read through a LEFT JOIN: all NULL
// when the webhook was deleted.
type nullableSubscriber struct {
	ID                *int64   `db:"id"`
	Name              *string  `db:"name"`
	Status            *string  `db:"status"`
	DeliveryMode      *string  `db:"w_delivery_mode"`
	RetryStrategy     *string  `db:"retry_strategy"`
	MaxRetries        *int     `db:"max_retries"`
	RetryDelaySeconds *int     `db:"retry_delay_seconds"`
	BackoffMultiplier *float64 `db:"backoff_multiplier"`
	MaxDelaySeconds   *int     `db:"max_delay_seconds"`
	JitterPercentage  *float64 `db:"jitter_percentage"`
	IntegrationType   *string  `db:"integration_type"`
	Config            *string  `db:"config"`
	EventFilter       *string  `db:"event_filter"`
	RetryOverrides    *string  `db:"retry_overrides"`
}

func (n *nullableSubscriber) webhook() *webhook.Webhook {
	if n.ID == nil {
		return nil
	}
	r := subscriberRow{ID: *n.ID, Name: *n.Name, Status: *n.Status, DeliveryMode: webhook.DeliveryMode(*n.DeliveryMode),
		RetrySettings: webhook.RetrySettings{RetryStrategy: webhook.RetryStrategy(*n.RetryStrategy), MaxRetries: *n.MaxRetries,
			RetryDelaySeconds: *n.RetryDelaySeconds, BackoffMultiplier: *n.BackoffMultiplier, MaxDelaySeconds: *n.MaxDelaySeconds,
			JitterPercentage: *n.JitterPercentage},
		IntegrationType: *n.IntegrationType, Config: *n.Config, EventFilter: *n.EventFilter, RetryOverrides: *n.RetryOverrides}
	return r.webhook()
}

// prefixed qualifies a column list with a table alias; delivery_mode, which
// event_subscribers has too, is renamed w_delivery_mode.
func prefixed(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		c = strings.TrimSpace(c)
		if c == "delivery_mode" {
			cols[i] = alias + c + " AS w_delivery_mode"
			continue
		}
		cols[i] = alias + c
	}
	return strings.Join(cols, ", ")
}

// MarkHandedOff records that the events were handed to Temporal: a repeat
// of one is a plain duplicate from now on.
func (s *Store) MarkHandedOff(ctx context.Context, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`UPDATE events SET handed_off = TRUE WHERE event_id IN (?) AND handed_off = FALSE`, eventIDs)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(q), args...)
	return err
}

// EndDelivery records how one subscriber's delivery of an event ended when
// no attempt row says so (its webhook was deleted, or it was cancelled
// before a first attempt), and recounts the event.
func (s *Store) EndDelivery(ctx context.Context, eventID string, webhookID int64, outcome Outcome) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		if err := s.setOutcome(ctx, tx, eventID, webhookID, outcome); err != nil {
			return err
		}
		return s.recountEvent(ctx, tx, eventID)
	})
}

// ReopenDelivery marks a subscriber's delivery of an event under way again:
// a manual retry started it over.
func (s *Store) ReopenDelivery(ctx context.Context, eventID string, webhookID int64) error {
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		if err := s.setOutcome(ctx, tx, eventID, webhookID, OutcomePending); err != nil {
			return err
		}
		return s.recountEvent(ctx, tx, eventID)
	})
}

func (s *Store) setOutcome(ctx context.Context, tx *sqlx.Tx, eventID string, webhookID int64, outcome Outcome) error {
	_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE event_subscribers SET outcome = ?
		WHERE event_id = ? AND webhook_id = ? AND outcome NOT IN ('batched', 'filtered')`), string(outcome), eventID, webhookID)
	return err
}

// recountEvent keeps an event's counters current from its subscribers'
// outcomes, sets processed_at once none is pending, and clears it while
// one is (a manual retry reopened it). Events recorded before snapshots were kept
// are counted from their attempt rows. The caller holds the event's row
// lock where the dialect has one, so concurrent finishes cannot both miss
// each other.
func (s *Store) recountEvent(ctx context.Context, tx *sqlx.Tx, eventID string) error {
	return s.recountEvents(ctx, tx, []string{eventID})
}

// recountEvents recounts events as recountEvent does, reading the
// outcomes of all of them in one query.
func (s *Store) recountEvents(ctx context.Context, tx *sqlx.Tx, eventIDs []string) error {
	for start := 0; start < len(eventIDs); start += rowsPerInsert {
		chunk := eventIDs[start:min(start+rowsPerInsert, len(eventIDs))]
		var counts []struct {
			EventID                           string `db:"event_id"`
			Total, Delivered, Failed, Pending int
		}
		if err := selectIn(ctx, tx, &counts, `SELECT event_id,
			COALESCE(SUM(CASE WHEN outcome NOT IN ('batched', 'filtered') THEN 1 ELSE 0 END), 0) AS total,
			COALESCE(SUM(CASE WHEN outcome = 'delivered' THEN 1 ELSE 0 END), 0) AS delivered,
			COALESCE(SUM(CASE WHEN outcome IN ('failed', 'cancelled') THEN 1 ELSE 0 END), 0) AS failed,
			COALESCE(SUM(CASE WHEN outcome = 'pending' THEN 1 ELSE 0 END), 0) AS pending
			FROM event_subscribers WHERE event_id IN (?) GROUP BY event_id`, chunk); err != nil {
			return err
		}
		snapshotted := map[string]bool{}
		for _, c := range counts {
			snapshotted[c.EventID] = true
			// A reopened delivery makes its event open again: the gauges
			// read what waits from open events alone.
			processed, args := ", processed_at = NULL", []any{c.Total, c.Delivered, c.Failed}
			if c.Pending == 0 {
				processed, args = ", processed_at = ?", append(args, s.now())
			}
			_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE events SET total_deliveries = ?, successful_deliveries = ?,
				failed_deliveries = ?`+processed+` WHERE event_id = ?`), append(args, c.EventID)...)
			if err != nil {
				return err
			}
		}
		for _, id := range chunk {
			if !snapshotted[id] {
				if err := s.recountFromAttempts(ctx, tx, id); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// DeliveryMode says how a subscriber's delivery of an event travels, as
// recorded when the event was accepted: per_event for an event recorded
// before snapshots were kept.
func (s *Store) DeliveryMode(ctx context.Context, eventID string, webhookID int64) (webhook.DeliveryMode, error) {
	var modes []string
	err := s.read.SelectContext(ctx, &modes, s.db.Rebind(`SELECT delivery_mode FROM event_subscribers
		WHERE event_id = ? AND webhook_id = ?`), eventID, webhookID)
	if err != nil || len(modes) == 0 {
		return webhook.PerEvent, err
	}
	return webhook.DeliveryMode(modes[0]), nil
}
