package delivery

import (
	"context"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// Recorder keeps attempt rows; *store.Store is one.
type Recorder interface {
	// StartAttempt records a pending attempt, or returns the row of this
	// attempt if it already finished (the caller is a retry).
	StartAttempt(ctx context.Context, d *webhook.Attempt) (finished *webhook.Attempt, err error)
	FinishAttempt(ctx context.Context, d *webhook.Attempt) error
}

// Plan is what the caller decided about an attempt before making it.
type Plan struct {
	Attempt int
	Final   bool          // no attempt follows, whatever happens
	RetryIn time.Duration // planned wait before the next attempt if this one fails
	Test    bool          // a test delivery from the API, not part of an event
}

// Attempted is a recorded attempt: its row as stored and, when the row says
// retrying, how long to wait before the next one.
type Attempted struct {
	Row     *webhook.Attempt
	RetryIn time.Duration
	// Replayed says the attempt had already been made and recorded; nothing
	// was sent this time.
	Replayed bool
}

// NotSent is an error that stopped an attempt before its request went (its
// pending row could not be written, or another executor holds it): what the
// caller reserved for it, a rate-limit slot, is still unused.
type NotSent struct{ Err error }

func (e *NotSent) Error() string { return e.Err.Error() }
func (e *NotSent) Unwrap() error { return e.Err }

// Attempt makes one recorded attempt of an event to a webhook: a pending row
// first (so a crash mid-request still leaves a trace), then the request, then
// the outcome. Only recording can fail; a failed request is an outcome.
func (s *Sender) Attempt(ctx context.Context, rec Recorder, w *webhook.Webhook, ev *webhook.Event, p Plan) (*Attempted, error) {
	req, failed := s.Build(ctx, w, ev, p.Attempt)
	send := s.Send
	if failed != nil {
		send = func(context.Context, *Request) *Result { return failed }
	}
	return s.AttemptRequest(ctx, rec, w.ID, ev, req, p, send)
}

// Transport sends a prepared request; Sender.Send is the HTTP one, and a
// connector with another protocol (SMTP) brings its own.
type Transport func(ctx context.Context, r *Request) *Result

// AttemptRequest is Attempt for a request already built, sent by send.
func (s *Sender) AttemptRequest(ctx context.Context, rec Recorder, webhookID int64, ev *webhook.Event, req *Request, p Plan, send Transport) (*Attempted, error) {
	d := s.pendingRow(webhookID, ev, req, p)
	finished, err := rec.StartAttempt(ctx, d)
	if err != nil {
		return nil, &NotSent{err}
	}
	if finished != nil {
		return Recorded(finished, s.now()), nil
	}
	a := &Attempted{Row: d}
	sendCtx, cancel := uncut(ctx, req)
	defer cancel()
	a.settle(send(sendCtx, req), p)
	if err := keepRecording(ctx, recordDeadline([]*webhook.Attempt{d}, s.now()), func(ctx context.Context) error { return rec.FinishAttempt(ctx, d) }); err != nil {
		return nil, err
	}
	return a, nil
}

// Recorded is an attempt made and recorded before; a retrying one waits
// what is left of its wait.
func Recorded(d *webhook.Attempt, now time.Time) *Attempted {
	a := &Attempted{Row: d, Replayed: true}
	if d.NextRetryAt != nil {
		a.RetryIn = max(d.NextRetryAt.Sub(now), 0)
	}
	return a
}

// settle copies the result into the row and decides its status.
func (a *Attempted) settle(res *Result, p Plan) {
	d := a.Row
	sent, responded, ms := res.SentAt.UTC(), res.RespondedAt.UTC(), float64(res.Duration.Microseconds())/1000
	d.SentAt, d.RespondedAt, d.DurationMS = &sent, &responded, &ms
	if res.StatusCode != 0 {
		code := res.StatusCode
		d.ResponseStatusCode = &code
		d.ResponseHeaders = FlatHeaders(res.Header)
	}
	d.ResponseBody, d.LastError, d.ErrorClass = res.Body, res.Error, res.Class
	switch res.Outcome() {
	case webhook.Delivered:
		d.Status = webhook.AttemptDelivered
	case webhook.Retryable:
		if !p.Final {
			a.RetryIn = webhook.WithRetryAfter(p.RetryIn, res.RetryAfter)
			next := responded.Add(a.RetryIn)
			d.Status, d.NextRetryAt = webhook.AttemptRetrying, &next
			return
		}
		d.Status = webhook.AttemptFailed
	default:
		d.Status = webhook.AttemptFailed
	}
}

// StatusCode is the receiver's answer, 0 when none came.
func (a *Attempted) StatusCode() int {
	if a.Row.ResponseStatusCode == nil {
		return 0
	}
	return *a.Row.ResponseStatusCode
}

// DurationMS is the attempt's round trip in milliseconds.
func (a *Attempted) DurationMS() float64 {
	if a.Row.DurationMS == nil {
		return 0
	}
	return *a.Row.DurationMS
}
