package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// lookupNetwork maps a dial network to the address family to resolve.
var lookupNetwork = map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}

// DialContext returns a dial function for http.Transport.DialContext or an
// SMTP client. It resolves the host itself (with resolver, or
// net.DefaultResolver when nil), checks every resolved address, and dials
// only the allowed ones, by their literal address, one after the other in
// the resolver's order. It never re-resolves, so DNS rebinding cannot swap
// the address between check and connect. When no address is allowed it
// returns a *BlockedError without connecting anywhere.
//
// Answers mixing allowed and forbidden addresses dial the allowed ones only:
// the forbidden ones are never tried, and a receiver with one bad record in
// its DNS still gets its webhooks. dialer's Timeout applies to each address
// tried; the context bounds the whole call.
func (p Policy) DialContext(dialer *net.Dialer, resolver *net.Resolver) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := p.guardedDialer(dialer)
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		targets, err := p.targets(ctx, resolver, network, address)
		if err != nil {
			return nil, err
		}
		return dialEach(ctx, d, network, targets)
	}
}

// targets resolves address into the checked address:port pairs to dial.
func (p Policy) targets(ctx context.Context, r *net.Resolver, network, address string) ([]netip.AddrPort, error) {
	family, ok := lookupNetwork[network]
	if !ok {
		return nil, fmt.Errorf("netguard: network %q is not supported (tcp, tcp4 or tcp6)", network)
	}
	host, portName, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := r.LookupPort(ctx, network, portName)
	if err != nil {
		return nil, err
	}
	addrs, err := p.resolve(ctx, r, family, host)
	if err != nil {
		return nil, err
	}
	allowed, err := p.sift(network, host, addrs)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, len(allowed))
	for i, a := range allowed {
		out[i] = netip.AddrPortFrom(a, uint16(port))
	}
	return out, nil
}

// resolve turns host into addresses. Literals, including the numeric
// spellings a libc resolver accepts ("2130706433", "0x7f.1"), are taken as
// the address they spell and never sent to DNS.
func (p Policy) resolve(ctx context.Context, r *net.Resolver, family, host string) ([]netip.Addr, error) {
	if host == "" {
		// net.Dial treats an empty host as the local system.
		return nil, &BlockedError{Addr: netip.IPv4Unspecified(), Reason: "unspecified (empty host)"}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if a, _, ok := parseIPv4(strings.TrimSuffix(strings.ToLower(host), ".")); ok {
		return []netip.Addr{a}, nil
	}
	return r.LookupNetIP(ctx, family, host)
}

// sift keeps the addresses of the dial's family that the policy allows,
// unmapped so that an IPv4 address is dialled as IPv4. With none allowed it
// returns the first refusal.
func (p Policy) sift(network, host string, addrs []netip.Addr) ([]netip.Addr, error) {
	var allowed []netip.Addr
	var blocked error
	for _, a := range addrs {
		dialable := a.Unmap()
		if (network == "tcp4" && !dialable.Is4()) || (network == "tcp6" && !dialable.Is6()) {
			continue
		}
		if err := p.CheckAddr(a); err != nil {
			if blocked == nil {
				err.(*BlockedError).Host = host
				blocked = err
			}
			continue
		}
		allowed = append(allowed, dialable)
	}
	switch {
	case len(allowed) > 0:
		return allowed, nil
	case blocked != nil:
		return nil, blocked
	}
	return nil, fmt.Errorf("netguard: no %s address for host %s", network, host)
}

// dialEach dials the targets in order and returns the first connection, or
// the first error when none connects.
func dialEach(ctx context.Context, d *net.Dialer, network string, targets []netip.AddrPort) (net.Conn, error) {
	var first error
	for _, t := range targets {
		c, err := d.DialContext(ctx, network, t.String())
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// guardedDialer copies dialer and checks the address again in the socket's
// Control hook, just before connect(2). The dialer only ever gets literal
// addresses that were checked already; the hook is a second lock in case a
// later change lets a name through. The caller's own hook still runs.
func (p Policy) guardedDialer(dialer *net.Dialer) *net.Dialer {
	d := &net.Dialer{}
	if dialer != nil {
		*d = *dialer
	}
	prevCtx, prev := d.ControlContext, d.Control
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := p.checkSocketAddr(address); err != nil {
			return err
		}
		if prevCtx != nil { // net.Dialer ignores Control when ControlContext is set
			return prevCtx(ctx, network, address, c)
		}
		if prev != nil {
			return prev(network, address, c)
		}
		return nil
	}
	return d
}

func (p Policy) checkSocketAddr(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errors.New("netguard: refusing to connect to unparsable address " + address)
	}
	return p.CheckAddr(ap.Addr())
}
