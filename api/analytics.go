package api

import (
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

const maxPeriodDays = 366

func periodDays(c *fiber.Ctx) (int, error) { return intQuery(c, "period_days", 7, 1, maxPeriodDays) }

type webhookAnalytics struct {
	WebhookID  int64 `json:"webhook_id"`
	PeriodDays int   `json:"period_days"`
	store.Stats
}

// webhookAnalytics answers the LOKI guide's analytics for one webhook over the
// last period_days days (from the attempts, and the daily rollup for days
// beyond their retention).
func (s *Server) webhookAnalytics(c *fiber.Ctx) error {
	w, err := s.webhookFromPath(c)
	if err != nil {
		return err
	}
	days, err := periodDays(c)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	st, err := s.store.PeriodStats(c.UserContext(), store.StatsFilter{WebhookID: w.ID, From: now.AddDate(0, 0, -days), To: now.Add(time.Second)})
	if err != nil {
		return err
	}
	return c.JSON(webhookAnalytics{WebhookID: w.ID, PeriodDays: days, Stats: st})
}

type webhookFigures struct {
	WebhookID int64  `json:"webhook_id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	store.Stats
}

// analytics answers the figures across all webhooks, per event type and per
// webhook; event_type narrows everything to one type.
func (s *Server) analytics(c *fiber.Ctx) error {
	days, err := periodDays(c)
	if err != nil {
		return err
	}
	typ := c.Query("event_type")
	if err := s.checkTypeFilter(c.UserContext(), typ); err != nil {
		return err
	}
	ctx, now := c.UserContext(), s.cfg.Now()
	f := store.StatsFilter{EventType: typ, From: now.AddDate(0, 0, -days), To: now.Add(time.Second)}
	overall, err := s.store.PeriodStats(ctx, f)
	if err != nil {
		return err
	}
	byType, err := s.store.StatsByEventType(ctx, f)
	if err != nil {
		return err
	}
	ids, err := s.store.WebhooksWithFigures(ctx, f)
	if err != nil {
		return err
	}
	each, err := s.store.PeriodStatsEach(ctx, f, ids)
	if err != nil {
		return err
	}
	// Every subscriber with figures, integrations included; one deleted
	// since has figures but no row, and is left out.
	slices.Sort(ids)
	byWebhook := make([]webhookFigures, 0, len(ids))
	for _, id := range ids {
		st := each[id]
		if st.TotalAttempts == 0 && st.FilteredEvents == 0 {
			continue
		}
		w, err := s.store.GetWebhook(ctx, id)
		if webhook.ErrorCode(err) == webhook.ENotFound {
			continue
		}
		if err != nil {
			return err
		}
		byWebhook = append(byWebhook, webhookFigures{WebhookID: w.ID, Name: w.Name, Status: string(w.Status), Stats: st})
	}
	return c.JSON(fiber.Map{"period_days": days, "event_type": typ, "overall": overall, "by_event_type": byType, "by_webhook": byWebhook})
}
