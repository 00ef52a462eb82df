// Package telemetry owns Herald's OpenTelemetry setup: the tracer provider
// (off unless an exporter is asked for), the meter provider behind
// GET /metrics, Herald's own instruments, and the glue that carries trace
// context through Temporal and outbound HTTP attempts.
package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// temporalScope is the instrumentation scope of everything the Temporal SDK
// reports, so a view can give its timers second-sized buckets.
const temporalScope = "temporal-sdk-go"

// Options configure Setup. Traces are off unless OTEL_TRACES_EXPORTER names an
// exporter (otlp, console) or TraceWriter is set; off means a no-op tracer
// provider (zero overhead).
type Options struct {
	ServiceName  string                // default from OTEL_SERVICE_NAME, else "herald"
	TraceWriter  io.Writer             // herald dev --trace-stdout: pretty spans to this writer
	SpanExporter sdktrace.SpanExporter // tests: exported synchronously; takes precedence over the env
	// Getenv reads OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT,
	// OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_SERVICE_NAME; default os.Getenv.
	Getenv func(string) string
}

// Telemetry is what Setup built. The providers are safe to hand to any
// library; Shutdown flushes pending spans.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Registry       *prometheus.Registry // what GET /metrics serves
	Metrics        *Metrics

	tracing  bool // false: TracerProvider is a no-op
	shutdown []func(context.Context) error
}

// Setup builds the tracer and meter providers and Herald's instruments. It
// sets the global propagator (TraceContext+Baggage) so traceparent headers
// are read and written the W3C way everywhere, but leaves the global
// providers alone: callers pass the providers explicitly.
func Setup(ctx context.Context, o Options) (*Telemetry, error) {
	o = o.withDefaults()
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))

	res, err := newResource(ctx, o.ServiceName)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{}
	if err := t.setupTraces(ctx, o, res); err != nil {
		return nil, err
	}
	if err := t.setupMetrics(res); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	return t, nil
}

func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ServiceName == "" {
		o.ServiceName = o.Getenv("OTEL_SERVICE_NAME")
	}
	if o.ServiceName == "" {
		o.ServiceName = "herald"
	}
	return o
}

// newResource names the service on every span and on target_info.
// OTEL_RESOURCE_ATTRIBUTES still applies (deployment.environment and the
// like), but the service name is ours so Options.ServiceName wins.
func newResource(ctx context.Context, service string) (*resource.Resource, error) {
	return resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", service)),
	)
}

// runtimeRegistry holds the process and Go runtime metrics: they cost
// nothing until scraped and answer the first questions about a
// misbehaving instance (memory, goroutines, open files).
func runtimeRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// RuntimeHandler serves the process and Go runtime metrics alone, for a
// process with none of Herald's own (the embedded Temporal server).
func RuntimeHandler() http.Handler {
	return promhttp.HandlerFor(runtimeRegistry(), promhttp.HandlerOpts{})
}

func (t *Telemetry) setupMetrics(res *resource.Resource) error {
	reg := runtimeRegistry()
	mp, err := newMeterProvider(reg, res)
	if err != nil {
		return err
	}
	t.Registry, t.MeterProvider = reg, mp
	t.shutdown = append(t.shutdown, mp.Shutdown)
	t.Metrics, err = newMetrics(mp.Meter("github.com/loki-interceptor/herald"))
	return err
}

// Shutdown flushes and stops the providers. Call it once, on the way out,
// with a deadline: exporting to an unreachable collector would block.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdown) - 1; i >= 0; i-- {
		errs = append(errs, t.shutdown[i](ctx))
	}
	t.shutdown = nil
	return errors.Join(errs...)
}

// Handler serves the registry in Prometheus text format (promhttp).
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.Registry, promhttp.HandlerOpts{})
}

// TracingEnabled reports whether spans are exported; when false the
// TracerProvider is a no-op.
func (t *Telemetry) TracingEnabled() bool { return t.tracing }

// TemporalTracing is the Temporal SDK interceptor to put on the client
// (client.Options.Interceptors). Workers built from that client inherit it,
// so trace context flows from workflow start into workflows and activities.
func (t *Telemetry) TemporalTracing() (interceptor.Interceptor, error) {
	return temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer: t.TracerProvider.Tracer(temporalScope),
	})
}

// TemporalMetrics is the Temporal SDK metrics handler (client.Options.MetricsHandler)
// on the same MeterProvider, so SDK metrics appear at /metrics too.
func (t *Telemetry) TemporalMetrics() client.MetricsHandler {
	return temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: t.MeterProvider.Meter(temporalScope),
		// SDK counters only grow; monotonic makes them Prometheus counters
		// (…_total) instead of gauges.
		UseMonotonicCounters: true,
		// The default panics; a metrics hiccup must not take a worker down.
		OnError: otel.Handle,
	})
}

// InstrumentTemporal puts TemporalTracing and TemporalMetrics on the
// options of a Temporal client about to be dialled; a nil t leaves them
// as they are.
func (t *Telemetry) InstrumentTemporal(opts *client.Options) error {
	if t == nil {
		return nil
	}
	tracing, err := t.TemporalTracing()
	if err != nil {
		return err
	}
	opts.Interceptors = append(opts.Interceptors, tracing)
	opts.MetricsHandler = t.TemporalMetrics()
	return nil
}

// HTTPTransport wraps rt (nil: http.DefaultTransport) so each outbound
// attempt is a client span and carries a W3C traceparent header to the
// receiver. With traces off it returns rt untouched: nothing to propagate.
func (t *Telemetry) HTTPTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if !t.tracing {
		return rt
	}
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(t.TracerProvider),
		otelhttp.WithPropagators(otel.GetTextMapPropagator()),
		// otelhttp's own metrics are labelled by receiver host; Herald's
		// attempt metrics already cover this with bounded labels.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	)
}
