package payload_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/payload"
)

func TestTame(t *testing.T) {
	cases := []struct {
		n    string
		tame bool
	}{
		{"0", true},
		{"-12.5", true},
		{"12345678901234567890123", true},
		{"1e400", true},
		{"1E-400", true},
		{"1e+400", true},
		{"1e401", false},
		{"-2E-401", false},
		{"1e999999999999999999999", false},
		{strings.Repeat("9", 1000), true},
		{strings.Repeat("9", 1001), false},
	}
	for _, c := range cases {
		if got := payload.Tame(json.Number(c.n)); got != c.tame {
			t.Errorf("Tame(%.20s…) = %v, want %v", c.n, got, c.tame)
		}
	}
}

func TestWildNumberNamesItsPath(t *testing.T) {
	doc := map[string]any{"a": []any{json.Number("1"), map[string]any{"b": json.Number("1e500")}}, "c": "1e900"}
	if p, found := payload.WildNumber(doc); !found || p != "a[1].b" {
		t.Fatalf("WildNumber = %q, %v", p, found)
	}
	if p, found := payload.WildNumber(map[string]any{"c": "1e900", "d": json.Number("7")}); found {
		t.Fatalf("found %q in a tame document", p)
	}
}
