package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// eventIDs are the X-Webhook-ID of each request a receiver got, in order.
func (r *receiver) eventIDs() []string {
	var ids []string
	for _, a := range r.arrivals() {
		ids = append(ids, a.header.Get("X-Webhook-ID"))
	}
	return ids
}

// publishAll publishes every event at once, one request each, and returns
// each answer's status.
func (s *stack) publishAll(t *testing.T, evs []map[string]any) []int {
	codes := make([]int, len(evs))
	var wg sync.WaitGroup
	for i, ev := range evs {
		wg.Go(func() { codes[i] = s.call(t, "POST", "/api/v1/events", ev, nil) })
	}
	wg.Wait()
	return codes
}

// dispatched counts the groups signalled to the dispatcher that hold any
// of the events: one hand-off to Temporal each.
func (s *stack) dispatched(t *testing.T, ids []string) int {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	var events []*historypb.HistoryEvent
	for shard := range workflows.DispatchShards {
		if _, err := s.temporal.DescribeWorkflowExecution(context.Background(), workflows.DispatchWorkflowID(shard), ""); err == nil {
			events = append(events, history(t, workflows.DispatchWorkflowID(shard), "").GetEvents()...)
		}
	}
	for _, e := range events {
		a := e.GetWorkflowExecutionSignaledEventAttributes()
		if a == nil {
			continue
		}
		var g workflows.IngestInput
		if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &g); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(g.Events, func(e workflows.IngestEvent) bool { return want[e.EventID] }) {
			n++
		}
	}
	return n
}

// Publishes that arrive together are committed together: fewer hand-offs
// to Temporal than events, each event delivered once.
func TestConcurrentPublishesCommitInGroups(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-groups", "url": r.srv.URL, "event_types": []string{"document.processed"}})
	var evs []map[string]any
	var ids []string
	for i := range 60 {
		id := uniq(fmt.Sprintf("grp-%d", i))
		ids = append(ids, id)
		evs = append(evs, map[string]any{"event_id": id, "event_type": "document.processed",
			"payload": map[string]any{"document_id": id, "status": "completed"}})
	}
	for i, code := range h.publishAll(t, evs) {
		if code != 202 {
			t.Fatalf("publish %d: %d", i, code)
		}
	}
	eventually(t, "every event to arrive", func() bool { return len(r.arrivals()) >= len(ids) })
	got := r.eventIDs()
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("receiver got %d requests for %d events", len(got), len(ids))
	}
	if n := h.dispatched(t, ids); n == 0 || n >= len(ids) {
		t.Fatalf("%d groups dispatched for %d events published at once: no group was formed", n, len(ids))
	}
}

// In a group, a publish that reuses an event id for another event fails
// alone; a repeat of an accepted event is a duplicate; the rest go.
func TestConflictInAGroupFailsAlone(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-conflict", "url": r.srv.URL, "event_types": []string{"system.error"}})
	first := map[string]any{"event_id": uniq("used"), "event_type": "system.error",
		"payload": map[string]any{"error_code": "A", "component": "c", "severity": "low"}}
	h.mustPublish(t, first)
	other := map[string]any{"event_id": first["event_id"], "event_type": "system.error",
		"payload": map[string]any{"error_code": "B", "component": "c", "severity": "low"}}
	evs := []map[string]any{other, first}
	for i := range 30 {
		evs = append(evs, map[string]any{"event_id": uniq(fmt.Sprintf("fresh-%d", i)), "event_type": "system.error",
			"payload": map[string]any{"error_code": "C", "component": "c", "severity": "low"}})
	}
	codes := h.publishAll(t, evs)
	if codes[0] != 409 || codes[1] != 200 {
		t.Fatalf("conflict %d, repeat %d", codes[0], codes[1])
	}
	for i, c := range codes[2:] {
		if c != 202 {
			t.Fatalf("fresh event %d: %d", i, c)
		}
	}
	eventually(t, "every event to arrive", func() bool { return len(r.arrivals()) >= 31 })
	time.Sleep(200 * time.Millisecond)
	if n := len(r.arrivals()); n != 31 {
		t.Fatalf("receiver got %d requests, want 31", n)
	}
}

// When Temporal cannot be reached every publish of the group answers 503
// and nothing is accepted: the same events published again later are
// accepted and delivered once.
func TestTemporalDownAcceptsNothing(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-down", "url": r.srv.URL, "event_types": []string{"correction.applied"}})
	dead, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	down := &ingest.Publisher{Store: h.store, Temporal: dead, StartTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)}
	up := &ingest.Publisher{Store: h.store, Temporal: h.temporal}
	var evs []*webhook.Event
	for i := range 12 {
		evs = append(evs, &webhook.Event{EventID: uniq(fmt.Sprintf("down-%d", i)), EventType: "correction.applied", Source: "loki",
			Payload: []byte(`{"document_id":"d","corrections_count":1}`), CreatedAt: time.Now().UTC().Truncate(time.Millisecond)})
	}
	errs := make([]error, len(evs))
	var wg sync.WaitGroup
	for i, ev := range evs {
		wg.Go(func() { _, _, errs[i] = down.Publish(context.Background(), ev) })
	}
	wg.Wait()
	for i, err := range errs {
		var herr *webhook.Error
		if !errors.As(err, &herr) || herr.Code != webhook.EUnavailable || herr.Details.(map[string]string)["event_id"] != evs[i].EventID {
			t.Fatalf("publish %d with Temporal down: %v", i, err)
		}
		if _, err := h.store.GetEvent(context.Background(), evs[i].EventID); webhook.ErrorCode(err) != webhook.ENotFound {
			t.Fatalf("event %d half-accepted: its row stayed (%v)", i, err)
		}
	}
	if _, err := down.PublishBatch(context.Background(), evs[:3]); webhook.ErrorCode(err) != webhook.EUnavailable {
		t.Fatalf("batch with Temporal down: %v", err)
	}
	errs = make([]error, len(evs))
	for i, ev := range evs {
		wg.Go(func() {
			_, created, err := up.Publish(context.Background(), ev)
			if err != nil || !created {
				errs[i] = fmt.Errorf("created %v: %v", created, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every event to arrive", func() bool { return len(r.arrivals()) >= len(evs) })
	time.Sleep(200 * time.Millisecond)
	if n := len(r.arrivals()); n != len(evs) {
		t.Fatalf("receiver got %d requests for %d events", n, len(evs))
	}
}

// An event id is accepted once whether it came alone, in a group or in a
// batch, and in whichever order.
func TestIdempotencyAcrossGroupsAndBatches(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-idem", "url": r.srv.URL, "event_types": []string{"report.generated"}})
	ev := func(id string) map[string]any {
		return map[string]any{"event_id": id, "event_type": "report.generated",
			"payload": map[string]any{"report_id": id, "report_type": "monthly", "report_url": "https://x.example/r"}}
	}
	a, b, c, d, e := uniq("idem-a"), uniq("idem-b"), uniq("idem-c"), uniq("idem-d"), uniq("idem-e")
	var batch struct {
		Accepted, Duplicates int
	}
	if code := h.call(t, "POST", "/api/v1/events/batch", map[string]any{"events": []any{ev(a), ev(b), ev(c)}}, &batch); code != 202 || batch.Accepted != 3 {
		t.Fatalf("first batch: %d %+v", code, batch)
	}
	if codes := h.publishAll(t, []map[string]any{ev(a), ev(b), ev(d), ev(d)}); codes[0] != 200 || codes[1] != 200 ||
		!(codes[2] == 202 && codes[3] == 200 || codes[2] == 200 && codes[3] == 202) {
		t.Fatalf("singles after the batch: %v", codes)
	}
	if code := h.call(t, "POST", "/api/v1/events/batch", map[string]any{"events": []any{ev(c), ev(d), ev(e)}}, &batch); code != 202 ||
		batch.Accepted != 1 || batch.Duplicates != 2 {
		t.Fatalf("second batch: %d %+v", code, batch)
	}
	want := []string{a, b, c, d, e}
	eventually(t, "every event to arrive", func() bool { return len(r.arrivals()) >= len(want) })
	time.Sleep(300 * time.Millisecond)
	got := r.eventIDs()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("receiver got %v, want each of %v once", got, want)
	}
}
