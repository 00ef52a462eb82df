package webhook

import (
	"bytes"
	"encoding/json"
	"regexp"
	"time"
)

// AllEvents in a webhook's event_types subscribes it to every type.
const AllEvents = "*"

// DefaultSource is the source of an event whose publisher did not name one.
const DefaultSource = "loki"

// Event is something that happened in LOKI, to be delivered to subscribers.
type Event struct {
	ID        int64           `json:"id"`
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Source    string          `json:"source"`
	SourceID  string          `json:"source_id"`
	Payload   json.RawMessage `json:"payload"`
	// TotalDeliveries is the number of subscribers the event went to;
	// Successful and Failed count those that ended each way.
	TotalDeliveries      int        `json:"total_deliveries"`
	SuccessfulDeliveries int        `json:"successful_deliveries"`
	FailedDeliveries     int        `json:"failed_deliveries"`
	CreatedAt            time.Time  `json:"created_at"`
	ProcessedAt          *time.Time `json:"processed_at"`
}

// Envelope is the JSON body every receiver gets.
type Envelope struct {
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Source    string          `json:"source"`
	SourceID  string          `json:"source_id"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// TimestampFormat is the envelope's timestamp: UTC, millisecond precision.
const TimestampFormat = "2006-01-02T15:04:05.000Z"

// Body is the exact request body for this event. It depends only on the
// stored event, so every attempt sends, and signs, the same bytes.
func (e *Event) Body() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	// json.Marshal would rewrite <, > and & inside the payload as \u003c…:
	// the same JSON, but not the bytes the publisher sent.
	enc.SetEscapeHTML(false)
	err := enc.Encode(Envelope{
		EventID:   e.EventID,
		EventType: e.EventType,
		Source:    e.Source,
		SourceID:  e.SourceID,
		Timestamp: e.CreatedAt.UTC().Format(TimestampFormat),
		Data:      e.Payload,
	})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

var eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$`)

// ValidEventID reports whether a publisher-chosen event id is acceptable:
// 1–128 characters of letters, digits and . _ : -, so that it is safe in a
// Temporal workflow ID, a header and a URL path.
func ValidEventID(id string) bool { return eventIDPattern.MatchString(id) }

// ReservedEventIDPrefix begins the ids of Herald's own events (batches,
// notices of a paused webhook); publishers may not use it, so none of
// theirs can take the place of one.
const ReservedEventIDPrefix = "herald-"

// BatchEventType is the type of a batch: Herald's own event that carries a
// batched integration's events to it as one message. Its payload is a
// BatchPayload; each batch is delivered, retried and recorded like an event.
const BatchEventType = "herald.batch"

// BatchPayload is a batch event's payload.
type BatchPayload struct {
	IntegrationID int64    `json:"integration_id"`
	EventIDs      []string `json:"event_ids"`
}

// The eight LOKI event types; package eventtypes holds their catalog and
// the JSON Schemas their payloads are validated against.
const (
	ValidationCompleted = "validation.completed"
	ValidationFailed    = "validation.failed"
	CorrectionApplied   = "correction.applied"
	DocumentProcessed   = "document.processed"
	ComplianceAlert     = "compliance.alert"
	SystemError         = "system.error"
	BatchCompleted      = "batch.completed"
	ReportGenerated     = "report.generated"
)

// builtinEventTypes is the eight, the event types every deployment knows.
var builtinEventTypes = []string{ValidationCompleted, ValidationFailed, CorrectionApplied, DocumentProcessed,
	ComplianceAlert, SystemError, BatchCompleted, ReportGenerated}
