package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/workflows"
)

// A webhook whose host name resolves to 127.0.0.1 passes URL validation
// (it is a name), but its attempt is refused as it dials, whatever DNS says:
// error class blocked_address, no retry, and nothing reaches the loopback
// receiver listening on that very port.
func TestNameResolvingToLoopbackIsBlockedAtDialTime(t *testing.T) {
	h := herald(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hit := make(chan struct{}, 1)
	internal := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit <- struct{}{} }))
	internal.Listener.Close()
	internal.Listener = ln
	internal.StartTLS()
	defer internal.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	w := h.mustWebhook(t, map[string]any{"name": "e2e evil", "url": fmt.Sprintf("https://evil.test:%d/hook", port),
		"event_types": []string{"system.error"}, "retry_delay_seconds": 1})
	id := uniqueID("evt-ssrf")
	h.mustPublish(t, map[string]any{"event_id": id, "event_type": "system.error",
		"payload": map[string]any{"error_code": "E", "component": "c", "severity": "low"}})
	if res := h.wait(t, id); res.Status != workflows.StatusFailed {
		t.Fatalf("event %+v", res)
	}
	rows := h.deliveries(t, w.ID)
	if len(rows) != 1 || rows[0].ErrorClass != "blocked_address" || !strings.Contains(rows[0].LastError, "127.0.0.1") {
		t.Fatalf("attempts %+v", rows)
	}
	select {
	case <-hit:
		t.Fatal("the loopback receiver was reached")
	case <-time.After(100 * time.Millisecond):
	}
	// A literal internal address is refused before anything is stored.
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if code := h.call(t, "POST", "/api/v1/webhooks", map[string]any{"name": "e2e literal", "url": "https://169.254.169.254/latest/meta-data/",
		"event_types": []string{"*"}}, &e); code != 422 || !strings.Contains(e.Error.Message, "metadata") {
		t.Fatalf("metadata URL: %d %+v", code, e)
	}
}
