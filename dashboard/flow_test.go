package dashboard_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/webhook"
)

// TestDashboardInChromium drives the dashboard in a real headless Chromium
// against a whole Herald (Temporal, worker, API) and a loopback receiver,
// as an operator would: a bad key refused, sign in, create a webhook in
// the form, watch an event published through the API arrive in the log
// without a reload, retry its delivery from its page, see the charts drawn
// with the figures, sign out. Every request the page makes to /api/v1 is
// checked against the OpenAPI document on the way (checkingProxy).
func TestDashboardInChromium(t *testing.T) {
	chromiumPath(t)
	began := time.Now()
	h := startHerald(t)
	rc := newReceiver(t)
	b := newBrowser(t, h.url)
	var hookID, deliveryID int
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"a bad key is refused", func(t *testing.T) { refuseBadKey(t, b, h) }},
		{"sign in", func(t *testing.T) { signIn(t, b, h) }},
		{"create a webhook in the form", func(t *testing.T) { hookID = createWebhook(t, b, h, rc.URL+"/hook") }},
		{"a new delivery appears in the log", func(t *testing.T) { deliveryID = watchTheLog(t, b, h) }},
		{"retry now makes a second attempt", func(t *testing.T) { retryNow(t, b, rc) }},
		{"the charts are drawn with data", func(t *testing.T) { charts(t, b, h) }},
		{"operate the webhook", func(t *testing.T) { operateWebhook(t, b, hookID) }},
		{"every other page", func(t *testing.T) { tour(t, b) }},
		{"the dark theme", func(t *testing.T) { darkDelivery(t, b, hookID, deliveryID) }},
		{"the page's retry schedule is the server's", func(t *testing.T) { schedulesAgree(t, b) }},
		{"filter the log, cancel a delivery, see an integration", func(t *testing.T) { filterCancelIntegration(t, b, h) }},
		{"sign out", func(t *testing.T) { signOut(t, b) }},
		{"herald dev's sign-in link works once", func(t *testing.T) { signInLink(t, b, h) }},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { b.t = t; s.run(t) }) {
			b.t = t
			break
		}
	}
	b.t = t
	if p := b.problems(); len(p) > 0 {
		t.Errorf("the page reported exceptions or policy violations:\n%s", strings.Join(p, "\n"))
	}
	if *updateDocs && !t.Failed() {
		copyFile(t, filepath.Join(b.dir, "overview.png"), filepath.Join("..", "docs", "images", "dashboard-overview.png"))
		copyFile(t, filepath.Join(b.dir, "delivery-dark.png"), filepath.Join("..", "docs", "images", "dashboard-delivery-dark.png"))
	}
	t.Logf("Herald and the browser test took %s", time.Since(began).Round(time.Millisecond))
}

// clear empties a text field, as selecting its text and deleting would.
func clear(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf("document.querySelector(%q).value = ''", sel))
}

func refuseBadKey(t *testing.T, b *browser, h *herald) {
	// / leads to the dashboard, which asks for a key.
	b.do(chromedp.Navigate(h.url+"/"), chromedp.WaitVisible(chromedp.CSS("#sign-in-form")))
	bad := apikey.Prefix + "000000000000_" + strings.Repeat("A", 43)
	b.do(chromedp.SendKeys(chromedp.CSS("#api-key"), bad), chromedp.Click(chromedp.CSS("#sign-in-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#sign-in-error")))
	if msg := b.text("#sign-in-error"); !strings.Contains(msg, "not valid") {
		t.Fatalf("sign-in error shown: %q", msg)
	}
	if eval[string](b, `document.activeElement.id`) != "api-key" || !eval[bool](b, `document.querySelector('#api-key').getAttribute('aria-invalid') === 'true'`) {
		t.Fatal("after a refused key the focus is not back on the marked key field")
	}
	if c := b.sessionCookie(); c != nil {
		t.Fatalf("a refused key left a cookie: %+v", c)
	}
	if status := eval[int](b, `fetch('/api/v1/session').then(r => r.status)`); status != 401 {
		t.Fatalf("the page's API calls after a refused key: %d, want 401", status)
	}
	if code := h.call(t, "GET", "/api/v1/webhooks", bad, nil, nil); code != 401 {
		t.Fatalf("the API with the bad key: %d, want 401", code)
	}
}

func signIn(t *testing.T, b *browser, h *herald) {
	b.do(clear("#api-key"), chromedp.SendKeys(chromedp.CSS("#api-key"), h.key),
		chromedp.Click(chromedp.CSS("#sign-in-form button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("#nav")))
	b.until("the overview", `document.querySelector('#main h1')?.textContent === 'Overview'`)
	if who := b.text("#who"); !strings.Contains(who, "dashboard test admin") {
		t.Fatalf("signed in as %q", who)
	}
	c := b.sessionCookie()
	if c == nil || c.Value != h.key || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" || c.Secure {
		t.Fatalf("session cookie %+v: want the key, HttpOnly, SameSite=Strict, Path=/ (not Secure: plain http on loopback)", c)
	}
	if eval[bool](b, `document.cookie.includes('herald_session')`) {
		t.Fatal("the page's scripts can read the session cookie")
	}
	landmarks := `!!document.querySelector('header') && !!document.querySelector('nav[aria-label="Main"]') &&
		!!document.querySelector('main#main') && !!document.querySelector('[aria-live="polite"]') &&
		document.querySelector('nav a[aria-current="page"]')?.textContent === 'Overview'`
	if !eval[bool](b, landmarks) {
		t.Fatal("the page lacks its landmarks, live region or current-page marker")
	}
}

func createWebhook(t *testing.T, b *browser, h *herald, url string) int {
	b.open("#/webhooks")
	b.do(chromedp.WaitVisible(chromedp.CSS("#new-webhook")), chromedp.Click(chromedp.CSS("#new-webhook")),
		chromedp.WaitVisible(chromedp.CSS("#webhook-form")))
	unlabelled := `[...document.querySelectorAll('#webhook-form input, #webhook-form select, #webhook-form textarea')]
		.filter(e => e.labels.length === 0).map(e => e.name)`
	if names := eval[[]string](b, unlabelled); len(names) > 0 {
		t.Fatalf("form controls without a label: %v", names)
	}
	b.do(chromedp.SendKeys(chromedp.CSS(`#webhook-form [name="name"]`), "Compliance receiver"),
		chromedp.SendKeys(chromedp.CSS(`#webhook-form [name="url"]`), url),
		chromedp.Click(chromedp.CSS("#type-compliance-alert")),
		// An hour between attempts: the retry below is the operator's.
		clear(`#webhook-form [name="retry_delay_seconds"]`),
		chromedp.SendKeys(chromedp.CSS(`#webhook-form [name="retry_delay_seconds"]`), "3600"))
	b.until("the schedule preview to follow the form", `document.querySelector('#schedule-preview-list li:nth-child(2)')?.textContent.startsWith('Attempt 2: 1 h')`)
	b.do(chromedp.Click(chromedp.CSS(`#webhook-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#secret-value")))
	secret := b.text("#secret-value")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the create answer's secret shown: %q", secret)
	}
	b.do(chromedp.Click(chromedp.CSS("#open-webhook")))
	b.until("the webhook page with its retry schedule", `document.querySelectorAll('#retry-schedule li').length === 6`)
	id := eval[int](b, `Number(location.hash.split('/').pop())`)
	var w struct {
		Secret string `json:"secret"`
	}
	h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d", id), h.key, nil, &w)
	if w.Secret == secret || eval[bool](b, fmt.Sprintf(`document.body.innerText.includes(%q)`, secret)) {
		t.Fatal("the whole secret is shown after the create answer")
	}
	return id
}

func watchTheLog(t *testing.T, b *browser, h *herald) int {
	b.open("#/deliveries")
	b.do(chromedp.WaitVisible(chromedp.CSS("#log-filters")), chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
	ev := map[string]any{"event_id": "evt-dash-1", "event_type": "compliance.alert", "source_id": "doc_12345",
		"payload": map[string]any{"alert_level": "critical", "alert_type": "gdpr_violation", "message": "Personal data found in document"}}
	if code := h.call(t, "POST", "/api/v1/events", h.key, ev, nil); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	row := `document.querySelector('tr[data-event-id="evt-dash-1"]')`
	b.until("the delivery in the log", "!!"+row)
	b.until("its first attempt answered 503", row+`?.textContent.includes('503')`)
	if !eval[bool](b, `window.notReloaded === true && document.querySelector('tr.new[data-event-id="evt-dash-1"]') !== null`) {
		t.Fatal("the delivery appeared by a reload, or without being marked new")
	}
	id := eval[int](b, "Number("+row+".dataset.deliveryId)")
	b.do(chromedp.Click(chromedp.CSS(`tr[data-event-id="evt-dash-1"] a`)))
	return id
}

func retryNow(t *testing.T, b *browser, rc *receiver) {
	b.until("the delivery page with its one attempt", `!!document.querySelector('#retry-now') && document.querySelectorAll('.attempt-row').length === 1`)
	b.until("the signature headers", `document.querySelectorAll('#main .badge-signature').length === 4`)
	b.until("the link to the workflow", `!!document.querySelector('#temporal-link')`)
	if href := eval[string](b, `document.querySelector('#temporal-link').href`); !strings.HasPrefix(href, temporalUI+"/namespaces/default/workflows/event%2Fevt-dash-1") {
		t.Fatalf("Temporal UI link %q", href)
	}
	b.do(chromedp.Click(chromedp.CSS("#retry-now")))
	b.until("a second attempt, delivered", `[...document.querySelectorAll('.attempt-row')].some(r => r.dataset.attempt === '2' && r.textContent.includes('delivered'))`)
	if n := rc.count(); n != 2 || !rc.signed() {
		t.Fatalf("the receiver got %d requests (signed: %v), want 2", n, rc.signed())
	}
}

func charts(t *testing.T, b *browser, h *herald) {
	// A few more deliveries, so the charts have more than one to show.
	for i := range 4 {
		ev := map[string]any{"event_id": fmt.Sprintf("evt-dash-more-%d", i), "event_type": "compliance.alert",
			"payload": map[string]any{"alert_level": "low", "alert_type": "style", "message": "Disclaimer missing"}}
		if code := h.call(t, "POST", "/api/v1/events", h.key, ev, nil); code != 202 {
			t.Fatalf("publish: %d", code)
		}
	}
	// Delivered before the page reads, so the first drawing has them.
	var a struct {
		Overall struct {
			Successful int `json:"successful_deliveries"`
		} `json:"overall"`
	}
	eventually(t, func() bool {
		h.call(t, "GET", "/api/v1/analytics?period_days=1", h.key, nil, &a)
		return a.Overall.Successful == 5
	}, func() string { return fmt.Sprintf("%d of 5 deliveries made", a.Overall.Successful) })
	b.open("#/")
	b.until("the charts drawn with the deliveries", `(() => {
		const c = window.heraldDebug && window.heraldDebug.charts;
		const has = (name, i, ok) => c && c.get(name) && c.get(name).data[i].some(ok);
		const sum = (name, i) => c.get(name).data[i].reduce((a, v) => a + (v || 0), 0);
		return has('deliveries', 1, v => v > 0) && sum('deliveries', 2) === 5 && has('success', 1, v => v !== null) &&
			has('latency', 1, v => v !== null) && has('latency', 2, v => v !== null) && has('waiting', 1, v => v !== null);
	})()`)
	if n := eval[int](b, `document.querySelectorAll('#main figure canvas').length`); n < 4 {
		t.Fatalf("%d chart canvases, want 4", n)
	}
	lens := eval[[]int](b, `['deliveries', 'success', 'latency'].map(n => window.heraldDebug.charts.get(n).data[0].length)`)
	if fmt.Sprint(lens) != "[60 60 60]" {
		t.Fatalf("points per chart %v, want 60 (a minute each for the last hour)", lens)
	}
	if label := eval[string](b, `document.querySelector('#chart-deliveries [role="img"]').getAttribute('aria-label')`); !strings.Contains(label, "at most") {
		t.Fatalf("the chart's text for screen readers: %q", label)
	}
	b.shot("overview.png")
}

// operateWebhook uses the webhook page's actions: a test delivery, a
// pause the overview reports, a resume, a secret rotation.
func operateWebhook(t *testing.T, b *browser, hookID int) {
	b.open(fmt.Sprintf("#/webhooks/%d", hookID))
	b.until("the webhook's figures and its test types", `!!document.querySelector('#webhook-figures') && document.querySelectorAll('#test-event-type option').length === 1`)
	b.do(chromedp.Click(chromedp.CSS("#send-test")))
	b.until("the test delivered", `document.querySelector('#action-result').textContent.includes('Delivered: HTTP 200')`)
	b.do(chromedp.SendKeys(chromedp.CSS("#pause-reason"), "receiver maintenance"), chromedp.Click(chromedp.CSS("#pause")))
	b.until("paused", `document.querySelector('.page-head .badge')?.textContent === 'paused' && !document.querySelector('#resume').hidden`)
	b.open("#/")
	b.until("the paused webhook in need of attention", `document.querySelector('#attention')?.textContent.includes('paused: receiver maintenance')`)
	b.open(fmt.Sprintf("#/webhooks/%d", hookID))
	b.do(chromedp.WaitVisible(chromedp.CSS("#resume")), chromedp.Click(chromedp.CSS("#resume")))
	b.until("resumed", `document.querySelector('#action-result').textContent.includes('Resumed') && document.querySelector('.page-head .badge')?.textContent === 'active'`)
	// Rotating asks twice.
	b.do(chromedp.Click(chromedp.CSS("#rotate")), chromedp.Click(chromedp.CSS("#rotate")))
	b.until("the new secret, shown once", `document.querySelector('#secret-value')?.textContent.startsWith('whsec_')`)
}

// tour opens the pages the other steps did not, each with its data.
func tour(t *testing.T, b *browser) {
	b.open("#/webhooks")
	b.until("the webhook list with its health", `document.querySelectorAll('#webhook-list tbody tr').length === 1 && document.querySelector('#webhook-list').textContent.includes('100 %')`)
	accessible(t, b, "webhooks")
	b.open("#/events")
	b.until("the event list", `!!document.querySelector('#event-list a[href="#/events/evt-dash-1"]')`)
	accessible(t, b, "events")
	b.do(chromedp.Click(chromedp.CSS(`#event-list a[href="#/events/evt-dash-1"]`)))
	b.until("the event's subscriber, delivered", `document.querySelector('tr[data-subscriber]')?.textContent.includes('delivered') && !!document.querySelector('#temporal-link')`)
	accessible(t, b, "event")
	b.open("#/integrations")
	b.until("the integrations and their health", `document.querySelector('#integration-list')?.textContent.includes('Nothing yet') && document.querySelector('#main').textContent.includes('Integrations are')`)
	accessible(t, b, "integrations")
	b.open("#/event-types")
	b.until("the event types", `document.querySelectorAll('#main tbody tr').length >= 8`)
	accessible(t, b, "event types")
	b.do(chromedp.Click(chromedp.CSS(`a[href="#/event-types/compliance.alert"]`)))
	b.until("a type's fields, example and schema", `document.querySelector('#main h1')?.textContent === 'compliance.alert' &&
		document.querySelectorAll('#main tbody tr').length >= 3 && document.querySelector('#main details pre')?.textContent.includes('alert_level')`)
	accessible(t, b, "event type")
	b.open("#/deliveries")
	b.until("the delivery log", `!!document.querySelector('#log-filters') && document.querySelectorAll('#delivery-log tbody tr').length >= 1`)
	accessible(t, b, "deliveries")
	b.open("#/nowhere")
	b.until("a page that is not there", `document.querySelector('#main h1')?.textContent === 'Not found'`)
}

// accessible checks the page just opened: every control has a name a
// screen reader can read, and the focus moved to the page's heading.
func accessible(t *testing.T, b *browser, page string) {
	t.Helper()
	unnamed := eval[[]string](b, `[...document.querySelectorAll('#main input, #main select, #main textarea, #main button')]
		.filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent.trim()))
		.map(e => e.outerHTML.slice(0, 100))`)
	if len(unnamed) > 0 {
		t.Errorf("%s: controls without a name: %v", page, unnamed)
	}
	if focus := eval[string](b, `document.activeElement === document.querySelector('#main h1') ? '' : document.activeElement.outerHTML.slice(0, 100)`); focus != "" {
		t.Errorf("%s: after navigating, the focus is on %s, not the page's heading", page, focus)
	}
}

func darkDelivery(t *testing.T, b *browser, hookID, deliveryID int) {
	b.open(fmt.Sprintf("#/deliveries/%d/%d", hookID, deliveryID))
	b.until("the delivery page", `document.querySelectorAll('.attempt-row').length === 2`)
	b.do(chromedp.Click(chromedp.CSS("#theme")))
	b.until("the dark theme", `document.documentElement.dataset.theme === 'dark' && document.querySelector('#theme').getAttribute('aria-pressed') === 'true'`)
	if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(14, 17, 22)" {
		t.Fatalf("dark background %s", bg)
	}
	b.shot("delivery-dark.png")
}

// schedulesAgree holds the page's schedule (its preview, its overrides) to
// Go's, the one the server delivers by.
func schedulesAgree(t *testing.T, b *browser) {
	cases := []webhook.RetrySettings{
		{RetryStrategy: webhook.ExponentialBackoff, MaxRetries: 5, RetryDelaySeconds: 60, BackoffMultiplier: 2, MaxDelaySeconds: 3600},
		{RetryStrategy: webhook.ExponentialBackoff, MaxRetries: 20, RetryDelaySeconds: 7, BackoffMultiplier: 1.1, MaxDelaySeconds: 100},
		{RetryStrategy: webhook.ExponentialBackoff, MaxRetries: 8, RetryDelaySeconds: 3, BackoffMultiplier: 1.5, MaxDelaySeconds: 604800},
		{RetryStrategy: webhook.LinearBackoff, MaxRetries: 6, RetryDelaySeconds: 45, BackoffMultiplier: 3, MaxDelaySeconds: 200},
		{RetryStrategy: webhook.FixedInterval, MaxRetries: 3, RetryDelaySeconds: 10, BackoffMultiplier: 2, MaxDelaySeconds: 5},
		{RetryStrategy: webhook.NoRetry, MaxRetries: 5, RetryDelaySeconds: 60, BackoffMultiplier: 2, MaxDelaySeconds: 3600},
	}
	raw, _ := json.Marshal(cases)
	got := eval[[][]float64](b, fmt.Sprintf(`import('/ui/js/schedule.js').then(m => %s.map(c => m.schedule(c)))`, raw))
	for i, w := range cases {
		want := w.RetryPolicy().Schedule()
		if len(got[i]) != len(want) {
			t.Fatalf("case %d: page %v, server %v", i, got[i], want)
		}
		for n, d := range want {
			if math.Abs(got[i][n]-d.Seconds()) > 1e-9 {
				t.Fatalf("case %d retry %d: page %v s, server %v s", i, n+1, got[i][n], d.Seconds())
			}
		}
	}
}

// signInLink opens the link `herald dev` prints: it signs in without a
// key, leaves the address bar at once, and does not work a second time.
func signInLink(t *testing.T, b *browser, h *herald) {
	link := h.url + "/ui/#sign-in=" + h.signIn
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#nav")))
	b.until("signed in by the link", `document.querySelector('#main h1')?.textContent === 'Overview' && !location.href.includes('sign-in')`)
	if c := b.sessionCookie(); c == nil || c.Value != h.key {
		t.Fatalf("the link's session cookie %+v", c)
	}
	b.do(chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#sign-in-form")))
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#sign-in-form")))
	b.until("the used link refused", `document.querySelector('#main').textContent.includes('sign-in link is not valid')`)
	if c := b.sessionCookie(); c != nil {
		t.Fatalf("the link signed in twice: %+v", c)
	}
}

// filterCancelIntegration narrows the log with its filters to one waiting
// delivery, cancels it from its page, finds the subscribers that need
// attention on the overview, and an integration's health and figures.
func filterCancelIntegration(t *testing.T, b *browser, h *herald) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	var hook struct {
		ID int `json:"id"`
	}
	if code := h.call(t, "POST", "/api/v1/webhooks", h.key, map[string]any{"name": "Down receiver", "url": down.URL,
		"event_types": []string{webhook.ValidationFailed}, "retry_delay_seconds": 3600}, &hook); code != 201 {
		t.Fatalf("webhook: %d", code)
	}
	if code := h.call(t, "POST", "/api/v1/integrations", h.key, map[string]any{"name": "Ops hook", "integration_type": "webhook",
		"credentials": map[string]any{"webhook_url": down.URL}, "event_subscriptions": []string{webhook.ValidationFailed},
		"retry_delay_seconds": 3600}, nil); code != 201 {
		t.Fatalf("integration: %d", code)
	}
	// A receiver that answers 410 Gone trips the circuit breaker at once.
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) }))
	t.Cleanup(gone.Close)
	if code := h.call(t, "POST", "/api/v1/webhooks", h.key, map[string]any{"name": "Gone receiver", "url": gone.URL,
		"event_types": []string{webhook.ValidationFailed}}, nil); code != 201 {
		t.Fatalf("webhook: %d", code)
	}
	// A webhook made two days ago and never triggered since.
	quiet := webhook.New()
	quiet.Name, quiet.URL, quiet.EventTypes, quiet.Secret = "Quiet receiver", gone.URL, []string{webhook.ReportGenerated}, "whsec_"+strings.Repeat("q", 43)
	if err := h.storeAt(48*time.Hour).CreateWebhook(t.Context(), quiet); err != nil {
		t.Fatal(err)
	}
	ev := map[string]any{"event_id": "evt-dash-2", "event_type": webhook.ValidationFailed, "source_id": "doc_2",
		"payload": map[string]any{"error_code": "PARSE_ERROR", "error_message": "Document could not be parsed"}}
	if code := h.call(t, "POST", "/api/v1/events", h.key, ev, nil); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	b.open("#/deliveries")
	b.until("the three subscribers' first attempts", `document.querySelectorAll('#delivery-log tr[data-event-id="evt-dash-2"]').length === 3`)
	b.do(chromedp.SetValue(chromedp.CSS(`#filter-status`), "retrying"), chromedp.SetValue(chromedp.CSS(`#filter-webhook`), fmt.Sprint(hook.ID)),
		chromedp.Click(chromedp.CSS(`#log-filters button[type="submit"]`)))
	b.until("the log narrowed to the webhook's waiting attempt", `location.hash.includes('status=retrying') &&
		document.querySelectorAll('#delivery-log tbody tr').length === 1 && document.querySelector('#delivery-log tbody tr').dataset.eventId === 'evt-dash-2'`)
	b.do(chromedp.Click(chromedp.CSS(`#delivery-log tbody tr a`)))
	b.until("the waiting delivery's page", `!!document.querySelector('#cancel') && document.querySelectorAll('.attempt-row').length === 1`)
	// Cancelling asks twice.
	b.do(chromedp.Click(chromedp.CSS(`#cancel`)), chromedp.Click(chromedp.CSS(`#cancel`)))
	b.until("cancelled", `document.querySelector('#action-result')?.textContent.includes('Cancelled')`)
	var got struct {
		Deliveries []struct {
			Status string `json:"status"`
		} `json:"deliveries"`
	}
	eventually(t, func() bool {
		h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", hook.ID), h.key, nil, &got)
		return len(got.Deliveries) == 1 && got.Deliveries[0].Status == "failed"
	}, func() string { return fmt.Sprintf("after cancel the delivery is %+v", got.Deliveries) })
	b.open("#/")
	b.until("the overview's subscribers that need attention", `(() => { const items = [...document.querySelectorAll('#main ul.attention li')];
		const has = (name, kind) => items.some(li => li.textContent.includes(name) && li.textContent.includes(kind));
		return has('Gone receiver', 'breaker') && has('Down receiver', 'failing') && has('Quiet receiver', 'not triggered for 2 d'); })()`)
	b.open("#/integrations")
	b.until("the integration with its health and figures", `(() => { const row = [...document.querySelectorAll('#integration-list tbody tr')].find(r => r.textContent.includes('Ops hook'));
		return !!row && row.textContent.includes('failing') && row.textContent.includes('validation.failed'); })()`)
}

func signOut(t *testing.T, b *browser) {
	b.do(chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#sign-in-form")))
	if c := b.sessionCookie(); c != nil {
		t.Fatalf("signed out, the cookie stays: %+v", c)
	}
	if status := eval[int](b, `fetch('/api/v1/session').then(r => r.status)`); status != 401 {
		t.Fatalf("after signing out the API answers the page %d, want 401", status)
	}
}
