package integrations

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/textproto"
	"strings"
	"time"
	"unicode"

	"github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/webhook"
)

// Mailer sends integration email. The zero value is usable, and a Mailer
// is safe for concurrent use: every Send has its own connection.
type Mailer struct {
	// RootCAs replaces the system roots when verifying SMTP servers (tests).
	RootCAs *x509.CertPool
	// Allow lists the non-global addresses SMTP servers may have (an
	// on-premise relay); every other connection goes only to global
	// unicast addresses, checked as it is dialled.
	Allow []netip.Prefix
	// Resolver resolves SMTP hosts (default: the system's).
	Resolver *net.Resolver
	// DialContext, when set, replaces the guarded dialer altogether (tests).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	HelloName   string // EHLO name; default "herald"
}

// EmailMessage is one rendered message. (Email is taken: it names the
// connector type.)
type EmailMessage struct {
	From        string
	To          []string
	Subject     string
	Text, HTML  string
	Attachments []Attachment

	messageID string
	eventID   string
	eventType string
}

// Attachment is a file sent with an email.
type Attachment struct {
	Name, ContentType string
	Data              []byte
}

const (
	defaultSubjectPrefix = "[LOKI]"
	headerEventID        = mail.Header("X-Herald-Event-ID")
	headerEventType      = mail.Header("X-Herald-Event-Type")
	headerAutoSubmitted  = mail.Header("Auto-Submitted")
	// maxSubject keeps the Subject header well under SMTP's 998-octet line
	// limit whatever a payload's alert_level holds.
	maxSubject = 200
	// maxFactValue keeps one huge payload field from swelling the body; the
	// whole event is in the JSON attachment when it matters.
	maxFactValue = 1000
)

// RenderEmail renders ev for the connector: recipients, subject, a plain
// text body, an HTML alternative unless html_format is false, and the event
// as a JSON attachment where configured.
func RenderEmail(c *Connector, ev *webhook.Event) (*EmailMessage, error) {
	to := recipients(c.Config, ev)
	if len(to) == 0 {
		return nil, errors.New("email: no recipients for this event")
	}
	from, err := netmail.ParseAddress(c.Credentials.FromAddress)
	if err != nil {
		return nil, fmt.Errorf("email: from_address: %w", err)
	}
	ct := ContentOf(ev)
	for i := range ct.Facts {
		ct.Facts[i].Value = Truncate(ct.Facts[i].Value, maxFactValue)
	}
	e := &EmailMessage{
		From:      c.Credentials.FromAddress,
		To:        to,
		Subject:   subject(c.Config, ct.Title),
		Text:      textBody(c.Config, ev, ct),
		messageID: messageID(c, ev.EventID, from.Address),
		eventID:   ev.EventID,
		eventType: ev.EventType,
	}
	if on(c.Config.HTMLFormat, true) {
		if e.HTML, err = htmlBody(c.Config, ev, ct); err != nil {
			return nil, err
		}
	}
	if on(c.Config.AttachEventJSON, ev.EventType == webhook.ReportGenerated || ev.EventType == webhook.BatchCompleted) {
		a, err := eventAttachment(ev)
		if err != nil {
			return nil, err
		}
		e.Attachments = append(e.Attachments, a)
	}
	// Building the message once here reports a bad address when rendering,
	// not as a failed delivery attempt.
	if _, err := e.message(); err != nil {
		return nil, err
	}
	return e, nil
}

func eventAttachment(ev *webhook.Event) (Attachment, error) {
	body, err := ev.Body()
	if err != nil {
		return Attachment{}, fmt.Errorf("email: event JSON: %w", err)
	}
	// go-mail would turn the ':' an event id may hold into '_' on the way
	// out; doing it here keeps the recorded name the sent one.
	name := "event-" + strings.ReplaceAll(ev.EventID, ":", "_") + ".json"
	return Attachment{Name: name, ContentType: "application/json", Data: body}, nil
}

// recipients joins the configured and payload recipients, first mention
// kept; addresses differing only in case are one mailbox in practice.
func recipients(cfg Config, ev *webhook.Event) []string {
	lists := [][]string{cfg.DefaultRecipients, cfg.EventRecipients[ev.EventType], cfg.EventRecipients[webhook.AllEvents]}
	if cfg.RecipientsFromPayload {
		lists = append(lists, payloadRecipients(ev))
	}
	seen := map[string]bool{}
	var out []string
	for _, list := range lists {
		for _, a := range list {
			a = strings.TrimSpace(a)
			if key := strings.ToLower(a); a != "" && !seen[key] {
				seen[key] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// payloadRecipients reads the payload's "recipients" array. Unlike
// configured recipients nobody validated these, so anything that is not a
// plain address is skipped, and at most MaxRecipients are taken.
func payloadRecipients(ev *webhook.Event) []string {
	var p struct {
		Recipients []json.RawMessage `json:"recipients"`
	}
	if json.Unmarshal(ev.Payload, &p) != nil {
		return nil
	}
	var out []string
	for _, raw := range p.Recipients {
		var a string
		if json.Unmarshal(raw, &a) == nil && validAddress(a) && len(out) < MaxRecipients {
			out = append(out, a)
		}
	}
	return out
}

func subject(cfg Config, title string) string {
	s := cmp.Or(cfg.SubjectPrefix, defaultSubjectPrefix) + " " + title
	// Payload text reaches the subject through Title: no control character
	// may survive to end the header line.
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return Truncate(s, maxSubject)
}

func textBody(cfg Config, ev *webhook.Event, ct Content) string {
	var b strings.Builder
	b.WriteString(ct.Title + "\n")
	if s := ct.Summary; s != "" {
		b.WriteString("\n" + s + "\n")
	}
	if facts := ct.Facts; len(facts) > 0 {
		b.WriteString("\n")
		for _, f := range facts {
			fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Value)
		}
	}
	if link := EventLink(cfg, ev.EventID); link != "" {
		b.WriteString("\nView event: " + link + "\n")
	}
	b.WriteString("\n-- \n" + Footer(ev, cfg) + "\n")
	return b.String()
}

// emailHTML uses tables and inline styles: mail clients ignore style sheets
// and most of CSS layout.
var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1d1c1d">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;padding:24px 0"><tr><td align="center">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" style="background:#ffffff;border:1px solid #e1e3e6">
<tr><td bgcolor="{{.Colour}}" style="height:6px;line-height:6px;font-size:0;background:{{.Colour}}">&nbsp;</td></tr>
<tr><td style="padding:24px">
<h1 style="margin:0 0 12px;font-size:20px">{{.Title}}</h1>
{{- if .Summary}}
<p style="margin:0 0 16px;font-size:14px">{{.Summary}}</p>
{{- end}}
{{- if .Facts}}
<table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;font-size:14px">
{{- range .Facts}}
<tr><th align="left" valign="top" style="padding:4px 16px 4px 0;color:#6b6f76;font-weight:normal">{{.Name}}</th><td style="padding:4px 0">{{.Value}}</td></tr>
{{- end}}
</table>
{{- end}}
{{- if .Link}}
<p style="margin:20px 0 0"><a href="{{.Link}}" style="display:inline-block;padding:8px 16px;background:{{.Colour}};color:#ffffff;text-decoration:none;border-radius:4px">View event</a></p>
{{- end}}
</td></tr>
<tr><td style="padding:12px 24px;font-size:12px;color:#6b6f76;border-top:1px solid #e1e3e6">{{.Footer}}</td></tr>
</table>
</td></tr></table>
</body></html>
`))

func htmlBody(cfg Config, ev *webhook.Event, ct Content) (string, error) {
	var b strings.Builder
	err := emailHTML.Execute(&b, map[string]any{
		"Title":   ct.Title,
		"Summary": ct.Summary,
		"Facts":   ct.Facts,
		"Colour":  ct.Severity.Colour(),
		"Link":    EventLink(cfg, ev.EventID),
		"Footer":  Footer(ev, cfg),
	})
	if err != nil {
		return "", fmt.Errorf("email: html: %w", err)
	}
	return b.String(), nil
}

// messageID is the same for every attempt at one event through one SMTP
// server and sender, so that a retried send is recognisable as the same
// message; another connector's copy gets its own.
func messageID(c *Connector, eventID, from string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d\x00%s", c.Credentials.SMTPHost, c.Credentials.SMTPPort, from))
	return fmt.Sprintf("%s.%x.herald@%s", msgIDAtom(eventID), sum[:4], from[strings.LastIndex(from, "@")+1:])
}

// msgIDAtom makes an event id a dot-atom: ':' and anything unexpected are
// %-escaped, as is a '.' that could start, end or double a dot.
func msgIDAtom(id string) string {
	var b strings.Builder
	for i := range len(id) {
		ch := id[i]
		keep := ch == '_' || ch == '-' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9'
		if ch == '.' {
			keep = i > 0 && i < len(id)-1 && id[i-1] != '.' && id[i+1] != '.'
		}
		if keep {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// message builds the go-mail message afresh, so that a message can be sent
// again (go-mail marks a Msg delivered for good) and carries a fresh Date.
func (e *EmailMessage) message() (*mail.Msg, error) {
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return nil, fmt.Errorf("email: from: %w", err)
	}
	if err := m.To(e.To...); err != nil {
		return nil, fmt.Errorf("email: recipients: %w", err)
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(e.messageID)
	m.SetGenHeader(headerEventID, e.eventID)
	m.SetGenHeader(headerEventType, e.eventType)
	m.SetUserAgent("Herald")
	// Out-of-office replies to a notification help nobody: RFC 3834's
	// header stops most responders, Exchange wants its own.
	m.SetGenHeader(headerAutoSubmitted, "auto-generated")
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	}
	for _, a := range e.Attachments {
		m.AttachReadSeeker(a.Name, bytes.NewReader(a.Data), mail.WithFileContentType(mail.ContentType(a.ContentType)))
	}
	return m, nil
}

// Summary is the JSON recorded as an attempt's request body.
func (e *EmailMessage) Summary() []byte {
	type file struct {
		Name string `json:"name"`
		Size int    `json:"size"`
	}
	files := make([]file, 0, len(e.Attachments))
	for _, a := range e.Attachments {
		files = append(files, file{a.Name, len(a.Data)})
	}
	b, _ := json.Marshal(struct {
		From        string   `json:"from"`
		To          []string `json:"to"`
		Subject     string   `json:"subject"`
		Text        string   `json:"text"`
		HTML        bool     `json:"html"`
		Attachments []file   `json:"attachments"`
	}{e.From, e.To, e.Subject, e.Text, e.HTML != "", files})
	return b
}

// Headers are the message's main headers, as an attempt row records them.
func (e *EmailMessage) Headers() map[string]string {
	return map[string]string{
		"From":       e.From,
		"To":         strings.Join(e.To, ", "),
		"Subject":    e.Subject,
		"Message-ID": "<" + e.messageID + ">",
	}
}

// Send delivers e through the connector's SMTP server within timeout and
// classifies what happened. It never returns an error: every failure is a
// classified Result (StatusCode stays 0; Body holds the server's reply
// when known), and a message the server took is Accepted.
func (m *Mailer) Send(ctx context.Context, c *Connector, e *EmailMessage, timeout time.Duration) *delivery.Result {
	res := &delivery.Result{SentAt: time.Now()}
	defer func() {
		res.RespondedAt = time.Now()
		res.Duration = res.RespondedAt.Sub(res.SentAt)
	}()
	var cancel context.CancelFunc
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	secret := c.Credentials.SMTPPassword
	msg, err := e.message()
	rec := &replyRecorder{}
	var client *mail.Client
	if err == nil {
		client, err = m.client(ctx, c, timeout, rec)
	}
	if err != nil {
		res.Class, res.Error = webhook.ClassRequest, redact(err.Error(), secret)
		return res
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// A failing RSET or QUIT after the server took the message does
		// not undo the delivery.
		res.Accepted, res.Body = true, redact("250 "+msg.ServerResponse(), secret)
		return res
	}
	class, reply := classifySMTP(ctx, err, rec)
	res.Class, res.Body, res.Error = class, redact(reply, secret), redact(err.Error(), secret)
	return res
}

// redact removes the password from text a server or library produced; a
// server may echo what it was sent.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, mask)
}

func (m *Mailer) client(ctx context.Context, c *Connector, timeout time.Duration, rec *replyRecorder) (*mail.Client, error) {
	cr := c.Credentials
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cr.SMTPHost, RootCAs: m.RootCAs}
	implicit := on(c.Config.ImplicitTLS, cr.SMTPPort == 465)
	opts := []mail.Option{
		mail.WithPort(cr.SMTPPort),
		mail.WithHELO(cmp.Or(m.HelloName, "herald")),
		mail.WithTLSConfig(tlsConfig),
		mail.WithDialContextFunc(m.dialer(ctx, tlsConfig, implicit)),
	}
	switch {
	case implicit:
		opts = append(opts, mail.WithSSL())
	case on(c.Config.UseTLS, true):
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if timeout > 0 {
		opts = append(opts, mail.WithTimeout(timeout))
	}
	if cr.SMTPUsername != "" {
		opts = append(opts, mail.WithUsername(cr.SMTPUsername), mail.WithPassword(cr.SMTPPassword),
			mail.WithOpportunisticSMTPAuth(authPreference...))
	}
	client, err := mail.NewClient(cr.SMTPHost, opts...)
	if err != nil {
		return nil, err
	}
	client.ErrorHandlerRegistry.SetDefaultHandler(rec)
	return client, nil
}

// authPreference is go-mail's own auto-discovery order. Auto-discovery
// itself cannot be used: with a custom dialer go-mail does not know an
// implicit-TLS connection is encrypted and would refuse PLAIN and LOGIN.
// PLAIN and LOGIN still check for TLS themselves before sending the
// password.
var authPreference = []mail.SMTPAuthType{
	mail.SMTPAuthSCRAMSHA256PLUS, mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1PLUS, mail.SMTPAuthSCRAMSHA1,
	mail.SMTPAuthNTLM, mail.SMTPAuthCramMD5, mail.SMTPAuthPlain, mail.SMTPAuthLogin,
}

// dialer makes every connection through m.DialContext, so an address filter
// sees it, and does implicit TLS itself: go-mail skips TLS when given a
// dialer. go-mail's deadlines are per command; closing the connection when
// the attempt's context ends bounds the whole exchange.
func (m *Mailer) dialer(attempt context.Context, tlsConfig *tls.Config, implicit bool) mail.DialContextFunc {
	dial := m.DialContext
	if dial == nil {
		dial = netguard.Policy{Allow: m.Allow}.DialContext(&net.Dialer{}, m.Resolver)
	}
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		// go-mail joins host and port without brackets; an IPv6 host
		// needs them.
		if i := strings.LastIndexByte(addr, ':'); i > 0 && strings.Count(addr, ":") > 1 && !strings.HasPrefix(addr, "[") {
			addr = net.JoinHostPort(addr[:i], addr[i+1:])
		}
		conn, err := dial(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if implicit {
			tc := tls.Client(conn, tlsConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			conn = tc
		}
		context.AfterFunc(attempt, func() { conn.Close() })
		return conn, nil
	}
}

// replyRecorder keeps the server's first refusal (go-mail's SendError
// reports a reply's code but not its text) and its first temporary one:
// with several recipients some may be refused for now and some for good,
// and any temporary refusal means the delivery is worth retrying.
type replyRecorder struct {
	reply    string
	temp     string
	tempCode int
}

func (r *replyRecorder) HandleError(_, _ string, _ *textproto.Conn, err error) error {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return err
	}
	if r.reply == "" {
		r.reply = replyText(te)
	}
	if te.Code/100 == 4 && r.tempCode == 0 {
		r.tempCode, r.temp = te.Code, replyText(te)
	}
	return err
}

// classifySMTP decides why a send failed and returns the server's reply
// when there was one. A 4xx reply is worth retrying, a 5xx reply or a
// refused login is not.
func classifySMTP(ctx context.Context, err error, rec *replyRecorder) (webhook.ErrorClass, string) {
	code, reply := serverReply(err, rec)
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case netguard.IsBlocked(err):
		return webhook.ClassBlocked, reply
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return webhook.ClassTimeout, reply
	case code >= 400 && code < 500:
		return webhook.ClassSMTP, reply
	case code >= 500:
		return webhook.ClassRejected, reply
	case isTLSError(err):
		return webhook.ClassTLS, reply
	case errors.As(err, &dnsErr):
		return webhook.ClassDNS, reply
	case errors.As(err, &netErr) && netErr.Timeout(), strings.Contains(err.Error(), "i/o timeout"):
		return webhook.ClassTimeout, reply
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return webhook.ClassConnection, reply
	case errors.Is(err, mail.ErrNoSupportedAuthDiscovered), strings.Contains(err.Error(), "SMTP AUTH"):
		// No mechanism in common, or no AUTH at all: retrying cannot help.
		return webhook.ClassRejected, reply
	}
	return webhook.ClassConnection, reply
}

// serverReply finds the SMTP reply behind err. A SendError (MAIL, RCPT,
// DATA) is looked at first: it hides its cause, and a later QUIT's reply
// may be joined to it.
func serverReply(err error, rec *replyRecorder) (int, string) {
	if rec.tempCode != 0 {
		return rec.tempCode, rec.temp
	}
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode(), rec.reply
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code, replyText(te)
	}
	return 0, rec.reply
}

// replyText is a reply as the server sent it; textproto.Error quotes it.
func replyText(te *textproto.Error) string {
	return fmt.Sprintf("%d %s", te.Code, te.Msg)
}

// isTLSError covers a failed handshake or certificate check, a server
// without the STARTTLS that use_tls requires (go-mail has no sentinel
// for it), and a login held back because the connection was not encrypted.
func isTLSError(err error) bool {
	return delivery.IsTLSError(err) || errors.Is(err, smtp.ErrUnencrypted) ||
		strings.Contains(err.Error(), "does not support STARTTLS")
}
