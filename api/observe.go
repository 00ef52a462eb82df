package api

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/loki-interceptor/herald/telemetry"
)

// observe makes each request a server span (joining a caller's trace from
// its traceparent) and records its duration by route pattern. The span
// rides in the request's context, so the workflow an event starts, and
// everything the workflow does, belongs to the same trace.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	carrier := propagation.MapCarrier{}
	c.Request().Header.VisitAll(func(k, v []byte) { carrier[string(k)] = string(v) })
	ctx := otel.GetTextMapPropagator().Extract(c.UserContext(), carrier)
	ctx, span := s.tracer.Start(ctx, c.Method()+" "+c.Path(), trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	c.SetUserContext(ctx)
	if err := c.Next(); err != nil {
		// Answer the error here, so the span and the metric see its status.
		if err := s.errorHandler(c, err); err != nil {
			return err
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path // the pattern, never the path: bounded labels
	span.SetName(c.Method() + " " + route)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, "")
	}
	s.metrics().APIRequest(ctx, route, c.Method(), status, time.Since(start))
	return nil
}

// metrics are the API's instruments; nil (no-op) without telemetry.
func (s *Server) metrics() *telemetry.Metrics {
	if s.cfg.Telemetry == nil {
		return nil
	}
	return s.cfg.Telemetry.Metrics
}
