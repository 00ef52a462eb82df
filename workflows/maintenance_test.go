package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// One run rolls up every day since attempts began (a missed run loses
// nothing), then deletes what is past the retention; the rollups stay.
func TestMaintenanceRollsUpThenDeletes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	r := h.receiver(reply{200, ""})
	w := h.hook(r, "w", nil)
	today := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	for i, daysAgo := range []int{5, 4, 1} {
		at := today.AddDate(0, 0, -daysAgo).Add(10 * time.Hour)
		h.store.Now = func() time.Time { return at }
		ev := event("m" + string(rune('a'+i)))
		ev.CreatedAt = at
		h.store.CreateEvent(ctx, &ev)
		body, _ := ev.Body()
		d := &webhook.Attempt{WebhookID: w.ID, EventID: ev.EventID, EventType: ev.EventType, AttemptNumber: 1,
			URL: w.URL, RequestHeaders: map[string]string{}, RequestBody: body, Signature: "sha256=0", SentAt: &at}
		if _, err := h.store.StartAttempt(ctx, d); err != nil {
			t.Fatal(err)
		}
		code, ms := 200, 12.0
		d.Status, d.ResponseStatusCode, d.DurationMS, d.RespondedAt = webhook.AttemptDelivered, &code, &ms, &at
		if err := h.store.FinishAttempt(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	h.store.Now = time.Now
	h.env.SetStartTime(today.Add(15 * time.Minute))
	h.env.ExecuteWorkflow(workflows.MaintenanceWorkflowName, workflows.MaintenanceInput{RetentionDays: 3})
	var res workflows.MaintenanceResult
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	h.env.GetWorkflowResult(&res)
	if strings.Join(res.RolledUp, " ") != "2026-11-24 2026-11-25 2026-11-26 2026-11-27 2026-11-28" || res.Rows != 3 || res.Deleted != 2 {
		t.Fatalf("result %+v", res)
	}
	rows, _ := h.store.Rollups(ctx, w.ID, today.AddDate(0, 0, -10), today)
	if len(rows) != 3 {
		t.Fatalf("%d rollup rows", len(rows))
	}
	_, left, _ := h.store.ListAttempts(ctx, store.AttemptFilter{WebhookID: w.ID})
	if left != 1 {
		t.Fatalf("%d attempt rows left, want the one inside the retention", left)
	}
}
