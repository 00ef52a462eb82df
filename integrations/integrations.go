// Package integrations holds Herald's connectors: Slack, Microsoft Teams,
// email, Zapier and a generic signed webhook. Each reads its credentials and
// config, renders an event into its platform's message format and sends it;
// delivery itself (retries, rate limits, attempt records) is the same as for
// any webhook.
package integrations

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/loki-interceptor/herald/webhook"
)

// Type names a connector.
type Type string

const (
	Slack   Type = "slack"
	Teams   Type = "teams"
	Email   Type = "email"
	Zapier  Type = "zapier"
	Webhook Type = "webhook"
)

// Types lists the connectors in a fixed order, for error messages.
var Types = []Type{Slack, Teams, Email, Zapier, Webhook}

func (t Type) Valid() bool { return slices.Contains(Types, t) }

// Credentials are a connector's secrets and where to send. They are sealed at
// rest, never logged, never written to a Temporal history, and shown masked.
type Credentials struct {
	// WebhookURL is the incoming-webhook URL of Slack, a Teams Workflow,
	// a Zapier catch hook, or a generic webhook's receiver.
	WebhookURL string `json:"webhook_url,omitempty"`
	// Secret signs a generic webhook's or Zapier's requests; generated
	// when left out.
	Secret string `json:"secret,omitempty"`

	SMTPHost     string `json:"smtp_host,omitempty"`
	SMTPPort     int    `json:"smtp_port,omitempty"`
	SMTPUsername string `json:"smtp_username,omitempty"`
	SMTPPassword string `json:"smtp_password,omitempty"`
	FromAddress  string `json:"from_address,omitempty"`
}

// Config is how a connector formats and routes; nothing in it is secret.
type Config struct {
	// Slack
	DefaultChannel string `json:"default_channel,omitempty"`
	ThreadTS       string `json:"thread_ts,omitempty"`
	Username       string `json:"username,omitempty"`
	IconEmoji      string `json:"icon_emoji,omitempty"`
	// Slack and Teams
	IncludeFooter    *bool `json:"include_footer,omitempty"`
	IncludeTimestamp *bool `json:"include_timestamp,omitempty"`
	// Teams
	ThemeColor string `json:"theme_color,omitempty"`
	// DashboardURL is where a card's "View event" button leads: the
	// event id replaces {event_id}, or is appended as /events/<id>.
	DashboardURL string `json:"dashboard_url,omitempty"`
	// Email
	UseTLS *bool `json:"use_tls,omitempty"`
	// ImplicitTLS connects with TLS from the first byte (port 465)
	// instead of upgrading with STARTTLS; on by default for port 465.
	ImplicitTLS       *bool               `json:"implicit_tls,omitempty"`
	DefaultRecipients []string            `json:"default_recipients,omitempty"`
	EventRecipients   map[string][]string `json:"event_recipients,omitempty"`
	// RecipientsFromPayload adds the addresses in an event payload's
	// "recipients" field.
	RecipientsFromPayload bool   `json:"recipients_from_payload,omitempty"`
	HTMLFormat            *bool  `json:"html_format,omitempty"`
	SubjectPrefix         string `json:"subject_prefix,omitempty"`
	// AttachEventJSON attaches the event as a JSON file; by default only
	// to report.generated and batch.completed.
	AttachEventJSON *bool `json:"attach_event_json,omitempty"`
	// Zapier
	webhook.BatchSwitch
	BatchSize           int `json:"batch_size,omitempty"`
	BatchTimeoutSeconds int `json:"batch_timeout_seconds,omitempty"`
}

// Batch defaults and limits.
const (
	DefaultBatchSize           = 10
	DefaultBatchTimeoutSeconds = 30
	MaxBatchSize               = 500
	MaxBatchTimeoutSeconds     = 3600
	MaxRecipients              = 100
)

// configKeys are the config fields each connector reads; any other is a
// mistake worth reporting rather than ignoring.
var configKeys = map[Type][]string{
	Slack:   {"default_channel", "thread_ts", "username", "icon_emoji", "include_footer", "include_timestamp"},
	Teams:   {"theme_color", "dashboard_url", "include_footer", "include_timestamp"},
	Email:   {"use_tls", "implicit_tls", "default_recipients", "event_recipients", "recipients_from_payload", "html_format", "subject_prefix", "attach_event_json", "dashboard_url"},
	Zapier:  {"batch_events", "batch_size", "batch_timeout_seconds"},
	Webhook: {},
}

var credentialKeys = map[Type][]string{
	Slack:   {"webhook_url"},
	Teams:   {"webhook_url"},
	Zapier:  {"webhook_url", "secret"},
	Webhook: {"webhook_url", "secret"},
	Email:   {"smtp_host", "smtp_port", "smtp_username", "smtp_password", "from_address"},
}

// Connector is a parsed integration: its type, credentials and config.
type Connector struct {
	Type        Type
	Credentials Credentials
	Config      Config
}

// Parse reads a subscriber's integration. It does not validate; Validate does.
func Parse(in *webhook.Integration) (*Connector, error) {
	c := &Connector{Type: Type(in.Type)}
	if len(in.Credentials) > 0 {
		if err := json.Unmarshal(in.Credentials, &c.Credentials); err != nil {
			return nil, fmt.Errorf("integrations: credentials: %w", err)
		}
	}
	if len(in.Config) > 0 {
		if err := json.Unmarshal(in.Config, &c.Config); err != nil {
			return nil, fmt.Errorf("integrations: config: %w", err)
		}
	}
	return c, nil
}

// Decode merges credentials and config as an API client sent them into c,
// field by field (so an update may send only what changes), refusing fields
// the connector does not read.
func (c *Connector) Decode(credentials, config json.RawMessage) error {
	var fe webhook.FieldErrors
	decodeStrict(&fe, "credentials", credentials, credentialKeys[c.Type], &c.Credentials)
	decodeStrict(&fe, "config", config, configKeys[c.Type], &c.Config)
	return fe.Err("integration")
}

func decodeStrict(fe *webhook.FieldErrors, field string, raw json.RawMessage, allowed []string, into any) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		fe.Add(field, "must be a JSON object")
		return
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !slices.Contains(allowed, k) {
			fe.Add(field+"."+k, "is not a setting of this integration type; it takes: %s", orNone(allowed))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if !slices.Contains(allowed, k) {
			continue
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: keys[k]})
		if err := json.Unmarshal(one, into); err != nil {
			fe.Add(field+"."+k, "has the wrong type: %s", jsonTypeError(err))
		}
	}
}

func jsonTypeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "expected " + te.Type.String()
	}
	return err.Error()
}

func orNone(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// Validate checks credentials and config for the connector's type.
func (c *Connector) Validate(p webhook.URLPolicy) error {
	var fe webhook.FieldErrors
	cr, cfg := c.Credentials, c.Config
	switch c.Type {
	case Slack, Teams, Zapier, Webhook:
		if msg := p.Check(cr.WebhookURL); msg != "" {
			fe.Add("credentials.webhook_url", "%s", msg)
		}
	case Email:
		c.checkEmail(&fe, p)
	}
	if cfg.ThemeColor != "" && !isHexColor(cfg.ThemeColor) {
		fe.Add("config.theme_color", "must be a hex colour like 0078D4")
	}
	if cfg.DashboardURL != "" {
		if u, err := url.Parse(cfg.DashboardURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			fe.Add("config.dashboard_url", "must be an absolute http(s) URL")
		}
	}
	if cfg.BatchSize != 0 && (cfg.BatchSize < 1 || cfg.BatchSize > MaxBatchSize) {
		fe.Add("config.batch_size", "must be between 1 and %d", MaxBatchSize)
	}
	if cfg.BatchTimeoutSeconds != 0 && (cfg.BatchTimeoutSeconds < 1 || cfg.BatchTimeoutSeconds > MaxBatchTimeoutSeconds) {
		fe.Add("config.batch_timeout_seconds", "must be between 1 and %d", MaxBatchTimeoutSeconds)
	}
	for field, v := range map[string]string{"config.default_channel": cfg.DefaultChannel, "config.thread_ts": cfg.ThreadTS,
		"config.username": cfg.Username, "config.icon_emoji": cfg.IconEmoji, "config.subject_prefix": cfg.SubjectPrefix} {
		if len(v) > 200 || !webhook.PlainText(v, false) {
			fe.Add(field, "must be at most 200 characters without control characters")
		}
	}
	return fe.Err("integration")
}

// checkEmail checks an email connector's SMTP credentials and recipients.
func (c *Connector) checkEmail(fe *webhook.FieldErrors, p webhook.URLPolicy) {
	cr, cfg := c.Credentials, c.Config
	switch {
	case strings.TrimSpace(cr.SMTPHost) == "":
		fe.Add("credentials.smtp_host", "is required")
	case strings.ContainsAny(cr.SMTPHost, "/@[] \t\r\n") || strings.Contains(cr.SMTPHost, ":") && !isIP(cr.SMTPHost):
		fe.Add("credentials.smtp_host", "must be a host name or address, without scheme or port")
	default:
		if msg := p.CheckHost(cr.SMTPHost); msg != "" {
			fe.Add("credentials.smtp_host", "%s", msg)
		}
	}
	if cr.SMTPPort < 1 || cr.SMTPPort > 65535 {
		fe.Add("credentials.smtp_port", "must be between 1 and 65535 (587 for STARTTLS, 465 for implicit TLS)")
	}
	if cr.SMTPPassword != "" && cr.SMTPUsername == "" {
		fe.Add("credentials.smtp_username", "is required with smtp_password")
	}
	if cr.FromAddress == "" {
		fe.Add("credentials.from_address", "is required")
	} else if a, err := mail.ParseAddress(cr.FromAddress); err != nil || strings.ContainsAny(cr.FromAddress, "\r\n") || !validAddress(a.Address) {
		fe.Add("credentials.from_address", "must be an email address, like alerts@example.com or \"LOKI <alerts@example.com>\"")
	}
	checkRecipients(fe, "config.default_recipients", cfg.DefaultRecipients)
	for _, t := range slices.Sorted(maps.Keys(cfg.EventRecipients)) {
		if !p.KnownEventTypes().Has(t) && t != webhook.AllEvents {
			fe.Add("config.event_recipients", "unknown event type %q", t)
		}
		checkRecipients(fe, "config.event_recipients."+t, cfg.EventRecipients[t])
	}
	if len(cfg.DefaultRecipients) == 0 && len(cfg.EventRecipients) == 0 && !cfg.RecipientsFromPayload {
		fe.Add("config.default_recipients", "must name at least one recipient (or set event_recipients)")
	}
}

func checkRecipients(fe *webhook.FieldErrors, field string, addrs []string) {
	if len(addrs) > MaxRecipients {
		fe.Add(field, "must list at most %d addresses", MaxRecipients)
		return
	}
	for _, a := range addrs {
		if !validAddress(a) {
			fe.Add(field, "%q is not an email address", a)
		}
	}
}

// validAddress accepts a bare address (name@domain), the form recipients
// are given in, and refuses anything that could smuggle a header.
func validAddress(s string) bool {
	if strings.ContainsAny(s, "\r\n<>,;\" ") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndex(s, "@")+1:], ".")
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

func isHexColor(s string) bool {
	s = strings.TrimPrefix(s, "#")
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// Batch returns the batch size and timeout in seconds, defaults applied;
// ok is false when the connector does not batch.
func (c *Connector) Batch() (size, timeoutSeconds int, ok bool) {
	if !c.Config.BatchEvents {
		return 0, 0, false
	}
	size, timeoutSeconds = c.Config.BatchSize, c.Config.BatchTimeoutSeconds
	if size == 0 {
		size = DefaultBatchSize
	}
	if timeoutSeconds == 0 {
		timeoutSeconds = DefaultBatchTimeoutSeconds
	}
	return size, timeoutSeconds, true
}

// DisplayURL is the connector's destination as attempt rows and API answers
// show it: an incoming-webhook URL's path is its token, so only scheme and
// host remain; an SMTP server is smtp://host:port.
func (c *Connector) DisplayURL() string {
	if c.Type == Email {
		return "smtp://" + net.JoinHostPort(c.Credentials.SMTPHost, strconv.Itoa(c.Credentials.SMTPPort))
	}
	return MaskURL(c.Credentials.WebhookURL)
}

// mask stands for a hidden value in answers; sent back, it means "keep".
const mask = "********"

// MaskURL keeps a URL's scheme and host and hides its path and query.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return mask
	}
	if u.Path == "" || u.Path == "/" {
		if u.RawQuery == "" {
			return u.Scheme + "://" + u.Host + u.Path
		}
	}
	return u.Scheme + "://" + u.Host + "/" + mask
}

// Masked is the credentials as the API shows them: where and who, with
// URLs' tokens and passwords hidden.
func (c *Connector) Masked() map[string]any {
	cr := c.Credentials
	out := map[string]any{}
	switch c.Type {
	case Email:
		out["smtp_host"], out["smtp_port"], out["from_address"] = cr.SMTPHost, cr.SMTPPort, cr.FromAddress
		if cr.SMTPUsername != "" {
			out["smtp_username"] = cr.SMTPUsername
		}
		if cr.SMTPPassword != "" {
			out["smtp_password"] = mask
		}
	default:
		out["webhook_url"] = MaskURL(cr.WebhookURL)
	}
	return out
}

// KeepMasked puts back the stored value of every credential an update
// echoed in its masked form, so that a client may send back what it read.
// A stored password never follows a changed SMTP server or user: whoever
// changes where it goes must know it (else the API would hand a password
// it never shows to a server of the caller's choosing).
// passwordSent says the update itself carried a password (not a mask).
func (c *Connector) KeepMasked(old *Connector, passwordSent bool) error {
	if old == nil {
		return nil
	}
	o, n := old.Credentials, c.Credentials
	moved := n.SMTPHost != o.SMTPHost || n.SMTPPort != o.SMTPPort || n.SMTPUsername != o.SMTPUsername
	if o.SMTPPassword != "" && moved && (!passwordSent || n.SMTPPassword == mask) {
		var fe webhook.FieldErrors
		fe.Add("credentials.smtp_password", "must be sent again when smtp_host, smtp_port or smtp_username changes")
		return fe.Err("integration")
	}
	if c.Credentials.WebhookURL != "" && c.Credentials.WebhookURL == MaskURL(old.Credentials.WebhookURL) {
		c.Credentials.WebhookURL = old.Credentials.WebhookURL
	}
	if c.Credentials.SMTPPassword == mask {
		c.Credentials.SMTPPassword = old.Credentials.SMTPPassword
	}
	return nil
}

// Sends reports whether raw credentials (as a client sent them) hold key.
func Sends(raw json.RawMessage, key string) bool {
	var keys map[string]json.RawMessage
	return json.Unmarshal(raw, &keys) == nil && keys[key] != nil
}

// Integration is the connector in the form a subscriber stores.
func (c *Connector) Integration() (*webhook.Integration, error) {
	cr, err := json.Marshal(c.Credentials)
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(c.Config)
	if err != nil {
		return nil, err
	}
	return &webhook.Integration{Type: string(c.Type), Credentials: cr, Config: cfg}, nil
}
