package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// urlError is a refused URL. It wraps a *BlockedError when the host stands
// for a forbidden address, so IsBlocked tells a forbidden address from a
// malformed URL.
type urlError struct {
	msg     string
	blocked *BlockedError
}

func (e *urlError) Error() string { return e.msg }

func (e *urlError) Unwrap() error {
	if e.blocked == nil {
		return nil
	}
	return e.blocked
}

func invalid(format string, args ...any) *urlError {
	return &urlError{msg: fmt.Sprintf(format, args...)}
}

// CheckURL validates a webhook URL's host at create or update time. It
// rejects literal forbidden addresses in every spelling the URL parser or a
// libc resolver accepts, names that mean loopback or the metadata service,
// non-canonical numeric spellings even of allowed addresses (no receiver
// needs "0x7f.1", and a check that compared spellings could be fooled), and
// IPv6 zone ids. It does not resolve DNS: DialContext checks resolved
// addresses on every connection. Allowed CIDRs in the policy make the
// matching literals acceptable. The scheme is the caller's business.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return invalid("invalid URL: %v", parseCause(err))
	}
	if u.Host == "" {
		return invalid("URL has no host")
	}
	ue := p.checkHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
	if ue == nil {
		return nil
	}
	if u.User != nil {
		// "https://good.com@127.0.0.1/" reads like good.com to a person.
		ue.msg += ` (the part before "@" is user info, not the host)`
	}
	return ue
}

// CheckHost is CheckURL for a bare host, as an SMTP server is given.
func (p Policy) CheckHost(host string) error {
	if ue := p.checkHost(host, false); ue != nil {
		return ue
	}
	return nil
}

// parseCause drops the URL from a url.Error: it may hold a password.
func parseCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (p Policy) checkHost(host string, bracketed bool) *urlError {
	switch {
	case host == "":
		return invalid("URL has no host")
	case bracketed || strings.Contains(host, ":"):
		return p.checkIPv6(host)
	case !isASCII(host):
		return invalid("host %q has non-ASCII characters; write the name in its ASCII (xn--) form", host)
	}
	name := strings.ToLower(host)
	trimmed := strings.TrimSuffix(name, ".") // resolvers ignore one trailing dot
	switch {
	case !validName(trimmed):
		return invalid("host %q is not a valid host name", host)
	case endsInNumber(trimmed):
		return p.checkIPv4(host, trimmed, trimmed != name)
	}
	if addrs, ok := specialName(trimmed); ok {
		return p.checkSpecial(host, addrs)
	}
	return nil
}

func (p Policy) checkIPv6(host string) *urlError {
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is6() {
		return invalid("host [%s] is not a valid IPv6 literal", host)
	}
	if err := p.CheckAddr(a); err != nil {
		return blockedHost(err, host, fmt.Sprintf("host [%s] is %s", host, reasonOf(err)))
	}
	if a.Zone() != "" {
		return invalid("host [%s] has an IPv6 zone id, which only means something on this machine", host)
	}
	return nil
}

// checkIPv4 judges a host that a resolver would read as an IPv4 address.
func (p Policy) checkIPv4(host, trimmed string, trailingDot bool) *urlError {
	a, spelling, ok := parseIPv4(trimmed)
	if !ok {
		return invalid("host %s is not a valid host: it ends in a number but is not an IPv4 address", host)
	}
	what := fmt.Sprintf("%s spelling of %s", spelling, a)
	switch {
	case spelling == "" && trailingDot:
		what = fmt.Sprintf("%s with a trailing dot", a)
	case spelling == "":
		what = ""
	}
	if err := p.CheckAddr(a); err != nil {
		msg := fmt.Sprintf("host %s is %s", host, reasonOf(err))
		if what != "" {
			msg = fmt.Sprintf("host %s is %s, which is %s", host, what, reasonOf(err))
		}
		return blockedHost(err, host, msg)
	}
	if what != "" {
		return invalid("host %s is %s; write it as %s", host, what, a)
	}
	return nil
}

// checkSpecial judges a name that stands for fixed addresses: it passes
// when the policy allows any of them (herald dev allowing loopback accepts
// "localhost"), since the dialer checks each resolved address anyway.
func (p Policy) checkSpecial(host string, addrs []netip.Addr) *urlError {
	var first error
	for _, a := range addrs {
		err := p.CheckAddr(a)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	msg := fmt.Sprintf("host %s is a name for %s, which is %s", host, addrs[0], reasonOf(first))
	return blockedHost(first, host, msg)
}

func blockedHost(err error, host, msg string) *urlError {
	be := err.(*BlockedError)
	be.Host = host
	return &urlError{msg: msg, blocked: be}
}

func reasonOf(err error) string { return err.(*BlockedError).Reason }

var (
	v4Loopback   = netip.MustParseAddr("127.0.0.1")
	v6Loopback   = netip.IPv6Loopback()
	metadataAddr = netip.MustParseAddr("169.254.169.254")
)

// specialNames are names that /etc/hosts, resolvers or cloud DNS map to
// fixed forbidden addresses, whatever the receiver's DNS says.
var specialNames = map[string][]netip.Addr{
	"localhost":                  {v4Loopback, v6Loopback},
	"localhost.localdomain":      {v4Loopback, v6Loopback},
	"localhost4":                 {v4Loopback},
	"localhost4.localdomain4":    {v4Loopback},
	"localhost6":                 {v6Loopback},
	"localhost6.localdomain6":    {v6Loopback},
	"ip6-localhost":              {v6Loopback},
	"ip6-loopback":               {v6Loopback},
	"ip6-allnodes":               {netip.MustParseAddr("ff02::1")},
	"ip6-allrouters":             {netip.MustParseAddr("ff02::2")},
	"metadata":                   {metadataAddr},
	"metadata.google.internal":   {metadataAddr},
	"instance-data":              {metadataAddr},
	"instance-data.ec2.internal": {metadataAddr},
}

func specialName(name string) ([]netip.Addr, bool) {
	if addrs, ok := specialNames[name]; ok {
		return addrs, true
	}
	if strings.HasSuffix(name, ".localhost") { // RFC 6761: all of .localhost is loopback
		return specialNames["localhost"], true
	}
	return nil, false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validName accepts lower-case DNS names: labels of 1 to 63 letters,
// digits, '-' or '_', at most 253 bytes. Anything else in a host (the URL
// parser lets through sub-delimiters like ';' and '!') is refused rather
// than left for some resolver to interpret.
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !nameByte(label[i]) {
				return false
			}
		}
	}
	return true
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// endsInNumber is the WHATWG URL rule for hosts that must be IPv4: the last
// label is all digits or 0x-hex. No top-level domain looks like that, and a
// libc resolver reads every such string that inet_aton accepts as an address.
func endsInNumber(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return allBytes(rest, isHex)
	}
	return last != "" && allBytes(last, isDigit)
}
