package telemetry

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// setupTraces installs an SDK tracer provider only when some exporter wants
// spans; otherwise a no-op provider, so instrumented code pays nothing.
func (t *Telemetry) setupTraces(ctx context.Context, o Options, res *resource.Resource) error {
	procs, err := spanProcessors(ctx, o)
	if err != nil {
		return err
	}
	if len(procs) == 0 {
		t.TracerProvider = tracenoop.NewTracerProvider()
		return nil
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, p := range procs {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.TracerProvider, t.tracing = tp, true
	t.shutdown = append(t.shutdown, tp.Shutdown)
	return nil
}

// spanProcessors turns the options and OTEL_TRACES_EXPORTER into processors.
// Names are validated before any exporter is built so a typo fails Setup
// without leaving a half-open gRPC connection behind.
func spanProcessors(ctx context.Context, o Options) ([]sdktrace.SpanProcessor, error) {
	if o.SpanExporter != nil {
		// Tests read spans right after the call that made them: no batching.
		return []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(redacting(o.SpanExporter))}, nil
	}
	names, err := exporterNames(o)
	if err != nil {
		return nil, err
	}
	var procs []sdktrace.SpanProcessor
	for _, name := range names {
		p, err := spanProcessor(ctx, name, o)
		if err != nil {
			for _, done := range procs {
				_ = done.Shutdown(ctx)
			}
			return nil, err
		}
		procs = append(procs, p)
	}
	return procs, nil
}

// CheckEnv validates the OTEL_* variables Setup would refuse, without
// building anything, so a command can fail on a typo before it spends a
// minute waiting for a database or starts a server that ignores it.
// A nil getenv means os.Getenv.
func CheckEnv(getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	names, err := exporterNames(Options{Getenv: getenv})
	if err != nil || !slices.Contains(names, "otlp") {
		return err
	}
	switch p := cmp.Or(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf"); p {
	case "grpc", "http/protobuf":
		return nil
	default:
		return fmt.Errorf("telemetry: unsupported OTEL_EXPORTER_OTLP_PROTOCOL %q (want grpc or http/protobuf)", p)
	}
}

// exporterNames parses OTEL_TRACES_EXPORTER (a comma-separated list, as the
// spec has it). Unlike the spec, unset means "none": tracing is opt-in.
// A TraceWriter implies console.
func exporterNames(o Options) ([]string, error) {
	var names []string
	for _, n := range strings.Split(o.Getenv("OTEL_TRACES_EXPORTER"), ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		switch n {
		case "", "none":
		case "otlp", "console":
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		default:
			return nil, fmt.Errorf("telemetry: unknown OTEL_TRACES_EXPORTER %q (want otlp, console or none)", n)
		}
	}
	if o.TraceWriter != nil && !slices.Contains(names, "console") {
		names = append(names, "console")
	}
	return names, nil
}

func spanProcessor(ctx context.Context, name string, o Options) (sdktrace.SpanProcessor, error) {
	if name == "console" {
		w := o.TraceWriter
		if w == nil {
			w = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
		if err != nil {
			return nil, fmt.Errorf("telemetry: console exporter: %w", err)
		}
		// Someone is watching a terminal: print each span as it ends.
		return sdktrace.NewSimpleSpanProcessor(redacting(exp)), nil
	}
	exp, err := otlpExporter(ctx, o.Getenv)
	if err != nil {
		return nil, err
	}
	// Batching keeps the collector's latency off the delivery path.
	return sdktrace.NewBatchSpanProcessor(redacting(exp)), nil
}

// otlpExporter picks the transport from OTEL_EXPORTER_OTLP_PROTOCOL. The
// endpoint is passed explicitly so Options.Getenv is honoured; the exporters
// still read the other OTEL_EXPORTER_OTLP_* variables (headers, TLS) themselves.
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	protocol := cmp.Or(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), getenv("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf")
	traces := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	base := getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "grpc":
		var opts []otlptracegrpc.Option
		if ep := cmp.Or(traces, base); ep != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(ep))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case "http/protobuf":
		var opts []otlptracehttp.Option
		if ep := httpTracesURL(traces, base); ep != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(ep))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("telemetry: unsupported OTEL_EXPORTER_OTLP_PROTOCOL %q (want grpc or http/protobuf)", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp %s exporter: %w", protocol, err)
	}
	return exp, nil
}

// httpTracesURL follows the OTLP spec: the signal-specific endpoint is used
// as is, the generic one is a base URL that gets /v1/traces appended.
func httpTracesURL(traces, base string) string {
	if traces != "" {
		return traces
	}
	if base == "" {
		return ""
	}
	return strings.TrimSuffix(base, "/") + "/v1/traces"
}

// redacting wraps an exporter so URLs leave the process without path or
// query: integration URLs (Slack, Discord, Teams) carry their secret there,
// and otelhttp records url.full verbatim.
func redacting(e sdktrace.SpanExporter) sdktrace.SpanExporter {
	return redactingExporter{e}
}

type redactingExporter struct{ sdktrace.SpanExporter }

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redactedSpan{s}
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

type redactedSpan struct{ sdktrace.ReadOnlySpan }

func (s redactedSpan) Attributes() []attribute.KeyValue {
	attrs := s.ReadOnlySpan.Attributes()
	out := attrs[:0:0]
	for _, kv := range attrs {
		switch kv.Key {
		case "url.full", "http.url":
			out = append(out, attribute.String(string(kv.Key), urlOrigin(kv.Value.AsString())))
		case "url.query", "http.target":
			// Dropped: the query is where tokens hide.
		default:
			out = append(out, kv)
		}
	}
	return out
}

// urlOrigin keeps scheme and host: enough to tell receivers apart.
func urlOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "redacted"
	}
	return u.Scheme + "://" + u.Host
}
