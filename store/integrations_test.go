package store_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

const slackURL = "https://hooks.slack.com/services/T000/B000/tokenXYZsecret"

func mustIntegration(t *testing.T, s *store.Store, name, typ string) *webhook.Webhook {
	t.Helper()
	w := webhook.New()
	w.Name, w.URL, w.Secret, w.EventTypes = name, "https://hooks.slack.com/********", webhook.NewSecret(), []string{"compliance.alert"}
	w.Integration = &webhook.Integration{Type: typ,
		Credentials: json.RawMessage(`{"webhook_url":"` + slackURL + `","smtp_password":"hunter2-pw"}`),
		Config:      json.RawMessage(`{"default_channel":"#compliance"}`)}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestIntegrationCredentialsAreSealed(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustIntegration(t, s, "Slack Alerts", "slack")
		var creds, url, config string
		err := s.DB().QueryRow(s.DB().Rebind(`SELECT credentials, url, config FROM webhooks WHERE id = ?`), w.ID).Scan(&creds, &url, &config)
		if err != nil {
			t.Fatal(err)
		}
		for _, clear := range []string{"tokenXYZsecret", "hunter2-pw", "webhook_url", "hooks.slack.com/services"} {
			if strings.Contains(creds, clear) || strings.Contains(url, clear) {
				t.Fatalf("%q at rest in clear: credentials %q url %q", clear, creds, url)
			}
		}
		if config != `{"default_channel":"#compliance"}` {
			t.Fatalf("config at rest: %s", config)
		}
		got, err := s.GetWebhookByName(ctx, "Slack Alerts")
		if err != nil {
			t.Fatal(err)
		}
		if got.Integration == nil || got.Integration.Type != "slack" || !strings.Contains(string(got.Integration.Credentials), slackURL) {
			t.Fatalf("read back %+v", got.Integration)
		}
	})
}

func TestWebhooksAndIntegrationsListApart(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		plain := mustWebhook(t, s, "plain", "*")
		slack := mustIntegration(t, s, "slack-1", "slack")
		teams := mustIntegration(t, s, "teams-1", "teams")
		for _, c := range []struct {
			f    store.WebhookFilter
			want []int64
		}{
			{store.WebhookFilter{}, []int64{plain.ID}},
			{store.WebhookFilter{Integrations: true}, []int64{teams.ID, slack.ID}},
			{store.WebhookFilter{IntegrationType: "slack"}, []int64{slack.ID}},
			{store.WebhookFilter{IntegrationType: "email"}, nil},
		} {
			ws, total, err := s.ListWebhooks(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, w := range ws {
				ids = append(ids, w.ID)
			}
			if total != len(c.want) || !slices.Equal(ids, c.want) {
				t.Fatalf("%+v: got %v (total %d), want %v", c.f, ids, total, c.want)
			}
		}
		// Names are one namespace: an integration cannot take a webhook's.
		dup := *slack
		dup.Name = "plain"
		wantCode(t, s.CreateWebhook(ctx, &dup), webhook.EConflict)
		// Both subscribe alike.
		subs, err := s.Subscribers(ctx, "compliance.alert")
		if err != nil || len(subs) != 3 {
			t.Fatalf("subscribers %d %v", len(subs), err)
		}
	})
}

func TestSubscriberStats(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		w := mustIntegration(t, s, "stats", "slack")
		idle := mustIntegration(t, s, "idle", "teams")
		e1, e2 := mustEvent(t, s, "s1", "compliance.alert"), mustEvent(t, s, "s2", "compliance.alert")
		a := attempt(w, e1, 1)
		s.StartAttempt(ctx, a)
		finish(t, s, a, webhook.AttemptRetrying, 503)
		b := attempt(w, e1, 2)
		s.StartAttempt(ctx, b)
		finish(t, s, b, webhook.AttemptDelivered, 200)
		c := attempt(w, e2, 1)
		s.StartAttempt(ctx, c)
		finish(t, s, c, webhook.AttemptFailed, 400)
		test := attempt(w, e2, 2)
		test.IsTest = true
		s.StartAttempt(ctx, test)
		finish(t, s, test, webhook.AttemptDelivered, 200)

		stats, err := s.SubscriberStats(ctx, []int64{w.ID, idle.ID})
		if err != nil {
			t.Fatal(err)
		}
		st := stats[w.ID]
		if st.Delivered != 1 || st.Failed != 1 || st.Retried != 1 {
			t.Fatalf("counts %+v", st)
		}
		if st.Last == nil || st.Last.ID != c.ID || st.LastFailure == nil || st.LastFailure.ID != c.ID {
			t.Fatalf("last %+v, last failure %+v", st.Last, st.LastFailure)
		}
		if z := stats[idle.ID]; z.Last != nil || z.Delivered+z.Failed+z.Retried != 0 {
			t.Fatalf("idle stats %+v", z)
		}
		evs, err := s.EventsByID(ctx, []string{"s2", "missing", "s1"})
		if err != nil || len(evs) != 2 || evs[0].EventID != "s2" || evs[1].EventID != "s1" {
			t.Fatalf("EventsByID: %v %v", evs, err)
		}
	})
}
