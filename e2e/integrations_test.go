package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/loki-interceptor/herald/integrations/smtptest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
	"github.com/loki-interceptor/herald/workflows/workflowstest"
)

type createdIntegration struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Secret string `json:"secret"`
}

// mustIntegration creates an integration through the API and deletes it at
// cleanup.
func (s *stack) mustIntegration(t *testing.T, spec map[string]any) createdIntegration {
	t.Helper()
	var in createdIntegration
	if code := s.call(t, "POST", "/api/v1/integrations/", spec, &in); code != 201 {
		t.Fatalf("create integration: %d", code)
	}
	t.Cleanup(func() {
		if code := s.call(t, "DELETE", "/api/v1/integrations/"+url.PathEscape(in.Name), nil, nil); code != 204 && code != 404 {
			t.Errorf("cleanup: deleting integration %q answered %d", in.Name, code)
		}
	})
	return in
}

func uniqueID(prefix string) string {
	return prefix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func TestSlackAndTeamsGetTheirFormats(t *testing.T) {
	h := herald(t)
	slack, teams := newReceiver(t, 200), newReceiver(t, 200)
	h.mustIntegration(t, map[string]any{"name": "e2e Slack", "integration_type": "slack",
		"credentials":         map[string]any{"webhook_url": slack.srv.URL + "/services/T0/B0/slack-token"},
		"config":              map[string]any{"default_channel": "#compliance"},
		"event_subscriptions": []string{"compliance.alert"}})
	h.mustIntegration(t, map[string]any{"name": "e2e Teams", "integration_type": "teams",
		"credentials":         map[string]any{"webhook_url": teams.srv.URL + "/workflows/teams-token"},
		"config":              map[string]any{"theme_color": "0078D4", "dashboard_url": "https://herald.example.com"},
		"event_subscriptions": []string{"compliance.alert"}})
	id := uniqueID("evt-chat")
	h.mustPublish(t, map[string]any{"event_id": id, "event_type": "compliance.alert", "payload": alert})
	if res := h.wait(t, id); res.Status != workflows.StatusDelivered || res.Delivered != 2 {
		t.Fatalf("event result %+v", res)
	}

	var msg struct {
		Channel     string `json:"channel"`
		Attachments []struct {
			Color  string `json:"color"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct {
					Text string `json:"text"`
				} `json:"text"`
			} `json:"blocks"`
		} `json:"attachments"`
	}
	got := slack.arrivals()
	if len(got) != 1 || json.Unmarshal(got[0].body, &msg) != nil {
		t.Fatalf("Slack got %d requests", len(got))
	}
	a := msg.Attachments[0]
	if msg.Channel != "#compliance" || a.Color != "#D93025" || a.Blocks[0].Type != "header" || !strings.Contains(a.Blocks[0].Text.Text, "Compliance Alert") {
		t.Fatalf("Slack message %s", got[0].body)
	}
	if !strings.Contains(string(got[0].body), "gdpr_violation") || !strings.Contains(string(got[0].body), "LOKI Interceptor | ") {
		t.Fatalf("Slack message lacks the facts or the footer: %s", got[0].body)
	}

	var card struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string         `json:"contentType"`
			Content     map[string]any `json:"content"`
		} `json:"attachments"`
	}
	got = teams.arrivals()
	if len(got) != 1 || json.Unmarshal(got[0].body, &card) != nil || card.Type != "message" ||
		card.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("Teams got %s", got[0].body)
	}
	if !strings.Contains(string(got[0].body), "FactSet") || !strings.Contains(string(got[0].body), "https://herald.example.com/events/"+id) {
		t.Fatalf("Teams card lacks facts or the deep link: %s", got[0].body)
	}

	// The attempt rows show where, but not the tokens in the URLs.
	var list struct {
		Deliveries []struct {
			URL    string `json:"url"`
			Status string `json:"status"`
		} `json:"deliveries"`
	}
	h.call(t, "GET", "/api/v1/integrations/e2e%20Slack/deliveries", nil, &list)
	if len(list.Deliveries) != 1 || list.Deliveries[0].Status != "delivered" || strings.Contains(list.Deliveries[0].URL, "slack-token") {
		t.Fatalf("Slack deliveries %+v", list.Deliveries)
	}
	var health struct {
		Status       string `json:"status"`
		Integrations map[string]struct {
			Status      string `json:"status"`
			LastEventID string `json:"last_event_id"`
		} `json:"integrations"`
	}
	h.call(t, "GET", "/api/v1/integrations/health", nil, &health)
	if s := health.Integrations["e2e Teams"]; s.Status != "healthy" || s.LastEventID != id {
		t.Fatalf("health %+v", health)
	}
	// Nothing secret in the workflow's history.
	if hist := historyJSON(t, workflows.EventWorkflowID(id)); strings.Contains(hist, "slack-token") || strings.Contains(hist, "teams-token") {
		t.Fatal("a credential is in the Temporal history")
	}
}

func historyJSON(t *testing.T, workflowID string) string {
	raw, err := json.Marshal(history(t, workflowID, ""))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestGenericWebhookIntegrationIsSigned(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	in := h.mustIntegration(t, map[string]any{"name": "e2e generic", "integration_type": "webhook",
		"credentials": map[string]any{"webhook_url": r.srv.URL + "/hook"}, "event_subscriptions": []string{"system.error"}})
	if !strings.HasPrefix(in.Secret, webhook.SecretPrefix) {
		t.Fatalf("create answered secret %q", in.Secret)
	}
	id := uniqueID("evt-generic")
	h.mustPublish(t, map[string]any{"event_id": id, "event_type": "system.error",
		"payload": map[string]any{"error_code": "E1", "component": "validator", "severity": "low"}})
	h.wait(t, id)
	got := r.arrivals()
	if len(got) != 1 || got[0].header.Get("X-Webhook-Signature") != guideSignature(in.Secret, got[0].body) {
		t.Fatalf("generic webhook got %d requests, signature %q", len(got), got[0].header.Get("X-Webhook-Signature"))
	}
	var env webhook.Envelope
	if err := json.Unmarshal(got[0].body, &env); err != nil || env.EventID != id {
		t.Fatalf("body %s", got[0].body)
	}
}

// A batching Zapier integration collects events in its batch workflow; the
// workers restart while a batch is half full, and the batch still goes out
// whole, once, when it fills.
func TestZapierBatchSurvivesAWorkerRestart(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	in := h.mustIntegration(t, map[string]any{"name": "e2e Zapier", "integration_type": "zapier",
		"credentials":         map[string]any{"webhook_url": r.srv.URL + "/hooks/catch/1/abc/"},
		"config":              map[string]any{"batch_events": true, "batch_size": 3, "batch_timeout_seconds": 120},
		"event_subscriptions": []string{"batch.completed"}})
	publish := func(i int) string {
		id := uniqueID(fmt.Sprintf("evt-zap-%d", i))
		h.mustPublish(t, map[string]any{"event_id": id, "event_type": "batch.completed",
			"payload": map[string]any{"batch_id": fmt.Sprintf("b%d", i), "total_documents": 10}})
		if res := h.wait(t, id); res.Batched != 1 || res.Status != workflows.StatusDelivered {
			t.Fatalf("event %s: %+v", id, res)
		}
		return id
	}
	ids := []string{publish(0), publish(1)}
	eventually(t, "two events pending in the batch", func() bool { return len(h.pendingBatch(t, in.ID)) == 2 })
	h.restartWorkers(t)
	// The new workers rebuild the batch from its history; a query needs
	// one of them polling, so ask until one answers.
	eventually(t, "the same two events pending after the restart", func() bool {
		return fmt.Sprint(h.pendingBatch(t, in.ID)) == fmt.Sprint(ids)
	})
	ids = append(ids, publish(2))
	eventually(t, "the batch to arrive", func() bool { return len(r.arrivals()) == 1 })
	h.checkBatch(t, r.arrivals()[0], in.Secret, ids, "e2e%20Zapier")
	time.Sleep(200 * time.Millisecond)
	if n := len(r.arrivals()); n != 1 {
		t.Fatalf("Zapier got %d requests, want the one batch", n)
	}
	writeReplayHistory(t, workflows.BatchWorkflowID(in.ID), "", "batch_workflow_history.json")
}

// A batching integration whose collector cannot start its batch says so in
// its health (failing, why, and when it tries again), keeps the events, and
// sends the batch, once, when a start succeeds; its health is good again.
func TestBatchThatCannotStartShowsInHealth(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	in := h.mustIntegration(t, map[string]any{"name": "e2e Zapier refused", "integration_type": "zapier",
		"credentials":         map[string]any{"webhook_url": r.srv.URL + "/hooks/catch/1/refused/"},
		"config":              map[string]any{"batch_events": true, "batch_size": 2, "batch_timeout_seconds": 120},
		"event_subscriptions": []string{"batch.completed"}})
	refusedChildStarts.refuse(workflows.BatchWorkflowID(in.ID), time.Now().Add(4*time.Second))
	var ids []string
	for i := range 2 {
		id := uniqueID(fmt.Sprintf("evt-refused-%d", i))
		h.mustPublish(t, map[string]any{"event_id": id, "event_type": "batch.completed",
			"payload": map[string]any{"batch_id": fmt.Sprintf("b%d", i), "total_documents": 10}})
		ids = append(ids, id)
	}
	health := func() (status, why string) {
		var got struct {
			Integrations map[string]struct {
				Status string `json:"status"`
				Error  string `json:"error"`
			} `json:"integrations"`
		}
		h.call(t, "GET", "/api/v1/integrations/health", nil, &got)
		s := got.Integrations["e2e Zapier refused"]
		return s.Status, s.Error
	}
	eventually(t, "health to show the batch that cannot start", func() bool {
		status, why := health()
		return status == "failing" && strings.Contains(why, "its batch of 2 events could not be started") &&
			strings.Contains(why, workflowstest.ErrRefused.Error()) && strings.Contains(why, "next try at")
	})
	// The two events' workflows hand them over in either order: the batch
	// keeps the order they came in.
	pending := h.pendingBatch(t, in.ID)
	if got, want := slices.Sorted(slices.Values(pending)), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Fatalf("pending while refused: %v, want %v", got, want)
	}
	ids = pending
	eventually(t, "the batch to arrive", func() bool { return len(r.arrivals()) == 1 })
	h.checkBatch(t, r.arrivals()[0], in.Secret, ids, "e2e%20Zapier%20refused")
	if status, why := health(); status != "healthy" {
		t.Fatalf("health after the batch went: %s (%s)", status, why)
	}
}

// checkBatch checks a batch a Zapier receiver got: a JSON array of the
// events ids in order, signed as the LOKI guide says, and an event of its own
// with one delivery record, delivered.
func (s *stack) checkBatch(t *testing.T, got arrival, secret string, ids []string, integrationPath string) {
	t.Helper()
	var batch []webhook.Envelope
	if err := json.Unmarshal(got.body, &batch); err != nil || len(batch) != len(ids) {
		t.Fatalf("Zapier got %s (%v), want %d events", got.body, err, len(ids))
	}
	for i, env := range batch {
		if env.EventID != ids[i] || env.EventType != "batch.completed" {
			t.Fatalf("batch[%d] = %+v, want %s", i, env, ids[i])
		}
	}
	if sig := got.header.Get("X-Webhook-Signature"); sig != guideSignature(secret, got.body) {
		t.Fatalf("batch signature %q", sig)
	}
	var list struct {
		Deliveries []struct {
			EventID string `json:"event_id"`
		} `json:"deliveries"`
	}
	s.call(t, "GET", "/api/v1/integrations/"+integrationPath+"/deliveries", nil, &list)
	if len(list.Deliveries) != 1 || !strings.HasPrefix(list.Deliveries[0].EventID, "herald-batch-") {
		t.Fatalf("batch deliveries %+v", list.Deliveries)
	}
	if res := s.wait(t, list.Deliveries[0].EventID); res.Delivered != 1 {
		t.Fatalf("batch event %+v", res)
	}
}

// pendingBatch asks an integration's batch workflow what it holds.
func (s *stack) pendingBatch(t *testing.T, integrationID int64) []string {
	return s.batchState(t, integrationID).Pending
}

// batchState asks an integration's batch workflow for its state: the zero
// state if no worker answers.
func (s *stack) batchState(t *testing.T, integrationID int64) workflows.BatchState {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := s.temporal.QueryWorkflow(ctx, workflows.BatchWorkflowID(integrationID), "", workflows.QueryBatch)
	if err != nil {
		return workflows.BatchState{}
	}
	var st workflows.BatchState
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A batching Zapier integration whose batch goes by its timeout, not its
// size: every worker stops while the batch timer is pending and stays down
// until Temporal has fired the timer, so no process that saw the events is
// left. Fresh workers rebuild the batch from its history and send it once,
// as one array, after the timeout.
func TestZapierBatchTimeoutSurvivesAWorkerRestart(t *testing.T) {
	// Publishing three events and stopping the workers takes well under a
	// second; the timeout leaves several seconds of margin for it.
	const timeout = 5 * time.Second
	h := herald(t)
	r := newReceiver(t, 200)
	in := h.mustIntegration(t, map[string]any{"name": "e2e Zapier timeout", "integration_type": "zapier",
		"credentials":         map[string]any{"webhook_url": r.srv.URL + "/hooks/catch/1/timeout/"},
		"config":              map[string]any{"batch_events": true, "batch_size": 50, "batch_timeout_seconds": int(timeout / time.Second)},
		"event_subscriptions": []string{"batch.completed"}})
	var ids []string
	for i := range 3 {
		id := uniqueID(fmt.Sprintf("evt-zapt-%d", i))
		h.mustPublish(t, map[string]any{"event_id": id, "event_type": "batch.completed",
			"payload": map[string]any{"batch_id": fmt.Sprintf("t%d", i), "total_documents": 10}})
		if res := h.wait(t, id); res.Batched != 1 || res.Status != workflows.StatusDelivered {
			t.Fatalf("event %s: %+v", id, res)
		}
		ids = append(ids, id)
	}
	var st workflows.BatchState
	eventually(t, "three events pending in the batch", func() bool {
		st = h.batchState(t, in.ID)
		return fmt.Sprint(st.Pending) == fmt.Sprint(ids)
	})
	if st.DueAt == nil {
		t.Fatalf("batch state %+v has no due time", st)
	}
	due := *st.DueAt

	start := h.stopWorkers(t)
	if left := time.Until(due); left < time.Second {
		t.Fatalf("the workers stopped only %v before the batch was due: the test needs a longer timeout to show anything", left)
	} else {
		t.Logf("every worker stopped %v before the batch was due", left.Round(time.Millisecond))
	}
	if n := len(r.arrivals()); n != 0 {
		t.Fatalf("Zapier got %d requests before the batch was due", n)
	}
	// The timer fires at the Temporal server with no worker running.
	within(t, time.Until(due)+15*time.Second, "the batch timer to fire", func() bool {
		return hasEvent(history(t, workflows.BatchWorkflowID(in.ID), ""), enumspb.EVENT_TYPE_TIMER_FIRED)
	})
	if n := len(r.arrivals()); n != 0 {
		t.Fatalf("Zapier got %d requests with every worker stopped", n)
	}
	restarted := time.Now()
	start()

	within(t, 30*time.Second, "the batch to arrive", func() bool { return len(r.arrivals()) > 0 })
	got := r.arrivals()[0]
	if got.at.Before(restarted) || got.at.Before(due) {
		t.Fatalf("batch arrived at %v, before the restart (%v) or the due time (%v)", got.at, restarted, due)
	}
	h.checkBatch(t, got, in.Secret, ids, "e2e%20Zapier%20timeout")
	eventually(t, "the batch to be empty", func() bool {
		st := h.batchState(t, in.ID)
		return st.Pending != nil && len(st.Pending) == 0 && st.Flushed == 1
	})
	time.Sleep(500 * time.Millisecond)
	if n := len(r.arrivals()); n != 1 {
		t.Fatalf("Zapier got %d requests, want the one batch", n)
	}
	writeReplayHistory(t, workflows.BatchWorkflowID(in.ID), "", "batch_timeout_workflow_history.json")
}

// stopWorkers stops every worker and returns a function that starts fresh
// ones, as restartWorkers does in one go; the test's cleanup starts them if
// the test did not, so the tests after it have workers.
func (s *stack) stopWorkers(t *testing.T) (start func()) {
	t.Helper()
	for _, w := range s.workers {
		w.Stop()
	}
	// Workers in one process share a cache of workflow state; emptied, it
	// leaves the fresh workers nothing but Temporal's history to go on, as
	// a new process would have.
	sdkworker.PurgeStickyWorkflowCache()
	var once sync.Once
	start = func() {
		once.Do(func() {
			for i := range s.workers {
				s.workers[i] = s.newWorker()
				if err := s.workers[i].Start(); err != nil {
					t.Errorf("starting a worker: %v", err)
				}
			}
		})
	}
	t.Cleanup(start)
	return start
}

// within is eventually with its own deadline.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasEvent(h *historypb.History, typ enumspb.EventType) bool {
	for _, e := range h.Events {
		if e.EventType == typ {
			return true
		}
	}
	return false
}

// An email integration sends through a real SMTP server with STARTTLS and
// AUTH; a temporary refusal is retried on the integration's schedule.
func TestEmailIntegrationDeliversThroughSMTP(t *testing.T) {
	h := herald(t)
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, Host: "::1", TLS: &tls.Config{Certificates: []tls.Certificate{h.cert}},
		User: "alerts@company.com", Password: "app-password"})
	h.mustIntegration(t, map[string]any{"name": "e2e Email", "integration_type": "email",
		"credentials": map[string]any{"smtp_host": srv.Host, "smtp_port": srv.Port, "smtp_username": "alerts@company.com",
			"smtp_password": "app-password", "from_address": "loki@company.com"},
		"config":              map[string]any{"default_recipients": []string{"compliance@company.com", "cto@company.com"}},
		"event_subscriptions": []string{"report.generated"}})
	id := uniqueID("evt-mail")
	payload := map[string]any{"report_id": "rep_1", "report_type": "monthly_compliance",
		"report_url": "https://loki.example.com/r/1.pdf", "document_count": 12, "format": "pdf"}
	h.mustPublish(t, map[string]any{"event_id": id, "event_type": "report.generated", "payload": payload})
	if res := h.wait(t, id); res.Status != workflows.StatusDelivered {
		t.Fatalf("event %+v", res)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || fmt.Sprint(msgs[0].To) != "[compliance@company.com cto@company.com]" || msgs[0].From != "loki@company.com" {
		t.Fatalf("SMTP server got %+v", msgs)
	}
	if user, pass, failed := srv.Auth(); user != "alerts@company.com" || pass != "app-password" || failed {
		t.Fatalf("AUTH %q %q %v", user, pass, failed)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(msgs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if subj := msg.Header.Get("Subject"); subj != "[LOKI] Report Generated" || msg.Header.Get("X-Herald-Event-ID") != id {
		t.Fatalf("headers %v", msg.Header)
	}
	raw := string(msgs[0].Data)
	for _, want := range []string{"multipart/alternative", "text/plain", "text/html", "event-" + id + ".json", "monthly_compliance"} {
		if !strings.Contains(raw, want) {
			t.Fatalf("message lacks %q:\n%s", want, raw)
		}
	}
	// The attempt row records a summary, not the password.
	var list struct {
		Deliveries []struct {
			URL         string          `json:"url"`
			Status      string          `json:"status"`
			RequestBody json.RawMessage `json:"request_body"`
		} `json:"deliveries"`
	}
	h.call(t, "GET", "/api/v1/integrations/e2e%20Email/deliveries", nil, &list)
	if len(list.Deliveries) != 1 || list.Deliveries[0].URL != fmt.Sprintf("smtp://[%s]:%d", srv.Host, srv.Port) ||
		strings.Contains(string(list.Deliveries[0].RequestBody), "app-password") || !strings.Contains(string(list.Deliveries[0].RequestBody), "cto@company.com") {
		t.Fatalf("email deliveries %+v", list.Deliveries)
	}
	if hist := historyJSON(t, workflows.EventWorkflowID(id)); strings.Contains(hist, "app-password") {
		t.Fatal("the SMTP password is in the Temporal history")
	}
}

func TestEmailTemporaryRefusalIsRetried(t *testing.T) {
	h := herald(t)
	refuse := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	down := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, Host: "::1", TLS: &tls.Config{Certificates: []tls.Certificate{h.cert}}, RcptErr: refuse})
	h.mustIntegration(t, map[string]any{"name": "e2e Email 451", "integration_type": "email",
		"credentials": map[string]any{"smtp_host": down.Host, "smtp_port": down.Port, "from_address": "loki@company.com"},
		"config":      map[string]any{"default_recipients": []string{"a@company.com"}},
		"max_retries": 1, "retry_delay_seconds": 1, "retry_strategy": "fixed_interval", "event_subscriptions": []string{"system.error"}})
	id := uniqueID("evt-mail451")
	h.mustPublish(t, map[string]any{"event_id": id, "event_type": "system.error",
		"payload": map[string]any{"error_code": "E1", "component": "validator", "severity": "critical"}})
	if res := h.wait(t, id); res.Status != workflows.StatusFailed {
		t.Fatalf("event %+v", res)
	}
	var list struct {
		Deliveries []struct {
			Status     string `json:"status"`
			ErrorClass string `json:"error_class"`
			LastError  string `json:"last_error"`
		} `json:"deliveries"`
	}
	h.call(t, "GET", "/api/v1/integrations/e2e%20Email%20451/deliveries", nil, &list)
	if len(list.Deliveries) != 2 || list.Deliveries[1].Status != "retrying" || list.Deliveries[0].Status != "failed" ||
		list.Deliveries[0].ErrorClass != "smtp" || !strings.Contains(list.Deliveries[0].LastError, "451") {
		t.Fatalf("attempts %+v", list.Deliveries)
	}
	var health struct {
		Integrations map[string]struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"integrations"`
	}
	h.call(t, "GET", "/api/v1/integrations/health", nil, &health)
	if s := health.Integrations["e2e Email 451"]; s.Status != "failing" || !strings.Contains(s.Error, "451") {
		t.Fatalf("health %+v", health.Integrations)
	}
	var metrics struct {
		Integrations map[string]struct {
			Sent, Failed, Retried int
		} `json:"integrations"`
	}
	h.call(t, "GET", "/api/v1/integrations/metrics", nil, &metrics)
	if m := metrics.Integrations["e2e Email 451"]; m.Sent != 0 || m.Failed != 1 || m.Retried != 1 {
		t.Fatalf("metrics %+v", m)
	}
}
