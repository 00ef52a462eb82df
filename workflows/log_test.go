package workflows_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
	"github.com/loki-interceptor/herald/workflows"
)

// lockedBuffer is a log sink activities write to from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sdkComponent tags the Temporal SDK's logger, as `herald dev` and the
// worker do (cmd/herald dialTemporal): the workflow logger is the SDK's.
const sdkComponent = "temporal-sdk"

// loggedHarness is newHarness with every log at debug level captured as
// JSON: Herald's activity logger and the SDK's logger, which the workflow
// logger (workflow.GetLogger) and the SDK's own lines go through, both into
// one slog handler as in production.
func loggedHarness(t *testing.T) (*harness, *lockedBuffer) {
	out := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	suite := &testsuite.WorkflowTestSuite{}
	suite.SetLogger(sdklog.NewStructuredLogger(log.With("component", sdkComponent)))
	env := suite.NewTestWorkflowEnvironment()
	s := storetest.MustOpen(t, schema.SQLite)
	h := &harness{t: t, env: env, store: s, attempts: map[int64][]time.Time{}}
	sender := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	h.acts = &activities.Activities{Store: s, Deliverer: &integrations.Deliverer{HTTP: sender},
		Logger: log, Breaker: activities.DefaultBreaker, Now: env.Now}
	worker.Register(env, h.acts)
	env.RegisterWorkflow(burst)
	return h, out
}

// Herald's lines about one attempt of a delivery, from the activities and
// from the workflow. Each must name the event, the webhook and the attempt.
var deliveryLines = []string{
	"attempt starting",
	"attempt finished",
	"attempt held: webhook not active",
	"attempt waits for its rate-limit slot",
	"retry scheduled",
}

// eventLines are Herald's lines about an event as a whole, before it has
// deliveries: they name the event only.
var eventLines = []string{"event subscribers resolved"}

// logRecord is one parsed line with its text.
type logRecord struct {
	line string
	rec  map[string]any
}

func (r logRecord) msg() string { s, _ := r.rec["msg"].(string); return s }

// secretForms are the ways a webhook's secrets and credential headers could
// leak into a log: as set, the whsec_ key's base64 alone and decoded (raw,
// hex, other base64 alphabets), and each sensitive header value.
func secretForms(t *testing.T, w *webhook.Webhook) []string {
	var out []string
	for _, s := range []string{w.Secret, w.PreviousSecret} {
		if s == "" {
			continue
		}
		key := webhook.StandardKey(s)
		out = append(out, s, strings.TrimPrefix(s, webhook.SecretPrefix), string(key), hex.EncodeToString(key),
			base64.RawStdEncoding.EncodeToString(key), base64.URLEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key))
	}
	for name, v := range w.CustomHeaders {
		if webhook.RedactHeaders(map[string]string{name: v})[name] != v {
			out = append(out, v)
		}
	}
	if len(out) < 2 {
		t.Fatal("the webhook has no secret to look for")
	}
	return out
}

// checkLogs parses every captured line and fails on any that holds one of
// w's secrets, and on any Herald line about an event (any line from Herald's
// own logger, and the workflow's lines) that lacks its ids: event_id one of
// events, webhook_id w's, and a positive attempt. It returns the lines by
// message.
func checkLogs(t *testing.T, out *lockedBuffer, w *webhook.Webhook, events ...string) map[string][]logRecord {
	t.Helper()
	secrets := secretForms(t, w)
	byMsg := map[string][]logRecord{}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 1<<20)
	n, fromSDKLines := 0, 0
	for sc.Scan() {
		line := sc.Text()
		n++
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Fatalf("a secret (%.12s…) in the log: %s", s, line)
			}
		}
		r := logRecord{line: line}
		if err := json.Unmarshal([]byte(line), &r.rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		msg := r.msg()
		byMsg[msg] = append(byMsg[msg], r)
		fromSDK := r.rec["component"] == sdkComponent
		if fromSDK {
			fromSDKLines++
		}
		herald := slices.Contains(deliveryLines, msg) || slices.Contains(eventLines, msg)
		if !herald && !fromSDK {
			t.Errorf("a Herald line the test does not know; add it to deliveryLines or eventLines: %s", line)
			continue
		}
		if !herald {
			continue // the SDK's own: only checked for secrets
		}
		if id, _ := r.rec["event_id"].(string); !slices.Contains(events, id) {
			t.Errorf("a line about an event without its event_id (want one of %v): %s", events, line)
		}
		if slices.Contains(eventLines, msg) {
			continue
		}
		if id, _ := r.rec["webhook_id"].(float64); int64(id) != w.ID {
			t.Errorf("a delivery line without webhook_id %d: %s", w.ID, line)
		}
		if a, _ := r.rec["attempt"].(float64); a < 1 || a != float64(int(a)) {
			t.Errorf("a delivery line without its attempt number: %s", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("nothing was logged")
	}
	if fromSDKLines == 0 {
		t.Error("no line from the SDK's logger: is the workflow logger captured?")
	}
	return byMsg
}

// attempts are the attempt numbers of the lines with msg, in order.
func attempts(recs []logRecord) []int {
	out := make([]int, len(recs))
	for i, r := range recs {
		a, _ := r.rec["attempt"].(float64)
		out[i] = int(a)
	}
	return out
}

// credentialHeaders are custom headers a receiver might require; both are
// masked by the API and must never be logged.
func credentialHeaders(w *webhook.Webhook) {
	w.CustomHeaders = map[string]string{"Authorization": "Bearer sk-live-credential", "X-Api-Key": "ak-live-0123456789"}
}

// At debug level every line about a delivery names the event, the webhook
// and the attempt, and no line holds the webhook's secret or a credential
// header, though the debug view shows signatures, hosts, waits and retries.
// The lines of the workflow (retry scheduled) and the SDK's own are
// captured with the activities', as `herald dev --log-level debug` prints
// them; each scenario takes one of the paths a delivery can wait on.
func TestDebugLogsCarryIDsAndNoSecrets(t *testing.T) {
	t.Run("retry", func(t *testing.T) {
		h, out := loggedHarness(t)
		r := h.receiver(reply{status: 503}, reply{status: 200})
		w := h.hook(r, "logged", func(w *webhook.Webhook) {
			credentialHeaders(w)
			// A rotation under way: deliveries are signed with both secrets.
			w.RotateSecret(webhook.NewSecret(), 24*time.Hour, h.env.Now())
		})
		if res := h.run(event("evt-logged")); res.Status != workflows.StatusDelivered {
			t.Fatalf("result %+v", res)
		}
		logs := checkLogs(t, out, w, "evt-logged")
		// The event's subscribers were resolved when it was recorded (the
		// API logs that line): the worker's lines are its deliveries'.
		for _, want := range []string{"attempt starting", "attempt finished", "retry scheduled"} {
			if len(logs[want]) == 0 {
				t.Errorf("no %q line at debug level; got %v", want, keys(logs))
			}
		}
		if got := attempts(logs["attempt finished"]); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("attempt finished for attempts %v, want [1 2]", got)
		}
		if got := logs["retry scheduled"]; len(got) != 1 || !slices.Equal(attempts(got), []int{2}) ||
			got[0].rec["last_status_code"] != float64(503) || got[0].rec["retry_in"] == nil {
			t.Errorf("retry scheduled lines %v", got)
		}
		if got := logs["attempt starting"]; len(got) == 0 || got[0].rec["host"] == nil {
			t.Errorf("the debug view does not show the host connected to: %v", got)
		}
		if !strings.Contains(out.String(), `"signature":"sha256=`) {
			t.Error("the debug view does not show the signature computed")
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		h, out := loggedHarness(t)
		r := h.receiver(reply{status: 200})
		w := h.hook(r, "limited", func(w *webhook.Webhook) {
			credentialHeaders(w)
			w.RateLimitPerMinute, w.RateLimitPerHour = 1, 1000
		})
		h.env.SetStartTime(time.Date(2026, 11, 29, 9, 0, 30, 0, time.UTC))
		for i, res := range h.burst(events("evt-limited", 2), false) {
			if res.Status != workflows.StatusDelivered {
				t.Fatalf("event %d: %+v", i, res)
			}
		}
		logs := checkLogs(t, out, w, "evt-limited-0", "evt-limited-1")
		waits := logs["attempt waits for its rate-limit slot"]
		if len(waits) != 1 || waits[0].rec["at"] == nil || !slices.Equal(attempts(waits), []int{1}) {
			t.Fatalf("rate-limit waits %v; got %v", waits, keys(logs))
		}
		if len(logs["attempt finished"]) != 2 {
			t.Errorf("attempt finished lines %v", logs["attempt finished"])
		}
	})

	t.Run("held", func(t *testing.T) {
		h, out := loggedHarness(t)
		r := h.receiver(reply{status: 200})
		w := h.hook(r, "paused", func(w *webhook.Webhook) {
			credentialHeaders(w)
			w.SetStatus(webhook.StatusPaused, "maintenance", time.Now())
		})
		h.env.RegisterDelayedCallback(func() {
			h.store.UpdateWebhook(context.Background(), w.ID, func(w *webhook.Webhook) error {
				w.SetStatus(webhook.StatusActive, "", time.Now())
				return nil
			})
			h.env.SignalWorkflow(workflows.SignalResume, workflows.WebhookSignal{WebhookID: w.ID})
		}, 20*time.Minute)
		if res := h.run(event("evt-held")); res.Status != workflows.StatusDelivered {
			t.Fatalf("result %+v", res)
		}
		logs := checkLogs(t, out, w, "evt-held")
		held := logs["attempt held: webhook not active"]
		if len(held) != 1 || held[0].rec["status"] != string(webhook.StatusPaused) || !slices.Equal(attempts(held), []int{1}) {
			t.Fatalf("held lines %v; got %v", held, keys(logs))
		}
		if got := attempts(logs["attempt finished"]); !slices.Equal(got, []int{1}) {
			t.Errorf("attempt finished for attempts %v, want [1]: a held attempt keeps its number", got)
		}
	})
}

func keys(m map[string][]logRecord) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
