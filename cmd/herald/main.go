// Command herald runs Herald: `herald dev` runs everything in one process
// with nothing installed; `api`, `worker` and `migrate` are the production
// roles.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

const usage = `herald — durable webhook delivery on Temporal

Usage:
  herald dev       run everything in one process: embedded Temporal + Web UI,
                   SQLite store, worker and API (no setup needed)
  herald api       serve the REST API (production role)
  herald worker    run deliveries (production role)
  herald migrate   apply database migrations and register Temporal search attributes
  herald temporal  run the embedded Temporal server (+ Web UI) alone, on SQLite or PostgreSQL
  herald apikey    create, list and revoke API keys (create|list|revoke)
  herald rotate-encryption-key
                   re-encrypt stored secrets under the first of --encryption-key "new,old"
  herald receive   a local webhook receiver that prints deliveries and checks signatures
  herald version   print the version

Run 'herald <command> -h' for a command's flags. Every flag can also be set
with an environment variable: --database-url is HERALD_DATABASE_URL.

Clients of a running Herald, which read only HERALD_URL (default
http://127.0.0.1:8080) and HERALD_API_KEY; tables for people, --json for scripts:
  herald webhooks      list|get|create|update|delete|test
  herald events        send|get|list
  herald deliveries    list|get|retry|cancel
  herald integrations  list|get|create|update|delete|test|health|
                       subscriptions|subscribe|unsubscribe
  herald analytics     [--webhook ID] [--days N]
  herald listen        --forward-to http://localhost:3000/hook: deliveries to a local
                       app, signatures checked, through a webhook removed on Ctrl-C
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		// -h or --help asked for the usage, and got it: as Go's own
		// flag.ExitOnError does, that is a success.
	case errors.Is(err, errUsage):
		os.Exit(2) // the usage printed says what was missing
	default:
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(2)
	}
}

// errUsage is a command line with no command, or a group with no verb:
// the usage has been printed instead, and the run fails.
var errUsage = errors.New("no command given")

// runner runs one of herald's commands on its arguments.
type runner func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands are herald's commands by name; version and help are run's own.
var commands = map[string]runner{
	"dev": runDev,
	"api": func(ctx context.Context, args []string, _, stderr io.Writer) error { return runAPI(ctx, args, stderr) },
	"worker": func(ctx context.Context, args []string, _, stderr io.Writer) error {
		return runWorker(ctx, args, stderr)
	},
	"migrate":               runMigrate,
	"temporal":              runTemporal,
	"rotate-encryption-key": runRotateKey,
	"apikey":                runAPIKey,
	"receive":               runReceive,
	"webhooks":              group("webhooks", webhookVerbs),
	"events":                group("events", eventVerbs),
	"deliveries":            group("deliveries", deliveryVerbs),
	"integrations":          group("integrations", integrationVerbs),
	"analytics":             runAnalytics,
	"listen":                runListen,
}

// run runs a command until it ends or ctx is cancelled (Ctrl-C, SIGTERM).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	name, rest := args[0], args[1:]
	if cmd, ok := commands[name]; ok {
		return cmd(ctx, rest, stdout, stderr)
	}
	switch name {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "herald %s (%s, %s/%s, temporal sdk %s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, depVersion("go.temporal.io/sdk"))
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", name)
}

func depVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

// newFlagSet returns a flag set whose flags fall back to HERALD_* variables.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse applies HERALD_<FLAG> environment variables, then the command line,
// which wins.
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "HERALD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *flag.FlagSet, format string) {
	fs.StringVar(&l.level, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", format, "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", l.format)
}
