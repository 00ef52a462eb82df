package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
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

// A bad OTEL_TRACES_EXPORTER stops every long-running command at once, before
// it waits for a database (none listens here) or starts a server.
func TestRolesRefuseABadTraceExporterAtOnce(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "bogus")
	dead := "postgres://herald@127.0.0.1:1/none"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"api", []string{"api", "--database-url", dead, "--listen", "127.0.0.1:0"}},
		{"worker", []string{"worker", "--database-url", dead}},
		{"temporal", []string{"temporal", "--port", "0", "--ui-port", "-1", "--db-file", t.TempDir() + "/t.db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			began := time.Now()
			err := run(ctx, tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), `OTEL_TRACES_EXPORTER "bogus"`) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad exporter: %v\n%s", err, errOut.String())
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Fatalf("refused after %v: it waited for something first", took)
			}
		})
	}
}
