package workflows

import (
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/webhook"
)

// StreamWorkflowName is the registered name of StreamWorkflow.
const StreamWorkflowName = "StreamWorkflow"

// StreamWorkflowID names the stream of a subscriber in stream or ordered
// mode: one workflow per webhook, whatever events it carries.
func StreamWorkflowID(webhookID int64) string { return "stream/" + strconv.FormatInt(webhookID, 10) }

// Stream signals and queries, besides SignalRetry, SignalResume and
// SignalCancel, which a stream takes with an EventSignal:
//
//	temporal workflow signal --workflow-id stream/3 --name retry  --input '{"event_id": "evt-1"}'
//	temporal workflow signal --workflow-id stream/3 --name cancel --input '{"event_id": "evt-1"}'
//	temporal workflow signal --workflow-id stream/3 --name resume --input '{}'
//	temporal workflow query  --workflow-id stream/3 --type delivery --input '"evt-1"'
//	temporal workflow query  --workflow-id stream/3 --type stream
const (
	// SignalEvents hands a stream a group of accepted events
	// (StreamEvents); events it holds already are ignored.
	SignalEvents = "events"
	// QueryDelivery returns the DeliveryState of one event the stream
	// holds, named by its event id.
	QueryDelivery = "delivery"
	// QueryStream returns the StreamState: what the stream holds, and in
	// ordered mode which event blocks the rest and until when.
	QueryStream = "stream"
)

// NotHeld is in the error QueryDelivery fails with for an event the stream
// does not hold, which tells it from a stream that cannot answer.
const NotHeld = "does not hold event"

// ActivityAttemptStream makes the attempts of a stream's batch.
var ActivityAttemptStream = Activity[StreamAttemptInput, StreamAttemptResult]{Name: "AttemptStream"}

// StreamEvents is a group's events for one subscriber, in the order they
// were recorded, with the subscriber as snapshotted for them.
type StreamEvents struct {
	Subscriber Subscriber `json:"subscriber"`
	EventIDs   []string   `json:"event_ids"`
	// EventTypes are the events' types, in the same order, when the
	// subscriber has retry overrides: they pick each event's schedule.
	EventTypes []string `json:"event_types,omitempty"`
}

// TypeOf is the type of the i-th event, when the group carries types.
func (g StreamEvents) TypeOf(i int) string {
	if i < len(g.EventTypes) {
		return g.EventTypes[i]
	}
	return ""
}

// EventSignal names the event a stream's retry or cancel signal is for;
// an empty EventID means every event the stream holds.
type EventSignal struct {
	EventID string `json:"event_id"`
}

// StreamInput starts a stream; Carried is what a run hands to the next
// when it continues as new.
type StreamInput struct {
	WebhookID int64        `json:"webhook_id"`
	Carried   *StreamCarry `json:"carried,omitempty"`
	// EventsPerRun is how many events a run takes before it continues as
	// new (0: StreamEventsPerRun).
	EventsPerRun int `json:"events_per_run,omitempty"`
	// MaxHeld is how many deliveries a stream holds at most (0:
	// StreamMaxHeld); the rest wait in the store, its backlog.
	MaxHeld int `json:"max_held,omitempty"`
	// MaxSignals is how many signals a run takes before it continues as
	// new even with batches in flight (0: StreamMaxSignals).
	MaxSignals int `json:"max_signals,omitempty"`
}

// StreamCarry is a stream's state across continue-as-new: every delivery
// not ended, with its schedule.
type StreamCarry struct {
	Mode     webhook.DeliveryMode `json:"mode"`
	Seq      int64                `json:"seq"`
	Items    []StreamItem         `json:"items"`
	Paused   bool                 `json:"paused,omitempty"`
	HoldPoll time.Duration        `json:"hold_poll,omitempty"`
	// Backlog says more of its events wait in the store than it holds.
	Backlog bool `json:"backlog,omitempty"`
}

// StreamState is QueryStream's answer.
type StreamState struct {
	WebhookID int64                `json:"webhook_id"`
	Mode      webhook.DeliveryMode `json:"mode"`
	Status    string               `json:"status"`
	Held      int                  `json:"held"`      // deliveries the stream holds, not ended
	InFlight  int                  `json:"in_flight"` // of them, attempts under way
	Waiting   int                  `json:"waiting"`   // of them, waiting for a retry or a rate-limit slot
	Paused    bool                 `json:"paused"`
	// Backlog says more of its events wait in the store, accepted but not
	// held yet: the stream loads them, in order, as it has room.
	Backlog bool `json:"backlog,omitempty"`
	// Head is, in ordered mode, the event every later one waits for.
	Head *DeliveryState `json:"head,omitempty"`
	// Deliveries are the first StreamStateMax held, in order of arrival.
	Deliveries []DeliveryState `json:"deliveries"`
}

// StreamStateMax bounds the deliveries a QueryStream answer lists.
const StreamStateMax = 100

// StreamAttemptInput asks for the attempts of one batch of a stream, each
// as AttemptInput would for one event. Ordered says they are made one
// after another, stopping at the first that is not delivered.
type StreamAttemptInput struct {
	WebhookID int64          `json:"webhook_id"`
	Ordered   bool           `json:"ordered,omitempty"`
	Attempts  []AttemptInput `json:"attempts"`
}

// StreamAttemptResult is a batch's outcome: Gone when the webhook was
// deleted (its deliveries ended, counted failed), else one result per
// attempt asked for, in order. A result with NotMade was not attempted
// (ordered: an earlier one was not delivered, or time ran out); one with
// Ended names an outcome recorded before (the delivery had ended).
type StreamAttemptResult struct {
	Gone    bool            `json:"gone,omitempty"`
	Results []AttemptResult `json:"results,omitempty"`
}

// ActivityLoadBacklog reads the next events of a stream's backlog.
var ActivityLoadBacklog = Activity[LoadBacklogInput, LoadBacklogResult]{Name: "LoadBacklog"}

// LoadBacklogInput asks for up to Limit of a webhook's streamed deliveries
// not ended, in the order their events were accepted, but for those in
// Skip (the stream holds them).
type LoadBacklogInput struct {
	WebhookID int64    `json:"webhook_id"`
	Skip      []string `json:"skip,omitempty"`
	Limit     int      `json:"limit"`
}

// LoadBacklogResult is the webhook as a delivery starting now snapshots
// it, and the deliveries read; Gone when the webhook was deleted.
type LoadBacklogResult struct {
	Gone       bool           `json:"gone,omitempty"`
	Subscriber Subscriber     `json:"subscriber"`
	Entries    []BacklogEntry `json:"entries,omitempty"`
}

// BacklogEntry is one delivery of the backlog and its next attempt number.
type BacklogEntry struct {
	EventID   string `json:"event_id"`
	EventType string `json:"event_type,omitempty"`
	Next      int    `json:"next"`
}

// Stream tuning: batches a stream runs at once (one in ordered mode; runs
// begun before the version "stream-two-batches", four), the events in each, the events one run takes before it continues as new, the
// deliveries it holds at most (what continue-as-new carries must stay well
// under Temporal's 2 MB a payload), and how long an idle stream waits
// before it ends (the next event starts it again).
const (
	StreamBatches       = 2
	streamBatchesBefore = 4
	StreamBatchSize     = 100
	StreamEventsPerRun  = 10000
	StreamMaxHeld       = 1000
	StreamMaxSignals    = 8000
	StreamIdleTimeout   = time.Hour
	streamActivityStart = 10 * time.Minute
)

// versionTwoBatches gates StreamBatches: runs begun before it keep
// streamBatchesBefore in flight, as their histories recorded.
const versionTwoBatches = "stream-two-batches"

// versionSignalBound gates leaving a run at StreamMaxSignals signals with
// batches in flight: runs recorded before it waited for their batches.
const versionSignalBound = "stream-signal-bound"

// continueAsNew ends the run, handing what it holds to the next.
func (s *stream) continueAsNew(ctx workflow.Context, in StreamInput) error {
	return workflow.NewContinueAsNewError(ctx, StreamWorkflowName, StreamInput{WebhookID: s.webhookID, Carried: s.carry(),
		EventsPerRun: in.EventsPerRun, MaxHeld: in.MaxHeld, MaxSignals: in.MaxSignals})
}

// StreamAttributes are a stream's search attributes at start, so that
// filtering the Temporal UI by webhook finds its stream.
func StreamAttributes(s Subscriber) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		SearchWebhookIDs.ValueSet([]string{strconv.FormatInt(s.WebhookID, 10)}),
		SearchStatus.ValueSet(StatusIdle),
	)
}

// StreamWorkflow delivers a subscriber's events in stream or ordered mode.
// Events arrive in groups (SignalEvents); the stream attempts them in
// batches, each a regular activity that records its attempt rows together,
// with up to StreamBatches in flight (one, in ordered mode, whose events go
// one after another in the order they arrived). Each event keeps its own
// retry schedule, on one durable timer for the earliest due. A paused
// webhook holds the stream; a rate limit's reserved slots wait for their
// windows. It holds at most StreamMaxHeld deliveries: events past that
// wait in the store and are loaded in order as deliveries end. After
// StreamEventsPerRun events, or when Temporal suggests it, it continues as
// new once its batches are done, carrying every delivery it holds; after
// StreamMaxSignals signals it does not wait for them (mustLeave).
func StreamWorkflow(ctx workflow.Context, in StreamInput) error {
	s, err := newStream(ctx, in)
	if err != nil {
		return err
	}
	for {
		s.takeDue(ctx)
		s.dispatch(ctx)
		if s.quiet() {
			switch {
			case s.gone:
				if s.settle(ctx) {
					// What came since goes the same way: its batch finds
					// the webhook gone and ends its deliveries too.
					s.gone = false
					continue
				}
				return nil // nothing to deliver to: its deliveries were counted failed
			case s.continuing(ctx):
				if s.settle(ctx) {
					continue
				}
				return s.continueAsNew(ctx, in)
			}
		} else if s.mustLeave(ctx) {
			if s.settle(ctx) {
				continue
			}
			return s.continueAsNew(ctx, in)
		}
		if s.await(ctx) && s.idle() && !s.settle(ctx) {
			s.publishStatus(ctx)
			return nil // idle too long: the next event starts the stream again
		}
		s.publishStatus(ctx)
	}
}
