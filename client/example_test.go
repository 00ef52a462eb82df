package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/loki-interceptor/herald/client"
	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/webhook"
)

// The LOKI guide's Example 1 in Go (docs/clients.md shows it): compiled here so
// the docs cannot drift from the package; it has no Output, so it is not
// run (it needs a Herald).
func Example() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("HERALD_URL"), os.Getenv("HERALD_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	hook, err := c.CreateWebhook(ctx, client.WebhookInput{
		Name:       "Production Alerts",
		URL:        "https://api.example.com/webhooks/loki",
		EventTypes: []string{webhook.ComplianceAlert, webhook.SystemError},
		DeliverySettings: client.DeliverySettings{
			MaxRetries:    client.Ptr(5),
			RetryStrategy: webhook.ExponentialBackoff,
		},
	})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		for _, f := range apiErr.Fields() { // validation_failed: each field
			log.Printf("%s: %s", f.Field, f.Message)
		}
		log.Fatal(apiErr.Message)
	} else if err != nil {
		log.Fatal(err) // Herald could not be reached
	}
	fmt.Println("secret for the receiver:", hook.Secret) // shown this once

	result, err := c.TestWebhook(ctx, hook.ID, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Test result: %d\n", result.StatusCode)

	accepted, err := c.PublishEvent(ctx, client.EventInput{
		EventType: webhook.ComplianceAlert,
		SourceID:  "doc_12345",
		Payload: eventtypes.ComplianceAlertEvent{
			AlertLevel: "critical", AlertType: "gdpr_violation",
			Message:            "Personal data found in document",
			AffectedDocuments:  []string{"doc_12345"},
			RecommendedActions: []string{"Redact personal data", "Review GDPR compliance"},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted", accepted.EventID)
}

// The LOKI guide's Example 2: a Slack integration, tested, an event routed to
// it, and the integrations' health.
func Example_integrations() {
	ctx := context.Background()
	c, err := client.New("", os.Getenv("HERALD_API_KEY")) // "": http://127.0.0.1:8080
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.RegisterIntegration(ctx, client.IntegrationInput{
		Name:               "Compliance Alerts",
		IntegrationType:    client.Slack,
		Credentials:        map[string]any{"webhook_url": "https://hooks.slack.com/services/..."},
		EventSubscriptions: []string{webhook.ComplianceAlert, webhook.ValidationFailed, webhook.BatchCompleted},
	})
	if err != nil {
		log.Fatal(err)
	}
	test, err := c.TestIntegration(ctx, "Compliance Alerts", "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Slack connection ok:", test.Success)
	if _, err := c.RouteEvent(ctx, webhook.ComplianceAlert, eventtypes.ComplianceAlertEvent{
		AlertLevel: "high", AlertType: "fca_violation", Message: "Potential FCA rule violation detected",
	}); err != nil {
		log.Fatal(err)
	}
	health, err := c.IntegrationHealth(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Integration Status:", health.Status)
}
