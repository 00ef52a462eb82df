// Package netguard is Herald's guard against server-side request forgery.
//
// Webhook URLs and SMTP hosts are typed in by users, so every outbound
// connection could be aimed at Herald's own network: the loopback admin
// ports, the database, the cloud metadata service. netguard refuses every
// address that is not global unicast, in two places:
//
//   - CheckURL, when a webhook is created or updated, rejects URLs whose host
//     is a forbidden address literal in any spelling a parser or a libc
//     resolver would accept, so the user gets a clear error early;
//   - DialContext, for every connection, resolves the host itself, checks
//     each resolved address and dials the checked address literally, so that
//     DNS rebinding cannot change the answer between check and connect. This
//     is the guard that matters; CheckURL only explains problems sooner.
//
// The guard sees the address a connection goes to, so it only protects a
// client that dials the receiver directly: an HTTP proxy (HTTPS_PROXY) would
// be the address checked instead of the receiver.
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Policy decides which addresses outbound requests may reach. The zero
// Policy allows global unicast addresses only.
type Policy struct {
	// Allow lists CIDRs allowed despite the rules (on-premise receivers;
	// `herald dev` allows loopback).
	Allow []netip.Prefix
}

// Loopback is the allowlist herald dev uses: 127.0.0.0/8 and ::1/128.
var Loopback = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// ParseAllow parses a comma-separated CIDR list, as given to --allow-cidrs
// or HERALD_ALLOW_CIDRS. A bare address stands for itself (/32 or /128).
// Empty entries are skipped so that a trailing comma is harmless.
func ParseAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, field := range strings.Split(s, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		p, err := parseAllowEntry(field)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseAllowEntry(field string) (netip.Prefix, error) {
	if !strings.Contains(field, "/") {
		a, err := netip.ParseAddr(field)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("netguard: allowed CIDR %q is neither a CIDR nor an IP address", field)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(field)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("netguard: allowed CIDR %q: %v", field, err)
	}
	// Masked, so that listing and comparing prefixes shows what is allowed.
	return p.Masked(), nil
}

// BlockedError says an address is refused and why.
type BlockedError struct {
	Addr netip.Addr
	// Host is the name or literal the address came from, when known.
	Host   string
	Reason string
}

func (e *BlockedError) Error() string {
	s := fmt.Sprintf("blocked address %s (%s)", e.Addr, e.Reason)
	if e.Host != "" && e.Host != e.Addr.String() {
		s += " for host " + e.Host
	}
	return s
}

// IsBlocked reports whether err (or its chain) is a *BlockedError.
func IsBlocked(err error) bool {
	var be *BlockedError
	return errors.As(err, &be)
}

// CheckAddr returns nil or a *BlockedError for an address.
func (p Policy) CheckAddr(a netip.Addr) error {
	if r := p.refusal(a); r != "" {
		return &BlockedError{Addr: a, Reason: r}
	}
	return nil
}

// allows reports whether an allowlisted prefix contains a. Zones are
// dropped first because a prefix never contains a zoned address.
func (p Policy) allows(a netip.Addr) bool {
	a = a.WithZone("")
	for _, pr := range p.Allow {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}
