package netguard

import (
	"errors"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var (
	allowLoopback = Policy{Allow: Loopback}
	allowTen      = Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
)

// addrCases: reason is a substring of the refusal, "" when allowed.
var addrCases = []struct {
	addr   string
	policy Policy
	reason string
}{
	{"127.0.0.1", Policy{}, "loopback"},
	{"127.255.255.254", Policy{}, "loopback"},
	{"::1", Policy{}, "loopback"},
	{"0.0.0.0", Policy{}, "unspecified"},
	{"::", Policy{}, "unspecified"},
	{"0.1.2.3", Policy{}, "this network"},
	{"10.1.2.3", Policy{}, "private"},
	{"172.16.0.1", Policy{}, "private"},
	{"172.31.255.255", Policy{}, "private"},
	{"192.168.1.1", Policy{}, "private"},
	{"fc00::1", Policy{}, "private (unique local)"},
	{"fd12:3456::1", Policy{}, "private (unique local)"},
	{"fd00:ec2::254", Policy{}, "cloud metadata"},
	{"169.254.169.254", Policy{}, "link-local (cloud metadata)"},
	{"169.254.170.2", Policy{}, "link-local (cloud metadata)"},
	{"169.254.1.1", Policy{}, "link-local"},
	{"fe80::1", Policy{}, "link-local"},
	{"fe80::1%eth0", Policy{}, "link-local"},
	{"100.64.0.1", Policy{}, "carrier-grade NAT"},
	{"100.127.255.255", Policy{}, "carrier-grade NAT"},
	{"100.100.100.200", Policy{}, "carrier-grade NAT (cloud metadata)"},
	{"224.0.0.1", Policy{}, "multicast"},
	{"239.255.255.250", Policy{}, "multicast"},
	{"ff02::1", Policy{}, "multicast"},
	{"255.255.255.255", Policy{}, "broadcast"},
	{"240.0.0.1", Policy{}, "reserved (240.0.0.0/4)"},
	{"192.0.0.8", Policy{}, "IETF protocol assignments"},
	{"192.0.2.1", Policy{}, "TEST-NET-1"},
	{"198.51.100.7", Policy{}, "TEST-NET-2"},
	{"203.0.113.9", Policy{}, "TEST-NET-3"},
	{"198.18.0.1", Policy{}, "benchmarking"},
	{"198.19.255.255", Policy{}, "benchmarking"},
	{"192.88.99.1", Policy{}, "6to4 relay anycast"},
	{"2001:db8::1", Policy{}, "documentation"},
	{"3fff::1", Policy{}, "documentation"},
	{"100::1", Policy{}, "discard"},
	{"2001::1", Policy{}, "Teredo"},
	{"2001:2::1", Policy{}, "IETF protocol assignments"},
	{"5f00::1", Policy{}, "SRv6"},
	{"fec0::1", Policy{}, "site-local"},
	{"4000::1", Policy{}, "outside global unicast"},
	{"::ffff:127.0.0.1", Policy{}, "IPv4-mapped IPv6 embedding 127.0.0.1, which is loopback"},
	{"::ffff:169.254.169.254", Policy{}, "cloud metadata"},
	{"::ffff:10.0.0.1", Policy{}, "private"},
	{"::127.0.0.1", Policy{}, "IPv4-compatible IPv6 embedding 127.0.0.1, which is loopback"},
	{"::8.8.8.8", Policy{}, "deprecated IPv4-compatible"},
	{"64:ff9b::7f00:1", Policy{}, "NAT64 64:ff9b::/96 embedding 127.0.0.1, which is loopback"},
	{"64:ff9b::169.254.169.254", Policy{}, "cloud metadata"},
	{"64:ff9b:1::a00:1", Policy{}, "NAT64 64:ff9b:1::/48 embedding 10.0.0.1, which is private"},
	{"64:ff9b:1:a00:0:100::", Policy{}, "embedding 10.0.0.1, which is private"},    // /48 layout
	{"64:ff9b:1:0:7f:0:100:0", Policy{}, "embedding 127.0.0.1, which is loopback"}, // /64 layout
	{"64:ff9b:1:0:100::", Policy{}, "without a valid RFC 6052 embedding"},
	{"2002:7f00:1::", Policy{}, "6to4 2002::/16 embedding 127.0.0.1, which is loopback"},
	{"2002:a9fe:a9fe::1", Policy{}, "cloud metadata"},
	// Global unicast passes.
	{"8.8.8.8", Policy{}, ""},
	{"1.1.1.1", Policy{}, ""},
	{"172.32.0.1", Policy{}, ""},
	{"100.128.0.1", Policy{}, ""},
	{"198.20.0.1", Policy{}, ""},
	{"192.31.196.1", Policy{}, ""}, // AS112
	{"2606:4700::1111", Policy{}, ""},
	{"2a00:1450:4001::1", Policy{}, ""},
	{"::ffff:8.8.8.8", Policy{}, ""},
	{"64:ff9b::808:808", Policy{}, ""},
	{"64:ff9b:1::808:808", Policy{}, ""},
	{"2002:808:808::1", Policy{}, ""},
	// The allowlist.
	{"127.0.0.1", allowLoopback, ""},
	{"127.8.9.10", allowLoopback, ""},
	{"::1", allowLoopback, ""},
	{"::ffff:127.0.0.1", allowLoopback, ""},
	{"10.0.0.1", allowLoopback, "private"},
	{"169.254.169.254", allowLoopback, "cloud metadata"},
	{"10.1.2.3", allowTen, ""},
	{"64:ff9b::10.1.2.3", allowTen, ""},
	{"11.0.0.1", allowTen, ""},
	{"192.168.0.1", allowTen, "private"},
}

func TestCheckAddr(t *testing.T) {
	for _, tc := range addrCases {
		a := netip.MustParseAddr(tc.addr)
		err := tc.policy.CheckAddr(a)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("CheckAddr(%s) with %v = %v, want allowed", tc.addr, tc.policy.Allow, err)
			}
			continue
		}
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Errorf("CheckAddr(%s) = %v, want *BlockedError", tc.addr, err)
			continue
		}
		if be.Addr != a || !strings.Contains(be.Reason, tc.reason) {
			t.Errorf("CheckAddr(%s) = %+v, want Addr %s and reason containing %q", tc.addr, be, a, tc.reason)
		}
	}
}

// urlCases: want is a substring of the error, "" when the URL is accepted;
// blocked says whether IsBlocked must hold.
var urlCases = []struct {
	url     string
	policy  Policy
	want    string
	blocked bool
}{
	{"https://127.0.0.1/hook", Policy{}, "host 127.0.0.1 is loopback", true},
	{"https://2130706433/", Policy{}, "host 2130706433 is a decimal spelling of 127.0.0.1, which is loopback", true},
	{"https://0177.0.0.1/", Policy{}, "host 0177.0.0.1 is an octal spelling of 127.0.0.1, which is loopback", true},
	{"https://017700000001/", Policy{}, "octal spelling of 127.0.0.1", true},
	{"https://0x7f.1/", Policy{}, "host 0x7f.1 is a hexadecimal spelling of 127.0.0.1, which is loopback", true},
	{"https://0x7f000001/", Policy{}, "hexadecimal spelling of 127.0.0.1", true},
	{"https://0X7F.0.0.1/", Policy{}, "hexadecimal spelling of 127.0.0.1", true},
	{"https://0x7f.0.0.01/", Policy{}, "mixed hexadecimal and octal spelling of 127.0.0.1", true},
	{"https://127.1/", Policy{}, "host 127.1 is a short-form spelling of 127.0.0.1, which is loopback", true},
	{"https://127.0.1/", Policy{}, "short-form spelling of 127.0.0.1", true},
	{"https://0/", Policy{}, "decimal spelling of 0.0.0.0, which is unspecified", true},
	{"https://0x/", Policy{}, "spelling of 0.0.0.0, which is unspecified", true},
	{"https://0.0.0.0:8080/", Policy{}, "unspecified", true},
	{"https://127.0.0.1./", Policy{}, "host 127.0.0.1. is 127.0.0.1 with a trailing dot, which is loopback", true},
	{"https://169.254.169.254/latest/meta-data/", Policy{}, "link-local (cloud metadata)", true},
	{"https://0251.0376.0251.0376/", Policy{}, "octal spelling of 169.254.169.254, which is link-local (cloud metadata)", true},
	{"https://0xa9fea9fe/", Policy{}, "cloud metadata", true},
	{"https://10.0.0.1/", Policy{}, "private", true},
	{"https://172.16.5.4/", Policy{}, "private", true},
	{"https://192.168.0.1/", Policy{}, "private", true},
	{"https://100.64.1.1/", Policy{}, "carrier-grade NAT", true},
	{"https://224.0.0.251/", Policy{}, "multicast", true},
	{"https://255.255.255.255/", Policy{}, "broadcast", true},
	{"https://192.0.2.10/", Policy{}, "TEST-NET-1", true},
	{"https://[::1]/", Policy{}, "host [::1] is loopback", true},
	{"https://[::]/", Policy{}, "unspecified", true},
	{"https://[0:0:0:0:0:0:0:1]:8443/", Policy{}, "loopback", true},
	{"https://[::ffff:127.0.0.1]/", Policy{}, "IPv4-mapped IPv6 embedding 127.0.0.1, which is loopback", true},
	{"https://[::ffff:7f00:1]/", Policy{}, "embedding 127.0.0.1, which is loopback", true},
	{"https://[::127.0.0.1]/", Policy{}, "IPv4-compatible", true},
	{"https://[fe80::1%25eth0]/", Policy{}, "host [fe80::1%eth0] is link-local", true},
	{"https://[fd00::1]/", Policy{}, "private (unique local)", true},
	{"https://[ff02::1]/", Policy{}, "multicast", true},
	{"https://[64:ff9b::127.0.0.1]/", Policy{}, "NAT64", true},
	{"https://[2002:7f00:1::]/", Policy{}, "6to4", true},
	{"https://[2001:db8::1]/", Policy{}, "documentation", true},
	{"https://localhost/", Policy{}, "host localhost is a name for 127.0.0.1, which is loopback", true},
	{"https://LOCALHOST.:8080/", Policy{}, "loopback", true},
	{"https://api.localhost/", Policy{}, "loopback", true},
	{"https://localhost.localdomain/", Policy{}, "loopback", true},
	{"https://ip6-localhost/", Policy{}, "name for ::1, which is loopback", true},
	{"https://metadata.google.internal/computeMetadata/v1/", Policy{}, "cloud metadata", true},
	{"https://good.com@127.0.0.1/", Policy{}, `loopback (the part before "@" is user info, not the host)`, true},
	{"https://user:s3cret@0x7f.1/", Policy{}, "user info", true},
	{"https://127.0.0.1#@good.com", Policy{}, "host 127.0.0.1 is loopback", true},
	{"https://127.0.0.1?@good.com", Policy{}, "loopback", true},
	{`https://good.com\@127.0.0.1/`, Policy{}, "invalid URL", false},
	{"https://%31%32%37.0.0.1/", Policy{}, "invalid URL", false},
	{"https://[127.0.0.1]/", Policy{}, "invalid URL", false},
	{"https://[::ffff:0177.0.0.1]/", Policy{}, "invalid URL", false},
	{"https://１２７.０.０.１/", Policy{}, "non-ASCII", false},
	{"https://1.2.3.256/", Policy{}, "not a valid host", false},
	{"https://08.0.0.1/", Policy{}, "not a valid host", false},
	{"https://1.2.3.4.5/", Policy{}, "not a valid host", false},
	{"https://4294967296/", Policy{}, "not a valid host", false},
	{"https://0x100000000/", Policy{}, "not a valid host", false},
	{"https://1.0x1000000/", Policy{}, "not a valid host", false},
	{"https://foo.123/", Policy{}, "not a valid host", false},
	{"https://0xg.0x1/", Policy{}, "not a valid host", false},
	{"https://exa;mple.com/", Policy{}, "not a valid host name", false},
	{"https://a..b/", Policy{}, "not a valid host name", false},
	{"https://134744072/", Policy{}, "decimal spelling of 8.8.8.8; write it as 8.8.8.8", false},
	{"https:///hook", Policy{}, "no host", false},
	{"https:127.0.0.1", Policy{}, "no host", false},
	{"https://[fe80::1%25eth0]/", Policy{Allow: []netip.Prefix{netip.MustParsePrefix("fe80::/10")}}, "zone id", false},
	// Accepted.
	{"https://example.com/hook", Policy{}, "", false},
	{"https://example.com./hook", Policy{}, "", false},
	{"https://hooks.slack.com/services/T0/B0/x", Policy{}, "", false},
	{"https://8.8.8.8/", Policy{}, "", false},
	{"https://1.1.1.1:8443/x", Policy{}, "", false},
	{"https://[2606:4700::1111]/", Policy{}, "", false},
	{"https://[::ffff:8.8.8.8]/", Policy{}, "", false},
	{"https://user:pw@example.com/", Policy{}, "", false},
	{"https://bad.cafe/", Policy{}, "", false},         // hex letters, not a number
	{"https://0x7f.example.com/", Policy{}, "", false}, // a name: the dialer checks what it resolves to
	{"https://127.0.0.1.nip.io/", Policy{}, "", false}, // likewise
	// The allowlist, as herald dev and on-premise receivers use it.
	{"http://127.0.0.1:9000/hook", allowLoopback, "", false},
	{"http://localhost:9000/hook", allowLoopback, "", false},
	{"http://[::1]:9000/hook", allowLoopback, "", false},
	{"http://0177.0.0.1:9000/", allowLoopback, "write it as 127.0.0.1", false},
	{"http://10.0.0.1/", allowLoopback, "private", true},
	{"https://metadata.google.internal/", allowLoopback, "cloud metadata", true},
	{"https://10.20.30.40/", allowTen, "", false},
	{"https://192.168.1.1/", allowTen, "private", true},
}

func TestCheckURL(t *testing.T) {
	for _, tc := range urlCases {
		err := tc.policy.CheckURL(tc.url)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckURL(%q) = %v, want accepted", tc.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckURL(%q) = %v, want error containing %q", tc.url, err, tc.want)
			continue
		}
		if IsBlocked(err) != tc.blocked {
			t.Errorf("IsBlocked(CheckURL(%q)) = %v, want %v (error %v)", tc.url, !tc.blocked, tc.blocked, err)
		}
	}
}

func TestCheckURLKeepsPasswordsOutOfErrors(t *testing.T) {
	for _, raw := range []string{"https://u:hunter2@127.0.0.1/", "https://u:hunter2@exa mple.com/"} {
		if err := (Policy{}).CheckURL(raw); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("CheckURL(%q) = %v, want an error without the password", raw, err)
		}
	}
}

func TestCheckURLBlockedErrorNamesHost(t *testing.T) {
	var be *BlockedError
	err := Policy{}.CheckURL("https://0x7f.1/")
	if !errors.As(err, &be) || be.Host != "0x7f.1" || be.Addr != netip.MustParseAddr("127.0.0.1") || be.Reason != "loopback" {
		t.Fatalf("CheckURL = %v (%+v), want BlockedError for 127.0.0.1 from 0x7f.1", err, be)
	}
	if got, want := be.Error(), "blocked address 127.0.0.1 (loopback) for host 0x7f.1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	be := &BlockedError{Addr: netip.MustParseAddr("127.0.0.1"), Reason: "loopback"}
	if got, want := be.Error(), "blocked address 127.0.0.1 (loopback)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if IsBlocked(errors.New("other")) || !IsBlocked(&url.Error{Op: "Get", URL: "x", Err: be}) {
		t.Error("IsBlocked does not follow the error chain")
	}
}

func TestParseAllow(t *testing.T) {
	got, err := ParseAllow(" 10.0.0.0/8, 192.168.1.5,::1 ,2001:db8::/32,10.1.2.3/16,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.5/32", "::1/128", "2001:db8::/32", "10.1.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("ParseAllow = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ParseAllow[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if got, err := ParseAllow(""); err != nil || got != nil {
		t.Errorf("ParseAllow(\"\") = %v, %v; want nothing", got, err)
	}
	for _, bad := range []string{"bogus", "10.0.0.0/33", "fe80::1%eth0", "10.0.0.0/8,localhost"} {
		if _, err := ParseAllow(bad); err == nil {
			t.Errorf("ParseAllow(%q) succeeded, want an error", bad)
		}
	}
}

// TestParseIPv4AgreesWithReference compares the parser with refAton, an
// independent inet_aton written differently, over a grid of part spellings.
func TestParseIPv4AgreesWithReference(t *testing.T) {
	parts := []string{"0", "00", "1", "07", "08", "0x", "0x0", "0xff", "0x100", "255", "256", "0377", "0400", "65535", "65536", "16777215", "16777216", "4294967295", "4294967296", "0xffffffff", "0x1ffffffff", "x1", "1a", ""}
	check := func(s string) {
		a, _, ok := parseIPv4(s)
		ra, rok := refAton(s)
		if ok != rok || (ok && a != ra) {
			t.Errorf("parseIPv4(%q) = %v, %v; reference says %v, %v", s, a, ok, ra, rok)
		}
	}
	for _, a := range parts {
		check(a)
		for _, b := range parts {
			check(a + "." + b)
			check("1.2." + a + "." + b)
			check(a + ".0." + b)
		}
	}
}

var atonPart = regexp.MustCompile(`^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$`)

// refAton is a second, deliberately different inet_aton: a regular
// expression for the part syntax and strconv for the values.
func refAton(s string) (netip.Addr, bool) {
	parts := strings.Split(strings.ToLower(s), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var bytes [4]byte
	for i, p := range parts {
		if !atonPart.MatchString(p) {
			return netip.Addr{}, false
		}
		v, err := refPartValue(p)
		if err != nil {
			return netip.Addr{}, false
		}
		// Part i fills byte i, the last part fills bytes i..3 big-endian.
		width := 1
		if i == len(parts)-1 {
			width = 4 - i
		}
		for j := width - 1; j >= 0; j-- {
			bytes[i+j] = byte(v)
			v >>= 8
		}
		if v != 0 {
			return netip.Addr{}, false
		}
	}
	return netip.AddrFrom4(bytes), true
}

func refPartValue(p string) (uint64, error) {
	switch {
	case p == "0x":
		return 0, nil
	case strings.HasPrefix(p, "0x"):
		return strconv.ParseUint(p[2:], 16, 32)
	case strings.HasPrefix(p, "0"):
		return strconv.ParseUint(p, 8, 32)
	}
	return strconv.ParseUint(p, 10, 32)
}

// FuzzCheckURL asserts that CheckURL never panics and never accepts a URL
// whose host is, read as an address, one the policy refuses.
func FuzzCheckURL(f *testing.F) {
	for _, tc := range urlCases {
		f.Add(tc.url)
	}
	for _, s := range []string{"http://[::ffff:a9fe:a9fe]", "http://0x.0x.0x.0x", "http://0000000000177.1", "//127.1", "http://1.1.1.1.", "http://[64:ff9b:1::a00:1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range []Policy{{}, allowLoopback} {
			if p.CheckURL(raw) != nil {
				continue
			}
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("CheckURL accepted %q, which url.Parse rejects: %v", raw, err)
			}
			assertHostAllowed(t, p, raw, u.Hostname())
		}
	})
}

func assertHostAllowed(t *testing.T, p Policy, raw, host string) {
	t.Helper()
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(a); err != nil {
			t.Fatalf("CheckURL accepted %q but CheckAddr refuses its host: %v", raw, err)
		}
	}
	for _, h := range []string{host, strings.TrimSuffix(host, ".")} {
		if a, ok := refAton(h); ok {
			if err := p.CheckAddr(a); err != nil {
				t.Fatalf("CheckURL accepted %q whose host %q is %s: %v", raw, host, a, err)
			}
		}
	}
	if name := strings.ToLower(strings.TrimSuffix(host, ".")); name == "localhost" && p.Allow == nil {
		t.Fatalf("CheckURL accepted %q, which names localhost", raw)
	}
}
