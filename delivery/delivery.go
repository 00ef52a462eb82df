// Package delivery makes and records the attempts of a delivery (one event
// to one subscriber): for each signed HTTP attempt it builds the headers
// and signatures, sends with a deadline, reads a capped response,
// classifies what happened and keeps the attempt's row. Activities and the
// API's test endpoint share it.
package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/payload"
	"github.com/loki-interceptor/herald/webhook"
)

// DefaultMaxResponseBody is how much of a receiver's answer is kept.
const DefaultMaxResponseBody = 64 << 10

// Options configure a Sender.
type Options struct {
	UserAgent       string
	MaxResponseBody int64
	// RootCAs replaces the system roots (tests use it to trust a local receiver).
	RootCAs *x509.CertPool
	// Allow lists the non-global addresses receivers may have (on-premise
	// receivers; loopback in herald dev). Every other connection goes only
	// to global unicast addresses, checked as it is dialled, so a name
	// that resolves (or re-resolves) to an internal address is refused.
	Allow []netip.Prefix
	// Resolver resolves receivers' hosts (default: the system's).
	Resolver *net.Resolver
	// DialContext, when set, replaces the guarded dialer altogether (tests).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// WrapTransport, when set, wraps the HTTP transport: tracing makes each
	// attempt a client span and sends its traceparent to the receiver.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	Now           func() time.Time
}

// Sender sends attempts. It is safe for concurrent use and keeps
// connections alive between attempts to the same receiver.
type Sender struct {
	client    *http.Client
	userAgent string
	maxBody   int64
	now       func() time.Time
}

// NewSender builds a Sender. Proxies from the environment are not used: a
// webhook goes straight to the address its URL names.
func NewSender(o Options) *Sender {
	dial := o.DialContext
	if dial == nil {
		dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		dial = netguard.Policy{Allow: o.Allow}.DialContext(dialer, o.Resolver)
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:   10 * time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          200,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	var rt http.RoundTripper = transport
	if o.WrapTransport != nil {
		rt = o.WrapTransport(transport)
	}
	s := &Sender{
		client: &http.Client{
			Transport: rt,
			// A redirect is an answer, not an instruction: following it would
			// send the signed payload somewhere the subscriber did not name.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		userAgent: o.UserAgent,
		maxBody:   o.MaxResponseBody,
		now:       o.Now,
	}
	if s.userAgent == "" {
		s.userAgent = "Herald-Webhooks"
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxResponseBody
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Request is one signed attempt, ready to send.
type Request struct {
	URL    string
	Header http.Header
	// Body is what goes on the wire; Plain, when set, is the body before
	// compression: what the signatures cover and the attempt row shows.
	Body      []byte
	Plain     []byte
	Signature string // the X-Webhook-Signature value
	Timeout   time.Duration
	// ShownURL, when set, is recorded in place of URL: a connector's URL
	// carries its token in the path.
	ShownURL string
}

// Build makes attempt n of an event to a webhook ready to send: the body
// its payload options make, signed, and compressed when they ask. A body
// that cannot be made is the attempt's failed result instead, with the
// request that would have carried it (for the attempt row).
func (s *Sender) Build(ctx context.Context, w *webhook.Webhook, ev *webhook.Event, attempt int) (*Request, *Result) {
	return s.build(ctx, w, optionsOf(w), ev, attempt)
}

// optionsOf reads a webhook's payload options once for all its requests.
func optionsOf(w *webhook.Webhook) *payload.Options {
	opts, err := payload.For(w)
	if err != nil {
		// Metadata written before Herald read these keys, never checked by
		// the API: it meant nothing then, and the standard body is sent.
		opts = &payload.Options{Format: payload.Standard}
	}
	return opts
}

func (s *Sender) build(ctx context.Context, w *webhook.Webhook, opts *payload.Options, ev *webhook.Event, attempt int) (*Request, *Result) {
	body, err := opts.Render(ctx, ev)
	if err != nil {
		now := s.now()
		req := s.NewRequest(w, ev.EventID, ev.EventType, attempt, nil)
		class := webhook.ClassPayload
		if errors.Is(err, payload.ErrRenderTimeout) {
			class = webhook.ClassPayloadTimeout
		}
		return req, &Result{SentAt: now, RespondedAt: now, Class: class, Error: err.Error()}
	}
	req := s.NewRequest(w, ev.EventID, ev.EventType, attempt, body)
	if opts.Compression == payload.Gzip {
		zipped, err := payload.Compress(body)
		if err != nil {
			now := s.now()
			return req, &Result{SentAt: now, RespondedAt: now, Class: webhook.ClassPayload, Error: "gzip: " + err.Error()}
		}
		req.Plain, req.Body = body, zipped
		req.Header.Set("Content-Encoding", payload.Gzip)
	}
	return req, nil
}

// NewRequest builds attempt n of an event to a webhook: its custom headers,
// then Herald's own headers and both signatures over exactly body.
func (s *Sender) NewRequest(w *webhook.Webhook, eventID, eventType string, attempt int, body []byte) *Request {
	h := http.Header{}
	for k, v := range w.CustomHeaders {
		h.Set(k, v)
	}
	sig := webhook.Sign(w.Secret, body)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", s.userAgent)
	h.Set(webhook.HeaderSignature, sig)
	h.Set(webhook.HeaderID, eventID)
	h.Set(webhook.HeaderEvent, eventType)
	h.Set(webhook.HeaderAttempt, strconv.Itoa(attempt))
	now := s.now()
	// Standard Webhooks headers are lower-case in the spec; set them as such.
	h[webhook.HeaderStdID] = []string{eventID}
	h[webhook.HeaderStdTimestamp] = []string{strconv.FormatInt(now.Unix(), 10)}
	// While a rotated secret's overlap lasts, both sign: a receiver that
	// has either secret verifies one of the space-separated signatures.
	var std []string
	for _, secret := range w.SigningSecrets(now) {
		std = append(std, webhook.SignStandard(secret, eventID, now, body))
	}
	h[webhook.HeaderStdSignature] = []string{strings.Join(std, " ")}
	return &Request{URL: w.URL, Header: h, Body: body, Signature: sig, Timeout: w.Timeout()}
}

// Result is what one attempt produced.
type Result struct {
	StatusCode  int // 0 when no response arrived
	Header      http.Header
	Body        string // at most MaxResponseBody bytes, valid UTF-8
	SentAt      time.Time
	RespondedAt time.Time
	Duration    time.Duration
	Class       webhook.ErrorClass
	Error       string
	RetryAfter  time.Duration // from a 429 or 503 answer
	// Accepted says a transport without HTTP status codes (SMTP) had the
	// message accepted.
	Accepted bool
}

// Outcome classifies the result.
func (r *Result) Outcome() webhook.Outcome {
	if r.Accepted && r.Class == webhook.ClassNone {
		return webhook.Delivered
	}
	return webhook.Classify(r.StatusCode, r.Class)
}

// Send makes the attempt. It never returns an error: every failure is a
// classified Result, and no attempt outlives its timeout.
func (s *Sender) Send(ctx context.Context, r *Request) *Result {
	res := &Result{SentAt: s.now()}
	defer func() {
		res.RespondedAt = s.now()
		res.Duration = res.RespondedAt.Sub(res.SentAt)
	}()
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		res.Class, res.Error = webhook.ClassRequest, err.Error()
		return res
	}
	req.Header = r.Header.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		res.Class, res.Error = classify(ctx, err), describe(err)
		return res
	}
	defer resp.Body.Close()
	res.StatusCode, res.Header = resp.StatusCode, resp.Header
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, s.maxBody))
	res.Body = cleanText(body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		res.Class, res.Error = webhook.ClassHTTPStatus, fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			res.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), res.SentAt)
		}
	} else if readErr != nil && !errors.Is(readErr, io.EOF) {
		// A 2xx whose body broke off still delivered: the receiver accepted it.
		res.Error = "reading response: " + describe(readErr)
	}
	return res
}

func classify(ctx context.Context, err error) webhook.ErrorClass {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case netguard.IsBlocked(err):
		return webhook.ClassBlocked
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return webhook.ClassTimeout
	case errors.As(err, &dnsErr):
		return webhook.ClassDNS
	case IsTLSError(err):
		return webhook.ClassTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return webhook.ClassTimeout
	case strings.Contains(err.Error(), "unsupported protocol scheme"),
		strings.Contains(err.Error(), "invalid header field"):
		// The request itself cannot be sent; sending it again will not help.
		return webhook.ClassRequest
	}
	return webhook.ClassConnection
}

// IsTLSError reports a failed handshake or certificate check: HTTP and
// SMTP attempts share the test.
func IsTLSError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	var recErr tls.RecordHeaderError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &certErr) || errors.As(err, &alert) || errors.As(err, &recErr) ||
		errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalid) ||
		strings.Contains(err.Error(), "tls: ")
}

// describe drops the "Post <url>:" prefix net/http adds; the URL is recorded
// separately and may carry a token in its query.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// parseRetryAfter reads delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		// Clamped before multiplying: a huge value must not overflow into a
		// negative wait.
		return time.Duration(min(max(secs, 0), int(webhook.MaxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// cleanText makes a response body storable as text in both dialects:
// PostgreSQL refuses NUL bytes and invalid UTF-8.
func cleanText(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// FlatHeaders turns a header into the single-valued map attempt rows store.
func FlatHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	return out
}
