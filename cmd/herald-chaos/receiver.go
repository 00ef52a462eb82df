package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// Outcomes a receiver answers with.
const (
	answerOK    = "ok"
	answer503   = "503"
	answerSlow  = "slow"  // answered 200 after the attempt timeout: Herald gave up first
	answerReset = "reset" // connection reset before any answer
)

// answerCode is the HTTP status Herald can have read from an answer. A slow
// answer's 200 comes after the attempt timeout, when Herald has stopped
// listening, and a reset has none: Herald records no status for either.
func answerCode(answer string) (int, bool) {
	switch answer {
	case answerOK:
		return http.StatusOK, true
	case answer503:
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// faults are a receiver's odds of misbehaving, per request.
type faults struct {
	unavailable float64 // 503
	slow        float64 // slower than the attempt timeout
	reset       float64 // connection reset
	slowFor     time.Duration
}

// The receivers' misbehaviour: a fifth of requests refused, a twentieth
// too slow, a fiftieth reset; an ordered subscriber's receiver a tenth as
// often, since every refusal holds back every later event.
var (
	mixed         = faults{unavailable: 0.20, slow: 0.05, reset: 0.02, slowFor: (attemptTimeoutSeconds + 1) * time.Second}
	orderedFaults = faults{unavailable: 0.02, slow: 0.005, reset: 0.002, slowFor: (attemptTimeoutSeconds + 1) * time.Second}
)

// arrival is one request as the receiver saw it: the log the run is judged by.
type arrival struct {
	At        time.Time
	EventID   string // X-Webhook-ID
	StdID     string // webhook-id
	Attempt   int
	SigValid  bool
	BodyMatch bool
	Answer    string
}

// receiver is one webhook's endpoint. It checks each request's signature
// and body against what the driver published, and can be taken down and
// brought back on the same address.
type receiver struct {
	name   string
	faults faults
	secret string
	sent   func(eventID string) ([]byte, bool) // the payload published under an id

	mu     sync.Mutex
	log    []arrival
	addr   string
	srv    *http.Server
	rnd    *rand.Rand
	downAt []time.Time
}

func newReceiver(name string, f faults, sent func(string) ([]byte, bool)) (*receiver, error) {
	r := &receiver{name: name, faults: f, sent: sent, rnd: rand.New(rand.NewPCG(uint64(name[len(name)-1]), 7))}
	return r, r.up("127.0.0.1:0")
}

func (r *receiver) url() string { return "http://" + r.addr + "/" + r.name }

func (r *receiver) up(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.addr, r.srv = ln.Addr().String(), srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// down closes the listener and every connection: the receiver is gone
// until back.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.downAt = append(r.downAt, time.Now())
	r.mu.Unlock()
	_ = srv.Close()
}

func (r *receiver) back() error {
	var err error
	// The port may linger a moment after close.
	for range 50 {
		if err = r.up(r.addr); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (r *receiver) close() {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	_ = srv.Shutdown(context.Background())
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		return
	}
	a := arrival{At: time.Now(), EventID: req.Header.Get(webhook.HeaderID), StdID: req.Header.Get(webhook.HeaderStdID)}
	a.Attempt, _ = strconv.Atoi(req.Header.Get(webhook.HeaderAttempt))
	a.SigValid = r.secret != "" && webhook.Verify(r.secret, body, req.Header.Get(webhook.HeaderSignature)) == nil &&
		webhook.VerifyHeaders(r.secret, req.Header, body, time.Now()) == nil
	a.BodyMatch = r.carries(a.EventID, body)

	r.mu.Lock()
	x := r.rnd.Float64()
	r.mu.Unlock()
	switch f := r.faults; {
	case x < f.reset:
		a.Answer = answerReset
		r.record(a)
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			if t, ok := conn.(*net.TCPConn); ok {
				_ = t.SetLinger(0) // an RST, not a FIN
			}
			conn.Close()
		}
		return
	case x < f.reset+f.unavailable:
		a.Answer = answer503
		r.record(a)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case x < f.reset+f.unavailable+f.slow:
		a.Answer = answerSlow
		r.record(a)
		select {
		case <-time.After(f.slowFor):
		case <-req.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	a.Answer = answerOK
	r.record(a)
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) record(a arrival) {
	r.mu.Lock()
	r.log = append(r.log, a)
	r.mu.Unlock()
}

func (r *receiver) arrivals() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.log...)
}

// carries tells whether a delivery's envelope holds the event id and,
// byte for byte, the payload published under it.
func (r *receiver) carries(eventID string, body []byte) bool {
	want, ok := r.sent(eventID)
	var env struct {
		EventID string          `json:"event_id"`
		Data    json.RawMessage `json:"data"`
	}
	return ok && json.Unmarshal(body, &env) == nil && env.EventID == eventID && bytes.Equal(env.Data, want)
}
