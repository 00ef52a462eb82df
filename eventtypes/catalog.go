package eventtypes

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// Payload structs: the typed shape of each event type's data. Tags say which
// fields are required, their allowed values and ranges, other names they
// are accepted under, and document them; each type's JSON Schema (what
// payloads are validated against, and what GET /event-types/{type}/schema
// serves) is generated from these tags.
//
// A field is required only where the LOKI guide's event table names it (its
// "Payload" column) and Herald required it before: an event written from
// the LOKI guide is accepted, and so is every event accepted before. Fields the
// LOKI guide shows under another name are accepted under that name too (alias).

type ValidationCompletedEvent struct {
	DocumentID       string         `json:"document_id" doc:"Document that was validated (the event's source_id may name it instead)"`
	ValidationStatus string         `json:"validation_status" required:"true" enum:"pass,fail,warning" doc:"Overall result: the LOKI guide's validation results"`
	GatesPassed      int            `json:"gates_passed" min:"0" doc:"Validation gates passed"`
	GatesFailed      int            `json:"gates_failed" min:"0" doc:"Validation gates failed"`
	ProcessingTimeMS float64        `json:"processing_time_ms" min:"0" doc:"Validation time in milliseconds"`
	Results          map[string]any `json:"results" doc:"Per-gate results"`
}

type ValidationFailedEvent struct {
	DocumentID   string         `json:"document_id" doc:"Document whose validation failed (the event's source_id may name it instead)"`
	ErrorCode    string         `json:"error_code" required:"true" doc:"Machine-readable error code"`
	ErrorMessage string         `json:"error_message" doc:"What went wrong"`
	StackTrace   string         `json:"stack_trace" doc:"Stack trace, when one exists"`
	ErrorDetails map[string]any `json:"error_details" doc:"Further details"`
}

type CorrectionAppliedEvent struct {
	DocumentID       string           `json:"document_id" doc:"Corrected document (the event's source_id may name it instead)"`
	Changes          []map[string]any `json:"changes" doc:"Changes made, one object per change"`
	CorrectionsCount int              `json:"corrections_count" min:"0" doc:"Number of corrections"`
	ConfidenceScore  float64          `json:"confidence_score" min:"0" max:"1" doc:"Confidence in the corrections, 0 to 1"`
	Before           json.RawMessage  `json:"before" doc:"Content before correction"`
	After            json.RawMessage  `json:"after" doc:"Content after correction"`
}

type DocumentProcessedEvent struct {
	DocumentID       string         `json:"document_id" doc:"Processed document (the event's source_id may name it instead)"`
	Status           string         `json:"status" required:"true" enum:"completed,failed,partial" doc:"Final processing status"`
	ProcessingTimeMS float64        `json:"processing_time_ms" min:"0" doc:"Total processing time in milliseconds"`
	Results          map[string]any `json:"results" doc:"All results"`
}

type ComplianceAlertEvent struct {
	AlertLevel         string   `json:"alert_level" required:"true" enum:"low,medium,high,critical" doc:"Severity"`
	AlertType          string   `json:"alert_type" required:"true" doc:"Kind of violation, e.g. gdpr_violation"`
	Message            string   `json:"message" doc:"Human-readable description"`
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
	BatchID            string         `json:"batch_id" doc:"Batch identifier (the event's source_id may name it instead)"`
	TotalDocuments     int            `json:"total_documents" min:"0" doc:"Documents in the batch"`
	ProcessedDocuments int            `json:"processed_documents" min:"0" doc:"Documents processed successfully"`
	FailedDocuments    int            `json:"failed_documents" min:"0" doc:"Documents that failed"`
	SuccessRate        float64        `json:"success_rate" min:"0" max:"100" doc:"Percentage processed successfully"`
	ProcessingTimeMS   float64        `json:"processing_time_ms" min:"0" doc:"Batch processing time in milliseconds"`
	ResultsSummary     map[string]any `json:"results_summary" doc:"Summary of results"`
}

type ReportGeneratedEvent struct {
	ReportID      string `json:"report_id" doc:"Report identifier"`
	ReportType    string `json:"report_type" required:"true" doc:"Kind of report"`
	ReportURL     string `json:"report_url" required:"true" alias:"url" doc:"Where to download it"`
	DocumentCount int    `json:"document_count" min:"0" doc:"Documents covered"`
	Format        string `json:"format" doc:"File format, e.g. pdf"`
}

// Type describes one event type: its catalog entry, and the JSON
// Schema its payloads are validated against.
type Type struct {
	Name          string `json:"event_type"`
	Description   string `json:"description"`
	TriggeredWhen string `json:"triggered_when,omitempty"`
	// Builtin types ship with Herald; the others are an operator's.
	Builtin bool `json:"builtin"`
	// Extended is a built-in type whose schema an operator extended.
	Extended bool            `json:"extended"`
	Fields   []Field         `json:"fields"`
	Example  json.RawMessage `json:"example"`
	// Schema is the JSON Schema document payloads are validated against.
	Schema json.RawMessage `json:"-"`
	// UpdatedAt is when an operator last defined or extended the type.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`

	validator *jsonschema.Schema
}

// Field documents one top-level field of an event type's payload.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
	// Aliases are other names the field is accepted under (the LOKI guide's);
	// a required field may be sent under any one of its names.
	Aliases     []string `json:"aliases,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Min         *float64 `json:"min,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	Description string   `json:"description"`
}

// Def is an operator's definition, kept in the database: a custom
// event type, or, under a built-in type's name, an extension of its schema.
type Def struct {
	Name        string          `json:"event_type"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     json.RawMessage `json:"example,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Set is the event types that exist: the built-in catalog (Builtin), or
// a Registry that adds the operator's own.
type Set interface {
	Lookup(name string) (Type, bool)
	Has(name string) bool
	Names() []string
}

// Builtin is the built-in catalog as a Set.
var Builtin Set = builtinSet{}

type builtinSet struct{}

func (builtinSet) Lookup(name string) (Type, bool) { return Lookup(name) }
func (builtinSet) Has(name string) bool            { _, ok := Lookup(name); return ok }
func (builtinSet) Names() []string                 { return Names() }

func eventType(name, desc, when string, example any) Type {
	ex, err := json.Marshal(example)
	if err != nil {
		panic(err)
	}
	t := reflect.TypeOf(example)
	et := Type{Name: name, Description: desc, TriggeredWhen: when, Builtin: true, Fields: payloadFields(t), Example: ex}
	et.Schema = builtinSchema(et, t)
	if et, err = et.WithSchema(et.Schema); err != nil {
		panic(fmt.Sprintf("built-in schema of %s: %v", name, err))
	}
	return et
}

var catalog = []Type{
	eventType(webhook.ValidationCompleted, "Validation results, gates passed and failed", "Document validation finishes",
		ValidationCompletedEvent{DocumentID: "doc_12345", ValidationStatus: "pass", GatesPassed: 8, GatesFailed: 0, ProcessingTimeMS: 523.45,
			Results: map[string]any{"gdpr": "pass", "fca": "pass"}}),
	eventType(webhook.ValidationFailed, "Error details, error code, stack trace", "Validation encounters errors",
		ValidationFailedEvent{DocumentID: "doc_12345", ErrorCode: "PARSE_ERROR", ErrorMessage: "Document could not be parsed",
			ErrorDetails: map[string]any{"page": 3}}),
	eventType(webhook.CorrectionApplied, "Changes made, confidence score, before/after", "Corrections are applied to a document",
		CorrectionAppliedEvent{DocumentID: "doc_12345", CorrectionsCount: 1, ConfidenceScore: 0.92,
			Changes: []map[string]any{{"field": "disclaimer", "action": "inserted"}},
			Before:  json.RawMessage(`"Past performance guarantees future results."`),
			After:   json.RawMessage(`"Past performance is not a reliable indicator of future results."`)}),
	eventType(webhook.DocumentProcessed, "Processing time, all results, status", "A document is fully processed",
		DocumentProcessedEvent{DocumentID: "doc_12345", Status: "completed", ProcessingTimeMS: 1820.5,
			Results: map[string]any{"validation": "pass", "corrections": 1}}),
	eventType(webhook.ComplianceAlert, "Alert level, type, affected documents", "A compliance violation is detected",
		ComplianceAlertEvent{AlertLevel: "critical", AlertType: "gdpr_violation", Message: "Personal data found in document",
			AffectedDocuments: []string{"doc_12345"}, RecommendedActions: []string{"Redact personal data", "Review GDPR compliance"}}),
	eventType(webhook.SystemError, "Error code, component, severity", "A system error occurs",
		SystemErrorEvent{ErrorCode: "DB_UNAVAILABLE", Component: "validator", Severity: "high", Message: "Database connection lost"}),
	eventType(webhook.BatchCompleted, "Documents processed, success rate", "Batch processing completes",
		BatchCompletedEvent{BatchID: "batch_daily_001", TotalDocuments: 500, ProcessedDocuments: 498, FailedDocuments: 2,
			SuccessRate: 99.6, ProcessingTimeMS: 45230.5,
			ResultsSummary: map[string]any{"compliance_issues": 12, "average_confidence": 0.95, "processed_in": "45.2 seconds"}}),
	eventType(webhook.ReportGenerated, "Report type, URL, document count", "A report is generated",
		ReportGeneratedEvent{ReportID: "rep_2024_01", ReportType: "monthly_compliance", ReportURL: "https://loki.example.com/reports/rep_2024_01.pdf",
			DocumentCount: 1250, Format: "pdf"}),
}

// All lists the built-in catalog in a fixed order.
func All() []Type { return slices.Clone(catalog) }

// Lookup finds a built-in type by name. Code that must also know
// an operator's custom types asks an EventTypeSet instead.
func Lookup(name string) (Type, bool) {
	for _, t := range catalog {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// Names lists the built-in names, for error messages.
func Names() []string {
	names := make([]string, len(catalog))
	for i, t := range catalog {
		names[i] = t.Name
	}
	return names
}

// ValidatePayload checks an event's payload against its type's JSON
// Schema. Each problem is a field error named by its path in the event
// (payload.alert_level, payload.changes[0].field). Fields the schema does
// not name are allowed and delivered as sent, unless an operator's schema
// says otherwise.
func (t Type) ValidatePayload(raw json.RawMessage) error {
	return t.CheckJSON("payload", raw).Err(t.Name + " payload")
}

// CheckJSON validates a JSON object against the type's schema, naming the
// fields it finds wrong under field (payload, example).
func (t Type) CheckJSON(field string, raw json.RawMessage) webhook.FieldErrors {
	var fe webhook.FieldErrors
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(raw)))
	if _, isObject := v.(map[string]any); err != nil || !isObject {
		fe.Add(field, "must be a JSON object")
		return fe
	}
	if payload.RefuseWildNumbers(&fe, field, v) {
		return fe
	}
	if t.validator == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if errors.As(t.validator.Validate(v), &verr) {
		collect(&fe, field, v, verr)
		sortFieldErrors(fe)
	}
	return fe
}

// WithSchema returns the type validating against doc, a JSON Schema
// document; doc must compile (see CheckSchema for an operator's).
func (t Type) WithSchema(doc json.RawMessage) (Type, error) {
	sch, err := compileSchema(SchemaID(t.Name), doc)
	if err != nil {
		return t, err
	}
	t.Schema, t.validator = doc, sch
	return t, nil
}

func payloadFields(t reflect.Type) []Field {
	out := make([]Field, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		f := Field{
			Name:        jsonName(sf),
			Type:        fieldType(sf.Type),
			Required:    sf.Tag.Get("required") == "true",
			Description: sf.Tag.Get("doc"),
		}
		if alias := sf.Tag.Get("alias"); alias != "" {
			f.Aliases = strings.Split(alias, ",")
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
