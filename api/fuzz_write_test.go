package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

// These fuzz targets cover the write endpoints fuzz_test.go leaves out, and
// the list endpoints' query strings, in the same in-process fixture. Every
// answer is a JSON object (or nothing, with 204) and no 5xx but Temporal's
// 503 "unavailable". A refused request leaves every row as it was, compared
// whole before and after; an accepted one reads back as it was answered,
// and what it made is removed again, so that each input starts from the
// same rows and a failure reproduces on its own.

// frozen stops the API's clock. authenticate records a key's use once a
// minute by it: with it running, the first input after each minute reaches
// code no other does, which the fuzzer takes for new coverage, then spends
// a minute failing to reproduce while it minimizes.
func frozen(c *api.Config) {
	at := time.Now()
	c.Now = func() time.Time { return at }
}

// everything is a page that holds every row the fixtures make.
var everything = store.Page{Limit: store.MaxLimit}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tables names what rowsOf reads: the tables an endpoint's handlers write
// (reading the others too would only slow every input down).
type tables uint8

const (
	subscribers tables = 1 << iota // webhooks and integrations
	deliveries                     // every subscriber's attempt rows
	events                         // events and the subscribers each was recorded with
	keys                           // API keys
	eventTypes                     // operators' event types
)

// rowsOf is every row of these tables, as JSON. Keys' last use is left
// out: authenticating records it, whatever the request goes on to do.
func (f *fixture) rowsOf(t testing.TB, of tables) string {
	t.Helper()
	ctx := context.Background()
	var rows []any
	for _, which := range []store.WebhookFilter{{Page: everything}, {Integrations: true, Page: everything}} {
		if of&(subscribers|deliveries) == 0 {
			break
		}
		ws, _, err := f.store.ListWebhooks(ctx, which)
		check(t, err)
		if of&subscribers != 0 {
			rows = append(rows, ws)
		}
		for _, w := range ws {
			if of&deliveries != 0 {
				ds, _, err := f.store.ListAttempts(ctx, store.AttemptFilter{WebhookID: w.ID, Page: everything})
				check(t, err)
				rows = append(rows, ds)
			}
		}
	}
	if of&events != 0 {
		evs, _, err := f.store.ListEvents(ctx, store.EventFilter{Page: everything})
		check(t, err)
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.EventID
		}
		subs, err := f.store.EventSubscribers(ctx, ids)
		check(t, err)
		rows = append(rows, evs, subs)
	}
	if of&keys != 0 {
		ks, err := f.store.ListAPIKeys(ctx)
		check(t, err)
		for _, k := range ks {
			k.LastUsedAt = nil
		}
		rows = append(rows, ks)
	}
	if of&eventTypes != 0 {
		types, err := f.store.ListEventTypes(ctx)
		check(t, err)
		rows = append(rows, types)
	}
	b, err := json.Marshal(rows)
	check(t, err)
	return string(b)
}

// answer fails on a 5xx other than Temporal's absence, and on an answer
// that is not a JSON object, or refuses without an error code and message.
// It returns the object (nil for an empty 204).
func answer(t *testing.T, what string, status int, raw string) map[string]any {
	t.Helper()
	if status >= 500 && (status != 503 || !strings.Contains(raw, `"code":"unavailable"`)) {
		t.Fatalf("%s: %d %s", what, status, raw)
	}
	if status == 204 && raw == "" {
		return nil
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(raw), &body); err != nil || body == nil {
		t.Fatalf("%s: %d is not a JSON object: %q", what, status, raw)
	}
	if status >= 400 {
		e, _ := body["error"].(map[string]any)
		if code, _ := e["code"].(string); code == "" || e["message"] == nil || e["message"] == "" {
			t.Fatalf("%s: %d without an error code and message: %s", what, status, raw)
		}
	}
	return body
}

// unchanged fails when a request (what, with its answer) changed rows it
// was not accepted for.
func unchanged(t *testing.T, what, before, after string) {
	t.Helper()
	if after != before {
		t.Fatalf("%s changed rows:\nbefore %s\nafter  %s", what, before, after)
	}
}

// sameJSON fails unless two answers hold the same object.
func sameJSON(t *testing.T, what, want, got string) {
	t.Helper()
	var a, b any
	if json.Unmarshal([]byte(want), &a) != nil || json.Unmarshal([]byte(got), &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("%s reads back otherwise:\nanswered %s\nread     %s", what, want, got)
	}
}

// onTheWire percent-encodes the bytes a request line cannot carry (space,
// controls, '#'), keeping every other byte as the fuzzer wrote it — '%'
// with or without valid hex after it, '&', '=', '+', ';', non-ASCII: what
// a client can send.
func onTheWire(q string) string {
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c == 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// sendQuery is send with a raw query string: it goes out byte for byte,
// where httptest.NewRequest would refuse or re-encode it.
func (f *fixture) sendQuery(t testing.TB, method, path, query, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RequestURI = path + "?" + onTheWire(query)
	// What the document checks: the query as sent, not as parsed.
	req.URL.RawQuery = onTheWire(query)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+f.key)
	return f.serve(t, req)
}

const sysErrPayload = `{"error_code":"E","component":"c","severity":"low"}`

// A batch is accepted whole or not at all. Temporal is unreachable, so no
// batch with a new event can be: only one of repeats (200) is.
func FuzzPublishBatch(f *testing.F) {
	known := `{"event_id":"evt-known","event_type":"system.error","source":"loki","source_id":"s","payload":` + sysErrPayload + `}`
	for _, seed := range []string{
		`{"events":[{"event_type":"system.error","payload":` + sysErrPayload + `}]}`,
		`{"events":[` + known + `]}`, `{"events":[` + known + `,` + known + `]}`,
		`{"events":[` + strings.Replace(known, `"E"`, `"X"`, 1) + `]}`,
		`{"events":[` + known + `,{"event_id":"evt-new","event_type":"compliance.alert","payload":{"alert_level":"high","alert_type":"x","message":"m"}}]}`,
		`{"events":[{"event_id":"a","event_type":"system.error","payload":` + sysErrPayload + `},{"event_id":"a","event_type":"system.error","payload":` + sysErrPayload + `}]}`,
		`{"events":[]}`, `{"events":null}`, `{"events":[null]}`, `{"events":[{}]}`, `{"events":{}}`, `{}`, `[]`, `null`,
		`{"events":[{"event_type":"report.generated","payload":[]}]}`, `{"events":[{"event_id":"herald-x","event_type":"x"}]}`,
		`{"events":[{"event_type":"system.error","payload":` + sysErrPayload + `,"source":"\u0000"}],"extra":1}`,
	} {
		f.Add(seed)
	}
	fx := newFixture(f, unlimited, frozen)
	// A subscriber, so that recording an event writes its snapshot too, and
	// an event already handed off, which a batch may repeat.
	hook := fx.mustCreate(`{"name":"all","url":"https://example.com/h","event_types":["*"]}`)
	fx.mustAttempt(int64(hook["id"].(float64)), "evt-known")
	f.Fuzz(func(t *testing.T, body string) {
		before := fx.rowsOf(t, subscribers|events)
		status, raw := fx.send(t, "POST", "/api/v1/events/batch", body)
		got := answer(t, "batch", status, raw)
		unchanged(t, fmt.Sprintf("batch %q: %d %s", body, status, raw), before, fx.rowsOf(t, subscribers|events))
		switch {
		case status == 202:
			t.Fatalf("a batch accepted with Temporal unreachable: %q: %s", body, raw)
		case status == 200:
			evs, _ := got["events"].([]any)
			if got["accepted"] != 0.0 || len(evs) == 0 || got["duplicates"] != float64(len(evs)) {
				t.Fatalf("200 that is not all repeats: %q: %s", body, raw)
			}
			for _, e := range evs {
				id, _ := e.(map[string]any)["event_id"].(string)
				if code, _ := fx.send(t, "GET", "/api/v1/events/"+url.PathEscape(id), ""); code != 200 {
					t.Fatalf("repeat of %q answered, but the event reads %d", id, code)
				}
			}
		}
	})
}

// integrationBases are one valid integration of each type, the last
// paused, so that an update making it active asks Temporal to release what
// it held (and carries on when it cannot).
var integrationBases = []string{
	`{"name":"target","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/` + slackToken + `"},"config":{"default_channel":"#c"},"event_subscriptions":["compliance.alert"]}`,
	`{"name":"target","integration_type":"teams","credentials":{"webhook_url":"https://example.webhook.office.com/x"},"config":{"theme_color":"FF0000"},"event_subscriptions":["*"]}`,
	`{"name":"target","integration_type":"email","credentials":{"smtp_host":"smtp.example.com","smtp_port":587,"smtp_username":"u","smtp_password":"p","from_address":"a@example.com"},"config":{"default_recipients":["b@example.com"]},"event_subscriptions":["system.error"]}`,
	`{"name":"target","integration_type":"zapier","credentials":{"webhook_url":"https://hooks.zapier.com/hooks/catch/1/abc"},"config":{"batch_events":true,"batch_size":5},"event_subscriptions":["*"]}`,
	`{"name":"target","integration_type":"webhook","credentials":{"webhook_url":"https://example.com/in","secret":"whsec_0123456789abcdef0123456789abcdef"},"event_subscriptions":["*"],"status":"paused"}`,
}

// readIntegration reads an integration back by the name an answer gave it.
func (f *fixture) readIntegration(t *testing.T, created map[string]any) string {
	t.Helper()
	name, _ := created["name"].(string)
	code, raw := f.send(t, "GET", "/api/v1/integrations/"+url.PathEscape(name), "")
	if code != 200 {
		t.Fatalf("integration %q answered as written reads %d: %s", name, code, raw)
	}
	return raw
}

// dropSubscriber deletes what an accepted request made, by id.
func (f *fixture) dropSubscriber(t *testing.T, body map[string]any) {
	t.Helper()
	id, _ := body["id"].(float64)
	check(t, f.store.DeleteWebhook(context.Background(), int64(id)))
}

// An integration created from arbitrary input reads back by its name as
// the create answered it, or nothing is written.
func FuzzCreateIntegration(f *testing.F) {
	for _, seed := range append(slices.Clone(integrationBases),
		`{"name":"x","integration_type":"fax"}`, `{"name":"health","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`,
		`{"name":"a/b","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`,
		`{"name":" ..","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`,
		`{"name":"taken","integration_type":"slack","credentials":{"webhook_url":"https://hooks.slack.com/services/x"}}`,
		`{"name":"s","integration_type":"slack","credentials":{"webhook_url":"http://127.0.0.1:9/x"},"config":{"batch_events":true}}`,
		`{"name":"e","integration_type":"email","credentials":{"smtp_host":"h","smtp_port":70000,"from_address":"a@b.co"},"config":{"default_recipients":["a@b.co\r\nBcc: x@y.z"]}}`,
		`{"name":"z","integration_type":"zapier","credentials":{"webhook_url":"https://hooks.zapier.com/x"},"config":{"batch_size":501},"filter":{"x":1}}`,
		`{"name":"w","integration_type":"webhook","credentials":{"webhook_url":"https://example.com/x","secret":"short"},"retry_overrides":{"system.error":{"max_retries":99}}}`,
		`{"name":"e","integration_type":"email","credentials":null,"config":[]}`, `{"integration_type":null}`, `[]`, `{"name":"x"} 1`,
	) {
		f.Add(seed)
	}
	fx := newFixture(f, unlimited, frozen)
	fx.mustCreate(`{"name":"taken","url":"https://example.com/h","event_types":["*"]}`)
	f.Fuzz(func(t *testing.T, body string) {
		before := fx.rowsOf(t, subscribers)
		status, raw := fx.send(t, "POST", "/api/v1/integrations", body)
		got := answer(t, "create", status, raw)
		if status != 201 {
			unchanged(t, fmt.Sprintf("create %q: %d %s", body, status, raw), before, fx.rowsOf(t, subscribers))
			return
		}
		read := fx.readIntegration(t, got)
		// The create answer alone carries the whole secret; a read masks it.
		delete(got, "secret")
		var back map[string]any
		check(t, json.Unmarshal([]byte(read), &back))
		delete(back, "secret")
		want, _ := json.Marshal(got)
		have, _ := json.Marshal(back)
		sameJSON(t, "created integration", string(want), string(have))
		fx.dropSubscriber(t, got)
	})
}

// An update (PUT and PATCH are one) of any integration type with arbitrary
// input changes it whole or not at all; kind picks the type and the method.
func FuzzUpdateIntegration(f *testing.F) {
	for i, seed := range []string{
		`{"description":"d"}`, `{"status":"active"}`, `{"status":"paused","status_reason":"x"}`, `{"name":"renamed"}`,
		`{"name":"taken"}`, `{"name":"health"}`, `{"integration_type":"teams"}`, `{"credentials":{"webhook_url":"http://example.com/x"}}`,
		`{"credentials":{"smtp_password":"****"}}`, `{"config":{"batch_size":0}}`, `{"event_subscriptions":["nope"]}`,
		`{"event_subscriptions":[]}`, `{"credentials":{"secret":""}}`, `{"filter":{"payload.a":{"$eq":1}}}`, `null`, `{"id":5,"secret":"x"}`,
	} {
		f.Add(int64(i), seed)
	}
	fx := newFixture(f, unlimited, frozen)
	fx.mustCreate(`{"name":"taken","url":"https://example.com/h","event_types":["*"]}`)
	f.Fuzz(func(t *testing.T, kind int64, body string) {
		pick := int(uint64(kind) % uint64(2*len(integrationBases)))
		method := [2]string{"PUT", "PATCH"}[pick%2]
		code, raw := fx.send(t, "POST", "/api/v1/integrations", integrationBases[pick/2])
		if code != 201 {
			t.Fatalf("create the integration to update: %d %s", code, raw)
		}
		var target map[string]any
		check(t, json.Unmarshal([]byte(raw), &target))
		defer fx.dropSubscriber(t, target)
		before := fx.rowsOf(t, subscribers)
		status, raw := fx.send(t, method, "/api/v1/integrations/target", body)
		got := answer(t, method, status, raw)
		if status != 200 {
			unchanged(t, fmt.Sprintf("%s %q: %d %s", method, body, status, raw), before, fx.rowsOf(t, subscribers))
			return
		}
		sameJSON(t, "updated integration", raw, fx.readIntegration(t, got))
	})
}

// Subscribing and unsubscribing, with any integration name and event type
// in the path, change an integration's subscriptions by that one type or
// not at all.
func FuzzSubscribe(f *testing.F) {
	for _, seed := range [][2]string{
		{"Slack Alerts", "system.error"}, {"Slack Alerts", "compliance.alert"}, {"Slack Alerts", "*"},
		{"Slack Alerts", "billing.invoice_paid"}, {"Slack Alerts", "nope"}, {"Slack Alerts", ""}, {"Slack Alerts", "a/b"},
		{"Slack Alerts", ".."}, {"Slack Alerts", "%00"}, {"plain-hook", "system.error"}, {"nope", "system.error"},
		{"", "system.error"}, {"..", "*"}, {"Slack Alerts/subscribe", "x"},
	} {
		f.Add(seed[0], seed[1])
	}
	fx := newFixture(f, unlimited, frozen)
	slack := fx.mustIntegration(validSlack)
	fx.mustCreate(`{"name":"plain-hook","url":"https://example.org/x","event_types":["*"]}`)
	if r := fx.do("PUT", "/api/v1/event-types/billing.invoice_paid", `{"description":"paid","schema":{"type":"object"}}`); r.status != 201 {
		f.Fatalf("define a custom type: %d %s", r.status, r.raw)
	}
	id := int64(slack["id"].(float64))
	f.Fuzz(func(t *testing.T, name, eventType string) {
		path := "/api/v1/integrations/" + url.PathEscape(name) + "/subscribe/" + url.PathEscape(eventType)
		rows, changed := fx.rowsOf(t, subscribers), false
		for _, method := range []string{"POST", "DELETE"} {
			status, raw := fx.send(t, method, path, "")
			got := answer(t, method+" "+path, status, raw)
			after := fx.rowsOf(t, subscribers)
			if status != 200 {
				unchanged(t, fmt.Sprintf("%s %s: %d %s", method, path, status, raw), rows, after)
				continue
			}
			rows, changed = after, true
			_, read := fx.send(t, "GET", "/api/v1/integrations/"+url.PathEscape(name)+"/subscriptions", "")
			sameJSON(t, "subscriptions", raw, read)
			subs, _ := got["event_subscriptions"].([]any)
			has, all := slices.Contains(subs, any(eventType)), slices.Contains(subs, any("*"))
			if method == "POST" && !has && !all || method == "DELETE" && has {
				t.Fatalf("%s %s answered 200 but the subscriptions are %v", method, path, subs)
			}
		}
		if changed {
			// Back to the subscriptions it started with.
			_, err := fx.store.UpdateWebhook(context.Background(), id, func(w *webhook.Webhook) error {
				w.EventTypes = []string{"compliance.alert", "validation.failed"}
				return nil
			})
			check(t, err)
		}
	})
}

// An API key is created whole (its secret works, its row says what the
// answer said) or not at all.
func FuzzCreateAPIKey(f *testing.F) {
	for _, seed := range []string{
		`{"name":"ci","scopes":["read"]}`, `{"name":"src","scopes":["events"],"expires_in_hours":1}`,
		`{"name":"ops","scopes":["admin","write","read","events"],"expires_at":"2999-01-01T00:00:00+05:30"}`,
		`{"name":"x","scopes":["read"],"expires_at":"2000-01-01T00:00:00Z"}`, `{"name":"x","scopes":["root"]}`,
		`{"name":"x","scopes":[]}`, `{"name":" ","scopes":["read"]}`, `{"name":"a\u0000b","scopes":["read"]}`,
		`{"name":"x","scopes":["read"],"expires_in_hours":87601}`, `{"name":"x","scopes":["read"],"expires_in_hours":-9223372036854775808}`,
		`{"name":"x","scopes":["read","read"]}`, `{"name":"x","scopes":["read,admin"]}`, `{"name":"x","scopes":[""]}`,
		`{"name":"x","scopes":["read"],"expires_at":"2999-01-01T00:00:00.123456789Z"}`, `{"name":"x","scopes":"read"}`, `{}`, `null`,
	} {
		f.Add(seed)
	}
	fx := newFixture(f, unlimited, frozen)
	f.Fuzz(func(t *testing.T, body string) {
		before := fx.rowsOf(t, keys)
		status, raw := fx.send(t, "POST", "/api/v1/api-keys", body)
		got := answer(t, "create key", status, raw)
		if status != 201 {
			unchanged(t, fmt.Sprintf("create key %q: %d %s", body, status, raw), before, fx.rowsOf(t, keys))
			return
		}
		secret, _ := got["key"].(string)
		keyID, ok := apikey.ParseID(secret)
		if !ok {
			t.Fatalf("created key %q is not a key: %s", secret, raw)
		}
		k, err := fx.store.APIKey(context.Background(), keyID)
		check(t, err)
		if !k.Matches(secret) || k.Usable(k.CreatedAt) != "" {
			t.Fatalf("the key answered does not work: %s", raw)
		}
		var answered apikey.Key
		check(t, json.Unmarshal([]byte(raw), &answered))
		if answered.ExpiresAt != nil {
			// The answer echoes expires_at as sent; the row keeps the same
			// instant in UTC, to the microsecond.
			at := answered.ExpiresAt.UTC().Truncate(time.Microsecond)
			answered.ExpiresAt = &at
		}
		want, _ := json.Marshal(answered)
		stored, _ := json.Marshal(k)
		sameJSON(t, "created key", string(want), string(stored))
		// Keys cannot be deleted, only revoked: this one no longer counts.
		check(t, fx.store.RevokeAPIKey(context.Background(), k.ID))
	})
}

// Revoking with any id in the path revokes that key alone, or nothing.
func FuzzRevokeAPIKey(f *testing.F) {
	for _, seed := range []string{"1", "2", "3", "99", "0", "-1", "+2", "02", "0x2", "2.0", "1e3", " 2", "9223372036854775807",
		"9223372036854775808", "", "../webhooks/1", "..", "２", "%32", "1//////", "/1", "1/x",
		strings.Repeat("\xe1", 3000)} { // a request line past the read buffer
		f.Add(seed)
	}
	fx := newFixture(f, unlimited, frozen)
	mustKey(f, fx.store, "victim", apikey.Read)
	mustKey(f, fx.store, "other victim", apikey.Events)
	f.Fuzz(func(t *testing.T, id string) {
		ctx := context.Background()
		before, err := fx.store.ListAPIKeys(ctx)
		check(t, err)
		rows := fx.rowsOf(t, keys)
		status, raw := fx.send(t, "DELETE", "/api/v1/api-keys/"+url.PathEscape(id), "")
		answer(t, "revoke "+id, status, raw)
		if status != 204 {
			unchanged(t, fmt.Sprintf("revoke %q: %d %s", id, status, raw), rows, fx.rowsOf(t, keys))
			return
		}
		// The path is unescaped before routing, and routing ignores a
		// trailing slash: "1/" (sent as 1%2F) names key 1.
		n, err := strconv.ParseInt(strings.TrimRight(id, "/"), 10, 64)
		if err != nil {
			t.Fatalf("revoked with id %q, which names no key", id)
		}
		after, err := fx.store.ListAPIKeys(ctx)
		check(t, err)
		for i, k := range after {
			switch {
			case k.ID == n && k.RevokedAt == nil:
				t.Fatalf("key %d answered revoked, is not", n)
			case k.ID != n && !reflect.DeepEqual(k.RevokedAt, before[i].RevokedAt):
				t.Fatalf("revoking %q changed key %d", id, k.ID)
			}
		}
		// Revoking the key the fixture sends is allowed; the next input needs one.
		if own, _ := apikey.ParseID(fx.key); slices.ContainsFunc(after, func(k *apikey.Key) bool { return k.ID == n && k.KeyID == own }) {
			fx.key = mustKey(t, fx.store, "test admin", apikey.Admin)
		}
	})
}

// Retrying and cancelling, with any ids in the path, any body and any
// query string, under a webhook's id or an integration's name. Temporal is
// unreachable, so nothing may be retried or cancelled: each is refused
// (409, 404, 400 …) or answered 503, and no row changes; a bulk retry that
// finds nothing to retry is the one 202.
func FuzzRetryCancel(f *testing.F) {
	fx := newFixture(f, unlimited, frozen)
	hook := int64(fx.mustCreate(validWebhook)["id"].(float64))
	held := int64(fx.mustCreate(`{"name":"Held","url":"https://example.org/held","event_types":["*"],"status":"paused"}`)["id"].(float64))
	slack := int64(fx.mustIntegration(validSlack)["id"].(float64))
	for i, sub := range []int64{hook, held, slack} {
		d := fx.mustAttempt(sub, fmt.Sprintf("evt-retry-%d", i))
		f.Add(strconv.FormatInt(sub, 10), strconv.FormatInt(d, 10), "", "")
		f.Add(strconv.FormatInt(sub, 10), strconv.FormatInt(d+1, 10), "max_age_hours=1&limit=1", `{}`)
	}
	for _, seed := range [][4]string{
		{"Slack Alerts", "3", "max_age_hours=2160", ""}, {"Slack Alerts", "1", "limit=0", "{"}, {"Held", "2", "", ""},
		{"0", "-1", "max_age_hours=abc", "null"}, {"9223372036854775808", "1", "limit=1001", ""}, {"1", "1.0", "max_age_hours=0", ""},
		{"1/deliveries/1", "retry", "%zz", ""}, {"..", "..", "&&==", ""}, {"", "", "", ""}, {"health", "1", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, id, deliveryID, query, body string) {
		// No request here may change a row: one comparison for all six
		// (their answers are in the failure) keeps an input cheap.
		rows, seen := fx.rowsOf(t, subscribers|deliveries|events), ""
		for _, base := range []string{"/api/v1/webhooks/" + url.PathEscape(id), "/api/v1/integrations/" + url.PathEscape(id)} {
			one := base + "/deliveries/" + url.PathEscape(deliveryID)
			for _, op := range []string{one + "/retry", one + "/cancel", base + "/retry"} {
				var status int
				var raw string
				if op == base+"/retry" {
					status, raw = fx.sendQuery(t, "POST", op, query, body)
				} else {
					status, raw = fx.send(t, "POST", op, body)
				}
				got := answer(t, op, status, raw)
				if status == 202 && (op != base+"/retry" || got["retried"] != 0.0) {
					t.Fatalf("POST %s?%s: 202 with Temporal unreachable: %s", op, query, raw)
				}
				seen += fmt.Sprintf("\nPOST %s: %d %s", op, status, raw)
			}
		}
		unchanged(t, fmt.Sprintf("retry/cancel %q %q %q %q:%s\n", id, deliveryID, query, body, seen), rows, fx.rowsOf(t, subscribers|deliveries|events))
	})
}

// Defining an event type with any name and body is refused with nothing
// written, or reads back as answered (its schema served) and is removed
// again by a delete, leaving the rows as they were.
func FuzzPutEventType(f *testing.F) {
	obj := `{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"}}}`
	for _, seed := range [][2]string{
		{"billing.invoice_paid", `{"description":"An invoice is paid","schema":` + obj + `,"example":{"order_id":"o1"}}`},
		{"system.error", `{"description":"more","schema":{"required":["host"],"properties":{"host":{"type":"string"}}},"example":{"error_code":"E","component":"c","severity":"low","host":"h"}}`},
		{"system.error", `{"schema":{"required":["host"]}}`}, {"compliance.alert", `{"schema":{"type":"array"}}`},
		{"billing.x", `{"description":"d","schema":` + obj + `,"example":{"order_id":1}}`},
		{"herald.x", `{"description":"d","schema":{"type":"object"}}`}, {"Billing.Paid", `{"description":"d","schema":{"type":"object"}}`},
		{"billing", `{"description":"d","schema":{"type":"object"}}`}, {"billing.x", `{"description":"","schema":{"type":"object"}}`},
		{"billing.x", `{"description":"d","schema":{"type":"object","$ref":"https://example.com/s.json"}}`},
		{"billing.x", `{"description":"d","schema":{"type":"object","$id":"urn:x"}}`},
		{"billing.x", `{"description":"d","schema":{"type":"object","$schema":"http://json-schema.org/draft-04/schema#"}}`},
		{"billing.x", `{"description":"d","schema":{"type":"object","properties":{"a":{"type":"string","pattern":"("}}}}`},
		{"billing.x", `{"description":"d","schema":{"type":"object","$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}}`},
		{"billing.x", `{"description":"d","schema":{"type":"object","$dynamicRef":"#meta"}}`}, {"billing.x", `{"description":"d","schema":true}`},
		{"billing.x", `{"description":"d","schema":{"type":"object"},"example":[]}`}, {"billing.x", `null`}, {"billing.x", `{"schema":"{}"}`},
		{"../event-types/system.error", `{"schema":{}}`}, {"", `{}`}, {"billing.x", `{"description":"a\u0000b","schema":{"type":"object"}}`},
	} {
		f.Add(seed[0], seed[1])
	}
	fx := newFixture(f, unlimited, frozen)
	f.Fuzz(func(t *testing.T, name, body string) {
		path := "/api/v1/event-types/" + url.PathEscape(name)
		before := fx.rowsOf(t, eventTypes)
		status, raw := fx.send(t, "PUT", path, body)
		answer(t, "PUT "+path, status, raw)
		if status != 200 && status != 201 {
			unchanged(t, fmt.Sprintf("PUT %s %q: %d %s", path, body, status, raw), before, fx.rowsOf(t, eventTypes))
			return
		}
		code, read := fx.send(t, "GET", path, "")
		if code != 200 {
			t.Fatalf("defined %q reads %d: %s", name, code, read)
		}
		sameJSON(t, "event type "+name, raw, read)
		if code, schema := fx.send(t, "GET", path+"/schema", ""); code != 200 || !json.Valid([]byte(schema)) {
			t.Fatalf("schema of %q: %d %s", name, code, schema)
		}
		if code, raw := fx.send(t, "DELETE", path, ""); code != 204 {
			t.Fatalf("delete %q: %d %s", name, code, raw)
		}
		unchanged(t, "PUT "+path+" "+body+" and its DELETE", before, fx.rowsOf(t, eventTypes))
	})
}

// Any query string on the list and figures endpoints is answered 200 with
// the list, or refused 400, in JSON: a query string cannot make the
// resource missing or the server fail.
func FuzzListQuery(f *testing.F) {
	for _, seed := range []string{"", "limit=1&offset=0", "limit=0", "limit=1001", "limit=-1", "limit=+1", "limit=1e2", "limit=%201",
		"offset=9223372036854775807", "offset=99999999999999999999", "limit=1&limit=2", "limit", "=&&=", "%", "%zz=1", "a=%00",
		"status=failed&event_id=evt-q-1", "status=bogus", "status=paused", "event_id=..%2F", "event_id=" + strings.Repeat("a", 200),
		"event_type=system.error", "event_type=billing.invoice_paid", "event_type=%ff", "event_type=*",
		"period_days=366&series=120&interval_minutes=1440", "period_days=0", "series=1&interval_minutes=0", "interval_minutes=5",
		"series=121", "integration_type=slack", "integration_type=fax", "integration_type=",
	} {
		f.Add(seed)
	}
	fx := newFixture(f, unlimited, frozen)
	hook := fx.mustCreate(validWebhook)["id"].(float64)
	slack := fx.mustIntegration(validSlack)["id"].(float64)
	fx.mustAttempt(int64(hook), "evt-q-1")
	fx.mustAttempt(int64(slack), "evt-q-2")
	if r := fx.do("PUT", "/api/v1/event-types/billing.invoice_paid", `{"description":"paid","schema":{"type":"object"}}`); r.status != 201 {
		f.Fatalf("define a custom type: %d %s", r.status, r.raw)
	}
	hookPath, slackPath := fmt.Sprintf("/api/v1/webhooks/%v", hook), "/api/v1/integrations/Slack%20Alerts"
	endpoints := [][2]string{ // path, a member every 200 has
		{"/api/v1/events", "events"}, {"/api/v1/webhooks", "webhooks"}, {"/api/v1/integrations", "integrations"},
		{hookPath + "/deliveries", "deliveries"}, {slackPath + "/deliveries", "deliveries"},
		{"/api/v1/analytics", "by_webhook"}, {hookPath + "/analytics", "period_days"}, {slackPath + "/analytics", "period_days"},
		{"/api/v1/api-keys", "api_keys"}, {"/api/v1/event-types", "event_types"},
	}
	f.Fuzz(func(t *testing.T, query string) {
		for _, e := range endpoints {
			status, raw := fx.sendQuery(t, "GET", e[0], query, "")
			got := answer(t, e[0]+"?"+query, status, raw)
			switch {
			case status == 200 && e[1] != "" && got[e[1]] == nil:
				t.Fatalf("GET %s?%s: 200 without %s: %s", e[0], query, e[1], raw)
			case status != 200 && status != 400:
				t.Fatalf("GET %s?%s: %d %s", e[0], query, status, raw)
			}
		}
	})
}

// loopHooks gives a fixture a webhook and a webhook-type integration that
// both point at a receiver on loopback, so a test delivery never leaves
// the machine, and returns their id and name and the receiver's URL.
func loopHooks(f *testing.F, fx *fixture) (id, name, rcvURL string) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	f.Cleanup(rcv.Close)
	hook := fx.mustCreate(`{"name":"Loop","url":"` + rcv.URL + `/in","event_types":["compliance.alert"],"rate_limit_per_minute":1000}`)
	fx.mustIntegration(`{"name":"Loop In","integration_type":"webhook","credentials":{"webhook_url":"` + rcv.URL +
		`/int","secret":"whsec_0123456789abcdef0123456789abcdef"},"event_subscriptions":["*"]}`)
	return strconv.FormatInt(int64(hook["id"].(float64)), 10), "Loop In", rcv.URL
}

// Testing a webhook or an integration, with any id or name and any body:
// a real attempt to the loopback receiver, or a 4xx with nothing written.
func FuzzTestSend(f *testing.F) {
	fx := newFixture(f, unlimited, frozen)
	id, name, _ := loopHooks(f, fx)
	for _, seed := range [][2]string{
		{id, ""}, {id, `{"event_type":"compliance.alert"}`}, {id, `{"event_type":"no.such"}`}, {id, `{"event_type":7}`},
		{name, ""}, {name, `{"event_type":"validation.failed"}`}, {name, `{`}, {"0", ""}, {"-1", "null"},
		{"9223372036854775808", ""}, {"..", ""}, {"", ""}, {id + "/x", `{"event_type":""}`}, {"Loop%20In", "[]"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, target, body string) {
		for _, base := range []string{"/api/v1/webhooks/", "/api/v1/integrations/"} {
			rows := fx.rowsOf(t, subscribers|events)
			path := base + url.PathEscape(target) + "/test"
			status, raw := fx.send(t, "POST", path, body)
			answer(t, "POST "+path, status, raw)
			if status >= 400 {
				unchanged(t, fmt.Sprintf("POST %s %q: %d %s", path, body, status, raw), rows, fx.rowsOf(t, subscribers|events))
			}
		}
	})
}

// Rotating a secret, with any id or name and any body: a new secret for
// that one subscriber, or a 4xx with nothing written.
func FuzzRotateSecret(f *testing.F) {
	fx := newFixture(f, unlimited, frozen)
	id, name, _ := loopHooks(f, fx)
	for _, seed := range [][2]string{
		{id, ""}, {id, `{}`}, {id, `{"grace_seconds":3600}`}, {id, `{"grace_seconds":-1}`}, {name, ""}, {name, `{"x":1}`},
		{"0", ""}, {"9223372036854775808", ""}, {"..", "{"}, {"", ""}, {"Loop In/", "null"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, target, body string) {
		for _, base := range []string{"/api/v1/webhooks/", "/api/v1/integrations/"} {
			rows := fx.rowsOf(t, subscribers)
			path := base + url.PathEscape(target) + "/rotate-secret"
			status, raw := fx.send(t, "POST", path, body)
			answer(t, "POST "+path, status, raw)
			if status >= 400 {
				unchanged(t, fmt.Sprintf("POST %s %q: %d %s", path, body, status, raw), rows, fx.rowsOf(t, subscribers))
			}
		}
	})
}

// Signing in and out with any body, CSRF header and Origin: a session for
// a key that reads, or a 4xx; signing out always answers.
func FuzzSession(f *testing.F) {
	fx := newFixture(f, unlimited, frozen)
	reader := mustKey(f, fx.store, "reader", apikey.Read)
	events := mustKey(f, fx.store, "publisher", apikey.Events)
	for _, seed := range [][3]string{
		{`{"api_key":"` + reader + `"}`, "1", ""}, {`{"api_key":"` + events + `"}`, "1", ""},
		{`{"api_key":"` + reader + `"}`, "", ""}, {`{"api_key":"` + reader + `"}`, "1", "https://evil.example"},
		{`{"api_key":"hk_nope"}`, "1", ""}, {`{"sign_in_code":"abc"}`, "1", ""}, {`{"api_key":null}`, "1", "http://herald"},
		{`{}`, "1", "::"}, {`{`, "x", ""}, {``, "1", ""}, {`{"api_key":"` + reader + `","sign_in_code":"1"}`, "1", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, body, csrf, origin string) {
		for _, method := range []string{"POST", "DELETE"} {
			req := httptest.NewRequest(method, "/api/v1/session", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if csrf != "" && !strings.ContainsAny(csrf, "\r\n") {
				req.Header.Set(api.CSRFHeader, csrf)
			}
			if origin != "" && !strings.ContainsAny(origin, "\r\n") {
				req.Header.Set("Origin", origin)
			}
			status, raw := fx.serve(t, req)
			answer(t, fmt.Sprintf("%s /session %q", method, body), status, raw)
		}
	})
}

// Deleting a webhook or an integration, with any id or name and any body:
// that one subscriber is gone, or a 4xx (or Temporal's 503) with nothing
// changed. What was deleted is made again, so every input meets the same
// subscribers.
func FuzzDeleteSubscriber(f *testing.F) {
	fx := newFixture(f, unlimited, frozen)
	id, name, rcv := loopHooks(f, fx)
	fx.mustCreate(`{"name":"Bystander","url":"http://127.0.0.1:1/b","event_types":["*"]}`)
	for _, seed := range [][2]string{
		{id, ""}, {id, "{}"}, {name, ""}, {"Bystander", ""}, {"0", ""}, {"-1", ""}, {"9223372036854775808", ""},
		{"..", ""}, {"", ""}, {id + "/", ""}, {"Loop%20In", "null"}, {"health", ""}, {"loop in", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, target, body string) {
		for _, base := range []string{"/api/v1/webhooks/", "/api/v1/integrations/"} {
			rows, before := fx.rowsOf(t, subscribers), fx.present(t)
			path := base + url.PathEscape(target)
			status, raw := fx.send(t, "DELETE", path, body)
			answer(t, "DELETE "+path, status, raw)
			if status != 204 {
				unchanged(t, fmt.Sprintf("DELETE %s %q: %d %s", path, body, status, raw), rows, fx.rowsOf(t, subscribers))
				continue
			}
			if after := fx.present(t); len(after) != len(before)-1 {
				t.Fatalf("DELETE %s answered 204: subscribers %v before, %v after", path, before, after)
			}
			fx.remake(t, rcv)
		}
	})
}

// deletable are the delete target's subscribers, by name.
var deletable = []string{"Loop", "Loop In", "Bystander"}

// present are those of deletable that exist.
func (f *fixture) present(t *testing.T) map[string]bool {
	have := map[string]bool{}
	for _, name := range deletable {
		_, err := f.store.GetWebhookByName(context.Background(), name)
		if webhook.ErrorCode(err) != webhook.ENotFound {
			check(t, err)
			have[name] = true
		}
	}
	return have
}

// remake makes again whichever of the delete target's subscribers is
// gone, the loopback ones pointing at rcv.
func (f *fixture) remake(t *testing.T, rcv string) {
	have := f.present(t)
	f.t = t // mustCreate fails the input, not the fuzz target
	switch {
	case !have["Loop"]:
		f.mustCreate(`{"name":"Loop","url":"` + rcv + `/in","event_types":["compliance.alert"],"rate_limit_per_minute":1000}`)
	case !have["Loop In"]:
		f.mustIntegration(`{"name":"Loop In","integration_type":"webhook","credentials":{"webhook_url":"` + rcv +
			`/int","secret":"whsec_0123456789abcdef0123456789abcdef"},"event_subscriptions":["*"]}`)
	case !have["Bystander"]:
		f.mustCreate(`{"name":"Bystander","url":"http://127.0.0.1:1/b","event_types":["*"]}`)
	}
}
