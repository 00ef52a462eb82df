// Package e2e runs Herald whole: the embedded Temporal server, PostgreSQL as
// Herald's store, a worker, the API on a real listener, and TLS receivers on
// loopback. Tests assert what the receivers got.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/devserver"
	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/netguard/dnstest"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/telemetry"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
	"github.com/loki-interceptor/herald/workflows"
)

// stack is one running Herald. Tests share it and run one at a time; each
// deletes the webhooks it made so the next sees none of them.
type stack struct {
	apiURL   string
	key      string // an admin API key
	dbURL    string
	temporal client.Client
	// temporalAddress is the embedded server's frontend, for a test's own client.
	temporalAddress string
	store           *store.Store
	roots           *x509.CertPool
	resolver        *net.Resolver   // answers evil.test with 127.0.0.1
	cert            tls.Certificate // the one roots trusts, for servers the tests start
	stop            []func()

	tel   *telemetry.Telemetry
	spans *tracetest.InMemoryExporter

	workers   []sdkworker.Worker
	newWorker func() sdkworker.Worker
}

// restartWorkers stops every worker and starts new ones, as a deployment
// would: the new workers know nothing but what Temporal and the store hold.
func (s *stack) restartWorkers(t *testing.T) {
	t.Helper()
	for _, w := range s.workers {
		w.Stop()
	}
	for i := range s.workers {
		s.workers[i] = s.newWorker()
		if err := s.workers[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
}

var shared *stack

// testWindows shorten the rate-limit windows so a real run shows several.
var testWindows = store.Windows{Minute: 2 * time.Second, Hour: time.Hour}

func TestMain(m *testing.M) {
	s, err := startStack()
	if why := storetest.SkipWithout(err); err != nil && why != "" {
		fmt.Fprintln(os.Stderr, "e2e:", why)
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cannot start Herald:", err)
		if s != nil {
			s.close()
		}
		os.Exit(1)
	}
	shared = s
	code := m.Run()
	s.close()
	os.Exit(code)
}

func herald(*testing.T) *stack { return shared }

func (s *stack) close() {
	for i := len(s.stop) - 1; i >= 0; i-- {
		s.stop[i]()
	}
}

func startStack() (*stack, error) {
	s := &stack{}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := devserver.Start(devserver.Options{UIPort: -1, SearchAttributes: workflows.SearchAttributes(), Logger: log})
	if err != nil {
		return nil, err
	}
	s.stop = append(s.stop, srv.Stop)
	// Telemetry as production wires it, spans kept in memory to inspect.
	s.spans = tracetest.NewInMemoryExporter()
	if s.tel, err = telemetry.Setup(context.Background(), telemetry.Options{SpanExporter: s.spans}); err != nil {
		return s, err
	}
	tracing, err := s.tel.TemporalTracing()
	if err != nil {
		return s, err
	}
	s.temporalAddress = srv.Address()
	s.temporal, err = client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default", ConnectionOptions: worker.ConnectionOptions(srv.Address()),
		Interceptors: []interceptor.ClientInterceptor{tracing}, MetricsHandler: s.tel.TemporalMetrics()})
	if err != nil {
		return s, err
	}
	s.stop = append(s.stop, s.temporal.Close)
	dbURL, drop, err := storetest.PostgresSchema()
	if err != nil {
		return s, err
	}
	s.stop = append(s.stop, drop)
	s.dbURL = dbURL
	s.store, err = store.Open(context.Background(), dbURL, secretbox.Ephemeral())
	if err != nil {
		return s, err
	}
	s.stop = append(s.stop, func() { s.store.Close() })
	if _, err := s.store.Migrate(context.Background()); err != nil {
		return s, err
	}
	// Every httptest TLS server presents the same certificate.
	probe := httptest.NewTLSServer(http.NotFoundHandler())
	s.roots = x509.NewCertPool()
	s.roots.AddCert(probe.Certificate())
	s.cert = probe.TLS.Certificates[0]
	probe.Close()
	// Receivers listen on ::1, the one internal address allowed; the
	// resolver plays an attacker's DNS, sending evil.test to 127.0.0.1.
	dns, err := dnstest.New(map[string][]netip.Addr{"evil.test": {netip.MustParseAddr("127.0.0.1")}})
	if err != nil {
		return s, err
	}
	s.stop = append(s.stop, func() { dns.Close() })
	s.resolver = dns.Resolver()
	allow := []netip.Prefix{netip.MustParsePrefix("::1/128")}
	mailer := &integrations.Mailer{RootCAs: s.roots, Allow: allow, Resolver: s.resolver}
	sender := delivery.NewSender(delivery.Options{RootCAs: s.roots, UserAgent: "Herald-Webhooks/e2e", Allow: allow, Resolver: s.resolver,
		WrapTransport: s.tel.HTTPTransport})
	if err := s.tel.Metrics.ObserveState(func(ctx context.Context) (telemetry.State, error) {
		g, err := s.store.Gauges(ctx)
		return telemetry.State{DeliveriesWaiting: g.DeliveriesWaiting, EventsWaiting: g.EventsWaiting, WebhooksPaused: g.WebhooksPaused}, err
	}); err != nil {
		return s, err
	}
	s.newWorker = func() sdkworker.Worker {
		acts := &activities.Activities{Store: s.store, Logger: log, Breaker: activities.DefaultBreaker,
			Publisher: &ingest.Publisher{Store: s.store, Temporal: s.temporal, Logger: log}, Windows: testWindows,
			Deliverer: &integrations.Deliverer{HTTP: sender, Mail: mailer}, Temporal: s.temporal, Metrics: s.tel.Metrics}
		return worker.New(s.temporal, acts, worker.Options{Interceptors: []interceptor.WorkerInterceptor{refusedChildStarts.interceptor()}})
	}
	for range 2 { // two workers, as production runs them: limits must hold across both
		w := s.newWorker()
		if err := w.Start(); err != nil {
			return s, err
		}
		s.workers = append(s.workers, w)
	}
	s.stop = append(s.stop, func() {
		for _, w := range s.workers {
			w.Stop()
		}
	})
	if err := worker.Prepare(context.Background(), s.temporal, "default", 30); err != nil {
		return s, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	a := api.New(api.Config{URLPolicy: webhook.URLPolicy{AllowHTTPLoopback: true, Addresses: netguard.Policy{Allow: allow}},
		Logger: log, Mailer: mailer, Telemetry: s.tel, Windows: testWindows}, s.store, s.temporal, sender)
	go a.Serve(ln)
	s.stop = append(s.stop, func() { a.Shutdown(context.Background()) })
	s.apiURL = "http://" + ln.Addr().String()
	secret, key := apikey.New("e2e admin", []apikey.Scope{apikey.Admin}, nil)
	s.key = secret
	return s, s.store.CreateAPIKey(context.Background(), key)
}

// call makes an API request and decodes the JSON answer into out (if not nil).
func (s *stack) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var r io.Reader
	var sent []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r, sent = bytes.NewReader(b), b
	}
	req, _ := http.NewRequest(method, s.apiURL+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	// Every answer the end-to-end tests get, those that need Temporal
	// (publishing, retries, timelines) included, fits the OpenAPI document.
	openapitest.CheckExchange(t, req, string(sent), resp, raw)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

type createdWebhook struct {
	ID     int64  `json:"id"`
	Secret string `json:"secret"`
}

// mustWebhook creates a webhook through the API and deletes it at cleanup.
func (s *stack) mustWebhook(t *testing.T, spec map[string]any) createdWebhook {
	t.Helper()
	var w createdWebhook
	if code := s.call(t, "POST", "/api/v1/webhooks/", spec, &w); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	t.Cleanup(func() {
		// A webhook left behind would receive the next tests' events.
		if code := s.call(t, "DELETE", fmt.Sprintf("/api/v1/webhooks/%d", w.ID), nil, nil); code != 204 && code != 404 {
			t.Errorf("cleanup: deleting webhook %d answered %d", w.ID, code)
		}
	})
	return w
}

type accepted struct {
	EventID    string    `json:"event_id"`
	WorkflowID string    `json:"workflow_id"`
	Duplicate  bool      `json:"duplicate"`
	CreatedAt  time.Time `json:"created_at"`
}

func (s *stack) mustPublish(t *testing.T, ev map[string]any) accepted {
	t.Helper()
	var a accepted
	if code := s.call(t, "POST", "/api/v1/events", ev, &a); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	return a
}

// wait blocks until the event's workflow has finished and returns its result.
func (s *stack) wait(t *testing.T, eventID string) workflows.EventResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res workflows.EventResult
	if err := s.temporal.GetWorkflow(ctx, workflows.EventWorkflowID(eventID), "").Get(ctx, &res); err != nil {
		t.Fatalf("event %s: %v", eventID, err)
	}
	return res
}

// arrival is one request a receiver got.
type arrival struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver is an HTTPS endpoint answering from a script (the last status
// repeats) and recording every request.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	script []int
	got    []arrival
	delay  time.Duration // before each answer
}

func newReceiver(t *testing.T, script ...int) *receiver {
	r := &receiver{script: script}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := r.script[min(len(r.got), len(r.script)-1)]
		r.got = append(r.got, arrival{time.Now(), req.Header.Clone(), body})
		delay := r.delay
		r.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"received":true,"status":%d}`, status)
	}))
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) arrivals() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.got...)
}
