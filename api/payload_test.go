package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/apikey"
)

// A payload template is a program run for every delivery: only an admin
// key may set or change one; a write key may change everything else.
func TestPayloadTemplateNeedsAdmin(t *testing.T) {
	f := newFixture(t)
	writer := mustKey(t, f.store, "writer", apikey.Write)
	const withTemplate = `{"name": "custom", "url": "http://127.0.0.1:9/x", "event_types": ["*"],
		"metadata": {"payload_format": "custom", "payload_template": "{text: .data.message}"}}`
	if r := f.doAs(writer, "POST", "/api/v1/webhooks/", withTemplate); r.status != 403 {
		t.Fatalf("write key set a template: %d %s", r.status, r.raw)
	}
	r := f.do("POST", "/api/v1/webhooks/", withTemplate)
	if r.status != 201 {
		t.Fatalf("admin: %d %s", r.status, r.raw)
	}
	path := fmt.Sprintf("/api/v1/webhooks/%v", r.body["id"])
	if r := f.doAs(writer, "PUT", path, `{"description": "same template, new words"}`); r.status != 200 {
		t.Fatalf("write key changing the description: %d %s", r.status, r.raw)
	}
	if r := f.doAs(writer, "PUT", path, `{"metadata": {"payload_format": "custom", "payload_template": "{text: .event_id}"}}`); r.status != 403 {
		t.Fatalf("write key changed the template: %d %s", r.status, r.raw)
	}
	if r := f.doAs(writer, "PUT", path, `{"metadata": {"compression": "gzip"}}`); r.status != 200 {
		t.Fatalf("write key removing the template: %d %s", r.status, r.raw)
	}
}

// A change to the payload options, filter or overrides is checked as a
// create is: a 422 naming each field, and the webhook left as it was.
func TestInvalidOptionsRefusedOnUpdate(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/api/v1/webhooks/", `{"name": "opts", "url": "http://127.0.0.1:9/x", "event_types": ["*"],
		"metadata": {"compression": "gzip"}}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	path := fmt.Sprintf("/api/v1/webhooks/%v", r.body["id"])
	cases := []struct{ body, field string }{
		{`{"metadata": {"payload_format": "custom", "payload_template": "{a: nosuch}"}}`, "metadata.payload_template"},
		{`{"metadata": {"transformation_rules": {"include_fields": ["a..b"]}}}`, "metadata.transformation_rules.include_fields[0]"},
		{`{"filter": {"data.level": {"$like": "x"}}}`, "filter.data.level.$like"},
		{`{"filter": {"data.n": {"$gt": 1e999999}}}`, "filter.data.n.$gt"},
		{`{"retry_overrides": {"compliance.alert": {"max_retries": -1}}}`, "retry_overrides.compliance.alert.max_retries"},
	}
	for _, c := range cases {
		if got := f.do("PUT", path, c.body); got.status != 422 || !fieldNamed(got.body, c.field) {
			t.Errorf("%s: %d %s, want 422 on %s", c.body, got.status, got.raw, c.field)
		}
	}
	if after := f.do("GET", path, ""); fmt.Sprint(after.body["metadata"]) != "map[compression:gzip]" {
		t.Fatalf("metadata after refused updates: %v", after.body["metadata"])
	}
}

// fieldNamed says a JSON error answer names the field in its details.
func fieldNamed(body map[string]any, field string) bool {
	e, _ := body["error"].(map[string]any)
	details, _ := e["details"].([]any)
	for _, d := range details {
		if m, _ := d.(map[string]any); m["field"] == field {
			return true
		}
	}
	return false
}

// An integration's filter and retry overrides are checked as a webhook's
// are, on create and on update: a 422 naming the field, nothing written.
func TestInvalidIntegrationOptionsRefused(t *testing.T) {
	f := newFixture(t)
	const zapier = `"integration_type": "zapier", "credentials": {"webhook_url": "https://hooks.zapier.com/x"}`
	cases := []struct{ options, field string }{
		{`"filter": {"data.level": {"$like": "x"}}`, "filter.data.level.$like"},
		{`"filter": {"$or": "not a list"}`, "filter.$or"},
		{`"retry_overrides": {"compliance.alert": {"retry_strategy": "sometimes"}}`, "retry_overrides.compliance.alert.retry_strategy"},
		{`"retry_overrides": {"no.such.type": {"max_retries": 1}}`, "retry_overrides"},
	}
	for i, c := range cases {
		body := fmt.Sprintf(`{"name": "zap-%d", %s, %s}`, i, zapier, c.options)
		r := f.do("POST", "/api/v1/integrations/", body)
		if r.status != 422 || !fieldNamed(r.body, c.field) {
			t.Errorf("create with %s: %d %s, want 422 on %s", c.options, r.status, r.raw, c.field)
		}
		if !strings.HasPrefix(r.raw, `{"error":{"code":"validation_failed","message":"integration is invalid: `) {
			t.Errorf("create with %s: the message does not say what is invalid: %s", c.options, r.raw)
		}
	}
	if r := f.do("GET", "/api/v1/integrations/", ""); fmt.Sprint(r.body["integrations"]) != "[]" {
		t.Fatalf("refused creates left integrations: %s", r.raw)
	}
	f.mustIntegration(`{"name": "zap", ` + zapier + `, "filter": {"data.level": "high"}}`)
	for _, c := range cases {
		if r := f.do("PUT", "/api/v1/integrations/zap", "{"+c.options+"}"); r.status != 422 || !fieldNamed(r.body, c.field) {
			t.Errorf("update with %s: %d %s, want 422 on %s", c.options, r.status, r.raw, c.field)
		}
	}
	if r := f.do("GET", "/api/v1/integrations/zap", ""); fmt.Sprint(r.body["filter"]) != "map[data.level:high]" || fmt.Sprint(r.body["retry_overrides"]) != "map[]" {
		t.Fatalf("refused updates changed the integration: %s", r.raw)
	}
}

// A test delivery shows the retry schedule its event type would get, the
// type's override applied.
func TestTestShowsTheOverriddenSchedule(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/api/v1/webhooks/", `{"name": "over", "url": "http://127.0.0.1:9/x", "event_types": ["*"],
		"retry_strategy": "fixed_interval", "retry_delay_seconds": 600, "max_retries": 2,
		"retry_overrides": {"compliance.alert": {"retry_delay_seconds": 10, "max_retries": 3}}}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	path := fmt.Sprintf("/api/v1/webhooks/%v/test", r.body["id"])
	for eventType, want := range map[string]string{"compliance.alert": "[10 10 10]", "system.error": "[600 600]"} {
		got := f.do("POST", path, `{"event_type": "`+eventType+`"}`)
		if got.status != 200 || fmt.Sprint(got.body["retry_schedule_seconds"]) != want {
			t.Errorf("%s: %d retry_schedule_seconds %v, want %s", eventType, got.status, got.body["retry_schedule_seconds"], want)
		}
	}
}
