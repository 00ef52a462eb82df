package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/loki-interceptor/herald/store"
)

const slackToken = "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXX"

const validSlack = `{"name":"Slack Alerts","integration_type":"slack",
	"credentials":{"webhook_url":"https://hooks.slack.com/services/` + slackToken + `"},
	"config":{"default_channel":"#compliance"},
	"event_subscriptions":["compliance.alert","validation.failed"]}`

const validEmail = `{"name":"Email Team","integration_type":"email",
	"credentials":{"smtp_host":"smtp.gmail.com","smtp_port":587,"smtp_username":"alerts@company.com",
		"smtp_password":"app-password","from_address":"loki@company.com"},
	"config":{"default_recipients":["compliance@company.com"]},
	"event_subscriptions":["compliance.alert","batch.completed","system.error"]}`

func (f *fixture) mustIntegration(body string) map[string]any {
	f.t.Helper()
	r := f.do("POST", "/api/v1/integrations/", body)
	if r.status != 201 {
		f.t.Fatalf("create integration: %d %s", r.status, r.raw)
	}
	return r.body
}

func TestIntegrationErrorCases(t *testing.T) {
	f := newFixture(t)
	f.mustIntegration(validSlack)
	f.mustCreate(`{"name":"plain-hook","url":"https://example.org/x","event_types":["*"]}`)
	tests := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"no type", "POST", "/api/v1/integrations/", `{"name":"x","credentials":{}}`, 422, "validation_failed", "integration_type"},
		{"unknown type", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"fax"}`, 422, "validation_failed", "integration_type"},
		{"slack over http", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"slack","credentials":{"webhook_url":"http://hooks.slack.com/services/x"}}`, 422, "validation_failed", "credentials.webhook_url"},
		{"teams without url", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"teams"}`, 422, "validation_failed", "credentials.webhook_url"},
		{"zapier bad url", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"zapier","credentials":{"webhook_url":"hooks.zapier.com/x"}}`, 422, "validation_failed", "credentials.webhook_url"},
		{"email without host", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"email","credentials":{"smtp_port":587,"from_address":"a@b.co"},"config":{"default_recipients":["c@d.co"]}}`, 422, "validation_failed", "credentials.smtp_host"},
		{"email bad port", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"email","credentials":{"smtp_host":"h","smtp_port":70000,"from_address":"a@b.co"},"config":{"default_recipients":["c@d.co"]}}`, 422, "validation_failed", "credentials.smtp_port"},
		{"email bad from", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"email","credentials":{"smtp_host":"h","smtp_port":587,"from_address":"nobody"},"config":{"default_recipients":["c@d.co"]}}`, 422, "validation_failed", "credentials.from_address"},
		{"email no recipients", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"email","credentials":{"smtp_host":"h","smtp_port":587,"from_address":"a@b.co"}}`, 422, "validation_failed", "config.default_recipients"},
		{"email bad recipient", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"email","credentials":{"smtp_host":"h","smtp_port":587,"from_address":"a@b.co"},"config":{"default_recipients":["ok@d.co","a@b.co\r\nBcc: x@y.z"]}}`, 422, "validation_failed", "config.default_recipients"},
		{"password without user", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"email","credentials":{"smtp_host":"h","smtp_port":587,"from_address":"a@b.co","smtp_password":"p"},"config":{"default_recipients":["c@d.co"]}}`, 422, "validation_failed", "credentials.smtp_username"},
		{"config key of another type", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"},"config":{"batch_events":true}}`, 422, "validation_failed", "config.batch_events"},
		{"credential of another type", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x","smtp_host":"h"}}`, 422, "validation_failed", "credentials.smtp_host"},
		{"config wrong type", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"zapier","credentials":{"webhook_url":"https://hooks.zapier.com/x"},"config":{"batch_size":"ten"}}`, 422, "validation_failed", "config.batch_size"},
		{"batch size too big", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"zapier","credentials":{"webhook_url":"https://hooks.zapier.com/x"},"config":{"batch_events":true,"batch_size":501}}`, 422, "validation_failed", "config.batch_size"},
		{"bad theme colour", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"teams","credentials":{"webhook_url":"https://example.webhook.office.com/x"},"config":{"theme_color":"blue"}}`, 422, "validation_failed", "config.theme_color"},
		{"unknown subscription", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"},"event_subscriptions":["nope"]}`, 422, "validation_failed", "event_subscriptions"},
		{"name with slash", "POST", "/api/v1/integrations/", `{"name":"a/b","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`, 422, "validation_failed", "name"},
		{"name with plus", "POST", "/api/v1/integrations/", `{"name":"C++ Alerts","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`, 422, "validation_failed", "name"},
		{"name dot-dot", "POST", "/api/v1/integrations/", `{"name":"..","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`, 422, "validation_failed", "name"},
		{"reserved name", "POST", "/api/v1/integrations/", `{"name":"health","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`, 422, "validation_failed", "name"},
		{"name taken by integration", "POST", "/api/v1/integrations/", validSlack, 409, "conflict", ""},
		{"name taken by webhook", "POST", "/api/v1/integrations/", `{"name":"plain-hook","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`, 409, "conflict", ""},
		{"unknown field", "POST", "/api/v1/integrations/", `{"name":"x","integration_type":"slack","webhook_url":"https://x"}`, 400, "invalid_request", ""},
		{"bad json", "POST", "/api/v1/integrations/", `{"name":`, 400, "invalid_request", ""},
		{"list bad type", "GET", "/api/v1/integrations/?integration_type=fax", "", 400, "invalid_request", ""},
		{"get missing", "GET", "/api/v1/integrations/nope", "", 404, "not_found", ""},
		{"a webhook is not an integration", "GET", "/api/v1/integrations/plain-hook", "", 404, "not_found", ""},
		{"update missing", "PUT", "/api/v1/integrations/nope", `{"description":"x"}`, 404, "not_found", ""},
		{"change type", "PUT", "/api/v1/integrations/Slack%20Alerts", `{"integration_type":"teams"}`, 422, "validation_failed", "integration_type"},
		{"update to http", "PUT", "/api/v1/integrations/Slack%20Alerts", `{"credentials":{"webhook_url":"http://example.com/x"}}`, 422, "validation_failed", "credentials.webhook_url"},
		{"subscribe unknown type", "POST", "/api/v1/integrations/Slack%20Alerts/subscribe/nope", "", 422, "validation_failed", "event_type"},
		{"unsubscribe not subscribed", "DELETE", "/api/v1/integrations/Slack%20Alerts/subscribe/report.generated", "", 404, "not_found", ""},
		{"subscribe missing", "POST", "/api/v1/integrations/nope/subscribe/system.error", "", 404, "not_found", ""},
		{"test missing", "POST", "/api/v1/integrations/nope/test", "", 404, "not_found", ""},
		{"delete missing", "DELETE", "/api/v1/integrations/nope", "", 404, "not_found", ""},
		{"deliveries missing", "GET", "/api/v1/integrations/nope/deliveries", "", 404, "not_found", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(tc.method, tc.path, tc.body)
			code, field := r.errCode()
			if r.status != tc.status || code != tc.code || (tc.field != "" && field != tc.field) {
				t.Fatalf("%s %s: %d %s %s, want %d %s %s: %s", tc.method, tc.path, r.status, code, field, tc.status, tc.code, tc.field, r.raw)
			}
		})
	}
	// Nothing half-written: only the two made above exist.
	ws, total, err := f.store.ListWebhooks(t.Context(), store.WebhookFilter{Integrations: true})
	if err != nil || total != 1 || ws[0].Name != "Slack Alerts" {
		t.Fatalf("integrations after the errors: %d %v", total, err)
	}
	// The webhook routes do not show integrations.
	r := f.do("GET", fmt.Sprintf("/api/v1/webhooks/%d", ws[0].ID), "")
	if r.status != 404 {
		t.Fatalf("an integration through /webhooks/{id}: %d %s", r.status, r.raw)
	}
	if r := f.do("GET", "/api/v1/webhooks", ""); r.body["total"] != 1.0 {
		t.Fatalf("webhook list counts integrations: %s", r.raw)
	}
}

func TestIntegrationLifecycle(t *testing.T) {
	f := newFixture(t)
	created := f.mustIntegration(validSlack)
	if created["integration_type"] != "slack" || created["status"] != "active" || created["max_retries"] != 5.0 {
		t.Fatalf("created %v", created)
	}
	creds := created["credentials"].(map[string]any)
	if u := creds["webhook_url"].(string); strings.Contains(u, "XXXXXXXX") || !strings.HasPrefix(u, "https://hooks.slack.com/") {
		t.Fatalf("credentials not masked: %v", creds)
	}
	email := f.mustIntegration(validEmail)
	ec := email["credentials"].(map[string]any)
	if ec["smtp_password"] != "********" || ec["smtp_host"] != "smtp.gmail.com" || ec["smtp_username"] != "alerts@company.com" {
		t.Fatalf("email credentials shown as %v", ec)
	}
	if strings.Contains(fmt.Sprint(email), "app-password") {
		t.Fatal("password returned")
	}

	list := f.do("GET", "/api/v1/integrations/?integration_type=slack", "")
	if list.status != 200 || list.body["total"] != 1.0 {
		t.Fatalf("list: %s", list.raw)
	}
	if all := f.do("GET", "/api/v1/integrations", ""); all.body["total"] != 2.0 {
		t.Fatalf("list all: %s", all.raw)
	}
	got := f.do("GET", "/api/v1/integrations/"+url.PathEscape("Slack Alerts"), "")
	if got.status != 200 || got.body["id"] != created["id"] {
		t.Fatalf("get: %s", got.raw)
	}

	// What a GET showed can be sent back: masked values keep the stored ones.
	back, _ := json.Marshal(email)
	upd := f.do("PUT", "/api/v1/integrations/Email%20Team", string(back))
	if upd.status != 200 {
		t.Fatalf("put back: %s", upd.raw)
	}
	w, err := f.store.GetWebhookByName(t.Context(), "Email Team")
	if err != nil || !strings.Contains(string(w.Integration.Credentials), `"smtp_password":"app-password"`) {
		t.Fatalf("password after a round trip: %s %v", w.Integration.Credentials, err)
	}
	// An update sends only what changes.
	upd = f.do("PUT", "/api/v1/integrations/Email%20Team", `{"credentials":{"smtp_port":465,"smtp_password":"app-password"},"config":{"html_format":false},"max_retries":2}`)
	if upd.status != 200 || upd.body["credentials"].(map[string]any)["smtp_port"] != 465.0 || upd.body["max_retries"] != 2.0 ||
		upd.body["config"].(map[string]any)["html_format"] != false {
		t.Fatalf("partial update: %s", upd.raw)
	}
	if w, _ := f.store.GetWebhookByName(t.Context(), "Email Team"); !strings.Contains(string(w.Integration.Credentials), "smtp.gmail.com") {
		t.Fatalf("partial update lost the host: %s", w.Integration.Credentials)
	}

	// The stored password never follows a new server: whoever moves it
	// must send the password again.
	for _, body := range []string{`{"credentials":{"smtp_host":"smtp.attacker.example"}}`,
		`{"credentials":{"smtp_username":"someone-else"}}`,
		`{"credentials":{"smtp_host":"smtp.attacker.example","smtp_password":"********"}}`} {
		if r := f.do("PUT", "/api/v1/integrations/Email%20Team", body); r.status != 422 || !strings.Contains(r.raw, "smtp_password") {
			t.Fatalf("%s: %d %s", body, r.status, r.raw)
		}
	}
	if r := f.do("PUT", "/api/v1/integrations/Email%20Team", `{"credentials":{"smtp_host":"smtp.office365.com","smtp_password":"new-password"}}`); r.status != 200 {
		t.Fatalf("moving with the password: %d %s", r.status, r.raw)
	}

	sub := f.do("POST", "/api/v1/integrations/Slack%20Alerts/subscribe/system.error", "")
	if sub.status != 200 || fmt.Sprint(sub.body["event_subscriptions"]) != "[compliance.alert system.error validation.failed]" {
		t.Fatalf("subscribe: %s", sub.raw)
	}
	again := f.do("POST", "/api/v1/integrations/Slack%20Alerts/subscribe/system.error", "")
	if again.status != 200 || again.body["total"] != 3.0 {
		t.Fatalf("subscribe twice: %s", again.raw)
	}
	unsub := f.do("DELETE", "/api/v1/integrations/Slack%20Alerts/subscribe/compliance.alert", "")
	if unsub.status != 200 || fmt.Sprint(unsub.body["event_subscriptions"]) != "[system.error validation.failed]" {
		t.Fatalf("unsubscribe: %s", unsub.raw)
	}
	subs := f.do("GET", "/api/v1/integrations/Slack%20Alerts/subscriptions", "")
	if subs.status != 200 || subs.body["total"] != 2.0 || subs.body["integration"] != "Slack Alerts" {
		t.Fatalf("subscriptions: %s", subs.raw)
	}

	metrics := f.do("GET", "/api/v1/integrations/metrics", "")
	if metrics.status != 200 || metrics.body["total_integrations"] != 2.0 || metrics.body["total_subscriptions"] != 5.0 {
		t.Fatalf("metrics: %s", metrics.raw)
	}
	health := f.do("GET", "/api/v1/integrations/health", "")
	if health.status != 200 || health.body["status"] != "healthy" {
		t.Fatalf("health: %s", health.raw)
	}
	if st := health.body["integrations"].(map[string]any)["Email Team"].(map[string]any)["status"]; st != "idle" {
		t.Fatalf("an integration never used is %v", st)
	}

	if r := f.do("DELETE", "/api/v1/integrations/Slack%20Alerts", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if r := f.do("GET", "/api/v1/integrations/Slack%20Alerts", ""); r.status != 404 {
		t.Fatalf("after delete: %d", r.status)
	}
}

// The test endpoint sends a real message to the platform's receiver and
// records it as a test delivery; health and metrics leave tests aside.
func TestIntegrationTestSendsARealMessage(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var got []byte
	status := 200
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = b
		w.WriteHeader(status)
		if status == 200 {
			io.WriteString(w, "ok")
		} else {
			io.WriteString(w, "invalid_payload")
		}
	}))
	defer slack.Close()
	f.mustIntegration(`{"name":"local-slack","integration_type":"slack","credentials":{"webhook_url":"` + slack.URL + `/services/T1/B1/secret"},
		"event_subscriptions":["compliance.alert"]}`)
	r := f.do("POST", "/api/v1/integrations/local-slack/test", "")
	if r.status != 200 || r.body["success"] != true || r.body["event_type"] != "compliance.alert" {
		t.Fatalf("test: %s", r.raw)
	}
	var msg struct {
		Attachments []struct {
			Color  string           `json:"color"`
			Blocks []map[string]any `json:"blocks"`
		} `json:"attachments"`
	}
	mu.Lock()
	err := json.Unmarshal(got, &msg)
	mu.Unlock()
	if err != nil || len(msg.Attachments) != 1 || msg.Attachments[0].Blocks[0]["type"] != "header" {
		t.Fatalf("Slack got %s (%v)", got, err)
	}
	d := f.do("GET", fmt.Sprintf("/api/v1/integrations/local-slack/deliveries/%v", r.body["delivery_id"]), "")
	if d.status != 200 || d.body["is_test"] != true || strings.Contains(d.raw, "secret") {
		t.Fatalf("test delivery as recorded: %s", d.raw)
	}
	mu.Lock()
	status = 400
	mu.Unlock()
	r = f.do("POST", "/api/v1/integrations/local-slack/test", `{"event_type":"system.error"}`)
	if r.status != 200 || r.body["success"] != false || r.body["status_code"] != 400.0 || r.body["response_body"] != "invalid_payload" {
		t.Fatalf("failing test: %s", r.raw)
	}
	if h := f.do("GET", "/api/v1/integrations/health", ""); h.body["integrations"].(map[string]any)["local-slack"].(map[string]any)["status"] != "idle" {
		t.Fatalf("tests count in health: %s", h.raw)
	}
}
