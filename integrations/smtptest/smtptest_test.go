package smtptest

import (
	"crypto/tls"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sendData runs DATA with body on an open transaction.
func sendData(c *smtp.Client, body string) error {
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

// twoMessagesAfterRSET sends an abandoned envelope, then two messages, on
// one connection: what per-message From/To and Reset have to get right.
func twoMessagesAfterRSET(addr string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	steps := []func() error{
		func() error { return c.Hello("client.test") },
		func() error { return c.Mail("dropped@example.com", nil) },
		func() error { return c.Rcpt("nobody@example.com", nil) },
		c.Reset,
		func() error { return c.Mail("one@example.com", nil) },
		func() error { return c.Rcpt("a@example.com", nil) },
		func() error { return c.Rcpt("b@example.com", nil) },
		func() error { return sendData(c, "first\r\n") },
		func() error { return c.Mail("two@example.com", nil) },
		func() error { return c.Rcpt("c@example.com", nil) },
		func() error { return sendData(c, "second\r\n") },
		c.Quit,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

func TestMessagesPerEnvelope(t *testing.T) {
	srv := Start(t, Options{Mode: Plain})
	if srv.RootCAs != nil {
		t.Error("a Plain server has RootCAs")
	}
	// Send from another goroutine so Wait has to block for the messages.
	sent := make(chan error, 1)
	go func() { sent <- twoMessagesAfterRSET(srv.Addr()) }()

	msgs := srv.Wait(t, 2, 10*time.Second)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{From: "one@example.com", To: []string{"a@example.com", "b@example.com"}, Data: []byte("first\r\n")},
		{From: "two@example.com", To: []string{"c@example.com"}, Data: []byte("second\r\n")},
	}
	if !slices.EqualFunc(msgs, want, equalMessage) {
		t.Errorf("messages %q, want %q", msgs, want)
	}
	if s := srv.Senders(); !slices.Equal(s, []string{"dropped@example.com", "one@example.com", "two@example.com"}) {
		t.Errorf("senders %q", s)
	}
	if srv.Helo() != "client.test" {
		t.Errorf("helo %q", srv.Helo())
	}

	// The copy is the caller's: scribbling on it leaves the record alone.
	msgs[0].To[0], msgs[0].Data[0] = "evil@example.com", 'X'
	if !slices.EqualFunc(srv.Messages(), want, equalMessage) {
		t.Errorf("Messages shares memory with its callers")
	}
}

func equalMessage(a, b Message) bool {
	return a.From == b.From && slices.Equal(a.To, b.To) && string(a.Data) == string(b.Data)
}

// TestCustomTLSAndAuth checks RootCAs trusts a caller's certificate, and
// that AUTH is demanded, judged and reported.
func TestCustomTLSAndAuth(t *testing.T) {
	cfg, _ := SelfSigned(t)
	cfg.Certificates[0].Leaf = nil // make leafPool parse it, as for a loaded key pair
	srv := Start(t, Options{TLS: cfg, User: "u", Password: "p"})

	c, err := smtp.DialStartTLS(srv.Addr(), &tls.Config{RootCAs: srv.RootCAs, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("early@example.com", nil); !hasCode(err, smtp.ErrAuthRequired.Code) {
		t.Errorf("MAIL before AUTH: %v", err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "u", "wrong")); !hasCode(err, smtp.ErrAuthFailed.Code) {
		t.Errorf("AUTH with a wrong password: %v", err)
	}
	if user, pass, failed := srv.Auth(); user != "u" || pass != "wrong" || !failed {
		t.Errorf("Auth() = %q, %q, %v after a failure", user, pass, failed)
	}
	if err := c.Auth(sasl.NewPlainClient("", "u", "p")); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("late@example.com", nil); err != nil {
		t.Errorf("MAIL after AUTH: %v", err)
	}
	if user, pass, failed := srv.Auth(); user != "u" || pass != "p" || !failed {
		t.Errorf("Auth() = %q, %q, %v: want the last credentials, failure remembered", user, pass, failed)
	}
}

func hasCode(err error, code int) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == code
}
