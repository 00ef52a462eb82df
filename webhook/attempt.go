package webhook

import (
	"encoding/json"
	"slices"
	"time"
)

// AttemptStatus is the state of one attempt row.
type AttemptStatus string

const (
	AttemptPending   AttemptStatus = "pending"   // being sent now
	AttemptDelivered AttemptStatus = "delivered" // receiver answered 2xx
	AttemptRetrying  AttemptStatus = "retrying"  // failed; another attempt is due at NextRetryAt
	AttemptFailed    AttemptStatus = "failed"    // failed and no attempt follows
)

func (s AttemptStatus) Valid() bool {
	switch s {
	case AttemptPending, AttemptDelivered, AttemptRetrying, AttemptFailed:
		return true
	}
	return false
}

// Terminal reports whether no attempt follows this one.
func (s AttemptStatus) Terminal() bool { return s == AttemptDelivered || s == AttemptFailed }

// ErrorClass says why an attempt did not deliver.
type ErrorClass string

const (
	ClassNone       ErrorClass = ""
	ClassHTTPStatus ErrorClass = "http_status" // the receiver answered, but not 2xx
	ClassTimeout    ErrorClass = "timeout"
	ClassConnection ErrorClass = "connection" // refused, reset, closed early
	ClassDNS        ErrorClass = "dns"
	ClassTLS        ErrorClass = "tls"
	ClassRequest    ErrorClass = "request" // Herald could not build the request (bad URL)
	// ClassRejected is a refusal that will not change on retry: an SMTP
	// server's 5xx reply, or its refusal of Herald's credentials.
	ClassRejected ErrorClass = "rejected"
	// ClassSMTP is a temporary SMTP refusal (a 4xx reply): worth retrying.
	ClassSMTP ErrorClass = "smtp"
	// ClassBlocked is a receiver whose address Herald refuses to reach
	// (loopback, private, cloud metadata, …): not retried.
	ClassBlocked ErrorClass = "blocked_address"
	// ClassPayload is a body Herald could not make from the event with the
	// subscriber's payload options (a template that fails): not sent, and
	// not retried, since it would fail the same way.
	ClassPayload ErrorClass = "payload"
	// ClassPayloadTimeout is a template that ran out of time, which a busy
	// machine can cause: not sent, and retried on the schedule.
	ClassPayloadTimeout ErrorClass = "payload_timeout"
)

// UnsentClasses are the classes of attempts that never reached the
// receiver because Herald could not make their body: they say nothing
// about the receiver, so the circuit breaker does not count them.
var UnsentClasses = []ErrorClass{ClassPayload, ClassPayloadTimeout}

// Unsent says the class is one of UnsentClasses.
func (c ErrorClass) Unsent() bool { return slices.Contains(UnsentClasses, c) }

// Outcome is what an attempt's result means for the delivery.
type Outcome int

const (
	Delivered Outcome = iota
	Retryable
	Permanent
)

// Classify decides an attempt's outcome: 2xx delivered; 408, 429, 5xx,
// redirects (not followed) and transport failures retryable; any other 4xx
// permanent, since sending the same request again will get the same answer.
func Classify(statusCode int, class ErrorClass) Outcome {
	switch {
	case class == ClassRequest || class == ClassRejected || class == ClassBlocked || class == ClassPayload:
		return Permanent
	case class != ClassNone && class != ClassHTTPStatus:
		return Retryable
	case statusCode >= 200 && statusCode < 300:
		return Delivered
	case statusCode == 408 || statusCode == 429:
		return Retryable
	case statusCode >= 400 && statusCode < 500:
		return Permanent
	default:
		return Retryable
	}
}

// Attempt is one attempt to deliver one event to one webhook: a row of the
// API's deliveries (the LOKI guide's WebhookDelivery), one per attempt number.
type Attempt struct {
	ID            int64           `json:"id"`
	WebhookID     int64           `json:"webhook_id"`
	EventID       string          `json:"event_id"`
	EventType     string          `json:"event_type"`
	EventData     json.RawMessage `json:"event_data"`
	AttemptNumber int             `json:"attempt_number"`
	Status        AttemptStatus   `json:"status"`
	IsTest        bool            `json:"is_test"`

	URL            string            `json:"url"`
	RequestHeaders map[string]string `json:"request_headers"`
	RequestBody    json.RawMessage   `json:"request_body"`
	Signature      string            `json:"signature"`

	ResponseStatusCode *int              `json:"response_status_code"`
	ResponseHeaders    map[string]string `json:"response_headers"`
	ResponseBody       string            `json:"response_body"`

	SentAt      *time.Time `json:"sent_at"`
	RespondedAt *time.Time `json:"responded_at"`
	DurationMS  *float64   `json:"duration_ms"`
	NextRetryAt *time.Time `json:"next_retry_at"`
	LastError   string     `json:"last_error"`
	ErrorClass  ErrorClass `json:"error_class"`
	CreatedAt   time.Time  `json:"created_at"`

	// Lease is how long the row, while pending, stands for its request in
	// flight: the request's timeout and the time to record its answer.
	// Set by whoever sends it; not stored.
	Lease time.Duration `json:"-"`
	// LeasedAt is the sent_at its pending row was written with: the
	// claim of the executor that wrote it. Its outcome is recorded only
	// while the row still bears that claim; not stored apart.
	LeasedAt *time.Time `json:"-"`
}
