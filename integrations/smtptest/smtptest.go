// Package smtptest runs real SMTP servers for tests, in the spirit of
// net/http/httptest: Start one on 127.0.0.1, point the code under test at
// it, then look at what it accepted. It is for tests only: it keeps every
// message in memory, accepts any recipient, and by default presents a
// throwaway self-signed certificate.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode is how the server offers TLS.
type Mode int

const (
	StartTLS Mode = iota // STARTTLS offered (submission, port 587 style)
	Implicit             // TLS from the first byte (port 465 style)
	Plain                // no TLS at all
)

// Options configure a Server.
type Options struct {
	Mode Mode
	// Host is the loopback address to listen on: "127.0.0.1" (the
	// default) or "::1".
	Host string
	// TLS is the server's certificate config; nil with StartTLS/Implicit
	// means: generate a self-signed ECDSA cert for 127.0.0.1, ::1 and localhost
	// (see Server.RootCAs). Plain ignores it.
	TLS *tls.Config
	// User and Password, when User is set, make the server demand AUTH
	// PLAIN before MAIL.
	User, Password string
	// RcptErr, when set, refuses every RCPT with it (e.g.
	// &smtp.SMTPError{Code: 451, ...}); RcptErrFor refuses only the
	// addresses it names.
	RcptErr    error
	RcptErrFor map[string]error
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string // RCPT TO addresses, in order
	Data []byte   // the DATA as received
}

// clone deep-copies m so callers cannot reach the server's record.
func (m Message) clone() Message {
	return Message{From: m.From, To: slices.Clone(m.To), Data: bytes.Clone(m.Data)}
}

// Server is a real SMTP server on 127.0.0.1 that records what it is given.
type Server struct {
	Port int
	Host string // Options.Host: "127.0.0.1" unless asked otherwise
	// RootCAs trusts the server's certificate: the generated one, or the
	// leaves of Options.TLS. It is nil for Plain, which has no TLS.
	RootCAs *x509.CertPool

	opts Options

	mu         sync.Mutex
	messages   []Message
	senders    []string
	helo       string
	authUser   string
	authPass   string
	authFailed bool
	// accepted is closed, and replaced, each time a message is accepted,
	// so Wait sleeps until there is something new to count.
	accepted chan struct{}
}

// Start runs a Server until the test ends (tb.Cleanup closes it).
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	s := &Server{Host: o.Host, opts: o, accepted: make(chan struct{})}
	tlsConfig := s.serverTLS(tb)

	l, err := net.Listen("tcp", net.JoinHostPort(s.Host, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	s.Port = l.Addr().(*net.TCPAddr).Port

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	// Clients in tests hang up abruptly on purpose; that is not news.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	switch o.Mode {
	case StartTLS:
		srv.TLSConfig = tlsConfig
	case Implicit:
		l = tls.NewListener(l, tlsConfig)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	// Waiting for Serve keeps its goroutine from outliving the test.
	tb.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

// Addr is the server's "host:port", for clients that dial one.
func (s *Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// Messages returns a copy of what was accepted so far.
func (s *Server) Messages() []Message {
	msgs, _ := s.snapshot()
	return msgs
}

// snapshot copies the messages together with the channel that closes on
// the next one, so Wait cannot miss a message arriving in between.
func (s *Server) snapshot() ([]Message, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out, s.accepted
}

// Senders returns every MAIL FROM the server accepted, in order, including
// transactions that never reached DATA: it proves whether a client got as
// far as starting a message, which Messages cannot.
func (s *Server) Senders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.senders)
}

// Auth reports the credentials last offered, and whether any AUTH failed.
func (s *Server) Auth() (user, password string, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authUser, s.authPass, s.authFailed
}

// Helo is the EHLO/HELO name the last client gave.
func (s *Server) Helo() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.helo
}

// Wait blocks until n messages were accepted or the timeout passes, and
// returns them (all accepted so far, so possibly more than n). It is for
// tests where sending is asynchronous, e.g. end to end through a worker;
// it fails tb on timeout, so call it from the test's goroutine.
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []Message {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		msgs, accepted := s.snapshot()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-accepted:
		case <-timer.C:
			tb.Fatalf("smtptest: %d messages accepted after %v, want %d", len(msgs), timeout, n)
			return nil
		}
	}
}

// serverTLS is the config the server presents, setting RootCAs to trust it.
func (s *Server) serverTLS(tb testing.TB) *tls.Config {
	tb.Helper()
	switch {
	case s.opts.Mode == Plain:
		return nil
	case s.opts.TLS != nil:
		s.RootCAs = leafPool(tb, s.opts.TLS)
		return s.opts.TLS
	}
	cfg, pool := SelfSigned(tb)
	s.RootCAs = pool
	return cfg
}

// leafPool trusts the leaf of each certificate in cfg directly, which Go's
// verifier accepts whatever chain (if any) issued it. It is nil when the
// certificates come from a callback and cannot be known up front.
func leafPool(tb testing.TB, cfg *tls.Config) *x509.CertPool {
	tb.Helper()
	if len(cfg.Certificates) == 0 {
		return nil
	}
	pool := x509.NewCertPool()
	for _, c := range cfg.Certificates {
		leaf := c.Leaf
		if leaf == nil {
			var err error
			if leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				tb.Fatalf("smtptest: Options.TLS certificate: %v", err)
			}
		}
		pool.AddCert(leaf)
	}
	return pool
}

// SelfSigned makes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost: the server's config, and the pool a client trusts it with.
func SelfSigned(tb testing.TB) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tlsCert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
	return &tls.Config{Certificates: []tls.Certificate{tlsCert}}, pool
}

// newSession starts a session per connection (and again after STARTTLS,
// which go-smtp treats as a fresh greeting), so the last one wins Helo.
func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.helo = c.Hostname()
	return &session{s: s}, nil
}

// session is one connection's state. Its fields are guarded by s.mu, not
// by the connection: go-smtp runs Data for BDAT on a goroutine of its own.
type session struct {
	s      *Server
	authed bool
	env    Message // the envelope in progress
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(ss.checkPlain), nil
}

// checkPlain records what was offered before judging it, so tests can
// assert on credentials the server refused, too.
func (ss *session) checkPlain(_, user, pass string) error {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authUser, s.authPass = user, pass
	if user != s.opts.User || pass != s.opts.Password {
		s.authFailed = true
		return smtp.ErrAuthFailed
	}
	ss.authed = true
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.User != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.env = Message{From: from}
	s.senders = append(s.senders, from)
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.opts.RcptErr != nil {
		return ss.s.opts.RcptErr
	}
	if err := ss.s.opts.RcptErrFor[to]; err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.env.To = append(ss.env.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	// Read outside the lock: the client may be slow, and Messages must not
	// block on it.
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	m := ss.env.clone()
	m.Data = data
	s.messages = append(s.messages, m)
	close(s.accepted)
	s.accepted = make(chan struct{})
	return nil
}

// Reset drops the envelope in progress; go-smtp calls it for RSET, a new
// EHLO and after every DATA, so one session can carry many messages.
func (ss *session) Reset() {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.env = Message{}
}

func (ss *session) Logout() error { return nil }
