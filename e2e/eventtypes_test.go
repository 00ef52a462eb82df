package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/loki-interceptor/herald/workflows"
)

// An operator defines an event type through the API; a webhook subscribes
// to it; an event of it is validated against the operator's schema and
// delivered, signed, to the receiver.
func TestCustomEventTypeIsDelivered(t *testing.T) {
	h := herald(t)
	def := map[string]any{
		"description": "An invoice is paid",
		"schema": map[string]any{"type": "object", "required": []string{"invoice_id", "amount"},
			"properties": map[string]any{"invoice_id": map[string]any{"type": "string"}, "amount": map[string]any{"type": "number", "minimum": 0}}},
	}
	if code := h.call(t, "PUT", "/api/v1/event-types/billing.invoice_paid", def, nil); code != 201 {
		t.Fatalf("define: %d", code)
	}
	// Registered before the webhook's cleanup, so it runs after it: a
	// subscribed type cannot be deleted.
	t.Cleanup(func() {
		if code := h.call(t, "DELETE", "/api/v1/event-types/billing.invoice_paid", nil, nil); code != 204 {
			t.Errorf("cleanup: deleting the event type answered %d", code)
		}
	})
	r := newReceiver(t, 200)
	hook := h.mustWebhook(t, map[string]any{"name": "e2e-custom-type", "url": r.srv.URL + "/billing", "event_types": []string{"billing.invoice_paid"}})
	bystander := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e-custom-bystander", "url": bystander.srv.URL, "event_types": []string{"compliance.alert"}})

	var refused struct {
		Error struct {
			Details []struct{ Field string } `json:"details"`
		} `json:"error"`
	}
	bad := map[string]any{"event_type": "billing.invoice_paid", "payload": map[string]any{"invoice_id": "inv_1", "amount": -5}}
	if code := h.call(t, "POST", "/api/v1/events", bad, &refused); code != 422 || refused.Error.Details[0].Field != "payload.amount" {
		t.Fatalf("invalid payload: %d %+v", code, refused)
	}

	payload := map[string]any{"invoice_id": "inv_1", "amount": 120.5, "currency": "EUR"}
	acc := h.mustPublish(t, map[string]any{"event_type": "billing.invoice_paid", "source": "billing", "source_id": "inv_1", "payload": payload})
	if res := h.wait(t, acc.EventID); res != (workflows.EventResult{Status: workflows.StatusDelivered, Delivered: 1}) {
		t.Fatalf("workflow result %+v", res)
	}
	got := r.arrivals()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	data, _ := json.Marshal(payload)
	want := fmt.Sprintf(`{"event_id":%q,"event_type":"billing.invoice_paid","source":"billing","source_id":"inv_1","timestamp":%q,"data":%s}`,
		acc.EventID, acc.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"), data)
	if a := got[0]; string(a.body) != want || a.header.Get("X-Webhook-Event") != "billing.invoice_paid" ||
		a.header.Get("X-Webhook-Signature") != guideSignature(hook.Secret, a.body) {
		t.Fatalf("receiver got %s %v\nwant %s", a.body, a.header, want)
	}
	if n := len(bystander.arrivals()); n != 0 {
		t.Fatalf("a webhook not subscribed to the type got %d requests", n)
	}
}
