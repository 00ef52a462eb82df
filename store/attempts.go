package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/webhook"
)

type attemptRow struct {
	ID                 int64                         `db:"id"`
	WebhookID          int64                         `db:"webhook_id"`
	EventID            string                        `db:"event_id"`
	EventType          string                        `db:"event_type"`
	AttemptNumber      int                           `db:"attempt_number"`
	Status             string                        `db:"status"`
	IsTest             bool                          `db:"is_test"`
	URL                string                        `db:"url"`
	RequestHeaders     jsonColumn[map[string]string] `db:"request_headers"`
	RequestBody        string                        `db:"request_body"`
	Signature          string                        `db:"signature"`
	ResponseStatusCode *int                          `db:"response_status_code"`
	ResponseHeaders    jsonColumn[map[string]string] `db:"response_headers"`
	ResponseBody       string                        `db:"response_body"`
	SentAt             *time.Time                    `db:"sent_at"`
	RespondedAt        *time.Time                    `db:"responded_at"`
	DurationMS         *float64                      `db:"duration_ms"`
	NextRetryAt        *time.Time                    `db:"next_retry_at"`
	LastError          string                        `db:"last_error"`
	ErrorClass         string                        `db:"error_class"`
	CreatedAt          time.Time                     `db:"created_at"`
}

const attemptColumns = `id, webhook_id, event_id, event_type, attempt_number, status, is_test, url,
	request_headers, request_body, signature, response_status_code, response_headers, response_body,
	sent_at, responded_at, duration_ms, next_retry_at, last_error, error_class, created_at`

func (r *attemptRow) attempt() *webhook.Attempt {
	d := &webhook.Attempt{
		ID: r.ID, WebhookID: r.WebhookID, EventID: r.EventID, EventType: r.EventType,
		AttemptNumber:      r.AttemptNumber,
		Status:             webhook.AttemptStatus(r.Status),
		IsTest:             r.IsTest,
		URL:                r.URL,
		RequestHeaders:     r.RequestHeaders.V,
		RequestBody:        json.RawMessage(r.RequestBody),
		Signature:          r.Signature,
		ResponseStatusCode: r.ResponseStatusCode,
		ResponseHeaders:    r.ResponseHeaders.V,
		ResponseBody:       r.ResponseBody,
		SentAt:             utcPtr(r.SentAt),
		RespondedAt:        utcPtr(r.RespondedAt),
		DurationMS:         r.DurationMS,
		NextRetryAt:        utcPtr(r.NextRetryAt),
		LastError:          r.LastError,
		ErrorClass:         webhook.ErrorClass(r.ErrorClass),
		CreatedAt:          r.CreatedAt.UTC(),
	}
	if r.RequestBody == "" {
		d.RequestBody = nil // never made: the payload options failed
	}
	// event_data is the envelope's data: derived, not stored twice.
	var env webhook.Envelope
	if json.Unmarshal(d.RequestBody, &env) == nil {
		d.EventData = env.Data
	}
	return d
}

// AttemptLease is how long a pending attempt row stands for a request in
// flight when its sender did not say (Delivery.Lease): the longest a
// receiver may take to answer, and then time to record the outcome. A
// second executor of the same attempt (a worker that took over the
// workflow task of one that is slow, not dead, or an activity retried)
// finds the row leased and waits instead of sending again; once the lease
// has run out, the first is taken for dead.
const AttemptLease = webhook.MaxTimeoutSeconds*time.Second + 15*time.Second

// leaseOf is a pending row's lease.
func leaseOf(d *webhook.Attempt) time.Duration {
	if d.Lease > 0 {
		return d.Lease
	}
	return AttemptLease
}

// StartAttempt writes an attempt row in state pending before the request is
// sent, and sets d.ID. If the row for (event, webhook, attempt) exists, the
// activity is being retried: a row already finished is returned as it
// stands, so the caller reports it instead of sending again; a row still
// pending is reset and reused once its lease has run out (a crash
// mid-request), and before that is an EConflict error: the attempt is in
// flight elsewhere, and the caller tries again later.
func (s *Store) StartAttempt(ctx context.Context, d *webhook.Attempt) (finished *webhook.Attempt, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error { return s.insertPending(ctx, tx, []*webhook.Attempt{d}) })
	switch {
	case isForeignKeyViolation(err):
		return nil, webhook.Errorf(webhook.ENotFound, "webhook %d not found", d.WebhookID)
	case err != nil:
		return nil, err
	case d.ID != 0:
		return nil, nil
	}
	finished, err = s.FinishedAttempt(ctx, d.EventID, d.WebhookID, d.AttemptNumber)
	if err == nil && finished == nil {
		err = s.inFlight(ctx, d)
	}
	return finished, err
}

// InFlight refuses an attempt whose pending row another executor holds
// under its lease: it may be made once Until has passed, and not before.
type InFlight struct {
	Err   *webhook.Error // EConflict
	Until time.Time
}

func (e *InFlight) Error() string { return e.Err.Error() }
func (e *InFlight) Unwrap() error { return e.Err }

// inFlight is the refusal of d, whose row another executor holds: its
// lease counts from that row's sent_at (or from now, if it cannot be read).
func (s *Store) inFlight(ctx context.Context, d *webhook.Attempt) error {
	since := s.now()
	var sent sql.NullTime
	err := s.read.GetContext(ctx, &sent, s.db.Rebind(`SELECT sent_at FROM deliveries
		WHERE event_id = ? AND webhook_id = ? AND attempt_number = ? AND status = 'pending'`), d.EventID, d.WebhookID, d.AttemptNumber)
	if err == nil && sent.Valid {
		since = sent.Time
	}
	until := since.Add(leaseOf(d)).UTC()
	return &InFlight{Until: until, Err: webhook.Errorf(webhook.EConflict,
		"attempt %d of event %s to webhook %d is in flight elsewhere: it is not sent again while that one may still be answered (until %s)",
		d.AttemptNumber, d.EventID, d.WebhookID, until.Format(time.RFC3339Nano))}
}

// FinishAttempt records an attempt's outcome. When the outcome is final for
// that subscriber, the event's counters are recounted and the webhook's
// circuit-breaker count kept (a delivery reset it, a failure adds one), in
// the same transaction, so each attempt counts once.
func (s *Store) FinishAttempt(ctx context.Context, d *webhook.Attempt) error {
	return s.FinishAttempts(ctx, d.WebhookID, []*webhook.Attempt{d}, nil)
}

// CancelDelivery marks a delivery an operator stopped after its attempt
// number attempt: that row, if it waits for a retry, becomes failed, with no
// next retry, and the event's counters count it failed. It reports whether
// a row changed; a delivery stopped before its first attempt has none.
func (s *Store) CancelDelivery(ctx context.Context, eventID string, webhookID int64, attempt int) (bool, error) {
	changed := false
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var one int
		err := tx.GetContext(ctx, &one, tx.Rebind(`SELECT 1 FROM events WHERE event_id = ?`+s.forUpdate()), eventID)
		if err != nil {
			return notFound(err, "event %q not found", eventID)
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE deliveries SET status = 'failed', next_retry_at = NULL,
			last_error = 'cancelled; last error: ' || last_error
			WHERE event_id = ? AND webhook_id = ? AND attempt_number = ? AND is_test = FALSE AND status = 'retrying'`),
			eventID, webhookID, attempt)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		changed = n > 0
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE event_subscribers SET outcome = 'cancelled'
			WHERE event_id = ? AND webhook_id = ? AND outcome = 'pending'`), eventID, webhookID)
		if err != nil {
			return err
		}
		return s.recountEvent(ctx, tx, eventID)
	})
	return changed, err
}

// NextRetries says, for each of the events whose latest attempt to the
// webhook waits for a retry, when that retry is due.
func (s *Store) NextRetries(ctx context.Context, webhookID int64, eventIDs []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	for len(eventIDs) > 0 {
		chunk := eventIDs[:min(len(eventIDs), 500)]
		eventIDs = eventIDs[len(chunk):]
		var rows []struct {
			EventID string    `db:"event_id"`
			At      time.Time `db:"next_retry_at"`
		}
		if err := selectIn(ctx, s.read, &rows, `SELECT d.event_id, d.next_retry_at FROM deliveries d
			WHERE d.webhook_id = ? AND d.event_id IN (?) AND d.is_test = FALSE AND d.next_retry_at IS NOT NULL
			AND d.attempt_number = (SELECT MAX(n.attempt_number) FROM deliveries n
				WHERE n.event_id = d.event_id AND n.webhook_id = d.webhook_id AND n.is_test = FALSE)`, webhookID, chunk); err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.EventID] = r.At.UTC()
		}
	}
	return out, nil
}

// AttemptFilter narrows ListAttempts.
type AttemptFilter struct {
	WebhookID int64                 // 0 for every webhook and integration
	Status    webhook.AttemptStatus // "" for all
	EventID   string                // "" for all
	EventType string                // "" for all
	// Since and Until bound when the rows were made: [Since, Until); zero
	// for no bound.
	Since, Until time.Time
	Page
}

// where is the filter as a WHERE clause and its arguments.
func (f AttemptFilter) where() (string, []any) {
	var terms []string
	var args []any
	add := func(term string, arg any) { terms, args = append(terms, term), append(args, arg) }
	if f.WebhookID != 0 {
		add("webhook_id = ?", f.WebhookID)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if f.EventID != "" {
		add("event_id = ?", f.EventID)
	}
	if f.EventType != "" {
		add("event_type = ?", f.EventType)
	}
	if !f.Since.IsZero() {
		add("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		add("created_at < ?", f.Until.UTC())
	}
	if len(terms) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(terms, " AND "), args
}

// MaxCounted is the most a delivery list's total counts.
const MaxCounted = 100_000

// ListAttempts returns the attempt rows the filter selects, newest first,
// and the total matching, up to MaxCounted.
func (s *Store) ListAttempts(ctx context.Context, f AttemptFilter) ([]*webhook.Attempt, int, error) {
	f.Page = f.Page.norm()
	where, args := f.where()
	// The log across every webhook is read every few seconds by the
	// dashboard: its count stops at MaxCounted rather than read a large
	// table whole.
	var total int
	err := s.read.GetContext(ctx, &total, s.db.Rebind(`SELECT COUNT(*) FROM (SELECT 1 FROM deliveries`+where+` LIMIT ?) x`),
		append(args, MaxCounted)...)
	if err != nil {
		return nil, 0, err
	}
	var rows []attemptRow
	err = s.read.SelectContext(ctx, &rows, s.db.Rebind(`SELECT `+attemptColumns+` FROM deliveries`+where+
		` ORDER BY id DESC LIMIT ? OFFSET ?`), append(args, f.Limit, f.Offset)...)
	if err != nil {
		return nil, 0, err
	}
	return fromRows(rows, (*attemptRow).attempt), total, nil
}

// GetAttempt returns one attempt row of a webhook.
func (s *Store) GetAttempt(ctx context.Context, webhookID, id int64) (*webhook.Attempt, error) {
	return getOne(ctx, s, (*attemptRow).attempt, "delivery %[2]d of webhook %[1]d not found",
		`SELECT `+attemptColumns+` FROM deliveries WHERE webhook_id = ? AND id = ?`, webhookID, id)
}

// LatestAttempts returns, for each webhook an event went to, its latest
// attempt row (whose attempt_number is the number of attempts so far).
func (s *Store) LatestAttempts(ctx context.Context, eventID string) ([]*webhook.Attempt, error) {
	return selectAll(ctx, s, (*attemptRow).attempt, `SELECT `+attemptColumns+` FROM deliveries d
		WHERE event_id = ? AND is_test = FALSE AND attempt_number = (SELECT MAX(attempt_number)
		FROM deliveries x WHERE x.event_id = d.event_id AND x.webhook_id = d.webhook_id)
		ORDER BY webhook_id`, eventID)
}

// FinishedAttempt returns the recorded outcome of an attempt, or nil when
// it was never made or has not finished.
func (s *Store) FinishedAttempt(ctx context.Context, eventID string, webhookID int64, attempt int) (*webhook.Attempt, error) {
	var rows []attemptRow
	err := s.read.SelectContext(ctx, &rows, s.db.Rebind(`SELECT `+attemptColumns+` FROM deliveries
		WHERE event_id = ? AND webhook_id = ? AND attempt_number = ? AND status <> 'pending'`), eventID, webhookID, attempt)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0].attempt(), nil
}
