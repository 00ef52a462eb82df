package api

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// healthStore is what integration health reads.
type healthStore interface {
	ListWebhooks(ctx context.Context, f store.WebhookFilter) ([]*webhook.Webhook, int, error)
	SubscriberStats(ctx context.Context, ids []int64) (map[int64]*store.SubscriberStats, error)
}

// Integration health states. An integration is healthy when its latest
// attempt delivered, idle before its first, failing when its latest attempt
// failed; paused and inactive ones say so.
const (
	healthHealthy   = "healthy"
	healthIdle      = "idle"
	healthFailing   = "failing"
	healthDegraded  = "degraded"
	healthUnhealthy = "unhealthy"
)

type integrationHealth struct {
	Status          string     `json:"status"`
	IntegrationType string     `json:"integration_type"`
	LastEvent       *time.Time `json:"last_event"` // when its latest attempt was made
	LastEventID     string     `json:"last_event_id,omitempty"`
	LastEventType   string     `json:"last_event_type,omitempty"`
	Error           string     `json:"error,omitempty"` // why it is failing, paused or inactive
	LastError       string     `json:"last_error,omitempty"`
	LastErrorAt     *time.Time `json:"last_error_at,omitempty"`
}

// allIntegrations reads every integration with its attempt stats.
func (s *Server) allIntegrations(ctx context.Context) ([]*webhook.Webhook, map[int64]*store.SubscriberStats, error) {
	var all []*webhook.Webhook
	for p := (store.Page{Limit: store.MaxLimit}); ; p.Offset += p.Limit {
		ws, total, err := s.store.ListWebhooks(ctx, store.WebhookFilter{Integrations: true, Page: p})
		if err != nil {
			return nil, nil, err
		}
		all = append(all, ws...)
		if len(ws) == 0 || len(all) >= total {
			break
		}
	}
	ids := make([]int64, len(all))
	for i, w := range all {
		ids[i] = w.ID
	}
	stats, err := s.store.SubscriberStats(ctx, ids)
	return all, stats, err
}

// integrationHealth is the LOKI guide's integration_health(): an overall status
// and, per integration, its status, last event and last error.
func (s *Server) integrationHealth(c *fiber.Ctx) error {
	all, stats, err := s.allIntegrations(c.UserContext())
	if err != nil {
		return err
	}
	out, counts := map[string]integrationHealth{}, map[string]int{}
	for _, w := range all {
		h := healthOf(w, stats[w.ID])
		if w.Batched() && w.Status == webhook.StatusActive {
			s.collectorHealth(c.UserContext(), w, &h)
		}
		out[w.Name] = h
		counts[h.Status]++
	}
	overall := healthHealthy
	switch {
	case len(all) > 0 && counts[healthFailing] == len(all):
		overall = healthUnhealthy
	case counts[healthHealthy]+counts[healthIdle] < len(all):
		overall = healthDegraded
	}
	return c.JSON(fiber.Map{"status": overall, "total": len(all), "checked_at": s.cfg.Now().UTC(), "integrations": out})
}

func healthOf(w *webhook.Webhook, st *store.SubscriberStats) integrationHealth {
	h := integrationHealth{Status: healthIdle, IntegrationType: w.Integration.Type}
	if last := st.Last; last != nil {
		h.LastEvent, h.LastEventID, h.LastEventType = &last.CreatedAt, last.EventID, last.EventType
		h.Status = healthHealthy
		if last.Status != webhook.AttemptDelivered {
			h.Status, h.Error = healthFailing, last.LastError
		}
	}
	if f := st.LastFailure; f != nil {
		h.LastError, h.LastErrorAt = f.LastError, &f.CreatedAt
	}
	if w.Status != webhook.StatusActive {
		h.Status, h.Error = string(w.Status), w.StatusReason
	}
	return h
}

// collectorHealth marks a batching integration failing while its batch
// collector cannot start the batch it holds. A collector that is not
// running, or a Temporal that cannot answer now, leaves the health as the
// store has it.
func (s *Server) collectorHealth(ctx context.Context, w *webhook.Webhook, h *integrationHealth) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	defer cancel()
	v, err := s.temporal.QueryWorkflow(ctx, workflows.BatchWorkflowID(w.ID), "", workflows.QueryBatch)
	var st workflows.BatchState
	if err != nil || v.Get(&st) != nil || st.StartFailures == 0 {
		return
	}
	h.Status = healthFailing
	h.Error = fmt.Sprintf("its batch of %d events could not be started (%d tries): %s", len(st.Pending), st.StartFailures, st.LastError)
	if st.RetryAt != nil {
		h.Error += "; next try at " + st.RetryAt.UTC().Format(time.RFC3339)
	}
}

type integrationMetric struct {
	IntegrationType string   `json:"integration_type"`
	Status          string   `json:"status"`
	Subscriptions   int      `json:"subscriptions"`
	Sent            int      `json:"sent"`    // attempts delivered
	Failed          int      `json:"failed"`  // attempts that failed for good
	Retried         int      `json:"retried"` // attempts that failed and were retried
	SuccessRate     *float64 `json:"success_rate"`
}

// integrationMetrics is the LOKI guide's get_metrics(): totals, and per
// integration what it sent and what failed (test deliveries aside).
func (s *Server) integrationMetrics(c *fiber.Ctx) error {
	all, stats, err := s.allIntegrations(c.UserContext())
	if err != nil {
		return err
	}
	per, byType := map[string]integrationMetric{}, map[string]int{}
	subs, active, sent, failed := 0, 0, 0, 0
	for _, w := range all {
		st := stats[w.ID]
		m := integrationMetric{IntegrationType: w.Integration.Type, Status: string(w.Status),
			Subscriptions: len(w.EventTypes), Sent: st.Delivered, Failed: st.Failed, Retried: st.Retried}
		if n := st.Delivered + st.Failed + st.Retried; n > 0 {
			rate := float64(st.Delivered) / float64(n) * 100
			m.SuccessRate = &rate
		}
		per[w.Name] = m
		byType[w.Integration.Type]++
		subs += len(w.EventTypes)
		sent += st.Delivered
		failed += st.Failed
		if w.Status == webhook.StatusActive {
			active++
		}
	}
	return c.JSON(fiber.Map{
		"total_integrations": len(all), "active_integrations": active, "total_subscriptions": subs,
		"total_sent": sent, "total_failed": failed, "by_type": byType, "integrations": per,
	})
}
