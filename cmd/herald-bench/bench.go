package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
)

// bench runs every scenario against every system of one configuration.
type bench struct {
	o        options
	rcv      *receiver
	systems  []system
	runID    string
	progress io.Writer
}

// runStore starts a fresh Herald on the store, with the baselines beside
// it and one receiver for all, and runs every scenario.
func runStore(ctx context.Context, o options, kind, runID string, log *slog.Logger, progress io.Writer) (*storeReport, error) {
	dir, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	resetPeakRSS()
	rcv, err := startReceiver()
	if err != nil {
		return nil, err
	}
	defer rcv.close()
	fmt.Fprintf(progress, "%s: starting Herald (embedded Temporal, %s store)…\n", kind, kind)
	st, err := startStack(ctx, stackConfig{storeKind: kind, postgresURL: o.postgresURL, dir: dir, temporalFile: o.temporalFile, eager: o.eager, log: log})
	defer st.close()
	if err != nil {
		return nil, fmt.Errorf("start Herald: %w", err)
	}
	systems, stop, err := startSystems(ctx, st, o.verbose, log)
	if err != nil {
		return nil, err
	}
	defer stop()
	b := &bench{o: o, rcv: rcv, runID: runID, progress: progress, systems: systems}
	rep := &storeReport{Store: kind, Started: time.Now().UTC(), IdleRSSBytes: rss("VmRSS")}
	if err := b.runAll(ctx, rep); err != nil {
		return rep, err
	}
	rep.PeakRSSBytes, rep.Stray = rss("VmHWM"), int(rcv.stray.Load())
	return rep, nil
}

// startSystems returns Herald and, beside it, the baselines, and what stops
// the baselines.
func startSystems(ctx context.Context, st *stack, verbose bool, log *slog.Logger) ([]system, func(), error) {
	plain, err := startPlain()
	if err != nil {
		return nil, nil, err
	}
	// The SDK logs every failed activity at error level, and scenario (d)
	// fails one attempt in ten on purpose.
	naiveLog := slog.New(slog.DiscardHandler)
	if verbose {
		naiveLog = log
	}
	naive, err := startNaive(ctx, st.temporal.Address(), naiveLog)
	if err != nil {
		plain.close()
		return nil, nil, err
	}
	herald := &heraldSystem{s: st, http: &http.Client{Timeout: time.Minute}}
	return []system{herald, plain, naive}, func() { naive.close(); plain.close() }, nil
}

func (b *bench) runAll(ctx context.Context, rep *storeReport) error {
	for _, sc := range scenarios(b.o.payload, b.o.batch) {
		if b.o.only != "" && !slices.Contains(strings.Split(b.o.only, ","), sc.key) {
			continue
		}
		res := &scenarioResult{Key: sc.key, Title: sc.title, Systems: map[string]*figures{}}
		rate := 0.0
		if sc.steady {
			rate = rep.steadyRate()
		}
		for _, sys := range b.systems {
			var f *figures
			var err error
			switch bi, ok := sys.(batchIngester); {
			case sc.batch && !ok:
				continue // the baselines have no batch ingest
			case sc.batch:
				f, err = b.runBatchPhase(ctx, bi, sc)
			default:
				f, err = b.runPhase(ctx, sys, sc, rate)
			}
			if err != nil {
				return fmt.Errorf("%s, %s: %w", sc.title, sys.label(), err)
			}
			res.Systems[sys.name()] = f
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	return nil
}

// runPhase subscribes the scenario's webhooks, loads the system, waits for
// it to deliver everything, and checks what arrived.
func (b *bench) runPhase(ctx context.Context, sys system, sc scenario, rate float64) (*figures, error) {
	p := newPhase(sys.name(), sc, b.o.window)
	p.hooks = b.rcv.newHooks(p, sc.fanOut, sc.flaky)
	if err := sys.subscribe(ctx, sc.eventType, p.hooks); err != nil {
		return nil, err
	}
	defer b.rcv.forget(p.hooks)
	base, key := sys.ingest()
	pub := newPublisher(base, key, b.runID, 2*b.o.concurrency)
	defer pub.client.CloseIdleConnections()
	lim := limit{count: b.o.events, until: time.Now().Add(b.o.duration)}
	if sc.steady {
		pub.openLoop(ctx, p, rate, lim)
	} else {
		pub.closedLoop(ctx, p, b.o.concurrency, lim)
	}
	loaded := time.Now()
	p.drain(ctx, max(2*b.o.duration, time.Minute), 30*time.Second)
	// A system may take far longer than the load to finish its backlog;
	// past this limit the phase fails rather than the whole run.
	settleCtx, cancel := context.WithTimeout(ctx, max(10*b.o.duration, 5*time.Minute))
	defer cancel()
	settleErr := sys.settle(settleCtx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	f := p.figures(time.Now())
	f.OfferedPerSec, f.SettleSeconds = rate, time.Since(loaded).Seconds()
	if settleErr != nil {
		f.SettleError = settleErr.Error()
	}
	if d, ok := sys.(durable); ok {
		f.HistoryPerDelivery, f.HistoryByType = historyPerDelivery(ctx, d, p)
	}
	b.report(sc, f)
	return f, sys.unsubscribe(ctx, p.hooks)
}

// historyPerDelivery samples the phase's event workflows: their history
// events per delivery, in all and by type (where the cost comes from).
func historyPerDelivery(ctx context.Context, d durable, p *phase) (float64, map[string]float64) {
	const samples = 20
	p.mu.Lock()
	var ids []string
	for i := 0; i < len(p.order) && len(ids) < samples; i += max(len(p.order)/samples, 1) {
		if p.order[i].accepted() {
			ids = append(ids, p.order[i].id)
		}
	}
	p.mu.Unlock()
	total, byType := 0, map[string]float64{}
	for _, id := range ids {
		counts, err := d.history(ctx, id)
		if err != nil {
			return 0, nil
		}
		for t, n := range counts {
			total += n
			byType[t] += float64(n)
		}
	}
	if len(ids) == 0 {
		return 0, nil
	}
	per := float64(len(ids) * max(p.scenario.fanOut, 1))
	for t := range byType {
		byType[t] /= per
	}
	return float64(total) / per, byType
}

func (b *bench) report(sc scenario, f *figures) {
	verdict := "ok"
	if !f.correct() {
		verdict = "FAILED"
	}
	if f.BatchSize > 0 {
		verdict = fmt.Sprintf("%d/%d workflows completed, all ran at %.1f ev/s, drain %.1fs  %s",
			f.WorkflowsCompleted, f.Accepted, f.ProcessedPerSec, f.DrainSeconds, verdict)
	}
	fmt.Fprintf(b.progress, "  %-46s %-6s %7d events %7d/%-7d delivered %8.1f ev/s %8.1f del/s  p50 %7.1f ms  p99 %7.1f ms  settled in %5.1fs  %s\n",
		sc.title, f.System, f.Accepted, f.Delivered, f.Expected, f.EventsPerSec, f.DeliveriesPerSec, f.LatencyMS.P50, f.LatencyMS.P99,
		f.SettleSeconds, verdict)
}
