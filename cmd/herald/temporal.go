package main

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/loki-interceptor/herald/devserver"
	"github.com/loki-interceptor/herald/telemetry"
	"github.com/loki-interceptor/herald/workflows"
)

// runTemporal runs the embedded Temporal server on its own, for a
// single-machine deployment or a test that restarts Temporal apart from
// Herald's roles. Its state lives in a SQLite file or in PostgreSQL.
func runTemporal(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("temporal", stderr)
	ip := fs.String("ip", "127.0.0.1", "address the server and its UI listen on")
	port := fs.Int("port", 7233, "frontend (gRPC) port")
	uiPort := fs.Int("ui-port", 8233, "Web UI port; -1 disables the UI")
	namespace := fs.String("namespace", "default", "namespace created at start")
	dbFile := fs.String("db-file", ".herald/temporal.db", "SQLite file holding Temporal's state")
	pgURL := fs.String("postgres-url", "", "keep Temporal's state in PostgreSQL instead: postgres://user@host:port/database (created and migrated as needed)")
	metricsAddr := fs.String("metrics-listen", "", "address to serve this process's Go runtime and process metrics on as Prometheus /metrics, e.g. :9091")
	// JSON like the other production roles; with --log-level debug the
	// server's own info lines are shown too (devserver.ServerLogLevel).
	var lf logFlags
	lf.register(fs, "json")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The embedded server reads OTEL_TRACES_EXPORTER too, and would
	// otherwise start with a bad value unremarked.
	if err := telemetry.CheckEnv(nil); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	opts := devserver.Options{IP: *ip, Port: *port, UIPort: *uiPort, Namespace: *namespace,
		DatabaseFile: *dbFile, PostgresURL: *pgURL, SearchAttributes: workflows.SearchAttributes(),
		Logger: log, LogLevel: devserver.ServerLogLevel(log)}
	where := *dbFile
	if *pgURL != "" {
		opts.DatabaseFile, where = "", redacted(*pgURL)
	}
	srv, err := devserver.Start(opts)
	if err != nil {
		return err
	}
	defer srv.Stop()
	if *metricsAddr != "" {
		if err := serveMetrics(ctx, *metricsAddr, telemetry.RuntimeHandler(), log); err != nil {
			return err
		}
	}
	ui := srv.UIURL()
	if ui == "" {
		ui = "disabled"
	}
	fmt.Fprintf(stdout, "temporal: frontend %s (namespace %s), UI %s, state in %s\n", srv.Address(), *namespace, ui, where)
	<-ctx.Done()
	log.Info("temporal server stopping")
	return nil
}

// redacted hides a URL's password for printing.
func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
