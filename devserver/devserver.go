// Package devserver runs a complete Temporal server (frontend, history,
// matching, worker services on SQLite) and its Web UI inside the calling
// process, so `herald dev` and the end-to-end tests need nothing installed.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/loki-interceptor/herald/freeport"
	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	otelsdktrace "go.opentelemetry.io/otel/sdk/trace"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/fx"
)

const clusterName = "active"

// serverModule is Temporal's own, but for its trace exporters: the
// embedded server exports none of its own spans. It would read
// OTEL_TRACES_EXPORTER, which Herald's telemetry reads too, and refuse
// every value but otlp (console, the standard one for trying tracing out,
// stopped the server); and its internal spans are not what a Herald user
// follows: Herald's own trace runs from the API through the workflow to
// the receiver.
var serverModule = fx.Options(temporal.TopLevelModule, fx.Replace([]otelsdktrace.SpanExporter(nil)))

// Options says where the server listens and what it keeps.
type Options struct {
	IP        string // defaults to 127.0.0.1
	Port      int    // frontend gRPC port; 0 picks a free one
	UIPort    int    // Web UI port; 0 picks a free one, -1 disables the UI
	Namespace string // created at start if missing

	// DatabaseFile is the SQLite file holding all Temporal state. Empty keeps
	// everything in memory: it is gone when the process exits.
	DatabaseFile string
	// PostgresURL, when set, keeps Temporal's state in PostgreSQL instead:
	// postgres://user@host:port/database, visibility in "<database>_visibility".
	// Both databases are created and migrated as needed.
	PostgresURL string

	// SearchAttributes are created with the namespace so that the very first
	// workflow can already carry them.
	SearchAttributes map[string]enumspb.IndexedValueType

	Logger *slog.Logger
	// LogLevel is the lowest level of the server's own logs that reach Logger
	// (which drops what is below its own level too). nil means warn: the
	// server is chatty at info (services, membership, shards starting) and
	// floods at debug. `herald dev` and `herald temporal` pass info when run
	// with --log-level debug; see ServerLogLevel.
	LogLevel slog.Leveler
}

// ServerLogLevel is the level of the server's own logs that suits a Herald
// logger: info when it shows debug lines, else warn. The server's own debug
// lines are never wanted: a flood about its internals.
func ServerLogLevel(l *slog.Logger) slog.Level {
	if l != nil && l.Enabled(context.Background(), slog.LevelDebug) {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// Server is a running embedded Temporal server.
type Server struct {
	server   temporal.Server
	logLevel *slog.LevelVar
	ui       *uiserver.Server
	address  string
	uiURL    string
	uiDone   chan error
	stopOnce bool
}

// historyCacheRuns bounds the server's cache of workflow state, in runs.
const historyCacheRuns = 8192

// dynamicConfig is the server's configuration beyond its defaults.
func dynamicConfig() dynamicconfig.StaticClient {
	return dynamicconfig.StaticClient{
		// Let the UI's list views refresh without hitting the default limit.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// The cache keeps a closed run's state until it is pushed out, and
		// by default it holds 128,000 runs and never drops one for age: each
		// run a stream closes to continue as new stayed (with the ids of
		// every signal it took), and a per-event burst left thousands, so
		// the server grew by 50–140 MiB an hour under a steady load. Bound
		// it, and drop what nobody touched for ten minutes.
		//
		// Bound by count, not by size: Temporal v1.32's size-based limit
		// measures a run's buffered events after releasing its lock, racing
		// the next holder's write of them, which then fails ("size
		// mismatch"; docs/reliability.md, Soak).
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key(): historyCacheRuns,
		dynamicconfig.HistoryCacheTTL.Key():              10 * time.Minute,
		dynamicconfig.HistoryCacheBackgroundEvict.Key(): dynamicconfig.CacheBackgroundEvictSettings{
			Enabled: true, LoopInterval: time.Minute, MaxEntryPerCall: 1024},
	}
}

// Start builds, migrates (on a new file) and starts the server and its UI. It
// returns once the frontend accepts calls.
func Start(opts Options) (*Server, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	httpPort, err := freeport.Pick(opts.IP)
	if err != nil {
		return nil, err
	}
	conf, err := opts.serverConfig(httpPort)
	if err != nil {
		return nil, err
	}
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range conf.Services {
		hosts[primitives.ServiceName(name)] = static.SingleLocalHost(net.JoinHostPort(opts.IP, strconv.Itoa(svc.RPC.GRPCPort)))
	}
	level := &slog.LevelVar{}
	level.Set(opts.LogLevel.Level())
	srv, err := temporal.NewServerFx(serverModule,
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(newLogAdapter(opts.Logger, level)),
		temporal.WithDynamicConfigClient(dynamicConfig()),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{server: srv, logLevel: level, address: net.JoinHostPort(opts.IP, strconv.Itoa(opts.Port))}
	if opts.UIPort > 0 {
		if err := s.startUI(opts); err != nil {
			srv.Stop()
			return nil, err
		}
	}
	return s, nil
}

// Address is the frontend's host:port for SDK clients.
func (s *Server) Address() string { return s.address }

// UIURL is the Web UI's base URL, or "" when the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Stop stops the UI and the server. It is safe to call more than once.
func (s *Server) Stop() {
	if s.stopOnce {
		return
	}
	s.stopOnce = true
	// Stopping services warn about each other going away; that is expected.
	s.logLevel.Set(slog.LevelError + 1)
	if s.ui != nil {
		s.ui.Stop()
	}
	s.server.Stop()
}

func (o *Options) fill() error {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LogLevel == nil {
		o.LogLevel = slog.LevelWarn
	}
	if o.Port == 0 {
		p, err := freeport.Pick(o.IP)
		if err != nil {
			return err
		}
		o.Port = p
	} else if err := freeport.Check(o.IP, o.Port); err != nil {
		return fmt.Errorf("temporal frontend port: %w", err)
	}
	if o.UIPort == 0 {
		p, err := freeport.Pick(o.IP)
		if err != nil {
			return err
		}
		o.UIPort = p
	} else if o.UIPort > 0 {
		if err := freeport.Check(o.IP, o.UIPort); err != nil {
			return fmt.Errorf("temporal UI port: %w", err)
		}
	}
	return nil
}

func (o *Options) serverConfig(httpPort int) (*config.Config, error) {
	store, visibility, err := o.stores()
	if err != nil {
		return nil, err
	}
	frontend := net.JoinHostPort(o.IP, strconv.Itoa(o.Port))
	conf := &config.Config{}
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.DefaultStore = "default"
	conf.Persistence.VisibilityStore = "visibility"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"default": {SQL: store}, "visibility": {SQL: visibility}}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
				// Temporal wants a UUID; a fixed one keeps a data directory's identity.
				ClusterID: "6e0f6c1a-5d1e-4c55-9c1b-6865726c6400",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = o.IP
		if name == "frontend" {
			svc.RPC.GRPCPort = o.Port
			svc.RPC.HTTPPort = httpPort
		} else {
			p, err := freeport.Pick(o.IP)
			if err != nil {
				return nil, err
			}
			svc.RPC.GRPCPort = p
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontend
	return conf, nil
}

// stores are the SQL stores of Temporal's state and of its visibility
// records, with the namespace created in them.
func (o *Options) stores() (store, visibility *config.SQL, err error) {
	if o.PostgresURL != "" {
		store, visibility, err = postgresStores(o.PostgresURL)
	} else {
		store, visibility, err = o.sqliteStores()
	}
	if err != nil {
		return nil, nil, err
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, nil, err
	}
	// The namespace record is plain SQL: the same code writes it to SQLite
	// and to PostgreSQL.
	if err := sqliteschema.CreateNamespaces(store, ns); err != nil {
		return nil, nil, fmt.Errorf("create namespace %s: %w", o.Namespace, err)
	}
	return store, visibility, nil
}

// sqliteStores are Temporal's state and its visibility records in two
// SQLite databases: each has one connection, and visibility's writes
// (every workflow's start, search attributes and close, each indexed many
// ways) would otherwise queue behind every history write. A data directory
// from before the split keeps both in its one file.
func (o *Options) sqliteStores() (store, visibility *config.SQL, err error) {
	if o.DatabaseFile == "" {
		// Each in-memory server gets its own databases, so tests can run several.
		name := "herald-" + strconv.FormatUint(rand.Uint64(), 36)
		return memoryStore(name), memoryStore(name + "-visibility"), nil
	}
	visibilityFile := strings.TrimSuffix(o.DatabaseFile, filepath.Ext(o.DatabaseFile)) + "-visibility" + filepath.Ext(o.DatabaseFile)
	_, err = os.Stat(visibilityFile)
	combined := errors.Is(err, os.ErrNotExist) && exists(o.DatabaseFile)
	if store, err = fileStore(o.DatabaseFile); err != nil || combined {
		return store, store, err
	}
	visibility, err = fileStore(visibilityFile)
	return store, visibility, err
}

func memoryStore(name string) *config.SQL {
	return &config.SQL{PluginName: sqliteplugin.PluginName, DatabaseName: name,
		ConnectAttributes: map[string]string{"mode": "memory", "cache": "shared"}}
}

// fileStore is a SQLite file, created with Temporal's schema if missing.
func fileStore(file string) (*config.SQL, error) {
	// Keys that are not query parameters become PRAGMAs as written: WAL,
	// with every commit synced, so an event answered 202 survives a power
	// cut too.
	conf := &config.SQL{PluginName: sqliteplugin.PluginName, DatabaseName: file,
		ConnectAttributes: map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "full"}}
	if exists(file) {
		return conf, nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, err
	}
	if err := sqliteschema.SetupSchema(conf); err != nil {
		return nil, fmt.Errorf("create temporal schema in %s: %w", file, err)
	}
	return conf, nil
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

func (s *Server) startUI(o Options) error {
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                o.IP,
		Port:                o.UIPort,
		TemporalGRPCAddress: s.address,
		EnableUI:            true,
		DefaultNamespace:    o.Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		DisableNewsFetch:    true,
	}))
	s.uiURL = "http://" + net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort))
	s.uiDone = make(chan error, 1)
	go func() { s.uiDone <- s.ui.Start() }()
	// The UI server's Start blocks and only reports failure by exiting, so
	// wait until it answers before calling the start a success.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort)), 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case err := <-s.uiDone:
			return fmt.Errorf("temporal UI stopped at start: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("temporal UI did not start listening within 10s")
}
