package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/netguard/dnstest"
)

// recorder is a dialer hook listing the addresses actually connected to.
type recorder struct {
	mu    sync.Mutex
	addrs []string
}

func (r *recorder) dialer() *net.Dialer {
	return &net.Dialer{Timeout: 2 * time.Second, ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.addrs = append(r.addrs, address)
		return nil
	}}
}

func (r *recorder) dialed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.addrs...)
}

func listenLoopback(t *testing.T) (*net.TCPListener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return ln.(*net.TCPListener), port
}

// assertNoConnection fails if a connection reached ln. A refused dial
// returns before any connect(2), so a connection would already be queued.
func assertNoConnection(t *testing.T, ln *net.TCPListener) {
	t.Helper()
	ln.SetDeadline(time.Now().Add(100 * time.Millisecond))
	defer ln.SetDeadline(time.Time{})
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatal("the loopback listener got a connection")
	}
}

func TestDialContextRefusesNameResolvingToLoopback(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{"evil.test": {netip.MustParseAddr("127.0.0.1")}})
	ln, port := listenLoopback(t)
	rec := &recorder{}
	ctx := context.Background()

	conn, err := Policy{}.DialContext(rec.dialer(), dns.Resolver())(ctx, "tcp", "evil.test:"+port)
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("dial = %v, %v; want a *BlockedError", conn, err)
	}
	if be.Addr != netip.MustParseAddr("127.0.0.1") || be.Host != "evil.test" || be.Reason != "loopback" {
		t.Errorf("BlockedError = %+v, want 127.0.0.1 for evil.test, loopback", be)
	}
	if dns.Queries() == 0 {
		t.Error("the test DNS server was never asked: the name was not resolved through it")
	}
	if got := rec.dialed(); len(got) != 0 {
		t.Errorf("connect attempted to %v", got)
	}
	assertNoConnection(t, ln)

	// herald dev: the same name, loopback allowed, reaches the listener.
	conn, err = Policy{Allow: Loopback}.DialContext(rec.dialer(), dns.Resolver())(ctx, "tcp", "evil.test:"+port)
	if err != nil {
		t.Fatalf("dial with loopback allowed: %v", err)
	}
	conn.Close()
	ln.SetDeadline(time.Now().Add(5 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("the allowed dial did not reach the listener: %v", err)
	}
	c.Close()
}

func TestDialContextDialsOnlyAllowedAnswers(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{"mixed.test": {
		netip.MustParseAddr("10.255.255.1"),
		netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("169.254.169.254"),
	}})
	ln, port := listenLoopback(t)
	rec := &recorder{}
	p := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	conn, err := p.DialContext(rec.dialer(), dns.Resolver())(context.Background(), "tcp4", "mixed.test:"+port)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.Close()
	if got := rec.dialed(); len(got) != 1 || got[0] != "127.0.0.1:"+port {
		t.Errorf("connected to %v, want only 127.0.0.1:%s", got, port)
	}
	c, err := ln.Accept()
	if err == nil {
		c.Close()
	}
}

func TestDialContextChecksLiteralsWithoutDNS(t *testing.T) {
	dns := dnstest.Start(t, nil)
	ln, port := listenLoopback(t)
	rec := &recorder{}
	dial := Policy{}.DialContext(rec.dialer(), dns.Resolver())
	hosts := map[string]string{
		"127.0.0.1":           "loopback",
		"[::ffff:127.0.0.1]":  "IPv4-mapped",
		"2130706433":          "loopback",
		"0x7F.1":              "loopback",
		"0177.0.0.1":          "loopback",
		"127.0.0.1.":          "loopback",
		"169.254.169.254":     "cloud metadata",
		"[::1]":               "loopback",
		"[fe80::1%lo]":        "link-local",
		"[64:ff9b::7f00:1]":   "NAT64",
		"":                    "unspecified (empty host)",
		"0":                   "unspecified",
		"[::ffff:0.0.0.0]":    "unspecified",
		"[2002:7f00:0001::1]": "6to4",
	}
	for host, reason := range hosts {
		_, err := dial(context.Background(), "tcp", net.JoinHostPort(strings.Trim(host, "[]"), port))
		var be *BlockedError
		if !errors.As(err, &be) || !strings.Contains(be.Reason, reason) {
			t.Errorf("dial %q = %v, want blocked (%s)", host, err, reason)
		}
	}
	if n := dns.Queries(); n != 0 {
		t.Errorf("literals sent %d DNS queries", n)
	}
	if got := rec.dialed(); len(got) != 0 {
		t.Errorf("connect attempted to %v", got)
	}
	assertNoConnection(t, ln)
}

func TestDialContextNetworks(t *testing.T) {
	dns := dnstest.Start(t, map[string][]netip.Addr{"evil.test": {netip.MustParseAddr("127.0.0.1")}})
	_, port := listenLoopback(t)
	ctx := context.Background()
	dial := Policy{Allow: Loopback}.DialContext(nil, dns.Resolver())
	if _, err := dial(ctx, "udp", "8.8.8.8:53"); err == nil || IsBlocked(err) {
		t.Errorf("udp dial = %v, want an unsupported-network error", err)
	}
	if _, err := dial(ctx, "tcp6", "evil.test:"+port); err == nil || IsBlocked(err) {
		t.Errorf("tcp6 dial of an IPv4-only name = %v, want a no-address error", err)
	}
	if _, err := dial(ctx, "tcp6", "127.0.0.1:"+port); err == nil {
		t.Error("tcp6 dial of an IPv4 literal succeeded")
	}
	conn, err := dial(ctx, "tcp4", "evil.test:"+port)
	if err != nil {
		t.Fatalf("tcp4 dial: %v", err)
	}
	conn.Close()
}

// TestDialContextThroughHTTPClient is the end-to-end form: an HTTP client
// using the guard is refused a URL whose name resolves to loopback, with an
// error IsBlocked recognises through url.Error and net.OpError.
func TestDialContextThroughHTTPClient(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dns := dnstest.Start(t, map[string][]netip.Addr{"evil.test": {netip.MustParseAddr("127.0.0.1")}})

	get := func(p Policy) (*http.Response, error) {
		tr := &http.Transport{DialContext: p.DialContext(nil, dns.Resolver())}
		defer tr.CloseIdleConnections()
		return (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://evil.test:" + port + "/hook")
	}
	if resp, err := get(Policy{}); !IsBlocked(err) {
		if resp != nil {
			resp.Body.Close()
		}
		t.Fatalf("GET = %v, want a blocked-address error", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the receiver was reached")
	}
	resp, err := get(Policy{Allow: Loopback})
	if err != nil {
		t.Fatalf("GET with loopback allowed: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Errorf("receiver hits = %d, want 1", hits.Load())
	}
}

// TestControlHookChecksAgain covers the second lock: the socket hook refuses
// a forbidden address even if one reached the dialer, and still runs the
// caller's own hook.
func TestControlHookChecksAgain(t *testing.T) {
	called := 0
	d := Policy{}.guardedDialer(&net.Dialer{Control: func(string, string, syscall.RawConn) error {
		called++
		return nil
	}})
	ctx := context.Background()
	if err := d.ControlContext(ctx, "tcp4", "127.0.0.1:80", nil); !IsBlocked(err) {
		t.Errorf("hook on 127.0.0.1 = %v, want blocked", err)
	}
	if err := d.ControlContext(ctx, "tcp6", "[fe80::1%eth0]:80", nil); !IsBlocked(err) {
		t.Errorf("hook on fe80::1 = %v, want blocked", err)
	}
	if err := d.ControlContext(ctx, "tcp4", "8.8.8.8:443", nil); err != nil || called != 1 {
		t.Errorf("hook on 8.8.8.8 = %v (caller's hook ran %d times), want nil and 1", err, called)
	}
	if err := d.ControlContext(ctx, "tcp4", "nonsense", nil); err == nil {
		t.Error("hook accepted an unparsable address")
	}
}
