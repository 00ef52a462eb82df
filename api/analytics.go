package api

import (
	"context"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

// analyticsStore is what the analytics handlers read.
type analyticsStore interface {
	Gauges(ctx context.Context) (store.Gauges, error)
	GetWebhook(ctx context.Context, id int64) (*webhook.Webhook, error)
	PeriodStats(ctx context.Context, f store.StatsFilter) (store.Stats, error)
	PeriodStatsEach(ctx context.Context, f store.StatsFilter, webhookIDs []int64) (map[int64]store.Stats, error)
	Stats(ctx context.Context, f store.StatsFilter) (store.Stats, error)
	StatsWithMedian(ctx context.Context, f store.StatsFilter) (store.Stats, *float64, error)
	StatsByEventType(ctx context.Context, f store.StatsFilter) (map[string]store.Stats, error)
	WaitingAt(ctx context.Context, eventType string, ends []time.Time) ([]int64, error)
	WebhooksWithFigures(ctx context.Context, f store.StatsFilter) ([]int64, error)
}

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
	typ, err := s.typeFilter(c)
	if err != nil {
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
	out := fiber.Map{"period_days": days, "event_type": typ, "overall": overall, "by_event_type": byType, "by_webhook": byWebhook}
	if err := s.addSeries(c, out, typ, now); err != nil {
		return err
	}
	return c.JSON(out)
}

// maxSeriesPoints bounds a series: each point costs a few queries of the
// attempt rows (their created_at index).
const maxSeriesPoints = 120

// seriesPoint is the figures of one interval of a series.
type seriesPoint struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	store.Stats
	// P50ResponseTimeMS is the interval's median response time; null when
	// no attempt of it was timed.
	P50ResponseTimeMS *float64 `json:"p50_response_time_ms"`
	// WaitingDeliveries is what waited at the interval's end (store.WaitingAt):
	// for the interval under way, what waits now.
	WaitingDeliveries int64 `json:"waiting_deliveries"`
}

// waiting is what stands undelivered now, as the gauges read it; the
// series' waiting_deliveries are its history.
type waiting struct {
	Deliveries     int64     `json:"deliveries"`
	Events         int64     `json:"events"`
	WebhooksPaused int64     `json:"webhooks_paused"`
	At             time.Time `json:"at"`
}

// addSeries answers ?series=N&interval_minutes=M: the figures of the N
// intervals of M minutes ending with the current one (partly gone by),
// oldest first, from the attempt rows, each with what waited at its end;
// and what waits now. It is how the dashboard draws its charts, so they
// come from the one place the analytics do.
func (s *Server) addSeries(c *fiber.Ctx, out fiber.Map, eventType string, now time.Time) error {
	n, err := intQuery(c, "series", 0, 1, maxSeriesPoints)
	if err != nil {
		return err
	}
	mins, err := intQuery(c, "interval_minutes", 1, 1, 1440)
	if err != nil || n == 0 {
		if err == nil && c.Query("interval_minutes") != "" {
			err = webhook.Errorf(webhook.EInvalid, "interval_minutes needs series (how many intervals)")
		}
		return err
	}
	ctx, step := c.UserContext(), time.Duration(mins)*time.Minute
	end := now.UTC().Truncate(step).Add(step)
	points, ends := make([]seriesPoint, n), make([]time.Time, n)
	for i := range points {
		from := end.Add(-time.Duration(n-i) * step)
		st, p50, err := s.store.StatsWithMedian(ctx, store.StatsFilter{EventType: eventType, From: from, To: from.Add(step)})
		if err != nil {
			return err
		}
		points[i], ends[i] = seriesPoint{From: from, To: from.Add(step), Stats: st, P50ResponseTimeMS: p50}, from.Add(step)
	}
	waitingAt, err := s.store.WaitingAt(ctx, eventType, ends)
	if err != nil {
		return err
	}
	for i, w := range waitingAt {
		points[i].WaitingDeliveries = w
	}
	g, err := s.store.Gauges(ctx)
	if err != nil {
		return err
	}
	out["series"], out["interval_minutes"] = points, mins
	out["waiting"] = waiting{Deliveries: g.DeliveriesWaiting, Events: g.EventsWaiting, WebhooksPaused: g.WebhooksPaused, At: now.UTC()}
	return nil
}
