package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/api/openapitest"
)

// plainBody is what a receiver verifies: the body before compression.
func plainBody(t *testing.T, a arrival) []byte {
	t.Helper()
	if a.header.Get("Content-Encoding") != "gzip" {
		return a.body
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.body))
	if err != nil {
		t.Fatalf("Content-Encoding gzip, but the body is not: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verified checks both signatures over the body before compression.
func verified(t *testing.T, a arrival, secret string) []byte {
	t.Helper()
	body := plainBody(t, a)
	if sig := a.header.Get("X-Webhook-Signature"); sig != guideSignature(secret, body) {
		t.Fatalf("X-Webhook-Signature %s does not verify over %s", sig, body)
	}
	id, ts := a.header.Get("webhook-id"), a.header.Get("webhook-timestamp")
	if sig := a.header.Get("webhook-signature"); sig != standardSignature(t, secret, id, ts, body) {
		t.Fatalf("webhook-signature %s does not verify", sig)
	}
	return body
}

// Payload options from the LOKI guide's Advanced Topics reach the receiver as
// configured, signed over the body before compression, in each delivery
// mode.
func TestPayloadOptionsReachTheReceiver(t *testing.T) {
	h := herald(t)
	rawPayload := []byte(`{ "alert_level": "critical", "alert_type": "gdpr_violation",
		"message": "Personal data <b>found</b>", "affected_documents": ["doc_1", "doc_2"], "stack_trace": "at scan()" }`)
	for _, mode := range []string{"per_event", "stream", "ordered"} {
		t.Run(mode, func(t *testing.T) {
			minimal, custom := newReceiver(t, 200), newReceiver(t, 200)
			mh := h.mustWebhook(t, map[string]any{"name": uniq("e2e-minimal"), "url": minimal.srv.URL, "event_types": []string{"compliance.alert"},
				"delivery_mode": mode, "metadata": map[string]any{"compression": "gzip", "transformation_rules": map[string]any{
					"include_fields": []string{"event_type", "alert_level", "affected_documents", "stack_trace"}, "exclude_fields": []string{"stack_trace"}}}})
			ch := h.mustWebhook(t, map[string]any{"name": uniq("e2e-custom"), "url": custom.srv.URL, "event_types": []string{"compliance.alert"},
				"delivery_mode": mode, "metadata": map[string]any{"payload_format": "custom", "include_raw_payload": true, "compression": "gzip",
					"payload_template": `{text: "\(.data.alert_level | ascii_upcase): \(.data.message)", docs: (.data.affected_documents | length)}`}})
			id := uniq("evt-payload-" + mode)
			h.publishRaw(t, fmt.Sprintf(`{"event_id": %q, "event_type": "compliance.alert", "payload": %s}`, id, rawPayload))
			eventually(t, "both receivers", func() bool { return len(minimal.arrivals()) == 1 && len(custom.arrivals()) == 1 })

			got := verified(t, minimal.arrivals()[0], mh.Secret)
			if want := `{"data":{"affected_documents":["doc_1","doc_2"],"alert_level":"critical"},"event_type":"compliance.alert"}`; string(got) != want {
				t.Fatalf("minimal body %s, want %s", got, want)
			}
			got = verified(t, custom.arrivals()[0], ch.Secret)
			want, _ := json.Marshal(map[string]any{"text": "CRITICAL: Personal data <b>found</b>", "docs": 2, "raw_payload": string(rawPayload)})
			if !jsonEqual(got, want) {
				t.Fatalf("custom body %s, want %s", got, want)
			}
			var body struct {
				Raw string `json:"raw_payload"`
			}
			if json.Unmarshal(got, &body) != nil || body.Raw != string(rawPayload) {
				t.Fatalf("raw_payload %q is not the bytes published", body.Raw)
			}
			// The attempt row shows the body before compression.
			rows := h.deliveryBodies(t, mh.ID)
			if len(rows) != 1 || !jsonEqual(rows[0], plainBody(t, minimal.arrivals()[0])) {
				t.Fatalf("recorded bodies %s", rows)
			}
			// A test delivery carries the transformed body, as the receiver gets it.
			var test struct {
				Success     bool            `json:"success"`
				RequestBody json.RawMessage `json:"request_body"`
			}
			h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/test", mh.ID), map[string]any{"event_type": "compliance.alert"}, &test)
			sent := verified(t, minimal.arrivals()[1], mh.Secret)
			if !test.Success || string(test.RequestBody) != string(sent) || !bytes.HasPrefix(sent, []byte(`{"data":{"affected_documents":`)) {
				t.Fatalf("test %+v, receiver got %s", test, sent)
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// publishRaw publishes a request body as written, so that the payload's
// bytes are the publisher's own.
func (s *stack) publishRaw(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.apiURL+"/api/v1/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	openapitest.CheckExchange(t, req, body, resp, raw)
	if resp.StatusCode != 202 {
		t.Fatalf("publish: %d %s", resp.StatusCode, raw)
	}
}

func (s *stack) deliveryBodies(t *testing.T, webhookID int64) []json.RawMessage {
	var list struct {
		Deliveries []struct {
			RequestBody json.RawMessage `json:"request_body"`
		} `json:"deliveries"`
	}
	s.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?limit=1000", webhookID), nil, &list)
	var out []json.RawMessage
	for _, d := range list.Deliveries {
		out = append(out, d.RequestBody)
	}
	return out
}

// A template that fails on an event fails its delivery for good, with the
// reason, and sends nothing.
func TestFailingTemplateFailsTheAttempt(t *testing.T) {
	h := herald(t)
	for _, mode := range []string{"per_event", "stream", "ordered"} {
		r := newReceiver(t, 200)
		w := h.mustWebhook(t, map[string]any{"name": uniq("e2e-bad-template"), "url": r.srv.URL, "event_types": []string{"compliance.alert"},
			"delivery_mode": mode, "metadata": map[string]any{"payload_format": "custom", "payload_template": `{level: (.data.alert_level | tonumber)}`}})
		h.mustPublish(t, map[string]any{"event_id": uniq("evt-bad-template"), "event_type": "compliance.alert", "payload": alert})
		eventually(t, "the failed attempt", func() bool {
			rows := h.deliveries(t, w.ID)
			return len(rows) == 1 && rows[0].Status == "failed"
		})
		row := h.deliveries(t, w.ID)[0]
		if row.ErrorClass != "payload" || row.AttemptNumber != 1 || !bytes.Contains([]byte(row.LastError), []byte("tonumber")) && !bytes.Contains([]byte(row.LastError), []byte("cannot")) {
			t.Fatalf("%s: row %+v", mode, row)
		}
		if n := len(r.arrivals()); n != 0 {
			t.Fatalf("%s: the receiver got %d requests", mode, n)
		}
	}
}

// A template that runs out of time is retried on the schedule, never sent,
// and not held against the receiver by the circuit breaker.
func TestSlowTemplateIsRetriedAndSparesTheReceiver(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	w := h.mustWebhook(t, map[string]any{"name": uniq("e2e-slow-template"), "url": r.srv.URL, "event_types": []string{"compliance.alert"},
		"retry_strategy": "fixed_interval", "retry_delay_seconds": 1, "max_retries": 2,
		"metadata": map[string]any{"payload_format": "custom", "payload_template": `0 | until(false; . + 1)`}})
	h.mustPublish(t, map[string]any{"event_type": "compliance.alert", "payload": alert})
	eventually(t, "three attempts, the last failed", func() bool {
		rows := h.deliveries(t, w.ID)
		return len(rows) == 3 && rows[0].Status == "failed"
	})
	for _, row := range h.deliveries(t, w.ID) {
		if row.ErrorClass != "payload_timeout" || !strings.Contains(row.LastError, "timed out") {
			t.Fatalf("row %+v", row)
		}
	}
	var got struct {
		Status              string `json:"status"`
		ConsecutiveFailures int    `json:"consecutive_failures"`
	}
	h.call(t, "GET", "/api/v1/webhooks/"+strconv.FormatInt(w.ID, 10), nil, &got)
	if got.Status != "active" || got.ConsecutiveFailures != 0 || len(r.arrivals()) != 0 {
		t.Fatalf("webhook %+v, %d requests", got, len(r.arrivals()))
	}
}

// Invalid options are refused with the field and, for a template, where.
func TestInvalidPayloadOptionsAreRefused(t *testing.T) {
	h := herald(t)
	var answer struct {
		Error struct {
			Details []struct{ Field, Message string } `json:"details"`
		} `json:"error"`
	}
	code := h.call(t, "POST", "/api/v1/webhooks/", map[string]any{"name": uniq("e2e-invalid"), "url": "https://example.com/x",
		"event_types": []string{"*"}, "filter": map[string]any{"data.x": map[string]any{"$like": 1}},
		"retry_overrides": map[string]any{"no.such": map[string]any{"max_retries": 1}},
		"metadata":        map[string]any{"payload_format": "custom", "payload_template": "{a: .b", "compression": "br"}}, &answer)
	fields := map[string]string{}
	for _, d := range answer.Error.Details {
		fields[d.Field] = d.Message
	}
	if code != 422 || fields["filter.data.x.$like"] == "" || fields["retry_overrides"] == "" || fields["metadata.compression"] == "" ||
		!bytes.Contains([]byte(fields["metadata.payload_template"]), []byte("line 1, column 7")) {
		t.Fatalf("%d %+v", code, answer)
	}
}

// A filter lets through only what matches; what it leaves out is recorded
// as filtered, shown with the event and counted in analytics, not failed.
func TestFilterDeliversOnlyMatches(t *testing.T) {
	h := herald(t)
	critical, low, all := newReceiver(t, 200), newReceiver(t, 200), newReceiver(t, 200)
	ch := h.mustWebhook(t, map[string]any{"name": uniq("e2e-critical"), "url": critical.srv.URL, "event_types": []string{"compliance.alert"},
		"filter": map[string]any{"data.alert_level": map[string]any{"$in": []string{"high", "critical"}}, "data.affected_documents": "doc_12345"}})
	lh := h.mustWebhook(t, map[string]any{"name": uniq("e2e-low"), "url": low.srv.URL, "event_types": []string{"compliance.alert"},
		"delivery_mode": "stream", "filter": map[string]any{"$or": []any{map[string]any{"alert_level": "low"}, map[string]any{"source": "nobody"}}}})
	h.mustWebhook(t, map[string]any{"name": uniq("e2e-all"), "url": all.srv.URL, "event_types": []string{"compliance.alert"}})
	integ := h.mustIntegration(t, map[string]any{"name": uniq("e2e-filtered-zap"), "integration_type": "zapier",
		"credentials": map[string]any{"webhook_url": newReceiver(t, 200).srv.URL}, "event_subscriptions": []string{"compliance.alert"},
		"filter": map[string]any{"data.alert_level": "low"}})

	acc := h.mustPublish(t, map[string]any{"event_type": "compliance.alert", "payload": alert})
	eventually(t, "the matching receivers", func() bool { return len(critical.arrivals()) == 1 && len(all.arrivals()) == 1 })
	verified(t, critical.arrivals()[0], ch.Secret)
	var ev struct {
		TotalDeliveries int `json:"total_deliveries"`
		Deliveries      []struct {
			WebhookID int64  `json:"webhook_id"`
			Status    string `json:"status"`
		} `json:"deliveries"`
	}
	eventually(t, "the event to finish", func() bool {
		h.call(t, "GET", "/api/v1/events/"+acc.EventID, nil, &ev)
		return len(ev.Deliveries) == 4 && !slices.ContainsFunc(ev.Deliveries, func(d struct {
			WebhookID int64  `json:"webhook_id"`
			Status    string `json:"status"`
		}) bool {
			return d.Status == "pending"
		})
	})
	statuses := map[int64]string{}
	for _, d := range ev.Deliveries {
		statuses[d.WebhookID] = d.Status
	}
	if ev.TotalDeliveries != 2 || statuses[ch.ID] != "delivered" || statuses[lh.ID] != "filtered" || statuses[integ.ID] != "filtered" {
		t.Fatalf("event %+v", ev)
	}
	time.Sleep(300 * time.Millisecond) // nothing more arrives
	if len(low.arrivals()) != 0 {
		t.Fatal("the filtered-out webhook got the event")
	}
	var stats struct {
		FilteredEvents   int `json:"filtered_events"`
		FailedDeliveries int `json:"failed_deliveries"`
	}
	h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/analytics", lh.ID), nil, &stats)
	if stats.FilteredEvents != 1 || stats.FailedDeliveries != 0 {
		t.Fatalf("analytics %+v", stats)
	}
	var test struct {
		Filtered    bool            `json:"filtered"`
		RequestBody json.RawMessage `json:"request_body"`
	}
	if code := h.call(t, "POST", fmt.Sprintf("/api/v1/webhooks/%d/test", lh.ID), map[string]any{"event_type": "compliance.alert"}, &test); code != 200 || !test.Filtered || len(test.RequestBody) == 0 {
		t.Fatalf("test %d %+v", code, test)
	}
}

// An event type's retry override picks its schedule: here a 1-second
// fixed interval where the webhook's own schedule waits an hour.
func TestRetryOverridePicksTheSchedule(t *testing.T) {
	h := herald(t)
	types := []string{"batch.completed", "compliance.alert"}
	overrides := map[string]any{"batch.completed": map[string]any{"retry_strategy": "fixed_interval", "retry_delay_seconds": 1, "max_delay_seconds": 1}}
	for _, mode := range []string{"per_event", "stream", "ordered", "integration"} {
		r := newReceiver(t, 503, 200)
		var secret string
		if mode == "integration" {
			secret = h.mustIntegration(t, map[string]any{"name": uniq("e2e-override-zap"), "integration_type": "zapier",
				"credentials": map[string]any{"webhook_url": r.srv.URL}, "event_subscriptions": types,
				"retry_delay_seconds": 3600, "retry_overrides": overrides}).Secret
		} else {
			secret = h.mustWebhook(t, map[string]any{"name": uniq("e2e-override"), "url": r.srv.URL, "event_types": types,
				"delivery_mode": mode, "retry_delay_seconds": 3600, "retry_overrides": overrides}).Secret
		}
		h.mustPublish(t, map[string]any{"event_type": "batch.completed", "payload": map[string]any{"batch_id": uniq("b")}})
		eventually(t, mode+": the retry a second later", func() bool { return len(r.arrivals()) == 2 })
		got := r.arrivals()
		if gap := got[1].at.Sub(got[0].at); gap < 900*time.Millisecond || gap > 8*time.Second {
			t.Fatalf("%s: retried after %v", mode, gap)
		}
		verified(t, got[0], secret)
		verified(t, got[1], secret)
		if got[1].header.Get("X-Webhook-Attempt") != strconv.Itoa(2) {
			t.Fatalf("%s: second request is attempt %s", mode, got[1].header.Get("X-Webhook-Attempt"))
		}
	}
}
