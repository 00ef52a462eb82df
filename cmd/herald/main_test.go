package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/secretbox"
)

// syncBuffer is an io.Writer a command writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls the output until re matches, and returns the first group.
func waitFor(t *testing.T, out *syncBuffer, errOut fmt.Stringer, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(out.String()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q in output:\n%s\nstderr:\n%s", re, out.String(), errOut)
	return ""
}

// command runs a herald command in the background until the test stops it.
type command struct {
	out, err syncBuffer
	cancel   context.CancelFunc
	done     chan error
	once     sync.Once
}

func start(t *testing.T, args ...string) *command {
	ctx, cancel := context.WithCancel(context.Background())
	c := &command{cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- run(ctx, args, &c.out, &c.err) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

func (c *command) stop(t *testing.T) {
	c.once.Do(func() {
		c.cancel()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("command ended with %v; stderr:\n%s", err, c.err.String())
			}
		case <-time.After(60 * time.Second):
			t.Error("command did not stop within 60s of being cancelled")
		}
	})
}

// call makes a Herald API request with an API key ("" for none), and
// checks the exchange against the OpenAPI document.
func call(t *testing.T, key, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, raw := checked(t, req, body)
	return decodeInto(t, method+" "+url, resp.StatusCode, raw, out)
}

// checked sends req, whose body is body, checks the exchange against the
// OpenAPI document, and returns the answer with its body read.
func checked(t *testing.T, req *http.Request, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	openapitest.CheckExchange(t, req, body, resp, raw)
	return resp, raw
}

// getJSON reads a JSON answer from outside Herald's API (the Temporal UI
// server's), which the document does not describe.
func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return decodeInto(t, "GET "+url, resp.StatusCode, raw, out)
}

// decodeInto decodes raw, the answer to what, into out (nil: not at all)
// and returns status.
func decodeInto(t *testing.T, what string, status int, raw []byte, out any) int {
	t.Helper()
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %v: %s", what, err, raw)
		}
	}
	return status
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestDevWalkthrough does what the README's walkthrough does, against
// `herald dev` and `herald receive` as a newcomer runs them, then restarts
// dev on the same data directory and checks nothing was forgotten.
func TestDevWalkthrough(t *testing.T) {
	dataDir := t.TempDir()
	devArgs := []string{"dev", "--data-dir", dataDir, "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "0"}
	dev := start(t, devArgs...)
	api := waitFor(t, &dev.out, &dev.err, `API\s+(http://\S+)/api/v1`)
	key := waitFor(t, &dev.out, &dev.err, `API key\s+(hrld_\S+)  \(admin; shown once`)
	ui := waitFor(t, &dev.out, &dev.err, `Temporal UI\s+(http://\S+)`)
	if kept, err := os.ReadFile(filepath.Join(dataDir, "admin.key")); err != nil || strings.TrimSpace(string(kept)) != key {
		t.Fatalf("admin key kept in the data directory: %q %v", kept, err)
	}
	if code := call(t, "", "GET", api+"/api/v1/webhooks", "", nil); code != 401 {
		t.Fatalf("the API without a key answered %d", code)
	}
	if resp, err := http.Get(ui); err != nil || resp.StatusCode != 200 {
		t.Fatalf("Temporal UI at %s: %v %v", ui, resp, err)
	}

	recvAddr := freeAddr(t)
	var hook struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	code := call(t, key, "POST", api+"/api/v1/webhooks/", `{"name":"My receiver","url":"http://`+recvAddr+`/hook",
		"event_types":["compliance.alert"],"retry_delay_seconds":1,"jitter_percentage":0}`, &hook)
	if code != 201 || !strings.HasPrefix(hook.Secret, "whsec_") {
		t.Fatalf("create webhook: %d %+v", code, hook)
	}
	recv := start(t, "receive", "--listen", recvAddr, "--secret", hook.Secret, "--fail-first", "1")
	waitFor(t, &recv.out, &recv.err, `receiving webhooks`)

	var acc struct {
		EventID string `json:"event_id"`
	}
	code = call(t, key, "POST", api+"/api/v1/events", `{"event_type":"compliance.alert","source_id":"doc_12345","payload":{
		"alert_level":"critical","alert_type":"gdpr_violation","message":"Personal data found in document",
		"affected_documents":["doc_12345"],"recommended_actions":["Redact personal data"]}}`, &acc)
	if code != 202 {
		t.Fatalf("publish: %d", code)
	}
	// The receiver refuses the first attempt; the retry a second later lands.
	waitFor(t, &recv.out, &recv.err, `attempt=2 → answering 200\n  X-Webhook-Signature  valid\n  webhook-signature    valid\n  \{"event_id":"`+acc.EventID)
	if strings.Contains(recv.out.String(), "INVALID") {
		t.Fatalf("a signature did not verify:\n%s", recv.out.String())
	}
	var ev struct {
		SuccessfulDeliveries int `json:"successful_deliveries"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for ev.SuccessfulDeliveries != 1 && time.Now().Before(deadline) {
		call(t, key, "GET", api+"/api/v1/events/"+acc.EventID, "", &ev)
		time.Sleep(50 * time.Millisecond)
	}
	if ev.SuccessfulDeliveries != 1 {
		t.Fatalf("event not recorded as delivered: %+v", ev)
	}
	walkDeliveries(t, api, key, hook.ID)
	// The UI server's HTTP API finds the event by Herald's search attribute.
	var listed struct {
		Executions []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		} `json:"executions"`
	}
	query := url.QueryEscape(fmt.Sprintf("HeraldWebhookIDs = '%d'", hook.ID))
	uiAPI := strings.TrimSuffix(ui, "/namespaces/default/workflows") + "/api/v1/namespaces/default/workflows?query=" + query
	if code := getJSON(t, uiAPI, &listed); code != 200 || len(listed.Executions) != 1 ||
		listed.Executions[0].Execution.WorkflowID != "event/"+acc.EventID {
		t.Fatalf("UI server list by HeraldWebhookIDs: %d %+v", code, listed)
	}
	dev.stop(t)

	// Same data directory: the webhook, its secret and the event survive.
	dev = start(t, devArgs...)
	api = waitFor(t, &dev.out, &dev.err, `API\s+(http://\S+)/api/v1`)
	// The key is not shown again, only where it is kept; it still works.
	waitFor(t, &dev.out, &dev.err, `API key\s+(\S+admin\.key)  \(export HERALD_API_KEY`)
	if strings.Contains(dev.out.String(), key) {
		t.Fatal("a restart printed the admin key again")
	}
	var again struct {
		Name string `json:"name"`
	}
	if code := call(t, key, "GET", fmt.Sprintf("%s/api/v1/webhooks/%d", api, hook.ID), "", &again); code != 200 || again.Name != "My receiver" {
		t.Fatalf("webhook after restart: %d %+v", code, again)
	}
	if code := call(t, key, "GET", api+"/api/v1/events/"+acc.EventID, "", nil); code != 200 {
		t.Fatalf("event after restart: %d", code)
	}
	code = call(t, key, "POST", api+"/api/v1/events", `{"event_type":"compliance.alert","payload":{"alert_level":"low","alert_type":"t","message":"after restart"}}`, &acc)
	if code != 202 {
		t.Fatalf("publish after restart: %d", code)
	}
	waitFor(t, &recv.out, &recv.err, `  X-Webhook-Signature  valid\n  webhook-signature    valid\n  \{"event_id":"`+acc.EventID)
}

// walkDeliveries is the walkthrough's look at the attempt rows: a retried
// first attempt and a delivered second, the detail with its live state, and
// a test delivery.
func walkDeliveries(t *testing.T, api, key string, hookID int64) {
	t.Helper()
	var list struct {
		Deliveries []struct {
			ID            int64  `json:"id"`
			AttemptNumber int    `json:"attempt_number"`
			Status        string `json:"status"`
			Code          int    `json:"response_status_code"`
		} `json:"deliveries"`
	}
	base := fmt.Sprintf("%s/api/v1/webhooks/%d", api, hookID)
	if code := call(t, key, "GET", base+"/deliveries?limit=10", "", &list); code != 200 || len(list.Deliveries) != 2 ||
		list.Deliveries[0].Status != "delivered" || list.Deliveries[0].Code != 200 || list.Deliveries[0].AttemptNumber != 2 ||
		list.Deliveries[1].Status != "retrying" || list.Deliveries[1].Code != 503 {
		t.Fatalf("deliveries: %d %+v", code, list)
	}
	var detail map[string]any
	if code := call(t, key, "GET", fmt.Sprintf("%s/deliveries/%d", base, list.Deliveries[0].ID), "", &detail); code != 200 ||
		detail["request_body"] == nil || detail["response_status_code"] != 200.0 {
		t.Fatalf("delivery detail: %d %v", code, detail)
	}
	if _, ok := detail["live"]; !ok {
		t.Fatalf("delivery detail has no live state: %v", detail)
	}
	var tested struct {
		Success    bool  `json:"success"`
		StatusCode int   `json:"status_code"`
		DeliveryID int64 `json:"delivery_id"`
	}
	if code := call(t, key, "POST", base+"/test", `{"event_type":"validation.completed"}`, &tested); code != 200 ||
		!tested.Success || tested.StatusCode != 200 || tested.DeliveryID != list.Deliveries[0].ID+1 {
		t.Fatalf("test delivery: %d %+v", code, tested)
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	t.Setenv("HERALD_LOG_LEVEL", "debug")
	t.Setenv("HERALD_MAX_CONCURRENT_ATTEMPTS", "7")
	fs := newFlagSet("x", io.Discard)
	var l logFlags
	l.register(fs, "text")
	n := fs.Int("max-concurrent-attempts", 1, "")
	if err := parse(fs, []string{"--log-format", "json"}); err != nil {
		t.Fatal(err)
	}
	if l.level != "debug" || l.format != "json" || *n != 7 {
		t.Fatalf("level %q format %q n %d", l.level, l.format, *n)
	}
	if err := parse(fs, []string{"--max-concurrent-attempts", "9"}); err != nil || *n != 9 {
		t.Fatalf("command line must win over the environment: %d %v", *n, err)
	}
	t.Setenv("HERALD_MAX_CONCURRENT_ATTEMPTS", "many")
	if err := parse(newFlagSetWithInt(), nil); err == nil || !strings.Contains(err.Error(), "HERALD_MAX_CONCURRENT_ATTEMPTS") {
		t.Fatalf("a bad environment value must be reported by name, got %v", err)
	}
}

func newFlagSetWithInt() *flag.FlagSet {
	fs := newFlagSet("x", io.Discard)
	fs.Int("max-concurrent-attempts", 1, "")
	return fs
}

func TestVersionAndUsage(t *testing.T) {
	var out syncBuffer
	if err := run(context.Background(), []string{"version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "herald ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(context.Background(), []string{"api"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--database-url") {
		t.Fatalf("api without a database: %v", err)
	}
}

// The old name of the encryption key must not silently win over the new
// one: during a rotation that would keep every secret under the old key.
func TestEncryptionKeyNamesMustAgree(t *testing.T) {
	t.Setenv("HERALD_ENCRYPTION_KEY", secretbox.NewKey()+","+secretbox.NewKey())
	t.Setenv("HERALD_SECRET_KEY", secretbox.NewKey())
	err := run(context.Background(), []string{"rotate-encryption-key", "--database-url", "sqlite::memory:"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "both set and differ") {
		t.Fatalf("got %v", err)
	}
}
