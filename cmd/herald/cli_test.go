package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/client"
)

// The API verbs as a user runs them: the binary (this test binary running
// herald's main, see TestMain) against `herald dev`, output read as a
// person would and, with --json, parsed.

// cliRun is one finished run of the binary.
type cliRun struct {
	out, err string
	code     int
}

// cli runs `herald args...` in a child process with the test's environment
// (HERALD_URL and HERALD_API_KEY set by the test).
func cli(t *testing.T, args ...string) cliRun {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childArgsEnv+"="+string(raw))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return cliRun{out.String(), errOut.String(), code}
}

// cliOK runs the binary and fails unless it succeeded; it returns stdout.
func cliOK(t *testing.T, args ...string) string {
	t.Helper()
	r := cli(t, args...)
	if r.code != 0 {
		t.Fatalf("herald %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.out, r.err)
	}
	return r.out
}

// cliJSON runs the binary with --json and decodes what it printed into v.
func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := cliOK(t, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("herald %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// wantLines fails unless out has each line pattern (fields separated by
// runs of spaces, as the tables print them).
func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	squeezed := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		squeezed[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, l := range lines {
		if !squeezed[l] {
			t.Fatalf("no line %q in:\n%s", l, out)
		}
	}
}

// squeeze turns each run of spaces into one, as wantLines reads lines.
func squeeze(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// devForCLI starts `herald dev` and points the verbs at it.
func devForCLI(t *testing.T) (apiURL, key string) {
	t.Helper()
	dev := start(t, "dev", "--ephemeral", "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "-1")
	apiURL = waitFor(t, &dev.out, &dev.err, `API\s+(http://\S+)/api/v1`)
	key = waitFor(t, &dev.out, &dev.err, `API key\s+(hrld_\S+)`)
	t.Setenv("HERALD_URL", apiURL)
	t.Setenv("HERALD_API_KEY", key)
	return apiURL, key
}

// appServer records what it got; /fail answers 503 the first time.
type appServer struct {
	*httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
}

func newApp(t *testing.T, status func(n int, r *http.Request) int) *appServer {
	a := &appServer{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got, a.body = append(a.got, r), append(a.body, b)
		n := len(a.got)
		a.mu.Unlock()
		w.WriteHeader(status(n, r))
		fmt.Fprintf(w, `{"received":%d}`, n)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *appServer) requests() ([]*http.Request, [][]byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.got...), append([][]byte(nil), a.body...)
}

// until polls cond for up to 30 seconds.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestCLIVerbs(t *testing.T) {
	devForCLI(t)
	failed := map[string]bool{}
	var mu sync.Mutex
	app := newApp(t, func(_ int, r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/fail" && !failed[r.Header.Get("X-Webhook-ID")] {
			failed[r.Header.Get("X-Webhook-ID")] = true
			return 503
		}
		return 200
	})
	hook := cliWebhooks(t, app)
	cliEvents(t, app, hook)
	cliDeliveries(t, app)
	cliAnalytics(t, hook)
	cliIntegrations(t, app)
	wantLines(t, cliOK(t, "webhooks", "delete", fmt.Sprint(hook)), fmt.Sprintf("webhook %d deleted", hook))
	var l client.WebhookList
	if cliJSON(t, &l, "webhooks", "list"); l.Total != 0 {
		t.Fatalf("after delete: %+v", l)
	}
}

// cliWebhooks creates, reads, updates and tests a webhook; it returns its id.
func cliWebhooks(t *testing.T, app *appServer) int64 {
	var w client.Webhook
	cliJSON(t, &w, "webhooks", "create", "--name", "CLI receiver", "--url", app.URL+"/hook", "--events", "compliance.alert",
		"--retry-delay", "1", "--jitter", "0", "--header", "X-Team=compliance", "--metadata", `{"owner":"cli"}`,
		"--filter", `{"data.alert_level":{"$in":["high","critical"]}}`)
	if !strings.HasPrefix(w.Secret, "whsec_") || w.CustomHeaders["X-Team"] != "compliance" || w.Metadata["owner"] != "cli" || len(w.Filter) == 0 {
		t.Fatalf("created %+v", w)
	}
	id := fmt.Sprint(w.ID)
	wantLines(t, cliOK(t, "webhooks", "list"), "ID NAME STATUS MODE EVENTS URL",
		fmt.Sprintf("%s CLI receiver active per_event compliance.alert %s/hook", id, app.URL), "(1 of 1)")
	wantLines(t, cliOK(t, "webhooks", "get", id), "Name CLI receiver", "Headers X-Team: compliance",
		"Retries exponential_backoff, 5 retries, waits 1 2 4 8 16 s", `Filter {"data.alert_level":{"$in":["high","critical"]}}`)
	var up client.Webhook
	cliJSON(t, &up, "webhooks", "update", id, "--description", "updated", "--max-retries", "0", "--filter", "{}")
	if up.Description != "updated" || up.MaxRetries != 0 || up.Name != "CLI receiver" || up.CustomHeaders["X-Team"] != "compliance" || compactJSON(up.Filter) != "-" {
		t.Fatalf("updated %+v", up)
	}
	wantLines(t, cliOK(t, "webhooks", "test", id, "--event-type", "compliance.alert"), "Response {\"received\":1}")
	if reqs, bodies := app.requests(); len(reqs) != 1 || !strings.Contains(string(bodies[0]), `"source":"herald-test"`) {
		t.Fatalf("test delivery: %d requests", len(reqs))
	}
	return w.ID
}

func cliEvents(t *testing.T, app *appServer, hook int64) {
	send := []string{"events", "send", "--type", "compliance.alert", "--id", "evt-cli", "--source-id", "doc_1",
		"--payload", `{"alert_level":"high","alert_type":"gdpr_violation","message":"from the CLI"}`}
	var acc client.Accepted
	if cliJSON(t, &acc, send...); acc.EventID != "evt-cli" || acc.Duplicate {
		t.Fatalf("send: %+v", acc)
	}
	wantLines(t, cliOK(t, send...), "evt-cli compliance.alert duplicate (accepted before; not delivered again) workflow event/evt-cli")
	var ev client.EventDetail
	until(t, "evt-cli delivered", func() bool {
		cliJSON(t, &ev, "events", "get", "evt-cli")
		return ev.SuccessfulDeliveries == 1
	})
	reqs, bodies := app.requests()
	if len(reqs) != 2 || reqs[1].Header.Get("X-Webhook-ID") != "evt-cli" || !strings.Contains(string(bodies[1]), `"message":"from the CLI"`) {
		t.Fatalf("the app got %d requests", len(reqs))
	}
	out := cliOK(t, "events", "get", "evt-cli", "--timeline")
	wantLines(t, out, "Event ID evt-cli", "Deliveries 1 delivered, 0 failed, of 1", "WEBHOOK STATUS STATE ATTEMPTS CODE NEXT ATTEMPT ERROR")
	if flat := squeeze(out); !strings.Contains(flat, fmt.Sprintf("\n%d delivered ", hook)) || !strings.Contains(flat, fmt.Sprintf(" attempt %d 1 delivered 200", hook)) {
		t.Fatalf("event and timeline:\n%s", out)
	}
	wantLines(t, cliOK(t, "events", "list", "--type", "compliance.alert"), "EVENT ID TYPE SOURCE DELIVERED FAILED OF ACCEPTED")
	if out := cliOK(t, "events", "list"); !strings.Contains(out, "evt-cli") {
		t.Fatalf("events list:\n%s", out)
	}
}

// cliDeliveries makes a delivery fail, cancels it and retries it.
func cliDeliveries(t *testing.T, app *appServer) {
	var w client.Webhook
	cliJSON(t, &w, "webhooks", "create", "--name", "CLI failing", "--url", app.URL+"/fail", "--events", "system.error", "--retry-delay", "3600")
	id := fmt.Sprint(w.ID)
	cliOK(t, "events", "send", "--type", "system.error", "--id", "evt-fail")
	var l client.DeliveryList
	until(t, "the first attempt to fail", func() bool {
		cliJSON(t, &l, "deliveries", "list", id, "--status", "retrying")
		return l.Total == 1
	})
	did := fmt.Sprint(l.Deliveries[0].ID)
	wantLines(t, cliOK(t, "deliveries", "get", id, did), "Status retrying", "Answer 503", "Event evt-fail system.error")
	var ans client.RetryResult
	if cliJSON(t, &ans, "deliveries", "cancel", id, did); ans.Action != "cancelled" || ans.State.State != "cancelled" {
		t.Fatalf("cancel: %+v", ans)
	}
	var ev client.EventDetail
	until(t, "the cancelled event's workflow to end", func() bool {
		cliJSON(t, &ev, "events", "get", "evt-fail")
		return ev.ProcessedAt != nil && ev.FailedDeliveries == 1
	})
	wantLines(t, cliOK(t, "deliveries", "retry", id, did), "retry event evt-fail to webhook "+id+": reopened")
	until(t, "the retry to be delivered", func() bool {
		cliJSON(t, &l, "deliveries", "list", id, "--event", "evt-fail")
		return l.Total == 2 && l.Deliveries[0].Status == "delivered"
	})
	wantLines(t, cliOK(t, "deliveries", "list", id), "ID EVENT ID TYPE ATTEMPT STATUS CODE MS AT ERROR")
	// Without a webhook: every subscriber's attempts, here narrowed to the
	// event's type and the last hour.
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	cliJSON(t, &l, "deliveries", "list", "--type", "system.error", "--event", "evt-fail", "--since", since)
	mine := 0
	for _, d := range l.Deliveries {
		if d.EventID != "evt-fail" {
			t.Fatalf("attempts of evt-fail listed %+v", d)
		}
		if d.WebhookID == w.ID {
			mine++
		}
	}
	if mine != 2 {
		t.Fatalf("every webhook's attempts of evt-fail: %+v", l)
	}
	cliOK(t, "webhooks", "delete", id)
}

func cliAnalytics(t *testing.T, hook int64) {
	var a client.Analytics
	cliJSON(t, &a, "analytics", "--days", "1")
	if a.PeriodDays != 1 || a.Overall.SuccessfulDeliveries < 1 || len(a.ByWebhook) == 0 {
		t.Fatalf("analytics: %+v", a)
	}
	wantLines(t, cliOK(t, "analytics", "--webhook", fmt.Sprint(hook), "--days", "2"), fmt.Sprintf("Webhook %d, last 2 day(s)", hook),
		"Deliveries 1 (1 delivered, 0 failed, 0 filtered out)", "Success rate 100.0 %")
	wantLines(t, cliOK(t, "analytics"), "All subscribers, last 7 day(s), every event type")
}

func cliIntegrations(t *testing.T, app *appServer) {
	var in client.Integration
	cliJSON(t, &in, "integrations", "create", "--name", "CLI hook", "--type", "webhook", "--events", "batch.completed",
		"--credentials", fmt.Sprintf(`{"webhook_url":%q}`, app.URL+"/integration"), "--max-retries", "1")
	if !strings.HasPrefix(in.Secret, "whsec_") || in.MaxRetries != 1 {
		t.Fatalf("created %+v", in)
	}
	wantLines(t, cliOK(t, "integrations", "list"), "NAME TYPE STATUS EVENTS CREATED")
	wantLines(t, cliOK(t, "integrations", "get", "CLI hook"), "Name CLI hook", "Type webhook", "Events batch.completed")
	var tested client.TestResult
	if cliJSON(t, &tested, "integrations", "test", "CLI hook"); !tested.Success || tested.EventType != "batch.completed" {
		t.Fatalf("test: %+v", tested)
	}
	if reqs, _ := app.requests(); reqs[len(reqs)-1].URL.Path != "/integration" {
		t.Fatalf("the test went to %s", reqs[len(reqs)-1].URL.Path)
	}
	var h client.IntegrationHealth
	if cliJSON(t, &h, "integrations", "health"); h.Integrations["CLI hook"].IntegrationType != "webhook" {
		t.Fatalf("health: %+v", h)
	}
	wantLines(t, cliOK(t, "integrations", "health"), "NAME TYPE HEALTH LAST EVENT ERROR")
	cliSubscriptions(t)
	var up client.Integration
	cliJSON(t, &up, "integrations", "update", "CLI hook", "--name", "CLI hook 2", "--events", "batch.completed,compliance.alert",
		"--mode", "stream", "--max-retries", "0", "--description", "renamed")
	if up.Name != "CLI hook 2" || len(up.EventSubscriptions) != 2 || up.DeliveryMode != "stream" || up.MaxRetries != 0 ||
		up.Description != "renamed" || up.RetryDelaySeconds != in.RetryDelaySeconds || up.Credentials["webhook_url"] == nil {
		t.Fatalf("updated %+v", up)
	}
	wantLines(t, cliOK(t, "integrations", "delete", "CLI hook 2"), `integration "CLI hook 2" deleted`)
}

// cliSubscriptions adds an event type to the integration "CLI hook" (made
// subscribed to batch.completed), reads the list, and takes it away again.
func cliSubscriptions(t *testing.T) {
	var subs client.Subscriptions
	cliJSON(t, &subs, "integrations", "subscribe", "CLI hook", "compliance.alert")
	if subs.Integration != "CLI hook" || subs.Total != 2 || !slices.Contains(subs.EventSubscriptions, "compliance.alert") {
		t.Fatalf("subscribe: %+v", subs)
	}
	wantLines(t, cliOK(t, "integrations", "subscriptions", "CLI hook"), "Integration CLI hook",
		"Event types batch.completed, compliance.alert (2)")
	wantLines(t, cliOK(t, "integrations", "unsubscribe", "CLI hook", "compliance.alert"), "Integration CLI hook",
		"Event types batch.completed (1)")
	if cliJSON(t, &subs, "integrations", "subscriptions", "CLI hook"); subs.Total != 1 || subs.EventSubscriptions[0] != "batch.completed" {
		t.Fatalf("after unsubscribe: %+v", subs)
	}
	if r := cli(t, "integrations", "unsubscribe", "CLI hook", "compliance.alert"); r.code == 0 || !strings.Contains(r.err, "HTTP 404 not_found") {
		t.Fatalf("unsubscribing a type it does not have: exit %d\n%s", r.code, r.err)
	}
}

// Errors say what is wrong, field by field, and exit non-zero.
func TestCLIErrors(t *testing.T) {
	devForCLI(t)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"validation names each field", nil, []string{"webhooks", "create", "--name", "x", "--url", "ftp://x", "--events", "nope"},
			[]string{"HTTP 422 validation_failed", "\n  url: ", "\n  event_types: unknown event type \"nope\""}},
		{"not found", nil, []string{"webhooks", "get", "999"}, []string{"webhook 999 not found", "HTTP 404 not_found"}},
		{"bad id", nil, []string{"deliveries", "get", "1", "x"}, []string{`delivery "x" is not an id`}},
		{"arguments counted", nil, []string{"webhooks", "get"}, []string{"takes 1 argument(s) (ID), got 0"}},
		{"unknown verb", nil, []string{"events", "frobnicate"}, []string{`unknown verb "frobnicate"`, "herald events send"}},
		{"bad JSON flag", nil, []string{"integrations", "create", "--name", "x", "--type", "slack", "--credentials", "{"}, []string{"--credentials is not valid JSON"}},
		{"no key", map[string]string{"HERALD_API_KEY": ""}, []string{"webhooks", "list"}, []string{"HTTP 401 unauthorized", "set HERALD_API_KEY"}},
		{"Herald down", map[string]string{"HERALD_URL": "http://127.0.0.1:1"}, []string{"events", "list"}, []string{"is Herald running there?"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := cli(t, tc.args...)
			if r.code == 0 {
				t.Fatalf("exit 0:\n%s", r.out)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.err, w) {
					t.Fatalf("stderr lacks %q:\n%s", w, r.err)
				}
			}
		})
	}
}

// Asking for help is a success, on standard output; leaving the command or
// verb out is a mistake, with the usage on standard error.
func TestHelpExitsZero(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string // in stdout when code is 0, else in stderr
	}{
		{[]string{"--help"}, 0, "herald dev"},
		{[]string{"webhooks", "--help"}, 0, "herald webhooks list"},
		{[]string{"integrations", "-h"}, 0, "herald integrations subscribe"},
		{[]string{"events", "help"}, 0, "herald events send"},
		{[]string{"webhooks", "list", "-h"}, 0, ""},
		{[]string{"apikey", "--help"}, 0, "herald apikey create"},
		{[]string{"api", "-h"}, 0, ""},
		{nil, 2, "herald dev"},
		{[]string{"deliveries"}, 2, "herald deliveries retry"},
	} {
		r := cli(t, tc.args...)
		got := r.out
		if tc.code != 0 {
			got = r.err
		}
		if r.code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("herald %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), r.code, tc.code, r.out, r.err)
		}
	}
}

// An update sends exactly the flags given, wherever they stand among the
// arguments; zero values given on purpose are sent.
func TestUpdateFlagsSendWhatIsGiven(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"12"}, `{}`},
		{[]string{"12", "--description", "", "--max-retries", "0"}, `{"description":"","max_retries":0}`},
		{[]string{"--jitter", "0", "12", "--events", "a, b"}, `{"event_types":["a","b"],"jitter_percentage":0}`},
		{[]string{"12", "--header", "A=1", "--header", "B=x=y"}, `{"custom_headers":{"A":"1","B":"x=y"}}`},
		{[]string{"12", "--filter", "{}", "--metadata", `{"compression":"gzip"}`}, `{"filter":{},"metadata":{"compression":"gzip"}}`},
		{[]string{"12", "--status", "paused", "--mode", "ordered", "--retry-delay", "5"}, `{"status":"paused","retry_delay_seconds":5,"delivery_mode":"ordered"}`},
	}
	for _, tc := range cases {
		c := newCmd(t.Context(), "webhooks update", "", io.Discard, io.Discard)
		var f webhookFlags
		f.register(c)
		pos, err := c.parse(tc.args, "ID")
		if err != nil || pos[0] != "12" {
			t.Fatalf("%v: %v %v", tc.args, pos, err)
		}
		in, err := f.input(c.set())
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(in); string(got) != tc.want {
			t.Errorf("%v: sent %s, want %s", tc.args, got, tc.want)
		}
	}
}
