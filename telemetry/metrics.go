package telemetry

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// Bucket boundaries in seconds. The SDK default (0…10000) assumes
// milliseconds and would put every attempt in the first few buckets.
var (
	// Outbound attempts: a fast receiver answers in milliseconds, a slow one
	// runs into the request timeout.
	attemptBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// API requests: mostly a database round trip and a workflow start.
	apiBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
)

// stateTimeout bounds the store query behind the gauges: a stuck database
// must not hang every scrape.
const stateTimeout = 5 * time.Second

// newMeterProvider exports through the Prometheus registry, so /metrics is
// a pull of the current values and recording costs no I/O.
func newMeterProvider(reg *prometheus.Registry, res *resource.Resource) (*sdkmetric.MeterProvider, error) {
	exp, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		// Scope labels on every series only add noise to alert rules; the
		// herald_ and temporal_ prefixes already tell the sources apart.
		otelprom.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, err
	}
	temporalTimers := sdkmetric.NewView(
		sdkmetric.Instrument{Kind: sdkmetric.InstrumentKindHistogram, Scope: instrumentation.Scope{Name: temporalScope}},
		sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: attemptBuckets}},
	)
	return sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(exp),
		sdkmetric.WithResource(res),
		sdkmetric.WithView(temporalTimers),
	), nil
}

// Names are the metrics Herald exports, as Prometheus sees them (a counter
// or histogram appears once used): what alert rules and dashboards may name.
var Names = []string{
	"herald_events_accepted_total", "herald_delivery_attempts_total", "herald_attempt_duration_seconds",
	"herald_retries_scheduled_total", "herald_rate_limited_waits_total", "herald_integration_sends_total",
	"herald_api_request_duration_seconds", "herald_deliveries_waiting", "herald_events_waiting", "herald_webhooks_paused",
	"herald_webhook_last_triggered_timestamp_seconds",
}

// Metrics are Herald's own instruments. A nil *Metrics is a valid no-op, so
// code paths without telemetry need no checks. Every attribute value must
// be low-cardinality: never event ids, URLs or secrets.
type Metrics struct {
	meter metric.Meter

	eventsAccepted    metric.Int64Counter
	attempts          metric.Int64Counter
	attemptDuration   metric.Float64Histogram
	retries           metric.Int64Counter
	rateLimitedWaits  metric.Int64Counter
	integrationSends  metric.Int64Counter
	apiDuration       metric.Float64Histogram
	deliveriesWaiting metric.Int64ObservableGauge
	eventsWaiting     metric.Int64ObservableGauge
	webhooksPaused    metric.Int64ObservableGauge
	lastTriggered     metric.Float64ObservableGauge

	mu    sync.Mutex
	state metric.Registration // the current ObserveState callback
}

// Attempt describes one finished delivery attempt.
type Attempt struct {
	Kind       string // "webhook" or the integration type
	Outcome    string // delivered, retrying or failed
	ErrorClass string // empty when delivered; reported as "none"
	StatusCode int    // the receiver's HTTP status, 0 when none came
	Duration   time.Duration
}

// statusClass is "2xx" … "5xx", or "none" when no HTTP answer came: what an
// alert on receivers' 5xx rate reads.
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "none"
	}
	return strconv.Itoa(code/100) + "xx"
}

// State is what the gauges show, read from the store on each scrape.
type State struct {
	DeliveriesWaiting int64
	EventsWaiting     int64
	WebhooksPaused    int64
	Webhooks          []WebhookState
}

// WebhookState is one subscriber's last delivery time, for an alert on a
// webhook no event reached for a day. Webhooks are few; names bound the
// label's cardinality.
type WebhookState struct {
	Name, Status  string
	LastTriggered time.Time // when it was created, if never since
}

// newMetrics creates the instruments. Counter names carry no _total: the
// Prometheus exporter appends it.
func newMetrics(meter metric.Meter) (*Metrics, error) {
	m := &Metrics{meter: meter}
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string, buckets []float64) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"),
			metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	gauge := func(name, desc string) metric.Int64ObservableGauge {
		g, err := meter.Int64ObservableGauge(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	m.eventsAccepted = counter("herald_events_accepted", "Events accepted by the API, by event type.")
	m.attempts = counter("herald_delivery_attempts", "Delivery attempts by kind, outcome and error class.")
	m.attemptDuration = histogram("herald_attempt_duration_seconds", "Duration of delivery attempts.", attemptBuckets)
	m.retries = counter("herald_retries_scheduled", "Retries scheduled after a failed attempt.")
	m.rateLimitedWaits = counter("herald_rate_limited_waits", "Times a delivery waited for its webhook's rate limit.")
	m.integrationSends = counter("herald_integration_sends", "Integration sends by integration type and outcome.")
	m.apiDuration = histogram("herald_api_request_duration_seconds", "Duration of API requests.", apiBuckets)
	m.deliveriesWaiting = gauge("herald_deliveries_waiting", "Deliveries not yet delivered or failed for good: queued, held, rate limited or retrying.")
	m.eventsWaiting = gauge("herald_events_waiting", "Events accepted whose subscribers are not yet known: their workflows have not run yet.")
	m.webhooksPaused = gauge("herald_webhooks_paused", "Webhooks currently paused.")
	lt, err := meter.Float64ObservableGauge("herald_webhook_last_triggered_timestamp_seconds",
		metric.WithDescription("When an event was last delivered to each webhook (its creation, before the first), Unix seconds."))
	errs = append(errs, err)
	m.lastTriggered = lt
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// EventAccepted counts an event the API accepted.
func (m *Metrics) EventAccepted(ctx context.Context, eventType string) {
	if m == nil {
		return
	}
	m.eventsAccepted.Add(ctx, 1, metric.WithAttributes(attribute.String("event_type", eventType)))
}

// Attempt records one delivery attempt: its count by error class and its
// duration (without error class, which would multiply the buckets).
func (m *Metrics) Attempt(ctx context.Context, a Attempt) {
	if m == nil {
		return
	}
	class := a.ErrorClass
	if class == "" {
		class = "none"
	}
	kind, outcome := attribute.String("kind", a.Kind), attribute.String("outcome", a.Outcome)
	m.attempts.Add(ctx, 1, metric.WithAttributes(kind, outcome, attribute.String("error_class", class),
		attribute.String("status_class", statusClass(a.StatusCode))))
	m.attemptDuration.Record(ctx, a.Duration.Seconds(), metric.WithAttributes(kind, outcome))
}

// RetryScheduled counts a retry put on the timer.
func (m *Metrics) RetryScheduled(ctx context.Context, kind string) {
	if m == nil {
		return
	}
	m.retries.Add(ctx, 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// RateLimitedWait counts a delivery held back by its webhook's rate limit.
func (m *Metrics) RateLimitedWait(ctx context.Context) {
	if m == nil {
		return
	}
	m.rateLimitedWaits.Add(ctx, 1)
}

// IntegrationSend counts a send through an integration (slack, email, …).
func (m *Metrics) IntegrationSend(ctx context.Context, integrationType, outcome string) {
	if m == nil {
		return
	}
	m.integrationSends.Add(ctx, 1, metric.WithAttributes(
		attribute.String("integration_type", integrationType), attribute.String("outcome", outcome)))
}

// APIRequest records an API request. route must be the route pattern
// ("/v1/webhooks/:id"), never the request path, to keep cardinality bounded.
func (m *Metrics) APIRequest(ctx context.Context, route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.apiDuration.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String("route", route), attribute.String("method", method), attribute.String("status", strconv.Itoa(status))))
}

// ObserveState makes f the source of herald_deliveries_waiting,
// herald_events_waiting, herald_webhooks_paused and herald_webhook_last_triggered_timestamp_seconds.
// f runs on every scrape (with a timeout), so the numbers are never stale
// and cost nothing between scrapes. A later call replaces the earlier one.
func (m *Metrics) ObserveState(f func(ctx context.Context) (State, error)) error {
	if m == nil {
		return nil
	}
	reg, err := m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, stateTimeout)
		defer cancel()
		st, err := f(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(m.deliveriesWaiting, st.DeliveriesWaiting)
		o.ObserveInt64(m.eventsWaiting, st.EventsWaiting)
		o.ObserveInt64(m.webhooksPaused, st.WebhooksPaused)
		for _, w := range st.Webhooks {
			o.ObserveFloat64(m.lastTriggered, float64(w.LastTriggered.Unix()), metric.WithAttributes(
				attribute.String("webhook", w.Name), attribute.String("status", w.Status)))
		}
		return nil
	}, m.deliveriesWaiting, m.eventsWaiting, m.webhooksPaused, m.lastTriggered)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != nil {
		_ = m.state.Unregister()
	}
	m.state = reg
	return nil
}
