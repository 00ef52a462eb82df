package api

import (
	"context"
	"errors"
	"strings"

	"go.temporal.io/api/serviceerror"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// streamStore is what the stream endpoints read.
type streamStore interface {
	DeliveryMode(ctx context.Context, eventID string, webhookID int64) (webhook.DeliveryMode, error)
}

// A delivery in stream or ordered mode lives in its subscriber's stream,
// stream/<webhook id>, not in its event's workflow; the mode it was
// accepted in, recorded with the event, says which to ask or signal.

// streamed says the webhook's delivery of the event goes through its
// stream.
func (s *Server) streamed(ctx context.Context, eventID string, webhookID int64) (bool, error) {
	m, err := s.store.DeliveryMode(ctx, eventID, webhookID)
	return m.Streamed(), err
}

// streamState asks a subscriber's stream where its delivery of an event
// stands: nil when the stream does not hold it (it ended, or the stream is
// not running).
func (s *Server) streamState(ctx context.Context, eventID string, webhookID int64) (*workflows.DeliveryState, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	v, err := s.temporal.QueryWorkflow(ctx, workflows.StreamWorkflowID(webhookID), "", workflows.QueryDelivery, eventID)
	var notRunning *serviceerror.NotFound
	var failed *serviceerror.QueryFailed
	if errors.As(err, &notRunning) || errors.As(err, &failed) && strings.Contains(failed.Error(), workflows.NotHeld) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st workflows.DeliveryState
	if err := v.Get(&st); err != nil {
		return nil, err
	}
	return &st, nil
}

// signalStream sends a signal to a subscriber's stream, starting it if it
// is not running (a retry of a delivery that ended may find it idle).
func (s *Server) signalStream(ctx context.Context, webhookID int64, name string, arg any) error {
	opts := streamStart(webhookID)
	_, err := s.temporal.SignalWithStartWorkflow(ctx, opts.ID, name, arg, opts, workflows.StreamWorkflowName, workflows.StreamInput{WebhookID: webhookID})
	if err != nil {
		return unavailable("cannot signal the webhook's stream", err)
	}
	return nil
}

// resumeStream tells a webhook's stream, if one runs, that the webhook is
// active again; it reports whether there was one.
func (s *Server) resumeStream(ctx context.Context, webhookID int64) (bool, error) {
	err := s.temporal.SignalWorkflow(ctx, workflows.StreamWorkflowID(webhookID), "", workflows.SignalResume, workflows.EventSignal{})
	var notRunning *serviceerror.NotFound
	if errors.As(err, &notRunning) {
		return false, nil
	}
	return err == nil, err
}

// endedState is a delivery's state once its stream no longer holds it,
// from its latest attempt row.
func (s *Server) endedState(ctx context.Context, eventID string, webhookID int64) *workflows.DeliveryState {
	d, err := s.latestAttempt(ctx, eventID, webhookID)
	if err != nil {
		return nil
	}
	st := &workflows.DeliveryState{EventID: eventID, WebhookID: webhookID, Attempts: d.AttemptNumber, LastAttemptID: d.ID, LastError: d.LastError}
	if d.ResponseStatusCode != nil {
		st.LastStatusCode = *d.ResponseStatusCode
	}
	switch d.Status {
	case webhook.AttemptDelivered:
		st.State = workflows.LoopDelivered
	case webhook.AttemptFailed:
		st.State = workflows.LoopFailed
	default:
		st.State, st.NextAttemptAt = workflows.LoopRetrying, d.NextRetryAt
	}
	return st
}
