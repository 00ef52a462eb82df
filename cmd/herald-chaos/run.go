package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// cluster is the run's processes and what they share.
type cluster struct {
	temporal *proc
	api      *proc
	workers  []*proc
	client   *client
	store    *sql.DB
	cleanup  []func()
}

func (k *cluster) stop() {
	for _, w := range k.workers {
		w.stop(syscall.SIGTERM, 40*time.Second)
	}
	if k.api != nil {
		k.api.stop(syscall.SIGTERM, 30*time.Second)
	}
	if k.temporal != nil {
		k.temporal.stop(syscall.SIGTERM, 30*time.Second)
	}
	if k.store != nil {
		k.store.Close()
	}
	for i := len(k.cleanup) - 1; i >= 0; i-- {
		k.cleanup[i]()
	}
}

func run(ctx context.Context, c *config) (*verdict, error) {
	var err error
	if c.herald, err = filepath.Abs(c.herald); err != nil {
		return nil, err
	}
	if c.workDir, err = os.MkdirTemp("", "herald-chaos-"); err != nil {
		return nil, err
	}
	k := &cluster{}
	defer k.stop()
	if err := k.start(ctx, c); err != nil {
		return nil, err
	}
	if !c.keep {
		k.cleanup = append(k.cleanup, func() { os.RemoveAll(c.workDir) })
	}
	return k.exercise(ctx, c)
}

// start brings up Temporal, migrates, makes an admin key, and starts the
// API and two workers, each a process of its own.
func (k *cluster) start(ctx context.Context, c *config) error {
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e9)
	storeURL, drop, err := createDatabase(ctx, c.pgBase, "herald_chaos_"+suffix)
	if err != nil {
		return err
	}
	if !c.keep {
		k.cleanup = append(k.cleanup, drop)
	}
	temporalAddr, err := freeAddr()
	if err != nil {
		return err
	}
	temporalMetrics, err := freeAddr()
	if err != nil {
		return err
	}
	env := []string{"HERALD_DATABASE_URL=" + storeURL, "HERALD_TEMPORAL_ADDRESS=" + temporalAddr,
		"HERALD_ENCRYPTION_KEY=" + randomKey(), "HERALD_ALLOW_CIDRS=127.0.0.1/32", "HERALD_LOG_FORMAT=json"}
	newProc := func(name string, args ...string) *proc {
		return &proc{name: name, bin: c.herald, args: args, env: env, dir: c.workDir}
	}
	k.temporal = newProc("temporal", k.temporalArgs(c, suffix, temporalAddr, temporalMetrics)...)
	k.temporal.ready, k.temporal.metrics = listening(temporalAddr), "http://"+temporalMetrics+"/metrics"
	logf("starting Temporal (%s) at %s; work directory %s", c.temporalDB, temporalAddr, c.workDir)
	if err := k.temporal.start(ctx); err != nil {
		return err
	}
	if err := k.heraldCommand(ctx, c, env, "migrate"); err != nil {
		return err
	}
	key, err := k.adminKey(ctx, c, env)
	if err != nil {
		return err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	k.api = newProc("api", "api", "--listen", apiAddr, "--allow-insecure-urls", "--api-key-rate", "-1")
	k.api.ready = answering("http://" + apiAddr + "/healthz")
	k.api.metrics = "http://" + apiAddr + "/metrics"
	if err := k.api.start(ctx); err != nil {
		return err
	}
	if err := k.startWorkers(ctx, newProc); err != nil {
		return err
	}
	k.client = &client{base: "http://" + apiAddr, key: key, http: httpClient}
	k.store, err = sql.Open("postgres", storeURL)
	return err
}

// temporalArgs are `herald temporal`'s arguments: its state in a SQLite
// file of the work directory, or in PostgreSQL databases dropped at the
// end unless kept.
func (k *cluster) temporalArgs(c *config, suffix, addr, metrics string) []string {
	args := []string{"temporal", "--port", portOf(addr), "--ui-port", "-1", "--metrics-listen", metrics}
	if c.temporalDB != "postgres" {
		return append(args, "--db-file", filepath.Join(c.workDir, "temporal.db"))
	}
	name := "temporal_chaos_" + suffix
	if !c.keep {
		k.cleanup = append(k.cleanup, dropDatabases(c.pgBase, name, name+"_visibility"))
	}
	return append(args, "--postgres-url", c.pgBase+"/"+name)
}

// startWorkers starts two workers, each with its metrics endpoint.
func (k *cluster) startWorkers(ctx context.Context, newProc func(name string, args ...string) *proc) error {
	for i := range 2 {
		metrics, err := freeAddr()
		if err != nil {
			return err
		}
		// The failure-rate breaker would pause webhooks the faults make fail;
		// the run is about what Herald does when it keeps delivering.
		w := newProc(fmt.Sprintf("worker-%d", i+1), "worker", "--metrics-listen", metrics, "--breaker-failure-rate", "0")
		w.ready, w.metrics = listening(metrics), "http://"+metrics+"/metrics"
		if err := w.start(ctx); err != nil {
			return err
		}
		k.workers = append(k.workers, w)
	}
	return nil
}

func (k *cluster) heraldCommand(ctx context.Context, c *config, env []string, args ...string) error {
	var last []byte
	for range 30 {
		cmd := exec.CommandContext(ctx, c.herald, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		last = out
		time.Sleep(time.Second) // Temporal may still be opening its namespace
	}
	return fmt.Errorf("herald %s: %s", strings.Join(args, " "), last)
}

func (k *cluster) adminKey(ctx context.Context, c *config, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, c.herald, "apikey", "create", "--name", "chaos", "--scopes", "admin")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apikey create: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// exercise creates the webhooks, publishes while injecting faults, waits
// for every delivery, and judges.
func (k *cluster) exercise(ctx context.Context, c *config) (*verdict, error) {
	p := newPublished()
	hooks, err := k.hooks(ctx, p, c)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, h := range hooks {
			h.rcv.close()
		}
	}()
	began := time.Now()
	in := &injector{sched: c.sched, workers: k.workers, api: k.api, temporal: k.temporal, down: hooks[0].rcv, counts: map[string]int{}}
	faultCtx, stopFaults := context.WithCancel(ctx)
	faultsDone := make(chan struct{})
	go func() { in.run(faultCtx, logf); close(faultsDone) }()
	stuck := newStuckWatch(k.store, c.grace, p, hooks)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go stuck.run(watchCtx)

	go progress(watchCtx, p, hooks)
	var soak *sampler
	if c.soak {
		soak = &sampler{k: k, c: c, interval: time.Minute}
		go soak.run(watchCtx)
	}
	logf("publishing %d events at %.0f/s to 3 webhooks (%s)", c.events, c.rate, strings.Join(c.modes, ", "))
	k.client.drive(ctx, c.events, c.rate, p)
	logf("published: %d accepted; faults stop once the scheduled ones are done", p.published)
	waitOneOffs(ctx, c.sched, began)
	stopFaults()
	<-faultsDone
	logf("waiting up to %s for every delivery", c.drain)
	k.await(ctx, p, hooks, c.drain)
	stopWatch()

	v := judge(p, hooks, in.killTimes())
	v.Elapsed, v.Faults = time.Since(began), in.counts
	for _, e := range in.errs {
		v.FaultErrors = append(v.FaultErrors, e.Error())
	}
	v.StuckMax, v.NeverStartedMax = stuck.worstSeen()
	// Rows are read with PostgreSQL back for sure; it may just have restarted.
	readCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	end, err := retry(readCtx, func() (stuckSample, error) { return stuck.count(readCtx) })
	if err != nil {
		return nil, err
	}
	v.StuckAtEnd, v.NeverStartedAtEnd = end.total(), len(end.unstarted)
	if soak != nil {
		v.Soak = soak.report(began)
	}
	if _, err := retry(readCtx, func() (int, error) { return 0, compareRows(readCtx, k.store, p, hooks, v) }); err != nil {
		return nil, err
	}
	return v, nil
}

// hooks makes three webhooks with different retry strategies, one in each
// delivery mode given, each with its misbehaving receiver (in a soak, one
// that refuses a tenth of requests). The first is the one that goes down.
func (k *cluster) hooks(ctx context.Context, p *published, c *config) ([]*hook, error) {
	specs := []map[string]any{
		{"retry_strategy": "exponential_backoff", "max_retries": 20, "retry_delay_seconds": 2, "backoff_multiplier": 2, "max_delay_seconds": 30},
		{"retry_strategy": "linear_backoff", "max_retries": 20, "retry_delay_seconds": 1, "max_delay_seconds": 20},
		{"retry_strategy": "fixed_interval", "max_retries": 20, "retry_delay_seconds": 3},
	}
	var hooks []*hook
	for i, spec := range specs {
		spec["delivery_mode"] = c.modes[i%len(c.modes)]
		f := mixed
		switch {
		case c.soak:
			f = soakFaults
		case spec["delivery_mode"] == "ordered":
			// One at a time, a fifth refused with 3-second retries would
			// deliver about one event a second, a tenth of what is published.
			f, spec["retry_delay_seconds"] = orderedFaults, 1
		}
		r, err := newReceiver(fmt.Sprintf("r%d", i+1), f, p.payload)
		if err != nil {
			return nil, err
		}
		h, err := k.client.createHook(ctx, r, spec)
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, h)
	}
	return hooks, nil
}

// await returns once every accepted event reached every receiver and
// Herald has recorded as much (a receiver may have answered a request whose
// worker died before reading the answer; the next one sends it again), or
// after limit.
func (k *cluster) await(ctx context.Context, p *published, hooks []*hook, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if v := judge(p, hooks, nil); v.Lost == 0 && k.settled(ctx, v.Expected) {
			return
		}
		time.Sleep(time.Second)
	}
}

// settled is true when Herald has a delivered row for every expected pair.
func (k *cluster) settled(ctx context.Context, expected int) bool {
	var n int
	err := k.store.QueryRowContext(ctx, `SELECT count(DISTINCT (event_id, webhook_id)) FROM deliveries WHERE status = 'delivered'`).Scan(&n)
	return err == nil && n >= expected
}

func waitOneOffs(ctx context.Context, s schedule, began time.Time) {
	last := max(s.apiRestart, s.temporalRestart, s.postgresRestart, s.receiverDown+s.receiverDownFor)
	select {
	case <-time.After(time.Until(began.Add(last + time.Second))):
	case <-ctx.Done():
	}
}

func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	for {
		v, err := f()
		if err == nil || ctx.Err() != nil {
			return v, errors.Join(err, ctx.Err())
		}
		time.Sleep(time.Second)
	}
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func dropDatabases(base string, names ...string) func() {
	return func() {
		db, err := sql.Open("postgres", base+"/postgres?sslmode=disable")
		if err != nil {
			return
		}
		defer db.Close()
		for _, n := range names {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + n + " WITH (FORCE)")
		}
	}
}

// progress logs how far the run is every ten seconds.
func progress(ctx context.Context, p *published, hooks []*hook) {
	for {
		select {
		case <-time.After(10 * time.Second):
		case <-ctx.Done():
			return
		}
		v := judge(p, hooks, nil)
		logf("progress: %d/%d events accepted, %d/%d deliveries, refusals %s", v.Accepted, v.Events, v.Delivered, v.Expected, sortedCounts(v.Refusals))
	}
}
