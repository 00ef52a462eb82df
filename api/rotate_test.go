package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/webhook"
)

func TestRotateSecret(t *testing.T) {
	f := newFixture(t)
	type req struct {
		h    http.Header
		body []byte
	}
	got := make(chan req, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- req{r.Header.Clone(), b}
	}))
	defer recv.Close()
	created := f.mustCreate(`{"name":"rot","url":"` + recv.URL + `","event_types":["*"]}`)
	id, old := fmt.Sprint(created["id"]), created["secret"].(string)

	r := f.do("POST", "/api/v1/webhooks/"+id+"/rotate-secret", `{"overlap_hours":2}`)
	if r.status != 200 || r.body["secret"] == old || !strings.HasPrefix(r.body["secret"].(string), webhook.SecretPrefix) {
		t.Fatalf("rotate: %d %s", r.status, r.raw)
	}
	newSecret := r.body["secret"].(string)
	until, _ := time.Parse(time.RFC3339Nano, r.body["previous_secret_expires_at"].(string))
	if d := time.Until(until); d < time.Hour || d > 2*time.Hour {
		t.Fatalf("overlap ends in %v", d)
	}
	// After the rotation a GET shows neither secret in full.
	g := f.do("GET", "/api/v1/webhooks/"+id, "")
	if strings.Contains(g.raw, newSecret) || strings.Contains(g.raw, old) || g.body["previous_secret_expires_at"] == nil {
		t.Fatalf("GET after rotation: %s", g.raw)
	}
	// A delivery now verifies with either secret.
	if r := f.do("POST", "/api/v1/webhooks/"+id+"/test", ""); r.status != 200 {
		t.Fatalf("test: %d %s", r.status, r.raw)
	}
	rq := <-got
	h := rq.h
	for _, secret := range []string{newSecret, old} {
		if err := webhook.VerifyStandard(secret, h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), rq.body, h.Get("Webhook-Signature"), time.Now(), webhook.DefaultTolerance); err != nil {
			t.Fatalf("a receiver with one of the secrets cannot verify: %v", err)
		}
	}
	if err := webhook.Verify(newSecret, rq.body, h.Get("X-Webhook-Signature")); err != nil {
		t.Fatalf("X-Webhook-Signature: %v", err)
	}
	if n := len(strings.Fields(h.Get("Webhook-Signature"))); n != 2 {
		t.Fatalf("%d webhook-signature values during the overlap, want 2: %q", n, h.Get("Webhook-Signature"))
	}

	// A second rotation inside the overlap would cut it short: refused.
	if r := f.do("POST", "/api/v1/webhooks/"+id+"/rotate-secret", `{"overlap_hours":5}`); r.status != 409 {
		t.Fatalf("rotating inside an overlap: %d %s", r.status, r.raw)
	}
	// Rotating with no overlap drops the old secret at once; a chosen
	// secret is checked like any.
	if r := f.do("POST", "/api/v1/webhooks/"+id+"/rotate-secret", `{"overlap_hours":0,"secret":"`+strings.Repeat("k", 32)+`"}`); r.status != 200 || r.body["previous_secret_expires_at"] != nil {
		t.Fatalf("rotate without overlap: %d %s", r.status, r.raw)
	}
	f.do("POST", "/api/v1/webhooks/"+id+"/test", "")
	if rq := <-got; len(strings.Fields(rq.h.Get("Webhook-Signature"))) != 1 {
		t.Fatalf("signatures after an overlap of 0: %q", rq.h.Get("Webhook-Signature"))
	}
	for _, bad := range []string{`{"overlap_hours":-1}`, `{"overlap_hours":1000}`, `{"secret":"short"}`, `{"secret":""}`, `{"overlap":1}`} {
		if r := f.do("POST", "/api/v1/webhooks/"+id+"/rotate-secret", bad); r.status != 422 && r.status != 400 {
			t.Fatalf("%s: %d %s", bad, r.status, r.raw)
		}
	}
	f.mustIntegration(validSlack)
	if r := f.do("POST", "/api/v1/integrations/Slack%20Alerts/rotate-secret", ""); r.status != 409 {
		t.Fatalf("rotating a Slack integration: %d %s", r.status, r.raw)
	}
}

// Zapier and webhook integrations are signed, so they rotate like webhooks;
// an operator who configured no default overlap gets none.
func TestRotateIntegrationWithoutDefaultOverlap(t *testing.T) {
	f := newFixture(t, func(c *api.Config) { c.SecretOverlap = api.NoSecretOverlap })
	created := f.mustIntegration(`{"name":"zap","integration_type":"zapier","credentials":{"webhook_url":"https://hooks.zapier.com/hooks/catch/1/abc"}}`)
	old, _ := created["secret"].(string)
	r := f.do("POST", "/api/v1/integrations/zap/rotate-secret", "")
	if r.status != 200 || r.body["previous_secret_expires_at"] != nil {
		t.Fatalf("rotate a zapier integration: %d %s", r.status, r.raw)
	}
	if s, _ := r.body["secret"].(string); !strings.HasPrefix(s, webhook.SecretPrefix) || s == old {
		t.Fatalf("new secret %q (old %q)", s, old)
	}
	if g := f.do("GET", "/api/v1/integrations/zap", ""); strings.Contains(g.raw, r.body["secret"].(string)) {
		t.Fatalf("GET shows the rotated secret: %s", g.raw)
	}
}
