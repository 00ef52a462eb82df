package eventtypes_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/webhook"
)

// Each built-in type against the LOKI guide's event table ("Payload" column)
// and its examples: what the LOKI guide writes is accepted under the LOKI guide's
// names, and only what the table names is required.
var payloadCases = []struct {
	eventType, why, payload string
	field                   string // first field refused; "" = valid
}{
	{"validation.completed", "the LOKI guide's Slack example", `{"document_id":"doc_12345","validation_status":"pass","gates_passed":8,"gates_failed":0,"processing_time_ms":523.45}`, ""},
	{"validation.completed", "the document named by source_id only", `{"validation_status":"fail","gates_passed":6,"gates_failed":2}`, ""},
	{"validation.completed", "optional fields may be null", `{"validation_status":"warning","results":null,"document_id":null}`, ""},
	{"validation.completed", "the result is required", `{"gates_passed":8,"gates_failed":0}`, "payload.validation_status"},
	{"validation.completed", "the result is one of pass, fail, warning", `{"validation_status":"ok"}`, "payload.validation_status"},
	{"validation.completed", "gate counts are not negative", `{"validation_status":"pass","gates_passed":-1}`, "payload.gates_passed"},
	{"validation.completed", "gate counts are numbers", `{"validation_status":"pass","gates_passed":"8"}`, "payload.gates_passed"},

	{"validation.failed", "error details, error code, stack trace", `{"error_code":"PARSE_ERROR","error_details":{"page":3},"stack_trace":"at parse()"}`, ""},
	{"validation.failed", "an error message instead of details, no stack trace", `{"document_id":"doc_1","error_code":"E42","error_message":"unreadable","stack_trace":null}`, ""},
	{"validation.failed", "the error code is required", `{"error_message":"unreadable"}`, "payload.error_code"},
	{"validation.failed", "and not blank", `{"error_code":"  "}`, "payload.error_code"},

	{"correction.applied", "changes made, confidence score, before/after", `{"changes":[{"field":"disclaimer","action":"inserted"}],"confidence_score":0.92,"before":"a","after":{"text":"b"}}`, ""},
	{"correction.applied", "the table names nothing Herald required before", `{}`, ""},
	{"correction.applied", "a confidence score is 0 to 1", `{"confidence_score":1.2}`, "payload.confidence_score"},
	{"correction.applied", "changes are a list", `{"changes":{"field":"x"}}`, "payload.changes"},
	{"correction.applied", "of objects", `{"changes":[{"field":"x"},"inserted"]}`, "payload.changes[1]"},

	{"document.processed", "processing time, all results, status", `{"processing_time_ms":1820.5,"results":{"validation":"pass"},"status":"completed"}`, ""},
	{"document.processed", "the status is required", `{"processing_time_ms":1820.5}`, "payload.status"},
	{"document.processed", "and one of completed, failed, partial", `{"status":"done"}`, "payload.status"},

	{"compliance.alert", "the LOKI guide's Example 1", `{"alert_level":"critical","alert_type":"gdpr_violation","message":"Personal data found in document","affected_documents":["doc_12345"],"recommended_actions":["Redact personal data","Review GDPR compliance"]}`, ""},
	{"compliance.alert", "alert level, type, affected documents: no message", `{"alert_level":"high","alert_type":"fca_violation","affected_documents":["doc_001","doc_002"]}`, ""},
	{"compliance.alert", "unknown fields are delivered as sent", `{"alert_level":"low","alert_type":"x","extra":{"kept":true}}`, ""},
	{"compliance.alert", "the level is required", `{"alert_type":"gdpr_violation"}`, "payload.alert_level"},
	{"compliance.alert", "the type is required", `{"alert_level":"low"}`, "payload.alert_type"},
	{"compliance.alert", "the level is one of low, medium, high, critical", `{"alert_level":"severe","alert_type":"x"}`, "payload.alert_level"},
	{"compliance.alert", "affected documents are strings", `{"alert_level":"low","alert_type":"x","affected_documents":["doc_1",2]}`, "payload.affected_documents[1]"},

	{"system.error", "error code, component, severity", `{"error_code":"DB_UNAVAILABLE","component":"validator","severity":"high"}`, ""},
	{"system.error", "the component is required", `{"error_code":"E","severity":"high"}`, "payload.component"},
	{"system.error", "the severity is one of low, medium, high, critical", `{"error_code":"E","component":"c","severity":"fatal"}`, "payload.severity"},

	{"batch.completed", "the LOKI guide's Example 3", `{"batch_id":"batch_daily_001","total_documents":500,"processed_documents":498,"failed_documents":2,"processing_time_ms":45230.5,"results_summary":{"compliance_issues":12}}`, ""},
	{"batch.completed", "documents processed, success rate; the batch named by source_id", `{"processed_documents":498,"success_rate":99.6}`, ""},
	{"batch.completed", "a success rate is a percentage", `{"success_rate":101}`, "payload.success_rate"},
	{"batch.completed", "document counts are whole", `{"total_documents":1.5}`, "payload.total_documents"},

	{"report.generated", "report type, URL, document count, in the LOKI guide's words", `{"report_type":"monthly_compliance","url":"https://loki.example.com/r.pdf","document_count":1250}`, ""},
	{"report.generated", "the URL under Herald's name", `{"report_type":"monthly_compliance","report_url":"https://loki.example.com/r.pdf"}`, ""},
	{"report.generated", "no report id needed", `{"report_type":"monthly","report_url":"https://x","report_id":null}`, ""},
	{"report.generated", "the URL is required under one name or the other", `{"report_type":"monthly","document_count":3}`, "payload.report_url"},
	{"report.generated", "and not blank", `{"report_type":"monthly","url":""}`, "payload.url"},
	{"report.generated", "the report type is required", `{"url":"https://x"}`, "payload.report_type"},
	{"report.generated", "a document count is not negative", `{"report_type":"m","url":"https://x","document_count":-1}`, "payload.document_count"},
}

func TestBuiltinPayloads(t *testing.T) {
	for _, tt := range payloadCases {
		t.Run(tt.eventType+" "+tt.why, func(t *testing.T) {
			et, ok := eventtypes.Lookup(tt.eventType)
			if !ok {
				t.Fatalf("no event type %s", tt.eventType)
			}
			err := et.ValidatePayload(json.RawMessage(tt.payload))
			if got := firstField(err); got != tt.field {
				t.Fatalf("field %q, want %q (%v)", got, tt.field, err)
			}
			// The schema served is the one applied: a receiver or a
			// publisher validating with it agrees with Herald.
			if valid := independentlyValid(t, et.Schema, tt.payload); valid != (tt.field == "") {
				t.Fatalf("the served schema says valid=%v", valid)
			}
		})
	}
}

func independentlyValid(t *testing.T, schema json.RawMessage, payload string) bool {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(schema)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := jsonschema.UnmarshalJSON(strings.NewReader(payload))
	return sch.Validate(v) == nil
}

// What each type requires: the LOKI guide's table, no more.
func TestBuiltinSchemasRequire(t *testing.T) {
	want := map[string][]string{
		"validation.completed": {"validation_status"},
		"validation.failed":    {"error_code"},
		"correction.applied":   {},
		"document.processed":   {"status"},
		"compliance.alert":     {"alert_level", "alert_type"},
		"system.error":         {"error_code", "component", "severity"},
		"batch.completed":      {},
		"report.generated":     {"report_type", "report_url"},
	}
	for _, et := range eventtypes.All() {
		var doc struct {
			Schema   string   `json:"$schema"`
			ID       string   `json:"$id"`
			Type     string   `json:"type"`
			Required []string `json:"required"`
			Examples []json.RawMessage
		}
		if err := json.Unmarshal(et.Schema, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Schema != eventtypes.SchemaDialect || doc.ID != eventtypes.SchemaID(et.Name) || doc.Type != "object" || len(doc.Examples) != 1 {
			t.Errorf("%s: schema header %+v", et.Name, doc)
		}
		var required []string
		for _, f := range et.Fields {
			if f.Required {
				required = append(required, f.Name)
			}
		}
		if !slices.Equal(required, want[et.Name]) && len(required)+len(want[et.Name]) > 0 {
			t.Errorf("%s requires %v, want %v", et.Name, required, want[et.Name])
		}
		if fe := eventtypes.CheckSchema("schema", et.Schema); fe != nil {
			t.Errorf("%s: its schema does not compile on its own: %v", et.Name, fe)
		}
	}
}

func TestPayloadErrorMessages(t *testing.T) {
	tests := []struct {
		eventType, payload, field, message string
	}{
		{"report.generated", `{"report_type":"m"}`, "payload.report_url", "is required (as report_url or url)"},
		{"compliance.alert", `{"alert_type":"x"}`, "payload.alert_level", "is required"},
		{"compliance.alert", `{"alert_level":null,"alert_type":"x"}`, "payload.alert_level", "must not be null: it must be a string"},
		{"compliance.alert", `{"alert_level":"severe","alert_type":"x"}`, "payload.alert_level", "must be one of low, medium, high, critical"},
		{"compliance.alert", `{"alert_level":"low","alert_type":" "}`, "payload.alert_type", "must not be empty"},
		{"compliance.alert", `{"alert_level":"low","alert_type":"x","message":5}`, "payload.message", "must be a string or null"},
		{"correction.applied", `{"confidence_score":1.5}`, "payload.confidence_score", "must be at most 1"},
		{"batch.completed", `{"failed_documents":-2}`, "payload.failed_documents", "must be at least 0"},
		{"system.error", `[]`, "payload", "must be a JSON object"},
		{"batch.completed", `{"failed_documents":1e999999}`, "payload.failed_documents", "number out of range: at most 1000 characters and an exponent within ±400"},
		{"system.error", `{"error_type":"x","details":{"n":[0,-2E+401]}}`, "payload.details.n[1]", "number out of range: at most 1000 characters and an exponent within ±400"},
	}
	for _, tt := range tests {
		et, _ := eventtypes.Lookup(tt.eventType)
		err := et.ValidatePayload(json.RawMessage(tt.payload))
		var herr *webhook.Error
		if !errors.As(err, &herr) || herr.Code != webhook.EValidation {
			t.Fatalf("%s %s: %v", tt.eventType, tt.payload, err)
		}
		if first := herr.Details.([]webhook.FieldError)[0]; first.Field != tt.field || first.Message != tt.message {
			t.Errorf("%s %s: %+v, want %s: %s", tt.eventType, tt.payload, first, tt.field, tt.message)
		}
	}
}

func TestFieldsShowAliases(t *testing.T) {
	et, _ := eventtypes.Lookup(webhook.ReportGenerated)
	i := slices.IndexFunc(et.Fields, func(f eventtypes.Field) bool { return f.Name == "report_url" })
	if i < 0 || !et.Fields[i].Required || !slices.Equal(et.Fields[i].Aliases, []string{"url"}) {
		t.Fatalf("report_url field: %+v", et.Fields)
	}
}

func TestCheckSchemaNamesThePlace(t *testing.T) {
	tests := []struct{ schema, field string }{
		{`{"type":"object","properties":{"amount":{"minimum":"zero"}}}`, "schema.properties.amount.minimum"},
		{`{"type":"object","properties":{"amount":{"minimum":1e999999}}}`, "schema.properties.amount.minimum"},
		{`{"type":"objekt"}`, "schema.type"},
		{`{"type":"object","required":"order_id"}`, "schema.required"},
		{`{"type":"object","properties":{"a":{"pattern":"("}}}`, "schema.properties.a.pattern"},
		{`{"type":"object","allOf":[{"type":"object"},{"minProperties":-1}]}`, "schema.allOf[1].minProperties"},
		{`{"$ref":"#/$defs/missing"}`, "schema"},
		{`{"$ref":"file:///etc/passwd"}`, "schema"},
		{`{"$ref":"https://example.com/schema.json"}`, "schema"},
		{`{"type":"object","properties":{"order_id":{"type":"string"}}}`, ""},
	}
	for _, tt := range tests {
		fe := eventtypes.CheckSchema("schema", json.RawMessage(tt.schema))
		got := ""
		if len(fe) > 0 {
			got = fe[0].Field
		}
		if got != tt.field {
			t.Errorf("%s: field %q, want %q (%v)", tt.schema, got, tt.field, fe)
		}
	}
	// A $ref is never fetched: the message says so rather than what a file holds.
	fe := eventtypes.CheckSchema("schema", json.RawMessage(`{"$ref":"file:///etc/passwd"}`))
	if !strings.Contains(fe[0].Message, "does not fetch") {
		t.Fatalf("message %q", fe[0].Message)
	}
}

func TestURLPolicyKnowsItsEventTypes(t *testing.T) {
	var fe webhook.FieldErrors
	webhook.URLPolicy{}.CheckEventTypes(&fe, "event_types", []string{"billing.invoice_paid"})
	if len(fe) != 1 {
		t.Fatalf("a custom type passed the built-in eight: %v", fe)
	}
	fe = nil
	p := webhook.URLPolicy{EventTypes: oneMore{"billing.invoice_paid"}}
	p.CheckEventTypes(&fe, "event_types", []string{"billing.invoice_paid", "compliance.alert", "*"})
	if len(fe) != 0 {
		t.Fatalf("refused: %v", fe)
	}
}

// The webhook package checks subscriptions against the eight names it
// knows without the catalog: they are the catalog's.
func TestCatalogIsTheBuiltinEight(t *testing.T) {
	var fe webhook.FieldErrors
	webhook.URLPolicy{}.CheckEventTypes(&fe, "event_types", eventtypes.Names())
	if len(fe) != 0 {
		t.Fatalf("a catalog type the webhook package does not know: %v", fe)
	}
	if got := (webhook.URLPolicy{}).KnownEventTypes().Names(); !slices.Equal(got, eventtypes.Names()) {
		t.Fatalf("webhook knows %v, the catalog holds %v", got, eventtypes.Names())
	}
}

// oneMore is the built-in catalog and one custom type.
type oneMore struct{ name string }

func (o oneMore) Has(name string) bool { return name == o.name || eventtypes.Builtin.Has(name) }

func (o oneMore) Names() []string { return append(eventtypes.Builtin.Names(), o.name) }

func TestEventCatalog(t *testing.T) {
	types := eventtypes.All()
	if len(types) != 8 {
		t.Fatalf("%d event types, want 8", len(types))
	}
	for _, et := range types {
		if err := et.ValidatePayload(et.Example); err != nil {
			t.Errorf("%s: its own example is invalid: %v", et.Name, err)
		}
		if len(et.Fields) == 0 || et.Description == "" {
			t.Errorf("%s: undocumented", et.Name)
		}
	}
}

func TestValidatePayload(t *testing.T) {
	tests := []struct {
		eventType string
		payload   string
		field     string
	}{
		{"compliance.alert", `{"alert_level":"critical","alert_type":"gdpr_violation","message":"m","affected_documents":["d"],"recommended_actions":[]}`, ""},
		{"compliance.alert", `{"alert_level":"critical","alert_type":"gdpr","message":"m","extra":{"kept":true}}`, ""},
		{"compliance.alert", `{"alert_type":"gdpr","message":"m"}`, "payload.alert_level"},
		{"compliance.alert", `{"alert_level":"apocalyptic","alert_type":"gdpr","message":"m"}`, "payload.alert_level"},
		{"compliance.alert", `{"alert_level":"low","alert_type":"","message":"m"}`, "payload.alert_type"},
		{"compliance.alert", `{"alert_level":"low","alert_type":"x","message":"m","affected_documents":"doc_1"}`, "payload.affected_documents"},
		{"compliance.alert", `{"alert_level":null,"alert_type":"x","message":"m"}`, "payload.alert_level"},
		{"compliance.alert", `[1,2]`, "payload"},
		{"compliance.alert", `"text"`, "payload"},
		{"batch.completed", `{"batch_id":"b","total_documents":500,"processed_documents":498,"failed_documents":2,"processing_time_ms":45230.5}`, ""},
		{"batch.completed", `{"batch_id":"b","total_documents":-1}`, "payload.total_documents"},
		{"batch.completed", `{"batch_id":"b","total_documents":1.5}`, "payload.total_documents"},
		{"batch.completed", `{"batch_id":"b","success_rate":101}`, "payload.success_rate"},
		{"correction.applied", `{"document_id":"d","confidence_score":1.2}`, "payload.confidence_score"},
		{"correction.applied", `{"document_id":"d","before":{"any":"shape"},"after":"text"}`, ""},
		{"validation.completed", `{"document_id":"d","validation_status":"pass","gates_passed":"8"}`, "payload.gates_passed"},
		{"system.error", `{"error_code":"E","component":"c","severity":"high"}`, ""},
		// The LOKI guide names a report's type, URL and document count, not its
		// id: report_id is optional (payloadCases has each type).
		{"report.generated", `{"report_type":"monthly","report_url":"https://x"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.eventType+" "+tt.payload, func(t *testing.T) {
			et, ok := eventtypes.Lookup(tt.eventType)
			if !ok {
				t.Fatalf("no event type %s", tt.eventType)
			}
			if got := firstField(et.ValidatePayload(json.RawMessage(tt.payload))); got != tt.field {
				t.Fatalf("field %q, want %q", got, tt.field)
			}
		})
	}
}

// firstField is the field a validation error names first, or "".
func firstField(err error) string {
	if f := fieldsOf(err); len(f) > 0 {
		return f[0]
	}
	if err != nil {
		return "unexpected: " + err.Error()
	}
	return ""
}
