package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// The Go client against the running Herald: every method once, checked by
// what the receivers got and what the API answers.

func newClient(t *testing.T) *client.Client {
	t.Helper()
	return newClientWithKey(t, herald(t).key)
}

// newClientWithKey is a client with this API key, its exchanges checked
// against the OpenAPI document.
func newClientWithKey(t *testing.T, key string) *client.Client {
	t.Helper()
	hc := &http.Client{Transport: documented{t, openAPIOperations(t), http.DefaultTransport}}
	c, err := client.New(herald(t).apiURL, key, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// documented checks every request the client makes, and its answer,
// against the OpenAPI document (api/openapi.yaml): the client is written by
// hand, and this is what keeps it to the routes and shapes the API
// documents.
type documented struct {
	t    *testing.T
	ops  map[string][]*regexp.Regexp // method → path templates
	next http.RoundTripper
}

func (d documented) RoundTrip(r *http.Request) (*http.Response, error) {
	if !slices.ContainsFunc(d.ops[r.Method], func(re *regexp.Regexp) bool { return re.MatchString(r.URL.EscapedPath()) }) {
		d.t.Errorf("the client calls %s %s, which the OpenAPI document does not have", r.Method, r.URL.EscapedPath())
	}
	var sent []byte
	if r.Body != nil {
		var err error
		if sent, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(sent))
	}
	resp, err := d.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(got))
	openapitest.CheckExchange(d.t, r, string(sent), resp, got)
	return resp, nil
}

// openAPIOperations reads the document's operations as path patterns.
func openAPIOperations(t *testing.T) map[string][]*regexp.Regexp {
	t.Helper()
	raw, err := api.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string][]*regexp.Regexp{}
	param := regexp.MustCompile(`\\\{[^/]+?\\\}`)
	for path, item := range doc.Paths {
		re := regexp.MustCompile("^" + param.ReplaceAllString(regexp.QuoteMeta(path), "[^/]+") + "$")
		for method := range item {
			ops[strings.ToUpper(method)] = append(ops[strings.ToUpper(method)], re)
		}
	}
	return ops
}

// signedBy fails unless a request carries both of Herald's signatures for
// secret, checked by the test's own HMACs.
func signedBy(t *testing.T, a arrival, secret string) {
	t.Helper()
	id, ts := a.header.Get("webhook-id"), a.header.Get("webhook-timestamp")
	if a.header.Get("X-Webhook-Signature") != guideSignature(secret, a.body) ||
		a.header.Get("webhook-signature") != standardSignature(t, secret, id, ts, a.body) {
		t.Fatalf("request %s is not signed with the secret", a.header.Get("X-Webhook-ID"))
	}
}

// clientWebhook creates a webhook with the client and deletes it at cleanup.
func clientWebhook(t *testing.T, c *client.Client, in client.WebhookInput) *client.Webhook {
	t.Helper()
	w, err := c.CreateWebhook(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.DeleteWebhook(context.Background(), w.ID); err != nil && !client.IsNotFound(err) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return w
}

func TestClientWebhookLifecycle(t *testing.T) {
	ctx, c := context.Background(), newClient(t)
	r := newReceiver(t, 200, 503, 200) // the test, then the event's two attempts
	w := clientWebhook(t, c, client.WebhookInput{Name: uniqueID("e2e client"), URL: r.srv.URL + "/hook",
		EventTypes: []string{webhook.ComplianceAlert}, CustomHeaders: map[string]string{"X-Team": "compliance"},
		DeliverySettings: client.DeliverySettings{MaxRetries: client.Ptr(3), RetryDelaySeconds: 1, JitterPercentage: client.Ptr(0.0)}})
	if !strings.HasPrefix(w.Secret, webhook.SecretPrefix) || !slices.Equal(w.RetryScheduleSeconds, []float64{1, 2, 4}) {
		t.Fatalf("created %+v", w)
	}
	got, err := c.GetWebhook(ctx, w.ID)
	if err != nil || got.Name != w.Name || got.Secret == w.Secret || got.CustomHeaders["X-Team"] != "compliance" {
		t.Fatalf("get: %+v %v", got, err)
	}
	list, err := c.ListWebhooks(ctx, client.WebhookListOptions{Status: webhook.StatusActive, Limit: 1000})
	if err != nil || !slices.ContainsFunc(list.Webhooks, func(x client.Webhook) bool { return x.ID == w.ID }) || list.Limit != 1000 {
		t.Fatalf("list: %+v %v", list, err)
	}
	up, err := c.UpdateWebhook(ctx, w.ID, client.WebhookInput{Description: client.Ptr("updated"), DeliverySettings: client.DeliverySettings{RateLimitPerMinute: 600}})
	if err != nil || up.Description != "updated" || up.RateLimitPerMinute != 600 || up.MaxRetries != 3 || up.CustomHeaders["X-Team"] != "compliance" {
		t.Fatalf("update: %+v %v", up, err)
	}
	tested, err := c.TestWebhook(ctx, w.ID, "")
	if err != nil || !tested.Success || tested.StatusCode != 200 || tested.EventType != webhook.ComplianceAlert {
		t.Fatalf("test: %+v %v", tested, err)
	}
	signedBy(t, r.arrivals()[0], w.Secret)
	rotated, err := c.RotateSecret(ctx, w.ID, client.RotateOptions{OverlapHours: client.Ptr(0)})
	if err != nil || rotated.Secret == w.Secret || rotated.PreviousSecretExpiresAt != nil {
		t.Fatalf("rotate: %+v %v", rotated, err)
	}
	id := publishAlert(t, c)
	if res := herald(t).wait(t, id); res.Status != workflows.StatusDelivered {
		t.Fatalf("event %+v", res)
	}
	arrivals := r.arrivals()
	if len(arrivals) != 3 {
		t.Fatalf("%d requests", len(arrivals))
	}
	for _, a := range arrivals[1:] { // signed with the new secret only
		signedBy(t, a, rotated.Secret)
		if a.header.Get("X-Webhook-ID") != id || a.header.Get("X-Team") != "compliance" || !strings.Contains(string(a.body), `"alert_type":"gdpr_violation"`) {
			t.Fatalf("request %v %s", a.header, a.body)
		}
	}
	checkHistory(t, c, w.ID, id)
	if err := c.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetWebhook(ctx, w.ID); !client.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

// publishAlert publishes a compliance.alert from the payload's Go type,
// twice: the repeat is a duplicate.
func publishAlert(t *testing.T, c *client.Client) string {
	t.Helper()
	ev := client.EventInput{EventID: uniqueID("evt-client"), EventType: webhook.ComplianceAlert, SourceID: "doc_12345",
		Payload: eventtypes.ComplianceAlertEvent{AlertLevel: "critical", AlertType: "gdpr_violation",
			Message: "Personal data found in document", AffectedDocuments: []string{"doc_12345"}}}
	acc, err := c.PublishEvent(context.Background(), ev)
	if err != nil || acc.Duplicate || acc.WorkflowID != workflows.EventWorkflowID(ev.EventID) {
		t.Fatalf("publish: %+v %v", acc, err)
	}
	again, err := c.PublishEvent(context.Background(), ev)
	if err != nil || !again.Duplicate {
		t.Fatalf("publish again: %+v %v", again, err)
	}
	return ev.EventID
}

// checkHistory reads an event's delivery back: attempt rows, the event,
// its timeline, the analytics, and a refused retry.
func checkHistory(t *testing.T, c *client.Client, webhookID int64, eventID string) {
	t.Helper()
	ctx := context.Background()
	ds, err := c.ListDeliveries(ctx, webhookID, client.DeliveryListOptions{EventID: eventID})
	if err != nil || ds.Total != 2 || ds.Deliveries[0].Status != webhook.AttemptDelivered || ds.Deliveries[1].Status != webhook.AttemptRetrying ||
		*ds.Deliveries[1].ResponseStatusCode != 503 {
		t.Fatalf("deliveries: %+v %v", ds, err)
	}
	all, err := c.ListAllDeliveries(ctx, client.DeliveryListOptions{EventID: eventID})
	if err != nil {
		t.Fatal(err)
	}
	var mine []int64
	for _, a := range all.Deliveries {
		if a.WebhookID == webhookID {
			mine = append(mine, a.ID)
		}
	}
	if !slices.Equal(mine, []int64{ds.Deliveries[0].ID, ds.Deliveries[1].ID}) {
		t.Fatalf("deliveries across webhooks: %+v", all)
	}
	d, err := c.GetDelivery(ctx, webhookID, ds.Deliveries[0].ID)
	if err != nil || d.AttemptNumber != 2 || *d.ResponseStatusCode != 200 || len(d.RequestBody) == 0 {
		t.Fatalf("delivery: %+v %v", d, err)
	}
	if _, err := c.RetryDelivery(ctx, webhookID, d.ID); client.CodeOf(err) != webhook.EConflict {
		t.Fatalf("retrying a delivered one: %v", err)
	}
	ev, err := c.GetEvent(ctx, eventID)
	if err != nil || ev.SuccessfulDeliveries != 1 || len(ev.Deliveries) != 1 || ev.Deliveries[0].Attempts != 2 {
		t.Fatalf("event: %+v %v", ev, err)
	}
	evs, err := c.ListEvents(ctx, client.EventListOptions{EventType: webhook.ComplianceAlert, Limit: 1000})
	if err != nil || !slices.ContainsFunc(evs.Events, func(e client.Event) bool { return e.EventID == eventID }) {
		t.Fatalf("events: %+v %v", evs, err)
	}
	var attempts []string
	eventually(t, "the timeline", func() bool {
		tl, err := c.EventTimeline(ctx, eventID)
		if err != nil {
			t.Fatal(err)
		}
		attempts = nil
		for _, e := range tl.Timeline {
			if e.Kind == "attempt" {
				attempts = append(attempts, e.Status)
			}
		}
		return slices.Equal(attempts, []string{"retrying", "delivered"})
	})
	checkAnalytics(t, c, webhookID)
}

func checkAnalytics(t *testing.T, c *client.Client, webhookID int64) {
	t.Helper()
	a, err := c.WebhookAnalytics(context.Background(), webhookID, 1)
	if err != nil || a.WebhookID != webhookID || a.PeriodDays != 1 || a.TotalAttempts != 2 || a.SuccessfulDeliveries != 1 || a.HTTP5xxErrors != 1 {
		t.Fatalf("webhook analytics: %+v %v", a, err)
	}
	all, err := c.Analytics(context.Background(), client.AnalyticsOptions{PeriodDays: 1, EventType: webhook.ComplianceAlert})
	if err != nil || all.EventType != webhook.ComplianceAlert || all.Overall.TotalAttempts < 2 ||
		!slices.ContainsFunc(all.ByWebhook, func(f client.WebhookFigures) bool { return f.WebhookID == webhookID && f.TotalAttempts == 2 }) {
		t.Fatalf("analytics: %+v %v", all, err)
	}
}

// A delivery waiting for its retry is cancelled; a bulk retry starts it
// over. Another, cancelled too, is retried on its own.
func TestClientCancelAndRetry(t *testing.T) {
	ctx, c := context.Background(), newClient(t)
	r := newReceiver(t, 503, 200)
	w := clientWebhook(t, c, client.WebhookInput{Name: uniqueID("e2e client cancel"), URL: r.srv.URL,
		EventTypes: []string{webhook.ComplianceAlert}, DeliverySettings: client.DeliverySettings{RetryDelaySeconds: 3600}})
	for round := range 2 {
		acc, err := c.PublishEvent(ctx, client.EventInput{EventType: webhook.ComplianceAlert, Payload: alert})
		if err != nil {
			t.Fatal(err)
		}
		first := waitRetrying(t, c, w.ID, acc.EventID)
		ans, err := c.CancelDelivery(ctx, w.ID, first)
		if err != nil || ans.Action != "cancelled" || ans.State == nil || ans.State.State != string(workflows.LoopCancelled) {
			t.Fatalf("cancel: %+v %v", ans, err)
		}
		herald(t).wait(t, acc.EventID)
		if round == 0 {
			bulk, err := c.RetryFailed(ctx, w.ID, client.RetryFailedOptions{MaxAgeHours: 1})
			if err != nil || bulk.Retried != 1 || bulk.WebhookID != w.ID {
				t.Fatalf("bulk retry: %+v %v", bulk, err)
			}
		} else if ans, err := c.RetryDelivery(ctx, w.ID, first); err != nil || ans.Action != "reopened" {
			t.Fatalf("retry: %+v %v", ans, err)
		}
		if res := herald(t).wait(t, acc.EventID); res.Status != workflows.StatusDelivered {
			t.Fatalf("round %d: %+v", round, res)
		}
		r.mu.Lock()
		r.got = nil // the next round starts the script over
		r.mu.Unlock()
	}
}

// waitRetrying waits for the event's first attempt to fail and returns it.
func waitRetrying(t *testing.T, c *client.Client, webhookID int64, eventID string) int64 {
	t.Helper()
	var first int64
	eventually(t, "the first attempt to fail", func() bool {
		ds, err := c.ListDeliveries(context.Background(), webhookID, client.DeliveryListOptions{EventID: eventID, Status: webhook.AttemptRetrying})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Deliveries) == 1 {
			first = ds.Deliveries[0].ID
		}
		return first != 0
	})
	return first
}

func TestClientIntegrations(t *testing.T) {
	ctx, c := context.Background(), newClient(t)
	r := newReceiver(t, 200)
	name := uniqueID("e2e client generic")
	in, err := c.RegisterIntegration(ctx, client.IntegrationInput{Name: name, IntegrationType: client.WebhookType,
		Credentials: map[string]any{"webhook_url": r.srv.URL + "/hook"}, EventSubscriptions: []string{webhook.SystemError}})
	if err != nil || !strings.HasPrefix(in.Secret, webhook.SecretPrefix) {
		t.Fatalf("register: %+v %v", in, err)
	}
	t.Cleanup(func() { c.DeleteIntegration(context.Background(), name) })
	got, err := c.GetIntegration(ctx, name)
	if err != nil || got.ID != in.ID || got.Secret == in.Secret || got.Credentials["webhook_url"] == r.srv.URL+"/hook" {
		t.Fatalf("get (secrets masked): %+v %v", got, err)
	}
	list, err := c.ListIntegrations(ctx, client.IntegrationListOptions{IntegrationType: client.WebhookType, Limit: 1000})
	if err != nil || !slices.ContainsFunc(list.Integrations, func(i client.Integration) bool { return i.Name == name }) {
		t.Fatalf("list: %+v %v", list, err)
	}
	up, err := c.UpdateIntegration(ctx, name, client.IntegrationInput{Description: client.Ptr("generic"), DeliverySettings: client.DeliverySettings{MaxRetries: client.Ptr(1)}})
	if err != nil || up.Description != "generic" || up.MaxRetries != 1 || up.EventSubscriptions[0] != webhook.SystemError {
		t.Fatalf("update: %+v %v", up, err)
	}
	checkSubscriptions(t, c, name)
	tested, err := c.TestIntegration(ctx, name, webhook.SystemError)
	if err != nil || !tested.Success || len(r.arrivals()) != 1 {
		t.Fatalf("test: %+v %v", tested, err)
	}
	acc, err := c.RouteEvent(ctx, webhook.SystemError, eventtypes.SystemErrorEvent{ErrorCode: "E1", Component: "validator", Severity: "low"})
	if err != nil {
		t.Fatal(err)
	}
	herald(t).wait(t, acc.EventID)
	if got := r.arrivals(); len(got) != 2 || got[1].header.Get("X-Webhook-ID") != acc.EventID {
		t.Fatalf("route: %d requests", len(got))
	}
	for _, a := range r.arrivals() {
		signedBy(t, a, in.Secret)
	}
	checkIntegrationFigures(t, c, name)
	if err := c.DeleteIntegration(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetIntegration(ctx, name); !client.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

func checkSubscriptions(t *testing.T, c *client.Client, name string) {
	t.Helper()
	ctx := context.Background()
	if s, err := c.Subscribe(ctx, name, webhook.BatchCompleted); err != nil || s.Total != 2 {
		t.Fatalf("subscribe: %+v %v", s, err)
	}
	if s, err := c.Subscriptions(ctx, name); err != nil || !slices.Contains(s.EventSubscriptions, webhook.BatchCompleted) {
		t.Fatalf("subscriptions: %+v %v", s, err)
	}
	if s, err := c.Unsubscribe(ctx, name, webhook.BatchCompleted); err != nil || !slices.Equal(s.EventSubscriptions, []string{webhook.SystemError}) {
		t.Fatalf("unsubscribe: %+v %v", s, err)
	}
	if _, err := c.Unsubscribe(ctx, name, webhook.BatchCompleted); !client.IsNotFound(err) {
		t.Fatalf("unsubscribing again: %v", err)
	}
}

func checkIntegrationFigures(t *testing.T, c *client.Client, name string) {
	t.Helper()
	ctx := context.Background()
	health, err := c.IntegrationHealth(ctx)
	if err != nil || health.Integrations[name].Status != "healthy" || health.Integrations[name].IntegrationType != client.WebhookType {
		t.Fatalf("health: %+v %v", health, err)
	}
	m, err := c.IntegrationMetrics(ctx)
	if err != nil || m.Integrations[name].Sent != 1 || m.Integrations[name].Subscriptions != 1 {
		t.Fatalf("metrics: %+v %v", m, err)
	}
	a, err := c.IntegrationAnalytics(ctx, name, 1)
	if err != nil || a.SuccessfulDeliveries != 1 {
		t.Fatalf("analytics: %+v %v", a, err)
	}
}

func TestClientEventTypesAndBatches(t *testing.T) {
	ctx, c := context.Background(), newClient(t)
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	types, err := c.ListEventTypes(ctx)
	if err != nil || len(types) < 8 || types[0].SchemaURL == "" {
		t.Fatalf("event types: %+v %v", types, err)
	}
	et, err := c.GetEventType(ctx, webhook.BatchCompleted)
	if err != nil || et.Name != webhook.BatchCompleted || len(et.Fields) == 0 || len(et.Example) == 0 {
		t.Fatalf("event type: %+v %v", et, err)
	}
	schema, err := c.EventTypeSchema(ctx, webhook.BatchCompleted)
	if err != nil || !json.Valid(schema) || !strings.Contains(string(schema), `"total_documents"`) {
		t.Fatalf("schema: %s %v", schema, err)
	}
	r := newReceiver(t, 200)
	w := clientWebhook(t, c, client.WebhookInput{Name: uniqueID("e2e client batch"), URL: r.srv.URL, EventTypes: []string{webhook.BatchCompleted}})
	evs := []client.EventInput{
		{EventID: uniqueID("evt-b1"), EventType: webhook.BatchCompleted, Payload: json.RawMessage(`{"batch_id":"b1","total_documents":2}`)},
		{EventID: uniqueID("evt-b2"), EventType: webhook.BatchCompleted, Payload: map[string]any{"batch_id": "b2"}},
	}
	acc, err := c.PublishEvents(ctx, evs)
	if err != nil || acc.Accepted != 2 || len(acc.Events) != 2 {
		t.Fatalf("batch: %+v %v", acc, err)
	}
	// Their workflows start a moment later, from the batch's own.
	eventually(t, "both events delivered", func() bool { return len(r.arrivals()) == 2 })
	if ids := r.verified(t, w.Secret); len(ids) != 2 || !slices.Contains(ids, evs[0].EventID) || !slices.Contains(ids, evs[1].EventID) {
		t.Fatalf("receiver got %v", ids)
	}
	if again, err := c.PublishEvents(ctx, evs); err != nil || again.Duplicates != 2 {
		t.Fatalf("batch again: %+v %v", again, err)
	}
	checkRefusals(t, c)
}

// checkRefusals: the API's errors arrive typed, with their field details.
func checkRefusals(t *testing.T, c *client.Client) {
	t.Helper()
	ctx := context.Background()
	_, err := c.CreateWebhook(ctx, client.WebhookInput{Name: "e2e refused", URL: "ftp://x", EventTypes: []string{"no.such"}})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusUnprocessableEntity || e.Code != webhook.EValidation {
		t.Fatalf("invalid webhook: %v", err)
	}
	fields := map[string]bool{}
	for _, f := range e.Fields() {
		fields[f.Field] = true
	}
	if !fields["url"] || !fields["event_types"] {
		t.Fatalf("fields %+v", e.Fields())
	}
	_, err = c.PublishEvents(ctx, []client.EventInput{{EventType: webhook.ComplianceAlert, Payload: map[string]any{"alert_level": "bad"}}})
	if !errors.As(err, &e) || e.Code != webhook.EValidation || !strings.HasPrefix(e.Fields()[0].Field, "events[0].") {
		t.Fatalf("invalid batch: %v", err)
	}
	if _, err := c.GetEvent(ctx, "no-such-event"); !client.IsNotFound(err) {
		t.Fatalf("unknown event: %v", err)
	}
	bad := newClientWithKey(t, "hrld_wrong")
	if _, err := bad.ListWebhooks(ctx, client.WebhookListOptions{}); client.CodeOf(err) != webhook.EUnauthorized {
		t.Fatalf("a wrong key: %v", err)
	}
}
