package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/webhook"
)

const invoiceType = `{"description":"An invoice is paid","schema":{"type":"object","required":["invoice_id","amount"],
	"properties":{"invoice_id":{"type":"string"},"amount":{"type":"number","minimum":0},"lines":{"type":"array","items":{"$ref":"#/$defs/line"}}},
	"$defs":{"line":{"type":"object","required":["sku"]}}},
	"example":{"invoice_id":"inv_1","amount":120.5}}`

// wantError checks an error answer: its status, code and first field.
func (r response) wantError(t *testing.T, status int, code, field string) {
	t.Helper()
	gotCode, gotField := r.errCode()
	if r.status != status || gotCode != code || gotField != field {
		t.Fatalf("got %d %s field %q, want %d %s field %q: %s", r.status, gotCode, gotField, status, code, field, r.raw)
	}
}

func TestEventTypeSchemaEndpoint(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/api/v1/event-types/report.generated/schema", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/schema+json" || r.body["$id"] != "urn:herald:event-type:report.generated" {
		t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	// It is a schema a client can use as it is: the LOKI guide's own report
	// passes it, one without a URL does not.
	sch := compile(t, r.raw)
	for payload, valid := range map[string]bool{
		`{"report_type":"monthly_compliance","url":"https://loki.example.com/r.pdf","document_count":1250}`: true,
		`{"report_type":"monthly_compliance","document_count":1250}`:                                        false,
	} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(payload))
		if (sch.Validate(v) == nil) != valid {
			t.Errorf("%s: valid should be %v", payload, valid)
		}
	}
	one := f.do("GET", "/api/v1/event-types/report.generated", "")
	if one.status != 200 || one.body["schema_url"] != "/api/v1/event-types/report.generated/schema" || one.body["builtin"] != true {
		t.Fatalf("entry: %s", one.raw)
	}
	f.do("GET", "/api/v1/event-types/report.made/schema", "").wantError(t, 404, "not_found", "")
	f.do("GET", "/api/v1/event-types/report.made", "").wantError(t, 404, "not_found", "")
}

func compile(t *testing.T, doc string) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AddResource("served.json", v)
	sch, err := c.Compile("served.json")
	if err != nil {
		t.Fatalf("the served schema does not compile: %v", err)
	}
	return sch
}

func TestDefineCustomEventType(t *testing.T) {
	f := newFixture(t)
	writer := mustKey(t, f.store, "writer", apikey.Write)
	f.doAs(writer, "PUT", "/api/v1/event-types/billing.invoice_paid", invoiceType).wantError(t, 403, "forbidden", "")
	r := f.do("PUT", "/api/v1/event-types/billing.invoice_paid", invoiceType)
	if r.status != 201 || r.body["event_type"] != "billing.invoice_paid" || r.body["builtin"] != false ||
		r.body["schema_url"] != "/api/v1/event-types/billing.invoice_paid/schema" || len(r.body["fields"].([]any)) != 3 {
		t.Fatalf("define: %d %s", r.status, r.raw)
	}
	if r := f.do("PUT", "/api/v1/event-types/billing.invoice_paid", invoiceType); r.status != 200 {
		t.Fatalf("redefine: %d %s", r.status, r.raw)
	}
	list := f.do("GET", "/api/v1/event-types", "")
	types := list.body["event_types"].([]any)
	if len(types) != 9 || types[8].(map[string]any)["event_type"] != "billing.invoice_paid" || types[0].(map[string]any)["event_type"] != "validation.completed" {
		t.Fatalf("list: %s", list.raw)
	}
	// The schema is served as written (with its own $defs), and is usable.
	served := f.do("GET", "/api/v1/event-types/billing.invoice_paid/schema", "")
	if served.status != 200 || !strings.Contains(served.raw, `"$defs":{"line"`) {
		t.Fatalf("schema: %s", served.raw)
	}
	compile(t, served.raw)

	// Refused definitions say where.
	for _, tt := range []struct{ path, body, field string }{
		{"/api/v1/event-types/billing.invoice_paid", `{"description":"d","schema":{"type":"object","properties":{"amount":{"minimum":"0"}}}}`, "schema.properties.amount.minimum"},
		{"/api/v1/event-types/billing.invoice_paid", `{"description":"d","schema":{"type":"array"}}`, "schema.type"},
		{"/api/v1/event-types/billing.invoice_paid", `{"description":"d","schema":{"type":"object","$ref":"https://example.com/s.json"}}`, "schema"},
		{"/api/v1/event-types/billing.invoice_paid", `{"description":"d","schema":{"type":"object","required":["a"]},"example":{"b":1}}`, "example.a"},
		{"/api/v1/event-types/Billing", `{"description":"d","schema":{"type":"object"}}`, "event_type"},
		{"/api/v1/event-types/herald.internal", `{"description":"d","schema":{"type":"object"}}`, "event_type"},
		{"/api/v1/event-types/billing.refund", `{"schema":{"type":"object"}}`, "description"},
	} {
		f.do("PUT", tt.path, tt.body).wantError(t, 422, "validation_failed", tt.field)
	}
	f.do("PUT", "/api/v1/event-types/billing.refund", `{"description":"d","schema":{"type":"object"},"extra":1}`).wantError(t, 400, "invalid_request", "")
	// The refused redefinition left the type as it was.
	if got := f.do("GET", "/api/v1/event-types/billing.invoice_paid/schema", ""); got.raw != served.raw {
		t.Fatalf("changed by a refused definition: %s", got.raw)
	}
}

func TestPublishCustomEventType(t *testing.T) {
	f := newFixture(t)
	f.do("PUT", "/api/v1/event-types/billing.invoice_paid", invoiceType)
	// Valid: it passes validation and reaches Temporal, which this fixture
	// does not have (503). Invalid: 422 naming the field.
	r := f.do("POST", "/api/v1/events", `{"event_type":"billing.invoice_paid","payload":{"invoice_id":"inv_1","amount":12.5}}`)
	r.wantError(t, 503, "unavailable", "")
	f.do("POST", "/api/v1/events", `{"event_type":"billing.invoice_paid","payload":{"invoice_id":"inv_1"}}`).
		wantError(t, 422, "validation_failed", "payload.amount")
	f.do("POST", "/api/v1/events", `{"event_type":"billing.invoice_paid","payload":{"invoice_id":"inv_1","amount":1,"lines":[{"sku":"a"},{}]}}`).
		wantError(t, 422, "validation_failed", "payload.lines[1].sku")
	f.do("POST", "/api/v1/events/batch", `{"events":[{"event_type":"billing.invoice_paid","payload":{"invoice_id":"i","amount":-1}}]}`).
		wantError(t, 422, "validation_failed", "events[0].payload.amount")
	f.do("POST", "/api/v1/events", `{"event_type":"billing.invoice_void","payload":{}}`).wantError(t, 422, "validation_failed", "event_type")
	for _, path := range []string{"/api/v1/events?event_type=billing.invoice_paid", "/api/v1/analytics?event_type=billing.invoice_paid"} {
		if r := f.do("GET", path, ""); r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
	}
	f.do("GET", "/api/v1/events?event_type=billing.invoice_void", "").wantError(t, 400, "invalid_request", "")
}

func TestSubscribeToCustomEventType(t *testing.T) {
	f := newFixture(t)
	hook := `{"name":"billing","url":"https://example.com/billing","event_types":["billing.invoice_paid","compliance.alert"]}`
	f.do("POST", "/api/v1/webhooks", hook).wantError(t, 422, "validation_failed", "event_types")
	f.do("PUT", "/api/v1/event-types/billing.invoice_paid", invoiceType)
	created := f.mustCreate(hook)
	if fmt.Sprint(created["event_types"]) != "[billing.invoice_paid compliance.alert]" {
		t.Fatalf("subscriptions: %v", created["event_types"])
	}
	// Integrations too: a subscription, and an email's recipients by type.
	f.mustIntegration(validSlack)
	if r := f.do("POST", "/api/v1/integrations/Slack%20Alerts/subscribe/billing.invoice_paid", ""); r.status != 200 ||
		!strings.Contains(r.raw, "billing.invoice_paid") {
		t.Fatalf("subscribe: %d %s", r.status, r.raw)
	}
	f.do("POST", "/api/v1/integrations/Slack%20Alerts/subscribe/billing.nothing", "").wantError(t, 422, "validation_failed", "event_type")
	email := strings.Replace(validEmail, `"default_recipients":["compliance@company.com"]`,
		`"default_recipients":["compliance@company.com"],"event_recipients":{"billing.invoice_paid":["billing@company.com"]}`, 1)
	f.mustIntegration(email)

	// A type subscribed to cannot be deleted out from under its subscribers.
	r := f.do("DELETE", "/api/v1/event-types/billing.invoice_paid", "")
	r.wantError(t, 409, "conflict", "")
	if !strings.Contains(r.raw, "billing") || !strings.Contains(r.raw, "Slack Alerts") {
		t.Fatalf("conflict does not name the subscribers: %s", r.raw)
	}
	f.do("DELETE", fmt.Sprintf("/api/v1/webhooks/%v", created["id"]), "")
	f.do("DELETE", "/api/v1/integrations/Slack%20Alerts/subscribe/billing.invoice_paid", "")
	if r := f.do("DELETE", "/api/v1/event-types/billing.invoice_paid", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	f.do("GET", "/api/v1/event-types/billing.invoice_paid/schema", "").wantError(t, 404, "not_found", "")
	f.do("DELETE", "/api/v1/event-types/billing.invoice_paid", "").wantError(t, 404, "not_found", "")
	f.do("POST", "/api/v1/webhooks", hook).wantError(t, 422, "validation_failed", "event_types")
}

// A test delivery of a custom type carries its example.
func TestTestDeliveryOfCustomEventType(t *testing.T) {
	f := newFixture(t)
	bodies := make(chan []byte, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	defer recv.Close()
	f.do("PUT", "/api/v1/event-types/billing.invoice_paid", invoiceType)
	created := f.mustCreate(`{"name":"local","url":"` + recv.URL + `/hook","event_types":["billing.invoice_paid"]}`)
	r := f.do("POST", fmt.Sprintf("/api/v1/webhooks/%v/test", created["id"]), "")
	if r.status != 200 || r.body["success"] != true || r.body["event_type"] != "billing.invoice_paid" {
		t.Fatalf("test: %d %s", r.status, r.raw)
	}
	var env webhook.Envelope
	json.Unmarshal(<-bodies, &env)
	if env.EventType != "billing.invoice_paid" || string(env.Data) != `{"invoice_id":"inv_1","amount":120.5}` {
		t.Fatalf("delivered %+v", env)
	}
}

// An extension adds to a built-in type; deleting it restores the built-in
// schema. The LOKI guide's requirements hold throughout.
func TestExtendBuiltinEventType(t *testing.T) {
	f := newFixture(t)
	const ext = `{"description":"Alerts name their tenant","schema":{"required":["tenant_id"],"properties":{"tenant_id":{"type":"string"}}}}`
	f.do("DELETE", "/api/v1/event-types/compliance.alert", "").wantError(t, 404, "not_found", "")
	if r := f.do("PUT", "/api/v1/event-types/compliance.alert", ext); r.status != 201 || r.body["builtin"] != true || r.body["extended"] != true {
		t.Fatalf("extend: %d %s", r.status, r.raw)
	}
	alert := `{"event_type":"compliance.alert","payload":{"alert_level":"high","alert_type":"gdpr_violation"}}`
	f.do("POST", "/api/v1/events", alert).wantError(t, 422, "validation_failed", "payload.tenant_id")
	f.do("POST", "/api/v1/events", `{"event_type":"compliance.alert","payload":{"alert_type":"gdpr","tenant_id":"t1"}}`).
		wantError(t, 422, "validation_failed", "payload.alert_level")
	f.do("POST", "/api/v1/events", `{"event_type":"compliance.alert","payload":{"alert_level":"high","alert_type":"gdpr","tenant_id":"t1"}}`).
		wantError(t, 503, "unavailable", "")
	served := f.do("GET", "/api/v1/event-types/compliance.alert/schema", "")
	if !strings.Contains(served.raw, `"allOf":[{"$ref":"#/$defs/builtin"},{"$ref":"#/$defs/extension"}]`) {
		t.Fatalf("served: %s", served.raw)
	}
	compile(t, served.raw)
	if r := f.do("DELETE", "/api/v1/event-types/compliance.alert", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	f.do("POST", "/api/v1/events", alert).wantError(t, 503, "unavailable", "")
	if r := f.do("GET", "/api/v1/event-types/compliance.alert", ""); r.body["extended"] != false {
		t.Fatalf("still extended: %s", r.raw)
	}
}

// Two API processes over one database: a type defined through one is
// known to the other within its TTL.
func TestEventTypesReachOtherProcesses(t *testing.T) {
	f := newFixture(t)
	tc, err := client.NewLazyClient(client.Options{HostPort: closedAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	other := api.New(api.Config{URLPolicy: webhook.URLPolicy{Addresses: netguard.Policy{Allow: netguard.Loopback}},
		StartTimeout: 300 * time.Millisecond, EventTypeTTL: 100 * time.Millisecond}, f.store, tc, delivery.NewSender(delivery.Options{}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go other.Serve(ln)
	t.Cleanup(func() { other.Shutdown(context.Background()) })
	g := &fixture{t: t, base: "http://" + ln.Addr().String(), store: f.store, key: f.key, srv: other}

	event := `{"event_type":"billing.invoice_paid","payload":{"invoice_id":"i","amount":1}}`
	g.do("POST", "/api/v1/events", event).wantError(t, 422, "validation_failed", "event_type")
	f.do("PUT", "/api/v1/event-types/billing.invoice_paid", invoiceType)
	deadline := time.Now().Add(5 * time.Second)
	for g.do("POST", "/api/v1/events", event).status == 422 {
		if time.Now().After(deadline) {
			t.Fatal("the other process never learnt the type")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
