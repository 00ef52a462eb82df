package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// receiverHosts is how many loopback addresses the receiver listens on.
// Webhook i goes to host i mod receiverHosts, so that, as with real
// subscribers, the senders' connection pools are per receiver and not one
// pool shared by every webhook.
const receiverHosts = 10

// receiver is every webhook's endpoint: it knows each webhook by its path,
// verifies every signature, and records what arrived when.
type receiver struct {
	servers []*http.Server
	hosts   []string // host:port of each listener

	mu    sync.RWMutex
	hooks map[string]*hook // by URL path

	stray atomic.Int64 // requests to a path no webhook has
}

// hook is one subscriber as the receiver sees it.
type hook struct {
	path, url string
	secret    string // the bench chooses it, for Herald too
	flaky     bool   // answers 503 to the first request of each event
	phase     *phase
	webhookID int64 // Herald's id, to delete it afterwards
	// ordered: the webhook must get one request at a time; overlaps
	// counts those that came while another was in flight.
	ordered  bool
	inFlight atomic.Int32
	overlaps atomic.Int64

	mu        sync.Mutex
	got       map[string]*arrival // by event id
	delivered int                 // events answered 200, the rank of the last
}

// arrival is what one webhook got for one event, over all its requests.
type arrival struct {
	requests     int
	ok           int // requests answered 200: more than one is a duplicate
	firstOK      time.Time
	rank         int      // of the first 200 among the webhook's events: 1, 2, …
	body         [32]byte // SHA-256 of the first body
	bodiesDiffer bool
	badSignature int
	badData      int // envelope's event_id or data not the bytes published
}

func startReceiver() (*receiver, error) {
	r := &receiver{hooks: map[string]*hook{}}
	for i := range receiverHosts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", i+1))
		if err != nil {
			r.close()
			return nil, fmt.Errorf("receiver: %w", err)
		}
		srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		r.servers = append(r.servers, srv)
		r.hosts = append(r.hosts, ln.Addr().String())
	}
	return r, nil
}

func (r *receiver) close() {
	for _, s := range r.servers {
		s.Close()
	}
}

// newHooks makes a phase's webhooks, each on its own path.
func (r *receiver) newHooks(p *phase, n, flaky int) []*hook {
	r.mu.Lock()
	defer r.mu.Unlock()
	hooks := make([]*hook, n)
	for i := range hooks {
		path := fmt.Sprintf("/%s/%s/%d", p.system, p.scenario.key, i)
		h := &hook{path: path, url: "http://" + r.hosts[i%len(r.hosts)] + path, secret: webhook.NewSecret(),
			flaky: i < flaky, ordered: p.scenario.ordered, phase: p, got: map[string]*arrival{}}
		r.hooks[path] = h
		hooks[i] = h
	}
	return hooks
}

// forget drops a finished phase's webhooks and with them its records.
func (r *receiver) forget(hooks []*hook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hooks {
		delete(r.hooks, h.path)
	}
}

func (r *receiver) hook(path string) *hook {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.hooks[path]
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	h := r.hook(req.URL.Path)
	if h != nil && h.ordered {
		// Left as the handler returns, before net/http sends the answer:
		// a sender that waits for it is never counted as overlapping.
		if h.inFlight.Add(1) > 1 {
			h.overlaps.Add(1)
		}
		defer h.inFlight.Add(-1)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil || h == nil {
		r.stray.Add(1)
		http.NotFound(w, req)
		return
	}
	id := req.Header.Get(webhook.HeaderID)
	signed := verify(h.secret, req.Header, body, at)
	data := h.phase.sentAsPublished(id, body)
	status, first := h.record(id, at, sha256.Sum256(body), signed, data)
	if first {
		h.phase.delivered(id)
	}
	w.WriteHeader(status)
}

// verify checks both signatures Herald sends, as a subscriber would.
func verify(secret string, hdr http.Header, body []byte, now time.Time) bool {
	if webhook.Verify(secret, body, hdr.Get(webhook.HeaderSignature)) != nil {
		return false
	}
	return webhook.VerifyStandard(secret, hdr.Get(webhook.HeaderStdID), hdr.Get(webhook.HeaderStdTimestamp), body,
		hdr.Get(webhook.HeaderStdSignature), now, webhook.DefaultTolerance) == nil
}

// record notes a request and decides its answer; first is true for the
// first request answered 200, the one that completes the delivery.
func (h *hook) record(eventID string, at time.Time, sum [32]byte, signed, data bool) (status int, first bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.got[eventID]
	if a == nil {
		a = &arrival{body: sum}
		h.got[eventID] = a
	}
	a.requests++
	a.bodiesDiffer = a.bodiesDiffer || a.body != sum
	if !signed {
		a.badSignature++
	}
	if !data {
		a.badData++
	}
	if h.flaky && a.requests == 1 {
		return http.StatusServiceUnavailable, false
	}
	a.ok++
	if a.ok == 1 {
		h.delivered++
		a.firstOK, a.rank = at, h.delivered
	}
	return http.StatusOK, a.ok == 1
}

func (h *hook) arrival(eventID string) *arrival {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.got[eventID]
}
