package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// zapier creates a batching Zapier integration posting to r.
func (h *harness) zapier(r *receiver, size, timeoutSeconds int) *webhook.Webhook {
	return h.hook(r, fmt.Sprintf("zapier-%d-%d", size, timeoutSeconds), func(w *webhook.Webhook) {
		creds, _ := json.Marshal(map[string]string{"webhook_url": r.srv.URL})
		cfg, _ := json.Marshal(map[string]any{"batch_events": true, "batch_size": size, "batch_timeout_seconds": timeoutSeconds})
		w.Integration = &webhook.Integration{Type: "zapier", Credentials: creds, Config: cfg}
		w.URL = "https://hooks.zapier.com/********"
	})
}

// feed stores n events and signals them into the collector one per second
// from the first second on, as AddToBatch would.
func (h *harness) feed(prefix string, n, size, timeoutSeconds int) []string {
	return h.feedEvery(prefix, n, size, timeoutSeconds, time.Second)
}

// feedEvery is feed with the events every apart (0: all at once).
func (h *harness) feedEvery(prefix string, n, size, timeoutSeconds int, every time.Duration) []string {
	ids := make([]string, n)
	for i := range n {
		ev := event(fmt.Sprintf("%s-%d", prefix, i))
		if _, err := h.store.CreateEvent(context.Background(), &ev); err != nil {
			h.t.Fatal(err)
		}
		ids[i] = ev.EventID
		item := workflows.BatchItem{EventID: ev.EventID, Size: size, TimeoutSeconds: timeoutSeconds}
		h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalBatchAdd, item) }, time.Second+time.Duration(i)*every)
	}
	return ids
}

// batches are the event ids of each batch the receiver got, in order.
func (r *receiver) batches() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]string
	for _, body := range r.got {
		var envs []webhook.Envelope
		if err := json.Unmarshal(body, &envs); err != nil {
			r.t.Fatalf("a batch is a JSON array of event bodies: %v: %s", err, body)
		}
		var ids []string
		for _, e := range envs {
			ids = append(ids, e.EventID)
		}
		out = append(out, ids)
	}
	return out
}

func TestBatchFlushesAtSizeAndAtTimeout(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 200})
	z := h.zapier(r, 3, 30)
	ids := h.feed("size", 7, 3, 30)
	start := h.env.Now()
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := [][]string{ids[0:3], ids[3:6], ids[6:7]}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batches = %v, want %v", got, want)
	}
	// Full batches go when their last event arrives (seconds 3 and 6);
	// the last, alone, when its 30 s are up (second 7 + 30).
	var at []time.Duration
	for _, ts := range h.attempts[z.ID] {
		at = append(at, ts.Sub(start).Round(time.Second))
	}
	if fmt.Sprint(at) != fmt.Sprint([]time.Duration{3 * time.Second, 6 * time.Second, 37 * time.Second}) {
		t.Fatalf("batches sent at %v after the start", at)
	}
	// Each batch is an event of its own, recorded and delivered, named
	// after the collector's run and its count.
	rows, _, err := h.store.ListDeliveries(context.Background(), z.ID, store.DeliveryFilter{})
	if err != nil || len(rows) != 3 {
		t.Fatalf("attempt rows %d %v", len(rows), err)
	}
	for i, d := range rows {
		ev, err := h.store.GetEvent(context.Background(), d.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventType != webhook.BatchEventType || ev.SuccessfulDeliveries != 1 || !strings.HasSuffix(ev.EventID, fmt.Sprintf("-%d", 3-i)) {
			t.Fatalf("batch event %+v", ev)
		}
	}
}

func TestBatchHandedOverTwiceIsSentOnce(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 200})
	z := h.zapier(r, 2, 10)
	ids := h.feed("dup", 2, 2, 10)
	// A retried hand-over of the first event, before and after its batch.
	again := workflows.BatchItem{EventID: ids[0], Size: 2, TimeoutSeconds: 10}
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalBatchAdd, again) }, 1500*time.Millisecond)
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalBatchAdd, again) }, 5*time.Second)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint([][]string{ids}) {
		t.Fatalf("batches = %v, want one of %v", got, ids)
	}
}

func TestBatchRetriesAFailedBatch(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 503}, reply{status: 200})
	z := h.zapier(r, 2, 10)
	ids := h.feed("retry", 2, 2, 10)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint([][]string{ids, ids}) {
		t.Fatalf("batches = %v: want the same batch twice (failed, then retried)", got)
	}
	if got := h.statuses(z.ID); !slices.Equal(got, []webhook.DeliveryStatus{R, D}) {
		t.Fatalf("attempt rows %v", got)
	}
}

// After 100 batches the collector continues as new, carrying what is
// pending and what it has sent, so its history stays short and nothing is
// lost or sent twice across runs.
func TestBatchContinuesAsNewWithItsPendingEvents(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 200})
	z := h.zapier(r, 1, 10)
	ids := h.feedEvery("can", 103, 1, 10, 0)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	var can *workflow.ContinueAsNewError
	if err := h.env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next workflows.BatchInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.WebhookID != z.ID || next.Flushed != 100 || fmt.Sprint(next.Recent) != fmt.Sprint(ids[:100]) {
		t.Fatalf("continued with webhook %d, %d flushed, recent %v", next.WebhookID, next.Flushed, next.Recent)
	}
	var pending []string
	for _, it := range next.Pending {
		pending = append(pending, it.EventID)
	}
	if fmt.Sprint(pending) != fmt.Sprint(ids[100:]) {
		t.Fatalf("carried %v, want %v", pending, ids[100:])
	}
	if got := len(r.batches()); got != 100 {
		t.Fatalf("%d batches before continuing", got)
	}
}
