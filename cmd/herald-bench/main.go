// Command herald-bench measures Herald whole — ingest, fan-out, bursts,
// latency under steady load, retries, and each delivery mode — beside three
// baselines run in the same process against the same receiver: plain Go
// HTTP fan-out with no durability (the physical limit), the naive Temporal
// design (a workflow per event, an activity per delivery), and the
// engine's ceiling for Herald's shape (a workflow per event started
// eagerly, a local activity per delivery, nothing else). Every run checks
// what the receiver got and exits non-zero when an event is missing,
// unsigned, altered, or out of order where order was asked for.
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
	// modes are Herald's delivery modes to measure, each a system of its
	// own; modesFlag is -modes as given.
	modes     []deliveryMode
	modesFlag string
	// baselines are the baselines to run beside Herald (all unless
	// profiling Herald alone).
	baselines string
	// burstConcurrency is the publishers of burst, burst10k and ordered,
	// each waiting for its own answer only.
	burstConcurrency int
	burstEvents      int
	burst10kEvents   int
	orderedEvents    int
	steady500Rate    float64
	// steadyStart and steadyAfterBurst are how long the steady150
	// scenarios load, whatever -duration and -events say.
	steadyStart      time.Duration
	steadyAfterBurst time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("herald-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "load time of each scenario, per system")
	fs.IntVar(&o.events, "events", 0, "publish exactly this many events per scenario and system instead of loading for -duration (not in bursts and steady150)")
	fs.StringVar(&o.store, "store", "", "Herald's store: sqlite, postgres or both, one fresh Herald each (default both; sqlite with -smoke)")
	fs.BoolVar(&o.smoke, "smoke", false, "a short run (20 events a scenario, no JSON unless -out) that checks correctness; its figures mean nothing")
	fs.StringVar(&o.out, "out", "bench/results/{timestamp}-{store}.json", "where to write each configuration's JSON report ({timestamp}, {store} replaced; empty: none)")
	fs.IntVar(&o.concurrency, "concurrency", 16, "publishers, each waiting for its answer before the next event (closed-loop scenarios)")
	fs.IntVar(&o.window, "window", 100, "events published and not yet delivered everywhere, at most (closed-loop scenarios)")
	fs.IntVar(&o.payload, "payload", 512, "approximate size of each event's payload, in bytes")
	fs.StringVar(&o.postgresURL, "postgres-url", "postgres://127.0.0.1:5432/test?sslmode=disable", "PostgreSQL for -store postgres; a schema is made and dropped")
	fs.BoolVar(&o.temporalFile, "temporal-file", false, "keep Temporal's state in a temporary SQLite file, as `herald dev` does, instead of in memory")
	fs.BoolVar(&o.verbose, "v", false, "log at info level (Temporal and Herald)")
	fs.StringVar(&o.only, "only", "", "run only these scenarios, comma-separated: "+strings.Join(scenarioKeys(), ", ")+
		" (steady takes its rate from fanout3, else 1 event/s; steady150-after-burst brings burst with it)")
	fs.IntVar(&o.batch, "batch", workflows.MaxIngestBatch, "events per POST /api/v1/events/batch in scenario ingest-batch (Herald only; 5 with -smoke)")
	fs.IntVar(&o.batchConcurrency, "batch-concurrency", 4, "publishers of batches, each waiting for its answer before the next (ingest-batch)")
	fs.IntVar(&o.batchEvents, "batch-events", 10000, "ingest-batch publishes a burst of at most this many events, unless -events is set (its drain runs at Temporal's start rate)")
	scenarioFlags(fs, &o)
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

// scenarioFlags defines the flags of the delivery modes and of the burst,
// steady and ordered scenarios.
func scenarioFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.modesFlag, "modes", "per_event,stream,ordered", "Herald's delivery modes to measure, comma-separated: per_event (system herald), stream (herald-stream), ordered (herald-ordered)")
	fs.StringVar(&o.baselines, "baselines", "plain,naive,ceiling", "baselines to run beside Herald, comma-separated (none: \"\", to profile Herald alone)")
	fs.IntVar(&o.burstConcurrency, "burst-concurrency", 32, "publishers of burst, burst10k and ordered, each waiting for its own answer before its next event (no window)")
	fs.IntVar(&o.burstEvents, "burst-events", 3000, "events in scenario burst (20 with -smoke)")
	fs.IntVar(&o.burst10kEvents, "burst10k-events", 10000, "events in scenario burst10k (40 with -smoke)")
	fs.IntVar(&o.orderedEvents, "ordered-events", 5000, "events in scenario ordered (40 with -smoke)")
	fs.Float64Var(&o.steady500Rate, "steady500-rate", 500, "events/s of scenario steady500, fan-out 3")
	fs.DurationVar(&o.steadyStart, "steady150-start-duration", time.Minute, "load time of steady150-start, the first thing after Herald starts (3s with -smoke)")
	fs.DurationVar(&o.steadyAfterBurst, "steady150-after-burst-duration", time.Minute, "load time of steady150-after-burst (3s with -smoke)")
}

// complete applies what -smoke implies and checks the flags.
func (o *options) complete(fs *flag.FlagSet) error {
	for _, key := range strings.Split(o.only, ",") {
		if key != "" && !slices.Contains(scenarioKeys(), key) {
			return fmt.Errorf("-only: no scenario %q", key)
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.smoke {
		o.smokeDefaults(given)
	}
	if o.store == "" {
		o.store = "both"
		if o.smoke {
			o.store = "sqlite"
		}
	}
	var err error
	if o.modes, err = parseModes(o.modesFlag); err != nil {
		return err
	}
	return o.check()
}

// smokeDefaults makes every scenario small, except what was asked for.
func (o *options) smokeDefaults(given map[string]bool) {
	o.events, o.concurrency, o.window = 20, 4, 40
	small := []struct {
		flag  string
		value *int
		smoke int
	}{
		{"batch", &o.batch, 5}, // 20 events in batches of 5: every batch publisher has one
		{"burst-events", &o.burstEvents, 20},
		{"burst10k-events", &o.burst10kEvents, 40},
		{"ordered-events", &o.orderedEvents, 40},
	}
	for _, s := range small {
		if !given[s.flag] {
			*s.value = s.smoke
		}
	}
	if !given["steady150-start-duration"] {
		o.steadyStart = 3 * time.Second
	}
	if !given["steady150-after-burst-duration"] {
		o.steadyAfterBurst = 3 * time.Second
	}
	// A smoke run's figures are not worth keeping unless asked for.
	if !given["out"] {
		o.out = ""
	}
}

func (o *options) check() error {
	switch {
	case o.batch < 1 || o.batch > workflows.MaxIngestBatch:
		return fmt.Errorf("-batch %d: want 1 to %d", o.batch, workflows.MaxIngestBatch)
	case o.batchConcurrency < 1:
		return fmt.Errorf("-batch-concurrency %d: want at least 1", o.batchConcurrency)
	case o.burstConcurrency < 1:
		return fmt.Errorf("-burst-concurrency %d: want at least 1", o.burstConcurrency)
	case min(o.burstEvents, o.burst10kEvents, o.orderedEvents) < 1:
		return fmt.Errorf("-burst-events, -burst10k-events, -ordered-events: want at least 1 each")
	case o.steady500Rate <= 0:
		return fmt.Errorf("-steady500-rate %g: want more than 0", o.steady500Rate)
	case o.steadyStart <= 0 || o.steadyAfterBurst <= 0:
		return fmt.Errorf("-steady150-start-duration, -steady150-after-burst-duration: want more than 0")
	}
	return nil
}

// wants tells whether -only selects the scenario.
func (o options) wants(key string) bool {
	return o.only == "" || slices.Contains(strings.Split(o.only, ","), key)
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
		fmt.Fprintln(os.Stderr, "herald-bench: FAILED: not every event reached every webhook once, signed and intact, and in order where ordered (see the checks above)")
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
	var modes []string
	for _, m := range o.modes {
		modes = append(modes, m.value)
	}
	return settings{Duration: o.duration.String(), Events: o.events, Concurrency: o.concurrency, Window: o.window,
		PayloadBytes: o.payload, TemporalFile: o.temporalFile, Smoke: o.smoke, EagerStart: o.eager,
		BatchSize: o.batch, BatchConcurrency: o.batchConcurrency, BatchEvents: o.batchEvents,
		Modes: modes, BurstConcurrency: o.burstConcurrency, BurstEvents: o.burstEvents, Burst10kEvents: o.burst10kEvents,
		OrderedEvents: o.orderedEvents, Steady500Rate: o.steady500Rate,
		SteadyStart: o.steadyStart.String(), SteadyAfterBurst: o.steadyAfterBurst.String()}
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
