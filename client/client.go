// Package client is a Go client of Herald's REST API (/api/v1): webhooks,
// their deliveries and analytics, events, event types and integrations.
//
// It is a thin typed wrapper over net/http: one method per route, context
// first, the answer decoded into Herald's own wire types (package webhook)
// where the API sends them as they are, and into the types below where the
// API adds to them. An answer other than 2xx is an *Error carrying the API's
// {"error": {"code", "message", "details"}}.
//
//	c, err := client.New("http://127.0.0.1:8080", os.Getenv("HERALD_API_KEY"))
//	hook, err := c.CreateWebhook(ctx, client.WebhookInput{
//		Name: "Production Alerts", URL: "https://api.example.com/webhooks/loki",
//		EventTypes: []string{webhook.ComplianceAlert, webhook.SystemError},
//	})
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// DefaultURL is where `herald dev` serves the API.
const DefaultURL = "http://127.0.0.1:8080"

// maxAnswer bounds what is read of one answer: the largest Herald sends
// (a page of 1000 attempt rows with their bodies) is well below it.
const maxAnswer = 64 << 20

// Client calls one Herald. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[:port][/prefix]/api/v1, no trailing slash
	key       string
	http      *http.Client
	userAgent string
}

// Option changes a Client made by New.
type Option func(*Client)

// WithHTTPClient sends requests through hc (timeouts, proxies, TLS roots).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent names the caller in the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the Herald at baseURL ("" for DefaultURL), with
// or without its /api/v1 suffix, authenticating with apiKey (may be ""
// for the routes that need none: Health, Ready).
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultURL
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("herald client: %q is not an http(s) URL of a Herald (like %s)", baseURL, DefaultURL)
	}
	if !strings.HasSuffix(u.Path, "/api/v1") {
		u.Path += "/api/v1"
	}
	c := &Client{base: u.String(), key: apiKey, userAgent: "herald-go-client",
		// Without a timeout a Herald that stopped answering would hang the
		// caller forever; contexts shorten it per call.
		http: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL is the API's root, ending in /api/v1.
func (c *Client) BaseURL() string { return c.base }

// Error is an answer of the API other than 2xx.
type Error struct {
	StatusCode int
	Code       webhook.Code // validation_failed, not_found, conflict, …
	Message    string
	// Details is the error's details as sent: a list of {field, message}
	// for validation_failed (see Fields), an object otherwise.
	Details json.RawMessage
	// RetryAfter is the wait the API asked for (429, 503), else 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.StatusCode, e.Code)
}

// Fields lists the invalid fields of a validation_failed error.
func (e *Error) Fields() []webhook.FieldError {
	var fe []webhook.FieldError
	if json.Unmarshal(e.Details, &fe) != nil {
		return nil
	}
	return fe
}

// CodeOf is the API error code of err ("" when err is nil or did not come
// from the API, such as a refused connection).
func CodeOf(err error) webhook.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsNotFound says err is the API's not_found.
func IsNotFound(err error) bool { return CodeOf(err) == webhook.ENotFound }

// Page is the paging part of a list's answer.
type Page struct {
	Total  int `json:"total"`
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// ListOptions pages a list: Limit 1–1000 (0: the API's default, 50).
type ListOptions struct {
	Limit  int
	Offset int
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	setInt(q, "limit", o.Limit)
	setInt(q, "offset", o.Offset)
	return q
}

// call sends one request (in, when not nil, as JSON) and decodes a 2xx
// answer into a new T.
func call[T any](ctx context.Context, c *Client, method, p string, q url.Values, in any) (*T, error) {
	var v T
	return &v, c.do(ctx, method, p, q, in, &v)
}

// list reads a page of the list at p into a new L: limit and offset page
// it, filters are name-value pairs of the query, those with value "" left out.
func list[L any](ctx context.Context, c *Client, p string, limit, offset int, filters ...string) (*L, error) {
	q := ListOptions{limit, offset}.query()
	for i := 0; i+1 < len(filters); i += 2 {
		setString(q, filters[i], filters[i+1])
	}
	return call[L](ctx, c, http.MethodGet, p, q, nil)
}

// period is the query of analytics over the last days days (0: the API's
// default).
func period(days int) url.Values {
	q := url.Values{}
	setInt(q, "period_days", days)
	return q
}

func setInt(q url.Values, name string, v int) {
	if v != 0 {
		q.Set(name, strconv.Itoa(v))
	}
}

func setString(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

// path joins the segments after /api/v1, escaping each: integration names
// hold spaces, event ids colons.
func path(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// do sends one request and decodes a 2xx answer into out (nil: discarded).
// in, when not nil, is sent as JSON.
func (c *Client) do(ctx context.Context, method, p string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("herald client: encoding the request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	u := c.base + p
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("herald client: %s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("herald client: %s %s: reading the answer: %w", method, u, err)
	}
	if resp.StatusCode >= 300 {
		return errorOf(resp, raw)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("herald client: %s %s: decoding the answer: %w", method, u, err)
	}
	return nil
}

// codeOf names the statuses of answers that did not come with Herald's
// error body (a proxy's page, say), as the API would have.
var codeOf = map[int]webhook.Code{
	400: webhook.EInvalid, 401: webhook.EUnauthorized, 403: webhook.EForbidden, 404: webhook.ENotFound,
	409: webhook.EConflict, 413: webhook.ETooLarge, 415: webhook.EUnsupported, 422: webhook.EValidation,
	429: webhook.ERateLimited, 502: webhook.EUnavailable, 503: webhook.EUnavailable, 504: webhook.EUnavailable,
}

func errorOf(resp *http.Response, raw []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode}
	var body struct {
		Error struct {
			Code    webhook.Code    `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Details = body.Error.Code, body.Error.Message, body.Error.Details
	} else {
		e.Code = codeOf[resp.StatusCode]
		if e.Code == "" {
			e.Code = webhook.EInternal
		}
		e.Message = strings.TrimSpace(http.StatusText(resp.StatusCode) + ": " + snippet(raw))
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// snippet is the start of a body that is not Herald's, for the message.
func snippet(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Health asks whether the API process answers (no API key needed).
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/health", nil, nil, nil)
}
