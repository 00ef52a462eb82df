package workflows_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/loki-interceptor/herald/webhook"
)

// lockedBuffer is a log sink activities write to from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// At debug level every line about an attempt names the event, the webhook
// and the attempt, and no line holds the webhook's secret or a credential
// header, though the debug view shows signatures, hosts and waits.
func TestDebugLogsCarryIDsAndNoSecrets(t *testing.T) {
	h := newHarness(t)
	var out lockedBuffer
	h.acts.Logger = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := h.receiver(reply{status: 503}, reply{status: 200})
	w := h.hook(r, "logged", func(w *webhook.Webhook) {
		w.CustomHeaders = map[string]string{"Authorization": "Bearer sk-live-credential"}
	})
	h.run(event("evt-logged"))

	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out.buf.String()))
	for sc.Scan() {
		line := sc.Text()
		for _, secret := range []string{w.Secret, strings.TrimPrefix(w.Secret, webhook.SecretPrefix), "sk-live-credential"} {
			if strings.Contains(line, secret) {
				t.Fatalf("a secret in the log: %s", line)
			}
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		msg, _ := rec["msg"].(string)
		seen[msg] = true
		if strings.HasPrefix(msg, "attempt ") && (rec["event_id"] != "evt-logged" || rec["webhook_id"] == nil || rec["attempt"] == nil) {
			t.Fatalf("an attempt line without its ids: %s", line)
		}
	}
	for _, want := range []string{"event subscribers resolved", "attempt starting", "attempt finished"} {
		if !seen[want] {
			t.Errorf("no %q line at debug level; got %v", want, seen)
		}
	}
	if !strings.Contains(out.buf.String(), `"signature":"sha256=`) {
		t.Error("the debug view does not show the signature computed")
	}
}
