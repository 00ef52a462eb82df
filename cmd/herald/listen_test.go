package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/webhook"
)

// herald listen as a developer runs it: herald dev, an app on loopback,
// listen in its own process stopped with a real SIGINT.
func TestListenForwardsAndCleansUp(t *testing.T) {
	ctx := context.Background()
	apiURL, key := devForCLI(t)
	api, err := client.New(apiURL, key)
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(t, func(n int, _ *http.Request) int { return map[bool]int{true: 500, false: 200}[n == 1] })
	p := spawn(t, "listen", "--forward-to", app.URL+"/hook", "--events", "compliance.alert,system.error")
	// Named after the app, not the port listen drew: see the test below.
	id, _ := strconv.ParseInt(waitFor(t, &p.out, &p.err, `as webhook (\d+) "herald listen `+regexp.QuoteMeta(app.URL)+`/hook" \(created`), 10, 64)
	secret := waitFor(t, &p.out, &p.err, `Secret\s+(whsec_\S+)`)
	// Retries within a second, and gzip bodies: listen must pass on the
	// compressed bytes as they came and check the signatures, which cover
	// the body before compression.
	if _, err := api.UpdateWebhook(ctx, id, client.WebhookInput{DeliverySettings: client.DeliverySettings{RetryDelaySeconds: 1, JitterPercentage: client.Ptr(0.0)},
		Metadata: map[string]any{"compression": "gzip"}}); err != nil {
		t.Fatal(err)
	}
	acc, err := api.PublishEvent(ctx, client.EventInput{EventType: webhook.ComplianceAlert,
		Payload: map[string]any{"alert_level": "high", "alert_type": "gdpr_violation", "message": "via listen"}})
	if err != nil {
		t.Fatal(err)
	}
	// The app refuses the first attempt: listen answers Herald 500, so
	// Herald retries, and the second goes through.
	waitFor(t, &p.out, &p.err, `attempt=1 → answering 500\n  X-Webhook-Signature  valid\n  webhook-signature    valid\n`)
	waitFor(t, &p.out, &p.err, `attempt=2 → answering 200\n  X-Webhook-Signature  valid\n  webhook-signature    valid\n  \{"event_id":"`+acc.EventID)
	waitFor(t, &p.out, &p.err, `answered 200 OK in \d+ ms  \{"received":2\}`)
	sameAsSent(t, api, app, id, acc.EventID, secret)

	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.exitsCleanly(t, 30*time.Second)
	if !strings.Contains(p.out.String(), "webhook "+strconv.FormatInt(id, 10)+" deleted") || strings.Contains(p.out.String(), "INVALID") {
		t.Fatalf("listen printed:\n%s", p.out.String())
	}
	if _, err := api.GetWebhook(ctx, id); !client.IsNotFound(err) {
		t.Fatalf("the webhook listen created is still there: %v", err)
	}
}

// sameAsSent checks the app got each attempt as Herald sent it: the
// headers Herald recorded, the body still compressed, the signatures good.
func sameAsSent(t *testing.T, api *client.Client, app *appServer, hookID int64, eventID, secret string) {
	t.Helper()
	// listen prints the answer before the worker that sent the attempt has
	// recorded it, so Herald's rows may lag the output by a moment.
	var sent *client.DeliveryList
	var err error
	until(t, "Herald to record the 500 and the 200", func() bool {
		sent, err = api.ListDeliveries(context.Background(), hookID, client.DeliveryListOptions{EventID: eventID})
		return err == nil && sent.Total == 2 && statusIs(sent.Deliveries[1], 500) && statusIs(sent.Deliveries[0], 200)
	})
	reqs, bodies := app.requests()
	if len(reqs) != 2 {
		t.Fatalf("the app got %d requests", len(reqs))
	}
	for i, r := range reqs {
		d := sent.Deliveries[len(reqs)-1-i] // newest first
		for k, v := range d.RequestHeaders {
			if got := r.Header.Get(k); got != v {
				t.Fatalf("attempt %d: header %s %q, Herald sent %q", i+1, k, got, v)
			}
		}
		plain, err := webhook.Decompressed(r.Header, bodies[i])
		if err != nil || r.Header.Get("Content-Encoding") != "gzip" || string(plain) == string(bodies[i]) ||
			string(plain) != string(d.RequestBody) {
			t.Fatalf("attempt %d: body %q, Herald sent %s (%v)", i+1, bodies[i], d.RequestBody, err)
		}
		if err := webhook.VerifyHeaders(secret, r.Header, bodies[i], time.Now()); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
	}
}

// A webhook of the chosen name is reused, with the secret given, and put
// back as it was; an app that does not answer is a 502 to Herald.
func TestListenReusesAWebhookAndReportsADownApp(t *testing.T) {
	ctx := context.Background()
	apiURL, key := devForCLI(t)
	api, _ := client.New(apiURL, key)
	orig := "http://127.0.0.1:9/original"
	w, err := api.CreateWebhook(ctx, client.WebhookInput{Name: "dev hook", URL: orig, EventTypes: []string{webhook.SystemError}})
	if err != nil {
		t.Fatal(err)
	}
	down := freeAddr(t)
	p := spawn(t, "listen", "--forward-to", "http://"+down+"/hook", "--name", "dev hook", "--secret", w.Secret, "--json")
	waitFor(t, &p.err, &p.out, `as webhook \d+ "dev hook" \(reused`)
	acc, err := api.PublishEvent(ctx, client.EventInput{EventType: webhook.SystemError,
		Payload: map[string]any{"error_code": "E1", "component": "validator", "severity": "low"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, &p.out, &p.err, `"event_id":"`+acc.EventID+`".*"signatures":"valid","status":502`)
	until(t, "Herald to record the 502", func() bool {
		ds, err := api.ListDeliveries(ctx, w.ID, client.DeliveryListOptions{EventID: acc.EventID})
		return err == nil && ds.Total == 1 && statusIs(ds.Deliveries[0], 502)
	})
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.exitsCleanly(t, 30*time.Second)
	got, err := api.GetWebhook(ctx, w.ID)
	if err != nil || got.URL != orig {
		t.Fatalf("after listen: %+v %v", got, err)
	}
}

// A run that died without deleting its webhook left it behind under the
// default name, which names the app and not the port: the next run for
// the same app finds it, points it at itself, and deletes it at the end.
func TestListenTakesOverTheWebhookACrashedRunLeft(t *testing.T) {
	ctx := context.Background()
	apiURL, key := devForCLI(t)
	api, _ := client.New(apiURL, key)
	app := newApp(t, func(int, *http.Request) int { return 200 })
	target := app.URL + "/hook"
	left, err := api.CreateWebhook(ctx, client.WebhookInput{Name: "herald listen " + target, URL: "http://" + freeAddr(t) + "/",
		EventTypes: []string{webhook.SystemError}, Description: client.Ptr("herald listen: forwards to " + target)})
	if err != nil {
		t.Fatal(err)
	}
	p := spawn(t, "listen", "--forward-to", target, "--secret", left.Secret)
	waitFor(t, &p.out, &p.err, fmt.Sprintf(`as webhook %d "herald listen %s" \(left by an earlier run`, left.ID, regexp.QuoteMeta(target)))
	waitFor(t, &p.out, &p.err, `Event types  \*\n`)
	acc, err := api.PublishEvent(ctx, client.EventInput{EventType: webhook.ComplianceAlert,
		Payload: map[string]any{"alert_level": "low", "alert_type": "t", "message": "after a crash"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, &p.out, &p.err, `id=`+acc.EventID+` attempt=1 → answering 200\n  X-Webhook-Signature  valid\n  webhook-signature    valid\n`)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.exitsCleanly(t, 30*time.Second)
	if _, err := api.GetWebhook(ctx, left.ID); !client.IsNotFound(err) {
		t.Fatalf("the webhook the crashed run left is still there: %v", err)
	}
	if l, err := api.ListWebhooks(ctx, client.WebhookListOptions{}); err != nil || l.Total != 0 {
		t.Fatalf("webhooks after listen: %+v %v", l, err)
	}
}

// A delivery whose signatures do not check out under the secret listen was
// given is flagged INVALID, and still forwarded: the developer's app may be
// what is being tested for refusing it.
func TestListenFlagsABadSignature(t *testing.T) {
	ctx := context.Background()
	apiURL, key := devForCLI(t)
	api, _ := client.New(apiURL, key)
	w, err := api.CreateWebhook(ctx, client.WebhookInput{Name: "wrong secret hook", URL: "http://127.0.0.1:9/original",
		EventTypes: []string{webhook.DocumentProcessed}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.DeleteWebhook(context.Background(), w.ID) })
	app := newApp(t, func(int, *http.Request) int { return 200 })
	wrong := "whsec_" + strings.Repeat("A", 43) + "="
	p := spawn(t, "listen", "--forward-to", app.URL+"/hook", "--name", "wrong secret hook", "--secret", wrong)
	waitFor(t, &p.out, &p.err, `as webhook \d+ "wrong secret hook" \(reused`)
	acc, err := api.PublishEvent(ctx, client.EventInput{EventType: webhook.DocumentProcessed,
		Payload: map[string]any{"document_id": "doc_1", "status": "completed"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, &p.out, &p.err, `X-Webhook-Signature  INVALID \([^)]*\)\n  webhook-signature    INVALID`)
	until(t, "the app to get the delivery", func() bool {
		_, bodies := app.requests()
		return len(bodies) == 1 && strings.Contains(string(bodies[0]), acc.EventID)
	})
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	p.exitsCleanly(t, 30*time.Second)
}

// statusIs tells whether Herald recorded the attempt's answer as code.
func statusIs(d webhook.Attempt, code int) bool {
	return d.ResponseStatusCode != nil && *d.ResponseStatusCode == code
}
