package api_test

import (
	"fmt"
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
