package webhook

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"github.com/loki-interceptor/herald/netguard"
)

// Limits on webhook fields.
const (
	MaxNameLen           = 200
	MaxDescriptionLen    = 2000
	MaxURLLen            = 2048
	MaxRetriesLimit      = 20
	MaxRetryDelaySeconds = 86400
	MaxMaxDelaySeconds   = 7 * 86400
	MaxBackoffMultiplier = 10
	MaxJitter            = 0.5
	MaxTimeoutSeconds    = 30
	MaxRatePerMinute     = 100_000
	MaxRatePerHour       = 6_000_000
	MaxCustomHeaders     = 32
	MaxHeaderValueLen    = 4096
	MaxMetadataBytes     = 16 << 10
	MaxRetryOverrides    = 32
	MinSecretLen         = 24
	MaxSecretLen         = 256
)

// URLPolicy says which webhook URLs are acceptable: HTTPS to a host that
// is not, in any spelling, an address Herald refuses to reach.
type URLPolicy struct {
	AllowHTTP         bool // any http:// URL (--allow-insecure-urls)
	AllowHTTPLoopback bool // http:// to localhost/127.0.0.0/8/::1 (herald dev)
	// Addresses decides which literal addresses a URL may name (the
	// dialer checks again, for names, as it connects).
	Addresses netguard.Policy
	// EventTypes are the event types subscriptions may name (nil: the
	// built-in catalog); the API sets its registry, which knows custom types.
	EventTypes EventTypeSet
}

// CheckHost returns why a bare host (an SMTP server) is not acceptable, or "".
func (p URLPolicy) CheckHost(host string) string {
	if err := p.Addresses.CheckHost(host); err != nil {
		return err.Error()
	}
	return ""
}

// reservedHeaders are set by Herald or by the HTTP transport, or describe the
// connection or the body rather than the request; a custom header must not
// override them, least of all the signatures.
var reservedHeaders = []string{
	"content-type", "content-length", "content-encoding", "host", "transfer-encoding", "connection",
	"keep-alive", "proxy-connection", "upgrade", "te", "trailer", "expect", "accept-encoding",
	"user-agent", "traceparent", "tracestate",
	strings.ToLower(HeaderSignature), strings.ToLower(HeaderID), strings.ToLower(HeaderEvent), strings.ToLower(HeaderAttempt),
	HeaderStdID, HeaderStdTimestamp, HeaderStdSignature,
}

// Validate checks a complete webhook (defaults applied, update merged).
// more are checks of parts other packages own (payload options, filter),
// whose field errors join the webhook's own.
func (w *Webhook) Validate(p URLPolicy, more ...func(*Webhook, *FieldErrors)) error {
	var fe FieldErrors
	switch name := strings.TrimSpace(w.Name); {
	case name == "":
		fe.Add("name", "is required")
	case len(w.Name) > MaxNameLen:
		fe.Add("name", "must be at most %d characters", MaxNameLen)
	case !PlainText(w.Name, false):
		fe.Add("name", "must not contain control characters")
	}
	if w.Integration == nil {
		// An integration's destination is in its credentials, checked there.
		if msg := p.Check(w.URL); msg != "" {
			fe.Add("url", "%s", msg)
		}
	}
	if len(w.Description) > MaxDescriptionLen {
		fe.Add("description", "must be at most %d characters", MaxDescriptionLen)
	} else if !PlainText(w.Description, true) {
		fe.Add("description", "must not contain control characters other than newlines and tabs")
	}
	if msg := checkSecret(w.Secret); msg != "" {
		fe.Add("secret", "%s", msg)
	}
	if !w.Status.Valid() {
		fe.Add("status", "must be one of active, inactive, paused")
	}
	if w.Integration == nil {
		p.CheckEventTypes(&fe, "event_types", w.EventTypes)
	} else if len(w.EventTypes) > 0 {
		// An integration may subscribe to nothing yet.
		p.CheckEventTypes(&fe, "event_subscriptions", w.EventTypes)
	}
	w.checkRetry(&fe, "")
	checkRange(&fe, "timeout_seconds", w.TimeoutSeconds, 1, MaxTimeoutSeconds)
	w.checkOverrides(&fe, p)
	switch {
	case !w.DeliveryMode.Valid():
		fe.Add("delivery_mode", "must be one of per_event, stream, ordered")
	case w.DeliveryMode.Streamed() && w.Batched():
		fe.Add("delivery_mode", "must be per_event while batch_events is on: each batch is delivered as an event of its own")
	}
	checkRange(&fe, "rate_limit_per_minute", w.RateLimitPerMinute, 1, MaxRatePerMinute)
	checkRange(&fe, "rate_limit_per_hour", w.RateLimitPerHour, 1, MaxRatePerHour)
	checkHeaders(&fe, w.CustomHeaders)
	if b, err := json.Marshal(w.Metadata); err != nil || len(b) > MaxMetadataBytes {
		fe.Add("metadata", "must be a JSON object of at most %d bytes", MaxMetadataBytes)
	} else if hasNUL(w.Metadata) {
		fe.Add("metadata", "must not contain NUL characters")
	}
	for _, check := range more {
		check(w, &fe)
	}
	if w.Integration != nil {
		return fe.Err("integration")
	}
	return fe.Err("webhook")
}

// checkOverrides checks each event type's retry override as the schedule
// it makes with the subscriber's other retry fields.
func (w *Webhook) checkOverrides(fe *FieldErrors, p URLPolicy) {
	if len(w.RetryOverrides) > MaxRetryOverrides {
		fe.Add("retry_overrides", "must name at most %d event types", MaxRetryOverrides)
		return
	}
	types := slices.Sorted(maps.Keys(w.RetryOverrides))
	for _, t := range types {
		if t == AllEvents {
			fe.Add("retry_overrides", "must name event types, not %q: the subscriber's own retry fields are the schedule of every type", AllEvents)
			continue
		}
		p.CheckEventTypes(fe, "retry_overrides", []string{t})
		w.withOverride(w.RetryOverrides[t]).checkRetry(fe, "retry_overrides."+t+".")
	}
}

func (w *Webhook) checkRetry(fe *FieldErrors, prefix string) {
	if !w.RetryStrategy.Valid() {
		fe.Add(prefix+"retry_strategy", "must be one of exponential_backoff, linear_backoff, fixed_interval, no_retry")
	}
	checkRange(fe, prefix+"max_retries", w.MaxRetries, 0, MaxRetriesLimit)
	checkRange(fe, prefix+"retry_delay_seconds", w.RetryDelaySeconds, 1, MaxRetryDelaySeconds)
	checkRange(fe, prefix+"max_delay_seconds", w.MaxDelaySeconds, 1, MaxMaxDelaySeconds)
	if w.MaxDelaySeconds >= 1 && w.MaxDelaySeconds < w.RetryDelaySeconds {
		fe.Add(prefix+"max_delay_seconds", "must not be less than retry_delay_seconds (%d)", w.RetryDelaySeconds)
	}
	if !(w.BackoffMultiplier >= 1 && w.BackoffMultiplier <= MaxBackoffMultiplier) {
		fe.Add(prefix+"backoff_multiplier", "must be between 1 and %d", MaxBackoffMultiplier)
	}
	if !(w.JitterPercentage >= 0 && w.JitterPercentage <= MaxJitter) {
		fe.Add(prefix+"jitter_percentage", "must be between 0 and %v", MaxJitter)
	}
}

func checkRange(fe *FieldErrors, field string, v, lo, hi int) {
	if v < lo || v > hi {
		fe.Add(field, "must be between %d and %d", lo, hi)
	}
}

// Check returns why a URL is not acceptable, or "".
func (p URLPolicy) Check(raw string) string {
	if raw == "" {
		return "is required"
	}
	if len(raw) > MaxURLLen {
		return "must be at most 2048 characters"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "must be an absolute URL like https://example.com/webhooks"
	}
	if u.User != nil {
		return "must not contain credentials (user:password@); use custom_headers"
	}
	if u.Fragment != "" {
		return "must not contain a fragment (#…)"
	}
	if msg := p.checkScheme(u); msg != "" {
		return msg
	}
	if err := p.Addresses.CheckURL(raw); err != nil {
		return err.Error()
	}
	return ""
}

func (p URLPolicy) checkScheme(u *url.URL) string {
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if p.AllowHTTP || (p.AllowHTTPLoopback && isLoopback(u.Hostname())) {
			return ""
		}
		if p.AllowHTTPLoopback {
			return "must use https:// (http:// is accepted only for localhost here)"
		}
		return "must use https://"
	default:
		return "must use https://"
	}
}

// URLHost is a URL's host (and port), lower-cased: where it goes, without
// the path and query that may hold a token. "" when it does not parse.
func URLHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// CheckSecret says what is wrong with a secret someone chose, or "".
func CheckSecret(s string) string {
	if s == "" {
		return "must not be empty; leave it out to have one generated"
	}
	return checkSecret(s)
}

func checkSecret(s string) string {
	if s == "" {
		return "" // generated
	}
	if rest, ok := strings.CutPrefix(s, SecretPrefix); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "a whsec_ secret must be followed by standard base64"
		}
		if len(key) < 24 || len(key) > 64 {
			return "a whsec_ secret must encode 24 to 64 bytes"
		}
		return ""
	}
	if len(s) < MinSecretLen || len(s) > MaxSecretLen {
		return "must be 24 to 256 characters (leave it out to have one generated)"
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "must not contain spaces or control characters"
	}
	return ""
}

// EventTypeSet is the event types subscriptions may name: an
// eventtypes.Registry, which adds the operator's own to the built-in eight.
type EventTypeSet interface {
	Has(name string) bool
	Names() []string
}

type builtinSet struct{}

func (builtinSet) Has(name string) bool { return slices.Contains(builtinEventTypes, name) }
func (builtinSet) Names() []string      { return slices.Clone(builtinEventTypes) }

// KnownEventTypes is the set subscriptions are checked against: the
// policy's, else the built-in eight. It travels with the URL policy
// because every validator that is given one also checks subscriptions.
func (p URLPolicy) KnownEventTypes() EventTypeSet {
	if p.EventTypes == nil {
		return builtinSet{}
	}
	return p.EventTypes
}

// CheckEventTypes adds an error under field for an empty list or an event
// type the policy's set does not know.
func (p URLPolicy) CheckEventTypes(fe *FieldErrors, field string, types []string) {
	known := p.KnownEventTypes()
	if len(types) == 0 {
		fe.Add(field, "must name at least one event type (or \"*\")")
		return
	}
	for _, t := range types {
		if t != AllEvents && !known.Has(t) {
			fe.Add(field, "unknown event type %q; known: %s, or *", t, strings.Join(known.Names(), ", "))
		}
	}
}

// NormalizeEventTypes sorts and dedupes, and reduces to ["*"] when "*" is present.
func NormalizeEventTypes(types []string) []string {
	if slices.Contains(types, AllEvents) {
		return []string{AllEvents}
	}
	out := slices.Clone(types)
	slices.Sort(out)
	return slices.Compact(out)
}

func checkHeaders(fe *FieldErrors, h map[string]string) {
	if len(h) > MaxCustomHeaders {
		fe.Add("custom_headers", "at most %d headers", MaxCustomHeaders)
	}
	seen := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		value, field := h[name], "custom_headers."+name
		lower := strings.ToLower(name)
		switch {
		case !validHeaderName(name):
			fe.Add(field, "is not a valid header name")
		case slices.Contains(reservedHeaders, lower):
			fe.Add(field, "is set by Herald or the HTTP transport and cannot be overridden")
		case seen[lower] != "":
			fe.Add(field, "repeats %s: header names are case-insensitive", seen[lower])
		case len(value) > MaxHeaderValueLen:
			fe.Add(field, "value must be at most %d bytes", MaxHeaderValueLen)
		case !validHeaderValue(value):
			fe.Add(field, "value must not contain control characters (CR, LF, NUL, …)")
		}
		seen[lower] = name
	}
}

// validHeaderValue is RFC 9110's field-value: no control character but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; (b < ' ' && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}

// PlainText reports whether s has no control characters (newlines and tabs
// allowed when multiline): names and sources end up in logs, headers and
// database text columns, where they would do harm.
func PlainText(s string, multiline bool) bool {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			continue
		}
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// hasNUL finds a NUL in any key or string of a JSON-shaped value: PostgreSQL
// cannot store one in JSONB.
func hasNUL(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.ContainsRune(t, 0)
	case map[string]any:
		for k, e := range t {
			if strings.ContainsRune(k, 0) || hasNUL(e) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if hasNUL(e) {
				return true
			}
		}
	}
	return false
}

// validHeaderName is RFC 9110's token: visible ASCII except separators.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r > unicode.MaxASCII || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) || r == 0x7f {
			return false
		}
	}
	return true
}
