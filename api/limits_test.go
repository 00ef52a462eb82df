package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestHostileInputLimits(t *testing.T) {
	f := newFixture(t)
	deep := `{"event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low","details":` +
		strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}}`
	if r := f.do("POST", "/api/v1/events", deep); r.status != 400 || !strings.Contains(r.raw, "nests deeper") {
		t.Fatalf("deep JSON: %d %s", r.status, r.raw)
	}
	// Herald's own event ids cannot be taken by a publisher.
	if r := f.do("POST", "/api/v1/events", `{"event_id":"herald-batch-1-x","event_type":"system.error","payload":{"error_code":"E","component":"c","severity":"low"}}`); r.status != 422 || !strings.Contains(r.raw, "Herald's own") {
		t.Fatalf("reserved event id: %d %s", r.status, r.raw)
	}
	// Brackets inside strings are text, not nesting.
	shallow := `{"name":"` + strings.Repeat("[{", 50) + `","url":"https://example.com/x","event_types":["*"]}`
	if r := f.do("POST", "/api/v1/webhooks", shallow); r.status != 201 {
		t.Fatalf("brackets in a string: %d %s", r.status, r.raw)
	}
	// The server answers after 8 KiB of head, so the rest is still being
	// sent when it closes: the client must get the 431, not a reset.
	for _, size := range []int{20 << 10, 200 << 10} {
		for range 20 {
			req, _ := http.NewRequest("GET", f.base+"/api/v1/webhooks", nil)
			req.Header.Set("Authorization", "Bearer "+f.key)
			req.Header.Set("X-Padding", strings.Repeat("p", size))
			if status := f.exchange(req); status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("a %d KiB header: %d", size>>10, status)
			}
		}
	}
	many, _ := http.NewRequest("GET", f.base+"/api/v1/webhooks", nil)
	many.Header.Set("Authorization", "Bearer "+f.key)
	// The head's size bounds the number of headers too.
	for i := range 1000 {
		many.Header.Set(fmt.Sprintf("X-H%d", i), "v")
	}
	if status := f.exchange(many); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("1000 headers: %d", status)
	}
}
