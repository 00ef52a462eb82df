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
	"github.com/chromedp/chromedp/kb"

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
		{"the skip link comes first and leads to the content", func(t *testing.T) { skipLink(t, b, h) }},
		{"a read-only key is offered no changes", func(t *testing.T) { readOnly(t, b, h, hookID, deliveryID) }},
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
	accessible(t, b, "new webhook")
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
	accessible(t, b, "delivery")
	b.until("the signature headers", `document.querySelectorAll('#main .badge-signature').length === 4`)
	if body := b.text(`#main pre[aria-label="Request body"]`); !strings.Contains(body, `"evt-dash-1"`) {
		t.Fatalf("the request body shown: %q", body)
	}
	b.until("the link to the workflow", `!!document.querySelector('#temporal-link')`)
	if href := eval[string](b, `document.querySelector('#temporal-link').href`); !strings.HasPrefix(href, temporalUI+"/namespaces/default/workflows/event%2Fevt-dash-1") {
		t.Fatalf("Temporal UI link %q", href)
	}
	b.do(chromedp.Click(chromedp.CSS("#retry-now")))
	b.until("a second attempt, delivered", `[...document.querySelectorAll('.attempt-row')].some(r => r.dataset.attempt === '2' && r.textContent.includes('delivered'))`)
	if n := rc.count(); n != 2 || !rc.signed() {
		t.Fatalf("the receiver got %d requests (signed: %v), want 2", n, rc.signed())
	}
	// The retry is an update of the event's workflow, which cut its wait
	// for the second attempt short (api/timeline.go names the steps).
	b.until("the retry's steps in the workflow's timeline", `(() => { const steps = [...document.querySelectorAll('#workflow-steps li')];
		return steps.some(li => li.querySelector('.badge-update') && li.textContent.includes('retry-delivery')) &&
			steps.some(li => li.querySelector('.badge-wait_cut_short')) &&
			steps.some(li => li.querySelector('.badge-attempt') && li.textContent.includes('attempt 2')); })()`)
	if body := b.text(`#main pre[aria-label="Response body"]`); !strings.Contains(body, "not yet") {
		t.Fatalf("the first attempt's response body shown: %q, want the receiver's 503 answer", body)
	}
	b.do(chromedp.Click(chromedp.CSS(`.attempt-row[data-attempt="2"] a`)))
	b.until("the second attempt's answer", `document.querySelector('#main pre[aria-label="Response body"]')?.textContent === '{"received":true}'`)
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
			has('latency', 1, v => v !== null) && has('latency', 2, v => v !== null);
	})()`)
	accessible(t, b, "overview")
	if n := eval[int](b, `document.querySelectorAll('#main figure canvas').length`); n < 4 {
		t.Fatalf("%d chart canvases, want 4", n)
	}
	lens := eval[[]int](b, `['deliveries', 'success', 'latency', 'waiting'].map(n => window.heraldDebug.charts.get(n).data[0].length)`)
	if fmt.Sprint(lens) != "[60 60 60 60]" {
		t.Fatalf("points per chart %v, want 60 (a minute each for the last hour)", lens)
	}
	// What waited at each minute's end, from the server: a count at every
	// point, in time order, the last (now) none, as every delivery was made.
	waiting := `(() => { const [xs, ys] = window.heraldDebug.charts.get('waiting').data;
		return ys.every(v => Number.isInteger(v) && v >= 0) && xs.every((x, i) => i === 0 || x > xs[i - 1]) &&
			xs[xs.length - 1] <= Date.now() / 1000 && ys[ys.length - 1] === 0; })()`
	if !eval[bool](b, waiting) {
		t.Fatalf("the waiting chart's points: %v", eval[any](b, `window.heraldDebug.charts.get('waiting').data`))
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
	accessible(t, b, "webhook")
	// Its deliveries so far: evt-dash-1, delivered at its second attempt,
	// and the four the charts step published, delivered at once.
	figures := eval[map[string]string](b, `Object.fromEntries([...document.querySelectorAll('#webhook-figures .tile')]
		.map(t => [t.querySelector('.tile-label').textContent, t.querySelector('.tile-value').textContent]))`)
	for label, want := range map[string]string{"Deliveries": "5", "Success rate": "100 %", "Failed for good": "0", "Retries": "1"} {
		if figures[label] != want {
			t.Errorf("the webhook's %s: %q, want %q (all figures: %v)", label, figures[label], want, figures)
		}
	}
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
		document.querySelectorAll('#main tbody tr').length >= 3 && document.querySelector('#main details pre')?.textContent.includes('alert_level') &&
		JSON.parse(document.querySelector('#main pre[aria-label="Example payload"]')?.textContent || '{}').alert_level !== undefined`)
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

// filterCancelIntegration sees a waiting delivery's live state on its
// event's page, narrows the log with each of its filters to it, cancels it
// from its page, finds the subscribers that need attention on the
// overview, and an integration's health and figures.
func filterCancelIntegration(t *testing.T, b *browser, h *herald) {
	hookID := downReceivers(t, h)
	b.open("#/deliveries")
	b.until("the three subscribers' first attempts", `document.querySelectorAll('#delivery-log tr[data-event-id="evt-dash-2"]').length === 3`)
	subscriberLive(t, b, hookID)
	filterLog(t, b, hookID)
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
		h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", hookID), h.key, nil, &got)
		return len(got.Deliveries) == 1 && got.Deliveries[0].Status == "failed"
	}, func() string { return fmt.Sprintf("after cancel the delivery is %+v", got.Deliveries) })
	b.open("#/")
	b.until("the overview's subscribers that need attention", `(() => { const items = [...document.querySelectorAll('#main ul.attention li')];
		const has = (name, kind) => items.some(li => li.textContent.includes(name) && li.textContent.includes(kind));
		return has('Gone receiver', 'breaker') && has('Down receiver', 'failing') && has('Quiet receiver', 'not triggered for 2 d'); })()`)
	// The integration's delivery waits for its retry; the cancelled one
	// and the one the 410 ended do not.
	b.until("one delivery waiting now, on the chart and its tile", `window.heraldDebug.charts.get('waiting')?.data[1].at(-1) === 1 &&
		[...document.querySelectorAll('#kpis .tile')].some(t => t.querySelector('.tile-label').textContent === 'Waiting now' &&
			t.querySelector('.tile-value').textContent === '1')`)
	b.open("#/integrations")
	// Its one attempt failed and waits for a retry: nothing delivered,
	// nothing failed for good, one retried.
	b.until("the integration with its health and figures", fmt.Sprintf(`(() => { %s
		const row = [...document.querySelectorAll('#integration-list tbody tr')].find(r => r.textContent.includes('Ops hook'));
		return !!row && cell(row, 'Health').textContent === 'failing' && cell(row, 'Subscriptions').textContent === 'validation.failed' &&
			cell(row, 'Delivered').textContent === '0' && cell(row, 'Failed').textContent === '0' && cell(row, 'Retried').textContent === '1'; })()`, cellJS))
}

// downReceivers makes the subscribers of evt-dash-2, which it publishes:
// a webhook whose receiver is down (its id returned) and an integration
// posting to it, both retrying in an hour; a webhook whose receiver is
// gone (410), which the circuit breaker pauses; and one made two days ago
// and never triggered since.
func downReceivers(t *testing.T, h *herald) int {
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
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) }))
	t.Cleanup(gone.Close)
	if code := h.call(t, "POST", "/api/v1/webhooks", h.key, map[string]any{"name": "Gone receiver", "url": gone.URL,
		"event_types": []string{webhook.ValidationFailed}}, nil); code != 201 {
		t.Fatalf("webhook: %d", code)
	}
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
	return hook.ID
}

// cellJS defines cell(row, heading): a table row's cell under a heading.
const cellJS = `const cell = (row, heading) => row.cells[[...row.closest('table').querySelectorAll('thead th')].findIndex(th => th.textContent === heading)];`

// subscriberLive opens evt-dash-2's page: the Down receiver's delivery
// shows, in its own columns, the state its workflow holds (waiting for
// its retry) and when its next attempt is due; then returns to the log.
func subscriberLive(t *testing.T, b *browser, hookID int) {
	b.open("#/events/evt-dash-2")
	b.until("the Down receiver's live state and next attempt", fmt.Sprintf(`(() => { %s
		const row = document.querySelector('tr[data-subscriber="%d"]');
		const due = row && cell(row, 'Next attempt')?.querySelector('time[datetime]');
		return !!row && !!cell(row, 'Live state')?.querySelector('.badge-retrying') && !!due && Date.parse(due.dateTime) > Date.now(); })()`, cellJS, hookID))
	b.open("#/deliveries")
	b.until("the log", `document.querySelectorAll('#delivery-log tr[data-event-id="evt-dash-2"]').length === 3`)
}

// filterLog narrows the log by event type, then to the Down receiver's
// waiting attempt, which a time range after it leaves out.
func filterLog(t *testing.T, b *browser, hookID int) {
	apply := chromedp.Click(chromedp.CSS(`#log-filters button[type="submit"]`))
	// evt-dash-2 is a validation.failed event; every other one the test
	// published is a compliance.alert.
	b.do(chromedp.SetValue(chromedp.CSS(`#filter-event_type`), webhook.ComplianceAlert), apply)
	b.until("the log narrowed to compliance alerts", fmt.Sprintf(`(() => { %s
		const rows = [...document.querySelectorAll('#delivery-log tbody tr[data-event-id]')];
		return location.hash.includes('event_type=compliance.alert') && rows.length >= 5 &&
			rows.every(r => cell(r, 'Event type').textContent === 'compliance.alert') &&
			!document.querySelector('#delivery-log tr[data-event-id="evt-dash-2"]'); })()`, cellJS))
	b.do(chromedp.SetValue(chromedp.CSS(`#filter-event_type`), ""), chromedp.SetValue(chromedp.CSS(`#filter-status`), "retrying"),
		chromedp.SetValue(chromedp.CSS(`#filter-webhook`), fmt.Sprint(hookID)), apply)
	one := `document.querySelectorAll('#delivery-log tbody tr').length === 1 && document.querySelector('#delivery-log tbody tr').dataset.eventId === 'evt-dash-2'`
	b.until("the log narrowed to the webhook's waiting attempt", `location.hash.includes('status=retrying') && !location.hash.includes('event_type') && `+one)
	// A time range that leaves the attempt out, from an hour on or up to
	// an hour ago (in the field's local time), then cleared.
	for _, r := range []struct{ field, hours, none string }{
		{"from", "+1", "no attempt from an hour on"},
		{"to", "-1", "no attempt up to an hour ago"},
	} {
		at := eval[string](b, `(() => { const d = new Date(Date.now() + (`+r.hours+`) * 3600e3); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
			return d.toISOString().slice(0, 16); })()`)
		b.do(chromedp.SetValue(chromedp.CSS(`#filter-`+r.field), at), apply)
		b.until(r.none, `location.hash.includes('`+r.field+`=') && !!document.querySelector('#delivery-log .notice') &&
			!document.querySelector('#delivery-log tr[data-event-id]')`)
		b.do(clear(`#filter-`+r.field), apply)
		b.until("the waiting attempt back, without the time range", `!location.hash.includes('`+r.field+`=') && `+one)
	}
}

// skipLink: on a page just loaded, the first Tab reaches the skip link,
// and following it puts the focus on the main region, the page staying.
func skipLink(t *testing.T, b *browser, h *herald) {
	// From elsewhere: a link within the page only changes its fragment.
	b.do(chromedp.Navigate("about:blank"), chromedp.Navigate(h.url+"/ui/#/webhooks"))
	b.until("the webhooks page", `document.querySelector('#main h1')?.textContent === 'Webhooks'`)
	b.do(chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, `document.activeElement.outerHTML.slice(0, 80)`); !strings.HasPrefix(got, `<a class="skip" href="#main">`) {
		t.Fatalf("the first Tab reached %s, not the skip link", got)
	}
	b.do(chromedp.KeyEvent(kb.Enter))
	b.until("the focus in the main region, on the same page", `document.activeElement === document.getElementById('main') &&
		document.querySelector('#main h1')?.textContent === 'Webhooks'`)
}

// readOnly signs in with a key that may only read: no page offers a
// change, and a change made through the page's own API module is refused.
func readOnly(t *testing.T, b *browser, h *herald, hookID, deliveryID int) {
	secret, k := apikey.New("dashboard reader", []apikey.Scope{apikey.Read}, nil)
	if err := h.storeAt(0).CreateAPIKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#sign-in-form")),
		chromedp.SendKeys(chromedp.CSS("#api-key"), secret), chromedp.Click(chromedp.CSS("#sign-in-form button[type=submit]")))
	b.until("signed in to read", `document.querySelector('#who')?.textContent === 'dashboard reader (read)'`)
	offered := func(page string, ids ...string) {
		raw, _ := json.Marshal(ids)
		got := eval[[]string](b, fmt.Sprintf(`%s.filter(id => { const el = document.getElementById(id); return el && !el.hidden && !el.disabled; })`, raw))
		if len(got) > 0 {
			t.Errorf("%s offers a read-only key %v", page, got)
		}
	}
	b.open(fmt.Sprintf("#/deliveries/%d/%d", hookID, deliveryID))
	b.until("the delivery page", `document.querySelectorAll('.attempt-row').length === 2`)
	offered("the delivery page", "retry-now", "cancel")
	b.open(fmt.Sprintf("#/webhooks/%d", hookID))
	b.until("the webhook page", `!!document.querySelector('#webhook-figures')`)
	offered("the webhook page", "pause", "resume", "send-test", "rotate", "delete")
	b.open("#/webhooks")
	b.until("the webhook list", `document.querySelectorAll('#webhook-list tbody tr').length >= 1`)
	offered("the webhook list", "new-webhook")
	for what, call := range map[string]string{
		"retry":  fmt.Sprintf(`m.api.post('/webhooks/%d/deliveries/%d/retry')`, hookID, deliveryID),
		"pause":  fmt.Sprintf(`m.api.put('/webhooks/%d', {status: 'paused', status_reason: 'read-only'})`, hookID),
		"create": `m.api.post('/webhooks', {name: 'Not allowed', url: 'http://127.0.0.1:9/hook', event_types: ['compliance.alert']})`,
	} {
		status := eval[int](b, `import('/ui/js/api.js').then(m => `+call+`).then(() => 0, e => e.status)`)
		if status != 403 {
			t.Errorf("a %s by a read-only key through the page's API: %d, want 403", what, status)
		}
	}
	var w struct {
		Status string `json:"status"`
	}
	if h.call(t, "GET", fmt.Sprintf("/api/v1/webhooks/%d", hookID), h.key, nil, &w); w.Status != "active" {
		t.Fatalf("after the refused pause the webhook is %q", w.Status)
	}
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
