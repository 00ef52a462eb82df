package netguard

import (
	"fmt"
	"net/netip"
)

// rule names a range that is refused. Rules are matched in order, so a
// narrower range (the metadata address) comes before the one holding it.
type rule struct {
	prefix netip.Prefix
	reason string
}

func rules(pairs ...string) []rule {
	out := make([]rule, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, rule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// v4Rules follow the IANA IPv4 special-purpose registry (RFC 6890 and
// updates), keeping the blocks that are not globally reachable. AS112
// (192.31.196/24, 192.175.48/24) and AMT (192.52.193/24) are global and pass.
var v4Rules = rules(
	"0.0.0.0/32", "unspecified",
	"0.0.0.0/8", "this network (0.0.0.0/8)",
	"127.0.0.0/8", "loopback",
	"10.0.0.0/8", "private",
	"172.16.0.0/12", "private",
	"192.168.0.0/16", "private",
	"169.254.169.254/32", "link-local (cloud metadata)",
	"169.254.170.2/32", "link-local (cloud metadata)", // AWS ECS task metadata
	"169.254.0.0/16", "link-local",
	"100.100.100.200/32", "carrier-grade NAT (cloud metadata)", // Alibaba Cloud
	"100.64.0.0/10", "carrier-grade NAT",
	"192.0.0.0/24", "reserved (IETF protocol assignments 192.0.0.0/24)",
	"192.0.2.0/24", "reserved (documentation TEST-NET-1)",
	"198.51.100.0/24", "reserved (documentation TEST-NET-2)",
	"203.0.113.0/24", "reserved (documentation TEST-NET-3)",
	"198.18.0.0/15", "reserved (benchmarking 198.18.0.0/15)",
	"192.88.99.0/24", "reserved (deprecated 6to4 relay anycast)",
	"255.255.255.255/32", "broadcast",
	"224.0.0.0/4", "multicast",
	"240.0.0.0/4", "reserved (240.0.0.0/4)",
)

// v6Rules cover the IPv6 ranges that embed no IPv4 address. Anything outside
// 2000::/3 is refused afterwards anyway; naming the common ranges here makes
// the error say which one.
//
// 2001::/23 (IETF protocol assignments) is refused whole, Teredo 2001::/32
// included: a Teredo address carries a server and an obfuscated client IPv4
// address and reaches them through a tunnel, no receiver needs one, and the
// few globally reachable sub-blocks (PCP and AMT anycast, AS112, ORCHID) are
// not webhook receivers. An operator who needs one can allowlist it.
var v6Rules = rules(
	"::/128", "unspecified",
	"::1/128", "loopback",
	"100::/64", "reserved (discard-only 100::/64)",
	"2001:db8::/32", "reserved (documentation 2001:db8::/32)",
	"2001::/32", "reserved (Teredo 2001::/32)",
	"2001::/23", "reserved (IETF protocol assignments 2001::/23)",
	"3fff::/20", "reserved (documentation 3fff::/20)",
	"5f00::/16", "reserved (SRv6 SIDs 5f00::/16)",
	"fd00:ec2::254/128", "private (unique local, cloud metadata)", // AWS IMDS over IPv6
	"fc00::/7", "private (unique local)",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local (deprecated)",
	"ff00::/8", "multicast",
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	v4Compatible   = netip.MustParsePrefix("::/96")
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

func match(rs []rule, a netip.Addr) string {
	for _, r := range rs {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	return ""
}

// refusal returns why a may not be dialled, or "" when it may.
func (p Policy) refusal(a netip.Addr) string {
	a = a.WithZone("") // a zone says which link, not which range
	switch {
	case !a.IsValid():
		return "invalid address"
	case p.allows(a):
		return ""
	case a.Is4():
		return match(v4Rules, a)
	}
	if r, ok := p.embedded(a); ok {
		return r
	}
	if r := match(v6Rules, a); r != "" {
		return r
	}
	if !globalUnicast6.Contains(a) {
		return "reserved (outside global unicast 2000::/3)"
	}
	return ""
}

// embedded judges IPv6 forms that carry an IPv4 address by the address they
// carry: a translator or tunnel delivers the packet there. ok is false when
// a is not such a form.
func (p Policy) embedded(a netip.Addr) (reason string, ok bool) {
	b := a.As16()
	switch {
	case a.Is4In6():
		return p.via(a.Unmap(), "IPv4-mapped IPv6"), true
	case a == netip.IPv6Unspecified() || a == netip.IPv6Loopback():
		return "", false
	case v4Compatible.Contains(a):
		return p.compatible(v4At(b, 12, 13, 14, 15)), true
	case nat64WellKnown.Contains(a):
		return p.via(v4At(b, 12, 13, 14, 15), "NAT64 64:ff9b::/96"), true
	case nat64Local.Contains(a):
		return p.nat64Local(b), true
	case sixToFour.Contains(a):
		return p.via(v4At(b, 2, 3, 4, 5), "6to4 2002::/16"), true
	}
	return "", false
}

// via refuses an IPv6 form when the IPv4 address it carries is refused.
func (p Policy) via(v4 netip.Addr, kind string) string {
	r := p.refusal(v4)
	if r == "" {
		return ""
	}
	return fmt.Sprintf("%s embedding %s, which is %s", kind, v4, r)
}

// compatible refuses every IPv4-compatible address (::a.b.c.d): the form is
// deprecated (RFC 4291), nothing routes it, and a stack that still honours
// it would send the packet to the embedded IPv4 address.
func (p Policy) compatible(v4 netip.Addr) string {
	if r := p.via(v4, "IPv4-compatible IPv6"); r != "" {
		return r
	}
	return "reserved (deprecated IPv4-compatible IPv6 ::/96)"
}

// rfc6052 is one way of placing an IPv4 address inside a NAT64 prefix:
// where its four bytes sit and which bytes after them must be zero.
type rfc6052 struct {
	v4   [4]int
	zero []int
}

// localFormats are the RFC 6052 layouts possible under 64:ff9b:1::/48 (the
// operator picks a /48, /56, /64 or /96 inside it). Byte 8 (the "u" octet)
// is zero in all of them.
var localFormats = []rfc6052{
	{[4]int{6, 7, 9, 10}, []int{8, 11, 12, 13, 14, 15}},
	{[4]int{7, 9, 10, 11}, []int{8, 12, 13, 14, 15}},
	{[4]int{9, 10, 11, 12}, []int{8, 13, 14, 15}},
	{[4]int{12, 13, 14, 15}, []int{8}},
}

// nat64Local judges a local-use NAT64 address. The prefix length is the
// operator's choice and not visible in the address, so every layout the
// address is consistent with is decoded, and the address is refused if any
// reading is refused: an attacker cannot pick the reading that passes.
func (p Policy) nat64Local(b [16]byte) string {
	fits := false
	for _, f := range localFormats {
		if !zeroAt(b, f.zero) {
			continue
		}
		fits = true
		if r := p.via(v4At(b, f.v4[:]...), "NAT64 64:ff9b:1::/48"); r != "" {
			return r
		}
	}
	if !fits {
		return "reserved (NAT64 64:ff9b:1::/48 without a valid RFC 6052 embedding)"
	}
	return ""
}

func v4At(b [16]byte, idx ...int) netip.Addr {
	return netip.AddrFrom4([4]byte{b[idx[0]], b[idx[1]], b[idx[2]], b[idx[3]]})
}

func zeroAt(b [16]byte, idx []int) bool {
	for _, i := range idx {
		if b[i] != 0 {
			return false
		}
	}
	return true
}
