package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The standard OTEL_TRACES_EXPORTER values work for `herald dev`, whose
// embedded Temporal server reads the same variable; an unsupported one is
// one clear line naming it.
func TestDevTakesTheStandardTraceExporters(t *testing.T) {
	for _, v := range []string{"console", "otlp", "none"} {
		t.Run(v, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_EXPORTER", v)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // nothing listens: spans are dropped, not fatal
			dev := start(t, "dev", "--ephemeral", "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "-1")
			api := waitFor(t, &dev.out, &dev.err, `API\s+(http://\S+)/api/v1`)
			if code := call(t, "", "GET", api+"/api/v1/health", "", nil); code != 200 {
				t.Fatalf("health answered %d", code)
			}
			dev.stop(t)
		})
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "jaeger")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"dev", "--ephemeral", "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "-1"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), `OTEL_TRACES_EXPORTER "jaeger"`) || strings.Count(err.Error(), "\n") > 0 {
		t.Fatalf("unsupported exporter: %v\n%s", err, errOut.String())
	}
}
