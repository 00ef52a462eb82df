package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/dashboard"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/devserver"
	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
	"github.com/loki-interceptor/herald/workflows"
)

// temporalUI is where the test's Herald says the Temporal Web UI is: the
// dashboard's links are checked, not followed.
const temporalUI = "http://temporal-ui.test:8233"

// herald is a whole Herald as herald dev runs it, in this process: the
// embedded Temporal server, a SQLite store, a worker and the API with the
// dashboard. The browser reaches it through a proxy that holds every
// exchange of the dashboard with /api/v1 to the OpenAPI document.
type herald struct {
	url    string // what the browser opens: the checking proxy
	api    string // the API itself, for the test's own calls
	key    string // an admin key
	signIn string // a one-time sign-in code for the admin key, as herald dev prints in its link
	// storeAt opens the same store with a clock set back by ago, for
	// records older than the test.
	storeAt func(ago time.Duration) *store.Store
}

// eventually polls cond for up to 20 seconds, and fails the test with
// what explain says when it never holds.
func eventually(t *testing.T, cond func() bool, explain func() string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(explain())
		}
	}
}

func startHerald(t *testing.T) *herald {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := devserver.Start(devserver.Options{UIPort: -1, SearchAttributes: workflows.SearchAttributes(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	tc, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	if err := worker.Prepare(context.Background(), tc, "default", 30); err != nil {
		t.Fatal(err)
	}
	dbURL, box := storetest.MustURL(t, schema.SQLite), secretbox.Ephemeral()
	st := storetest.MustOpenAt(t, dbURL, box)
	sender := delivery.NewSender(delivery.Options{UserAgent: "Herald-Webhooks/dashboard-test", Allow: netguard.Loopback})
	w := worker.New(tc, &activities.Activities{Store: st, Logger: log, Breaker: activities.DefaultBreaker, Temporal: tc,
		Publisher: &ingest.Publisher{Store: st, Temporal: tc, Logger: log, EagerStart: true},
		Deliverer: &integrations.Deliverer{HTTP: sender, Mail: &integrations.Mailer{Allow: netguard.Loopback}}}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	secret, k := apikey.New("dashboard test admin", []apikey.Scope{apikey.Admin}, nil)
	if err := st.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	code := &api.SignInCode{Code: "dashboard-test-sign-in", Key: secret, Expires: time.Now().Add(15 * time.Minute)}
	a := api.New(api.Config{
		URLPolicy: webhook.URLPolicy{AllowHTTPLoopback: true, Addresses: netguard.Policy{Allow: netguard.Loopback}},
		Logger:    log, EagerStart: true, SignIn: code,
		Dashboard: dashboard.Handler(), InsecureSessionCookie: true, TemporalUI: temporalUI, Namespace: "default",
	}, st, tc, sender)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go a.Serve(ln)
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	apiURL := "http://" + ln.Addr().String()
	proxy := httptest.NewServer(checkingProxy(t, apiURL))
	t.Cleanup(proxy.Close)
	return &herald{url: proxy.URL, api: apiURL, key: secret, signIn: code.Code,
		storeAt: func(ago time.Duration) *store.Store {
			earlier := storetest.MustOpenAt(t, dbURL, box)
			earlier.Now = func() time.Time { return time.Now().Add(-ago) }
			return earlier
		}}
}

// checkingProxy passes the browser's requests to the API unchanged (the
// Host too, which the API's Origin check compares) and checks each
// exchange with /api/v1 against the OpenAPI document: the dashboard uses
// only documented operations, and the document describes what it gets.
func checkingProxy(t *testing.T, target string) http.Handler {
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		out, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header, out.Host = r.Header.Clone(), r.Host
		resp, err := transport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		respBody, _ := io.ReadAll(resp.Body)
		if r.Context().Err() == nil {
			openapitest.CheckExchange(t, out, string(body), resp, respBody)
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(respBody)
	})
}

// call is the test's own API request, with the key as a bearer; the
// exchange is checked against the OpenAPI document as the browser's are.
func (h *herald) call(t *testing.T, method, path, key string, body any, out any) int {
	t.Helper()
	var sent []byte
	if body != nil {
		sent, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, h.api+path, bytes.NewReader(sent))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	openapitest.CheckExchange(t, req, string(sent), resp, raw)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

// receiver answers 503 to its first request and 200 to every other, and
// keeps what it got.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.got = append(rc.got, r)
		n := len(rc.got)
		rc.mu.Unlock()
		if n == 1 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// signatures says whether every request carried both signatures.
func (rc *receiver) signed() bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, r := range rc.got {
		if !strings.HasPrefix(r.Header.Get("X-Webhook-Signature"), "sha256=") || r.Header.Get("webhook-signature") == "" {
			return false
		}
	}
	return len(rc.got) > 0
}
