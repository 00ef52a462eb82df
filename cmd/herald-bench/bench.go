package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// bench runs every scenario against every system of one configuration.
type bench struct {
	o        options
	kind     string // the store: sqlite or postgres
	dir      string // each stack's files go in a directory of their own here
	log      *slog.Logger
	rcv      *receiver
	runID    string
	progress io.Writer
	stacks   int
}

// runStore runs every scenario on the store, each system of each scenario
// on a fresh Herald (and the engine the Temporal baselines share with it),
// so that no run inherits another's backlog, history or memory, and one
// receiver for all.
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
	b := &bench{o: o, kind: kind, dir: dir, log: log, rcv: rcv, runID: runID, progress: progress}
	rep := &storeReport{Store: kind, Started: time.Now().UTC()}
	if err := b.runAll(ctx, rep); err != nil {
		return rep, err
	}
	rep.PeakRSSBytes, rep.Stray = rss("VmHWM"), int(rcv.stray.Load())
	return rep, nil
}

// systemNames is every system the run measures: Herald once per delivery
// mode asked for, then the baselines asked for.
func (b *bench) systemNames() []string {
	var names []string
	for _, m := range b.o.modes {
		names = append(names, m.system)
	}
	wanted := strings.Split(b.o.baselines, ",")
	for _, s := range baselines {
		if slices.Contains(wanted, s) {
			names = append(names, s)
		}
	}
	return names
}

// start brings up a fresh system by name and returns it with what stops
// it. Plain Go needs no engine; the rest get a Herald stack of their own.
func (b *bench) start(ctx context.Context, name string) (system, func(), error) {
	if name == sysPlain {
		p, err := startPlain()
		if err != nil {
			return nil, nil, err
		}
		return p, p.close, nil
	}
	b.stacks++
	dir := filepath.Join(b.dir, fmt.Sprintf("stack-%d", b.stacks))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, nil, err
	}
	st, err := startStack(ctx, stackConfig{storeKind: b.kind, postgresURL: b.o.postgresURL, dir: dir, temporalFile: b.o.temporalFile, eager: b.o.eager, log: b.log})
	stop := func() { st.close(); os.RemoveAll(dir) }
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("start Herald: %w", err)
	}
	sys, err := b.onStack(ctx, st, name)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return sys, stop, nil
}

// onStack is the system by name on a running stack: Herald in a delivery
// mode, or a Temporal baseline on the stack's engine.
func (b *bench) onStack(ctx context.Context, st *stack, name string) (system, error) {
	for _, m := range b.o.modes {
		if m.system != name {
			continue
		}
		h := &heraldSystem{s: st, http: &http.Client{Timeout: time.Minute}, mode: m}
		if m != perEvent {
			if err := h.checkMode(ctx); err != nil {
				return nil, err
			}
		}
		return h, nil
	}
	// The SDK logs every failed activity at error level, and the flaky
	// scenario fails one attempt in ten on purpose.
	sdkLog := slog.New(slog.DiscardHandler)
	if b.o.verbose {
		sdkLog = b.log
	}
	var (
		t   *temporalBaseline
		err error
	)
	switch name {
	case sysNaive:
		t, err = startNaive(ctx, st.temporal.Address(), sdkLog)
	case sysCeiling:
		t, err = startCeiling(ctx, st.temporal.Address(), sdkLog)
	default:
		return nil, fmt.Errorf("no system %q", name)
	}
	if err != nil {
		return nil, err
	}
	st.stops = append(st.stops, t.close)
	return t, nil
}

// runAll runs each scenario selected on each system it applies to, in
// turn; a scenario that follows another runs with it, on each system.
func (b *bench) runAll(ctx context.Context, rep *storeReport) error {
	all := scenarios(b.o)
	names := b.systemNames()
	for _, sc := range all {
		group := b.group(all, sc)
		if group == nil {
			continue
		}
		if sc.load == openLoad && sc.rate == 0 {
			group[0].rate = rep.steadyRate()
		}
		results := make([]*scenarioResult, len(group))
		for i, g := range group {
			results[i] = newResult(g, b.o)
		}
		for _, name := range names {
			if !sc.runsOn(name) {
				continue
			}
			figs, err := b.runFresh(ctx, rep, name, group)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", sc.title, labelOf(name), err)
			}
			for i, f := range figs {
				results[i].Systems[name] = f
			}
		}
		if len(results[0].Systems) > 0 { // else it applies to no system of this run
			rep.Scenarios = append(rep.Scenarios, results...)
		}
	}
	return nil
}

// runFresh runs a group of scenarios on a fresh system. The first Herald
// started, before any load, gives the report its idle memory.
func (b *bench) runFresh(ctx context.Context, rep *storeReport, name string, group []scenario) ([]*figures, error) {
	fmt.Fprintf(b.progress, "%s: %s on a fresh %s…\n", b.kind, group[0].key, labelOf(name))
	sys, stop, err := b.start(ctx, name)
	if err != nil {
		return nil, err
	}
	defer stop()
	if rep.IdleRSSBytes == 0 && isHerald(name) {
		rep.IdleRSSBytes = rss("VmRSS")
	}
	return b.runOn(ctx, sys, group)
}

// group is the scenario and the selected ones that follow it, or nil when
// it does not run here: not selected, nor followed by one selected, or a
// follow-on itself (it runs in the group of the one it follows).
func (b *bench) group(all []scenario, sc scenario) []scenario {
	if sc.follows != "" {
		return nil
	}
	group := []scenario{sc}
	for _, f := range all {
		if f.follows == sc.key && b.o.wants(f.key) {
			group = append(group, f)
		}
	}
	if len(group) == 1 && !b.o.wants(sc.key) {
		return nil
	}
	return group
}

func (b *bench) runOn(ctx context.Context, sys system, group []scenario) ([]*figures, error) {
	if group[0].load != batchLoad {
		return b.runPhases(ctx, sys, group)
	}
	bi, ok := sys.(batchIngester)
	if !ok {
		return nil, fmt.Errorf("%s has no batch endpoint", labelOf(sys.name()))
	}
	f, err := b.runBatchPhase(ctx, bi, group[0])
	return []*figures{f}, err
}

// runPhases subscribes the webhooks of a group of scenarios, loads the
// system with each in turn (a follow-on's load starts the moment the one
// before has its last answer, while that one's backlog drains), waits for
// the system to deliver everything, and checks what arrived.
func (b *bench) runPhases(ctx context.Context, sys system, group []scenario) ([]*figures, error) {
	phases := make([]*phase, len(group))
	for i, sc := range group {
		p, err := b.subscribe(ctx, sys, sc)
		if err != nil {
			return nil, err
		}
		defer b.rcv.forget(p.hooks)
		phases[i] = p
	}
	base, key := sys.ingest()
	pub := newPublisher(base, key, b.runID, b.conns(group))
	defer pub.client.CloseIdleConnections()
	loaded := make([]time.Time, len(phases))
	for i, p := range phases {
		b.load(ctx, pub, p)
		loaded[i] = time.Now()
	}
	for _, p := range phases {
		p.drain(ctx, b.drainLimit(p.scenario), 30*time.Second)
	}
	settleCtx, cancel := context.WithTimeout(ctx, b.patience())
	defer cancel()
	settleErr := sys.settle(settleCtx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	settled := time.Now()
	figs := make([]*figures, len(phases))
	for i, p := range phases {
		figs[i] = b.measure(ctx, sys, p, loaded[i], settled, settleErr)
	}
	for _, p := range phases {
		if err := sys.unsubscribe(ctx, p.hooks); err != nil {
			return nil, err
		}
	}
	return figs, nil
}

// conns is how many connections the publishers keep open: two per
// publisher, and for an open loop a second's worth of events, since a
// slow system has that many answers outstanding and more.
func (b *bench) conns(group []scenario) int {
	n := 2 * max(b.o.concurrency, b.o.burstConcurrency)
	for _, sc := range group {
		if sc.load == openLoad {
			n = max(n, int(sc.rate))
		}
	}
	return n
}

// subscribe makes a phase of the scenario on the system, its webhooks
// subscribed. Only the closed loop has a window.
func (b *bench) subscribe(ctx context.Context, sys system, sc scenario) (*phase, error) {
	window := 0
	if sc.load == closedLoad {
		window = b.o.window
	}
	p := newPhase(sys.name(), sc, window)
	p.hooks = b.rcv.newHooks(p, sc.fanOut, sc.flaky)
	if err := sys.subscribe(ctx, sc.eventType, p.hooks); err != nil {
		b.rcv.forget(p.hooks)
		return nil, err
	}
	return p, nil
}

// load publishes the phase's events and returns once the last is answered.
func (b *bench) load(ctx context.Context, pub *publisher, p *phase) {
	switch sc := p.scenario; sc.load {
	case openLoad:
		pub.openLoop(ctx, p, sc.rate, b.limit(sc))
	case burstLoad:
		pub.closedLoop(ctx, p, b.o.burstConcurrency, limit{count: sc.count})
	default:
		pub.closedLoop(ctx, p, b.o.concurrency, b.limit(sc))
	}
}

// limit is when a load that is not a burst ends: after the scenario's own
// duration, else after -events or -duration.
func (b *bench) limit(sc scenario) limit {
	if sc.duration > 0 {
		return limit{until: time.Now().Add(sc.duration)}
	}
	return limit{count: b.o.events, until: time.Now().Add(b.o.duration)}
}

// drainLimit is how long a phase may take to deliver what is left once
// its load ends. A window leaves little; an open loop or a burst may leave
// minutes of backlog, and a drain that stops moving ends sooner anyway.
func (b *bench) drainLimit(sc scenario) time.Duration {
	if sc.load == closedLoad {
		return max(2*b.o.duration, time.Minute)
	}
	return b.patience()
}

// patience bounds a system's work after a load: past it the phase fails
// rather than the whole run.
func (b *bench) patience() time.Duration { return max(10*b.o.duration, 5*time.Minute) }

// measure checks what reached the receiver in a phase and takes its
// figures: its load ended at loaded, the system had finished at settled.
func (b *bench) measure(ctx context.Context, sys system, p *phase, loaded, settled time.Time, settleErr error) *figures {
	f := p.figures(settled)
	f.SettleSeconds = settled.Sub(loaded).Seconds()
	if p.scenario.load == openLoad {
		f.OfferedPerSec = p.scenario.rate
	}
	if settleErr != nil {
		f.SettleError = settleErr.Error()
	}
	if d, ok := sys.(durable); ok {
		f.HistoryPerDelivery, f.HistoryByType = historyPerDelivery(ctx, d, p)
	}
	b.report(p.scenario, f)
	return f
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

// report prints a phase's line of progress.
func (b *bench) report(sc scenario, f *figures) {
	verdict := "ok"
	if !f.correct() {
		verdict = "FAILED"
	}
	if f.Shed > 0 {
		verdict = fmt.Sprintf("%d shed (503)  %s", f.Shed, verdict)
	}
	switch {
	case f.OrderChecked:
		verdict = fmt.Sprintf("%d overlapping requests, %d out of order  %s", f.Overlaps, f.OutOfOrder, verdict)
	case f.BatchSize > 0:
		verdict = fmt.Sprintf("%d/%d workflows completed, all ran at %.1f ev/s, drain %.1fs  %s",
			f.WorkflowsCompleted, f.Accepted, f.ProcessedPerSec, f.DrainSeconds, verdict)
	case sc.load == burstLoad:
		verdict = fmt.Sprintf("drain %.1fs  %s", f.DrainSeconds, verdict)
	}
	fmt.Fprintf(b.progress, "  %-21s %-14s %7d events %7d/%-7d delivered %8.1f ev/s %8.1f del/s  p50 %7.1f ms  p99 %7.1f ms  settled in %5.1fs  %s\n",
		sc.key, f.System, f.Accepted, f.Delivered, f.Expected, f.EventsPerSec, f.DeliveriesPerSec, f.LatencyMS.P50, f.LatencyMS.P99,
		f.SettleSeconds, verdict)
}
