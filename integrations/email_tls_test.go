package integrations_test

import (
	"crypto/tls"
	"net/smtp"
	"testing"

	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/integrations/smtptest"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/webhook"
)

// TestEmailRefusesOldTLS tries to deliver email over TLS 1.0 and 1.1, by
// STARTTLS and by implicit TLS, to a server whose certificate the Mailer
// trusts: the handshake must fail, be classified tls, and the server must
// get neither the password nor a MAIL command. The same server limited to
// TLS 1.2 takes the message, and a client that allows TLS 1.0 completes the
// old handshakes, so the refusal is the version floor and nothing else.
// With use_tls false STARTTLS is opportunistic, yet a server that offers it
// only at an old version is refused too, not used in plain text.
func TestEmailRefusesOldTLS(t *testing.T) {
	tests := []struct {
		name       string
		mode       smtptest.Mode
		noUseTLS   bool // use_tls false: STARTTLS opportunistic
		maxVersion uint16
		refused    bool
	}{
		{"STARTTLS, TLS 1.0", smtptest.StartTLS, false, tls.VersionTLS10, true},
		{"STARTTLS, TLS 1.1", smtptest.StartTLS, false, tls.VersionTLS11, true},
		{"STARTTLS, TLS 1.2", smtptest.StartTLS, false, tls.VersionTLS12, false},
		{"opportunistic STARTTLS, TLS 1.1", smtptest.StartTLS, true, tls.VersionTLS11, true},
		{"implicit TLS, TLS 1.0", smtptest.Implicit, false, tls.VersionTLS10, true},
		{"implicit TLS, TLS 1.1", smtptest.Implicit, false, tls.VersionTLS11, true},
		{"implicit TLS, TLS 1.2", smtptest.Implicit, false, tls.VersionTLS12, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := smtptest.SelfSigned(t)
			cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tt.maxVersion
			srv := smtptest.Start(t, smtptest.Options{Mode: tt.mode, TLS: cfg, User: smtpTestUser, Password: smtpTestPassword})
			if tt.refused {
				oldTLSHandshake(t, srv, tt.mode, tt.maxVersion)
			}
			c := smtpConnector(srv.Port)
			c.Config.ImplicitTLS = emailBool(tt.mode == smtptest.Implicit)
			c.Config.UseTLS = emailBool(!tt.noUseTLS)

			_, class, errText, _ := sendEmail(t, &integrations.Mailer{Allow: netguard.Loopback, RootCAs: srv.RootCAs}, c, smtpEvent(t, webhook.ComplianceAlert, nil))
			user, _, _ := srv.Auth()
			switch {
			case tt.refused && (class != webhook.ClassTLS || errText == ""):
				t.Errorf("class %q (%s), want a tls failure", class, errText)
			case tt.refused && (user != "" || len(srv.Senders()) != 0 || len(srv.Messages()) != 0):
				t.Errorf("over %s the server got AUTH as %q, MAIL %v and %d messages", tls.VersionName(tt.maxVersion), user, srv.Senders(), len(srv.Messages()))
			case !tt.refused && (class != webhook.ClassNone || len(srv.Messages()) != 1):
				t.Errorf("class %q (%s), %d messages; want one delivered", class, errText, len(srv.Messages()))
			}
		})
	}
}

// oldTLSHandshake shows srv completes a handshake at version with a client
// that allows it: what the Mailer refuses is the version alone.
func oldTLSHandshake(t *testing.T, srv *smtptest.Server, mode smtptest.Mode, version uint16) {
	t.Helper()
	cfg := &tls.Config{RootCAs: srv.RootCAs, ServerName: srv.Host, MinVersion: tls.VersionTLS10}
	var state tls.ConnectionState
	switch mode {
	case smtptest.Implicit:
		conn, err := tls.Dial("tcp", srv.Addr(), cfg)
		if err != nil {
			t.Fatalf("a TLS 1.0-capable client cannot reach the server: %v", err)
		}
		defer conn.Close()
		state = conn.ConnectionState()
	default:
		c, err := smtp.Dial(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.StartTLS(cfg); err != nil {
			t.Fatalf("a TLS 1.0-capable client cannot STARTTLS: %v", err)
		}
		state, _ = c.TLSConnectionState()
	}
	if state.Version != version {
		t.Fatalf("control handshake used %s, want %s", tls.VersionName(state.Version), tls.VersionName(version))
	}
}
