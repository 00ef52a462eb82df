package integrations

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/loki-interceptor/herald/payload"
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

// Content is what every connector shows of an event: read from its payload
// once per message.
type Content struct {
	Title, Summary string
	Facts          []Fact
	Severity       Severity
}

// ContentOf reads an event for its message.
func ContentOf(ev *webhook.Event) Content {
	var p topFields
	_ = json.Unmarshal(ev.Payload, &p) // a payload not an object has no fields
	summary, field := p.summary()
	return Content{Title: title(ev.EventType, p), Summary: summary, Facts: facts(ev.Payload, field), Severity: severity(ev.EventType, p)}
}

// topFields is an event payload's top-level fields.
type topFields map[string]json.RawMessage

// get returns the first of the named fields that is present, as text.
func (p topFields) get(names ...string) string {
	for _, n := range names {
		if v, ok := p[n]; ok {
			return factValue(v)
		}
	}
	return ""
}

// facts lists a payload's top-level fields in the order the publisher sent
// them, except shown (the summary's). Scalars show as written, lists joined
// by commas, objects as compact JSON.
func facts(raw json.RawMessage, shown string) []Fact {
	var out []Fact
	for name, v := range payload.Members(raw) {
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

// title is the heading of an event's message, e.g. "Document Validation
// Completed"; a compliance alert or system error names its level.
func title(eventType string, p topFields) string {
	t, ok := titles[eventType]
	if !ok {
		t = eventType
	}
	if level := p.get("alert_level", "severity"); level != "" &&
		(eventType == webhook.ComplianceAlert || eventType == webhook.SystemError) {
		t += " (" + strings.ToUpper(level) + ")"
	}
	return t
}

// summary is the event's human-readable message, when its payload has one,
// and the field it came from.
func (p topFields) summary() (text, field string) {
	for _, f := range summaryFields {
		if text = p.get(f); text != "" {
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

// severity reads the payload's own level where it has one (alert_level,
// severity), else judges by the event type and its status fields.
func severity(eventType string, p topFields) Severity {
	switch s := Severity(strings.ToLower(p.get("alert_level", "severity"))); s {
	case Critical, High, Medium, Low:
		return s
	}
	switch eventType {
	case webhook.ValidationFailed, webhook.SystemError:
		return High
	case webhook.ComplianceAlert:
		return Medium
	case webhook.ValidationCompleted:
		return statusSeverity(p.get("validation_status"), "fail", "warning")
	case webhook.DocumentProcessed:
		return statusSeverity(p.get("status"), "failed", "partial")
	case webhook.BatchCompleted:
		if n, _ := strconv.ParseFloat(p.get("failed_documents"), 64); n > 0 {
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

// footerTimeFormat is the footer's time: "LOKI Interceptor | 2024-01-15 14:30".
const footerTimeFormat = "2006-01-02 15:04"

// Footer is the line under every card, stamped with the event's time (UTC)
// unless include_timestamp is false.
func Footer(ev *webhook.Event, cfg Config) string {
	if cfg.IncludeTimestamp != nil && !*cfg.IncludeTimestamp {
		return "LOKI Interceptor"
	}
	return "LOKI Interceptor | " + ev.CreatedAt.UTC().Format(footerTimeFormat)
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
