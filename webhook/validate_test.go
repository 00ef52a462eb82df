package webhook_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/webhook"
)

func validWebhook() *webhook.Webhook {
	w := webhook.New()
	w.Name = "Compliance Alerts"
	w.URL = "https://example.com/webhooks/compliance"
	w.EventTypes = []string{"compliance.alert", "validation.failed"}
	w.Secret = webhook.NewSecret()
	return w
}

// fieldOf returns the field the validation error names first, or "".
func fieldOf(err error) string {
	if err == nil {
		return ""
	}
	var e *webhook.Error
	if !errors.As(err, &e) || e.Code != webhook.EValidation {
		return "unexpected:" + err.Error()
	}
	return e.Details.([]webhook.FieldError)[0].Field
}

func TestWebhookValidate(t *testing.T) {
	dev := webhook.URLPolicy{AllowHTTPLoopback: true, Addresses: netguard.Policy{Allow: netguard.Loopback}}
	prod := webhook.URLPolicy{}
	tests := []struct {
		name   string
		policy webhook.URLPolicy
		edit   func(*webhook.Webhook)
		field  string // "" = valid
	}{
		{"valid", prod, func(*webhook.Webhook) {}, ""},
		{"name missing", prod, func(w *webhook.Webhook) { w.Name = "  " }, "name"},
		{"name too long", prod, func(w *webhook.Webhook) { w.Name = strings.Repeat("n", 201) }, "name"},
		{"url missing", prod, func(w *webhook.Webhook) { w.URL = "" }, "url"},
		{"url relative", prod, func(w *webhook.Webhook) { w.URL = "/hooks" }, "url"},
		{"url http refused", prod, func(w *webhook.Webhook) { w.URL = "http://example.com/x" }, "url"},
		{"url http loopback refused in prod", prod, func(w *webhook.Webhook) { w.URL = "http://127.0.0.1:9000/x" }, "url"},
		{"url http loopback ok in dev", dev, func(w *webhook.Webhook) { w.URL = "http://127.0.0.1:9000/x" }, ""},
		{"url http localhost ok in dev", dev, func(w *webhook.Webhook) { w.URL = "http://localhost:9000/x" }, ""},
		{"url http ::1 ok in dev", dev, func(w *webhook.Webhook) { w.URL = "http://[::1]:9000/x" }, ""},
		{"url http remote refused in dev", dev, func(w *webhook.Webhook) { w.URL = "http://example.com/x" }, "url"},
		{"url http allowed when insecure", webhook.URLPolicy{AllowHTTP: true}, func(w *webhook.Webhook) { w.URL = "http://example.com/x" }, ""},
		{"url ftp", prod, func(w *webhook.Webhook) { w.URL = "ftp://example.com/x" }, "url"},
		{"url userinfo", prod, func(w *webhook.Webhook) { w.URL = "https://user:pw@example.com/x" }, "url"},
		{"url fragment", prod, func(w *webhook.Webhook) { w.URL = "https://example.com/x#frag" }, "url"},
		{"url too long", prod, func(w *webhook.Webhook) { w.URL = "https://example.com/" + strings.Repeat("a", 2048) }, "url"},
		{"no event types", prod, func(w *webhook.Webhook) { w.EventTypes = nil }, "event_types"},
		{"unknown event type", prod, func(w *webhook.Webhook) { w.EventTypes = []string{"compliance.alrt"} }, "event_types"},
		{"wildcard", prod, func(w *webhook.Webhook) { w.EventTypes = []string{"*"} }, ""},
		{"bad status", prod, func(w *webhook.Webhook) { w.Status = "enabled" }, "status"},
		{"bad strategy", prod, func(w *webhook.Webhook) { w.RetryStrategy = "random" }, "retry_strategy"},
		{"max_retries 20 ok", prod, func(w *webhook.Webhook) { w.MaxRetries = 20 }, ""},
		{"max_retries 21", prod, func(w *webhook.Webhook) { w.MaxRetries = 21 }, "max_retries"},
		{"max_retries negative", prod, func(w *webhook.Webhook) { w.MaxRetries = -1 }, "max_retries"},
		{"retry delay zero", prod, func(w *webhook.Webhook) { w.RetryDelaySeconds = 0 }, "retry_delay_seconds"},
		{"retry delay over a day", prod, func(w *webhook.Webhook) { w.RetryDelaySeconds = 86401 }, "retry_delay_seconds"},
		{"max delay below delay", prod, func(w *webhook.Webhook) { w.RetryDelaySeconds = 120; w.MaxDelaySeconds = 60 }, "max_delay_seconds"},
		{"multiplier below 1", prod, func(w *webhook.Webhook) { w.BackoffMultiplier = 0.5 }, "backoff_multiplier"},
		{"jitter too big", prod, func(w *webhook.Webhook) { w.JitterPercentage = 0.9 }, "jitter_percentage"},
		{"timeout over 30", prod, func(w *webhook.Webhook) { w.TimeoutSeconds = 31 }, "timeout_seconds"},
		{"rate per minute zero", prod, func(w *webhook.Webhook) { w.RateLimitPerMinute = 0 }, "rate_limit_per_minute"},
		{"rate per hour huge", prod, func(w *webhook.Webhook) { w.RateLimitPerHour = 1 << 30 }, "rate_limit_per_hour"},
		{"header ok", prod, func(w *webhook.Webhook) {
			w.CustomHeaders = map[string]string{"Authorization": "Bearer x", "X-Client-ID": "loki"}
		}, ""},
		{"header CRLF", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"X-A": "a\r\nX-Evil: 1"} }, "custom_headers.X-A"},
		{"header bad name", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"X A": "1"} }, "custom_headers.X A"},
		{"header overrides signature", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"x-webhook-signature": "sha256=0"} }, "custom_headers.x-webhook-signature"},
		{"header overrides std signature", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"Webhook-Signature": "v1,x"} }, "custom_headers.Webhook-Signature"},
		{"header overrides host", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"Host": "evil"} }, "custom_headers.Host"},
		{"secret too short", prod, func(w *webhook.Webhook) { w.Secret = "short" }, "secret"},
		{"secret plain ok", prod, func(w *webhook.Webhook) { w.Secret = strings.Repeat("s", 32) }, ""},
		{"secret whsec bad base64", prod, func(w *webhook.Webhook) { w.Secret = "whsec_!!!notbase64!!!notbase64!!" }, "secret"},
		{"secret with space", prod, func(w *webhook.Webhook) { w.Secret = strings.Repeat("s", 20) + " spaced" }, "secret"},
		{"name with NUL", prod, func(w *webhook.Webhook) { w.Name = "a\x00b" }, "name"},
		{"name with newline", prod, func(w *webhook.Webhook) { w.Name = "a\nb" }, "name"},
		{"description multiline ok", prod, func(w *webhook.Webhook) { w.Description = "line one\n\tline two" }, ""},
		{"description with NUL", prod, func(w *webhook.Webhook) { w.Description = "a\x00" }, "description"},
		{"metadata with NUL", prod, func(w *webhook.Webhook) { w.Metadata = map[string]any{"k": []any{"a\x00b"}} }, "metadata"},
		{"metadata key with NUL", prod, func(w *webhook.Webhook) { w.Metadata = map[string]any{"k\x00": 1} }, "metadata"},
		{"header value control char", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"X-A": "a\x01b"} }, "custom_headers.X-A"},
		{"header value tab ok", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"X-A": "a\tb"} }, ""},
		{"header upgrade", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"Upgrade": "h2c"} }, "custom_headers.Upgrade"},
		{"header accept-encoding", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"Accept-Encoding": "br"} }, "custom_headers.Accept-Encoding"},
		{"header repeated in another case", prod, func(w *webhook.Webhook) { w.CustomHeaders = map[string]string{"X-A": "1", "x-a": "2"} }, "custom_headers.x-a"},
		{"metadata too big", prod, func(w *webhook.Webhook) { w.Metadata = map[string]any{"x": strings.Repeat("m", 17<<10)} }, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := validWebhook()
			tt.edit(w)
			if got := fieldOf(w.Validate(tt.policy)); got != tt.field {
				t.Fatalf("first invalid field %q, want %q (err: %v)", got, tt.field, w.Validate(tt.policy))
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	w := webhook.New()
	w.MaxRetries = 99
	err := w.Validate(webhook.URLPolicy{})
	var e *webhook.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	fields := map[string]bool{}
	for _, f := range e.Details.([]webhook.FieldError) {
		fields[f.Field] = true
	}
	for _, want := range []string{"name", "url", "event_types", "max_retries"} {
		if !fields[want] {
			t.Errorf("details miss %s: %v", want, e.Details)
		}
	}
}

func TestRedacted(t *testing.T) {
	w := validWebhook()
	w.CustomHeaders = map[string]string{"Authorization": "Bearer very-secret-token", "X-Client-ID": "loki-prod-01"}
	r := w.Redacted()
	if strings.Contains(r.Secret, w.Secret[10:]) || !strings.HasPrefix(r.Secret, w.Secret[:10]) {
		t.Fatalf("masked secret %q of %q", r.Secret, w.Secret)
	}
	if strings.Contains(r.CustomHeaders["Authorization"], "very-secret") {
		t.Fatalf("authorization not masked: %q", r.CustomHeaders["Authorization"])
	}
	if r.CustomHeaders["X-Client-ID"] != "loki-prod-01" {
		t.Fatalf("harmless header changed: %q", r.CustomHeaders["X-Client-ID"])
	}
	if w.CustomHeaders["Authorization"] != "Bearer very-secret-token" {
		t.Fatal("Redacted modified the original")
	}
}

func TestNormalizeEventTypes(t *testing.T) {
	got := webhook.NormalizeEventTypes([]string{"validation.failed", "compliance.alert", "validation.failed"})
	if strings.Join(got, ",") != "compliance.alert,validation.failed" {
		t.Fatalf("got %v", got)
	}
	if got := webhook.NormalizeEventTypes([]string{"compliance.alert", "*"}); len(got) != 1 || got[0] != "*" {
		t.Fatalf("wildcard: %v", got)
	}
}

func TestEventBodyIsStable(t *testing.T) {
	e := &webhook.Event{EventID: "e1", EventType: "compliance.alert", Source: "loki", SourceID: "doc_1",
		Payload: json.RawMessage(`{ "alert_level" : "low" }`)}
	a, err := e.Body()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Body()
	if string(a) != string(b) {
		t.Fatal("body differs between calls")
	}
	want := `{"event_id":"e1","event_type":"compliance.alert","source":"loki","source_id":"doc_1","timestamp":"0001-01-01T00:00:00.000Z","data":{"alert_level":"low"}}`
	if string(a) != want {
		t.Fatalf("body\n%s\nwant\n%s", a, want)
	}
	// The payload's bytes are kept, not HTML-escaped.
	e.Payload = json.RawMessage("{\"message\":\"a<b && c>d \u2028\"}")
	if b, _ := e.Body(); !strings.HasSuffix(string(b), `"data":`+string(e.Payload)+`}`) {
		t.Fatalf("payload rewritten: %s", b)
	}
}

func TestValidEventID(t *testing.T) {
	for id, want := range map[string]bool{
		"0194f1a2-7c3b-7def-8abc-0123456789ab": true, "evt_123": true, "a.b:c-d": true,
		"": false, "has space": false, "../etc": false, "-leading": false, strings.Repeat("x", 129): false, "é": false,
	} {
		if got := webhook.ValidEventID(id); got != want {
			t.Errorf("ValidEventID(%q) = %v, want %v", id, got, want)
		}
	}
}

// Every spelling of a forbidden address is refused at create time with its
// reason, in production (and loopback-only ones stay refused in dev only
// for odd spellings). The dialer checks names again as it connects.
func TestURLPolicyRefusesInternalAddresses(t *testing.T) {
	prod := webhook.URLPolicy{}
	for _, tc := range []struct{ url, reason string }{
		{"https://127.0.0.1/h", "loopback"},
		{"https://127.1/h", "loopback"},
		{"https://2130706433/h", "loopback"},
		{"https://0177.0.0.1/h", "octal"},
		{"https://0x7f.1/h", "hex"},
		{"https://0x7f000001/h", "loopback"},
		{"https://127.0.0.1./h", "loopback"},
		{"https://[::1]/h", "loopback"},
		{"https://[::ffff:127.0.0.1]/h", "loopback"},
		{"https://[::ffff:7f00:1]/h", "loopback"},
		{"https://localhost/h", "loopback"},
		{"https://api.localhost/h", "loopback"},
		{"https://0.0.0.0/h", "unspecified"},
		{"https://[::]/h", "unspecified"},
		{"https://10.0.0.1/h", "private"},
		{"https://172.16.5.4/h", "private"},
		{"https://192.168.1.1/h", "private"},
		{"https://[fd00::1]/h", "private"},
		{"https://169.254.169.254/latest/meta-data/", "metadata"},
		{"https://[fe80::1]/h", "link-local"},
		{"https://100.64.0.1/h", "carrier-grade NAT"},
		{"https://224.0.0.1/h", "multicast"},
		{"https://255.255.255.255/h", "broadcast"},
		{"https://240.0.0.1/h", "reserved"},
		{"https://[64:ff9b::7f00:1]/h", "loopback"},
		{"https://[2002:7f00:1::]/h", "loopback"},
		{"https://good.example@127.0.0.1/h", "credentials"},
		{"https://127.0.0.1#@good.example/h", "fragment"},
		{"https://metadata.google.internal/h", "metadata"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			msg := prod.Check(tc.url)
			if msg == "" || !strings.Contains(msg, tc.reason) {
				t.Fatalf("Check(%q) = %q, want a refusal naming %q", tc.url, msg, tc.reason)
			}
		})
	}
	for _, ok := range []string{"https://example.com/h", "https://8.8.8.8/h", "https://[2606:4700::1111]/h", "https://hooks.slack.com/services/T/B/x"} {
		if msg := prod.Check(ok); msg != "" {
			t.Errorf("Check(%q) refused: %s", ok, msg)
		}
	}
	onPrem := webhook.URLPolicy{Addresses: netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}}
	if msg := onPrem.Check("https://10.1.2.3/h"); msg != "" {
		t.Errorf("an allowed CIDR refused: %s", msg)
	}
	if msg := onPrem.Check("https://10.2.0.1/h"); msg == "" {
		t.Error("an address outside the allowed CIDR accepted")
	}
}

func TestRetryOverrides(t *testing.T) {
	ptr := func(v int) *int { return &v }
	fixed := webhook.FixedInterval
	tests := []struct {
		name      string
		overrides map[string]webhook.RetryOverride
		field     string
	}{
		{"none", nil, ""},
		{"an alert retried every 10 s", map[string]webhook.RetryOverride{"compliance.alert": {RetryStrategy: &fixed, RetryDelaySeconds: ptr(10)}}, ""},
		{"unknown type", map[string]webhook.RetryOverride{"no.such": {MaxRetries: ptr(1)}}, "retry_overrides"},
		{"all types", map[string]webhook.RetryOverride{"*": {MaxRetries: ptr(1)}}, "retry_overrides"},
		{"out of range", map[string]webhook.RetryOverride{"compliance.alert": {MaxRetries: ptr(99)}}, "retry_overrides.compliance.alert.max_retries"},
		// A delay above the subscriber's max_delay_seconds (3600) is judged
		// with the subscriber's other fields.
		{"delay above the cap", map[string]webhook.RetryOverride{"compliance.alert": {RetryDelaySeconds: ptr(7200)}}, "retry_overrides.compliance.alert.max_delay_seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := validWebhook()
			w.RetryOverrides = tt.overrides
			if got := fieldOf(w.Validate(webhook.URLPolicy{})); got != tt.field {
				t.Fatalf("field = %q, want %q", got, tt.field)
			}
		})
	}
	w := validWebhook()
	w.RetryOverrides = map[string]webhook.RetryOverride{"compliance.alert": {RetryStrategy: &fixed, RetryDelaySeconds: ptr(10), MaxRetries: ptr(2)}}
	p := w.RetryPolicies()["compliance.alert"]
	if p.Strategy != webhook.FixedInterval || p.Delay != 10*time.Second || p.MaxRetries != 2 || p.MaxDelay != time.Duration(w.MaxDelaySeconds)*time.Second {
		t.Fatalf("alert policy %+v", p)
	}
}
