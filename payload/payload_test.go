package payload_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// published is a payload as a publisher might write it: spaced, a big
// number, an HTML-looking string.
const published = `{ "document_id": "doc_1", "status": "completed", "stack_trace": "at x()",
  "big": 12345678901234567890, "note": "<b>&</b>",
  "changes": [{"field": "a", "action": "inserted"}, {"field": "b"}, {"action": "removed"}],
  "results": {"gdpr": "pass", "fca": "fail"} }`

func event() *webhook.Event {
	return &webhook.Event{EventID: "evt_1", EventType: "document.processed", Source: "loki", SourceID: "doc_1",
		Payload: json.RawMessage(published), CreatedAt: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
}

func MustParse(t testing.TB, md string) *payload.Options {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(md), &m); err != nil {
		t.Fatal(err)
	}
	o, fe := payload.Parse(m)
	if len(fe) > 0 {
		t.Fatalf("%s: %v", md, fe)
	}
	return o
}

func render(t *testing.T, md string) string {
	t.Helper()
	body, err := MustParse(t, md).Render(context.Background(), event())
	if err != nil {
		t.Fatalf("%s: %v", md, err)
	}
	return string(body)
}

func TestStandardBodyIsUntouched(t *testing.T) {
	want, _ := event().Body()
	for _, md := range []string{`{}`, `{"payload_format": "standard"}`, `{"compression": "gzip", "team": "x"}`} {
		if got := render(t, md); got != string(want) {
			t.Errorf("%s: body %s, want the standard %s", md, got, want)
		}
	}
}

func TestTransformationRules(t *testing.T) {
	cases := []struct {
		name, md, want string
	}{
		{"the LOKI guide's example: bare names are under data", `{"transformation_rules": {"include_fields": ["event_type", "status", "timestamp"], "exclude_fields": ["stack_trace", "request_body"]}}`,
			`{"data":{"status":"completed"},"event_type":"document.processed","timestamp":"2026-12-04T10:00:00.000Z"}`},
		{"exclude only", `{"transformation_rules": {"exclude_fields": ["data.stack_trace", "data.changes", "data.results.fca", "source", "source_id", "event_id", "timestamp", "data.note", "data.document_id", "data.status"]}}`,
			`{"data":{"big":12345678901234567890,"results":{"gdpr":"pass"}},"event_type":"document.processed"}`},
		{"a path through an array takes each element that has it", `{"transformation_rules": {"include_fields": ["data.changes.field"]}}`,
			`{"data":{"changes":[{"field":"a"},{"field":"b"}]}}`},
		{"two paths through one array merge element by element", `{"transformation_rules": {"include_fields": ["changes.field", "changes.action"]}}`,
			`{"data":{"changes":[{"action":"inserted","field":"a"},{"field":"b"},{"action":"removed"}]}}`},
		{"an index picks one element", `{"transformation_rules": {"include_fields": ["changes.1"]}}`,
			`{"data":{"changes":[{"field":"b"}]}}`},
		{"exclude through an array", `{"transformation_rules": {"include_fields": ["changes"], "exclude_fields": ["changes.action"]}}`,
			`{"data":{"changes":[{"field":"a"},{"field":"b"},{}]}}`},
		{"exclude an element by index", `{"transformation_rules": {"include_fields": ["changes"], "exclude_fields": ["changes.0", "changes.2"]}}`,
			`{"data":{"changes":[{"field":"b"}]}}`},
		{"absent paths are no error", `{"transformation_rules": {"include_fields": ["nothing.here", "event_id"], "exclude_fields": ["data.none"]}}`,
			`{"event_id":"evt_1"}`},
		{"raw payload, byte for byte", `{"include_raw_payload": true, "transformation_rules": {"include_fields": ["event_id"]}}`,
			`{"event_id":"evt_1","raw_payload":` + mustJSON(published) + `}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := render(t, c.md); got != c.want {
				t.Errorf("body\n %s\nwant\n %s", got, c.want)
			}
		})
	}
}

func mustJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return strings.TrimSpace(b.String())
}

func TestRawPayloadDecodesToThePublishedBytes(t *testing.T) {
	body := render(t, `{"include_raw_payload": true}`)
	var got struct {
		Raw  string         `json:"raw_payload"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Raw != published || got.Data["document_id"] != "doc_1" {
		t.Fatalf("raw_payload %q, data %v", got.Raw, got.Data)
	}
}

func TestCustomTemplate(t *testing.T) {
	cases := []struct {
		name, template, want string
	}{
		{"an object", `{text: "\(.event_type): \(.data.document_id)", level: .data.status}`, `{"level":"completed","text":"document.processed: doc_1"}`},
		{"a list", `[.data.changes[] | .field // "?"]`, `["a","b","?"]`},
		{"numbers as written", `{n: .data.big}`, `{"n":12345678901234567890}`},
		{"a string", `.data.note`, `"<b>&</b>"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := mustJSON(map[string]any{"payload_format": "custom", "payload_template": c.template})
			if got := render(t, md); got != c.want {
				t.Errorf("body %s, want %s", got, c.want)
			}
		})
	}
}

// The LOKI guide's own example: custom, no template, the raw payload, gzip.
func TestCustomWithoutTemplateIsTheEnvelope(t *testing.T) {
	body := render(t, `{"payload_format": "custom", "include_raw_payload": true, "compression": "gzip"}`)
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got["event_id"] != "evt_1" || got["raw_payload"] != published || got["data"].(map[string]any)["status"] != "completed" {
		t.Fatalf("body %s", body)
	}
}

// The attempt's own deadline is not blamed on the template.
func TestAttemptDeadlineIsNotTheTemplates(t *testing.T) {
	o := MustParse(t, `{"payload_format": "custom", "payload_template": "[range(1e12)] | length"}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := o.Render(ctx, event())
	if !errors.Is(err, payload.ErrRenderTimeout) || strings.Contains(err.Error(), "ran longer") {
		t.Fatalf("err = %v", err)
	}
}

func TestTemplateSeesTheRulesAndGetsTheRawPayload(t *testing.T) {
	md := `{"payload_format": "custom", "payload_template": "{keys: (.data | keys)}", "include_raw_payload": true,
		"transformation_rules": {"include_fields": ["status", "document_id"]}}`
	want := `{"keys":["document_id","status"],"raw_payload":` + mustJSON(published) + `}`
	if got := render(t, md); got != want {
		t.Fatalf("body %s, want %s", got, want)
	}
}

// A template that fails at delivery time is an error naming why, never a
// panic or a render that runs on.
func TestTemplateFailuresAreErrors(t *testing.T) {
	cases := []struct{ name, template, want string }{
		{"jq error", `error("no such thing")`, "no such thing"},
		{"no value", `empty`, "made no value"},
		{"two values", `.event_id, .event_type`, "more than one value"},
		{"runs too long", `[range(1e12)] | length`, "ran longer than 100ms"},
		{"too large", `{a: ("0123456789" * 105000)}`, "limit is"}, // just over 1 MiB: quick to make, even under -race
		{"raw payload needs an object", `.event_id`, "needs the template to make a JSON object"},
		{"no environment", `$ENV.HOME`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := map[string]any{"payload_format": "custom", "payload_template": c.template}
			if c.name == "raw payload needs an object" {
				md["include_raw_payload"] = true
			}
			body, err := MustParse(t, mustJSON(md)).Render(context.Background(), event())
			if c.want == "" {
				if err == nil && string(body) != "null" {
					t.Fatalf("$ENV reached the environment: %s", body)
				}
				return
			}
			want := payload.ErrRender
			if c.name == "runs too long" {
				want = payload.ErrRenderTimeout // a busy machine can cause it: worth retrying
			}
			if !errors.Is(err, want) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %v mentioning %q", err, want, c.want)
			}
		})
	}
}

// One step of jq can run long or take much memory (gojq checks its
// deadline between steps): the render still ends on time, the process that
// ran it is replaced, and the next render works.
func TestTemplateStepsAreBounded(t *testing.T) {
	cases := []struct {
		name, template string
		want           error
		mention        string
	}{
		{"a string repeated", `"x" * 300000000`, payload.ErrRenderTimeout, "ran longer"},
		{"a value of shared parts encoded", `reduce range(24) as $i ([0]; [., .]) | tojson`, payload.ErrRenderTimeout, "ran longer"},
		{"more memory than a template may use", `"x" * 2100000000`, payload.ErrRender, "at most"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.want == payload.ErrRender && !memoryBounded {
				t.Skip("no memory bound under the race detector")
			}
			o := MustParse(t, mustJSON(map[string]any{"payload_format": "custom", "payload_template": c.template}))
			began := time.Now()
			_, err := o.Render(context.Background(), event())
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("err = %v, want %v mentioning %q", err, c.want, c.mention)
			}
			// Unbounded, the first two ran for 12 and 26 seconds.
			if took := time.Since(began); took > 5*time.Second {
				t.Fatalf("the render took %v", took)
			}
			if got := render(t, `{"payload_format": "custom", "payload_template": "{id: .event_id}"}`); got != `{"id":"evt_1"}` {
				t.Fatalf("the next render made %s", got)
			}
		})
	}
}

func TestInvalidOptionsAreFieldErrors(t *testing.T) {
	cases := []struct{ md, field, want string }{
		{`{"payload_format": "xml"}`, "metadata.payload_format", "must be"},
		{`{"payload_format": "custom", "payload_template": "{a: .b"}`, "metadata.payload_template", "line 1, column 7"},
		{`{"payload_format": "custom", "payload_template": "{a: .b,\n b: nosuch(1)}"}`, "metadata.payload_template", "line 2, column 5: function not defined: nosuch/1"},
		{`{"payload_format": "custom", "payload_template": "{a: $x}"}`, "metadata.payload_template", "line 1, column 5: variable not defined: $x"},
		{`{"payload_format": "custom", "payload_template": "{a: 1}\n| nosuch(1)"}`, "metadata.payload_template", "nosuch"},
		{`{"payload_format": "custom", "payload_template": "{a: .foo, b: foo}"}`, "metadata.payload_template", "line 1, column 14: function not defined: foo/0"},
		{`{"payload_format": "custom", "payload_template": "# foo\n{foo: \"foo \\(foo)\"}"}`, "metadata.payload_template", "line 2, column 14: function not defined: foo/0"},
		{`{"payload_format": "custom", "payload_template": "if . then 1 end end"}`, "metadata.payload_template", "line 1, column 17: unexpected token"},
		{`{"payload_format": "custom", "payload_template": "input"}`, "metadata.payload_template", "not allowed"},
		{`{"payload_template": ".a"}`, "metadata.payload_template", "only with payload_format"},
		{`{"include_raw_payload": "yes"}`, "metadata.include_raw_payload", "true or false"},
		{`{"compression": "br"}`, "metadata.compression", "gzip"},
		{`{"transformation_rules": ["a"]}`, "metadata.transformation_rules", "must be an object"},
		{`{"transformation_rules": {"include_fields": "a"}}`, "metadata.transformation_rules.include_fields", "list"},
		{`{"transformation_rules": {"exclude_fields": ["a..b"]}}`, "metadata.transformation_rules.exclude_fields[0]", "empty segment"},
	}
	for _, c := range cases {
		var m map[string]any
		if err := json.Unmarshal([]byte(c.md), &m); err != nil {
			t.Fatal(err)
		}
		_, fe := payload.Parse(m)
		if len(fe) != 1 || fe[0].Field != c.field || !strings.Contains(fe[0].Message, c.want) {
			t.Errorf("%s: errors %+v, want one on %s mentioning %q", c.md, fe, c.field, c.want)
		}
	}
}

func TestCompressRoundTrips(t *testing.T) {
	body := []byte(render(t, `{}`))
	zipped, err := payload.Compress(body)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("gunzip = %q, %v", got, err)
	}
}

// typical is a 512-byte payload, as in the benchmarks of the delivery path.
func typical() *webhook.Event {
	ev := event()
	ev.Payload = json.RawMessage(`{"document_id":"doc_12345","validation_status":"pass","gates_passed":8,"gates_failed":0,` +
		`"processing_time_ms":523.45,"results":{"gdpr":"pass","fca":"pass","sec":"warning","finra":"pass"},` +
		`"changes":[{"field":"disclaimer","action":"inserted"},{"field":"risk","action":"reworded"}],` +
		`"note":"` + strings.Repeat("x", 240) + `"}`)
	return ev
}

func BenchmarkRender(b *testing.B) {
	for _, c := range []struct{ name, md string }{
		{"standard", `{}`},
		{"rules", `{"transformation_rules": {"include_fields": ["event_type", "document_id", "results", "changes.field"], "exclude_fields": ["results.sec"]}}`},
		{"template", `{"payload_format": "custom", "payload_template": "{text: \"\\(.event_type) \\(.data.document_id)\", gates: .data.gates_passed, fields: [.data.changes[].field]}"}`},
		{"raw", `{"include_raw_payload": true}`},
		{"all", `{"transformation_rules": {"include_fields": ["event_type", "document_id", "results", "changes.field"], "exclude_fields": ["results.sec"]},
			"payload_format": "custom", "payload_template": "{text: \"\\(.event_type) \\(.data.document_id)\", gates: .data.gates_passed, fields: [.data.changes[].field]}",
			"include_raw_payload": true}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			o, ev := MustParse(b, c.md), typical()
			for b.Loop() {
				if _, err := o.Render(context.Background(), ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
