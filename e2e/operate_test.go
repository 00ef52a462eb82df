package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/workflows"
)

func alertEvent(id string) map[string]any {
	return map[string]any{"event_id": id, "event_type": "compliance.alert", "payload": alert}
}

func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()) }

// Nine events to a webhook allowed three a window, with two workers
// reserving: every event arrives, and no window (2 s here) sees more than
// three arrivals at the receiver.
func TestRateLimitHoldsAcrossTwoWorkers(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-limited", "url": r.srv.URL, "event_types": []string{"compliance.alert"},
		"rate_limit_per_minute": 3, "rate_limit_per_hour": 1000})
	for i := range 9 {
		h.mustPublish(t, alertEvent(uniq(fmt.Sprint("limited", i))))
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(r.arrivals()) < 9 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := r.arrivals()
	if len(got) != 9 {
		t.Fatalf("%d of 9 events arrived", len(got))
	}
	perWindow := map[time.Time]int{}
	for _, a := range got {
		perWindow[a.at.UTC().Truncate(testWindows.Minute)]++
	}
	for w, n := range perWindow {
		if n > 3 {
			t.Fatalf("window %v got %d arrivals, limit 3 (all: %v)", w.Format("15:04:05.000"), n, perWindow)
		}
	}
	if len(perWindow) < 3 {
		t.Fatalf("nine arrivals in %d windows of three", len(perWindow))
	}
}

type deliveryRow struct {
	ID            int64  `json:"id"`
	EventID       string `json:"event_id"`
	Status        string `json:"status"`
	AttemptNumber int    `json:"attempt_number"`
	ErrorClass    string `json:"error_class"`
	LastError     string `json:"last_error"`
}

func (s *stack) deliveries(t *testing.T, webhookID int64) []deliveryRow {
	var list struct {
		Deliveries []deliveryRow `json:"deliveries"`
	}
	s.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?limit=1000", webhookID), nil, &list)
	return list.Deliveries
}

type retryAnswer struct {
	Action string                   `json:"action"`
	State  *workflows.DeliveryState `json:"state"`
}

// A delivery waiting an hour for its retry goes at once on request.
func TestManualRetryOfAWaitingDelivery(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 503, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-waiting", "url": r.srv.URL, "event_types": []string{"compliance.alert"},
		"retry_delay_seconds": 3600})
	acc := h.mustPublish(t, alertEvent(uniq("waiting")))
	eventually(t, "the first attempt to fail", func() bool {
		ds := h.deliveries(t, w.ID)
		return len(ds) == 1 && ds[0].Status == "retrying"
	})
	first := h.deliveries(t, w.ID)[0]
	var ans retryAnswer
	if code := h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/retry", w.ID, first.ID), nil, &ans); code != 202 {
		t.Fatalf("retry: %d", code)
	}
	// The workflow's own answer: the waiting delivery went at once.
	if ans.Action != "signalled" || ans.State == nil || ans.State.State != workflows.LoopAttempting {
		t.Fatalf("answer %+v", ans)
	}
	if res := h.wait(t, acc.EventID); res.Status != workflows.StatusDelivered {
		t.Fatalf("result %+v", res)
	}
	if got := r.arrivals(); len(got) != 2 || got[1].at.Sub(got[0].at) > 30*time.Second {
		t.Fatalf("arrivals %d, second after %v", len(got), got[len(got)-1].at.Sub(got[0].at))
	}
}

// A delivery that failed for good, its event's workflow closed, is started
// over by reopening the workflow; the timeline shows both runs.
func TestManualRetryOfAFailedDeliveryReopensTheEvent(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 400, 200)
	ok := newReceiver(t, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-reopen", "url": r.srv.URL, "event_types": []string{"compliance.alert"}})
	h.mustWebhook(t, map[string]any{"name": "e2e-reopen-ok", "url": ok.srv.URL, "event_types": []string{"compliance.alert"}})
	acc := h.mustPublish(t, alertEvent(uniq("reopen")))
	if res := h.wait(t, acc.EventID); res.Status != workflows.StatusPartial {
		t.Fatalf("first run %+v", res)
	}
	failed := h.deliveries(t, w.ID)[0]
	var ans retryAnswer
	if code := h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/retry", w.ID, failed.ID), nil, &ans); code != 202 || ans.Action != "reopened" {
		t.Fatalf("retry: %d %+v", code, ans)
	}
	if res := h.wait(t, acc.EventID); res != (workflows.EventResult{Status: workflows.StatusDelivered, Delivered: 1}) {
		t.Fatalf("reopened run %+v", res)
	}
	writeReplayHistory(t, acc.WorkflowID, "", "event_updated_history.json")
	if len(r.arrivals()) != 2 || len(ok.arrivals()) != 1 {
		t.Fatalf("arrivals: retried webhook %d, other %d", len(r.arrivals()), len(ok.arrivals()))
	}
	var ev struct {
		SuccessfulDeliveries int `json:"successful_deliveries"`
		FailedDeliveries     int `json:"failed_deliveries"`
	}
	h.call(t, "GET", "/api/v1/events/"+acc.EventID, nil, &ev)
	if ev.SuccessfulDeliveries != 2 || ev.FailedDeliveries != 0 {
		t.Fatalf("event %+v", ev)
	}
	// Retrying what is delivered is refused.
	if code := h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/retry", w.ID, failed.ID), nil, nil); code != 409 {
		t.Fatalf("retry of a delivered delivery: %d", code)
	}
	var tl struct {
		Timeline []struct {
			Kind       string `json:"kind"`
			WebhookID  int64  `json:"webhook_id"`
			Attempt    int    `json:"attempt"`
			Status     string `json:"status"`
			StatusCode int    `json:"status_code"`
		} `json:"timeline"`
	}
	eventually(t, "both runs in the timeline", func() bool {
		h.call(t, "GET", "/api/v1/events/"+acc.EventID+"/timeline", nil, &tl)
		var kinds []string
		for _, e := range tl.Timeline {
			kinds = append(kinds, e.Kind)
		}
		return strings.Contains(strings.Join(kinds, ","), "reopened,update")
	})
	var mine []string
	for _, e := range tl.Timeline {
		if e.Kind == "attempt" && e.WebhookID == w.ID {
			mine = append(mine, fmt.Sprintf("%d:%s:%d", e.Attempt, e.Status, e.StatusCode))
		}
	}
	if strings.Join(mine, " ") != "1:failed:400 2:delivered:200" {
		t.Fatalf("attempts in the timeline: %v (%+v)", mine, tl.Timeline)
	}
}

func TestBulkRetry(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 422, 422, 422, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-bulk", "url": r.srv.URL, "event_types": []string{"compliance.alert"}})
	var ids []string
	for i := range 3 {
		acc := h.mustPublish(t, alertEvent(uniq(fmt.Sprint("bulk", i))))
		ids = append(ids, acc.EventID)
	}
	for _, id := range ids {
		h.wait(t, id)
	}
	var ans struct {
		Retried int `json:"retried"`
	}
	if code := h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/retry?max_age_hours=24", w.ID), nil, &ans); code != 202 || ans.Retried != 3 {
		t.Fatalf("bulk retry: %d %+v", code, ans)
	}
	// Again at once: those retries are under way, nothing is retried twice.
	h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/retry", w.ID), nil, nil)
	for _, id := range ids {
		if res := h.wait(t, id); res.Status != workflows.StatusDelivered {
			t.Fatalf("event %s after bulk retry: %+v", id, res)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := r.arrivals(); len(got) != 6 {
		var seen []string
		for _, a := range got {
			seen = append(seen, a.header.Get("X-Webhook-ID")+"#"+a.header.Get("X-Webhook-Attempt"))
		}
		t.Fatalf("receiver got %d requests (%v), want 3 failures and 3 redeliveries", len(got), seen)
	}
	if code := h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/retry", w.ID), nil, &ans); code != 202 || ans.Retried != 0 {
		t.Fatalf("nothing left to retry: %d %+v", code, ans)
	}
}

// A paused webhook's deliveries wait; setting it active releases them.
func TestPauseHoldsAndResumeReleases(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-pause", "url": r.srv.URL, "event_types": []string{"compliance.alert"}})
	if code := h.call(t, "PUT", fmt.Sprintf("/api/v1/webhooks/%d", w.ID), map[string]any{"status": "paused", "status_reason": "receiver maintenance"}, nil); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	acc := h.mustPublish(t, alertEvent(uniq("paused")))
	eventually(t, "the delivery to be held", func() bool {
		v, err := h.temporal.QueryWorkflow(context.Background(), acc.WorkflowID, "", workflows.QueryDeliveries)
		var st []workflows.DeliveryState
		return err == nil && v.Get(&st) == nil && len(st) == 1 && st[0].State == workflows.LoopPaused
	})
	if len(r.arrivals()) != 0 {
		t.Fatal("a paused webhook received a delivery")
	}
	// The held delivery has no attempt row yet; the event still shows it.
	var ev struct {
		Deliveries []struct {
			WebhookID int64  `json:"webhook_id"`
			Status    string `json:"status"`
			Attempts  int    `json:"attempts"`
			State     string `json:"state"`
			LastError string `json:"last_error"`
		} `json:"deliveries"`
	}
	if code := h.call(t, "GET", "/api/v1/events/"+acc.EventID, nil, &ev); code != 200 || len(ev.Deliveries) != 1 ||
		ev.Deliveries[0].WebhookID != w.ID || ev.Deliveries[0].Status != "pending" || ev.Deliveries[0].Attempts != 0 ||
		ev.Deliveries[0].State != string(workflows.LoopPaused) || !strings.Contains(ev.Deliveries[0].LastError, "receiver maintenance") {
		t.Fatalf("held event: %d %+v", code, ev)
	}
	eventually(t, "the held event to be listed by its webhook", func() bool {
		resp, err := h.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("HeraldWebhookIDs = '%d' AND ExecutionStatus = 'Running'", w.ID)})
		return err == nil && len(resp.Executions) == 1
	})
	var upd struct {
		Status   string `json:"status"`
		Released int    `json:"released_deliveries"`
	}
	if code := h.call(t, "PUT", fmt.Sprintf("/api/v1/webhooks/%d", w.ID), map[string]any{"status": "active"}, &upd); code != 200 || upd.Released != 1 {
		t.Fatalf("resume: %d %+v", code, upd)
	}
	if res := h.wait(t, acc.EventID); res.Status != workflows.StatusDelivered || len(r.arrivals()) != 1 {
		t.Fatalf("after resume: %+v, %d arrivals", res, len(r.arrivals()))
	}
}

// A receiver answering 410 Gone pauses its webhook, and a system.error event
// says so to whoever subscribes to it.
func TestGoneReceiverPausesAndAnnounces(t *testing.T) {
	h := herald(t)
	gone := newReceiver(t, http.StatusGone)
	ops := newReceiver(t, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-gone", "url": gone.srv.URL, "event_types": []string{"compliance.alert"}})
	h.mustWebhook(t, map[string]any{"name": "e2e-ops", "url": ops.srv.URL, "event_types": []string{"system.error"}})
	acc := h.mustPublish(t, alertEvent(uniq("gone")))
	h.wait(t, acc.EventID)
	var got struct {
		Status       string `json:"status"`
		StatusReason string `json:"status_reason"`
		PausedAt     *time.Time
	}
	h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d", w.ID), nil, &got)
	if got.Status != "paused" || got.StatusReason != "the receiver answered 410 Gone" {
		t.Fatalf("webhook after 410: %+v", got)
	}
	eventually(t, "the system.error announcement", func() bool { return len(ops.arrivals()) == 1 })
	body := string(ops.arrivals()[0].body)
	if !strings.Contains(body, `"event_type":"system.error"`) || !strings.Contains(body, `"error_code":"WEBHOOK_PAUSED"`) ||
		!strings.Contains(body, fmt.Sprintf(`"webhook_id":%d`, w.ID)) {
		t.Fatalf("announcement %s", body)
	}
}

// The analytics agree with what the receiver saw.
func TestAnalyticsAgreeWithTheReceiver(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 500, 503, 200, 404, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-analytics", "url": r.srv.URL, "event_types": []string{"compliance.alert"},
		"retry_delay_seconds": 1, "jitter_percentage": 0, "backoff_multiplier": 1})
	for i := range 3 {
		acc := h.mustPublish(t, alertEvent(uniq(fmt.Sprint("analytics", i))))
		h.wait(t, acc.EventID)
	}
	got := r.arrivals()
	var a struct {
		WebhookID int64 `json:"webhook_id"`
		store.Stats
	}
	h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/analytics?period_days=7", w.ID), nil, &a)
	// Requests in order: 500, 503, 200 (event 1, three attempts), 404 (event 2, fails), 200 (event 3).
	if a.TotalAttempts != len(got) || len(got) != 5 || a.TotalEvents != 3 || a.SuccessfulDeliveries != 2 || a.FailedDeliveries != 1 ||
		a.HTTP5xxErrors != 2 || a.HTTP4xxErrors != 1 || a.RetryCount != 2 || a.SuccessRate != 66.67 || a.P95ResponseTimeMS < a.AvgResponseTimeMS {
		t.Fatalf("analytics %+v for %d requests", a, len(got))
	}
	var all struct {
		Overall   store.Stats            `json:"overall"`
		ByType    map[string]store.Stats `json:"by_event_type"`
		ByWebhook []struct {
			WebhookID int64 `json:"webhook_id"`
			store.Stats
		} `json:"by_webhook"`
	}
	h.call(t, "GET", "/api/v1/analytics?period_days=1", nil, &all)
	mine := -1
	for _, b := range all.ByWebhook {
		if b.WebhookID == w.ID {
			mine = b.TotalAttempts
		}
	}
	if mine != len(got) || all.Overall.TotalAttempts < len(got) || all.ByType["compliance.alert"].TotalAttempts < len(got) {
		t.Fatalf("analytics across webhooks: this webhook %d attempts, receiver saw %d: %+v", mine, len(got), all)
	}
}

// The maintenance schedule's run rolls attempts up into daily rows.
func TestMaintenanceScheduleRollsUp(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-rollup", "url": r.srv.URL, "event_types": []string{"compliance.alert"}})
	acc := h.mustPublish(t, alertEvent(uniq("rollup")))
	h.wait(t, acc.EventID)
	db, err := sqlx.Open("postgres", h.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Make the attempt yesterday's, as the nightly run will find it.
	if _, err := db.Exec(`UPDATE deliveries SET created_at = created_at - interval '1 day' WHERE webhook_id = $1`, w.ID); err != nil {
		t.Fatal(err)
	}
	handle := h.temporal.ScheduleClient().GetHandle(context.Background(), workflows.MaintenanceScheduleID)
	if err := handle.Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	yesterday := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	eventually(t, "the rollup row", func() bool {
		var n int
		db.Get(&n, `SELECT total_events FROM webhook_analytics WHERE webhook_id = $1 AND period_date = $2`, w.ID, yesterday)
		return n == 1
	})
	var run *workflowpb.WorkflowExecutionInfo
	eventually(t, "the maintenance run to be listed", func() bool {
		resp, err := h.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowType = 'MaintenanceWorkflow' AND ExecutionStatus = 'Completed'"})
		if err != nil || len(resp.Executions) == 0 {
			return false
		}
		run = resp.Executions[0]
		return true
	})
	writeReplayHistory(t, run.GetExecution().GetWorkflowId(), run.GetExecution().GetRunId(), "maintenance_workflow_history.json")
}

func TestReadyReportsWorkers(t *testing.T) {
	h := herald(t)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if code := h.call(t, "GET", "/api/v1/ready", nil, &ready); code != 200 || ready.Checks["database"] != "ok" ||
		ready.Checks["temporal"] != "ok" || !strings.HasPrefix(ready.Checks["worker"], "ok") {
		t.Fatalf("ready: %d %+v", code, ready)
	}
}

// An event with more subscribers than HeraldWebhookIDs lists is marked
// "many", and resuming a webhook past the listed ones still releases its
// held delivery at once (not at the hold's next look, an hour later).
func TestResumeReachesEventsWithManySubscribers(t *testing.T) {
	h := herald(t)
	crowd, r := newReceiver(t, 200), newReceiver(t, 200)
	for i := range workflows.MaxSearchWebhookIDs {
		h.mustWebhook(t, map[string]any{"name": fmt.Sprintf("e2e-crowd-%d", i), "url": crowd.srv.URL, "event_types": []string{"compliance.alert"}})
	}
	w := h.mustWebhook(t, map[string]any{"name": "e2e-last", "url": r.srv.URL, "event_types": []string{"compliance.alert"}, "status": "paused"})
	acc := h.mustPublish(t, alertEvent(uniq("many")))
	eventually(t, "the last subscriber's delivery to be held", func() bool {
		v, err := h.temporal.QueryWorkflow(context.Background(), acc.WorkflowID, "", workflows.QueryDeliveries)
		var st []workflows.DeliveryState
		if err != nil || v.Get(&st) != nil {
			return false
		}
		for _, s := range st {
			if s.WebhookID == w.ID {
				return s.State == workflows.LoopPaused
			}
		}
		return false
	})
	eventually(t, "the event to be listed as having many subscribers", func() bool {
		resp, err := h.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("HeraldWebhookIDs = '%s' AND WorkflowId = '%s'", workflows.ManySubscribers, acc.WorkflowID)})
		return err == nil && len(resp.Executions) == 1
	})
	var upd struct {
		Released int `json:"released_deliveries"`
	}
	if code := h.call(t, "PUT", fmt.Sprintf("/api/v1/webhooks/%d", w.ID), map[string]any{"status": "active"}, &upd); code != 200 || upd.Released != 1 {
		t.Fatalf("resume: %d %+v", code, upd)
	}
	if res := h.wait(t, acc.EventID); res.Status != workflows.StatusDelivered || len(r.arrivals()) != 1 || len(crowd.arrivals()) != workflows.MaxSearchWebhookIDs {
		t.Fatalf("after resume: %+v, %d arrivals at the last, %d at the crowd", res, len(r.arrivals()), len(crowd.arrivals()))
	}
}

// A delivery waiting an hour for its retry is cancelled on request: no more
// attempts, its row failed; a retry later starts it over.
func TestCancelAWaitingDelivery(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 503, 200)
	w := h.mustWebhook(t, map[string]any{"name": "e2e-cancel", "url": r.srv.URL, "event_types": []string{"compliance.alert"},
		"retry_delay_seconds": 3600})
	acc := h.mustPublish(t, alertEvent(uniq("cancel")))
	eventually(t, "the first attempt to fail", func() bool {
		ds := h.deliveries(t, w.ID)
		return len(ds) == 1 && ds[0].Status == "retrying"
	})
	first := h.deliveries(t, w.ID)[0]
	path := fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/cancel", w.ID, first.ID)
	var ans retryAnswer
	if code := h.call(t, "POST", path, nil, &ans); code != 202 || ans.Action != "cancelled" ||
		ans.State == nil || ans.State.State != workflows.LoopCancelled {
		t.Fatalf("cancel: %d %+v", code, ans)
	}
	if res := h.wait(t, acc.EventID); res.Status != workflows.StatusFailed || res.Cancelled != 1 {
		t.Fatalf("result %+v", res)
	}
	if ds := h.deliveries(t, w.ID); len(ds) != 1 || ds[0].Status != "failed" || len(r.arrivals()) != 1 {
		t.Fatalf("after the cancel: rows %+v, %d arrivals", ds, len(r.arrivals()))
	}
	if code := h.call(t, "POST", path, nil, nil); code != 409 {
		t.Fatalf("cancelling an ended delivery: %d, want 409", code)
	}
	if code := h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/retry", w.ID, first.ID), nil, &ans); code != 202 || ans.Action != "reopened" {
		t.Fatalf("retry after the cancel: %d %+v", code, ans)
	}
	eventually(t, "the retry to be delivered", func() bool {
		ds := h.deliveries(t, w.ID)
		return len(ds) == 2 && ds[0].Status == "delivered"
	})
}
