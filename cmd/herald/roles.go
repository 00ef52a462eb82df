package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/dashboard"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/telemetry"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
	"github.com/loki-interceptor/herald/workflows"
)

// common are the flags every production role shares.
type common struct {
	databaseURL     string
	secretKey       string
	secretKeyFile   string
	temporalAddress string
	namespace       string
	allowCIDRs      string
	log             logFlags
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.databaseURL, "database-url", "", "Herald's database: postgres://… (or sqlite:<file>)")
	fs.StringVar(&c.secretKey, "encryption-key", "", "base64 32-byte key that encrypts stored secrets (openssl rand -base64 32); during a key rotation \"new,old\"")
	fs.StringVar(&c.secretKeyFile, "encryption-key-file", "", "file holding --encryption-key")
	// The names of earlier releases, kept working.
	fs.StringVar(&c.secretKey, "secret-key", "", "same as --encryption-key")
	fs.StringVar(&c.secretKeyFile, "secret-key-file", "", "same as --encryption-key-file")
	fs.StringVar(&c.temporalAddress, "temporal-address", "127.0.0.1:7233", "Temporal frontend host:port")
	fs.StringVar(&c.namespace, "namespace", "default", "Temporal namespace")
	fs.StringVar(&c.allowCIDRs, "allow-cidrs", "", "comma-separated CIDRs receivers may have besides global addresses (on-premise receivers, e.g. 10.20.0.0/16)")
	c.log.register(fs, "json")
}

func (c *common) box() (*secretbox.Box, error) {
	// Both names bind one flag, read in name order: the old one would win
	// silently, and a key rotation would never happen.
	if a, b := os.Getenv("HERALD_ENCRYPTION_KEY"), os.Getenv("HERALD_SECRET_KEY"); a != "" && b != "" && a != b {
		return nil, errors.New("HERALD_ENCRYPTION_KEY and HERALD_SECRET_KEY (its old name) are both set and differ: unset HERALD_SECRET_KEY")
	}
	raw := c.secretKey
	if c.secretKeyFile != "" {
		b, err := os.ReadFile(c.secretKeyFile)
		if err != nil {
			return nil, err
		}
		raw = string(b)
	}
	if raw == "" {
		return nil, errors.New("--encryption-key (HERALD_ENCRYPTION_KEY) or --encryption-key-file is required: it encrypts webhook secrets and credentials at rest")
	}
	key, old, err := secretbox.ParseKeys(raw)
	if err != nil {
		return nil, err
	}
	return secretbox.NewWithOld(key, old...)
}

func (c *common) openStore(ctx context.Context) (*store.Store, error) {
	box, err := c.storeKey()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, c.databaseURL, box)
}

// storeKey checks the store's settings and returns the box its secrets are
// sealed with.
func (c *common) storeKey() (*secretbox.Box, error) {
	if c.databaseURL == "" {
		return nil, errors.New("--database-url (HERALD_DATABASE_URL) is required")
	}
	if err := store.CheckURL(c.databaseURL); err != nil {
		return nil, err
	}
	return c.box()
}

// dialTemporal connects an SDK client. Its own logs go through slog, above
// info unless debugging: the SDK announces every poller otherwise.
// With telemetry, workflow starts, workflows and activities join the trace
// of the request that caused them, and the SDK's metrics go to /metrics.
func dialTemporal(ctx context.Context, address, namespace string, log *slog.Logger, tel *telemetry.Telemetry) (client.Client, error) {
	level := slog.LevelWarn
	if log.Enabled(ctx, slog.LevelDebug) {
		level = slog.LevelDebug
	}
	sdkLogger := slog.New(levelFilter{log.Handler(), level}).With("component", "temporal-sdk")
	opts := client.Options{HostPort: address, Namespace: namespace, Logger: sdklog.NewStructuredLogger(sdkLogger),
		ConnectionOptions: worker.ConnectionOptions(address)}
	if err := tel.InstrumentTemporal(&opts); err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", address, err)
	}
	return c, nil
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(attrs), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}

// breakerFlags configure the circuit breaker that pauses failing webhooks.
type breakerFlags struct {
	consecutive int
	rate        float64
	window      time.Duration
	minAttempts int
}

func (b *breakerFlags) register(fs *flag.FlagSet) {
	d := activities.DefaultBreaker
	fs.IntVar(&b.consecutive, "breaker-consecutive-failures", d.Consecutive, "pause a webhook after this many deliveries in a row failed for good (0: never)")
	fs.Float64Var(&b.rate, "breaker-failure-rate", d.FailureRate, "pause a webhook when this share of its attempts failed over --breaker-window (0: never)")
	fs.DurationVar(&b.window, "breaker-window", d.Window, "window of --breaker-failure-rate")
	fs.IntVar(&b.minAttempts, "breaker-min-attempts", d.MinAttempts, "attempts in the window before --breaker-failure-rate applies")
}

func (b *breakerFlags) breaker() activities.Breaker {
	return activities.Breaker{Consecutive: b.consecutive, FailureRate: b.rate, Window: b.window, MinAttempts: b.minAttempts}
}

// startWorker runs Herald's worker over k, as herald worker and herald dev
// both do: the activities with their store, Temporal client and senders.
func (k *conns) startWorker(b activities.Breaker, o worker.Options) (sdkworker.Worker, error) {
	acts := &activities.Activities{
		Store: k.store, Logger: k.log, Breaker: b, Temporal: k.temporal, Metrics: k.tel.Metrics,
		Deliverer: &integrations.Deliverer{HTTP: newSender(k.allow, k.tel), Mail: &integrations.Mailer{Allow: k.allow}},
		// Eager: event workflows a batch's IngestWorkflow starts get their
		// first task from this worker, which polls the same queue.
		Publisher: &ingest.Publisher{Store: k.store, Temporal: k.temporal, Logger: k.log, EagerStart: true},
	}
	w := worker.New(k.temporal, acts, o)
	return w, w.Start()
}

// newAPI builds the API over k, as herald api and herald dev both do; cfg
// holds what differs between them (the URL policy, the dashboard).
func (k *conns) newAPI(cfg api.Config, lim apiLimits) *api.Server {
	cfg.Logger, cfg.Telemetry = k.log, k.tel
	cfg.Mailer = &integrations.Mailer{Allow: k.allow}
	cfg.KeyRate, cfg.KeyBurst, cfg.SecretOverlap = lim.rate, lim.burst, lim.secretOverlap()
	return api.New(cfg, k.store, k.temporal, newSender(k.allow, k.tel))
}

// newSender sends to global addresses and those allow lists, nowhere else.
func newSender(allow []netip.Prefix, tel *telemetry.Telemetry) *delivery.Sender {
	return delivery.NewSender(delivery.Options{UserAgent: "Herald-Webhooks/" + version, Allow: allow, WrapTransport: tel.HTTPTransport})
}

func (c *common) allowed() ([]netip.Prefix, error) {
	allow, err := netguard.ParseAllow(c.allowCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--allow-cidrs: %w", err)
	}
	return allow, nil
}

// apiLimits are the API's per-key request rate and secret rotation overlap.
type apiLimits struct {
	rate    float64
	burst   int
	overlap time.Duration
}

func (l *apiLimits) register(fs *flag.FlagSet) {
	fs.Float64Var(&l.rate, "api-key-rate", api.DefaultKeyRate, "requests per second each API key may make (negative: no limit)")
	fs.IntVar(&l.burst, "api-key-burst", api.DefaultKeyBurst, "requests an API key may make at once above its rate")
	fs.DurationVar(&l.overlap, "secret-overlap", api.DefaultSecretOverlap, "how long a rotated-out webhook secret keeps signing, unless a rotation says (0: not at all)")
}

// secretOverlap is the flag's value as the API's configuration takes it.
func (l *apiLimits) secretOverlap() time.Duration {
	if l.overlap <= 0 {
		return api.NoSecretOverlap
	}
	return l.overlap
}

// dashboardFlags configure the browser dashboard and its sign-in.
type dashboardFlags struct {
	off            bool
	temporalUI     string
	insecureCookie bool
	maxAge         time.Duration
}

func (d *dashboardFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&d.off, "no-dashboard", false, "do not serve the browser dashboard at /ui/")
	fs.StringVar(&d.temporalUI, "temporal-ui-url", "", "the Temporal Web UI's base URL, e.g. https://temporal.example.com, for the dashboard's links to workflows")
	fs.BoolVar(&d.insecureCookie, "insecure-session-cookie", false, "let the dashboard's session cookie travel over plain http (only on a network you trust: it holds the API key)")
	fs.DurationVar(&d.maxAge, "session-max-age", api.DefaultSessionMaxAge, "how long a browser stays signed in (a key that expires sooner ends it sooner)")
}

func (d *dashboardFlags) apply(cfg *api.Config) {
	if !d.off {
		cfg.Dashboard = dashboard.Handler()
	}
	cfg.TemporalUI, cfg.InsecureSessionCookie, cfg.SessionMaxAge = d.temporalUI, d.insecureCookie, d.maxAge
}

// serveAPI serves until ctx ends, then drains requests in flight.
func serveAPI(ctx context.Context, srv *api.Server, ln net.Listener, log *slog.Logger) error {
	return serveUntil(ctx, func() error { return srv.Serve(ln) }, func(ctx context.Context) error {
		log.Info("API shutting down")
		return srv.Shutdown(ctx)
	}, 20*time.Second)
}

// serveUntil runs serve until it fails or ctx ends; then shutdown has
// grace to let what is in flight finish.
func serveUntil(ctx context.Context, serve func() error, shutdown func(context.Context) error, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return shutdown(sctx)
}

// conns are what the api, worker and dev roles run on.
type conns struct {
	// allow are the private networks receivers may be in (--allow-cidrs).
	allow    []netip.Prefix
	log      *slog.Logger
	store    *store.Store
	temporal client.Client
	tel      *telemetry.Telemetry
}

// parseAndConnect reads a role's flags, then connects it.
func (c *common) parseAndConnect(ctx context.Context, fs *flag.FlagSet, args []string, stderr io.Writer) (*conns, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return c.connect(ctx, stderr)
}

func (c *common) connect(ctx context.Context, stderr io.Writer) (*conns, error) {
	// Checked before the minute-long wait for the database, so a typo is
	// reported at once rather than after that wait or never.
	if err := telemetry.CheckEnv(nil); err != nil {
		return nil, err
	}
	allow, err := c.allowed()
	if err != nil {
		return nil, err
	}
	log, err := c.log.logger(stderr)
	if err != nil {
		return nil, err
	}
	box, err := c.storeKey()
	if err != nil {
		return nil, err
	}
	st, err := untilUp(ctx, log, "database", func() (*store.Store, error) { return store.Open(ctx, c.databaseURL, box) })
	if err != nil {
		return nil, err
	}
	tel, err := setupTelemetry(ctx, nil)
	if err == nil {
		err = observeStore(tel, st)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	tc, err := untilUp(ctx, log, "Temporal", func() (client.Client, error) {
		return dialTemporal(ctx, c.temporalAddress, c.namespace, log, tel)
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &conns{allow: allow, log: log, store: st, temporal: tc, tel: tel}, nil
}

// startupPatience is how long a role waits for the database or Temporal to
// answer at start: a role started while either restarts waits for it, one
// whose settings are wrong says so within a minute.
const startupPatience = time.Minute

// untilUp calls connect until it succeeds, for up to startupPatience.
func untilUp[T any](ctx context.Context, log *slog.Logger, what string, connect func() (T, error)) (T, error) {
	deadline := time.Now().Add(startupPatience)
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		v, err := connect()
		if err == nil || time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			return v, err
		}
		log.Warn("cannot connect yet; trying again", "to", what, "in", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return v, err
		}
	}
}

func (k *conns) close() {
	k.temporal.Close()
	shutdownTelemetry(k.tel, k.log)
	k.store.Close()
}

func runAPI(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("api", stderr)
	var c common
	c.register(fs)
	listen := fs.String("listen", ":8080", "address to serve the API on")
	insecure := fs.Bool("allow-insecure-urls", false, "accept http:// webhook URLs (otherwise https:// only)")
	maxPayload := fs.Int("max-payload-bytes", api.DefaultMaxPayloadBytes, "largest event payload accepted")
	var lim apiLimits
	lim.register(fs)
	var ui dashboardFlags
	ui.register(fs)
	k, err := c.parseAndConnect(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	defer k.close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	cfg := api.Config{
		URLPolicy:       webhook.URLPolicy{AllowHTTP: *insecure, Addresses: netguard.Policy{Allow: k.allow}},
		MaxPayloadBytes: *maxPayload,
		Namespace:       c.namespace,
	}
	ui.apply(&cfg)
	srv := k.newAPI(cfg, lim)
	k.log.Info("API listening", "address", ln.Addr().String(), "temporal", c.temporalAddress, "namespace", c.namespace)
	return serveAPI(ctx, srv, ln, k.log)
}

func runWorker(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("worker", stderr)
	var c common
	c.register(fs)
	concurrency := fs.Int("max-concurrent-attempts", 200, "attempts in flight at once on this worker")
	metricsAddr := fs.String("metrics-listen", "", "address to serve Prometheus /metrics on, e.g. :9090 (the API serves its own at /metrics)")
	var b breakerFlags
	b.register(fs)
	k, err := c.parseAndConnect(ctx, fs, args, stderr)
	if err != nil {
		return err
	}
	defer k.close()
	if *metricsAddr != "" {
		if err := serveMetrics(ctx, *metricsAddr, k.tel.Handler(), k.log); err != nil {
			return err
		}
	}
	w, err := k.startWorker(b.breaker(), worker.Options{MaxConcurrentActivities: *concurrency})
	if err != nil {
		return err
	}
	k.log.Info("worker running", "temporal", c.temporalAddress, "namespace", c.namespace)
	<-ctx.Done()
	k.log.Info("worker stopping; attempts in flight may finish")
	w.Stop()
	return nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	var c common
	c.register(fs)
	skipTemporal := fs.Bool("skip-temporal", false, "do not prepare the Temporal namespace (search attributes, maintenance schedule)")
	retention := fs.Int("retention-days", workflows.DefaultRetentionDays, "days attempt rows are kept before the maintenance schedule deletes them (daily rollups stay)")
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := c.log.logger(stderr)
	if err != nil {
		return err
	}
	if c.databaseURL == "" {
		return errors.New("--database-url (HERALD_DATABASE_URL) is required")
	}
	// Migrations touch no secret; any key opens the store for them.
	st, err := store.Open(ctx, c.databaseURL, secretbox.Ephemeral())
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database: %d migration(s) applied %v\n", len(applied), applied)
	if *skipTemporal {
		return nil
	}
	tc, err := dialTemporal(ctx, c.temporalAddress, c.namespace, log, nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := worker.Prepare(ctx, tc, c.namespace, *retention); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "temporal: search attributes and maintenance schedule ready on namespace %s\n", c.namespace)
	return nil
}
