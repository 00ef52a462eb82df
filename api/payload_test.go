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
