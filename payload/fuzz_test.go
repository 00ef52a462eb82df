package payload_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/loki-interceptor/herald/payload"
)

// Whatever the options and the payload, rendering never panics: it makes
// JSON or fails with ErrRender or ErrRenderTimeout.
func FuzzRender(f *testing.F) {
	f.Add(`{"transformation_rules": {"include_fields": ["a.b", "c.0"], "exclude_fields": ["a.b.c"]}}`, `{"a": {"b": [1, {"c": 2}]}, "c": [3]}`)
	f.Add(`{"payload_format": "custom", "payload_template": "{x: .data.a}", "include_raw_payload": true}`, `{"a": "<&>"}`)
	f.Add(`{"payload_format": "custom", "payload_template": "[.data[]?] | length"}`, `[1, 2, 3]`)
	f.Fuzz(func(t *testing.T, metadata, data string) {
		var md map[string]any
		if json.Unmarshal([]byte(metadata), &md) != nil || !json.Valid([]byte(data)) {
			return
		}
		o, fe := payload.Parse(md)
		if len(fe) > 0 {
			return
		}
		ev := event()
		ev.Payload = json.RawMessage(data)
		body, err := o.Render(context.Background(), ev)
		if err != nil {
			if !errors.Is(err, payload.ErrRender) && !errors.Is(err, payload.ErrRenderTimeout) {
				t.Fatalf("error %v is neither ErrRender nor ErrRenderTimeout", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("body %q is not JSON", body)
		}
	})
}
