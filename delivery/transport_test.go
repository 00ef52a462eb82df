package delivery_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/webhook"
)

// TestSendRefusesOldTLS tries to make a webhook attempt over TLS 1.0 and
// 1.1 with a receiver whose certificate the Sender trusts: the handshake
// must fail, be classified tls, and no request may reach the receiver.
// The same receiver limited to TLS 1.2 or 1.3 takes the attempt, and a
// client that allows TLS 1.0 reaches the old ones, so the refusal is the
// version floor and nothing else.
func TestSendRefusesOldTLS(t *testing.T) {
	tests := []struct {
		name       string
		maxVersion uint16
		refused    bool
	}{
		{"TLS 1.0", tls.VersionTLS10, true},
		{"TLS 1.1", tls.VersionTLS11, true},
		{"TLS 1.2", tls.VersionTLS12, false},
		{"TLS 1.3", tls.VersionTLS13, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
			}))
			srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tt.maxVersion}
			// The refused handshakes are the point, not news.
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()
			pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

			if tt.refused {
				// A client that allows old versions gets through: the
				// server does speak tt.maxVersion with this certificate.
				old := srv.Client()
				old.Transport.(*http.Transport).TLSClientConfig.MinVersion = tls.VersionTLS10
				resp, err := old.Get(srv.URL)
				if err != nil {
					t.Fatalf("a TLS 1.0-capable client cannot reach the %s receiver: %v", tt.name, err)
				}
				resp.Body.Close()
				if resp.TLS.Version != tt.maxVersion {
					t.Fatalf("control connection used %s, want %s", tls.VersionName(resp.TLS.Version), tt.name)
				}
				hits.Store(0)
			}

			s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback, RootCAs: pool})
			res := s.Send(context.Background(), s.NewRequest(hook(srv.URL+"/hook"), "e", "system.error", 1, []byte(`{}`)))
			switch {
			case tt.refused && (res.Class != webhook.ClassTLS || res.Outcome() != webhook.Retryable || res.StatusCode != 0 || res.Error == ""):
				t.Fatalf("%s receiver: class %q, outcome %v, status %d (%s); want a tls failure", tt.name, res.Class, res.Outcome(), res.StatusCode, res.Error)
			case tt.refused && hits.Load() != 0:
				t.Fatalf("%s receiver got %d requests", tt.name, hits.Load())
			case !tt.refused && (res.Outcome() != webhook.Delivered || hits.Load() != 1):
				t.Fatalf("%s receiver: class %q, outcome %v (%s), %d requests; want delivered once", tt.name, res.Class, res.Outcome(), res.Error, hits.Load())
			}
		})
	}
}

// proxyEnvChild marks the re-run of TestSendIgnoresProxyEnvironment in a
// fresh process (see there).
const proxyEnvChild = "HERALD_TEST_PROXY_ENV_CHILD"

// TestSendIgnoresProxyEnvironment points HTTP_PROXY and HTTPS_PROXY (both
// spellings) at a listener that records every connection and sends
// attempts to plain and TLS receivers: the receivers get them directly and
// the proxy sees nothing. A webhook goes straight to the address its URL
// names (issue 5: "no proxy environment surprises").
//
// net/http never proxies loopback or "localhost", whatever the
// environment says, so the receivers are addressed by a public name,
// example.com (which the test certificate covers), and the Sender's dialer
// takes that name to the loopback receiver. Any other address it is asked
// for is a proxy's, and is dialled for real, so a proxied attempt would
// reach the recording listener.
func TestSendIgnoresProxyEnvironment(t *testing.T) {
	proxy := newRecordingListener(t)
	proxyURL := "http://" + proxy.addr()
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(name, proxyURL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	// net/http reads the proxy environment once per process. If something
	// read it before this test set it, the check below would pass whatever
	// the Sender did: run the test again in a process of its own.
	probe, _ := http.NewRequest(http.MethodPost, "https://example.com/hook", nil)
	if u, err := http.ProxyFromEnvironment(probe); err != nil || u == nil || u.Host != proxy.addr() {
		if os.Getenv(proxyEnvChild) != "" {
			t.Fatalf("a fresh process does not see the proxy environment: %v, %v", u, err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestSendIgnoresProxyEnvironment$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), proxyEnvChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestSendIgnoresProxyEnvironment ") {
			t.Fatalf("in a fresh process: %v\n%s", err, out)
		}
		return
	}

	var mu sync.Mutex
	var got []string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Host+r.URL.Path)
	})
	plain := httptest.NewServer(handler)
	defer plain.Close()
	secure := httptest.NewTLSServer(handler)
	defer secure.Close()
	pool := secure.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	tests := []struct {
		name     string
		receiver *httptest.Server
	}{
		{"http", plain},
		{"https", secure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.receiver.Listener.Addr().String()
			_, port, _ := net.SplitHostPort(target)
			public := net.JoinHostPort("example.com", port)
			var dialMu sync.Mutex
			var dialled []string
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				dialMu.Lock()
				dialled = append(dialled, addr)
				dialMu.Unlock()
				if addr == public {
					addr = target
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			s := delivery.NewSender(delivery.Options{RootCAs: pool, DialContext: dial})
			u := url.URL{Scheme: tt.name, Host: public, Path: "/" + tt.name}
			res := s.Send(context.Background(), s.NewRequest(hook(u.String()), "e", "system.error", 1, []byte(`{}`)))
			dialMu.Lock()
			defer dialMu.Unlock()
			if res.Outcome() != webhook.Delivered {
				t.Fatalf("class %q, status %d (%s); dialled %v", res.Class, res.StatusCode, res.Error, dialled)
			}
			if len(dialled) != 1 || dialled[0] != public {
				t.Errorf("dialled %v, want only the receiver %s", dialled, public)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprintf("[example.com:%s/http example.com:%s/https]", port(plain), port(secure)) {
		t.Errorf("receivers got %v", got)
	}
	if n := proxy.connections(); n != 0 {
		t.Errorf("the proxy from the environment got %d connections", n)
	}
}

func port(srv *httptest.Server) string {
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return p
}

// recordingListener counts the connections made to it and closes each.
type recordingListener struct {
	l     net.Listener
	count atomic.Int32
	done  chan struct{}
}

func newRecordingListener(t *testing.T) *recordingListener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingListener{l: l, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.count.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-r.done
	})
	return r
}

func (r *recordingListener) addr() string { return r.l.Addr().String() }

func (r *recordingListener) connections() int { return int(r.count.Load()) }
