package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/loki-interceptor/herald/workflows"
)

// verified checks every request a receiver got against a webhook's secret
// (both signatures) and returns the event ids, in order of arrival.
func (r *receiver) verified(t *testing.T, secret string) []string {
	t.Helper()
	var ids []string
	for _, a := range r.arrivals() {
		id := a.header.Get("X-Webhook-ID")
		if a.header.Get("X-Webhook-Signature") != guideSignature(secret, a.body) ||
			a.header.Get("webhook-signature") != standardSignature(t, secret, id, a.header.Get("webhook-timestamp"), a.body) {
			t.Fatalf("a delivery of %s does not verify", id)
		}
		var env struct {
			EventID string `json:"event_id"`
		}
		if json.Unmarshal(a.body, &env) != nil || env.EventID != id {
			t.Fatalf("body of %s names %q", id, env.EventID)
		}
		ids = append(ids, id)
	}
	return ids
}

type eventView struct {
	TotalDeliveries      int        `json:"total_deliveries"`
	SuccessfulDeliveries int        `json:"successful_deliveries"`
	FailedDeliveries     int        `json:"failed_deliveries"`
	ProcessedAt          *time.Time `json:"processed_at"`
	Deliveries           []struct {
		WebhookID      int64               `json:"webhook_id"`
		Status         string              `json:"status"`
		Attempts       int                 `json:"attempts"`
		LastDeliveryID int64               `json:"last_delivery_id"`
		State          workflows.LoopState `json:"state"`
		NextAttemptAt  *time.Time          `json:"next_attempt_at"`
	} `json:"deliveries"`
}

func (s *stack) event(t *testing.T, id string) eventView {
	t.Helper()
	var ev eventView
	if code := s.call(t, "GET", "/api/v1/events/"+id, nil, &ev); code != 200 {
		t.Fatalf("GET event %s: %d", id, code)
	}
	return ev
}

// One event to three subscribers, one in each mode: each goes its way,
// signed, and the event counts all three.
func TestEventGoesEachSubscribersWay(t *testing.T) {
	h := herald(t)
	recvs := map[string]*receiver{}
	hooks := map[string]createdWebhook{}
	for _, mode := range []string{"per_event", "stream", "ordered"} {
		recvs[mode] = newReceiver(t, 200)
		hooks[mode] = h.mustWebhook(t, map[string]any{"name": "e2e-mode-" + mode, "url": recvs[mode].srv.URL,
			"event_types": []string{"batch.completed"}, "delivery_mode": mode})
	}
	var ids []string
	for i := range 20 {
		ids = append(ids, uniq(fmt.Sprintf("modes-%d", i)))
	}
	var evs []map[string]any
	for _, id := range ids {
		evs = append(evs, map[string]any{"event_id": id, "event_type": "batch.completed", "payload": map[string]any{"batch_id": id, "total_documents": 3}})
	}
	for i, code := range h.publishAll(t, evs) {
		if code != 202 {
			t.Fatalf("publish %d: %d", i, code)
		}
	}
	for mode, r := range recvs {
		eventually(t, mode+" to get every event", func() bool { return len(r.arrivals()) >= len(ids) })
		got := r.verified(t, hooks[mode].Secret)
		slices.Sort(got)
		if !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
			t.Fatalf("%s got %d requests for %d events", mode, len(got), len(ids))
		}
	}
	eventually(t, "the events to be processed", func() bool {
		ev := h.event(t, ids[0])
		return ev.ProcessedAt != nil && ev.SuccessfulDeliveries == 3 && ev.TotalDeliveries == 3 && len(ev.Deliveries) == 3
	})
	// Only the per-event subscriber's share has an event workflow; the
	// streams are found by their webhook in Temporal's list.
	if res := h.wait(t, ids[0]); res.Delivered != 1 {
		t.Fatalf("event workflow delivered to %d, want its one per-event subscriber", res.Delivered)
	}
	for _, mode := range []string{"stream", "ordered"} {
		query := fmt.Sprintf("HeraldWebhookIDs = '%d' AND WorkflowType = '%s'", hooks[mode].ID, workflows.StreamWorkflowName)
		eventually(t, "the "+mode+" stream to be listed", func() bool {
			resp, err := h.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			return err == nil && len(resp.GetExecutions()) > 0 &&
				resp.GetExecutions()[0].GetExecution().GetWorkflowId() == workflows.StreamWorkflowID(hooks[mode].ID)
		})
	}
}

// An ordered subscriber gets events in the order they were accepted, one
// at a time, even while the receiver refuses some at first.
func TestOrderedSubscriberGetsEventsInOrder(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 503, 200, 503, 200) // the first and third requests are refused
	hook := h.mustWebhook(t, map[string]any{"name": "e2e-ordered", "url": r.srv.URL, "event_types": []string{"validation.completed"},
		"delivery_mode": "ordered", "retry_strategy": "fixed_interval", "retry_delay_seconds": 1})
	var ids []string
	for i := range 8 {
		id := uniq(fmt.Sprintf("ord-%d", i))
		ids = append(ids, id)
		h.mustPublish(t, map[string]any{"event_id": id, "event_type": "validation.completed",
			"payload": map[string]any{"document_id": id, "validation_status": "pass", "gates_passed": i}})
	}
	eventually(t, "every event to be delivered", func() bool { return len(r.arrivals()) >= len(ids)+2 })
	got := r.verified(t, hook.Secret)
	var order []string
	for i, id := range got {
		if i == 0 || got[i-1] != id {
			order = append(order, id)
		}
	}
	if !slices.Equal(order, ids) {
		t.Fatalf("arrival order %v, want %v", got, ids)
	}
	arr := r.arrivals()
	for i := 1; i < len(arr); i++ {
		if arr[i].at.Before(arr[i-1].at) {
			t.Fatal("two requests overlapped")
		}
	}
}

// Operations on a stream's delivery: the API shows its live state from the
// stream, retries it now, cancels it, and the timeline lists its attempts.
func TestOperateAStreamedDelivery(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 503, 200, 503)
	hook := h.mustWebhook(t, map[string]any{"name": "e2e-stream-ops", "url": r.srv.URL, "event_types": []string{"compliance.alert"},
		"delivery_mode": "stream", "retry_delay_seconds": 3600})
	one, two := uniq("ops-1"), uniq("ops-2")
	h.mustPublish(t, alertEvent(one))
	eventually(t, "the first attempt", func() bool { return len(r.arrivals()) >= 1 })
	var ev eventView
	eventually(t, "its live state to show the wait", func() bool {
		ev = h.event(t, one)
		return len(ev.Deliveries) == 1 && ev.Deliveries[0].State == workflows.LoopRetrying && ev.Deliveries[0].NextAttemptAt != nil
	})
	var ans struct {
		Action string                   `json:"action"`
		State  *workflows.DeliveryState `json:"state"`
	}
	retry := fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/retry", hook.ID, ev.Deliveries[0].LastDeliveryID)
	if code := h.call(t, "POST", retry, nil, &ans); code != 202 || ans.Action != "signalled" || ans.State == nil || ans.State.State != workflows.LoopAttempting {
		t.Fatalf("retry: %d %+v", code, ans)
	}
	eventually(t, "the retry to go now, not in an hour", func() bool { return len(r.arrivals()) >= 2 })

	h.mustPublish(t, alertEvent(two))
	eventually(t, "the second event's attempt", func() bool { return len(r.arrivals()) >= 3 })
	eventually(t, "the second event to wait", func() bool { return h.event(t, two).Deliveries[0].State == workflows.LoopRetrying })
	second := h.event(t, two)
	cancel := fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/cancel", hook.ID, second.Deliveries[0].LastDeliveryID)
	if code := h.call(t, "POST", cancel, nil, &ans); code != 202 || ans.State == nil || ans.State.State != workflows.LoopCancelled {
		t.Fatalf("cancel: %d %+v", code, ans)
	}
	eventually(t, "the cancel to be counted", func() bool {
		e := h.event(t, two)
		return e.FailedDeliveries == 1 && e.ProcessedAt != nil
	})
	if code := h.call(t, "POST", cancel, nil, nil); code != 409 {
		t.Fatalf("cancel of an ended delivery: %d", code)
	}
	var tl struct {
		Timeline []struct {
			Kind    string `json:"kind"`
			Attempt int    `json:"attempt"`
		} `json:"timeline"`
	}
	h.call(t, "GET", "/api/v1/events/"+one+"/timeline", nil, &tl)
	var kinds []string
	for _, e := range tl.Timeline {
		kinds = append(kinds, e.Kind+strconv.Itoa(e.Attempt))
	}
	if !slices.Equal(kinds, []string{"streamed0", "attempt1", "attempt2"}) {
		t.Fatalf("timeline %v", kinds)
	}
	writeReplayHistory(t, workflows.StreamWorkflowID(hook.ID), "", "stream_two_batches_history.json")
}

// A subscriber switched between modes hands over nothing twice: deliveries
// under way finish where they began, later events go the new way.
func TestModeSwitchLosesNothing(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 503, 200)
	hook := h.mustWebhook(t, map[string]any{"name": "e2e-switch", "url": r.srv.URL, "event_types": []string{"system.error"},
		"retry_strategy": "fixed_interval", "retry_delay_seconds": 2})
	before := uniq("switch-before")
	h.mustPublish(t, sysErr(before))
	eventually(t, "the first attempt", func() bool { return len(r.arrivals()) >= 1 })
	for _, mode := range []string{"stream", "ordered", "per_event"} {
		if code := h.call(t, "PUT", fmt.Sprintf("/api/v1/webhooks/%d", hook.ID), map[string]any{"delivery_mode": mode}, nil); code != 200 {
			t.Fatalf("switch to %s: %d", mode, code)
		}
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { h.mustPublish(t, sysErr(uniq(fmt.Sprintf("switch-%s-%d", mode, i)))) })
		}
		wg.Wait()
	}
	eventually(t, "every event to arrive", func() bool { return len(r.arrivals()) >= 11 })
	time.Sleep(time.Second)
	seen := map[string]int{}
	for _, id := range r.verified(t, hook.Secret) {
		seen[id]++
	}
	if len(seen) != 10 || seen[before] != 2 {
		t.Fatalf("per event %v: want 10 events, the first twice (refused once), the rest once", seen)
	}
}

// A small group that arrives while a large batch of its stream is in
// flight goes at once, beside it, as a local activity (the path of the
// version "stream-local-beside", whose history the replay test keeps).
func TestStreamSendsASmallGroupBesideALargeBatch(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	r.delay = time.Second
	hook := h.mustWebhook(t, map[string]any{"name": "e2e-stream-beside", "url": r.srv.URL, "event_types": []string{"system.error"},
		"delivery_mode": "stream"})
	var events []any
	for i := range 20 {
		events = append(events, sysErr(uniq(fmt.Sprintf("beside-large-%d", i))))
	}
	if code := h.call(t, "POST", "/api/v1/events/batch", map[string]any{"events": events}, nil); code != 202 {
		t.Fatalf("batch: %d", code)
	}
	eventually(t, "the large batch's first request", func() bool { return len(r.arrivals()) >= 1 })
	small := uniq("beside-small")
	h.mustPublish(t, sysErr(small))
	eventually(t, "every event to arrive", func() bool { return len(r.arrivals()) >= 21 })
	// The marker is recorded when the task that ran the local batch ends.
	eventually(t, "the stream to record the version stream-local-beside", func() bool {
		return slices.Contains(versionsOf(t, workflows.StreamWorkflowID(hook.ID), ""), "stream-local-beside")
	})
	last := events[len(events)-1].(map[string]any)["event_id"].(string)
	eventually(t, "both batches to be counted", func() bool {
		return h.event(t, small).SuccessfulDeliveries == 1 && h.event(t, last).SuccessfulDeliveries == 1
	})
	want := []string{small}
	for _, ev := range events {
		want = append(want, ev.(map[string]any)["event_id"].(string))
	}
	got := r.verified(t, hook.Secret)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the receiver got %v, want each of %v once", got, want)
	}
	writeReplayHistory(t, workflows.StreamWorkflowID(hook.ID), "", "stream_local_beside_history.json")
}

// versionsOf lists the change ids of a workflow run's version markers.
func versionsOf(t *testing.T, workflowID, runID string) []string {
	var ids []string
	for _, e := range history(t, workflowID, runID).Events {
		m := e.GetMarkerRecordedEventAttributes()
		if m == nil || m.MarkerName != "Version" {
			continue
		}
		var id string
		if err := converter.GetDefaultDataConverter().FromPayloads(m.Details["change-id"], &id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// sysErr is a system.error event with id.
func sysErr(id string) map[string]any {
	return map[string]any{"event_id": id, "event_type": "system.error", "payload": map[string]any{"error_code": "X", "component": "c", "severity": "low"}}
}

// A stream continues as new once its run's history holds
// StreamHistoryPerRun events (the version "stream-short-runs"), long
// before its share of events: every event still arrives once, and the
// first run's history is kept for the replay test.
func TestStreamContinuesAsNewAtItsHistoryBound(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	hook := h.mustWebhook(t, map[string]any{"name": "e2e-stream-short", "url": r.srv.URL, "event_types": []string{"system.error"},
		"delivery_mode": "stream"})
	id := workflows.StreamWorkflowID(hook.ID)
	ids := []string{uniq("short-0")}
	h.mustPublish(t, sysErr(ids[0]))
	first := h.runOf(t, id)
	for h.runOf(t, id) == first {
		if len(ids) == 2000 {
			t.Fatalf("no new run after %d events", len(ids))
		}
		for range 20 {
			ids = append(ids, uniq(fmt.Sprintf("short-%d", len(ids))))
			h.mustPublish(t, sysErr(ids[len(ids)-1]))
		}
	}
	if !slices.Contains(versionsOf(t, id, first), "stream-short-runs") {
		t.Fatalf("the first run's versions %v do not include stream-short-runs", versionsOf(t, id, first))
	}
	eventually(t, "every event to arrive", func() bool { return len(r.arrivals()) >= len(ids) })
	got := r.verified(t, hook.Secret)
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("%d requests for %d events", len(got), len(ids))
	}
	writeReplayHistory(t, id, first, "stream_short_runs_history.json")
}

// runOf is the id of a workflow's current run.
func (s *stack) runOf(t *testing.T, workflowID string) string {
	t.Helper()
	var d *workflowservice.DescribeWorkflowExecutionResponse
	eventually(t, "the workflow "+workflowID, func() bool {
		var err error
		d, err = s.temporal.DescribeWorkflowExecution(context.Background(), workflowID, "")
		return err == nil
	})
	return d.WorkflowExecutionInfo.Execution.RunId
}
