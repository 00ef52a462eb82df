package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// The eight LOKI event types.
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

// Payload structs: the typed shape of each event type's data. Tags say which
// fields are required, their allowed values and ranges, and document them;
// the catalog and the validator are both read from these tags.

type ValidationCompletedEvent struct {
	DocumentID       string         `json:"document_id" required:"true" doc:"Document that was validated"`
	ValidationStatus string         `json:"validation_status" required:"true" enum:"pass,fail,warning" doc:"Overall result"`
	GatesPassed      int            `json:"gates_passed" min:"0" doc:"Validation gates passed"`
	GatesFailed      int            `json:"gates_failed" min:"0" doc:"Validation gates failed"`
	ProcessingTimeMS float64        `json:"processing_time_ms" min:"0" doc:"Validation time in milliseconds"`
	Results          map[string]any `json:"results" doc:"Per-gate results"`
}

type ValidationFailedEvent struct {
	DocumentID   string         `json:"document_id" required:"true" doc:"Document whose validation failed"`
	ErrorCode    string         `json:"error_code" required:"true" doc:"Machine-readable error code"`
	ErrorMessage string         `json:"error_message" required:"true" doc:"What went wrong"`
	StackTrace   string         `json:"stack_trace" doc:"Stack trace, when one exists"`
	ErrorDetails map[string]any `json:"error_details" doc:"Further details"`
}

type CorrectionAppliedEvent struct {
	DocumentID       string           `json:"document_id" required:"true" doc:"Corrected document"`
	Changes          []map[string]any `json:"changes" doc:"Changes made, one object per change"`
	CorrectionsCount int              `json:"corrections_count" min:"0" doc:"Number of corrections"`
	ConfidenceScore  float64          `json:"confidence_score" min:"0" max:"1" doc:"Confidence in the corrections, 0 to 1"`
	Before           json.RawMessage  `json:"before" doc:"Content before correction"`
	After            json.RawMessage  `json:"after" doc:"Content after correction"`
}

type DocumentProcessedEvent struct {
	DocumentID       string         `json:"document_id" required:"true" doc:"Processed document"`
	Status           string         `json:"status" required:"true" enum:"completed,failed,partial" doc:"Final processing status"`
	ProcessingTimeMS float64        `json:"processing_time_ms" min:"0" doc:"Total processing time in milliseconds"`
	Results          map[string]any `json:"results" doc:"All results"`
}

type ComplianceAlertEvent struct {
	AlertLevel         string   `json:"alert_level" required:"true" enum:"low,medium,high,critical" doc:"Severity"`
	AlertType          string   `json:"alert_type" required:"true" doc:"Kind of violation, e.g. gdpr_violation"`
	Message            string   `json:"message" required:"true" doc:"Human-readable description"`
	AffectedDocuments  []string `json:"affected_documents" doc:"Documents involved"`
	RecommendedActions []string `json:"recommended_actions" doc:"What to do about it"`
}

type SystemErrorEvent struct {
	ErrorCode string         `json:"error_code" required:"true" doc:"Machine-readable error code"`
	Component string         `json:"component" required:"true" doc:"Component that failed"`
	Severity  string         `json:"severity" required:"true" enum:"low,medium,high,critical" doc:"Severity"`
	Message   string         `json:"message" doc:"Human-readable description"`
	Details   map[string]any `json:"details" doc:"Further details"`
}

type BatchCompletedEvent struct {
	BatchID            string         `json:"batch_id" required:"true" doc:"Batch identifier"`
	TotalDocuments     int            `json:"total_documents" min:"0" doc:"Documents in the batch"`
	ProcessedDocuments int            `json:"processed_documents" min:"0" doc:"Documents processed successfully"`
	FailedDocuments    int            `json:"failed_documents" min:"0" doc:"Documents that failed"`
	SuccessRate        float64        `json:"success_rate" min:"0" max:"100" doc:"Percentage processed successfully"`
	ProcessingTimeMS   float64        `json:"processing_time_ms" min:"0" doc:"Batch processing time in milliseconds"`
	ResultsSummary     map[string]any `json:"results_summary" doc:"Summary of results"`
}

type ReportGeneratedEvent struct {
	ReportID      string `json:"report_id" required:"true" doc:"Report identifier"`
	ReportType    string `json:"report_type" required:"true" doc:"Kind of report"`
	ReportURL     string `json:"report_url" required:"true" doc:"Where to download it"`
	DocumentCount int    `json:"document_count" min:"0" doc:"Documents covered"`
	Format        string `json:"format" doc:"File format, e.g. pdf"`
}

// EventType describes one event type for the catalog.
type EventType struct {
	Name          string          `json:"event_type"`
	Description   string          `json:"description"`
	TriggeredWhen string          `json:"triggered_when"`
	Fields        []PayloadField  `json:"fields"`
	Example       json.RawMessage `json:"example"`

	payload reflect.Type
}

// PayloadField documents one field of an event type's payload.
type PayloadField struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Enum        []string `json:"enum,omitempty"`
	Min         *float64 `json:"min,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	Description string   `json:"description"`
}

func eventType(name, desc, when string, example any) EventType {
	ex, err := json.Marshal(example)
	if err != nil {
		panic(err)
	}
	t := reflect.TypeOf(example)
	return EventType{Name: name, Description: desc, TriggeredWhen: when, Fields: payloadFields(t), Example: ex, payload: t}
}

var catalog = []EventType{
	eventType(ValidationCompleted, "Validation results, gates passed and failed", "Document validation finishes",
		ValidationCompletedEvent{DocumentID: "doc_12345", ValidationStatus: "pass", GatesPassed: 8, GatesFailed: 0, ProcessingTimeMS: 523.45,
			Results: map[string]any{"gdpr": "pass", "fca": "pass"}}),
	eventType(ValidationFailed, "Error details, error code, stack trace", "Validation encounters errors",
		ValidationFailedEvent{DocumentID: "doc_12345", ErrorCode: "PARSE_ERROR", ErrorMessage: "Document could not be parsed",
			ErrorDetails: map[string]any{"page": 3}}),
	eventType(CorrectionApplied, "Changes made, confidence score, before/after", "Corrections are applied to a document",
		CorrectionAppliedEvent{DocumentID: "doc_12345", CorrectionsCount: 1, ConfidenceScore: 0.92,
			Changes: []map[string]any{{"field": "disclaimer", "action": "inserted"}},
			Before:  json.RawMessage(`"Past performance guarantees future results."`),
			After:   json.RawMessage(`"Past performance is not a reliable indicator of future results."`)}),
	eventType(DocumentProcessed, "Processing time, all results, status", "A document is fully processed",
		DocumentProcessedEvent{DocumentID: "doc_12345", Status: "completed", ProcessingTimeMS: 1820.5,
			Results: map[string]any{"validation": "pass", "corrections": 1}}),
	eventType(ComplianceAlert, "Alert level, type, affected documents", "A compliance violation is detected",
		ComplianceAlertEvent{AlertLevel: "critical", AlertType: "gdpr_violation", Message: "Personal data found in document",
			AffectedDocuments: []string{"doc_12345"}, RecommendedActions: []string{"Redact personal data", "Review GDPR compliance"}}),
	eventType(SystemError, "Error code, component, severity", "A system error occurs",
		SystemErrorEvent{ErrorCode: "DB_UNAVAILABLE", Component: "validator", Severity: "high", Message: "Database connection lost"}),
	eventType(BatchCompleted, "Documents processed, success rate", "Batch processing completes",
		BatchCompletedEvent{BatchID: "batch_daily_001", TotalDocuments: 500, ProcessedDocuments: 498, FailedDocuments: 2,
			SuccessRate: 99.6, ProcessingTimeMS: 45230.5,
			ResultsSummary: map[string]any{"compliance_issues": 12, "average_confidence": 0.95, "processed_in": "45.2 seconds"}}),
	eventType(ReportGenerated, "Report type, URL, document count", "A report is generated",
		ReportGeneratedEvent{ReportID: "rep_2024_01", ReportType: "monthly_compliance", ReportURL: "https://loki.example.com/reports/rep_2024_01.pdf",
			DocumentCount: 1250, Format: "pdf"}),
}

// EventTypes lists the catalog in a fixed order.
func EventTypes() []EventType { return slices.Clone(catalog) }

// LookupEventType finds a catalog entry by name.
func LookupEventType(name string) (EventType, bool) {
	for _, t := range catalog {
		if t.Name == name {
			return t, true
		}
	}
	return EventType{}, false
}

// EventTypeNames lists the catalog's names, for error messages.
func EventTypeNames() []string {
	names := make([]string, len(catalog))
	for i, t := range catalog {
		names[i] = t.Name
	}
	return names
}

// ValidatePayload checks an event's payload against its type: a JSON object
// with every required field present and non-empty, each field of its type,
// enums and ranges respected. Fields the type does not name are allowed and
// delivered as sent.
func (t EventType) ValidatePayload(raw json.RawMessage) error {
	var fe FieldErrors
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		fe.Add("payload", "must be a JSON object")
		return fe.Err("payload")
	}
	for i := 0; i < t.payload.NumField(); i++ {
		sf := t.payload.Field(i)
		name := jsonName(sf)
		v, present := obj[name]
		if !present || string(v) == "null" {
			if sf.Tag.Get("required") == "true" {
				fe.Add("payload."+name, "is required")
			}
			continue
		}
		target := reflect.New(sf.Type)
		if err := json.Unmarshal(v, target.Interface()); err != nil {
			fe.Add("payload."+name, "must be %s", article(fieldType(sf.Type)))
			continue
		}
		checkField(&fe, "payload."+name, sf, target.Elem())
	}
	return fe.Err(t.Name + " payload")
}

func checkField(fe *FieldErrors, path string, sf reflect.StructField, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if sf.Tag.Get("required") == "true" && strings.TrimSpace(s) == "" {
			fe.Add(path, "must not be empty")
		}
		if enum := sf.Tag.Get("enum"); enum != "" && !slices.Contains(strings.Split(enum, ","), s) {
			fe.Add(path, "must be one of %s", strings.ReplaceAll(enum, ",", ", "))
		}
	case reflect.Int, reflect.Float64:
		n := v.Convert(reflect.TypeOf(float64(0))).Float()
		if lo, ok := tagFloat(sf, "min"); ok && n < lo {
			fe.Add(path, "must be at least %v", lo)
		}
		if hi, ok := tagFloat(sf, "max"); ok && n > hi {
			fe.Add(path, "must be at most %v", hi)
		}
	}
}

func payloadFields(t reflect.Type) []PayloadField {
	out := make([]PayloadField, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		f := PayloadField{
			Name:        jsonName(sf),
			Type:        fieldType(sf.Type),
			Required:    sf.Tag.Get("required") == "true",
			Description: sf.Tag.Get("doc"),
		}
		if enum := sf.Tag.Get("enum"); enum != "" {
			f.Enum = strings.Split(enum, ",")
		}
		if v, ok := tagFloat(sf, "min"); ok {
			f.Min = &v
		}
		if v, ok := tagFloat(sf, "max"); ok {
			f.Max = &v
		}
		out = append(out, f)
	}
	return out
}

func jsonName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
	return name
}

func tagFloat(sf reflect.StructField, key string) (float64, bool) {
	s, ok := sf.Tag.Lookup(key)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(fmt.Sprintf("bad %s tag on %s: %v", key, sf.Name, err))
	}
	return v, true
}

var rawMessageType = reflect.TypeOf(json.RawMessage{})

func fieldType(t reflect.Type) string {
	if t == rawMessageType {
		return "any"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice:
		return "array"
	case reflect.Map:
		return "object"
	}
	panic(errors.New("unsupported payload field type " + t.String()))
}

func article(typ string) string {
	switch typ {
	case "integer", "array", "object", "any":
		return "an " + typ
	}
	return "a " + typ
}
