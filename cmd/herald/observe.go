package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/telemetry"
)

// setupTelemetry starts traces (off unless OTEL_TRACES_EXPORTER or
// traceTo) and metrics.
func setupTelemetry(ctx context.Context, traceTo io.Writer) (*telemetry.Telemetry, error) {
	return telemetry.Setup(ctx, telemetry.Options{TraceWriter: traceTo})
}

// observeStore makes the store the source of the metrics' gauges.
func observeStore(tel *telemetry.Telemetry, st *store.Store) error {
	return tel.Metrics.ObserveState(func(ctx context.Context) (telemetry.State, error) {
		g, err := st.Gauges(ctx)
		out := telemetry.State{DeliveriesWaiting: g.DeliveriesWaiting, EventsWaiting: g.EventsWaiting, WebhooksPaused: g.WebhooksPaused}
		for _, s := range g.Subscribers {
			out.Webhooks = append(out.Webhooks, telemetry.WebhookState{Name: s.Name, Status: s.Status, LastTriggered: s.At})
		}
		return out, err
	})
}

// shutdownTelemetry flushes spans still buffered.
func shutdownTelemetry(tel *telemetry.Telemetry, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry shutdown", "error", err)
	}
}

// serveMetrics serves metrics as /metrics on addr until ctx ends: the
// endpoint of a role that has no API (a worker, the Temporal server).
func serveMetrics(ctx context.Context, addr string, metrics http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("metrics listening", "address", ln.Addr().String())
	go srv.Serve(ln)
	return nil
}
