package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/webhook"
)

// rotateStore is what secret rotation writes.
type rotateStore interface {
	UpdateWebhook(ctx context.Context, id int64, edit func(*webhook.Webhook) error) (*webhook.Webhook, error)
}

// DefaultSecretOverlap is how long a rotated-out secret keeps signing.
const DefaultSecretOverlap = 24 * time.Hour

// NoSecretOverlap in Config.SecretOverlap retires a rotated-out secret at
// once (a zero Config field means the default).
const NoSecretOverlap time.Duration = -1

// maxOverlapHours bounds a rotation's overlap: a week to roll a receiver.
const maxOverlapHours = 7 * 24

type rotateInput struct {
	// OverlapHours is how long the old secret keeps signing (0: stop now).
	OverlapHours *int `json:"overlap_hours"`
	// Secret is the new secret; generated when left out.
	Secret *string `json:"secret"`
}

type rotated struct {
	ID                      int64      `json:"id"`
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// rotateSecret gives a webhook (or a signed integration) a new secret. Until
// the overlap ends every delivery carries a webhook-signature for each
// secret and X-Webhook-Signature for the new one; the answer is the only
// one that shows the new secret.
func (s *Server) rotateSecret(c *fiber.Ctx) error {
	cur, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	var in rotateInput
	if len(c.Request().Body()) > 0 {
		if err := decode(c, &in); err != nil {
			return err
		}
	}
	overlap, secret, err := in.check(s.cfg.SecretOverlap)
	if err != nil {
		return err
	}
	if t := cur.Integration; t != nil && t.Type != string(integrations.Zapier) && t.Type != string(integrations.Webhook) {
		return webhook.Errorf(webhook.EConflict, "a %s integration is not signed with a secret; only webhooks and zapier or webhook integrations are", t.Type)
	}
	w, err := s.store.UpdateWebhook(c.UserContext(), cur.ID, func(w *webhook.Webhook) error {
		// One previous secret at a time: rotating again inside an overlap
		// would cut short the one receivers were promised.
		if len(w.SigningSecrets(s.cfg.Now())) > 1 && overlap > 0 {
			return webhook.Errorf(webhook.EConflict, "the previous rotation's overlap runs until %s; rotate after it, or with overlap_hours 0 to retire both older secrets now",
				w.PreviousSecretExpiresAt.Format(time.RFC3339))
		}
		w.RotateSecret(secret, overlap, s.cfg.Now())
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(rotated{ID: w.ID, Secret: w.Secret, PreviousSecretExpiresAt: w.PreviousSecretExpiresAt})
}

func (in *rotateInput) check(def time.Duration) (time.Duration, string, error) {
	var fe webhook.FieldErrors
	overlap := def
	if in.OverlapHours != nil {
		if *in.OverlapHours < 0 || *in.OverlapHours > maxOverlapHours {
			fe.Add("overlap_hours", "must be between 0 and %d", maxOverlapHours)
		}
		overlap = time.Duration(*in.OverlapHours) * time.Hour
	}
	secret := webhook.NewSecret()
	if in.Secret != nil {
		secret = *in.Secret
		if msg := webhook.CheckSecret(secret); msg != "" {
			fe.Add("secret", "%s", msg)
		}
	}
	return overlap, secret, fe.Err("rotation")
}
