// Package dnstest runs a DNS server for tests: a resolver that answers
// what the test says, as an attacker's DNS would (a name that resolves to
// a loopback or metadata address), without touching the system's DNS.
package dnstest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// Server is a tiny UDP DNS server answering A and AAAA queries from a
// fixed table, NXDOMAIN for names not in it. It plays the attacker's DNS.
type Server struct {
	pc      net.PacketConn
	answers map[string][]netip.Addr
	queries atomic.Int32
}

// New runs a Server answering from answers (lower-case names, no
// trailing dot) until Close; Start is the form for a test.
func New(answers map[string][]netip.Addr) (*Server, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{pc: pc, answers: answers}
	go s.serve()
	return s, nil
}

// Start runs a Server until the test ends.
func Start(t testing.TB, answers map[string][]netip.Addr) *Server {
	t.Helper()
	s, err := New(answers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Close stops the server.
func (s *Server) Close() error { return s.pc.Close() }

// Resolver sends every query of a Go resolver to s, whatever server
// /etc/resolv.conf names.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", s.pc.LocalAddr().String())
		},
	}
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		s.queries.Add(1)
		if resp := s.reply(buf[:n]); resp != nil {
			s.pc.WriteTo(resp, from)
		}
	}
}

// reply answers a one-question query; the question is copied back as is
// and any EDNS record the client added is dropped.
func (s *Server) reply(q []byte) []byte {
	name, end, ok := readName(q, 12)
	if !ok || end+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[end:])
	addrs, known := s.answers[name]
	var rrs []byte
	count := 0
	for _, a := range addrs {
		if (qtype == 1 && a.Is4()) || (qtype == 28 && a.Is6()) {
			rrs = append(rrs, record(qtype, a)...)
			count++
		}
	}
	flags := uint16(0x8180) // response, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	resp := append([]byte{}, q[:2]...) // the query's id
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(count))
	resp = append(resp, 0, 0, 0, 0)
	resp = append(resp, q[12:end+4]...)
	return append(resp, rrs...)
}

func readName(q []byte, off int) (string, int, bool) {
	var labels []string
	for off < len(q) {
		n := int(q[off])
		if n == 0 {
			return strings.ToLower(strings.Join(labels, ".")), off + 1, true
		}
		if n > 63 || off+1+n > len(q) {
			return "", 0, false
		}
		labels = append(labels, string(q[off+1:off+1+n]))
		off += 1 + n
	}
	return "", 0, false
}

func record(qtype uint16, a netip.Addr) []byte {
	rr := []byte{0xc0, 12} // the name: a pointer to the question's
	rr = binary.BigEndian.AppendUint16(rr, qtype)
	rr = binary.BigEndian.AppendUint16(rr, 1)  // IN
	rr = binary.BigEndian.AppendUint32(rr, 60) // TTL
	data := a.AsSlice()
	rr = binary.BigEndian.AppendUint16(rr, uint16(len(data)))
	return append(rr, data...)
}

// Queries is how many queries the server has answered.
func (s *Server) Queries() int { return int(s.queries.Load()) }
