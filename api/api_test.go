package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
)

// These tests drive the API in-process against a real store. Temporal is a
// real client pointed at a closed port: every path that needs Temporal must
// fail cleanly (503) without writing anything. The happy paths through
// Temporal are in the e2e package.

type fixture struct {
	t     testing.TB
	base  string
	store *store.Store
	key   string // an admin API key, sent with every request by do
	srv   *api.Server
}

func closedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newFixture starts the API; edits change its configuration (a clock, say).
func newFixture(t testing.TB, edits ...func(*api.Config)) *fixture {
	s := storetest.MustOpen(t, schema.SQLite)
	tc, err := client.NewLazyClient(client.Options{HostPort: closedAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	cfg := api.Config{
		URLPolicy:       webhook.URLPolicy{AllowHTTPLoopback: true, Addresses: netguard.Policy{Allow: netguard.Loopback}},
		MaxPayloadBytes: 1024,
		StartTimeout:    300 * time.Millisecond,
		QueryTimeout:    300 * time.Millisecond,
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	srv := api.New(cfg, s, tc, delivery.NewSender(delivery.Options{Allow: netguard.Loopback}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &fixture{t: t, base: "http://" + ln.Addr().String(), store: s, key: mustKey(t, s, "test admin", apikey.Admin), srv: srv}
}

// mustKey stores a new API key with these scopes and returns it.
func mustKey(t testing.TB, s *store.Store, name string, scopes ...apikey.Scope) string {
	t.Helper()
	secret, k := apikey.New(name, scopes, nil)
	if err := s.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return secret
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(method, path, body string) response {
	f.t.Helper()
	return f.doAs(f.key, method, path, body)
}

// doAs makes a request with the given API key ("" for none).
func (f *fixture) doAs(key, method, path, body string) response {
	f.t.Helper()
	if key == "" {
		return f.doHeader("", method, path, body)
	}
	return f.doHeader("Bearer "+key, method, path, body)
}

// doHeader makes a request with this Authorization header ("" for none),
// and checks the answer against the OpenAPI document.
func (f *fixture) doHeader(auth, method, path, body string) response {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.base+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	openapitest.CheckExchange(f.t, req, body, resp, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			f.t.Fatalf("%s %s: response is not a JSON object: %s", method, path, raw)
		}
	}
	return out
}

// exchange sends a request the test built itself (headers no helper
// sets), checks the answer against the OpenAPI document, and returns its
// status. req has no body.
func (f *fixture) exchange(req *http.Request) int {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	openapitest.CheckExchange(f.t, req, "", resp, raw)
	return resp.StatusCode
}

// errCode returns the error code and the first detail's field of an error response.
func (r response) errCode() (string, string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ := e["code"].(string)
	field := ""
	if ds, ok := e["details"].([]any); ok && len(ds) > 0 {
		field, _ = ds[0].(map[string]any)["field"].(string)
	}
	if msg, _ := e["message"].(string); code != "" && msg == "" {
		return code + " (no message)", field
	}
	if _, ok := e["details"]; code != "" && !ok {
		return code + " (no details)", field
	}
	return code, field
}

const validWebhook = `{"name":"Compliance Alerts","url":"https://example.com/webhooks/compliance",
	"description":"Send compliance violations","event_types":["compliance.alert","validation.failed"],
	"retry_strategy":"exponential_backoff","max_retries":5,"retry_delay_seconds":60,"rate_limit_per_minute":60,
	"custom_headers":{"Authorization":"Bearer token-xyz"},"metadata":{"team":"compliance","priority":"high"}}`

func (f *fixture) mustCreate(body string) map[string]any {
	f.t.Helper()
	r := f.do("POST", "/api/v1/webhooks/", body)
	if r.status != 201 {
		f.t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.body
}

func TestErrorCases(t *testing.T) {
	f := newFixture(t)
	hook := f.mustCreate(validWebhook)
	id := fmt.Sprint(hook["id"])
	f.mustCreate(`{"name":"Other","url":"https://example.org/x","event_types":["*"]}`)
	held := f.mustCreate(`{"name":"Held","url":"https://example.org/held","event_types":["*"],"status":"paused"}`)
	heldID := fmt.Sprint(held["id"])
	heldDelivery := fmt.Sprint(f.mustAttempt(int64(held["id"].(float64)), "evt-held"))
	sysErr := `{"event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}}`
	big := fmt.Sprintf(`{"event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low","message":"%s"}}`, strings.Repeat("x", 1100))

	tests := []struct {
		method, path, body string
		status             int
		code, field        string
	}{
		// webhooks: create
		{"POST", "/api/v1/webhooks/", "", 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/", "{", 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/", `[1]`, 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/", `{"name":"x"} {"name":"y"}`, 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/", `{"nmae":"typo"}`, 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"max_retries":"5"}`, 422, "validation_failed", "max_retries"},
		{"POST", "/api/v1/webhooks/", `{"url":"https://e.com","event_types":["*"]}`, 422, "validation_failed", "name"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"http://example.com/hook","event_types":["*"]}`, 422, "validation_failed", "url"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com"}`, 422, "validation_failed", "event_types"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["nope"]}`, 422, "validation_failed", "event_types"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"max_retries":21}`, 422, "validation_failed", "max_retries"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"retry_strategy":"random"}`, 422, "validation_failed", "retry_strategy"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"rate_limit_per_minute":0}`, 422, "validation_failed", "rate_limit_per_minute"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"custom_headers":{"X-A":"a\r\nX-B: b"}}`, 422, "validation_failed", "custom_headers.X-A"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"custom_headers":{"X-Webhook-Signature":"forged"}}`, 422, "validation_failed", "custom_headers.X-Webhook-Signature"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"secret":"short"}`, 422, "validation_failed", "secret"},
		{"POST", "/api/v1/webhooks/", `{"name":"x","url":"https://e.com","event_types":["*"],"status":"on"}`, 422, "validation_failed", "status"},
		{"POST", "/api/v1/webhooks/", validWebhook, 409, "conflict", ""},
		// webhooks: list, get, update, delete
		{"GET", "/api/v1/webhooks/?status=bogus", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/?limit=0", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/?limit=abc", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/?limit=1001", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/?offset=-1", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/abc", "", 404, "not_found", ""},
		{"GET", "/api/v1/webhooks/999", "", 404, "not_found", ""},
		{"PUT", "/api/v1/webhooks/999", `{"max_retries":3}`, 404, "not_found", ""},
		{"PUT", "/api/v1/webhooks/" + id, ``, 400, "invalid_request", ""},
		{"PUT", "/api/v1/webhooks/" + id, `{"max_retries":99}`, 422, "validation_failed", "max_retries"},
		{"PUT", "/api/v1/webhooks/" + id, `{"url":"ftp://x"}`, 422, "validation_failed", "url"},
		{"PUT", "/api/v1/webhooks/" + id, `{"name":"Other"}`, 409, "conflict", ""},
		{"PUT", "/api/v1/webhooks/" + id, `{"secret":""}`, 422, "validation_failed", "secret"},
		{"PUT", "/api/v1/webhooks/" + id, `{"name":"a\u0000b"}`, 422, "validation_failed", "name"},
		{"PUT", "/api/v1/webhooks/" + id, `{"metadata":{"k":"a\u0000b"}}`, 422, "validation_failed", "metadata"},
		{"PUT", "/api/v1/webhooks/" + id, `{"custom_headers":{"X-A":"1","x-a":"2"}}`, 422, "validation_failed", "custom_headers.x-a"},
		{"DELETE", "/api/v1/webhooks/999", "", 404, "not_found", ""},
		{"POST", "/api/v1/webhooks/999/test", `{}`, 404, "not_found", ""},
		{"POST", "/api/v1/webhooks/" + id + "/test", `{"event_type":"nope"}`, 422, "validation_failed", "event_type"},
		{"POST", "/api/v1/webhooks/" + id + "/test", `{"event_type":1}`, 422, "validation_failed", "event_type"},
		{"GET", "/api/v1/webhooks/999/deliveries", "", 404, "not_found", ""},
		{"GET", "/api/v1/webhooks/" + id + "/deliveries?status=bogus", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/" + id + "/deliveries?limit=-5", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/" + id + "/deliveries?event_id=%00", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/" + id + "/deliveries/999", "", 404, "not_found", ""},
		{"GET", "/api/v1/webhooks/" + id + "/deliveries/abc", "", 404, "not_found", ""},
		// operating deliveries
		{"POST", "/api/v1/webhooks/999/deliveries/1/retry", "", 404, "not_found", ""},
		{"POST", "/api/v1/webhooks/" + id + "/deliveries/999/retry", "", 404, "not_found", ""},
		{"POST", "/api/v1/webhooks/999/retry", "", 404, "not_found", ""},
		{"POST", "/api/v1/webhooks/" + id + "/retry?max_age_hours=0", "", 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/" + id + "/retry?max_age_hours=abc", "", 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/" + id + "/retry?limit=0", "", 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/" + id + "/retry?limit=1001", "", 400, "invalid_request", ""},
		{"POST", "/api/v1/webhooks/" + heldID + "/retry", "", 409, "conflict", ""},
		{"POST", "/api/v1/webhooks/" + heldID + "/deliveries/" + heldDelivery + "/retry", "", 409, "conflict", ""},
		{"POST", "/api/v1/webhooks/" + id + "/deliveries/999/cancel", "", 404, "not_found", ""},
		{"POST", "/api/v1/webhooks/999/deliveries/1/cancel", "", 404, "not_found", ""},
		// Failed for good, but whether a retry started it over is the
		// workflow's to answer, and Temporal is unreachable here (the
		// workflow's 409 is in e2e TestCancelAWaitingDelivery).
		{"POST", "/api/v1/webhooks/" + heldID + "/deliveries/" + heldDelivery + "/cancel", "", 503, "unavailable", ""},
		{"GET", "/api/v1/webhooks/999/analytics", "", 404, "not_found", ""},
		{"GET", "/api/v1/webhooks/" + id + "/analytics?period_days=0", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/webhooks/" + id + "/analytics?period_days=367", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/analytics?period_days=x", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/analytics?event_type=bogus", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/events/nope/timeline", "", 404, "not_found", ""},
		// events
		{"POST", "/api/v1/events", "", 400, "invalid_request", ""},
		{"POST", "/api/v1/events", `{"payload":{}}`, 422, "validation_failed", "event_type"},
		{"POST", "/api/v1/events", `{"event_type":"compliance.alarm","payload":{}}`, 422, "validation_failed", "event_type"},
		{"POST", "/api/v1/events", `{"event_type":"compliance.alert"}`, 422, "validation_failed", "payload"},
		{"POST", "/api/v1/events", `{"event_type":"compliance.alert","payload":null}`, 422, "validation_failed", "payload"},
		{"POST", "/api/v1/events", `{"event_type":"compliance.alert","payload":[1]}`, 422, "validation_failed", "payload"},
		{"POST", "/api/v1/events", `{"event_type":"compliance.alert","payload":{"alert_type":"x","message":"m"}}`, 422, "validation_failed", "payload.alert_level"},
		{"POST", "/api/v1/events", `{"event_type":"compliance.alert","payload":{"alert_level":"severe","alert_type":"x","message":"m"}}`, 422, "validation_failed", "payload.alert_level"},
		{"POST", "/api/v1/events", `{"event_id":"has space","event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}}`, 422, "validation_failed", "event_id"},
		{"POST", "/api/v1/events", `{"event_type":"system.error","source":"` + strings.Repeat("s", 201) + `","payload":{"error_code":"E","component":"c","severity":"low"}}`, 422, "validation_failed", "source"},
		{"POST", "/api/v1/events", `{"event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"},"extra":1}`, 400, "invalid_request", ""},
		{"POST", "/api/v1/events", big, 413, "payload_too_large", ""},
		{"POST", "/api/v1/events", `{"event_type":"system.error","source_id":"a\u0000","payload":{"error_code":"E","component":"c","severity":"low"}}`, 422, "validation_failed", "source_id"},
		// events, in a batch
		{"POST", "/api/v1/events/batch", "", 400, "invalid_request", ""},
		{"POST", "/api/v1/events/batch", `{"events":[]}`, 422, "validation_failed", ""},
		{"POST", "/api/v1/events/batch", `{"events":[` + strings.TrimSuffix(strings.Repeat(sysErr+",", 101), ",") + `]}`, 422, "validation_failed", ""},
		{"POST", "/api/v1/events/batch", `{"events":[` + sysErr + `,{"event_type":"compliance.alert","payload":{"alert_type":"x","message":"m"}}]}`, 422, "validation_failed", "events[1].payload.alert_level"},
		{"POST", "/api/v1/events/batch", `{"events":[{"event_id":"twice",` + sysErr[1:] + `,{"event_id":"twice",` + sysErr[1:] + `]}`, 422, "validation_failed", "events[1].event_id"},
		{"POST", "/api/v1/events/batch", `{"events":[` + sysErr + `],"extra":1}`, 400, "invalid_request", ""},
		{"POST", "/api/v1/events/batch", `{"events":[` + sysErr + `,` + big + `]}`, 413, "payload_too_large", ""},
		// the delivery log across webhooks
		{"GET", "/api/v1/deliveries?webhook_id=0", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/deliveries?status=lost", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/deliveries?event_type=bogus", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/deliveries?since=yesterday", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/deliveries?since=2026-12-05T08:00:00Z&until=2026-12-05T07:00:00Z", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/events/nope", "", 404, "not_found", ""},
		{"GET", "/api/v1/events/%00", "", 404, "not_found", ""},
		{"GET", "/api/v1/events?limit=5000", "", 400, "invalid_request", ""},
		{"GET", "/api/v1/events?event_type=bogus", "", 400, "invalid_request", ""},
		// the router itself
		{"GET", "/api/v1/nothing-here", "", 404, "not_found", ""},
		{"PATCH", "/api/v1/webhooks/" + id, `{}`, 405, "method_not_allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+trim(tt.body), func(t *testing.T) {
			r := f.do(tt.method, tt.path, tt.body)
			code, field := r.errCode()
			if r.status != tt.status || code != tt.code || (tt.field != "" && field != tt.field) {
				t.Fatalf("got %d %s field %q, want %d %s field %q: %s", r.status, code, field, tt.status, tt.code, tt.field, r.raw)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
		})
	}
	// None of the refused writes changed anything.
	got := f.do("GET", "/api/v1/webhooks/"+id, "")
	if got.body["max_retries"] != 5.0 || got.body["url"] != "https://example.com/webhooks/compliance" || got.body["name"] != "Compliance Alerts" {
		t.Fatalf("webhook changed by refused updates: %s", got.raw)
	}
	list := f.do("GET", "/api/v1/webhooks/", "")
	if list.body["total"] != 3.0 {
		t.Fatalf("refused creates wrote rows: %s", list.raw)
	}
}

// mustAttempt records a failed first attempt of a new event to webhook id,
// as a worker would, and returns the delivery's id.
func (f *fixture) mustAttempt(id int64, eventID string) int64 {
	f.t.Helper()
	ctx := context.Background()
	w, err := f.store.GetWebhook(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	ev := &webhook.Event{EventID: eventID, EventType: "system.error", Source: "loki", SourceID: "s",
		Payload: json.RawMessage(`{"error_code":"E","component":"c","severity":"low"}`), CreatedAt: time.Now().UTC()}
	if _, err := f.store.CreateEvent(ctx, ev); err != nil {
		f.t.Fatal(err)
	}
	body, _ := ev.Body()
	d := &webhook.Attempt{WebhookID: w.ID, EventID: ev.EventID, EventType: ev.EventType, AttemptNumber: 1, URL: w.URL,
		RequestBody: body, Signature: webhook.Sign(w.Secret, body)}
	if _, err := f.store.StartAttempt(ctx, d); err != nil {
		f.t.Fatal(err)
	}
	code := 500
	d.Status, d.ResponseStatusCode, d.LastError, d.ErrorClass = webhook.AttemptFailed, &code, "HTTP 500", webhook.ClassHTTPStatus
	if err := f.store.FinishAttempt(ctx, d); err != nil {
		f.t.Fatal(err)
	}
	return d.ID
}

// A body far over the server's limit is refused from its Content-Length
// alone, before it is sent: a raw request shows exactly that answer.
func TestOversizedBodyIsRefusedUpFront(t *testing.T) {
	f := newFixture(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/events HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 8<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(raw), `"code":"payload_too_large"`) {
		t.Fatalf("got %d %s", resp.StatusCode, raw)
	}
}

func trim(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func TestTemporalDownMeansNothingAccepted(t *testing.T) {
	f := newFixture(t)
	// A batch is refused whole: none of its events is written.
	r := f.do("POST", "/api/v1/events/batch", `{"events":[{"event_id":"evt-down-1","event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}},
		{"event_id":"evt-down-2","event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}}]}`)
	if code, _ := r.errCode(); r.status != 503 || code != "unavailable" {
		t.Fatalf("batch: got %d %s", r.status, r.raw)
	}
	for _, id := range []string{"evt-down-1", "evt-down-2"} {
		if r := f.do("GET", "/api/v1/events/"+id, ""); r.status != 404 {
			t.Fatalf("batch event written although Temporal refused it: %s", r.raw)
		}
	}
	r = f.do("POST", "/api/v1/events", `{"event_id":"evt-down","event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}}`)
	if code, _ := r.errCode(); r.status != 503 || code != "unavailable" ||
		r.body["error"].(map[string]any)["details"].(map[string]any)["event_id"] != "evt-down" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if r := f.do("GET", "/api/v1/events/evt-down", ""); r.status != 404 {
		t.Fatalf("event written although Temporal refused it: %s", r.raw)
	}
	for _, path := range []string{"/readyz", "/api/v1/ready"} {
		r := f.doAs("", "GET", path, "")
		if r.status != 503 || r.body["checks"].(map[string]any)["database"] != "ok" {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		// It answers without a key: what is down, not where or why.
		if strings.Contains(r.raw, "127.0.0.1") || !strings.Contains(r.raw, "see the server log") {
			t.Fatalf("%s tells too much: %s", path, r.raw)
		}
	}
	if r := f.do("GET", "/api/v1/health", ""); r.status != 200 {
		t.Fatalf("health: %d %s", r.status, r.raw)
	}
	if r := f.do("GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
}

func TestWebhookLifecycle(t *testing.T) {
	f := newFixture(t)
	created := f.mustCreate(validWebhook)
	secret, _ := created["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) < 40 {
		t.Fatalf("created webhook lacks its full secret: %v", created)
	}
	for k, want := range map[string]any{"status": "active", "max_retries": 5.0, "retry_strategy": "exponential_backoff",
		"backoff_multiplier": 2.0, "max_delay_seconds": 3600.0, "rate_limit_per_hour": 3600.0, "timeout_seconds": 10.0, "last_triggered_at": nil} {
		if created[k] != want {
			t.Errorf("%s = %v, want %v", k, created[k], want)
		}
	}
	if sched := fmt.Sprint(created["retry_schedule_seconds"]); sched != "[60 120 240 480 960]" {
		t.Errorf("retry schedule %s", sched)
	}
	id := fmt.Sprint(created["id"])

	got := f.do("GET", "/api/v1/webhooks/"+id, "")
	if got.status != 200 || got.body["secret"] == secret || strings.Contains(got.raw, secret[10:]) || strings.Contains(got.raw, "token-xyz") {
		t.Fatalf("GET shows a secret: %s", got.raw)
	}
	// The LOKI guide's update example: three fields, everything else kept.
	upd := f.do("PUT", "/api/v1/webhooks/"+id, `{"status":"paused","max_retries":10,"metadata":{"updated_reason":"Receiver maintenance"}}`)
	if upd.status != 200 || upd.body["status"] != "paused" || upd.body["max_retries"] != 10.0 || upd.body["name"] != "Compliance Alerts" ||
		upd.body["metadata"].(map[string]any)["updated_reason"] != "Receiver maintenance" {
		t.Fatalf("PUT: %d %s", upd.status, upd.raw)
	}
	if list := f.do("GET", "/api/v1/webhooks/?status=paused&limit=50&offset=0", ""); list.body["total"] != 1.0 {
		t.Fatalf("list paused: %s", list.raw)
	}
	if list := f.do("GET", "/api/v1/webhooks?status=active", ""); list.body["total"] != 0.0 || len(list.body["webhooks"].([]any)) != 0 {
		t.Fatalf("list active: %s", list.raw)
	}
	if r := f.do("DELETE", "/api/v1/webhooks/"+id, ""); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	if r := f.do("GET", "/api/v1/webhooks/"+id, ""); r.status != 404 {
		t.Fatalf("GET after delete: %d", r.status)
	}
}

// A client may GET a webhook, change a field and PUT the whole object back:
// the masked secret and header values it sends mean "unchanged".
func TestMaskedValuesRoundTrip(t *testing.T) {
	f := newFixture(t)
	auth := make(chan string, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { auth <- r.Header.Get("Authorization") }))
	defer recv.Close()
	created := f.mustCreate(`{"name":"rt","url":"` + recv.URL + `","event_types":["*"],"custom_headers":{"Authorization":"Bearer real-token-123"}}`)
	id := fmt.Sprint(created["id"])
	got := f.do("GET", "/api/v1/webhooks/"+id, "")
	got.body["max_retries"] = 7
	for _, k := range []string{"id", "created_at", "updated_at", "last_triggered_at", "retry_schedule_seconds"} {
		delete(got.body, k)
	}
	body, _ := json.Marshal(got.body)
	if r := f.do("PUT", "/api/v1/webhooks/"+id, string(body)); r.status != 200 || r.body["max_retries"] != 7.0 {
		t.Fatalf("PUT of the GET: %d %s", r.status, r.raw)
	}
	stored, err := f.store.GetWebhook(context.Background(), int64(created["id"].(float64)))
	if err != nil || stored.Secret != created["secret"] || stored.CustomHeaders["Authorization"] != "Bearer real-token-123" {
		t.Fatalf("credentials changed by a round trip: %+v %v", stored, err)
	}
	if r := f.do("POST", "/api/v1/webhooks/"+id+"/test", ""); r.status != 200 {
		t.Fatalf("test delivery: %d %s", r.status, r.raw)
	}
	select {
	case a := <-auth:
		if a != "Bearer real-token-123" {
			t.Fatalf("receiver got Authorization %q", a)
		}
	default:
		t.Fatal("the test delivery did not reach the receiver")
	}
}

func TestEventTypes(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/api/v1/event-types", "")
	types := r.body["event_types"].([]any)
	if r.status != 200 || len(types) != 8 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	first := types[0].(map[string]any)
	if first["event_type"] != "validation.completed" || first["example"] == nil || len(first["fields"].([]any)) == 0 {
		t.Fatalf("entry %v", first)
	}
}

func TestTestEndpointSendsARealSignedAttempt(t *testing.T) {
	f := newFixture(t)
	type got struct {
		header http.Header
		body   []byte
	}
	arrivals := make(chan got, 2)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		arrivals <- got{r.Header.Clone(), b}
		if r.Header.Get("X-Webhook-Event") == "batch.completed" {
			w.WriteHeader(500)
			io.WriteString(w, "receiver broke")
			return
		}
		io.WriteString(w, "thanks")
	}))
	defer recv.Close()
	created := f.mustCreate(`{"name":"local","url":"` + recv.URL + `/hook","event_types":["validation.completed","batch.completed"]}`)
	id, secret := fmt.Sprint(created["id"]), created["secret"].(string)

	r := f.do("POST", "/api/v1/webhooks/"+id+"/test", `{"event_type":"validation.completed"}`)
	if r.status != 200 || r.body["success"] != true || r.body["status_code"] != 200.0 || r.body["response_body"] != "thanks" || r.body["error"] != "" {
		t.Fatalf("test: %d %s", r.status, r.raw)
	}
	a := <-arrivals
	if err := webhook.VerifyHeaders(secret, a.header, a.body, time.Now()); err != nil {
		t.Fatalf("receiver cannot verify the test delivery: %v", err)
	}
	var env webhook.Envelope
	json.Unmarshal(a.body, &env)
	et, _ := eventtypes.Lookup("validation.completed")
	if env.EventType != "validation.completed" || string(env.Data) != string(et.Example) || !strings.HasPrefix(env.EventID, "test_") {
		t.Fatalf("test body %s", a.body)
	}

	// A failing receiver is reported, not retried.
	r = f.do("POST", "/api/v1/webhooks/"+id+"/test", `{"event_type":"batch.completed"}`)
	if r.status != 200 || r.body["success"] != false || r.body["status_code"] != 500.0 || r.body["response_body"] != "receiver broke" || r.body["error"] == "" {
		t.Fatalf("failing test: %s", r.raw)
	}
	<-arrivals
	// Both were recorded as test deliveries.
	list := f.do("GET", "/api/v1/webhooks/"+id+"/deliveries", "")
	ds := list.body["deliveries"].([]any)
	if list.body["total"] != 2.0 || ds[0].(map[string]any)["status"] != "failed" || ds[1].(map[string]any)["status"] != "delivered" ||
		ds[0].(map[string]any)["is_test"] != true {
		t.Fatalf("deliveries: %s", list.raw)
	}
	one := f.do("GET", fmt.Sprintf("/api/v1/webhooks/%s/deliveries/%v", id, ds[1].(map[string]any)["id"]), "")
	if one.status != 200 || one.body["response_status_code"] != 200.0 || one.body["signature"] == "" || one.body["event_data"] == nil || one.body["live"] != nil {
		t.Fatalf("delivery: %s", one.raw)
	}
	if hdrs := one.body["request_headers"].(map[string]any); hdrs["X-Webhook-Signature"] == nil {
		t.Fatalf("request headers not recorded: %v", hdrs)
	}
	retry := fmt.Sprintf("/api/v1/webhooks/%s/deliveries/%v/retry", id, ds[0].(map[string]any)["id"])
	if r := f.do("POST", retry, ""); r.status != 409 {
		t.Fatalf("retry of a test delivery: %d %s", r.status, r.raw)
	}
}

// A test delivery counts against the rate limit like any attempt.
// clockAt runs a clock from the given second of the current minute on.
func clockAt(second float64) func(*api.Config) {
	start := time.Now()
	at := start.Truncate(time.Minute).Add(time.Duration(second * float64(time.Second)))
	return func(c *api.Config) { c.Now = func() time.Time { return at.Add(time.Since(start)) } }
}

func TestTestDeliveriesRespectTheRateLimit(t *testing.T) {
	f := newFixture(t, clockAt(20))
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer recv.Close()
	created := f.mustCreate(`{"name":"slow","url":"` + recv.URL + `","event_types":["*"],"rate_limit_per_minute":1}`)
	path := fmt.Sprintf("/api/v1/webhooks/%v/test", created["id"])
	first := f.do("POST", path, "")
	second := f.do("POST", path, "")
	if first.status != 200 {
		t.Fatalf("first test: %d %s", first.status, first.raw)
	}
	code, _ := second.errCode()
	if second.status != 429 || code != "rate_limited" || second.header.Get("Retry-After") == "" {
		t.Fatalf("second test in the same minute: %d %s", second.status, second.raw)
	}
	if hits.Load() != 1 {
		t.Fatalf("receiver got %d requests, want the first test's alone", hits.Load())
	}
}

// In a window's last second nothing is granted (an attempt could land in
// the next window); a test then waits for the next window, not refused.
func TestTestDeliveryWaitsOutAWindowsEnd(t *testing.T) {
	f := newFixture(t, clockAt(59.5))
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer recv.Close()
	created := f.mustCreate(`{"name":"edge","url":"` + recv.URL + `","event_types":["*"]}`)
	if r := f.do("POST", fmt.Sprintf("/api/v1/webhooks/%v/test", created["id"]), ""); r.status != 200 || r.body["success"] != true {
		t.Fatalf("test at a window's end: %d %s", r.status, r.raw)
	}
}

// Moving a webhook to another host does not take its stored credentials
// along: the caller must send them again (it may not know them).
func TestCredentialHeadersDoNotFollowANewHost(t *testing.T) {
	f := newFixture(t)
	created := f.mustCreate(`{"name":"partner","url":"https://partner.example.com/h","event_types":["*"],
		"custom_headers":{"Authorization":"Bearer TOPSECRET","X-Api-Pass":"also-secret","X-Client-ID":"loki"}}`)
	path := fmt.Sprintf("/api/v1/webhooks/%v", created["id"])
	got := f.do("GET", path, "")
	if strings.Contains(got.raw, "TOPSECRET") || strings.Contains(got.raw, "also-secret") {
		t.Fatalf("credential headers shown: %s", got.raw)
	}
	for _, body := range []string{`{"url":"https://evil.example/h"}`,
		`{"url":"https://evil.example/h","custom_headers":` + mustJSON(got.body["custom_headers"]) + `}`} {
		if r := f.do("PUT", path, body); r.status != 422 || !strings.Contains(r.raw, "custom_headers.") {
			t.Fatalf("%s: %d %s", body, r.status, r.raw)
		}
	}
	if r := f.do("PUT", path, `{"url":"https://partner.example.com/v2"}`); r.status != 200 {
		t.Fatalf("same host: %d %s", r.status, r.raw)
	}
	if r := f.do("PUT", path, `{"url":"https://new.example/h","custom_headers":{"Authorization":"Bearer NEW","X-Client-ID":"loki"}}`); r.status != 200 {
		t.Fatalf("moving with new credentials: %d %s", r.status, r.raw)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Analytics across webhooks list every subscriber with figures, integrations
// included.
func TestAnalyticsListIntegrationsToo(t *testing.T) {
	f := newFixture(t)
	hook := f.mustCreate(validWebhook)
	slack := f.mustIntegration(validSlack)
	hookID, slackID := int64(hook["id"].(float64)), int64(slack["id"].(float64))
	f.mustAttempt(hookID, "evt-fig-1")
	f.mustAttempt(slackID, "evt-fig-2")
	var all struct {
		ByWebhook []struct {
			WebhookID     int64  `json:"webhook_id"`
			Name          string `json:"name"`
			TotalAttempts int    `json:"total_attempts"`
		} `json:"by_webhook"`
	}
	r := f.do("GET", "/api/v1/analytics?period_days=1", "")
	if err := json.Unmarshal([]byte(r.raw), &all); err != nil || r.status != 200 || len(all.ByWebhook) != 2 ||
		all.ByWebhook[0].WebhookID != hookID || all.ByWebhook[1].WebhookID != slackID ||
		all.ByWebhook[1].Name != slack["name"] || all.ByWebhook[1].TotalAttempts != 1 {
		t.Fatalf("by_webhook: %d %s (%v)", r.status, r.raw, err)
	}
}

// The delivery log across webhooks and integrations, and its filters.
func TestListDeliveriesAcrossWebhooks(t *testing.T) {
	f := newFixture(t)
	hookID := int64(f.mustCreate(validWebhook)["id"].(float64))
	slackID := int64(f.mustIntegration(validSlack)["id"].(float64))
	first, second := f.mustAttempt(hookID, "evt-log-1"), f.mustAttempt(slackID, "evt-log-2")
	list := func(query string) string {
		t.Helper()
		r := f.do("GET", "/api/v1/deliveries"+query, "")
		var got struct {
			Deliveries []struct {
				ID int64 `json:"id"`
			} `json:"deliveries"`
			Total int `json:"total"`
		}
		if err := json.Unmarshal([]byte(r.raw), &got); err != nil || r.status != 200 {
			t.Fatalf("GET /api/v1/deliveries%s: %d %s", query, r.status, r.raw)
		}
		var ids []string
		for _, d := range got.Deliveries {
			ids = append(ids, fmt.Sprint(d.ID))
		}
		return fmt.Sprintf("%d: %s", got.Total, strings.Join(ids, " "))
	}
	soon := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for query, want := range map[string]string{
		"":                                       fmt.Sprintf("2: %d %d", second, first),
		fmt.Sprintf("?webhook_id=%d", slackID):   fmt.Sprintf("1: %d", second),
		"?event_type=system.error&status=failed": fmt.Sprintf("2: %d %d", second, first),
		"?event_type=compliance.alert":           "0: ",
		"?since=" + soon:                         "0: ",
		"?until=" + soon + "&limit=1":            fmt.Sprintf("2: %d", second),
	} {
		if got := list(query); got != want {
			t.Errorf("GET /api/v1/deliveries%s: %s, want %s", query, got, want)
		}
	}
}
