package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/dashboard"
	"github.com/loki-interceptor/herald/webhook"
)

// browserReq is a request as a browser sends it: the session cookie
// instead of a bearer key, the CSRF header when csrf, an Origin when set.
type browserReq struct {
	method, path, body string
	cookie             string
	csrf               bool
	origin             string
}

// browser sends r and checks the exchange against the OpenAPI document.
func (f *fixture) browser(r browserReq) response {
	f.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, f.base+r.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.cookie != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: r.cookie})
	}
	if r.csrf {
		req.Header.Set(api.CSRFHeader, "1")
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	openapitest.CheckExchange(f.t, req, r.body, resp, raw)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			f.t.Fatalf("%s %s: not JSON: %s", r.method, r.path, raw)
		}
	}
	return out
}

func (r response) sessionCookie() *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == api.SessionCookie {
			return c
		}
	}
	return nil
}

func signInBody(key string) string { return fmt.Sprintf(`{"api_key":%q}`, key) }

// Signing in sets a cookie that scripts cannot read, that no other site
// makes the browser send, that is Secure unless configured otherwise, and
// that ends no later than its key.
func TestSignInSetsAStrictCookie(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		f := newFixture(t, func(c *api.Config) {
			c.InsecureSessionCookie, c.TemporalUI, c.Namespace = insecure, "http://ui.test", "ns1"
		})
		r := f.browser(browserReq{method: "POST", path: "/api/v1/session", body: signInBody(f.key), csrf: true})
		c := r.sessionCookie()
		if r.status != 200 || c == nil {
			t.Fatalf("sign in: %d %s", r.status, r.raw)
		}
		if c.Value != f.key || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure == insecure ||
			c.MaxAge != int(api.DefaultSessionMaxAge/time.Second) {
			t.Fatalf("insecure=%v: cookie %q", insecure, r.header.Get("Set-Cookie"))
		}
		if r.body["name"] != "test admin" || r.body["authenticated_by"] != "cookie" || r.body["temporal_ui_url"] != "http://ui.test" ||
			r.body["temporal_namespace"] != "ns1" || strings.Contains(r.raw, f.key) {
			t.Fatalf("session answer: %s", r.raw)
		}
	}
	f := newFixture(t)
	secret, k := apikey.New("an hour", []apikey.Scope{apikey.Read}, new(time.Now().Add(time.Hour)))
	if err := f.store.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	r := f.browser(browserReq{method: "POST", path: "/api/v1/session", body: signInBody(secret), csrf: true})
	if c := r.sessionCookie(); r.status != 200 || c == nil || c.MaxAge > 3600 || c.MaxAge < 3500 {
		t.Fatalf("a key expiring in an hour: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
}

// The cookie is checked as the bearer key is: the same failures, the same
// throttle, and a key that cannot read is not signed in.
func TestSignInRefusals(t *testing.T) {
	f := newFixture(t)
	events := mustKey(t, f.store, "source", apikey.Events)
	bad := apikey.Prefix + "000000000000_" + strings.Repeat("B", 43)
	for _, tc := range []struct {
		name, body string
		csrf       bool
		status     int
		code       string
	}{
		{"without the CSRF header", signInBody(f.key), false, 403, "forbidden"},
		{"an unknown key", signInBody(bad), true, 401, "unauthorized"},
		{"a malformed key", signInBody("sk_live_x"), true, 401, "unauthorized"},
		{"a key that cannot read", signInBody(events), true, 403, "forbidden"},
		{"no body", "", true, 400, "invalid_request"},
		{"an unknown field", `{"key":"x"}`, true, 400, "invalid_request"},
		{"neither key nor code", `{}`, true, 422, "validation_failed"},
		{"both key and code", `{"api_key":"x","sign_in_code":"y"}`, true, 422, "validation_failed"},
		{"a code herald dev did not print", `{"sign_in_code":"guess"}`, true, 401, "unauthorized"},
	} {
		r := f.browser(browserReq{method: "POST", path: "/api/v1/session", body: tc.body, csrf: tc.csrf})
		if code, _ := r.errCode(); r.status != tc.status || code != tc.code || r.sessionCookie() != nil {
			t.Errorf("%s: %d %s (cookie %v), want %d %s", tc.name, r.status, r.raw, r.sessionCookie(), tc.status, tc.code)
		}
		if r.status == 401 && r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
	// Three failures so far; bearer and sign-in failures share the budget.
	codes := map[int]int{}
	for i := range 26 {
		if i%2 == 0 {
			codes[f.doHeader("Bearer "+bad, "GET", "/api/v1/webhooks", "").status]++
		} else {
			codes[f.browser(browserReq{method: "POST", path: "/api/v1/session", body: signInBody(bad), csrf: true}).status]++
		}
	}
	if codes[401] != 17 || codes[429] != 9 {
		t.Fatalf("answers to 26 more bad keys: %v, want 17 × 401 then 429", codes)
	}
}

// A change made with the cookie needs the CSRF header, and an Origin, if
// sent, of this server: a page of another site can make a browser send
// the cookie, but neither of those.
func TestCookieChangesNeedProofOfOrigin(t *testing.T) {
	f := newFixture(t)
	self := f.base // http://127.0.0.1:port, the Host the request is sent to
	hook := func(name string) string {
		return fmt.Sprintf(`{"name":%q,"url":"https://example.com/h","event_types":["*"]}`, name)
	}
	for _, tc := range []struct {
		name   string
		req    browserReq
		status int
	}{
		{"cookie without the header", browserReq{cookie: f.key}, 403},
		{"cookie, header, another site", browserReq{cookie: f.key, csrf: true, origin: "https://evil.example"}, 403},
		{"cookie, header, same host on another port", browserReq{cookie: f.key, csrf: true, origin: "http://127.0.0.1:1"}, 403},
		{"cookie, header, an opaque origin", browserReq{cookie: f.key, csrf: true, origin: "null"}, 403},
		{"cookie, header, this server", browserReq{cookie: f.key, csrf: true, origin: self}, 201},
		{"cookie and header, no Origin", browserReq{cookie: f.key, csrf: true}, 201},
	} {
		tc.req.method, tc.req.path, tc.req.body = "POST", "/api/v1/webhooks", hook(tc.name)
		r := f.browser(tc.req)
		if code, _ := r.errCode(); r.status != tc.status || (r.status == 403 && code != "forbidden") {
			t.Errorf("%s: %d %s, want %d", tc.name, r.status, r.raw, tc.status)
		}
	}
	// A bearer key is not sent by browsers on their own: no proof needed.
	if r := f.do("POST", "/api/v1/webhooks", hook("bearer")); r.status != 201 {
		t.Fatalf("bearer: %d %s", r.status, r.raw)
	}
	list := f.browser(browserReq{method: "GET", path: "/api/v1/webhooks", cookie: f.key})
	if list.status != 200 || list.body["total"] != 3.0 {
		t.Fatalf("reading with the cookie needs no header; the refused changes wrote nothing: %d %s", list.status, list.raw)
	}
	if r := f.browser(browserReq{method: "DELETE", path: "/api/v1/webhooks/1", cookie: f.key}); r.status != 403 {
		t.Fatalf("delete with the cookie, without the header: %d", r.status)
	}
	r := f.browser(browserReq{method: "GET", path: "/api/v1/session", cookie: f.key})
	if r.status != 200 || r.body["authenticated_by"] != "cookie" {
		t.Fatalf("session by cookie: %d %s", r.status, r.raw)
	}
	if r := f.do("GET", "/api/v1/session", ""); r.status != 200 || r.body["authenticated_by"] != "bearer" {
		t.Fatalf("session by bearer: %d %s", r.status, r.raw)
	}
}

// Signing out clears the cookie, whatever it holds; a cookie whose key no
// longer works is cleared by the refusal too.
func TestSignOutAndStaleCookies(t *testing.T) {
	f := newFixture(t)
	if r := f.browser(browserReq{method: "DELETE", path: "/api/v1/session", cookie: f.key}); r.status != 403 {
		t.Fatalf("sign out without the header: %d", r.status)
	}
	r := f.browser(browserReq{method: "DELETE", path: "/api/v1/session", cookie: "whatever", csrf: true})
	if c := r.sessionCookie(); r.status != 204 || c == nil || c.Value != "" || !c.Expires.Before(time.Now()) || !c.HttpOnly {
		t.Fatalf("sign out: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
	revoked := mustKey(t, f.store, "gone", apikey.Read)
	id, _ := apikey.ParseID(revoked)
	k, _ := f.store.APIKey(context.Background(), id)
	if err := f.store.RevokeAPIKey(context.Background(), k.ID); err != nil {
		t.Fatal(err)
	}
	r = f.browser(browserReq{method: "GET", path: "/api/v1/webhooks", cookie: revoked})
	if c := r.sessionCookie(); r.status != 401 || c == nil || !c.Expires.Before(time.Now()) {
		t.Fatalf("a revoked key's cookie: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
}

// herald dev's link signs in once, before it expires.
func TestSignInCodeWorksOnce(t *testing.T) {
	now := time.Now()
	secret, k := apikey.New("herald dev admin", []apikey.Scope{apikey.Admin}, nil)
	for _, tc := range []struct {
		name    string
		expires time.Time
		uses    []int
	}{
		{"in time", now.Add(time.Minute), []int{200, 401}},
		{"too late", now.Add(-time.Second), []int{401}},
	} {
		f := newFixture(t, func(c *api.Config) {
			c.SignIn = &api.SignInCode{Code: "one-time-code", Key: secret, Expires: tc.expires}
			c.Now = func() time.Time { return now }
		})
		if err := f.store.CreateAPIKey(context.Background(), k); err != nil {
			t.Fatal(err)
		}
		if r := f.browser(browserReq{method: "POST", path: "/api/v1/session", body: `{"sign_in_code":"one-time-codX"}`, csrf: true}); r.status != 401 {
			t.Fatalf("%s: a wrong code: %d", tc.name, r.status)
		}
		for i, want := range tc.uses {
			r := f.browser(browserReq{method: "POST", path: "/api/v1/session", body: `{"sign_in_code":"one-time-code"}`, csrf: true})
			c := r.sessionCookie()
			if r.status != want || (want == 200) != (c != nil && c.Value == secret) {
				t.Fatalf("%s: use %d: %d %s", tc.name, i+1, r.status, r.raw)
			}
		}
	}
}

// The dashboard is served at /ui/ with its own policy, and / leads there;
// the API's JSON keeps its own.
func TestDashboardIsMounted(t *testing.T) {
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f := newFixture(t, func(c *api.Config) { c.Dashboard = dashboard.Handler() })
	resp, err := noRedirect.Get(f.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("/: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = noRedirect.Get(f.base + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<script type="module" src="js/main.js">`) {
		t.Fatalf("/ui/: %d %.200s", resp.StatusCode, page)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "Cache-Control"} {
		if got := resp.Header.Values(h); len(got) != 1 {
			t.Errorf("/ui/: %s sent %d times: %q", h, len(got), got)
		}
	}
	if got := resp.Header.Get("Content-Security-Policy"); got != dashboard.Policy {
		t.Errorf("/ui/ policy %q", got)
	}
	if r := f.do("GET", "/api/v1/webhooks", ""); !strings.HasPrefix(r.header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("the API's policy became %q", r.header.Get("Content-Security-Policy"))
	}
	plain := newFixture(t)
	if r, err := noRedirect.Get(plain.base + "/ui/"); err != nil || r.StatusCode != 404 {
		t.Fatalf("without a dashboard /ui/: %v %v", r, err)
	}
}

// ?series= adds the figures of consecutive intervals, each with what
// waited at its end, and what waits now: what the dashboard's charts draw.
func TestAnalyticsSeries(t *testing.T) {
	f := newFixture(t)
	hook := f.mustCreate(validWebhook)
	f.mustAttempt(int64(hook["id"].(float64)), "evt-series-1")
	// Accepted now, not attempted yet: it waits in the interval under way.
	ev := &webhook.Event{EventID: "evt-series-2", EventType: "compliance.alert", Source: "loki", Payload: json.RawMessage(`{}`), CreatedAt: time.Now()}
	if _, err := f.store.RecordEvents(context.Background(), []*webhook.Event{ev}, nil); err != nil {
		t.Fatal(err)
	}
	r := f.do("GET", "/api/v1/analytics?period_days=1&series=5&interval_minutes=2", "")
	if r.status != 200 || r.body["interval_minutes"] != 2.0 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	series := r.body["series"].([]any)
	last := series[len(series)-1].(map[string]any)
	from, _ := time.Parse(time.RFC3339Nano, series[0].(map[string]any)["from"].(string))
	to, _ := time.Parse(time.RFC3339Nano, last["to"].(string))
	if len(series) != 5 || last["total_attempts"] != 1.0 || last["failed_deliveries"] != 1.0 || to.Sub(from) != 10*time.Minute ||
		!to.After(time.Now()) {
		t.Fatalf("series %s", r.raw)
	}
	if p50, present := last["p50_response_time_ms"]; !present || p50 != nil { // its one attempt was not timed
		t.Fatalf("p50 %v", p50)
	}
	if w := r.body["waiting"].(map[string]any); w["deliveries"] != 1.0 {
		t.Fatalf("waiting %v", w)
	}
	for i, p := range series {
		want := 0.0
		if i == len(series)-1 {
			want = 1
		}
		if got := p.(map[string]any)["waiting_deliveries"]; got != want {
			t.Fatalf("point %d waiting_deliveries %v, want %v", i, got, want)
		}
	}
	if r := f.do("GET", "/api/v1/analytics", ""); r.body["series"] != nil {
		t.Fatalf("a series nobody asked for: %s", r.raw)
	}
	for _, q := range []string{"series=0", "series=121", "series=5&interval_minutes=0", "series=5&interval_minutes=1441", "interval_minutes=5"} {
		if r := f.do("GET", "/api/v1/analytics?"+q, ""); r.status != 400 {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
}
