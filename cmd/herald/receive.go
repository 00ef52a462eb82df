package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// runReceive is a webhook receiver for trying Herald out: it prints every
// delivery, checks both signatures when given the secret, and answers with
// a chosen status (failing the first few on request, to watch retries).
func runReceive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("receive", stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "address to receive webhooks on")
	secret := fs.String("secret", "", "the webhook's secret, to verify signatures")
	status := fs.Int("status", 200, "status to answer with")
	failFirst := fs.Int("fail-first", 0, "answer 503 to this many requests first")
	if err := parse(fs, args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "receiving webhooks on http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	r := &printer{out: stdout, secret: *secret, status: *status, failFirst: *failFirst}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

type printer struct {
	mu        sync.Mutex
	out       io.Writer
	secret    string
	status    int
	failFirst int
	seen      int
}

func (p *printer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, ok := readInbound(w, r)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	status := p.status
	if p.seen <= p.failFirst {
		status = http.StatusServiceUnavailable
	}
	in.print(p.out, p.secret, status)
	w.WriteHeader(status)
}

// inbound is one delivery as a receiver got it (receive, listen).
type inbound struct {
	at     time.Time
	method string
	path   string
	header http.Header
	raw    []byte // as sent: gzip stays gzip
	body   []byte // what the signatures cover: raw, decompressed
}

// readInbound reads a delivery; one it refuses, over
// webhook.MaxDecompressed (413) or whose gzip does not inflate (400), it
// answers on w itself, and reports false.
func readInbound(w http.ResponseWriter, r *http.Request) (*inbound, bool) {
	in, status, err := inboundOf(r)
	if err != nil {
		http.Error(w, err.Error(), status)
		return nil, false
	}
	return in, true
}

// inboundOf reads a delivery, or says why not with the status to answer.
func inboundOf(r *http.Request) (*inbound, int, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, webhook.MaxDecompressed+1))
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	if len(raw) > webhook.MaxDecompressed {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", webhook.MaxDecompressed)
	}
	body, err := webhook.Decompressed(r.Header, raw) // signed before compression
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	return &inbound{at: time.Now(), method: r.Method, path: r.URL.Path, header: r.Header, raw: raw, body: body}, 0, nil
}

// print shows the delivery: what it is, each signature's verdict when the
// secret is known, and the body.
func (in *inbound) print(w io.Writer, secret string, answer int) {
	h := in.header
	fmt.Fprintf(w, "\n%s %s %s  event=%s id=%s attempt=%s → answering %d\n", in.at.Format("15:04:05"), in.method, in.path,
		h.Get(webhook.HeaderEvent), h.Get(webhook.HeaderID), h.Get(webhook.HeaderAttempt), answer)
	if secret != "" {
		fmt.Fprintf(w, "  X-Webhook-Signature  %s\n", verdict(webhook.Verify(secret, in.body, h.Get(webhook.HeaderSignature))))
		fmt.Fprintf(w, "  webhook-signature    %s\n", verdict(webhook.VerifyStandard(secret, h.Get(webhook.HeaderStdID),
			h.Get(webhook.HeaderStdTimestamp), in.body, h.Get(webhook.HeaderStdSignature), in.at, webhook.DefaultTolerance)))
	}
	fmt.Fprintf(w, "  %s\n", in.body)
}

func verdict(err error) string {
	if err != nil {
		return "INVALID (" + err.Error() + ")"
	}
	return "valid"
}
