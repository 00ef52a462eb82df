package telemetry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// env returns a Getenv that sees only vars, so the tests ignore the
// machine's OTEL_* settings.
func env(vars ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(k string) string { return m[k] }
}

func setup(t *testing.T, o Options) *Telemetry {
	t.Helper()
	if o.Getenv == nil {
		o.Getenv = env()
	}
	tel, err := Setup(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		assert.NoError(t, tel.Shutdown(ctx))
	})
	return tel
}

// scrape GETs /metrics the way Prometheus does and parses the text format.
func scrape(t *testing.T, tel *Telemetry) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
	return families
}

// series finds the one series of name whose labels include want.
func series(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	f, ok := families[name]
	require.True(t, ok, "no metric family %s", name)
	var found []*dto.Metric
	for _, m := range f.GetMetric() {
		if hasLabels(m, want) {
			found = append(found, m)
		}
	}
	require.Len(t, found, 1, "series %s%v", name, want)
	return found[0]
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func counter(t *testing.T, fs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	return series(t, fs, name, labels).GetCounter().GetValue()
}

func histogramCount(t *testing.T, fs map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	t.Helper()
	return series(t, fs, name, labels).GetHistogram().GetSampleCount()
}

// bucket is the cumulative count of observations <= le.
func bucket(t *testing.T, fs map[string]*dto.MetricFamily, name string, labels map[string]string, le float64) uint64 {
	t.Helper()
	for _, b := range series(t, fs, name, labels).GetHistogram().GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	t.Fatalf("%s has no bucket le=%v", name, le)
	return 0
}

type l = map[string]string

func TestMetricsScrapeAfterKnownSequence(t *testing.T) {
	tel := setup(t, Options{})
	m, ctx := tel.Metrics, context.Background()

	m.EventAccepted(ctx, "order.created")
	m.EventAccepted(ctx, "order.created")
	m.EventAccepted(ctx, "user.signup")
	m.Attempt(ctx, Attempt{Kind: "webhook", Outcome: "retrying", ErrorClass: "timeout", Duration: 5 * time.Second})
	m.Attempt(ctx, Attempt{Kind: "webhook", Outcome: "retrying", ErrorClass: "timeout", Duration: 5 * time.Second})
	m.Attempt(ctx, Attempt{Kind: "webhook", Outcome: "delivered", StatusCode: 200, Duration: 120 * time.Millisecond})
	m.Attempt(ctx, Attempt{Kind: "webhook", Outcome: "failed", ErrorClass: "http_status", StatusCode: 503, Duration: 300 * time.Millisecond})
	m.Attempt(ctx, Attempt{Kind: "slack", Outcome: "delivered", Duration: 40 * time.Millisecond})
	m.RetryScheduled(ctx, "webhook")
	m.RetryScheduled(ctx, "webhook")
	m.RateLimitedWait(ctx)
	m.RateLimitedWait(ctx)
	m.RateLimitedWait(ctx)
	m.IntegrationSend(ctx, "slack", "delivered")
	m.IntegrationSend(ctx, "email", "failed")
	m.APIRequest(ctx, "/v1/events", "POST", 202, 10*time.Millisecond)
	m.APIRequest(ctx, "/v1/events", "POST", 202, 20*time.Millisecond)
	m.APIRequest(ctx, "/v1/webhooks/:id", "GET", 404, time.Millisecond)
	seen := time.Unix(1_700_000_000, 0)
	require.NoError(t, m.ObserveState(func(context.Context) (State, error) {
		return State{DeliveriesWaiting: 7, EventsWaiting: 3, WebhooksPaused: 2, Webhooks: []WebhookState{{Name: "hooky", Status: "active", LastTriggered: seen}}}, nil
	}))

	fs := scrape(t, tel)

	assert.Equal(t, 2.0, counter(t, fs, "herald_events_accepted_total", l{"event_type": "order.created"}))
	assert.Equal(t, 1.0, counter(t, fs, "herald_events_accepted_total", l{"event_type": "user.signup"}))

	attempts := "herald_delivery_attempts_total"
	assert.Len(t, fs[attempts].GetMetric(), 4)
	assert.Equal(t, 2.0, counter(t, fs, attempts, l{"kind": "webhook", "outcome": "retrying", "error_class": "timeout", "status_class": "none"}))
	assert.Equal(t, 1.0, counter(t, fs, attempts, l{"kind": "webhook", "outcome": "delivered", "error_class": "none", "status_class": "2xx"}))
	assert.Equal(t, 1.0, counter(t, fs, attempts, l{"kind": "webhook", "outcome": "failed", "error_class": "http_status", "status_class": "5xx"}))
	assert.Equal(t, 1.0, counter(t, fs, attempts, l{"kind": "slack", "outcome": "delivered", "error_class": "none", "status_class": "none"}))

	dur := "herald_attempt_duration_seconds"
	assert.Len(t, fs[dur].GetMetric(), 4)
	assert.Equal(t, uint64(2), histogramCount(t, fs, dur, l{"kind": "webhook", "outcome": "retrying"}))
	assert.Equal(t, 10.0, series(t, fs, dur, l{"kind": "webhook", "outcome": "retrying"}).GetHistogram().GetSampleSum())
	assert.Equal(t, uint64(1), histogramCount(t, fs, dur, l{"kind": "webhook", "outcome": "delivered"}))
	assert.Equal(t, uint64(1), histogramCount(t, fs, dur, l{"kind": "slack", "outcome": "delivered"}))
	// Second-sized buckets, not the SDK's millisecond defaults.
	assert.Equal(t, uint64(0), bucket(t, fs, dur, l{"kind": "webhook", "outcome": "delivered"}, 0.1))
	assert.Equal(t, uint64(1), bucket(t, fs, dur, l{"kind": "webhook", "outcome": "delivered"}, 0.25))

	assert.Equal(t, 2.0, counter(t, fs, "herald_retries_scheduled_total", l{"kind": "webhook"}))
	assert.Equal(t, 3.0, counter(t, fs, "herald_rate_limited_waits_total", nil))
	assert.Equal(t, 1.0, counter(t, fs, "herald_integration_sends_total", l{"integration_type": "slack", "outcome": "delivered"}))
	assert.Equal(t, 1.0, counter(t, fs, "herald_integration_sends_total", l{"integration_type": "email", "outcome": "failed"}))

	api := "herald_api_request_duration_seconds"
	assert.Equal(t, uint64(2), histogramCount(t, fs, api, l{"route": "/v1/events", "method": "POST", "status": "202"}))
	assert.Equal(t, uint64(1), histogramCount(t, fs, api, l{"route": "/v1/webhooks/:id", "method": "GET", "status": "404"}))

	assert.Equal(t, 7.0, series(t, fs, "herald_deliveries_waiting", nil).GetGauge().GetValue())
	assert.Equal(t, 3.0, series(t, fs, "herald_events_waiting", nil).GetGauge().GetValue())
	assert.Equal(t, 2.0, series(t, fs, "herald_webhooks_paused", nil).GetGauge().GetValue())
	assert.Equal(t, 1_700_000_000.0, series(t, fs, "herald_webhook_last_triggered_timestamp_seconds", l{"webhook": "hooky", "status": "active"}).GetGauge().GetValue())

	// Names lists exactly what Herald exports.
	for _, name := range Names {
		assert.Contains(t, fs, name)
	}
	var herald []string
	for name := range fs {
		if strings.HasPrefix(name, "herald_") {
			herald = append(herald, name)
		}
	}
	assert.ElementsMatch(t, Names, herald)

	// The resource is exported once, not as labels on every series.
	assert.Equal(t, "herald", labelValue(series(t, fs, "target_info", nil), "service_name"))
	assert.Empty(t, labelValue(series(t, fs, "herald_rate_limited_waits_total", nil), "otel_scope_name"))
}

func labelValue(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func TestObserveStateReplacesCallbackAndSurvivesErrors(t *testing.T) {
	tel := setup(t, Options{})
	require.NoError(t, tel.Metrics.ObserveState(func(context.Context) (State, error) { return State{DeliveriesWaiting: 1, WebhooksPaused: 1}, nil }))
	require.NoError(t, tel.Metrics.ObserveState(func(context.Context) (State, error) { return State{DeliveriesWaiting: 5}, nil }))
	fs := scrape(t, tel)
	assert.Equal(t, 5.0, series(t, fs, "herald_deliveries_waiting", nil).GetGauge().GetValue())

	// A failing store must not break the scrape of everything else.
	require.NoError(t, tel.Metrics.ObserveState(func(context.Context) (State, error) { return State{}, errors.New("db down") }))
	tel.Metrics.RateLimitedWait(context.Background())
	fs = scrape(t, tel)
	assert.Equal(t, 1.0, counter(t, fs, "herald_rate_limited_waits_total", nil))
	assert.NotContains(t, fs, "herald_deliveries_waiting")
}

func TestNilMetricsIsNoop(t *testing.T) {
	var m *Metrics
	ctx := context.Background()
	m.EventAccepted(ctx, "x")
	m.Attempt(ctx, Attempt{Kind: "webhook", Outcome: "delivered"})
	m.RetryScheduled(ctx, "webhook")
	m.RateLimitedWait(ctx)
	m.IntegrationSend(ctx, "slack", "delivered")
	m.APIRequest(ctx, "/", "GET", 200, time.Millisecond)
	assert.NoError(t, m.ObserveState(func(context.Context) (State, error) { return State{}, nil }))
}

func TestHTTPTransportPropagatesTraceparent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel := setup(t, Options{SpanExporter: exp})

	var received string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received = r.Header.Get("traceparent")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	ctx, parent := tel.TracerProvider.Tracer("test").Start(context.Background(), "deliver")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/services/T000/B000/SECRET?token=abc", strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := (&http.Client{Transport: tel.HTTPTransport(nil)}).Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	parent.End()

	client := spanOfKind(t, exp.GetSpans(), trace.SpanKindClient)
	traceID, parentID := parseTraceparent(t, received)
	assert.Equal(t, client.SpanContext.TraceID().String(), traceID)
	assert.Equal(t, client.SpanContext.SpanID().String(), parentID, "receiver's parent is the attempt span")
	assert.Equal(t, parent.SpanContext().SpanID(), client.Parent.SpanID(), "attempt span is a child of the caller's span")

	// The URL leaves the process without the path and query holding the secret.
	for _, kv := range client.Attributes {
		assert.NotContains(t, kv.Value.String(), "SECRET", string(kv.Key))
		assert.NotContains(t, kv.Value.String(), "token=abc", string(kv.Key))
		if kv.Key == "url.full" {
			assert.Equal(t, srv.URL, kv.Value.AsString())
		}
	}
}

func spanOfKind(t *testing.T, spans tracetest.SpanStubs, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.SpanKind == kind {
			return s
		}
	}
	t.Fatalf("no %v span among %d", kind, len(spans))
	return tracetest.SpanStub{}
}

// parseTraceparent splits "00-<trace id>-<parent span id>-<flags>".
func parseTraceparent(t *testing.T, h string) (traceID, parentID string) {
	t.Helper()
	parts := strings.Split(h, "-")
	require.Len(t, parts, 4, "traceparent %q", h)
	return parts[1], parts[2]
}

func TestSetupSetsW3CPropagator(t *testing.T) {
	setup(t, Options{})
	assert.ElementsMatch(t, []string{"traceparent", "tracestate", "baggage"}, otel.GetTextMapPropagator().Fields())
}

func TestTracesOffByDefault(t *testing.T) {
	tel := setup(t, Options{})
	assert.False(t, tel.TracingEnabled())
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "s")
	assert.False(t, span.IsRecording())
	assert.False(t, span.SpanContext().IsValid())
	span.End()

	// Nothing to propagate, so the transport is not even wrapped.
	rt := &http.Transport{}
	assert.Same(t, rt, tel.HTTPTransport(rt))
	assert.Equal(t, http.DefaultTransport, tel.HTTPTransport(nil))
}

func TestTraceWriterPrintsSpans(t *testing.T) {
	for name, getenv := range map[string]func(string) string{
		"flag only":        env(),
		"flag and console": env("OTEL_TRACES_EXPORTER", "console"),
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			tel := setup(t, Options{TraceWriter: &buf, Getenv: getenv})
			require.True(t, tel.TracingEnabled())
			_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "hello-span")
			span.End()
			assert.Equal(t, 1, strings.Count(buf.String(), `"Name": "hello-span"`), buf.String())
		})
	}
}

func TestServiceName(t *testing.T) {
	cases := []struct {
		name string
		o    Options
		want string
	}{
		{"default", Options{}, "herald"},
		{"env", Options{Getenv: env("OTEL_SERVICE_NAME", "herald-eu")}, "herald-eu"},
		{"option wins", Options{ServiceName: "herald-dev", Getenv: env("OTEL_SERVICE_NAME", "herald-eu")}, "herald-dev"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			c.o.SpanExporter = exp
			tel := setup(t, c.o)
			_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "s")
			span.End()
			spans := exp.GetSpans()
			require.Len(t, spans, 1)
			v, ok := spans[0].Resource.Set().Value("service.name")
			require.True(t, ok)
			assert.Equal(t, c.want, v.AsString())
		})
	}
}

func TestExporterNames(t *testing.T) {
	cases := map[string][]string{
		"":              nil,
		"none":          nil,
		"otlp":          {"otlp"},
		" Console ":     {"console"},
		"otlp,console":  {"otlp", "console"},
		"console,otlp,": {"console", "otlp"},
		"otlp,otlp":     {"otlp"},
	}
	for in, want := range cases {
		got, err := exporterNames(Options{Getenv: env("OTEL_TRACES_EXPORTER", in)})
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

func TestUnknownExporterIsNamedInError(t *testing.T) {
	for _, in := range []string{"zipkin", "otlp,jaeger"} {
		_, err := Setup(context.Background(), Options{Getenv: env("OTEL_TRACES_EXPORTER", in)})
		require.Error(t, err, in)
		name := in[strings.LastIndex(in, ",")+1:]
		assert.Contains(t, err.Error(), `"`+name+`"`)
	}
}

func TestOTLPExporterFromEnv(t *testing.T) {
	for _, protocol := range []string{"", "grpc", "http/protobuf"} {
		t.Run("protocol="+protocol, func(t *testing.T) {
			// Nothing listens there: exporters connect lazily, and with no
			// spans Shutdown has nothing to send.
			tel := setup(t, Options{Getenv: env(
				"OTEL_TRACES_EXPORTER", "otlp",
				"OTEL_EXPORTER_OTLP_PROTOCOL", protocol,
				"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1",
			)})
			assert.True(t, tel.TracingEnabled())
		})
	}
	_, err := Setup(context.Background(), Options{Getenv: env(
		"OTEL_TRACES_EXPORTER", "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "http/json")
}

func TestHTTPTracesURL(t *testing.T) {
	assert.Equal(t, "", httpTracesURL("", ""))
	assert.Equal(t, "http://collector:4318/v1/traces", httpTracesURL("", "http://collector:4318/"))
	assert.Equal(t, "http://collector:4318/custom", httpTracesURL("http://collector:4318/custom", "http://other:4318"))
}

func TestURLOrigin(t *testing.T) {
	assert.Equal(t, "https://hooks.slack.com", urlOrigin("https://hooks.slack.com/services/T0/B0/secret?x=1"))
	assert.Equal(t, "https://example.com:8443", urlOrigin("https://user:pw@example.com:8443/p"))
	assert.Equal(t, "redacted", urlOrigin("not a url"))
}

func TestTemporalInterceptorAndMetrics(t *testing.T) {
	tel := setup(t, Options{})
	ic, err := tel.TemporalTracing()
	require.NoError(t, err)
	assert.NotNil(t, ic)

	h := tel.TemporalMetrics()
	h.Counter("temporal_test").Inc(1)
	h.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_test").Inc(2)
	h.Timer("temporal_test_latency").Record(2 * time.Second)

	fs := scrape(t, tel)
	assert.Equal(t, dto.MetricType_COUNTER, fs["temporal_test_total"].GetType())
	assert.Equal(t, 1.0, counter(t, fs, "temporal_test_total", l{"namespace": ""}))
	assert.Equal(t, 2.0, counter(t, fs, "temporal_test_total", l{"namespace": "default"}))
	lat := "temporal_test_latency_seconds"
	assert.Equal(t, uint64(1), histogramCount(t, fs, lat, nil))
	assert.Equal(t, uint64(0), bucket(t, fs, lat, nil, 1), "seconds buckets")
	assert.Equal(t, uint64(1), bucket(t, fs, lat, nil, 2.5))
}

func TestCheckEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // part of the error; "" for none
	}{
		{map[string]string{}, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp, console"}, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none"}, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "bogus"}, `OTEL_TRACES_EXPORTER "bogus"`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, `OTEL_EXPORTER_OTLP_PROTOCOL "http/json"`},
		// The protocol matters only when OTLP is in use.
		{map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, ""},
	} {
		err := CheckEnv(func(k string) string { return tc.env[k] })
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: got %v, want %q", tc.env, err, tc.want)
		}
	}
}
