package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/otel/trace"

	"github.com/loki-interceptor/herald/workflows"
)

// One trace runs from the API call to the receiver: the request's server
// span, the workflow start, the workflow, the attempt activity and its HTTP
// client span, whose traceparent the receiver gets.
func TestOneTraceFromAPIToReceiver(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e traced", "url": r.srv.URL, "event_types": []string{"report.generated"}})
	h.spans.Reset()
	id := uniqueID("evt-trace")
	h.mustPublish(t, map[string]any{"event_id": id, "event_type": "report.generated",
		"payload": map[string]any{"report_id": "r1", "report_type": "monthly", "report_url": "https://x.example/r", "document_count": 1, "format": "pdf"}})
	h.wait(t, id)
	got := r.arrivals()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	tp := got[0].header.Get("Traceparent")
	parts := strings.Split(tp, "-")
	if len(parts) != 4 {
		t.Fatalf("receiver's traceparent %q", tp)
	}
	traceID := parts[1]
	names := map[string]bool{}
	var api trace.SpanContext
	eventually(t, "the attempt's spans to end", func() bool {
		names = map[string]bool{}
		for _, s := range h.spans.GetSpans() {
			if s.SpanContext.TraceID().String() != traceID {
				continue
			}
			names[s.Name] = true
			if s.Name == "POST /api/v1/events" {
				api = s.SpanContext
			}
		}
		return names["RunActivity:Attempt"] && names["POST /api/v1/events"]
	})
	for _, want := range []string{"POST /api/v1/events", "StartWorkflow:EventWorkflow", "RunWorkflow:EventWorkflow", "RunActivity:Attempt", "HTTP POST"} {
		if !names[want] {
			t.Errorf("no %q span in the receiver's trace %s; spans: %v", want, traceID, names)
		}
	}
	if !api.IsValid() {
		t.Fatal("no API span")
	}
	attempt := map[string]string{}
	for _, s := range h.spans.GetSpans() {
		if s.Name == "RunActivity:Attempt" && s.SpanContext.TraceID().String() == traceID {
			for _, kv := range s.Attributes {
				attempt[string(kv.Key)] = kv.Value.String()
			}
		}
	}
	if attempt["herald.event_id"] != id || attempt["herald.attempt"] != "1" || attempt["http.response.status_code"] != "200" ||
		attempt["herald.event_type"] != "report.generated" || attempt["herald.webhook_id"] == "" {
		t.Fatalf("attempt span attributes %v", attempt)
	}
	// No secret or payload becomes an attribute.
	for _, s := range h.spans.GetSpans() {
		for _, kv := range s.Attributes {
			if v := kv.Value.String(); strings.Contains(v, "whsec_") || strings.Contains(v, "monthly") {
				t.Fatalf("span %s attribute %s = %q", s.Name, kv.Key, v)
			}
		}
	}
}

// After a known sequence of deliveries the counters and histogram counts
// at /metrics moved by exactly that much.
func TestMetricsCountWhatHappened(t *testing.T) {
	h := herald(t)
	r := newReceiver(t, 503, 200)
	h.mustWebhook(t, map[string]any{"name": "e2e metered", "url": r.srv.URL, "event_types": []string{"batch.completed"},
		"retry_delay_seconds": 1, "jitter_percentage": 0})
	before := scrapeMetrics(t, h)
	id := uniqueID("evt-metric")
	h.mustPublish(t, map[string]any{"event_id": id, "event_type": "batch.completed", "payload": map[string]any{"batch_id": "b1"}})
	if res := h.wait(t, id); res.Status != workflows.StatusDelivered {
		t.Fatalf("event %+v", res)
	}
	after := scrapeMetrics(t, h)
	for series, want := range map[string]float64{
		`herald_events_accepted_total{event_type="batch.completed"}`:                                                     1,
		`herald_delivery_attempts_total{error_class="http_status",kind="webhook",outcome="retrying",status_class="5xx"}`: 1,
		`herald_delivery_attempts_total{error_class="none",kind="webhook",outcome="delivered",status_class="2xx"}`:       1,
		`herald_retries_scheduled_total{kind="webhook"}`:                                                                 1,
		`herald_attempt_duration_seconds_count{kind="webhook",outcome="retrying"}`:                                       1,
		`herald_attempt_duration_seconds_count{kind="webhook",outcome="delivered"}`:                                      1,
		`herald_api_request_duration_seconds_count{method="POST",route="/api/v1/events",status="202"}`:                   1,
	} {
		if got := after[series] - before[series]; got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	for _, gauge := range []string{"herald_deliveries_waiting", "herald_events_waiting", "herald_webhooks_paused"} {
		if _, ok := after[gauge]; !ok {
			t.Errorf("no %s gauge", gauge)
		}
	}
	if !hasPrefix(after, "temporal_") {
		t.Error("no Temporal SDK metrics at /metrics")
	}
}

func hasPrefix(m map[string]float64, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// scrapeMetrics reads /metrics (no API key: Prometheus scrapes without one)
// into series → value, histograms as their _count.
func scrapeMetrics(t *testing.T, h *stack) map[string]float64 {
	t.Helper()
	resp, err := http.Get(h.apiURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := func(n string) string {
				if len(labels) == 0 {
					return n
				}
				return n + "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key(name)] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key(name)] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key(name+"_count")] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
