package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/webhook"
)

const listenSynopsis = "--forward-to http://localhost:3000/hook [--events a,b] [--listen 127.0.0.1:0] [--name NAME] [--secret S]"

// runListen is `herald listen`, as Stripe CLI's listen is for local
// development: a webhook pointing at a local server that checks each
// delivery's signatures, prints it and forwards it unchanged to the
// developer's app, answering Herald with the app's status so that retries
// behave as they will in production. Ctrl-C removes what it registered.
func runListen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCmd(ctx, "listen", listenSynopsis, stdout, stderr)
	c.fs.Lookup("json").Usage = "print one JSON object per delivery (the rest goes to standard error)"
	l := &listener{out: stdout, log: stdout}
	c.fs.StringVar(&l.target, "forward-to", "", "the app's webhook endpoint, where each delivery is forwarded")
	events := c.fs.String("events", "", "event types, comma-separated (default: all, or those of the webhook reused)")
	addr := c.fs.String("listen", "127.0.0.1:0", "address to receive deliveries on (port 0: any free one)")
	c.fs.StringVar(&l.name, "name", "", "webhook name: one of that name is reused, else created (default: herald listen <forward-to URL>)")
	c.fs.StringVar(&l.secret, "secret", "", "a reused webhook's secret, to check signatures (the API shows it only at creation)")
	if _, err := c.parse(args); err != nil {
		return c.explain(err)
	}
	if c.json {
		l.log = stderr // standard output is one JSON line per delivery
	}
	l.json, l.api, l.events = c.json, c.api, csv(*events)
	if err := l.checkTarget(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	l.self = selfURL(ln.Addr().(*net.TCPAddr))
	if l.name == "" {
		l.name, l.ownName = defaultListenName(l.target), true
	}
	if err := l.register(ctx); err != nil {
		return c.explain(err)
	}
	defer l.unregister()
	l.banner()
	return l.serve(ctx, ln)
}

// listener is one run of herald listen.
type listener struct {
	api          *client.Client
	target, self string // the app's URL, this server's
	name, secret string
	events       []string
	json         bool
	out, log     io.Writer // deliveries; everything else

	ownName bool // l.name is listen's own default, not --name

	hookID  int64
	created bool            // deleted at the end
	leftBy  bool            // created by an earlier run that never deleted it
	before  *client.Webhook // a reused webhook as found, restored at the end
	http    *http.Client
	mu      sync.Mutex // one delivery's lines at a time
}

func (l *listener) checkTarget() error {
	u, err := url.Parse(l.target)
	if l.target == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("listen: --forward-to must be the app's URL, like http://localhost:3000/hook (got %q)", l.target)
	}
	l.http = &http.Client{
		// Forwarded as received: no Accept-Encoding of our own, no
		// redirect followed (Herald would not follow one either).
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       time.Duration(webhook.MaxTimeoutSeconds) * time.Second,
	}
	return nil
}

// defaultListenName names the webhook after the app it forwards to, not
// after this run's port: a run after one that crashed finds the webhook
// that run left, and takes it over instead of leaving a second one.
func defaultListenName(target string) string {
	name := "herald listen " + target
	if len(name) > webhook.MaxNameLen {
		name = strings.ToValidUTF8(name[:webhook.MaxNameLen], "")
	}
	return name
}

// listenDescription is the description of a webhook listen creates, by
// which a later run knows it as one a run left behind.
func listenDescription(target string) string { return "herald listen: forwards to " + target }

// selfURL is where Herald reaches this server: loopback when it listens on
// every address.
func selfURL(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(a.Port)) + "/"
}

// register points a webhook at this server: the one named l.name if there
// is one (its URL and, with --events, its types changed for the run), else
// a new one.
func (l *listener) register(ctx context.Context) error {
	found, err := l.find(ctx)
	if err != nil {
		return err
	}
	if found == nil {
		events := l.events
		if len(events) == 0 {
			events = []string{webhook.AllEvents}
		}
		w, err := l.api.CreateWebhook(ctx, client.WebhookInput{Name: l.name, URL: l.self, EventTypes: events,
			Description: client.Ptr(listenDescription(l.target))})
		if err != nil {
			return err
		}
		l.hookID, l.created, l.secret, l.events = w.ID, true, w.Secret, w.EventTypes
		return nil
	}
	l.hookID, l.before = found.ID, found
	if l.ownName && found.Description == listenDescription(l.target) {
		// An earlier run's, never deleted: this run takes it over as if
		// it had made it, and deletes it at the end.
		l.created, l.leftBy, l.before = true, true, nil
		if len(l.events) == 0 {
			l.events = []string{webhook.AllEvents}
		}
	}
	var in client.WebhookInput
	if found.URL != l.self {
		in.URL = l.self
	}
	if len(l.events) > 0 && !slices.Equal(l.events, found.EventTypes) {
		in.EventTypes = l.events
	}
	if in.URL == "" && in.EventTypes == nil {
		l.events, l.before = found.EventTypes, nil // nothing to restore
		return nil
	}
	w, err := l.api.UpdateWebhook(ctx, found.ID, in)
	if err == nil {
		l.events = w.EventTypes
	}
	return err
}

// find looks the name up among the webhooks (the API lists, it does not
// search), nil when there is none.
func (l *listener) find(ctx context.Context) (*client.Webhook, error) {
	for o := (client.WebhookListOptions{Limit: 1000}); ; o.Offset += o.Limit {
		page, err := l.api.ListWebhooks(ctx, o)
		if err != nil {
			return nil, err
		}
		for i := range page.Webhooks {
			if page.Webhooks[i].Name == l.name {
				return &page.Webhooks[i], nil
			}
		}
		if len(page.Webhooks) < o.Limit {
			return nil, nil
		}
	}
}

// unregister deletes the webhook this run created, or puts back the URL
// and event types of the one it reused. The run's context is over by now.
func (l *listener) unregister() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch {
	case l.created:
		if err := l.api.DeleteWebhook(ctx, l.hookID); err != nil && !client.IsNotFound(err) {
			fmt.Fprintf(l.log, "could not delete webhook %d: %v\n", l.hookID, err)
			return
		}
		fmt.Fprintf(l.log, "webhook %d deleted\n", l.hookID)
	case l.before != nil:
		in := client.WebhookInput{URL: l.before.URL, EventTypes: l.before.EventTypes}
		if _, err := l.api.UpdateWebhook(ctx, l.hookID, in); err != nil {
			fmt.Fprintf(l.log, "could not restore webhook %d to %s: %v\n", l.hookID, l.before.URL, err)
			return
		}
		fmt.Fprintf(l.log, "webhook %d restored to %s\n", l.hookID, l.before.URL)
	}
}

func (l *listener) banner() {
	how := "created for this run; deleted on Ctrl-C"
	switch {
	case l.leftBy:
		how = "left by an earlier run; reused, and deleted on Ctrl-C"
	case !l.created:
		how = "reused; put back as it was on Ctrl-C"
	}
	fmt.Fprintf(l.log, "Listening on %s as webhook %d %q (%s)\n", l.self, l.hookID, l.name, how)
	fmt.Fprintf(l.log, "Event types  %s\nForwarding   to %s\n", strings.Join(l.events, ", "), l.target)
	switch {
	case l.created && !l.leftBy:
		fmt.Fprintf(l.log, "Secret       %s  (your app verifies signatures with it)\n", l.secret)
	case l.secret == "":
		fmt.Fprintf(l.log, "Secret       unknown: signatures are not checked (--secret gives it; the API shows a secret only when it is made)\n")
	}
	fmt.Fprintf(l.log, "Ready. Try: herald events send --type %s\n", exampleType(l.events))
}

func exampleType(events []string) string {
	if len(events) == 0 || events[0] == webhook.AllEvents {
		return webhook.ComplianceAlert
	}
	return events[0]
}

// serve answers deliveries until ctx ends, then lets those in flight finish.
func (l *listener) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	return serveUntil(ctx, func() error { return srv.Serve(ln) }, srv.Shutdown, 10*time.Second)
}

// forwarded is what the app answered.
type forwarded struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
	err    error
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in, ok := readInbound(w, r)
	if !ok {
		return
	}
	f := l.forward(r.Context(), in)
	l.report(in, f)
	if f.err != nil {
		// Herald retries a 502 as it would the app's own outage.
		http.Error(w, "herald listen: the app did not answer: "+f.err.Error(), http.StatusBadGateway)
		return
	}
	for _, k := range []string{"Content-Type", "Content-Encoding", "Retry-After"} {
		if v := f.header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(f.status)
	w.Write(f.body)
}

// hopByHop are a connection's own headers, not the delivery's.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forward sends the delivery to the app as received: same method, headers
// and body bytes (still compressed if it came so).
func (l *listener) forward(ctx context.Context, in *inbound) forwarded {
	req, err := http.NewRequestWithContext(ctx, in.method, l.target, bytes.NewReader(in.raw))
	if err != nil {
		return forwarded{err: err}
	}
	req.Header = in.header.Clone()
	for _, h := range hopByHop {
		req.Header.Del(h)
	}
	start := time.Now()
	resp, err := l.http.Do(req)
	if err != nil {
		return forwarded{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return forwarded{status: resp.StatusCode, header: resp.Header, body: body, took: time.Since(start), err: err}
}

// report prints one delivery: as receive does, then the app's answer; or
// with --json one line of JSON.
func (l *listener) report(in *inbound, f forwarded) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.json {
		l.reportJSON(in, f)
		return
	}
	answer := f.status
	if f.err != nil {
		answer = http.StatusBadGateway
	}
	in.print(l.out, l.secret, answer)
	if l.secret == "" {
		fmt.Fprintln(l.out, "  signatures           not checked (no --secret)")
	}
	if f.err != nil {
		fmt.Fprintf(l.out, "  ✗ %s did not answer: %v\n", l.target, f.err)
		return
	}
	fmt.Fprintf(l.out, "  → %s answered %d %s in %d ms  %s\n", l.target, f.status, http.StatusText(f.status), f.took.Milliseconds(), answerText(f))
}

// answerText is the start of the app's answer, for the log.
func answerText(f forwarded) string {
	body, err := webhook.Decompressed(f.header, f.body)
	if err != nil {
		return fmt.Sprintf("(%d bytes, %s)", len(f.body), f.header.Get("Content-Encoding"))
	}
	return oneLine(string(body))
}

func (l *listener) reportJSON(in *inbound, f forwarded) {
	line := map[string]any{"time": in.at.UTC(), "event_type": in.header.Get(webhook.HeaderEvent),
		"event_id": in.header.Get(webhook.HeaderID), "attempt": in.header.Get(webhook.HeaderAttempt),
		"signatures": "unchecked", "forwarded_to": l.target, "duration_ms": f.took.Milliseconds()}
	if l.secret != "" {
		line["signatures"] = verdict(webhook.VerifyHeaders(l.secret, in.header, in.raw, in.at))
	}
	if json.Valid(in.body) {
		line["body"] = json.RawMessage(in.body)
	} else {
		line["body"] = string(in.body)
	}
	if f.err != nil {
		line["error"], line["status"] = f.err.Error(), http.StatusBadGateway
	} else {
		line["status"], line["response"] = f.status, answerText(f)
	}
	raw, _ := json.Marshal(line)
	fmt.Fprintf(l.out, "%s\n", raw)
}
