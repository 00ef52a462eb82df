package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/apikey"
)

func TestEveryRouteNeedsAKeyWithTheRightScope(t *testing.T) {
	f := newFixture(t)
	read := mustKey(t, f.store, "reader", apikey.Read)
	events := mustKey(t, f.store, "source", apikey.Events)
	write := mustKey(t, f.store, "writer", apikey.Write)
	revoked := mustKey(t, f.store, "gone", apikey.Admin)
	expiredSecret, expired := apikey.New("old", []apikey.Scope{apikey.Admin}, new(time.Now().Add(-time.Minute)))
	if err := f.store.CreateAPIKey(context.Background(), expired); err != nil {
		t.Fatal(err)
	}
	id, _ := apikey.ParseID(revoked)
	k, _ := f.store.APIKey(context.Background(), id)
	if err := f.store.RevokeAPIKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	forged := revoked[:len(revoked)-4] + "AAAA" // right id, wrong secret
	ev := `{"event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}}`
	hook := `{"name":"h","url":"https://example.com/h","event_types":["*"]}`
	tests := []struct {
		name, key, header, method, path, body string
		status                                int
		code                                  string
	}{
		{"no key", "", "", "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"basic auth", "", "Basic dXNlcjpwYXNz", "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"bearer without key", "", "Bearer ", "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"not a herald key", "", "Bearer sk_live_abcdef", "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"unknown key", "", "Bearer " + apikey.Prefix + "000000000000_" + strings.Repeat("A", 43), "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"forged secret", forged, "", "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"revoked", revoked, "", "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"expired", expiredSecret, "", "GET", "/api/v1/webhooks", "", 401, "unauthorized"},
		{"no key for an unknown route", "", "", "GET", "/api/v1/nothing", "", 401, "unauthorized"},
		{"health needs none", "", "", "GET", "/api/v1/health", "", 200, ""},
		{"read reads", read, "", "GET", "/api/v1/webhooks", "", 200, ""},
		{"read cannot write", read, "", "POST", "/api/v1/webhooks", hook, 403, "forbidden"},
		{"read cannot publish", read, "", "POST", "/api/v1/events", ev, 403, "forbidden"},
		{"events publishes", events, "", "POST", "/api/v1/events", ev, 503, "unavailable"}, // past auth; Temporal is down here
		{"events publishes batches", events, "", "POST", "/api/v1/events/batch", `{"events":[` + ev + `]}`, 503, "unavailable"},
		{"read cannot publish batches", read, "", "POST", "/api/v1/events/batch", `{"events":[` + ev + `]}`, 403, "forbidden"},
		{"events cannot read", events, "", "GET", "/api/v1/events", "", 403, "forbidden"},
		{"events cannot configure", events, "", "POST", "/api/v1/webhooks", hook, 403, "forbidden"},
		{"write configures", write, "", "POST", "/api/v1/webhooks", hook, 201, ""},
		{"write reads", write, "", "GET", "/api/v1/integrations", "", 200, ""},
		{"write cannot manage keys", write, "", "GET", "/api/v1/api-keys", "", 403, "forbidden"},
		{"write cannot mint keys", write, "", "POST", "/api/v1/api-keys", `{"name":"x","scopes":["admin"]}`, 403, "forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.req(tc.key, tc.header, tc.method, tc.path, tc.body)
			code, _ := r.errCode()
			if r.status != tc.status || code != tc.code {
				t.Fatalf("%d %s, want %d %s: %s", r.status, code, tc.status, tc.code, r.raw)
			}
			if tc.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

// req sends key as a bearer key, or header as the Authorization header.
func (f *fixture) req(key, header, method, path, body string) response {
	f.t.Helper()
	if header != "" {
		return f.doHeader(header, method, path, body)
	}
	return f.doAs(key, method, path, body)
}

func TestAPIKeyLifecycle(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/api/v1/api-keys", `{"name":"LOKI validator","scopes":["events"],"expires_in_hours":24}`)
	if r.status != 201 || !strings.HasPrefix(r.body["key"].(string), apikey.Prefix) || r.body["expires_at"] == nil {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	secret, keyID := r.body["key"].(string), r.body["id"]
	if pub := f.doAs(secret, "POST", "/api/v1/events", `{"event_type":"bogus","payload":{}}`); pub.status != 422 {
		t.Fatalf("the new key publishing: %d %s", pub.status, pub.raw)
	}
	list := f.do("GET", "/api/v1/api-keys", "")
	if list.status != 200 || list.body["total"] != 2.0 || strings.Contains(list.raw, secret) || strings.Contains(list.raw, apikey.Hash(secret)) {
		t.Fatalf("list shows the key or its hash, or misses one: %s", list.raw)
	}
	keys := list.body["api_keys"].([]any)
	if used := keys[1].(map[string]any)["last_used_at"]; used == nil {
		t.Fatalf("last_used_at not recorded: %s", list.raw)
	}
	for _, bad := range []string{`{"scopes":["read"]}`, `{"name":"x"}`, `{"name":"x","scopes":["root"]}`,
		`{"name":"x","scopes":["read"],"expires_at":"2001-01-01T00:00:00Z"}`, `{"name":"x","scopes":["read"],"expires_in_hours":0}`} {
		if r := f.do("POST", "/api/v1/api-keys", bad); r.status != 422 {
			t.Fatalf("%s: %d %s", bad, r.status, r.raw)
		}
	}
	if r := f.do("DELETE", fmt.Sprintf("/api/v1/api-keys/%v", keyID), ""); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if r := f.doAs(secret, "POST", "/api/v1/events", `{}`); r.status != 401 {
		t.Fatalf("revoked key still works: %d", r.status)
	}
	if r := f.do("DELETE", "/api/v1/api-keys/999", ""); r.status != 404 {
		t.Fatalf("revoke unknown: %d", r.status)
	}
}

func TestAPIRateLimitPerKey(t *testing.T) {
	f := newFixture(t, func(c *api.Config) { c.KeyRate, c.KeyBurst = 0.001, 3 })
	other := mustKey(t, f.store, "other", apikey.Read)
	for i := range 3 {
		if r := f.do("GET", "/api/v1/webhooks", ""); r.status != 200 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	r := f.do("GET", "/api/v1/webhooks", "")
	if code, _ := r.errCode(); r.status != 429 || code != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the rate: %d %s", r.status, r.raw)
	}
	if r := f.doAs(other, "GET", "/api/v1/webhooks", ""); r.status != 200 {
		t.Fatalf("another key is limited too: %d", r.status)
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/api/v1/health", "/api/v1/webhooks", "/api/v1/nothing"} {
		r := f.do("GET", path, "")
		for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		if !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: CSP %q", path, r.header.Get("Content-Security-Policy"))
		}
	}
}

// Scopes are decided on the path: no other spelling of a path may reach a
// route with a lower scope's key.
func TestPathSpellingsDoNotLowerTheScope(t *testing.T) {
	f := newFixture(t)
	write := mustKey(t, f.store, "writer", apikey.Write)
	for _, path := range []string{"/api/v1/API-KEYS", "/api/v1/Api-keys", "/API/V1/api-keys", "/api/v1/api-keys/", "/api/v1/%61pi-keys"} {
		for _, method := range []string{"GET", "POST"} {
			r := f.doAs(write, method, path, `{"name":"esc","scopes":["admin"]}`)
			if r.status < 400 {
				t.Fatalf("%s %s with a write key: %d %s", method, path, r.status, r.raw)
			}
		}
	}
}

// A compressed body is refused before anything unpacks it: its size limit
// would only have seen the compressed length.
func TestCompressedBodiesAreRefused(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"event_type":"system.error","payload":{"error_code":"` + strings.Repeat("A", 8<<20) + `"}}`))
	zw.Close()
	req, _ := http.NewRequest("POST", f.base+"/api/v1/events", &buf)
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The body is gzip, not text: the refusal is what the document checks.
	openapitest.CheckExchange(t, req, "", resp, raw)
	if resp.StatusCode != 415 || !strings.Contains(string(raw), "unsupported_media_type") {
		t.Fatalf("gzip body: %d %s", resp.StatusCode, raw)
	}
}

// Guessing keys is slowed: after a burst of failed authentications from
// one address, its requests are refused before any key lookup.
func TestFailedAuthenticationsAreRateLimited(t *testing.T) {
	f := newFixture(t)
	codes := map[int]int{}
	for range 30 {
		codes[f.doHeader("Bearer "+apikey.Prefix+"000000000000_"+strings.Repeat("B", 43), "GET", "/api/v1/webhooks", "").status]++
	}
	if codes[401] != 20 || codes[429] != 10 {
		t.Fatalf("answers to 30 bad keys: %v, want 20 × 401 then 429", codes)
	}
}
