package integrations_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/integrations/smtptest"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/webhook"
)

const (
	smtpTestUser     = "herald-user"
	smtpTestPassword = "s3cret-Passw0rd"
	smtpSendTimeout  = 10 * time.Second
)

// received returns the one message srv took, failing otherwise.
func received(t *testing.T, srv *smtptest.Server) smtptest.Message {
	t.Helper()
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func smtpConnector(port int) *integrations.Connector {
	return &integrations.Connector{
		Type: integrations.Email,
		Credentials: integrations.Credentials{
			SMTPHost: "127.0.0.1", SMTPPort: port,
			SMTPUsername: smtpTestUser, SMTPPassword: smtpTestPassword,
			FromAddress: "LOKI Alerts <alerts@example.com>",
		},
		Config: integrations.Config{
			DefaultRecipients: []string{"admin@example.com", "compliance@example.com"},
			EventRecipients: map[string][]string{
				webhook.ReportGenerated: {"reports@example.com", "Admin@example.com"},
				webhook.AllEvents:       {"ops@example.com"},
				webhook.SystemError:     {"oncall@example.com"},
			},
			RecipientsFromPayload: true,
			DashboardURL:          "https://loki.example.com/dashboard",
		},
	}
}

// smtpEvent is the catalog example of eventType with extra payload fields.
func smtpEvent(t *testing.T, eventType string, extra map[string]any) *webhook.Event {
	t.Helper()
	et, ok := eventtypes.Lookup(eventType)
	if !ok {
		t.Fatalf("unknown event type %s", eventType)
	}
	var p map[string]any
	if err := json.Unmarshal(et.Example, &p); err != nil {
		t.Fatal(err)
	}
	for k, v := range extra {
		p[k] = v
	}
	payload, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return &webhook.Event{EventID: "evt_mail:001", EventType: eventType, Source: "loki", SourceID: "src_1",
		Payload: payload, CreatedAt: time.Date(2024, 1, 15, 14, 30, 0, 0, time.UTC)}
}

func sendEmail(t *testing.T, m *integrations.Mailer, c *integrations.Connector, ev *webhook.Event) (*integrations.EmailMessage, webhook.ErrorClass, string, string) {
	t.Helper()
	e, err := integrations.RenderEmail(c, ev)
	if err != nil {
		t.Fatal(err)
	}
	res := m.Send(context.Background(), c, e, smtpSendTimeout)
	if res.StatusCode != 0 || res.SentAt.IsZero() || res.RespondedAt.Before(res.SentAt) {
		t.Errorf("result status %d, sent %v, responded %v", res.StatusCode, res.SentAt, res.RespondedAt)
	}
	// What the delivery makes of it: delivered exactly when the server
	// took the message, and retried only on a temporary refusal.
	want := webhook.Retryable
	switch res.Class {
	case webhook.ClassNone:
		want = webhook.Delivered
	case webhook.ClassRejected, webhook.ClassRequest:
		want = webhook.Permanent
	}
	if got := res.Outcome(); got != want {
		t.Errorf("outcome %v for class %q (accepted %v), want %v", got, res.Class, res.Accepted, want)
	}
	return e, res.Class, res.Error, res.Body
}

// mimePart is a leaf of a parsed message: its media type and decoded bytes.
type mimePart struct {
	mediaType string
	params    map[string]string
	body      []byte
}

// mimeLeaves walks a MIME entity depth first, returning the multipart
// structure as media types ("multipart/mixed(multipart/alternative(...")
// and the leaves with transfer encodings undone.
func mimeLeaves(t *testing.T, contentType, encoding string, body io.Reader) (string, []mimePart) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("content type %q: %v", contentType, err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(encoding, "base64") {
			if b, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), "")); err != nil {
				t.Fatal(err)
			}
		}
		return mediaType, []mimePart{{mediaType, params, b}}
	}
	var shapes []string
	var leaves []mimePart
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// NextPart undoes quoted-printable itself and drops the header.
		shape, l := mimeLeaves(t, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
		if cd := p.Header.Get("Content-Disposition"); cd != "" {
			_, dp, _ := mime.ParseMediaType(cd)
			for i := range l {
				l[i].params["filename"] = dp["filename"]
			}
		}
		shapes, leaves = append(shapes, shape), append(leaves, l...)
	}
	return mediaType + "(" + strings.Join(shapes, ",") + ")", leaves
}

func parseMail(t *testing.T, data []byte) (*mail.Message, string, []mimePart) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	shape, leaves := mimeLeaves(t, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return msg, shape, leaves
}

func decodedHeader(t *testing.T, msg *mail.Message, name string) string {
	t.Helper()
	v, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get(name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEmailSTARTTLSWithAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{User: smtpTestUser, Password: smtpTestPassword})
	c := smtpConnector(srv.Port)
	ev := smtpEvent(t, webhook.ReportGenerated, map[string]any{
		"recipients": []any{"cto@example.com", "not an address", "admin@example.com", 42},
		"note":       `<script>alert("x")</script>`,
	})

	e, class, errText, reply := sendEmail(t, &integrations.Mailer{Allow: netguard.Loopback, RootCAs: srv.RootCAs}, c, ev)
	if class != webhook.ClassNone || errText != "" {
		t.Fatalf("send failed: %s: %s", class, errText)
	}
	if !strings.HasPrefix(reply, "250 ") {
		t.Errorf("reply = %q, want the server's 250", reply)
	}
	got := received(t, srv)
	user, pass, authFailed := srv.Auth()
	wantRcpts := []string{"admin@example.com", "compliance@example.com", "reports@example.com", "ops@example.com", "cto@example.com"}
	if user != smtpTestUser || pass != smtpTestPassword || authFailed || srv.Helo() != "herald" ||
		got.From != "alerts@example.com" || !slices.Equal(got.To, wantRcpts) {
		t.Errorf("server got auth %q/%q (failed %v), helo %q, from %q, rcpts %v; want rcpts %v",
			user, pass, authFailed, srv.Helo(), got.From, got.To, wantRcpts)
	}

	msg, shape, leaves := parseMail(t, got.Data)
	if from, err := msg.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "alerts@example.com" {
		t.Errorf("From = %v (%v)", from, err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil {
		t.Fatal(err)
	}
	var toAddrs []string
	for _, a := range to {
		toAddrs = append(toAddrs, a.Address)
	}
	if !slices.Equal(toAddrs, wantRcpts) {
		t.Errorf("To = %v, want %v", toAddrs, wantRcpts)
	}
	if got := decodedHeader(t, msg, "Subject"); got != "[LOKI] Report Generated" {
		t.Errorf("Subject = %q", got)
	}
	if got := msg.Header.Get("Message-ID"); got != e.Headers()["Message-ID"] || !strings.HasSuffix(got, "@example.com>") {
		t.Errorf("Message-ID = %q, Headers() says %q", got, e.Headers()["Message-ID"])
	}
	if msg.Header.Get("X-Herald-Event-ID") != ev.EventID || msg.Header.Get("X-Herald-Event-Type") != ev.EventType {
		t.Errorf("X-Herald headers = %q, %q", msg.Header.Get("X-Herald-Event-ID"), msg.Header.Get("X-Herald-Event-Type"))
	}

	if want := "multipart/mixed(multipart/alternative(text/plain,text/html),application/json)"; shape != want {
		t.Fatalf("structure = %s, want %s", shape, want)
	}
	text, html, attachment := string(leaves[0].body), string(leaves[1].body), leaves[2]
	for _, want := range []string{"Report Generated", "report_id: rep_2024_01", "monthly_compliance", "1250",
		"View event: https://loki.example.com/dashboard/events/evt_mail:001", "LOKI Interceptor | 2024-01-15 14:30"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{"<h1", "rep_2024_01", "monthly_compliance", "#2EB67D", ">View event</a>",
		`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`} {
		if !strings.Contains(html, want) {
			t.Errorf("html part lacks %q:\n%s", want, html)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Error("html part carries an unescaped <script>")
	}
	body, _ := ev.Body()
	if attachment.params["filename"] != "event-evt_mail_001.json" || !bytes.Equal(attachment.body, body) {
		t.Errorf("attachment %q = %s, want ev.Body() %s", attachment.params["filename"], attachment.body, body)
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Implicit, User: smtpTestUser, Password: smtpTestPassword})
	c := smtpConnector(srv.Port)
	c.Config.ImplicitTLS = emailBool(true)
	var dials atomic.Int32
	m := &integrations.Mailer{Allow: netguard.Loopback, RootCAs: srv.RootCAs, HelloName: "mx.herald.test",
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}

	if _, class, errText, _ := sendEmail(t, m, c, smtpEvent(t, webhook.ValidationCompleted, nil)); class != webhook.ClassNone {
		t.Fatalf("send failed: %s: %s", class, errText)
	}
	received(t, srv)
	if user, _, _ := srv.Auth(); user != smtpTestUser || srv.Helo() != "mx.herald.test" || dials.Load() != 1 {
		t.Errorf("auth user %q, helo %q, dials %d", user, srv.Helo(), dials.Load())
	}
}

func TestEmailTextOnly(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	c := smtpConnector(srv.Port)
	c.Credentials.SMTPUsername, c.Credentials.SMTPPassword = "", ""
	c.Config.HTMLFormat = emailBool(false)

	if _, class, errText, _ := sendEmail(t, &integrations.Mailer{Allow: netguard.Loopback, RootCAs: srv.RootCAs}, c, smtpEvent(t, webhook.ValidationCompleted, nil)); class != webhook.ClassNone {
		t.Fatalf("send failed: %s: %s", class, errText)
	}
	_, shape, leaves := parseMail(t, received(t, srv).Data)
	if shape != "text/plain" || !strings.Contains(string(leaves[0].body), "document_id: doc_12345") {
		t.Errorf("structure %s, body:\n%s", shape, leaves[0].body)
	}
}

func TestEmailHeaderInjection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	c := smtpConnector(srv.Port)
	c.Credentials.SMTPUsername, c.Credentials.SMTPPassword = "", ""
	c.Config.SubjectPrefix = "[LOKI]\r\nBcc: x@y.example"
	ev := smtpEvent(t, webhook.ComplianceAlert, map[string]any{
		"alert_level": "critical\r\nBcc: x@y.example\r\n",
		"recipients":  []string{"a@example.com\r\nBcc: x@y.example"},
	})

	if _, class, errText, _ := sendEmail(t, &integrations.Mailer{Allow: netguard.Loopback, RootCAs: srv.RootCAs}, c, ev); class != webhook.ClassNone {
		t.Fatalf("send failed: %s: %s", class, errText)
	}
	got := received(t, srv)
	msg, _, _ := parseMail(t, got.Data)
	subject := decodedHeader(t, msg, "Subject")
	if len(msg.Header["Bcc"]) != 0 || strings.ContainsAny(subject, "\r\n") || !strings.HasPrefix(subject, "[LOKI]") {
		t.Errorf("headers %v, subject %q", msg.Header, subject)
	}
	for _, r := range got.To {
		if strings.Contains(r, "x@y") || strings.Contains(r, "a@example.com") {
			t.Errorf("injected recipient %q reached RCPT", r)
		}
	}
}

func TestEmailFailures(t *testing.T) {
	closedPort := func(t *testing.T) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return port
	}
	tests := []struct {
		name      string
		rcptErr   error
		mode      smtptest.Mode
		noServer  bool
		serverPw  string // the password the server expects, when not the one sent
		untrusted bool
		want      webhook.ErrorClass
		wantReply string
	}{
		{name: "451 to RCPT is temporary", rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"},
			want: webhook.ClassSMTP, wantReply: "451 4.3.0 try later"},
		{name: "550 to RCPT is permanent", rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"},
			want: webhook.ClassRejected, wantReply: "550 5.1.1 no such user"},
		{name: "wrong password", serverPw: "the-right-one", want: webhook.ClassRejected, wantReply: "535 5.7.8 Authentication failed"},
		{name: "no STARTTLS but use_tls", mode: smtptest.Plain, want: webhook.ClassTLS},
		{name: "connection refused", noServer: true, want: webhook.ClassConnection},
		{name: "untrusted certificate on STARTTLS", untrusted: true, want: webhook.ClassTLS},
		{name: "untrusted certificate on implicit TLS", mode: smtptest.Implicit, untrusted: true, want: webhook.ClassTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *smtptest.Server
			m := &integrations.Mailer{Allow: netguard.Loopback}
			port := closedPort(t)
			if !tt.noServer {
				srv = smtptest.Start(t, smtptest.Options{Mode: tt.mode, User: smtpTestUser,
					Password: cmp.Or(tt.serverPw, smtpTestPassword), RcptErr: tt.rcptErr})
				port, m.RootCAs = srv.Port, srv.RootCAs
			}
			if tt.untrusted {
				m.RootCAs = x509.NewCertPool()
			}
			c := smtpConnector(port)
			c.Config.ImplicitTLS = emailBool(tt.mode == smtptest.Implicit)

			_, class, errText, reply := sendEmail(t, m, c, smtpEvent(t, webhook.ValidationFailed, nil))
			if class != tt.want || errText == "" || !strings.HasPrefix(reply, tt.wantReply) {
				t.Errorf("class %q, reply %q, error %q; want %q, reply %q", class, reply, errText, tt.want, tt.wantReply)
			}
			if strings.Contains(errText+reply, smtpTestPassword) {
				t.Errorf("the password leaked: %q / %q", errText, reply)
			}
			if srv == nil {
				return
			}
			msgs, senders := srv.Messages(), srv.Senders()
			if len(msgs) != 0 || (tt.mode == smtptest.Plain && len(senders) != 0) {
				t.Errorf("the server took MAIL %q and %d messages", senders, len(msgs))
			}
			// Only the wrong password may fail AUTH; the rest never got that far or passed.
			if _, _, failed := srv.Auth(); failed != (tt.serverPw != "") {
				t.Errorf("AUTH failed = %v", failed)
			}
		})
	}
}

// silentSMTP accepts connections and never greets, as a hung server does.
func silentSMTP(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

func TestEmailUnreachable(t *testing.T) {
	dnsFailure := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "mail.example.com", IsNotFound: true}}
	}
	silent := silentSMTP(t)
	tests := []struct {
		name  string
		port  int
		allow []netip.Prefix
		dial  func(context.Context, string, string) (net.Conn, error)
		want  webhook.ErrorClass
	}{
		{name: "server never greets", port: silent, allow: netguard.Loopback, want: webhook.ClassTimeout},
		{name: "host does not resolve", port: 587, dial: dnsFailure, want: webhook.ClassDNS},
		// Not allowed, the same server is never dialled: it is loopback.
		{name: "loopback server, not allowed", port: silent, want: webhook.ClassBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := smtpConnector(tt.port)
			e, err := integrations.RenderEmail(c, smtpEvent(t, webhook.SystemError, nil))
			if err != nil {
				t.Fatal(err)
			}
			res := (&integrations.Mailer{Allow: tt.allow, DialContext: tt.dial}).Send(context.Background(), c, e, 200*time.Millisecond)
			if res.Class != tt.want || res.Error == "" {
				t.Errorf("class %q (%s), want %q", res.Class, res.Error, tt.want)
			}
		})
	}
}

func TestRenderEmail(t *testing.T) {
	c := smtpConnector(587)
	t.Run("recipients and attachment defaults", func(t *testing.T) {
		c := *c
		c.Config.RecipientsFromPayload = false
		e, err := integrations.RenderEmail(&c, smtpEvent(t, webhook.SystemError, map[string]any{"recipients": []string{"cto@example.com"}}))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"admin@example.com", "compliance@example.com", "oncall@example.com", "ops@example.com"}
		if !slices.Equal(e.To, want) || len(e.Attachments) != 0 || e.Subject != "[LOKI] System Error (HIGH)" {
			t.Errorf("to %v, attachments %d, subject %q", e.To, len(e.Attachments), e.Subject)
		}
	})
	t.Run("attach_event_json overrides the default", func(t *testing.T) {
		c := *c
		c.Config.AttachEventJSON = emailBool(false)
		e, err := integrations.RenderEmail(&c, smtpEvent(t, webhook.BatchCompleted, nil))
		if err != nil || len(e.Attachments) != 0 {
			t.Fatalf("attachments %v, err %v", e, err)
		}
		c.Config.AttachEventJSON = emailBool(true)
		if e, err = integrations.RenderEmail(&c, smtpEvent(t, webhook.ValidationCompleted, nil)); err != nil || len(e.Attachments) != 1 {
			t.Fatalf("attachments %v, err %v", e, err)
		}
	})
	t.Run("no recipients", func(t *testing.T) {
		c := *c
		c.Config = integrations.Config{RecipientsFromPayload: true}
		if _, err := integrations.RenderEmail(&c, smtpEvent(t, webhook.SystemError, nil)); err == nil {
			t.Fatal("rendered an email nobody receives")
		}
	})
	t.Run("summary and headers", func(t *testing.T) {
		e, err := integrations.RenderEmail(c, smtpEvent(t, webhook.ReportGenerated, nil))
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			From        string
			To          []string
			Subject     string
			Text        string
			HTML        bool
			Attachments []struct {
				Name string
				Size int
			}
		}
		if err := json.Unmarshal(e.Summary(), &s); err != nil {
			t.Fatal(err)
		}
		if s.From != e.From || !slices.Equal(s.To, e.To) || s.Subject != e.Subject || s.Text != e.Text || !s.HTML ||
			len(s.Attachments) != 1 || s.Attachments[0].Size != len(e.Attachments[0].Data) {
			t.Errorf("summary %s", e.Summary())
		}
		again, _ := integrations.RenderEmail(c, smtpEvent(t, webhook.ReportGenerated, nil))
		h := e.Headers()
		if h["Message-ID"] != again.Headers()["Message-ID"] || h["Subject"] != e.Subject || h["To"] != strings.Join(e.To, ", ") {
			t.Errorf("headers %v, a second render's %v", h, again.Headers())
		}
	})
}

func emailBool(b bool) *bool { return &b }

// With several recipients, one refused for now and one for good, the
// delivery is retried: the temporary refusal may clear. Refused for good
// alone, it fails.
func TestEmailMixedRecipientRefusals(t *testing.T) {
	grey := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "greylisted"}
	gone := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	for _, tc := range []struct {
		name    string
		refuse  map[string]error
		want    webhook.ErrorClass
		wantRep string
	}{
		{"temporary then permanent", map[string]error{"admin@example.com": grey, "compliance@example.com": gone}, webhook.ClassSMTP, "451"},
		{"permanent then temporary", map[string]error{"admin@example.com": gone, "compliance@example.com": grey}, webhook.ClassSMTP, "451"},
		{"permanent only", map[string]error{"compliance@example.com": gone}, webhook.ClassRejected, "550"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{User: smtpTestUser, Password: smtpTestPassword, RcptErrFor: tc.refuse})
			c := smtpConnector(srv.Port)
			c.Config.EventRecipients, c.Config.RecipientsFromPayload = nil, false
			_, class, _, reply := sendEmail(t, &integrations.Mailer{Allow: netguard.Loopback, RootCAs: srv.RootCAs}, c, smtpEvent(t, webhook.SystemError, nil))
			if class != tc.want || !strings.HasPrefix(reply, tc.wantRep) {
				t.Fatalf("class %q reply %q, want %q %s…", class, reply, tc.want, tc.wantRep)
			}
		})
	}
}
