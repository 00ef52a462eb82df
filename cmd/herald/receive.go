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
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		body, err = webhook.Decompressed(r.Header, body) // signed before compression
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen++
	status := p.status
	if p.seen <= p.failFirst {
		status = http.StatusServiceUnavailable
	}
	fmt.Fprintf(p.out, "\n%s %s %s  event=%s id=%s attempt=%s → answering %d\n", time.Now().Format("15:04:05"), r.Method, r.URL.Path,
		r.Header.Get(webhook.HeaderEvent), r.Header.Get(webhook.HeaderID), r.Header.Get(webhook.HeaderAttempt), status)
	if p.secret != "" {
		fmt.Fprintf(p.out, "  X-Webhook-Signature  %s\n", verdict(webhook.Verify(p.secret, body, r.Header.Get(webhook.HeaderSignature))))
		fmt.Fprintf(p.out, "  webhook-signature    %s\n", verdict(webhook.VerifyStandard(p.secret, r.Header.Get(webhook.HeaderStdID),
			r.Header.Get(webhook.HeaderStdTimestamp), body, r.Header.Get(webhook.HeaderStdSignature), time.Now(), webhook.DefaultTolerance)))
	}
	fmt.Fprintf(p.out, "  %s\n", body)
	w.WriteHeader(status)
}

func verdict(err error) string {
	if err != nil {
		return "INVALID (" + err.Error() + ")"
	}
	return "valid"
}
