package payload

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/loki-interceptor/herald/webhook"
)

// Bounds on a number Herald compares exactly. Exact comparison (big.Rat)
// of 1e999999 builds a million-digit integer and takes milliseconds to
// seconds; no float64 reaches past 1e308, and no id needs 1,000 digits.
const (
	MaxExponent     = 400
	MaxNumberLength = 1000
)

// Tame says a JSON number is short and its exponent within ±MaxExponent,
// so that comparing it exactly is cheap.
func Tame(n json.Number) bool {
	s := string(n)
	if len(s) > MaxNumberLength {
		return false
	}
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	exp, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
	return err == nil && exp >= -MaxExponent && exp <= MaxExponent
}

// WildNumber finds a number in a decoded JSON document (numbers as
// json.Number) whose exponent is not Tame, and returns its path as field
// errors name one (lines[1].sku).
func WildNumber(v any) (path string, found bool) {
	switch x := v.(type) {
	case json.Number:
		return "", !Tame(x)
	case map[string]any:
		for k, e := range x {
			if p, ok := WildNumber(e); ok {
				return k + after(p), true
			}
		}
	case []any:
		for i, e := range x {
			if p, ok := WildNumber(e); ok {
				return "[" + strconv.Itoa(i) + "]" + after(p), true
			}
		}
	}
	return "", false
}

// after joins the rest of a path to what precedes it.
func after(rest string) string {
	if rest == "" || strings.HasPrefix(rest, "[") {
		return rest
	}
	return "." + rest
}

// RefuseWildNumbers adds a field error for a number of v (a decoded JSON
// document, numbers as json.Number) that is not Tame, under field, and
// says whether it found one. Schemas and filters compare numbers exactly,
// and a client decoding such a number into a float64 fails.
func RefuseWildNumbers(fe *webhook.FieldErrors, field string, v any) bool {
	p, wild := WildNumber(v)
	if wild {
		if !strings.HasPrefix(p, "[") && p != "" {
			p = "." + p
		}
		fe.Add(field+p, "number out of range: at most %d characters and an exponent within ±%d", MaxNumberLength, MaxExponent)
	}
	return wild
}
