package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/webhook"
)

// A stream delivers many events to one webhook at a time; these record its
// attempts a batch at a time, with the same rules as StartAttempt and
// FinishAttempt for one.

// AttemptKey names one attempt of an event to a webhook.
type AttemptKey struct {
	EventID string
	Attempt int
}

// Progress is where a webhook's deliveries of some events stand: the
// attempts already finished, by key, and each delivery's recorded outcome.
type Progress struct {
	Finished map[AttemptKey]*webhook.Attempt
	Outcomes map[string]Outcome
}

// DeliveryProgress reads, for a webhook and a set of events, every finished
// attempt and each delivery's outcome: what a batch retried by Temporal, or
// an event handed over twice, must not send again.
func (s *Store) DeliveryProgress(ctx context.Context, webhookID int64, eventIDs []string) (Progress, error) {
	p := Progress{Finished: map[AttemptKey]*webhook.Attempt{}, Outcomes: map[string]Outcome{}}
	if len(eventIDs) == 0 {
		return p, nil
	}
	var rows []attemptRow
	if err := selectIn(ctx, s.read, &rows, `SELECT `+attemptColumns+` FROM deliveries
		WHERE webhook_id = ? AND event_id IN (?) AND is_test = FALSE AND status <> 'pending'`, webhookID, eventIDs); err != nil {
		return p, err
	}
	for i := range rows {
		d := rows[i].attempt()
		p.Finished[AttemptKey{d.EventID, d.AttemptNumber}] = d
	}
	var outs []struct {
		EventID string `db:"event_id"`
		Outcome string `db:"outcome"`
	}
	if err := selectIn(ctx, s.read, &outs, `SELECT event_id, outcome FROM event_subscribers WHERE webhook_id = ? AND event_id IN (?)`, webhookID, eventIDs); err != nil {
		return p, err
	}
	for _, o := range outs {
		p.Outcomes[o.EventID] = Outcome(o.Outcome)
	}
	return p, nil
}

// StartAttempts writes pending rows for attempts about to be sent, setting
// each ID, as StartAttempt does for one: a pending row of the same attempt
// whose lease has run out (a crash mid-request) is reused. The attempts
// must be new: their rows, if any, still pending; one whose row is leased
// by another executor fails the batch with EConflict, to be tried again.
func (s *Store) StartAttempts(ctx context.Context, ds []*webhook.Attempt) error {
	var held *webhook.Attempt
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		held = nil
		if err := s.insertPending(ctx, tx, ds); err != nil {
			return err
		}
		for _, d := range ds {
			if d.ID == 0 {
				// Leased elsewhere, or finished meanwhile (the batch's
				// retry reports it). Nothing is written: a batch that
				// renewed the leases of its other rows each time one row
				// held it back would never see them all run out.
				held = d
				return errHeld
			}
		}
		return nil
	})
	if held != nil {
		return s.inFlight(ctx, held)
	}
	if isForeignKeyViolation(err) {
		return webhook.Errorf(webhook.ENotFound, "webhook %d not found", ds[0].WebhookID)
	}
	return err
}

// errHeld rolls back a batch one of whose rows another executor holds.
var errHeld = errors.New("store: a row of the batch is held elsewhere")

// insertPending writes attempts' rows in state pending and sets their IDs;
// a row of the same attempt that is still pending past its lease is reset
// and reused, and one leased or finished is left as it is (its attempt's
// ID stays 0).
func (s *Store) insertPending(ctx context.Context, tx *sqlx.Tx, ds []*webhook.Attempt) error {
	now := s.now()
	for start := 0; start < len(ds); start += rowsPerInsert {
		chunk := ds[start:min(start+rowsPerInsert, len(ds))]
		// One webhook's rows share a timeout; the longest lease among
		// them holds for all.
		var lease time.Duration
		for _, d := range chunk {
			lease = max(lease, leaseOf(d))
		}
		leasedSince := now.Add(-lease).UTC()
		var values []string
		var args []any
		byKey := map[AttemptKey]*webhook.Attempt{}
		for _, d := range chunk {
			d.ID, d.CreatedAt, d.Status = 0, now, webhook.AttemptPending
			values = append(values, "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, d.WebhookID, d.EventID, d.EventType, d.AttemptNumber, string(d.Status), d.IsTest, d.URL,
				jsonColumn[map[string]string]{d.RequestHeaders}, string(d.RequestBody), d.Signature, dbTime(d.SentAt), d.CreatedAt)
			byKey[AttemptKey{d.EventID, d.AttemptNumber}] = d
		}
		rows, err := tx.QueryxContext(ctx, tx.Rebind(`INSERT INTO deliveries
			(webhook_id, event_id, event_type, attempt_number, status, is_test, url, request_headers,
			request_body, signature, sent_at, created_at)
			VALUES `+strings.Join(values, ", ")+`
			ON CONFLICT (event_id, webhook_id, attempt_number) DO UPDATE SET
			status = excluded.status, url = excluded.url, request_headers = excluded.request_headers,
			request_body = excluded.request_body, signature = excluded.signature, sent_at = excluded.sent_at,
			response_status_code = NULL, response_headers = NULL, response_body = '', responded_at = NULL,
			duration_ms = NULL, next_retry_at = NULL, last_error = '', error_class = ''
			WHERE deliveries.status = 'pending' AND (deliveries.sent_at IS NULL OR deliveries.sent_at < ?)
			RETURNING event_id, attempt_number, id`), append(args, leasedSince)...)
		if err != nil {
			return err
		}
		if err := scanIDs(rows, byKey); err != nil {
			return err
		}
		for _, d := range chunk {
			if d.ID != 0 {
				d.LeasedAt = dbTime(d.SentAt)
			}
		}
		if err := s.unholdWritten(ctx, tx, chunk); err != nil {
			return err
		}
	}
	return nil
}

// unholdWritten forgets the slots of the attempts whose rows were written:
// from now on their rows stand for them.
func (s *Store) unholdWritten(ctx context.Context, tx *sqlx.Tx, ds []*webhook.Attempt) error {
	var keys []AttemptKey
	for _, d := range ds {
		if d.ID != 0 && !d.IsTest {
			keys = append(keys, AttemptKey{d.EventID, d.AttemptNumber})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return s.unhold(ctx, tx, ds[0].WebhookID, keys)
}

func scanIDs(rows *sqlx.Rows, byKey map[AttemptKey]*webhook.Attempt) error {
	defer rows.Close()
	for rows.Next() {
		var k AttemptKey
		var id int64
		if err := rows.Scan(&k.EventID, &k.Attempt, &id); err != nil {
			return err
		}
		if d := byKey[k]; d != nil {
			d.ID = id
		}
	}
	return rows.Err()
}

// FinishAttempts records the outcomes of a webhook's attempts in one
// transaction, as FinishAttempt does for each: for every delivery that
// ended, its outcome, its event's counters, and the webhook's
// circuit-breaker count, in the order the attempts were made. Unsent are
// attempts started but never sent (an ordered batch stopped before them):
// their pending rows are removed.
func (s *Store) FinishAttempts(ctx context.Context, webhookID int64, done, unsent []*webhook.Attempt) error {
	for _, d := range done {
		d.SentAt, d.RespondedAt, d.NextRetryAt = dbTime(d.SentAt), dbTime(d.RespondedAt), dbTime(d.NextRetryAt)
	}
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		ended := endedEvents(done)
		if len(ended) > 0 && s.forUpdate() != "" {
			// Webhook first, then events in order: the order every
			// transaction takes them in, so none waits for another in a
			// circle. SQLite's one writer needs no locks.
			if err := s.lockWebhook(ctx, tx, webhookID); err != nil {
				return err
			}
			if err := s.lockEvents(ctx, tx, ended); err != nil {
				return err
			}
		}
		done, err := s.updateAttempts(ctx, tx, done)
		if err != nil {
			return err
		}
		if err := s.setOutcomes(ctx, tx, done); err != nil {
			return err
		}
		for _, d := range unsent {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM deliveries WHERE id = ? AND status = 'pending'`), d.ID); err != nil {
				return err
			}
		}
		if err := s.countFailures(ctx, tx, webhookID, done); err != nil {
			return err
		}
		return s.recountEvents(ctx, tx, ended)
	})
}

// setOutcomes records how the deliveries the attempts ended ended, one
// statement per webhook and outcome.
func (s *Store) setOutcomes(ctx context.Context, tx *sqlx.Tx, done []*webhook.Attempt) error {
	type key struct {
		webhookID int64
		outcome   Outcome
	}
	events := map[key][]string{}
	var keys []key
	for _, d := range done {
		if !ends(d) {
			continue
		}
		k := key{d.WebhookID, Outcome(d.Status)}
		if events[k] == nil {
			keys = append(keys, k)
		}
		events[k] = append(events[k], d.EventID)
	}
	for _, k := range keys {
		q, args, err := sqlx.In(`UPDATE event_subscribers SET outcome = ?
			WHERE webhook_id = ? AND event_id IN (?) AND outcome NOT IN ('batched', 'filtered')`, string(k.outcome), k.webhookID, events[k])
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); err != nil {
			return err
		}
	}
	return nil
}

// endedEvents lists, sorted, the events whose delivery one of the attempts
// ended: their rows are locked in that order, so two batches never wait
// for each other in a circle.
func endedEvents(done []*webhook.Attempt) []string {
	seen := map[string]bool{}
	var ids []string
	for _, d := range done {
		if ends(d) && !seen[d.EventID] {
			seen[d.EventID] = true
			ids = append(ids, d.EventID)
		}
	}
	sort.Strings(ids)
	return ids
}

// ends says an attempt ended its delivery: it is final, and not a test.
func ends(d *webhook.Attempt) bool { return d.Status.Terminal() && !d.IsTest }

func (s *Store) lockEvents(ctx context.Context, tx *sqlx.Tx, eventIDs []string) error {
	if s.forUpdate() == "" {
		return nil
	}
	q, args, err := sqlx.In(`SELECT id FROM events WHERE event_id IN (?) ORDER BY event_id`+s.forUpdate(), eventIDs)
	if err != nil {
		return err
	}
	var ids []int64
	return tx.SelectContext(ctx, &ids, tx.Rebind(q), args...)
}

// updateAttempts records the attempts' outcomes in their rows and returns
// those recorded. A row another executor took over once this one's lease
// ran out (a live but slow worker, whose attempt was sent again) keeps that
// executor's outcome: this one's comes too late to count.
func (s *Store) updateAttempts(ctx context.Context, tx *sqlx.Tx, done []*webhook.Attempt) ([]*webhook.Attempt, error) {
	kept := done[:0:0]
	for _, d := range done {
		ours, err := s.updateAttempt(ctx, tx, d)
		if err != nil {
			return nil, err
		}
		if ours {
			kept = append(kept, d)
		}
	}
	return kept, nil
}

// updateAttempt records an outcome in its row, if the row still bears
// this executor's claim (LeasedAt); it reports whether it did.
func (s *Store) updateAttempt(ctx context.Context, tx *sqlx.Tx, d *webhook.Attempt) (bool, error) {
	claim, args := "", []any{}
	if d.LeasedAt != nil {
		claim, args = " AND status = 'pending' AND sent_at = ?", []any{*d.LeasedAt}
	}
	res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE deliveries SET status = ?, sent_at = ?,
		response_status_code = ?, response_headers = ?, response_body = ?, responded_at = ?,
		duration_ms = ?, next_retry_at = ?, last_error = ?, error_class = ? WHERE id = ?`+claim),
		append([]any{string(d.Status), d.SentAt, d.ResponseStatusCode, jsonColumn[map[string]string]{d.ResponseHeaders},
			d.ResponseBody, d.RespondedAt, d.DurationMS, d.NextRetryAt, d.LastError,
			string(d.ErrorClass), d.ID}, args...)...)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return true, nil
	}
	var one int
	if err := tx.GetContext(ctx, &one, tx.Rebind(`SELECT 1 FROM deliveries WHERE id = ?`), d.ID); err != nil {
		return false, notFound(err, "delivery %d not found", d.ID)
	}
	return false, nil
}

// countFailures keeps the circuit breaker's count of deliveries failed for
// good in a row: a delivery resets it, each failure after it adds one.
func (s *Store) countFailures(ctx context.Context, tx *sqlx.Tx, webhookID int64, done []*webhook.Attempt) error {
	reset, failures := false, 0
	for _, d := range done {
		switch {
		case !ends(d) || d.ErrorClass.Unsent():
			// Not ended, or never sent: a body the payload options could
			// not make says nothing about the receiver.
		case d.Status == webhook.AttemptDelivered:
			reset, failures = true, 0
		default:
			failures++
		}
	}
	q, args := `UPDATE webhooks SET consecutive_failures = consecutive_failures + ? WHERE id = ?`, []any{failures, webhookID}
	switch {
	case reset:
		q = `UPDATE webhooks SET consecutive_failures = ? WHERE id = ? AND consecutive_failures <> ?`
		args = append(args, failures)
	case failures == 0:
		return nil
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(q), args...)
	return err
}

// ReserveSlots takes rate-limit slots for attempts, as ReserveSlot does
// for one, in one transaction: as many now as the windows have room for,
// the rest at the starts of the earliest later windows with room. An
// attempt that holds a usable slot already keeps it. It returns the time of
// each attempt's slot, in order.
func (s *Store) ReserveSlots(ctx context.Context, webhookID int64, keys []AttemptKey, limits []RateLimit, now time.Time) ([]time.Time, error) {
	start := now.UTC()
	out := make([]time.Time, len(keys))
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockWebhook(ctx, tx, webhookID); err != nil {
			return err
		}
		held, err := s.heldSlots(ctx, tx, webhookID, keys)
		if err != nil {
			return err
		}
		var need []int
		for i, k := range keys {
			if h, ok := held[k]; ok && usable(limits, h, start) {
				out[i] = h
			} else {
				need = append(need, i)
			}
		}
		taken, err := s.takeSlots(ctx, tx, webhookID, limits, start, len(need))
		if err != nil {
			return err
		}
		slots := make([]Slot, len(need))
		for k, i := range need {
			out[i], slots[k] = taken[k], Slot{keys[i], taken[k]}
		}
		return s.hold(ctx, tx, webhookID, slots)
	})
	return out, err
}

// takeSlots takes n slots from t on, in order, under the webhook's lock.
func (s *Store) takeSlots(ctx context.Context, tx *sqlx.Tx, webhookID int64, limits []RateLimit, t time.Time, n int) ([]time.Time, error) {
	var out []time.Time
	for tries := 0; len(out) < n; tries++ {
		if tries == maxReserveTries+n {
			return nil, fmt.Errorf("store: no rate-limit room found for webhook %d after %d tries", webhookID, tries)
		}
		moved, err := s.firstRoom(ctx, tx, webhookID, limits, &t)
		if err != nil {
			return nil, err
		}
		if moved {
			continue
		}
		room, err := s.room(ctx, tx, webhookID, limits, t)
		if err != nil {
			return nil, err
		}
		k := min(room, n-len(out))
		if err := s.takeN(ctx, tx, webhookID, limits, t, k); err != nil {
			return nil, err
		}
		for range k {
			out = append(out, t)
		}
	}
	return out, nil
}

// room is how many more attempts every window an attempt at t counts in
// admits.
func (s *Store) room(ctx context.Context, tx *sqlx.Tx, webhookID int64, limits []RateLimit, t time.Time) (int, error) {
	room := -1
	for _, l := range limits {
		for _, w := range windowsAt(l, t) {
			var counts []int
			err := tx.SelectContext(ctx, &counts, tx.Rebind(`SELECT count FROM rate_windows
				WHERE webhook_id = ? AND window_seconds = ? AND window_start = ?`), webhookID, int(l.Window/time.Second), w)
			if err != nil {
				return 0, err
			}
			left := l.Max
			if len(counts) > 0 {
				left -= counts[0]
			}
			if room < 0 || left < room {
				room = left
			}
		}
	}
	return max(room, 0), nil
}

// takeN raises by k the count of every window an attempt at t counts in,
// in one statement.
func (s *Store) takeN(ctx context.Context, tx *sqlx.Tx, webhookID int64, limits []RateLimit, t time.Time, k int) error {
	if k <= 0 || len(limits) == 0 {
		return nil
	}
	var values []string
	var args []any
	type key struct {
		seconds int
		start   time.Time
	}
	seen := map[key]bool{}
	for _, l := range limits {
		for _, w := range windowsAt(l, t) {
			k0 := key{int(l.Window / time.Second), w}
			if seen[k0] {
				continue // one row once: a statement may not touch a row twice
			}
			seen[k0] = true
			values = append(values, "(?, ?, ?, ?)")
			args = append(args, webhookID, k0.seconds, w, k)
		}
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO rate_windows (webhook_id, window_seconds, window_start, count)
		VALUES `+strings.Join(values, ", ")+` ON CONFLICT (webhook_id, window_seconds, window_start)
		DO UPDATE SET count = rate_windows.count + excluded.count`), args...)
	return err
}

// ReleaseSlots gives back slots reserved for attempts that were not made.
func (s *Store) ReleaseSlots(ctx context.Context, webhookID int64, limits []RateLimit, slots []Slot) error {
	if len(slots) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockWebhook(ctx, tx, webhookID); err != nil {
			return err
		}
		keys := make([]AttemptKey, len(slots))
		for i, sl := range slots {
			keys[i] = sl.AttemptKey
		}
		if err := s.unhold(ctx, tx, webhookID, keys); err != nil {
			return err
		}
		for _, l := range limits {
			per := map[time.Time]int{}
			for _, sl := range slots {
				for _, w := range windowsAt(l, sl.At) {
					per[w]++
				}
			}
			for start, k := range per {
				_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE rate_windows SET count = count - ?
					WHERE webhook_id = ? AND window_seconds = ? AND window_start = ? AND count >= ?`),
					k, webhookID, int(l.Window/time.Second), start, k)
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// EndDeliveriesOf ends, counted failed, every delivery to a deleted
// webhook still recorded as pending, and recounts their events.
func (s *Store) EndDeliveriesOf(ctx context.Context, webhookID int64) error {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(`SELECT event_id FROM event_subscribers
		WHERE webhook_id = ? AND outcome = 'pending' ORDER BY event_id`), webhookID)
	if err != nil {
		return err
	}
	for start := 0; start < len(ids); start += rowsPerInsert {
		chunk := ids[start:min(start+rowsPerInsert, len(ids))]
		err := s.tx(ctx, func(tx *sqlx.Tx) error {
			for _, id := range chunk {
				if err := s.setOutcome(ctx, tx, id, webhookID, OutcomeFailed); err != nil {
					return err
				}
				if err := s.recountEvent(ctx, tx, id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// BacklogEntry is a streamed delivery not ended and the attempts made.
type BacklogEntry struct {
	EventID   string `db:"event_id"`
	EventType string `db:"event_type"`
	Attempts  int    `db:"attempts"`
}

// Backlog returns up to limit of a webhook's streamed deliveries not
// ended, in the order their events were accepted, but for those in skip.
func (s *Store) Backlog(ctx context.Context, webhookID int64, skip []string, limit int) ([]BacklogEntry, error) {
	where, args := "", []any{webhookID}
	if len(skip) > 0 {
		where, args = " AND es.event_id NOT IN (?)", append(args, skip)
	}
	q, args, err := sqlx.In(`SELECT es.event_id, e.event_type, COALESCE(MAX(d.attempt_number), 0) AS attempts
		FROM event_subscribers es
		JOIN events e ON e.event_id = es.event_id
		LEFT JOIN deliveries d ON d.event_id = es.event_id AND d.webhook_id = es.webhook_id AND d.is_test = FALSE
		WHERE es.webhook_id = ? AND es.outcome = 'pending' AND es.delivery_mode IN ('stream', 'ordered')`+where+`
		GROUP BY es.event_id, e.id, e.event_type
		ORDER BY e.id
		LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	var out []BacklogEntry
	return out, s.read.SelectContext(ctx, &out, s.db.Rebind(q), args...)
}
