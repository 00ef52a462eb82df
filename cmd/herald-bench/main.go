// Command herald-bench measures Herald whole — ingest, fan-out, latency
// under steady load, retries — beside two baselines run in the same process
// against the same receiver: plain Go HTTP fan-out with no durability (the
// physical limit), and the naive Temporal design (a workflow per event, an
// activity per delivery). Every run checks what the receiver got and exits
// non-zero when an event is missing, unsigned or altered.
//
//	go run ./cmd/herald-bench -smoke
//	go run ./cmd/herald-bench -duration 20s -store both
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/loki-interceptor/herald/workflows"
)

type options struct {
	duration     time.Duration
	events       int
	store        string
	smoke        bool
	out          string
	concurrency  int
	window       int
	payload      int
	postgresURL  string
	temporalFile bool
	verbose      bool
	cpuProfile   string
	only         string
	eager        bool
	batch        int // events per batch (ingest-batch)
	// batchConcurrency is ingest-batch's publishers, each waiting for its
	// answer before the next batch.
	batchConcurrency int
	// batchEvents bounds ingest-batch's burst (unless -events is set): the
	// batch endpoint accepts far faster than Temporal starts workflows, and
	// the drain of a burst of this size takes a minute or two.
	batchEvents int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("herald-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "load time of each scenario, per system")
	fs.IntVar(&o.events, "events", 0, "publish exactly this many events per scenario and system instead of loading for -duration")
	fs.StringVar(&o.store, "store", "", "Herald's store: sqlite, postgres or both, one fresh Herald each (default both; sqlite with -smoke)")
	fs.BoolVar(&o.smoke, "smoke", false, "a short run (20 events a scenario, no JSON unless -out) that checks correctness; its figures mean nothing")
	fs.StringVar(&o.out, "out", "bench/results/{timestamp}-{store}.json", "where to write each configuration's JSON report ({timestamp}, {store} replaced; empty: none)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "publishers, each waiting for its answer before the next event (closed-loop scenarios)")
	fs.IntVar(&o.window, "window", 100, "events published and not yet delivered everywhere, at most (closed-loop scenarios)")
	fs.IntVar(&o.payload, "payload", 512, "approximate size of each event's payload, in bytes")
	fs.StringVar(&o.postgresURL, "postgres-url", "postgres://127.0.0.1:5432/test?sslmode=disable", "PostgreSQL for -store postgres; a schema is made and dropped")
	fs.BoolVar(&o.temporalFile, "temporal-file", false, "keep Temporal's state in a temporary SQLite file, as `herald dev` does, instead of in memory")
	fs.BoolVar(&o.verbose, "v", false, "log at info level (Temporal and Herald)")
	fs.StringVar(&o.only, "only", "", "run only these scenarios, comma-separated: ingest, ingest-batch, fanout1, fanout3, fanout10, steady, retry (steady takes its rate from fanout3, else 1 event/s)")
	fs.IntVar(&o.batch, "batch", workflows.MaxIngestBatch, "events per POST /api/v1/events/batch in scenario ingest-batch (Herald only; 5 with -smoke)")
	fs.IntVar(&o.batchConcurrency, "batch-concurrency", 4, "publishers of batches, each waiting for its answer before the next (ingest-batch)")
	fs.IntVar(&o.batchEvents, "batch-events", 10000, "ingest-batch publishes a burst of at most this many events, unless -events is set (its drain runs at Temporal's start rate)")
	fs.BoolVar(&o.eager, "eager", true, "start event workflows eagerly, as `herald dev` does (false: measure without)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, o.complete(fs)
}

// complete applies what -smoke implies and checks -only.
func (o *options) complete(fs *flag.FlagSet) error {
	for _, key := range strings.Split(o.only, ",") {
		if key != "" && !slices.ContainsFunc(scenarios(0, 0), func(sc scenario) bool { return sc.key == key }) {
			return fmt.Errorf("-only: no scenario %q", key)
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.smoke {
		// A smoke run's figures are not worth keeping unless asked for.
		o.events, o.concurrency, o.window = 20, 4, 40
		if !given["out"] {
			o.out = ""
		}
		// 20 events in batches of 5: every batch publisher has one.
		if !given["batch"] {
			o.batch = 5
		}
	}
	if o.batch < 1 || o.batch > workflows.MaxIngestBatch {
		return fmt.Errorf("-batch %d: want 1 to %d", o.batch, workflows.MaxIngestBatch)
	}
	if o.batchConcurrency < 1 {
		return fmt.Errorf("-batch-concurrency %d: want at least 1", o.batchConcurrency)
	}
	if o.store == "" {
		o.store = "both"
		if o.smoke {
			o.store = "sqlite"
		}
	}
	return nil
}

func (o options) stores() ([]string, error) {
	switch o.store {
	case "sqlite", "postgres":
		return []string{o.store}, nil
	case "both":
		return []string{"sqlite", "postgres"}, nil
	}
	return nil, fmt.Errorf("-store %q: want sqlite, postgres or both", o.store)
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := startProfile(o.cpuProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(2)
	}
	correct, err := run(ctx, o, os.Stdout, os.Stderr)
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-bench:", err)
		os.Exit(1)
	}
	if !correct {
		fmt.Fprintln(os.Stderr, "herald-bench: FAILED: not every event reached every webhook once, signed and intact (see the checks above)")
		os.Exit(1)
	}
}

// run benchmarks each configuration in turn and reports whether every
// check passed.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (bool, error) {
	stores, err := o.stores()
	if err != nil {
		return false, err
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	m, runID := describeMachine(), newRunID()
	correct := true
	for _, kind := range stores {
		rep, err := runStore(ctx, o, kind, runID, log, stderr)
		if err != nil {
			return false, fmt.Errorf("%s: %w", kind, err)
		}
		rep.Machine, rep.Settings = m, o.settings()
		correct = rep.check() && correct
		printTable(stdout, rep)
		printChecks(stdout, rep)
		if o.out != "" {
			path, err := writeJSON(o.out, rep)
			if err != nil {
				return false, err
			}
			fmt.Fprintf(stdout, "\nReport written to %s\n", path)
		}
	}
	return correct, nil
}

func (o options) settings() settings {
	return settings{Duration: o.duration.String(), Events: o.events, Concurrency: o.concurrency, Window: o.window,
		PayloadBytes: o.payload, TemporalFile: o.temporalFile, Smoke: o.smoke, EagerStart: o.eager,
		BatchSize: o.batch, BatchConcurrency: o.batchConcurrency, BatchEvents: o.batchEvents}
}

// startProfile profiles the process, Temporal server included, when asked:
// where the time goes is the first question a figure raises.
func startProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// newRunID prefixes event ids so that no two runs share one.
func newRunID() string {
	var b [4]byte
	rand.Read(b[:])
	return "b" + hex.EncodeToString(b[:])
}
