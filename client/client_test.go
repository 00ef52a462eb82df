package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/webhook"
)

// seen is what the fake API got.
type seen struct {
	method, path, query, auth, contentType string
	body                                   string
}

// fake answers every request with status and body, recording it. The
// client's behaviour against a real Herald is e2e/client_test.go's; this
// pins down the requests it makes and how it reads errors.
func fake(t *testing.T, status int, body string, header ...string) (*client.Client, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		*got = seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(raw)}
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "hrld_key")
	if err != nil {
		t.Fatal(err)
	}
	return c, got
}

type requestCase struct {
	name                      string
	call                      func(c *client.Client) error
	method, path, query, body string
}

// requestCases are calls and the requests they must make.
func requestCases() []requestCase {
	ctx := context.Background()
	return []requestCase{
		{"create webhook sends only what is set", func(c *client.Client) error {
			_, err := c.CreateWebhook(ctx, client.WebhookInput{Name: "n", URL: "https://x.test/h", EventTypes: []string{"*"},
				DeliverySettings: client.DeliverySettings{MaxRetries: client.Ptr(0), JitterPercentage: client.Ptr(0.0)}, CustomHeaders: map[string]string{}})
			return err
		}, "POST", "/api/v1/webhooks", "", `{"name":"n","url":"https://x.test/h","event_types":["*"],"max_retries":0,"jitter_percentage":0,"custom_headers":{}}`},
		{"update webhook", func(c *client.Client) error {
			_, err := c.UpdateWebhook(ctx, 7, client.WebhookInput{Description: client.Ptr(""), DeliverySettings: client.DeliverySettings{Filter: json.RawMessage(`{}`)}})
			return err
		}, "PUT", "/api/v1/webhooks/7", "", `{"description":"","filter":{}}`},
		{"list webhooks", func(c *client.Client) error {
			_, err := c.ListWebhooks(ctx, client.WebhookListOptions{Status: webhook.StatusPaused, Limit: 10})
			return err
		}, "GET", "/api/v1/webhooks", "limit=10&status=paused", ""},
		{"test webhook", func(c *client.Client) error {
			_, err := c.TestWebhook(ctx, 7, "")
			return err
		}, "POST", "/api/v1/webhooks/7/test", "", `{}`},
		{"deliveries", func(c *client.Client) error {
			_, err := c.ListDeliveries(ctx, 7, client.DeliveryListOptions{Status: webhook.AttemptFailed, EventID: "e:1", Offset: 5})
			return err
		}, "GET", "/api/v1/webhooks/7/deliveries", "event_id=e%3A1&offset=5&status=failed", ""},
		{"cancel", func(c *client.Client) error {
			_, err := c.CancelDelivery(ctx, 7, 9)
			return err
		}, "POST", "/api/v1/webhooks/7/deliveries/9/cancel", "", ""},
		{"bulk retry", func(c *client.Client) error {
			_, err := c.RetryFailed(ctx, 7, client.RetryFailedOptions{MaxAgeHours: 48})
			return err
		}, "POST", "/api/v1/webhooks/7/retry", "max_age_hours=48", ""},
		{"event ids are escaped", func(c *client.Client) error {
			_, err := c.EventTimeline(ctx, "order:42/x")
			return err
		}, "GET", "/api/v1/events/order:42%2Fx/timeline", "", ""},
		{"integration names are escaped", func(c *client.Client) error {
			_, err := c.Subscribe(ctx, "Slack Alerts", "compliance.alert")
			return err
		}, "POST", "/api/v1/integrations/Slack%20Alerts/subscribe/compliance.alert", "", ""},
		{"batch", func(c *client.Client) error {
			_, err := c.PublishEvents(ctx, []client.EventInput{{EventType: "system.error", Payload: json.RawMessage(`{"a":1}`)}})
			return err
		}, "POST", "/api/v1/events/batch", "", `{"events":[{"event_type":"system.error","payload":{"a":1}}]}`},
		{"analytics", func(c *client.Client) error {
			_, err := c.Analytics(ctx, client.AnalyticsOptions{PeriodDays: 30, EventType: "system.error"})
			return err
		}, "GET", "/api/v1/analytics", "event_type=system.error&period_days=30", ""},
	}
}

func TestRequests(t *testing.T) {
	for _, tc := range requestCases() {
		t.Run(tc.name, func(t *testing.T) {
			c, got := fake(t, 200, `{}`)
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			want := seen{tc.method, tc.path, tc.query, "Bearer hrld_key", "", tc.body}
			if tc.body != "" {
				want.contentType = "application/json"
			}
			if *got != want {
				t.Fatalf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		body       string
		header     []string
		code       webhook.Code
		message    string
		fields     int
		retryAfter time.Duration
	}{
		{"validation lists fields", 422, `{"error":{"code":"validation_failed","message":"webhook is invalid: url: is required (and 1 more)",
			"details":[{"field":"url","message":"is required"},{"field":"event_types","message":"is required"}]}}`, nil,
			webhook.EValidation, "webhook is invalid: url: is required (and 1 more)", 2, 0},
		{"rate limited waits", 429, `{"error":{"code":"rate_limited","message":"no room","details":{"next_slot_at":"2030-01-01T00:00:00Z"}}}`,
			[]string{"Retry-After", "3"}, webhook.ERateLimited, "no room", 0, 3 * time.Second},
		{"not Herald's body", 502, `<html><body>Bad gateway</body></html>`, nil,
			webhook.EUnavailable, "Bad Gateway: <html><body>Bad gateway</body></html>", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fake(t, tc.status, tc.body, tc.header...)
			_, err := c.GetWebhook(context.Background(), 1)
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v", err, err)
			}
			if e.StatusCode != tc.status || e.Code != tc.code || e.Message != tc.message || len(e.Fields()) != tc.fields ||
				e.RetryAfter != tc.retryAfter || client.CodeOf(err) != tc.code {
				t.Fatalf("got %+v (fields %v)", e, e.Fields())
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestNew(t *testing.T) {
	cases := []struct{ in, base string }{
		{"", "http://127.0.0.1:8080/api/v1"},
		{"http://h:1/", "http://h:1/api/v1"},
		{"https://h/herald/api/v1", "https://h/herald/api/v1"},
	}
	for _, tc := range cases {
		c, err := client.New(tc.in, "")
		if err != nil || c.BaseURL() != tc.base {
			t.Errorf("New(%q): %v %v", tc.in, c, err)
		}
	}
	for _, bad := range []string{"127.0.0.1:8080", "ftp://h", "http://"} {
		if _, err := client.New(bad, ""); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

// A refused connection is an error of its own, with no API code.
func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, _ := client.New(srv.URL, "")
	err := c.Health(context.Background())
	if err == nil || client.CodeOf(err) != "" || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v", err)
	}
}
