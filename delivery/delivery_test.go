package delivery_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/webhook"
)

func hook(url string) *webhook.Webhook {
	w := webhook.New()
	w.ID, w.Name, w.URL, w.Secret = 7, "t", url, webhook.NewSecret()
	w.EventTypes = []string{"*"}
	w.TimeoutSeconds = 2
	w.CustomHeaders = map[string]string{"Authorization": "Bearer xyz", "X-Client-ID": "loki-prod-01"}
	return w
}

type received struct {
	header http.Header
	body   []byte
}

func TestSendSignsWhatItSends(t *testing.T) {
	got := make(chan received, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Clone(), b}
		w.Header().Set("X-Receiver", "yes")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback, RootCAs: pool, UserAgent: "Herald/test"})
	w := hook(srv.URL + "/hook?x=1")
	body := []byte(`{"event_id":"evt_1","data":{"a":1}}`)
	req := s.NewRequest(w, "evt_1", "compliance.alert", 3, body)
	res := s.Send(context.Background(), req)
	if res.Outcome() != webhook.Delivered || res.StatusCode != 200 || res.Body != `{"ok":true}` || res.Header.Get("X-Receiver") != "yes" || res.Error != "" {
		t.Fatalf("result %+v", res)
	}
	r := <-got
	if string(r.body) != string(body) {
		t.Fatalf("receiver got %s", r.body)
	}
	if err := webhook.VerifyHeaders(w.Secret, r.header, r.body, time.Now()); err != nil {
		t.Fatalf("receiver cannot verify: %v", err)
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "Herald/test", "Authorization": "Bearer xyz",
		"X-Client-Id": "loki-prod-01", "X-Webhook-Id": "evt_1", "X-Webhook-Event": "compliance.alert",
		"X-Webhook-Attempt": "3", "Webhook-Id": "evt_1", "X-Webhook-Signature": req.Signature,
	} {
		if v := r.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
}

func TestSendClassifies(t *testing.T) {
	var redirectTargetHit atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { redirectTargetHit.Store(true) }))
	defer target.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/503", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(503)
	})
	mux.HandleFunc("/429", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Now().Add(90*time.Second).UTC().Format(http.TimeFormat))
		w.WriteHeader(429)
	})
	mux.HandleFunc("/400", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad payload", 400) })
	mux.HandleFunc("/410", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(410) })
	mux.HandleFunc("/302", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, target.URL, http.StatusFound) })
	// 307 and 308 would make a client resend the same signed body: the
	// redirects that matter most not to follow.
	mux.HandleFunc("/307", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/308", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second): // beyond the 2 s attempt timeout
		}
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	// A receiver that announces 2 GiB and streams it: only the cap is read,
	// and the connection is dropped rather than drained. The bytes are
	// ASCII '0', not NUL, so the capped body survives cleanText intact.
	var hugeWritten atomic.Int64
	hugeDone := make(chan struct{}, 1)
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		defer func() { hugeDone <- struct{}{} }()
		w.Header().Set("Content-Length", strconv.FormatInt(2<<30, 10))
		chunk := []byte(strings.Repeat("0", 32<<10))
		for hugeWritten.Load() < 2<<30 {
			n, err := w.Write(chunk)
			hugeWritten.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/nul", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a\x00b\xffc")) })
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	closed := closedPort(t)
	silent := silentPort(t)

	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback, MaxResponseBody: 1 << 10})
	tests := []struct {
		url        string
		status     int
		class      webhook.ErrorClass
		outcome    webhook.Outcome
		retryAfter time.Duration
		bodyLen    int
	}{
		{srv.URL + "/503", 503, webhook.ClassHTTPStatus, webhook.Retryable, 120 * time.Second, -1},
		{srv.URL + "/429", 429, webhook.ClassHTTPStatus, webhook.Retryable, 89 * time.Second, -1},
		{srv.URL + "/400", 400, webhook.ClassHTTPStatus, webhook.Permanent, 0, -1},
		{srv.URL + "/410", 410, webhook.ClassHTTPStatus, webhook.Permanent, 0, -1},
		{srv.URL + "/302", 302, webhook.ClassHTTPStatus, webhook.Retryable, 0, -1},
		{srv.URL + "/307", 307, webhook.ClassHTTPStatus, webhook.Retryable, 0, -1},
		{srv.URL + "/308", 308, webhook.ClassHTTPStatus, webhook.Retryable, 0, -1},
		{srv.URL + "/slow", 0, webhook.ClassTimeout, webhook.Retryable, 0, -1},
		{srv.URL + "/endless", 200, webhook.ClassNone, webhook.Delivered, 0, 1 << 10},
		{srv.URL + "/huge", 200, webhook.ClassNone, webhook.Delivered, 0, 1 << 10},
		{"http://" + silent + "/accepts-never-answers", 0, webhook.ClassTimeout, webhook.Retryable, 0, -1},
		{srv.URL + "/nul", 200, webhook.ClassNone, webhook.Delivered, 0, -1},
		{srv.URL + "/reset", 0, webhook.ClassConnection, webhook.Retryable, 0, -1},
		{"http://" + closed + "/", 0, webhook.ClassConnection, webhook.Retryable, 0, -1},
		{"https://herald-test.invalid/", 0, webhook.ClassDNS, webhook.Retryable, 0, -1},
		{tlsSrv.URL + "/400", 0, webhook.ClassTLS, webhook.Retryable, 0, -1}, // certificate not trusted
		{"gopher://example.com/", 0, webhook.ClassRequest, webhook.Permanent, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			w := hook(tt.url)
			began := time.Now()
			res := s.Send(context.Background(), s.NewRequest(w, "e", "system.error", 1, []byte(`{}`)))
			// Not a speed check: no receiver may hold an attempt (and the
			// worker slot it occupies) past its timeout.
			if took := time.Since(began); took > w.Timeout()+3*time.Second {
				t.Fatalf("Send took %v with a %v timeout", took, w.Timeout())
			}
			if res.StatusCode != tt.status || res.Class != tt.class || res.Outcome() != tt.outcome {
				t.Fatalf("got status %d class %q outcome %v (%s), want %d %q %v", res.StatusCode, res.Class, res.Outcome(), res.Error, tt.status, tt.class, tt.outcome)
			}
			if tt.retryAfter > 0 && (res.RetryAfter < tt.retryAfter || res.RetryAfter > tt.retryAfter+2*time.Second) {
				t.Fatalf("Retry-After read as %v, want about %v", res.RetryAfter, tt.retryAfter)
			}
			if tt.bodyLen >= 0 && len(res.Body) != tt.bodyLen {
				t.Fatalf("body kept %d bytes, want %d", len(res.Body), tt.bodyLen)
			}
			if tt.class != webhook.ClassNone && res.Error == "" {
				t.Fatal("no error text")
			}
			if strings.Contains(res.Error, tt.url) {
				t.Fatalf("error repeats the URL: %s", res.Error)
			}
		})
	}
	if redirectTargetHit.Load() {
		t.Fatal("redirect was followed")
	}
	select {
	case <-hugeDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the 2 GiB receiver was still writing 10 s after the attempt ended: its connection was not dropped")
	}
	// What the receiver got out before its writes failed: the socket
	// buffers' worth, nowhere near the 2 GiB it announced.
	if n := hugeWritten.Load(); n >= 64<<20 {
		t.Fatalf("the receiver wrote %d bytes before the connection closed: the body was drained, not capped", n)
	}
	res := s.Send(context.Background(), s.NewRequest(hook(srv.URL+"/nul"), "e", "system.error", 1, []byte(`{}`)))
	if res.Body != "ab\uFFFDc" {
		t.Fatalf("body not cleaned: %q", res.Body)
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentPort accepts connections and never reads or answers: a receiver
// hung after accept.
func silentPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestFlatHeaders(t *testing.T) {
	h := http.Header{"A": {"1", "2"}, "B": {"x"}}
	got := delivery.FlatHeaders(h)
	if got["A"] != "1, 2" || got["B"] != "x" {
		t.Fatalf("%v", got)
	}
}

func TestRetryAfterIsCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", r.URL.Query().Get("ra"))
		w.WriteHeader(503)
	}))
	defer srv.Close()
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	for ra, want := range map[string]time.Duration{
		"99999999999999999": webhook.MaxRetryAfter, "-5": 0, "soon": 0, "30": 30 * time.Second,
	} {
		res := s.Send(context.Background(), s.NewRequest(hook(srv.URL+"/?ra="+ra), "e", "system.error", 1, []byte(`{}`)))
		if res.RetryAfter != want {
			t.Errorf("Retry-After %s read as %v, want %v", ra, res.RetryAfter, want)
		}
	}
}

// A header value net/http refuses to send makes every attempt fail the same
// way: it is a permanent request error, not a connection problem to retry.
func TestUnsendableHeaderIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	w := hook(srv.URL)
	w.CustomHeaders = map[string]string{"X-Bad": "a\x01b"}
	res := s.Send(context.Background(), s.NewRequest(w, "e", "system.error", 1, []byte(`{}`)))
	if res.Class != webhook.ClassRequest || res.Outcome() != webhook.Permanent {
		t.Fatalf("class %q outcome %v (%s)", res.Class, res.Outcome(), res.Error)
	}
}

// During a rotation's overlap a delivery carries a Standard Webhooks
// signature per secret, so a receiver holding either verifies it; the LOKI
// guide's X-Webhook-Signature is the new secret's. After the overlap only
// the new secret signs.
func TestRotatedSecretSignsAlongsideUntilItExpires(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := now
	s := delivery.NewSender(delivery.Options{Now: func() time.Time { return clock }})
	w := hook("https://example.com/h")
	old := w.Secret
	w.RotateSecret(webhook.NewSecret(), 24*time.Hour, now)
	body := []byte(`{"event_id":"evt_r"}`)
	for _, tc := range []struct {
		at          time.Time
		oldVerifies bool
	}{{now.Add(time.Hour), true}, {now.Add(24 * time.Hour), false}} {
		clock = tc.at
		req := s.NewRequest(w, "evt_r", "system.error", 1, body)
		h := http.Header{} // as a receiver sees it: canonical names
		for k, vs := range req.Header {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		sigs := strings.Fields(h.Get(webhook.HeaderStdSignature))
		if want := map[bool]int{true: 2, false: 1}[tc.oldVerifies]; len(sigs) != want {
			t.Fatalf("at %v: %d signatures, want %d", tc.at, len(sigs), want)
		}
		if err := webhook.VerifyHeaders(w.Secret, h, body, tc.at); err != nil {
			t.Fatalf("new secret: %v", err)
		}
		err := webhook.VerifyStandard(old, h.Get(webhook.HeaderStdID), h.Get(webhook.HeaderStdTimestamp), body,
			h.Get(webhook.HeaderStdSignature), tc.at, webhook.DefaultTolerance)
		if (err == nil) != tc.oldVerifies {
			t.Fatalf("at %v the old secret verifies: %v, want %v", tc.at, err == nil, tc.oldVerifies)
		}
		if err := webhook.Verify(old, body, req.Signature); err == nil {
			t.Fatal("X-Webhook-Signature made with the old secret")
		}
	}
}
