package integrations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/loki-interceptor/herald/webhook"
)

// Fact is one key fact of an event, as a card shows it: the payload field's
// name and its value as text.
type Fact struct {
	Name  string
	Value string
}

// summaryFields are the payload fields a message shows as its summary, in
// order of preference.
var summaryFields = []string{"message", "error_message"}

// Facts lists an event payload's top-level fields in the order the
// publisher sent them, except the one shown as the summary. Scalars show
// as written, lists joined by commas, objects as compact JSON.
func Facts(ev *webhook.Event) []Fact {
	_, shown := summary(ev)
	dec := json.NewDecoder(bytes.NewReader(ev.Payload))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out []Fact
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		if s := factValue(v); s != "" && name != shown {
			out = append(out, Fact{Name: name, Value: s})
		}
	}
	return out
}

func factValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil {
		parts := make([]string, 0, len(list))
		for _, item := range list {
			parts = append(parts, factValue(item))
		}
		return strings.Join(parts, ", ")
	}
	if string(v) == "null" {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) == nil {
		return buf.String()
	}
	return string(v)
}

var titles = map[string]string{
	webhook.ValidationCompleted: "Document Validation Completed",
	webhook.ValidationFailed:    "Document Validation Failed",
	webhook.CorrectionApplied:   "Correction Applied",
	webhook.DocumentProcessed:   "Document Processed",
	webhook.ComplianceAlert:     "Compliance Alert",
	webhook.SystemError:         "System Error",
	webhook.BatchCompleted:      "Batch Completed",
	webhook.ReportGenerated:     "Report Generated",
}

// Title is the heading of an event's message, e.g. "Document Validation
// Completed"; a compliance alert or system error names its level.
func Title(ev *webhook.Event) string {
	t, ok := titles[ev.EventType]
	if !ok {
		t = ev.EventType
	}
	if level := payloadString(ev, "alert_level", "severity"); level != "" &&
		(ev.EventType == webhook.ComplianceAlert || ev.EventType == webhook.SystemError) {
		t += " (" + strings.ToUpper(level) + ")"
	}
	return t
}

// Summary is the event's human-readable message, when its payload has one.
func Summary(ev *webhook.Event) string {
	text, _ := summary(ev)
	return text
}

// summary is the summary and the payload field it came from.
func summary(ev *webhook.Event) (text, field string) {
	for _, f := range summaryFields {
		if text = payloadString(ev, f); text != "" {
			return text, f
		}
	}
	return "", ""
}

// Severity grades an event for colour: critical, high, medium, low or ok.
type Severity string

const (
	Critical Severity = "critical"
	High     Severity = "high"
	Medium   Severity = "medium"
	Low      Severity = "low"
	OK       Severity = "ok"
)

// SeverityOf reads the payload's own level where it has one (alert_level,
// severity), else judges by the event type and its status fields.
func SeverityOf(ev *webhook.Event) Severity {
	switch s := Severity(strings.ToLower(payloadString(ev, "alert_level", "severity"))); s {
	case Critical, High, Medium, Low:
		return s
	}
	switch ev.EventType {
	case webhook.ValidationFailed, webhook.SystemError:
		return High
	case webhook.ComplianceAlert:
		return Medium
	case webhook.ValidationCompleted:
		return statusSeverity(payloadString(ev, "validation_status"), "fail", "warning")
	case webhook.DocumentProcessed:
		return statusSeverity(payloadString(ev, "status"), "failed", "partial")
	case webhook.BatchCompleted:
		if n, _ := strconv.ParseFloat(payloadString(ev, "failed_documents"), 64); n > 0 {
			return Medium
		}
	}
	return OK
}

func statusSeverity(status, bad, warn string) Severity {
	switch status {
	case bad:
		return High
	case warn:
		return Medium
	}
	return OK
}

// Colour is a severity's hex colour: red for critical and high, amber for
// medium, green for low and ok.
func (s Severity) Colour() string {
	switch s {
	case Critical, High:
		return "#D93025"
	case Medium:
		return "#F4B400"
	}
	return "#2EB67D"
}

// payloadString returns the first of the named top-level payload fields
// that is present, as text.
func payloadString(ev *webhook.Event, names ...string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(ev.Payload, &obj) != nil {
		return ""
	}
	for _, n := range names {
		if v, ok := obj[n]; ok {
			return factValue(v)
		}
	}
	return ""
}

// FooterTimeFormat is the footer's time: "LOKI Interceptor | 2024-01-15 14:30".
const FooterTimeFormat = "2006-01-02 15:04"

// Footer is the line under every card, stamped with the event's time (UTC)
// unless include_timestamp is false.
func Footer(ev *webhook.Event, cfg Config) string {
	if cfg.IncludeTimestamp != nil && !*cfg.IncludeTimestamp {
		return "LOKI Interceptor"
	}
	return "LOKI Interceptor | " + ev.CreatedAt.UTC().Format(FooterTimeFormat)
}

// EventLink is where a card's "View event" button leads, "" without a
// dashboard_url.
func EventLink(cfg Config, eventID string) string {
	if cfg.DashboardURL == "" {
		return ""
	}
	if strings.Contains(cfg.DashboardURL, "{event_id}") {
		return strings.ReplaceAll(cfg.DashboardURL, "{event_id}", url.PathEscape(eventID))
	}
	return strings.TrimRight(cfg.DashboardURL, "/") + "/events/" + url.PathEscape(eventID)
}

func on(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// Truncate shortens s to at most n characters (runes), marking the cut
// with an ellipsis, so that a long value never makes a platform refuse
// the whole message.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	const marker = "…"
	r := []rune(s)
	return string(r[:n-1]) + marker
}

// TestEvent is what POST /integrations/{name}/test sends: a sample of the
// integration's first subscribed type, marked as a test.
func TestEvent(eventType string, now time.Time) *webhook.Event {
	et, ok := webhook.LookupEventType(eventType)
	if !ok {
		et, _ = webhook.LookupEventType(webhook.ValidationCompleted)
	}
	return &webhook.Event{
		EventID:   fmt.Sprintf("test_%d", now.UnixNano()),
		EventType: et.Name,
		Source:    "herald",
		SourceID:  "integration-test",
		Payload:   et.Example,
		CreatedAt: now.UTC(),
	}
}
