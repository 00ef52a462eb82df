package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
	"github.com/loki-interceptor/herald/workflows"
)

// tcpProxy forwards connections to an address until cut: then it drops
// every open connection and closes each new one on arrival, as a database
// that went away does to its clients. Restore lets connections through
// again. Cutting the store this way leaves PostgreSQL itself, and every
// other test's connections, alone.
type tcpProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	down    bool
	conns   map[net.Conn]struct{}
	stalled chan struct{} // while open, bytes are held: a network partition
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	return p
}

func (p *tcpProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(in)
	}
}

func (p *tcpProxy) forward(in net.Conn) {
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		in.Close()
		return
	}
	// Checked after dialling, so a connection made while the cut began
	// cannot slip through it.
	if !p.track(in, out) {
		in.Close()
		out.Close()
		return
	}
	var wg sync.WaitGroup
	for _, pair := range [][2]net.Conn{{out, in}, {in, out}} {
		wg.Go(func() {
			p.copy(pair[0], pair[1])
			// Either side ending ends both, as one TCP connection would.
			pair[0].Close()
			pair[1].Close()
		})
	}
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, in)
	delete(p.conns, out)
	p.mu.Unlock()
}

func (p *tcpProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

// copy forwards src to dst, holding what it read while the proxy stalls:
// the connections stay open and silent, as across a partition.
func (p *tcpProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			stalled := p.stalled
			p.mu.Unlock()
			if stalled != nil {
				<-stalled
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stall holds every byte until the returned function is called.
func (p *tcpProxy) stall() (resume func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.stalled = ch
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.stalled = nil
		p.mu.Unlock()
		close(ch)
	}
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// lockedBuffer collects a Herald's logs, shown only if the test fails.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// isolatedHerald is an API and a worker of their own whose store reaches
// PostgreSQL only through proxy. They run on the shared Temporal server in
// a namespace of their own, where the shared workers never see their
// events.
type isolatedHerald struct {
	apiURL   string
	key      string
	temporal client.Client
	proxy    *tcpProxy
}

func startIsolatedHerald(t *testing.T, h *stack, namespace string) *isolatedHerald {
	t.Helper()
	ctx := context.Background()
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the isolated Herald's log:\n%s", logs.String())
		}
	})

	dbURL := storetest.MustPostgresSchema(t)
	direct, err := store.Open(ctx, dbURL, secretbox.Ephemeral())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	secret, key := apikey.New("storedown admin", []apikey.Scope{apikey.Admin}, nil)
	if err := direct.CreateAPIKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	direct.Close()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	st, err := store.Open(ctx, u.String(), secretbox.Ephemeral())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	tc := ownNamespace(t, h, namespace, log)
	allow := []netip.Prefix{netip.MustParsePrefix("::1/128")}
	sender := delivery.NewSender(delivery.Options{RootCAs: h.roots, UserAgent: "Herald-Webhooks/e2e", Allow: allow})
	w := worker.New(tc, &activities.Activities{Store: st, Deliverer: &integrations.Deliverer{HTTP: sender}, Logger: log, Breaker: activities.DefaultBreaker,
		Temporal: tc, Publisher: &ingest.Publisher{Store: st, Temporal: tc, Logger: log}}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Config{URLPolicy: webhook.URLPolicy{AllowHTTPLoopback: true, Addresses: netguard.Policy{Allow: allow}}, Logger: log},
		st, tc, sender)
	go a.Serve(ln)
	t.Cleanup(func() { a.Shutdown(context.Background()) })
	return &isolatedHerald{apiURL: "http://" + ln.Addr().String(), key: secret, temporal: tc, proxy: proxy}
}

// ownNamespace registers a namespace on the shared Temporal server, readies
// it for Herald, and returns a client of it once workflows carrying Herald's
// search attributes can start there (a new namespace and its attributes
// reach the frontend within its cache refresh, about 10 s).
func ownNamespace(t *testing.T, h *stack, namespace string, log *slog.Logger) client.Client {
	t.Helper()
	ctx := context.Background()
	if _, err := h.temporal.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil && !errors.As(err, new(*serviceerror.NamespaceAlreadyExists)) {
		t.Fatal(err)
	}
	tc, err := client.NewClientFromExisting(h.temporal, client.Options{Namespace: namespace, Logger: sdklog.NewStructuredLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := worker.Prepare(ctx, tc, namespace, 30)
		if err == nil {
			probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
			_, err = tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: probe, TaskQueue: "probe",
				TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchEventType.ValueSet("probe"))}, "Probe")
			if err == nil {
				tc.TerminateWorkflow(ctx, probe, "", "probe only")
				return tc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s never became usable: %v", namespace, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// call makes an API request and returns the status and raw answer.
func (i *isolatedHerald) call(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, i.apiURL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+i.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	// A store or Temporal that is down is answered as documented too.
	openapitest.CheckExchange(t, req, body, resp, raw)
	return resp.StatusCode, string(raw)
}

func systemError(id string) string {
	return `{"event_id":"` + id + `","event_type":"system.error","payload":{"error_code":"E_STORE","component":"storedown","severity":"high"}}`
}

// TestStoreDownWhileEventsArrive cuts Herald off its database while events
// arrive and a delivery is between attempts. Publishing must then answer
// 503 with a JSON error, never 202 (nothing is accepted that could be
// lost), and readiness must name the database. Once the database is back,
// publishing works again, the refused events can be sent again under the
// same ids, and the delivery caught by the outage finishes: its attempt
// activity failed against the dead store and Temporal retried it.
func TestStoreDownWhileEventsArrive(t *testing.T) {
	h := herald(t)
	iso := startIsolatedHerald(t, h, "herald-storedown")
	recv := newReceiver(t, 503, 200)
	code, body := iso.call(t, "POST", "/api/v1/webhooks/", `{"name":"storedown","url":"`+recv.srv.URL+`/hook",
		"event_types":["system.error"],"retry_delay_seconds":3,"jitter_percentage":0}`)
	var hook createdWebhook
	if code != 201 || decodeJSON(body, &hook) != nil {
		t.Fatalf("create webhook: %d %s", code, body)
	}
	deliveriesPath := fmt.Sprintf("/api/v1/webhooks/%d/deliveries", hook.ID)
	// Temporal outlives this test's store: ids of a run of their own, or a
	// second run (-count) would find its workflows already there.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	evA, evB := "storedown-a-"+run, "storedown-b-"+run
	refused := []string{"storedown-refused-1-" + run, "storedown-refused-2-" + run, "storedown-refused-3-" + run}

	// Event A: its first attempt is refused (503) and recorded, its retry
	// due 3 s later, inside the outage.
	if code, body := iso.call(t, "POST", "/api/v1/events", systemError(evA)); code != 202 {
		t.Fatalf("publish before the outage: %d %s", code, body)
	}
	waitUntil(t, 30*time.Second, "attempt 1 of event A recorded as retrying", func() bool {
		_, body := iso.call(t, "GET", deliveriesPath+"?event_id="+evA, "")
		var l deliveryPage
		return decodeJSON(body, &l) == nil && len(l.Deliveries) == 1 && l.Deliveries[0].Status == "retrying"
	})

	iso.proxy.cut()
	for _, id := range refused {
		code, body := iso.call(t, "POST", "/api/v1/events", systemError(id))
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if code != 503 || decodeJSON(body, &e) != nil || e.Error.Code != string(webhook.EUnavailable) || e.Error.Message == "" {
			t.Fatalf("publish %s with the store down: %d %s, want 503 with a JSON error", id, code, body)
		}
	}
	code, body = iso.call(t, "GET", "/readyz", "")
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if code != 503 || decodeJSON(body, &ready) != nil || ready.Status != "not ready" ||
		!strings.HasPrefix(ready.Checks["database"], "unavailable") || ready.Checks["temporal"] != "ok" {
		t.Fatalf("readiness with the store down: %d %s", code, body)
	}
	// A's retry comes due in the outage (3 s after its first attempt): its
	// attempt, a local activity, fails on the store and the worker tries it
	// again and again, out of Temporal's sight until one succeeds.
	time.Sleep(6 * time.Second)
	if n := len(recv.arrivals()); n != 1 {
		t.Fatalf("during the outage the receiver got %d requests in all, want only A's first", n)
	}

	iso.proxy.restore()
	waitUntil(t, 30*time.Second, "readiness after the store returned", func() bool {
		code, _ := iso.call(t, "GET", "/readyz", "")
		return code == 200
	})
	if code, body := iso.call(t, "POST", "/api/v1/events", systemError(evB)); code != 202 {
		t.Fatalf("publish after the outage: %d %s", code, body)
	}
	// Refused means not accepted: the same id goes through now as new.
	code, body = iso.call(t, "POST", "/api/v1/events", systemError(refused[0]))
	var acc accepted
	if code != 202 || decodeJSON(body, &acc) != nil || acc.Duplicate {
		t.Fatalf("publish of a refused event again: %d %s", code, body)
	}
	for _, id := range []string{evA, evB, refused[0]} {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		var res workflows.EventResult
		err := iso.temporal.GetWorkflow(ctx, workflows.EventWorkflowID(id), "").Get(ctx, &res)
		cancel()
		if err != nil || res.Delivered != 1 {
			t.Fatalf("event %s after the outage: %+v %v", id, res, err)
		}
	}

	// What the receiver got: A twice (refused, then delivered after the
	// outage), B and the re-sent event once, the other refused ones never.
	count := map[string]int{}
	for _, a := range recv.arrivals() {
		id := a.header.Get(webhook.HeaderStdID)
		if err := webhook.VerifyHeaders(hook.Secret, a.header, a.body, a.at); err != nil {
			t.Fatalf("event %s: signature: %v", id, err)
		}
		count[id]++
	}
	if want := map[string]int{evA: 2, evB: 1, refused[0]: 1}; !maps.Equal(count, want) {
		t.Fatalf("receiver got %v, want %v", count, want)
	}
	// A partition rather than a refusal: connections open, nothing comes
	// back. Readiness still answers, in its own time limit.
	resume := iso.proxy.stall()
	began := time.Now()
	code, body = iso.call(t, "GET", "/readyz", "")
	if took := time.Since(began); code != 503 || !strings.Contains(body, `"database":"unavailable`) ||
		!strings.Contains(body, `"temporal":"ok"`) || took > 10*time.Second {
		resume()
		t.Fatalf("readiness with the store partitioned: %d %s after %v", code, body, took)
	}
	resume()
	waitUntil(t, 30*time.Second, "readiness after the partition", func() bool {
		code, _ := iso.call(t, "GET", "/readyz", "")
		return code == 200
	})

	_, body = iso.call(t, "GET", deliveriesPath+"?event_id="+evA, "")
	var l deliveryPage
	if err := decodeJSON(body, &l); err != nil || len(l.Deliveries) != 2 {
		t.Fatalf("event A's attempts: %v %s", err, body)
	}
	slices.SortFunc(l.Deliveries, func(a, b deliveryItem) int { return a.AttemptNumber - b.AttemptNumber })
	if a1, a2 := l.Deliveries[0], l.Deliveries[1]; a1.Status != "retrying" || a1.ResponseStatusCode != 503 || a2.Status != "delivered" || a2.ResponseStatusCode != 200 {
		t.Fatalf("event A's attempts: %+v", l.Deliveries)
	}
}

type deliveryItem struct {
	AttemptNumber      int    `json:"attempt_number"`
	Status             string `json:"status"`
	ResponseStatusCode int    `json:"response_status_code"`
}

type deliveryPage struct {
	Deliveries []deliveryItem `json:"deliveries"`
}

func decodeJSON(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
