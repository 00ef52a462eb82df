package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/loki-interceptor/herald/workflows"
)

var updateReplay = flag.Bool("update-replay", false, "rewrite the recorded histories in workflows/testdata from this run")

var alert = map[string]any{
	"alert_level": "critical", "alert_type": "gdpr_violation", "message": "Personal data found in document",
	"affected_documents": []string{"doc_12345"}, "recommended_actions": []string{"Redact personal data", "Review GDPR compliance"},
}

// eventually polls cond until it holds or ten seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The receivers' own checks, written out here rather than calling the
// webhook package, so a mistake there cannot hide behind itself.
func guideSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func standardSignature(t *testing.T, secret, id, ts string, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%s.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestEventReachesEverySubscriberSigned(t *testing.T) {
	h := herald(t)
	recvs := []*receiver{newReceiver(t, 200), newReceiver(t, 204), newReceiver(t, 200)}
	var hooks []createdWebhook
	for i, r := range recvs {
		hooks = append(hooks, h.mustWebhook(t, map[string]any{
			"name": fmt.Sprintf("e2e-signed-%d", i), "url": r.srv.URL + "/hooks/loki",
			"event_types":    []string{"compliance.alert", "system.error"},
			"custom_headers": map[string]string{"Authorization": "Bearer token-" + strconv.Itoa(i), "X-Client-ID": "loki-prod-01"},
		}))
	}
	bystander := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-bystander", "url": bystander.srv.URL, "event_types": []string{"batch.completed"}})
	inactive := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-inactive", "url": inactive.srv.URL, "event_types": []string{"*"}, "status": "inactive"})

	acc := h.mustPublish(t, map[string]any{"event_type": "compliance.alert", "source": "validator", "source_id": "doc_12345", "payload": alert})
	if res := h.wait(t, acc.EventID); res != (workflows.EventResult{Status: workflows.StatusDelivered, Delivered: 3}) {
		t.Fatalf("workflow result %+v", res)
	}
	payload, _ := json.Marshal(alert)
	wantBody := fmt.Sprintf(`{"event_id":%q,"event_type":"compliance.alert","source":"validator","source_id":"doc_12345","timestamp":%q,"data":%s}`,
		acc.EventID, acc.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), payload)
	for i, r := range recvs {
		got := r.arrivals()
		if len(got) != 1 {
			t.Fatalf("receiver %d got %d requests", i, len(got))
		}
		a, secret := got[0], hooks[i].Secret
		if string(a.body) != wantBody {
			t.Fatalf("receiver %d body\n%s\nwant\n%s", i, a.body, wantBody)
		}
		if sig := a.header.Get("X-Webhook-Signature"); sig != guideSignature(secret, a.body) {
			t.Fatalf("receiver %d: X-Webhook-Signature %s does not verify", i, sig)
		}
		ts := a.header.Get("webhook-timestamp")
		if sig := a.header.Get("webhook-signature"); sig != standardSignature(t, secret, acc.EventID, ts, a.body) {
			t.Fatalf("receiver %d: webhook-signature %s does not verify", i, sig)
		}
		if n, _ := strconv.ParseInt(ts, 10, 64); time.Since(time.Unix(n, 0)).Abs() > time.Minute {
			t.Fatalf("webhook-timestamp %s is not now", ts)
		}
		for k, v := range map[string]string{"X-Webhook-ID": acc.EventID, "webhook-id": acc.EventID, "X-Webhook-Event": "compliance.alert",
			"X-Webhook-Attempt": "1", "Authorization": "Bearer token-" + strconv.Itoa(i), "X-Client-ID": "loki-prod-01", "Content-Type": "application/json"} {
			if a.header.Get(k) != v {
				t.Errorf("receiver %d header %s = %q, want %q", i, k, a.header.Get(k), v)
			}
		}
	}
	if len(bystander.arrivals())+len(inactive.arrivals()) != 0 {
		t.Fatal("an unsubscribed or inactive webhook received the event")
	}

	// What Herald recorded agrees with what the receivers saw.
	var ev struct {
		TotalDeliveries      int        `json:"total_deliveries"`
		SuccessfulDeliveries int        `json:"successful_deliveries"`
		FailedDeliveries     int        `json:"failed_deliveries"`
		ProcessedAt          *time.Time `json:"processed_at"`
		Deliveries           []struct {
			WebhookID      int64  `json:"webhook_id"`
			Status         string `json:"status"`
			Attempts       int    `json:"attempts"`
			LastDeliveryID int64  `json:"last_delivery_id"`
		} `json:"deliveries"`
	}
	h.call(t, "GET", "/api/v1/events/"+acc.EventID, nil, &ev)
	if ev.TotalDeliveries != 3 || ev.SuccessfulDeliveries != 3 || ev.FailedDeliveries != 0 || len(ev.Deliveries) != 3 || ev.ProcessedAt == nil {
		t.Fatalf("event summary %+v", ev)
	}
	for i, hook := range hooks {
		var d struct {
			Status             string            `json:"status"`
			Signature          string            `json:"signature"`
			RequestBody        json.RawMessage   `json:"request_body"`
			RequestHeaders     map[string]string `json:"request_headers"`
			ResponseStatusCode int               `json:"response_status_code"`
			ResponseBody       string            `json:"response_body"`
			Live               *workflows.DeliveryState
		}
		path := fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d", hook.ID, ev.Deliveries[i].LastDeliveryID)
		if code := h.call(t, "GET", path, nil, &d); code != 200 {
			t.Fatalf("GET %s: %d", path, code)
		}
		a := recvs[i].arrivals()[0]
		if d.Status != "delivered" || d.Signature != a.header.Get("X-Webhook-Signature") || string(d.RequestBody) != string(a.body) ||
			d.ResponseStatusCode != []int{200, 204, 200}[i] || d.RequestHeaders["X-Webhook-Signature"] != d.Signature {
			t.Fatalf("attempt row disagrees with the receiver: %+v", d)
		}
		if strings.Contains(fmt.Sprint(d.RequestHeaders), "token-") {
			t.Fatalf("stored request headers show the bearer token: %v", d.RequestHeaders)
		}
		if d.Live == nil || d.Live.State != workflows.LoopDelivered || d.Live.Attempts != 1 {
			t.Fatalf("live state from the workflow: %+v", d.Live)
		}
	}
}

func TestRetryThenDeliverAndPermanentFailure(t *testing.T) {
	h := herald(t)
	flaky, broken := newReceiver(t, 503, 500, 200), newReceiver(t, 422)
	fh := h.mustWebhook(t, map[string]any{"name": "e2e-flaky", "url": flaky.srv.URL, "event_types": []string{"batch.completed"},
		"retry_delay_seconds": 1, "backoff_multiplier": 1.5, "jitter_percentage": 0})
	bh := h.mustWebhook(t, map[string]any{"name": "e2e-broken", "url": broken.srv.URL, "event_types": []string{"batch.completed"}, "retry_delay_seconds": 1})
	ok := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-ok", "url": ok.srv.URL, "event_types": []string{"*"}})
	acc := h.mustPublish(t, map[string]any{"event_type": "batch.completed", "source_id": "batch_daily_001", "payload": map[string]any{
		"batch_id": "batch_daily_001", "total_documents": 500, "processed_documents": 498, "failed_documents": 2, "processing_time_ms": 45230.5,
		"results_summary": map[string]any{"compliance_issues": 12, "average_confidence": 0.95}}})

	// Mid-way, the delivery waits on a durable timer and says when it goes.
	eventually(t, "the first retry to be scheduled", func() bool { return len(flaky.arrivals()) >= 1 })
	res := h.wait(t, acc.EventID)
	if res != (workflows.EventResult{Status: workflows.StatusPartial, Delivered: 2, Failed: 1}) {
		t.Fatalf("result %+v", res)
	}
	got := flaky.arrivals()
	if len(got) != 3 || len(broken.arrivals()) != 1 {
		t.Fatalf("flaky got %d, broken got %d", len(got), len(broken.arrivals()))
	}
	for i, a := range got {
		if string(a.body) != string(got[0].body) || a.header.Get("X-Webhook-ID") != acc.EventID || a.header.Get("X-Webhook-Attempt") != strconv.Itoa(i+1) {
			t.Fatalf("attempt %d differs: id %s attempt %s", i+1, a.header.Get("X-Webhook-ID"), a.header.Get("X-Webhook-Attempt"))
		}
	}
	if gap := got[2].at.Sub(got[1].at); gap < 1400*time.Millisecond {
		t.Fatalf("second retry came %v after the first, before its 1.5 s backoff", gap)
	}
	var list struct {
		Deliveries []struct {
			AttemptNumber      int        `json:"attempt_number"`
			Status             string     `json:"status"`
			NextRetryAt        *time.Time `json:"next_retry_at"`
			ResponseStatusCode int        `json:"response_status_code"`
			LastError          string     `json:"last_error"`
		} `json:"deliveries"`
		Total int `json:"total"`
	}
	h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", fh.ID), nil, &list)
	if list.Total != 3 {
		t.Fatalf("%d rows", list.Total)
	}
	want := []struct {
		status string
		code   int
	}{{"delivered", 200}, {"retrying", 500}, {"retrying", 503}} // newest first
	for i, d := range list.Deliveries {
		if d.Status != want[i].status || d.ResponseStatusCode != want[i].code || d.AttemptNumber != 3-i || (d.Status == "retrying") != (d.NextRetryAt != nil) {
			t.Fatalf("row %d: %+v", i, d)
		}
	}
	h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?status=failed&limit=100", bh.ID), nil, &list)
	if list.Total != 1 || list.Deliveries[0].ResponseStatusCode != 422 || !strings.Contains(list.Deliveries[0].LastError, "422") {
		t.Fatalf("failed deliveries: %+v", list)
	}
	writeReplayHistory(t, acc.WorkflowID, "", "event_recorded_history.json")
}

func TestRepeatedEventIDDeliversOnce(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-once", "url": r.srv.URL, "event_types": []string{"system.error"}})
	ev := map[string]any{"event_id": "evt-once-" + strconv.FormatInt(time.Now().UnixNano(), 36), "event_type": "system.error",
		"payload": map[string]any{"error_code": "DB_UNAVAILABLE", "component": "validator", "severity": "high"}}

	// Ten publishers race with the same event id.
	var wg sync.WaitGroup
	codes := make(chan int, 10)
	for range 10 {
		wg.Go(func() {
			var a accepted
			codes <- h.call(t, "POST", "/api/v1/events", ev, &a)
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[202] != 1 || count[200] != 9 {
		t.Fatalf("status codes %v, want one 202 and nine 200", count)
	}
	id := ev["event_id"].(string)
	h.wait(t, id)
	var again accepted
	if code := h.call(t, "POST", "/api/v1/events", ev, &again); code != 200 || !again.Duplicate || again.EventID != id {
		t.Fatalf("repeat after delivery: %d %+v", code, again)
	}
	ev["payload"] = map[string]any{"error_code": "OTHER", "component": "validator", "severity": "high"}
	if code := h.call(t, "POST", "/api/v1/events", ev, nil); code != 409 {
		t.Fatalf("same id, other payload: %d, want 409", code)
	}
	time.Sleep(200 * time.Millisecond) // any second delivery would be on its way by now
	if n := len(r.arrivals()); n != 1 {
		t.Fatalf("receiver got %d deliveries of one event id", n)
	}

	// Temporal forgets a closed workflow after the namespace's retention;
	// the event id still holds: a repeat starts nothing.
	ctx := context.Background()
	wfID := workflows.EventWorkflowID(id)
	if _, err := h.temporal.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
		Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wfID}}); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		d, err := h.temporal.DescribeWorkflowExecution(ctx, wfID, "")
		var gone *serviceerror.NotFound
		if errors.As(err, &gone) {
			break
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("Temporal did not delete the workflow: %v %v", d.GetWorkflowExecutionInfo().GetStatus(), lastErr)
		}
	}
	ev["payload"] = map[string]any{"error_code": "DB_UNAVAILABLE", "component": "validator", "severity": "high"}
	if code := h.call(t, "POST", "/api/v1/events", ev, &again); code != 200 || !again.Duplicate {
		t.Fatalf("repeat after Temporal forgot the workflow: %d %+v", code, again)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := h.temporal.DescribeWorkflowExecution(ctx, wfID, ""); err == nil {
		t.Fatal("a repeat publish started the event's workflow again")
	}
	if n := len(r.arrivals()); n != 1 {
		t.Fatalf("receiver got %d deliveries of one event id", n)
	}
}

func TestEventIsVisibleAndFilterableInTemporal(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	hook := h.mustWebhook(t, map[string]any{"name": "e2e-visible", "url": r.srv.URL, "event_types": []string{"report.generated"}})
	acc := h.mustPublish(t, map[string]any{"event_type": "report.generated", "source": "reports", "payload": map[string]any{
		"report_id": "rep_1", "report_type": "monthly_compliance", "report_url": "https://loki.example.com/r/1.pdf"}})
	h.wait(t, acc.EventID)
	query := fmt.Sprintf(`HeraldEventType = "report.generated" AND HeraldWebhookIDs = "%d" AND HeraldStatus = "delivered" AND HeraldSource = "reports"`, hook.ID)
	eventually(t, "the visibility store to list the event", func() bool {
		resp, err := h.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Executions) == 1 && resp.Executions[0].Execution.WorkflowId == acc.WorkflowID &&
			resp.Executions[0].Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	// No secret is in the history: attempts load them from the store.
	hist := history(t, acc.WorkflowID, "")
	raw, _ := temporalproto.CustomJSONMarshalOptions{}.Marshal(hist)
	if strings.Contains(string(raw), hook.Secret) || strings.Contains(string(raw), strings.TrimPrefix(hook.Secret, "whsec_")) {
		t.Fatal("the webhook secret is in the Temporal history")
	}
}

func history(t *testing.T, workflowID, runID string) *historypb.History {
	t.Helper()
	it := shared.temporal.GetWorkflowHistory(context.Background(), workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, e)
	}
	return hist
}

// writeReplayHistory keeps a real history for the workflows package's replay
// test, which proves new workflow code still replays what ran before.
func writeReplayHistory(t *testing.T, workflowID, runID, name string) {
	if !*updateReplay {
		return
	}
	raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(history(t, workflowID, runID))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("../workflows/testdata/"+name, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A batch is accepted with one hand-off; each of its events is then
// delivered once, by its own workflow, and a repeat of the batch (or of one
// of its events published alone before) delivers nothing again.
func TestBatchPublishDeliversEachEventOnce(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-batch-publish", "url": r.srv.URL, "event_types": []string{"system.error"}})
	event := func(id string) map[string]any {
		return map[string]any{"event_id": id, "event_type": "system.error",
			"payload": map[string]any{"error_code": "E_" + id, "component": "validator", "severity": "low"}}
	}
	first := uniqueID("evt-batch-0")
	h.mustPublish(t, event(first))
	ids := []string{first, uniqueID("evt-batch-1"), uniqueID("evt-batch-2"), uniqueID("evt-batch-3")}
	batch := map[string]any{"events": []any{event(ids[0]), event(ids[1]), event(ids[2]), event(ids[3])}}
	var got struct {
		Accepted   int        `json:"accepted"`
		Duplicates int        `json:"duplicates"`
		Events     []accepted `json:"events"`
	}
	if code := h.call(t, "POST", "/api/v1/events/batch", batch, &got); code != 202 || got.Accepted != 3 || got.Duplicates != 1 ||
		len(got.Events) != 4 || !got.Events[0].Duplicate || got.Events[1].Duplicate || got.Events[3].EventID != ids[3] {
		t.Fatalf("batch: %d %+v", code, got)
	}
	for _, id := range ids {
		eventually(t, "event "+id+"'s workflow", func() bool {
			_, err := h.temporal.DescribeWorkflowExecution(context.Background(), workflows.EventWorkflowID(id), "")
			return err == nil
		})
		if res := h.wait(t, id); res.Status != workflows.StatusDelivered && id != first {
			t.Fatalf("event %s: %+v", id, res)
		}
	}
	if code := h.call(t, "POST", "/api/v1/events/batch", batch, &got); code != 200 || got.Accepted != 0 || got.Duplicates != 4 {
		t.Fatalf("the same batch again: %d %+v", code, got)
	}
	time.Sleep(300 * time.Millisecond) // any second delivery would be on its way by now
	seen := map[string]int{}
	for _, a := range r.arrivals() {
		seen[a.header.Get("X-Webhook-ID")]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("deliveries per event id %v, want one each of %v", seen, ids)
		}
	}
}
