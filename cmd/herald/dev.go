package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/dashboard"
	"github.com/loki-interceptor/herald/devserver"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/telemetry"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/worker"
	"github.com/loki-interceptor/herald/workflows"
)

type devFlags struct {
	dataDir      string
	ephemeral    bool
	apiAddr      string
	ip           string
	temporalPort int
	uiPort       int
	namespace    string
	insecure     bool
	allowCIDRs   string
	limits       apiLimits
	traceStdout  bool
	retention    int
	breaker      breakerFlags
	log          logFlags
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseDevFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	box, dataDir, err := f.secrets()
	if err != nil {
		return err
	}
	started := time.Now()
	srv, err := f.startTemporal(dataDir, log)
	if err != nil {
		return err
	}
	defer srv.Stop()
	tel, tc, closeAll, err := f.connect(ctx, srv.Address(), stdout, log)
	if err != nil {
		return err
	}
	defer closeAll()
	st, err := f.openStore(ctx, dataDir, box)
	if err != nil {
		return err
	}
	defer st.Close()
	key, keyFile, newKey, err := devAdminKey(ctx, st, dataDir)
	if err != nil {
		return err
	}
	if err := observeStore(tel, st); err != nil {
		return err
	}
	allow, err := f.allowed()
	if err != nil {
		return err
	}
	k := &conns{allow: allow, log: log, store: st, temporal: tc, tel: tel}
	w, err := k.startWorker(f.breaker.breaker(), worker.Options{})
	if err != nil {
		return err
	}
	defer w.Stop()
	ln, err := net.Listen("tcp", f.apiAddr)
	if err != nil {
		return fmt.Errorf("API address: %w", err)
	}
	signIn, err := devSignIn(key)
	if err != nil {
		return err
	}
	apiSrv := k.newAPI(f.apiConfig(allow, srv, ln.Addr(), signIn), f.limits)
	f.banner(stdout, time.Since(started), ln.Addr().String(), srv, dataDir, keyLine(key, keyFile, newKey), signIn.Code)
	return serveAPI(ctx, apiSrv, ln, log)
}

// connect starts telemetry and dials the embedded Temporal, its namespace
// prepared; closeAll undoes both.
func (f *devFlags) connect(ctx context.Context, address string, stdout io.Writer, log *slog.Logger) (*telemetry.Telemetry, client.Client, func(), error) {
	var traceTo io.Writer
	if f.traceStdout {
		traceTo = stdout
	}
	tel, err := setupTelemetry(ctx, traceTo)
	if err != nil {
		return nil, nil, nil, err
	}
	tc, err := dialTemporal(ctx, address, f.namespace, log, tel)
	if err != nil {
		shutdownTelemetry(tel, log)
		return nil, nil, nil, err
	}
	closeAll := func() {
		tc.Close()
		shutdownTelemetry(tel, log)
	}
	// A data directory from an older Herald may lack newer attributes.
	if err := worker.Prepare(ctx, tc, f.namespace, f.retention); err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return tel, tc, closeAll, nil
}

func parseDevFlags(args []string, stderr io.Writer) (*devFlags, error) {
	fs := newFlagSet("dev", stderr)
	f := &devFlags{}
	fs.StringVar(&f.dataDir, "data-dir", ".herald", "where Herald and Temporal keep their SQLite files and the secret key")
	fs.BoolVar(&f.ephemeral, "ephemeral", false, "keep everything in memory; nothing survives a restart")
	fs.StringVar(&f.apiAddr, "api-addr", "127.0.0.1:8080", "address of Herald's API")
	fs.StringVar(&f.ip, "ip", "127.0.0.1", "address Temporal and its UI listen on")
	fs.IntVar(&f.temporalPort, "temporal-port", 7233, "Temporal frontend (gRPC) port; 0 picks a free one")
	fs.IntVar(&f.uiPort, "ui-port", 8233, "Temporal Web UI port; 0 picks a free one, -1 disables the UI")
	fs.StringVar(&f.namespace, "namespace", "default", "Temporal namespace")
	fs.BoolVar(&f.insecure, "allow-insecure-urls", false, "accept http:// webhook URLs to any host (localhost is always accepted in dev)")
	fs.StringVar(&f.allowCIDRs, "allow-cidrs", "", "comma-separated CIDRs receivers may have besides global addresses and loopback")
	f.limits.register(fs)
	fs.BoolVar(&f.traceStdout, "trace-stdout", false, "print every span (API request, workflow, activity, HTTP attempt) to stdout")
	fs.IntVar(&f.retention, "retention-days", workflows.DefaultRetentionDays, "days attempt rows are kept (daily rollups stay)")
	f.breaker.register(fs)
	f.log.register(fs, "text")
	return f, parse(fs, args)
}

// startTemporal starts the embedded Temporal server, its state in the data
// directory unless ephemeral.
func (f *devFlags) startTemporal(dataDir string, log *slog.Logger) (*devserver.Server, error) {
	file := ""
	if !f.ephemeral {
		file = filepath.Join(dataDir, "temporal.db")
	}
	return devserver.Start(devserver.Options{
		IP: f.ip, Port: f.temporalPort, UIPort: f.uiPort, Namespace: f.namespace,
		DatabaseFile: file, SearchAttributes: workflows.SearchAttributes(),
		Logger: log, LogLevel: devserver.ServerLogLevel(log),
	})
}

// openStore opens and migrates Herald's SQLite store, in the data
// directory unless ephemeral.
func (f *devFlags) openStore(ctx context.Context, dataDir string, box *secretbox.Box) (*store.Store, error) {
	url := "sqlite::memory:"
	if !f.ephemeral {
		url = "sqlite:" + filepath.Join(dataDir, "herald.db")
	}
	st, err := store.Open(ctx, url, box)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// allowed is where receivers may be: loopback, so that receivers on this
// machine work (the banner says so), and --allow-cidrs; anything else
// internal stays refused.
func (f *devFlags) allowed() ([]netip.Prefix, error) {
	allow, err := netguard.ParseAllow(f.allowCIDRs)
	if err != nil {
		return nil, fmt.Errorf("--allow-cidrs: %w", err)
	}
	return append(allow, netguard.Loopback...), nil
}

// keyLine is the banner's line about the admin key: the key itself when it
// was just made, else where it is kept.
func keyLine(key, keyFile string, newKey bool) string {
	if !newKey {
		return keyFile + "  (export HERALD_API_KEY=$(cat " + keyFile + "))"
	}
	line := key + "  (admin; shown once"
	if keyFile != "" {
		line += ", kept in " + keyFile
	}
	return line + ")"
}

// apiConfig is the API as dev runs it: loopback receivers allowed, the
// dashboard on, its links to the embedded Temporal UI.
func (f *devFlags) apiConfig(allow []netip.Prefix, srv *devserver.Server, addr net.Addr, signIn *api.SignInCode) api.Config {
	return api.Config{
		URLPolicy:  webhook.URLPolicy{AllowHTTPLoopback: true, AllowHTTP: f.insecure, Addresses: netguard.Policy{Allow: allow}},
		EagerStart: true,
		Dashboard:  dashboard.Handler(), TemporalUI: srv.UIURL(), Namespace: f.namespace, SignIn: signIn,
		// dev serves plain http: a Secure cookie would never come back.
		// Only on loopback, though, where the key crosses no network.
		InsecureSessionCookie: onLoopback(addr),
	}
}

// devSignInFor is how long the banner's dashboard link signs in (once).
const devSignInFor = 15 * time.Minute

// devSignIn makes the one-time code of the banner's dashboard link, which
// signs the browser that opens it in as the dev admin.
func devSignIn(key string) (*api.SignInCode, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &api.SignInCode{Code: base64.RawURLEncoding.EncodeToString(b), Key: key, Expires: time.Now().Add(devSignInFor)}, nil
}

func onLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// banner tells the newcomer what runs where.
func (f *devFlags) banner(w io.Writer, took time.Duration, apiAddr string, srv *devserver.Server, dataDir, keyLine, signInCode string) {
	where, ui := dataDir, srv.UIURL()+"/namespaces/"+f.namespace+"/workflows"
	if f.ephemeral {
		where = "in memory (--ephemeral): nothing is kept"
	}
	if srv.UIURL() == "" {
		ui = "disabled"
	}
	fmt.Fprintf(w, `
Herald is running (started in %.1fs).

  Dashboard    http://%s/ui/#sign-in=%s
               (signs you in as the admin; works once, for %d minutes)
  API          http://%s/api/v1   (metrics: /metrics)
  API key      %s
  Temporal UI  %s
  Temporal     %s  (namespace %s)
  Data         %s

Receivers on loopback (127.0.0.0/8, ::1) are allowed, and http:// for them
(dev only); other internal addresses are refused unless --allow-cidrs.
Try:  curl -s -H "Authorization: Bearer $HERALD_API_KEY" http://%s/api/v1/event-types
Stop: Ctrl-C
`, took.Seconds(), apiAddr, signInCode, int(devSignInFor.Minutes()), apiAddr, keyLine, ui, srv.Address(), f.namespace, where, apiAddr)
}

// secrets returns the box for stored secrets and the absolute data
// directory: a key kept in the data directory, or a throwaway one.
func (f *devFlags) secrets() (*secretbox.Box, string, error) {
	if f.ephemeral {
		return secretbox.Ephemeral(), "", nil
	}
	dir, err := filepath.Abs(f.dataDir)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	key, err := secretbox.LoadOrCreateKeyFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		return nil, "", err
	}
	box, err := secretbox.New(key)
	return box, dir, err
}
