package api_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/store"
)

// These fuzz targets drive the API in-process with arbitrary bodies.
// Temporal is unreachable, so a valid event is refused with 503 and must
// leave no row behind; anything else must be a 4xx (or a success) with
// every row it wrote complete. `make fuzz` runs them at length.

// send makes a request in-process and returns the status and answer.
func (f *fixture) send(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.key)
	return f.serve(t, req)
}

// serve answers req in-process, and checks the exchange against the
// OpenAPI document as doHeader does. A request head past the read buffer
// fails there before any handler runs, so it goes to the listening server,
// whose answer is the one a client gets.
func (f *fixture) serve(t testing.TB, req *http.Request) (int, string) {
	t.Helper()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := f.srv.App().Test(req, -1)
	if err != nil && strings.Contains(err.Error(), "small read buffer") {
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err = f.overTheWire(req)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !fuzzWorker() {
		openapitest.CheckExchange(t, req, string(body), resp, raw)
	}
	return resp.StatusCode, string(raw)
}

// fuzzWorker says this is one of the processes of `go test -fuzz` that
// mutate inputs. They leave the document's check out: coverage-instrumented
// there, the validator runs several times slower and each of its new
// branches reads as an interesting input, which cut a run's executions
// some fiftyfold. Every plain `go test` checks the seeds and the stored
// corpus.
var fuzzWorker = sync.OnceValue(func() bool {
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
})

// overTheWire writes req's request line as it is, byte for byte, to the
// listening server: Go's client would re-encode it.
func (f *fixture) overTheWire(req *http.Request) (*http.Response, error) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.base, "http://"))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	body, _ := io.ReadAll(req.Body)
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "%s %s HTTP/1.1\r\nHost: herald\r\nConnection: close\r\nContent-Length: %d\r\n", req.Method, req.RequestURI, len(body))
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(w, "%s: %s\r\n", k, v)
		}
	}
	w.WriteString("\r\n")
	w.Write(body)
	// The server answers once it has read a buffer's worth and closes, so
	// the rest of a long request may meet a reset: its answer is what counts.
	w.Flush()
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp, err
}

// unlimited lifts the per-key request rate: a fuzzer outruns any.
func unlimited(c *api.Config) { c.KeyRate = -1 }

func (f *fixture) rows(t testing.TB) (webhooks, events int) {
	t.Helper()
	_, webhooks, err := f.store.ListWebhooks(context.Background(), store.WebhookFilter{})
	if err != nil {
		t.Fatal(err)
	}
	_, events, err = f.store.ListEvents(context.Background(), store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return webhooks, events
}

func FuzzPublishEvent(f *testing.F) {
	for _, seed := range []string{
		`{"event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}}`,
		`{"event_id":"evt-1","event_type":"compliance.alert","payload":{"alert_level":"high","alert_type":"x","message":"m"}}`,
		`{"event_type":"validation.completed","payload":{"document_id":"d","validation_status":"pass","gates_passed":-1}}`,
		`{"event_type":"report.generated","payload":[]}`, `{"event_type":"x"}`, `[]`, `null`, `{"payload":{"a":"\u0000"}}`,
		`{"event_id":"../../x","event_type":"system.error","payload":{}}`, `{"event_type":"system.error","source":"\n"}`,
	} {
		f.Add(seed)
	}
	fx := newFixture(f, unlimited)
	f.Fuzz(func(t *testing.T, body string) {
		_, before := fx.rows(t)
		status, raw := fx.send(t, "POST", "/api/v1/events", body)
		_, after := fx.rows(t)
		switch {
		case status >= 500 && status != 503:
			t.Fatalf("%d for %q: %s", status, body, raw)
		case status == 503 && !strings.Contains(raw, `"unavailable"`):
			t.Fatalf("503 that is not Temporal's absence: %s", raw)
		case after != before:
			t.Fatalf("%d left %d event row(s) behind for %q", status, after-before, body)
		}
	})
}

func FuzzCreateWebhook(f *testing.F) {
	for _, seed := range []string{
		`{"name":"a","url":"https://example.com/h","event_types":["*"]}`,
		`{"name":"b","url":"http://127.0.0.1:9/h","event_types":["compliance.alert"],"custom_headers":{"X-A":"1"}}`,
		`{"name":"c","url":"https://example.com","event_types":["*"],"max_retries":99}`,
		`{"name":"d","url":"https://example.com","event_types":["*"],"custom_headers":{"Host":"evil"}}`,
		`{"name":"e","url":"javascript:alert(1)","event_types":["*"]}`, `{"name":1}`, `{}`, `[1]`,
		`{"name":"f","url":"https://example.com","event_types":["*"],"metadata":{"a":[[[[1]]]]}}`,
		`{"name":"g","url":"https://example.com","event_types":["*"],"secret":"whsec_!!"}`,
	} {
		f.Add(seed)
	}
	fx := newFixture(f, unlimited)
	f.Fuzz(func(t *testing.T, body string) {
		before, _ := fx.rows(t)
		status, raw := fx.send(t, "POST", "/api/v1/webhooks", body)
		after, _ := fx.rows(t)
		switch {
		case status >= 500:
			t.Fatalf("%d for %q: %s", status, body, raw)
		case status == 201 && after != before+1, status != 201 && after != before:
			t.Fatalf("%d changed the webhooks from %d to %d for %q", status, before, after, body)
		}
		if status == 201 {
			// A webhook that was accepted reads back whole.
			if code, got := fx.send(t, "GET", "/api/v1/webhooks?limit=1", ""); code != 200 || !strings.Contains(got, `"retry_schedule_seconds"`) {
				t.Fatalf("reading back: %d %s", code, got)
			}
		}
	})
}

// An update with arbitrary input changes the webhook whole or not at all.
func FuzzUpdateWebhook(f *testing.F) {
	for _, seed := range []string{
		`{"max_retries":3}`, `{"url":"https://example.org/x"}`, `{"url":"http://10.0.0.1/x"}`, `{"secret":""}`,
		`{"custom_headers":{"Authorization":"Bearer x"},"url":"https://evil.example/x"}`, `{"status":"paused","status_reason":"x"}`,
		`{"event_types":[]}`, `{"retry_strategy":"nope"}`, `{"rate_limit_per_minute":0}`, `null`, `{"id":5}`,
	} {
		f.Add(seed)
	}
	fx := newFixture(f, unlimited)
	status, raw := fx.send(f, "POST", "/api/v1/webhooks", `{"name":"target","url":"https://example.com/h","event_types":["*"],"custom_headers":{"Authorization":"Bearer stored"}}`)
	if status != 201 {
		f.Fatalf("create: %d %s", status, raw)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, before := fx.send(t, "GET", "/api/v1/webhooks/1", "")
		status, raw := fx.send(t, "PUT", "/api/v1/webhooks/1", body)
		_, after := fx.send(t, "GET", "/api/v1/webhooks/1", "")
		switch {
		case status >= 500:
			t.Fatalf("%d for %q: %s", status, body, raw)
		case status != 200 && after != before:
			t.Fatalf("a refused update (%d) changed the webhook:\n%s\n%s", status, before, after)
		}
	})
}

// A request line past the read buffer is refused before any handler, with
// the same JSON error every other refusal has.
func TestRequestHeadPastTheReadBufferIs431(t *testing.T) {
	fx := newFixture(t)
	req := httptest.NewRequest("GET", "/api/v1/webhooks/"+strings.Repeat("9", 9000), nil)
	req.Header.Set("Authorization", "Bearer "+fx.key)
	status, raw := fx.serve(t, req)
	if status != 431 || !strings.Contains(raw, `"error"`) {
		t.Fatalf("got %d %s, want 431 and a JSON error", status, raw)
	}
}
