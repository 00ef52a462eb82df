package netguard

import (
	"net/netip"
	"strings"
)

// parseIPv4 parses s the way inet_aton does: one to four parts separated by
// dots, each decimal, octal with a leading 0 or hexadecimal with 0x, the
// last part filling the bytes that remain ("127.1" is 127.0.0.1,
// "2130706433" is 127.0.0.1). Input must be lower case. spelling is "" for
// the canonical dotted-decimal form, otherwise it describes the form with
// its article ("an octal"), for error messages.
func parseIPv4(s string) (a netip.Addr, spelling string, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, "", false
	}
	var v uint64
	bases := map[int]bool{}
	for i, part := range parts {
		n, base, ok := parseAtonPart(part)
		if !ok || n > partMax(i, len(parts)) {
			return netip.Addr{}, "", false
		}
		bases[base] = true
		if i < len(parts)-1 {
			n <<= 24 - 8*i // a leading part is one byte, from the top
		}
		v |= n
	}
	a = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	return a, describeSpelling(bases, len(parts)), true
}

// partMax is the largest value part i of n may hold: a byte, except the
// last part, which fills the remaining bytes.
func partMax(i, n int) uint64 {
	if i < n-1 {
		return 0xff
	}
	return 1<<(8*(5-n)) - 1
}

// parseAtonPart reads one part like strtoul with base 0 as inet_aton does.
// "0x" alone is 0, as glibc and the WHATWG URL parser read it.
func parseAtonPart(s string) (n uint64, base int, ok bool) {
	digits, base := s, 10
	switch {
	case strings.HasPrefix(s, "0x"):
		digits, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		digits, base = s[1:], 8
	case s == "":
		return 0, 0, false
	}
	for i := 0; i < len(digits); i++ {
		d, ok := digitValue(digits[i], base)
		if !ok {
			return 0, 0, false
		}
		n = n*uint64(base) + d
		if n > 0xffffffff { // stop before overflow; no part may be larger
			return 0, 0, false
		}
	}
	return n, base, true
}

func digitValue(c byte, base int) (uint64, bool) {
	var d uint64
	switch {
	case isDigit(c):
		d = uint64(c - '0')
	case c >= 'a' && c <= 'f':
		d = uint64(c-'a') + 10
	default:
		return 0, false
	}
	return d, d < uint64(base)
}

func describeSpelling(bases map[int]bool, parts int) string {
	switch {
	case bases[16] && bases[8]:
		return "a mixed hexadecimal and octal"
	case bases[16]:
		return "a hexadecimal"
	case bases[8]:
		return "an octal"
	case parts == 1:
		return "a decimal"
	case parts < 4:
		return "a short-form"
	}
	return ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' }

func allBytes(s string, f func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !f(s[i]) {
			return false
		}
	}
	return true
}
