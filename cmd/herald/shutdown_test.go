package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/devserver"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/workflows"
)

// childArgsEnv, when set, makes the test binary run herald's own main with
// these (JSON-encoded) arguments instead of the tests: the shutdown tests
// run the roles as separate processes and stop them with a real SIGTERM,
// through main's own signal handling.
const childArgsEnv = "HERALD_TEST_CHILD_ARGS"

// asHeraldEnv, when "1", makes the test binary herald itself, its command
// line herald's: the README's commands call it as ./bin/herald.
const asHeraldEnv = "HERALD_TEST_AS_HERALD"

func TestMain(m *testing.M) {
	if os.Getenv(asHeraldEnv) == "1" {
		os.Args[0] = "herald"
		main()
		os.Exit(0)
	}
	if raw, ok := os.LookupEnv(childArgsEnv); ok {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintln(os.Stderr, childArgsEnv+":", err)
			os.Exit(3)
		}
		os.Args = append([]string{"herald"}, args...)
		main() // exits 2 itself on an error
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is a herald role running as a child process.
type process struct {
	cmd      *exec.Cmd
	out, err syncBuffer
	done     chan struct{}
	exit     error // cmd.Wait's answer, once done is closed
}

// spawn runs `herald args...` in a child process with the test's
// environment (HERALD_* set by t.Setenv included); it is stopped with
// SIGTERM at cleanup if still running.
func spawn(t *testing.T, args ...string) *process {
	t.Helper()
	raw, _ := json.Marshal(args)
	p := &process{cmd: exec.Command(os.Args[0]), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exit = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(60 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *process) sigterm(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// exitsCleanly waits up to within for the process to end, and fails unless
// it ended on its own with status 0: a SIGTERM main did not catch would
// show as killed by the signal.
func (p *process) exitsCleanly(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%v still running %v after SIGTERM; stderr:\n%s", p.cmd.Args, within, p.err.String())
	}
	if p.exit != nil {
		t.Fatalf("exit: %v; stderr:\n%s", p.exit, p.err.String())
	}
}

// prodEnv is what the production roles run against: an embedded Temporal
// server, a PostgreSQL schema migrated by `herald migrate`, and an admin
// API key made with `herald apikey create`. It sets the HERALD_* variables
// every role reads.
type prodEnv struct {
	temporal client.Client
	key      string
}

func newProdEnv(t *testing.T) *prodEnv {
	t.Helper()
	srv, err := devserver.Start(devserver.Options{UIPort: -1, SearchAttributes: workflows.SearchAttributes()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	dbURL := storetest.MustPostgresSchema(t)
	t.Setenv("HERALD_DATABASE_URL", dbURL)
	t.Setenv("HERALD_TEMPORAL_ADDRESS", srv.Address())
	t.Setenv("HERALD_NAMESPACE", "default")
	t.Setenv("HERALD_ENCRYPTION_KEY", secretbox.NewKey())
	// Receivers are on loopback, which production refuses unless allowed.
	t.Setenv("HERALD_ALLOW_CIDRS", "127.0.0.1/32")
	if err := run(context.Background(), []string{"migrate"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	if err := run(context.Background(), []string{"apikey", "create", "--name", "ops", "--scopes", "admin"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return &prodEnv{temporal: tc, key: regexp.MustCompile(`hrld_\S+`).FindString(out.String())}
}

// startAPI runs `herald api` as a child process and returns it and its URL.
func (e *prodEnv) startAPI(t *testing.T) (*process, string) {
	t.Helper()
	addr := freeAddr(t)
	p := spawn(t, "api", "--listen", addr, "--allow-insecure-urls")
	waitFor(t, &p.err, &p.out, `API listening`)
	return p, "http://" + addr
}

type deliveryRow struct {
	ID                 int64  `json:"id"`
	EventID            string `json:"event_id"`
	AttemptNumber      int    `json:"attempt_number"`
	Status             string `json:"status"`
	ResponseStatusCode *int   `json:"response_status_code"`
	ResponseBody       string `json:"response_body"`
	ErrorClass         string `json:"error_class"`
}

type deliveryList struct {
	Deliveries []deliveryRow `json:"deliveries"`
	Total      int           `json:"total"`
}

// TestGracefulWorkerShutdown stops a worker with SIGTERM while an attempt
// is in flight: the attempt runs to its end and is recorded before the
// process exits, and the worker that takes over does not make it again.
// The worker is the real main in a child process; the signal is real.
func TestGracefulWorkerShutdown(t *testing.T) {
	env := newProdEnv(t)
	_, apiURL := env.startAPI(t)

	const answer = `{"received":"after 2s"}`
	var mu sync.Mutex
	var requests, abandoned int
	inFlight := make(chan string, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		mu.Lock()
		requests++
		mu.Unlock()
		inFlight <- r.Header.Get("X-Webhook-ID")
		select {
		case <-time.After(2 * time.Second):
			io.WriteString(w, answer)
		case <-r.Context().Done():
			// Herald gave up on the request: the stop cut the attempt short.
			mu.Lock()
			abandoned++
			mu.Unlock()
		}
	}))
	defer recv.Close()

	var hook struct {
		ID int64 `json:"id"`
	}
	if code := call(t, env.key, "POST", apiURL+"/api/v1/webhooks/", `{"name":"slow","url":"`+recv.URL+`","event_types":["system.error"]}`, &hook); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	first := spawn(t, "worker")
	waitFor(t, &first.err, &first.out, `worker running`)

	var acc struct {
		EventID string `json:"event_id"`
	}
	if code := call(t, env.key, "POST", apiURL+"/api/v1/events", `{"event_type":"system.error","payload":{"error_code":"E1","component":"c","severity":"low"}}`, &acc); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	select {
	case id := <-inFlight:
		if id != acc.EventID {
			t.Fatalf("receiver got event %q, want %q", id, acc.EventID)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the attempt never reached the receiver; worker stderr:\n%s", first.err.String())
	}
	first.sigterm(t)
	// The worker lets attempts in flight finish for up to 30 s (its stop
	// timeout); past that plus a margin it is hanging.
	first.exitsCleanly(t, 45*time.Second)
	if !strings.Contains(first.err.String(), "worker stopping") {
		t.Fatalf("the worker did not log its stop:\n%s", first.err.String())
	}

	// Before any other worker runs: the stopped one recorded the answer.
	var rows deliveryList
	url := fmt.Sprintf("%s/api/v1/webhooks/%d/deliveries", apiURL, hook.ID)
	if code := call(t, env.key, "GET", url, "", &rows); code != 200 {
		t.Fatalf("list deliveries: %d", code)
	}
	if rows.Total != 1 || len(rows.Deliveries) != 1 {
		t.Fatalf("after the stop: %d delivery rows, want 1: %+v", rows.Total, rows.Deliveries)
	}
	if d := rows.Deliveries[0]; d.Status != "delivered" || d.ResponseStatusCode == nil || *d.ResponseStatusCode != 200 || d.ResponseBody != answer {
		t.Fatalf("the attempt in flight at SIGTERM was not recorded as answered: %+v", d)
	}

	// A new worker finishes the event without a second attempt.
	second := spawn(t, "worker")
	waitFor(t, &second.err, &second.out, `worker running`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res workflows.EventResult
	if err := env.temporal.GetWorkflow(ctx, workflows.EventWorkflowID(acc.EventID), "").Get(ctx, &res); err != nil || res.Delivered != 1 {
		t.Fatalf("event workflow after the restart: %+v %v", res, err)
	}
	rows = deliveryList{}
	if code := call(t, env.key, "GET", url, "", &rows); code != 200 || rows.Total != 1 || rows.Deliveries[0].AttemptNumber != 1 {
		t.Fatalf("after the restart: %d %+v", code, rows)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 1 || abandoned != 0 {
		t.Fatalf("receiver got %d request(s), %d abandoned mid-answer; want exactly 1, none abandoned", requests, abandoned)
	}
	second.sigterm(t)
	second.exitsCleanly(t, 45*time.Second)
}

// TestGracefulAPIShutdown stops the API with SIGTERM while a request is in
// flight (a test delivery waiting on its receiver): the listener closes at
// once, so new connections are refused, the request in flight still gets
// its whole answer, and the process then exits 0.
func TestGracefulAPIShutdown(t *testing.T) {
	env := newProdEnv(t)
	apiProc, apiURL := env.startAPI(t)
	apiAddr := strings.TrimPrefix(apiURL, "http://")

	const answer = `{"received":"when released"}`
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		case <-time.After(30 * time.Second):
		}
		io.WriteString(w, answer)
	}))
	defer recv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	var hook struct {
		ID int64 `json:"id"`
	}
	if code := call(t, env.key, "POST", apiURL+"/api/v1/webhooks/", `{"name":"gated","url":"`+recv.URL+`","event_types":["system.error"]}`, &hook); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}

	type result struct {
		status int
		body   string
		err    error
		resp   *http.Response // checked against the OpenAPI document by the test's goroutine
	}
	const testBody = `{"event_type":"system.error"}`
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/webhooks/%d/test", apiURL, hook.ID), strings.NewReader(testBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.key)
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err, resp}
	}()
	select {
	case <-arrived:
	case r := <-done:
		t.Fatalf("the test delivery ended before reaching the receiver: status %d, %v: %s", r.status, r.err, r.body)
	case <-time.After(30 * time.Second):
		t.Fatal("the test delivery never reached the receiver")
	}

	apiProc.sigterm(t)
	// New connections are refused while the request above is still held.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", apiAddr, time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		switch {
		case err == nil:
			// Accepted before the listener closed: let it go, so it is
			// not a connection the drain must wait for.
			c.Close()
		case !errors.Is(err, syscall.ECONNRESET):
			// A reset is a connection caught in the closing listener's
			// queue; anything else is not a refusal.
			t.Fatalf("a new connection after SIGTERM failed with %v, want connection refused", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the API still accepted connections 10 s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("the request in flight ended before its receiver answered: status %d, %v: %s", r.status, r.err, r.body)
	case <-apiProc.done:
		t.Fatalf("the API exited with a request in flight: %v; stderr:\n%s", apiProc.exit, apiProc.err.String())
	default:
	}

	close(release)
	select {
	case r := <-done:
		if r.resp != nil {
			openapitest.CheckExchange(t, req, testBody, r.resp, []byte(r.body))
		}
		var got struct {
			Success      bool   `json:"success"`
			StatusCode   int    `json:"status_code"`
			ResponseBody string `json:"response_body"`
		}
		if r.err != nil || r.status != 200 || json.Unmarshal([]byte(r.body), &got) != nil || !got.Success || got.StatusCode != 200 || got.ResponseBody != answer {
			t.Fatalf("the request in flight at SIGTERM: status %d, %v: %s", r.status, r.err, r.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the request in flight never got its answer")
	}
	// The drain waits at most 20 s for requests; nothing is left to wait for.
	apiProc.exitsCleanly(t, 30*time.Second)
	if !strings.Contains(apiProc.err.String(), "API shutting down") {
		t.Fatalf("the API did not log its shutdown:\n%s", apiProc.err.String())
	}
	if _, err := net.DialTimeout("tcp", apiAddr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after exit a connection got %v, want refused", err)
	}
}
