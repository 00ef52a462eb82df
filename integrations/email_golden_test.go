package integrations_test

import (
	"path/filepath"
	"testing"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/integrations"
)

// goldenEmailConnector is the connector the email golden files were made
// with: a dashboard link, and the defaults for everything else (subject
// prefix, HTML alternative, footer with its timestamp).
func goldenEmailConnector() *integrations.Connector {
	return &integrations.Connector{
		Type: integrations.Email,
		Credentials: integrations.Credentials{
			SMTPHost: "smtp.example.com", SMTPPort: 587,
			FromAddress: "LOKI Alerts <alerts@example.com>",
		},
		Config: integrations.Config{
			DefaultRecipients: []string{"compliance@example.com"},
			DashboardURL:      "https://loki.example.com/dashboard",
		},
	}
}

// TestRenderEmailGolden compares the subject, plain-text body and HTML
// alternative of each catalog event type's email with the committed
// golden files (testdata/golden/email/<event_type>.subject.txt, .txt and
// .html). The subject file ends with a newline the header does not have.
func TestRenderEmailGolden(t *testing.T) {
	c := goldenEmailConnector()
	for _, eventType := range eventtypes.Names() {
		t.Run(eventType, func(t *testing.T) {
			e, err := integrations.RenderEmail(c, catalogEvent(t, eventType))
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", "email")
			for _, part := range []struct {
				ext string
				got string
			}{
				{".subject.txt", e.Subject + "\n"},
				{".txt", e.Text},
				{".html", e.HTML},
			} {
				checkGolden(t, filepath.Join(dir, eventType+part.ext), []byte(part.got))
			}
		})
	}
}
