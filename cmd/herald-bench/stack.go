package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	_ "github.com/lib/pq" // the schema of a postgres run is made and dropped here
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/devserver"
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

// stack is one Herald in this process, wired as `herald dev` wires it but
// with the store chosen: embedded Temporal, the store, one worker, the API
// on a loopback listener, and an admin key.
type stack struct {
	temporal *devserver.Server
	client   client.Client // Herald's: the API's and the worker's
	store    *store.Store
	apiURL   string
	key      string
	stops    []func()
}

// stackConfig says where each part keeps its state.
type stackConfig struct {
	storeKind    string // sqlite or postgres
	postgresURL  string
	dir          string // temporary files
	temporalFile bool
	eager        bool // api.Config.EagerStart
	log          *slog.Logger
}

func (s *stack) close() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

func startStack(ctx context.Context, c stackConfig) (*stack, error) {
	s := &stack{}
	if err := s.startTemporal(c); err != nil {
		return s, err
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		return s, err
	}
	s.stops = append(s.stops, func() { tel.Shutdown(context.Background()) })
	if s.client, err = dialTemporal(ctx, s.temporal.Address(), c.log, tel); err != nil {
		return s, err
	}
	s.stops = append(s.stops, s.client.Close)
	if err := worker.Prepare(ctx, s.client, "default", workflows.DefaultRetentionDays); err != nil {
		return s, err
	}
	if err := s.openStore(ctx, c); err != nil {
		return s, err
	}
	sender := delivery.NewSender(delivery.Options{UserAgent: "Herald-Webhooks/bench", Allow: netguard.Loopback, WrapTransport: tel.HTTPTransport})
	if err := s.startWorker(c.log, tel, sender); err != nil {
		return s, err
	}
	return s, s.startAPI(ctx, c, tel, sender)
}

func (s *stack) startTemporal(c stackConfig) error {
	file := ""
	if c.temporalFile {
		file = filepath.Join(c.dir, "temporal.db")
	}
	srv, err := devserver.Start(devserver.Options{UIPort: -1, DatabaseFile: file, SearchAttributes: workflows.SearchAttributes(), Logger: c.log})
	if err != nil {
		return err
	}
	s.temporal = srv
	s.stops = append(s.stops, srv.Stop)
	return nil
}

// dialTemporal connects as Herald's roles do: tracing interceptor and SDK
// metrics included, since production pays for them.
func dialTemporal(ctx context.Context, address string, log *slog.Logger, tel *telemetry.Telemetry) (client.Client, error) {
	opts := client.Options{HostPort: address, Namespace: "default", Logger: sdklog.NewStructuredLogger(log),
		ConnectionOptions: worker.ConnectionOptions(address)}
	if err := tel.InstrumentTemporal(&opts); err != nil {
		return nil, err
	}
	return client.DialContext(ctx, opts)
}

func (s *stack) openStore(ctx context.Context, c stackConfig) error {
	storeURL := "sqlite:" + filepath.Join(c.dir, "herald.db")
	if c.storeKind == "postgres" {
		u, drop, err := store.PostgresSchema(c.postgresURL, "herald_bench_")
		if err != nil {
			return err
		}
		s.stops = append(s.stops, drop)
		storeURL = u
	}
	st, err := store.Open(ctx, storeURL, secretbox.Ephemeral())
	if err != nil {
		return err
	}
	s.store = st
	s.stops = append(s.stops, func() { st.Close() })
	_, err = st.Migrate(ctx)
	return err
}

// startWorker runs one worker as `herald worker` does, with its default
// bound on attempts in flight.
func (s *stack) startWorker(log *slog.Logger, tel *telemetry.Telemetry, sender *delivery.Sender) error {
	acts := &activities.Activities{
		Store: s.store, Logger: log, Breaker: benchBreaker, Temporal: s.client, Metrics: tel.Metrics,
		Deliverer: &integrations.Deliverer{HTTP: sender, Mail: &integrations.Mailer{Allow: netguard.Loopback}},
		Publisher: &ingest.Publisher{Store: s.store, Temporal: s.client, Logger: log, EagerStart: true},
	}
	w := worker.New(s.client, acts, worker.Options{MaxConcurrentActivities: workerSlots})
	if err := w.Start(); err != nil {
		return err
	}
	s.stops = append(s.stops, w.Stop)
	return nil
}

// benchBreaker is the default circuit breaker without its failure-rate
// rule: scenario (d)'s flaky webhook refuses every event's first attempt,
// so in its first second, before any retry is due, nearly all of its
// attempts have failed, and the rule would pause it, as it should pause a
// receiver that fails like that in production.
var benchBreaker = activities.Breaker{Consecutive: activities.DefaultBreaker.Consecutive}

// workerSlots is `herald worker`'s default --max-concurrent-attempts; the
// naive baseline's worker gets as many.
const workerSlots = 200

// startAPI serves the API with http:// to loopback allowed, as in dev, and
// no per-key rate limit: the load generator is one key.
func (s *stack) startAPI(ctx context.Context, c stackConfig, tel *telemetry.Telemetry, sender *delivery.Sender) error {
	log := c.log
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	a := api.New(api.Config{
		URLPolicy: webhook.URLPolicy{AllowHTTPLoopback: true, Addresses: netguard.Policy{Allow: netguard.Loopback}},
		Logger:    log, Mailer: &integrations.Mailer{Allow: netguard.Loopback}, KeyRate: -1, Telemetry: tel,
		EagerStart: c.eager, // as herald dev: the worker shares this client
	}, s.store, s.client, sender)
	go a.Serve(ln)
	s.stops = append(s.stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Shutdown(ctx)
	})
	s.apiURL = "http://" + ln.Addr().String()
	secret, key := apikey.New("herald-bench", []apikey.Scope{apikey.Admin}, nil)
	s.key = secret
	return s.store.CreateAPIKey(ctx, key)
}
