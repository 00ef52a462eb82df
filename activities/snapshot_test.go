package activities_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// StartEvent and StartBatch run again after a crash keep the subscribers
// their first run recorded: a webhook created since is not added, and the
// event's total does not move, whichever database keeps it.
func TestStartRunAgainKeepsItsSnapshot(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			s := storetest.MustOpen(t, d)
			env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
			env.RegisterActivity(&activities.Activities{Store: s, Logger: slog.New(slog.DiscardHandler)})
			a, b := snapshotHook(t, s, "a"), snapshotHook(t, s, "b")
			ev := webhook.Event{EventID: "evt_snap", EventType: "compliance.alert", Source: "loki", SourceID: "d1",
				Payload: json.RawMessage(`{}`), CreatedAt: time.Now().UTC()}
			batch := workflows.StartBatchInput{WebhookID: a.ID, Event: webhook.Event{EventID: "evt_batch",
				EventType: "compliance.alert", Source: "loki", SourceID: "d1", Payload: json.RawMessage(`[]`), CreatedAt: time.Now().UTC()}}
			run := func(name string, in any) []int64 {
				t.Helper()
				v, err := env.ExecuteActivity(name, in)
				must(t, err)
				var res workflows.StartEventResult
				must(t, v.Get(&res))
				var ids []int64
				for _, sub := range res.Subscribers {
					ids = append(ids, sub.WebhookID)
				}
				return ids
			}
			first := run(workflows.ActivityStartEvent.Name, ev)
			firstBatch := run(workflows.ActivityStartBatch.Name, batch)
			snapshotHook(t, s, "c")
			again := run(workflows.ActivityStartEvent.Name, ev)
			if !slices.Equal(first, []int64{a.ID, b.ID}) || !slices.Equal(again, first) {
				t.Fatalf("subscribers: first %v, run again after a webhook was created %v; want %v both times", first, again, []int64{a.ID, b.ID})
			}
			must(t, s.DeleteWebhook(context.Background(), b.ID))
			if again := run(workflows.ActivityStartEvent.Name, ev); !slices.Equal(again, []int64{a.ID}) {
				t.Fatalf("run again after b was deleted: %v, want only %d", again, a.ID)
			}
			if again := run(workflows.ActivityStartBatch.Name, batch); !slices.Equal(firstBatch, []int64{a.ID}) || !slices.Equal(again, firstBatch) {
				t.Fatalf("batch subscribers: first %v, again %v", firstBatch, again)
			}
			for id, want := range map[string]int{ev.EventID: 2, batch.Event.EventID: 1} {
				e, err := s.GetEvent(context.Background(), id)
				must(t, err)
				if e.TotalDeliveries != want {
					t.Errorf("%s: total_deliveries %d, want %d as first recorded", id, e.TotalDeliveries, want)
				}
			}
		})
	}
}

func snapshotHook(t *testing.T, s *store.Store, name string) *webhook.Webhook {
	t.Helper()
	w := webhook.New()
	w.Name, w.URL, w.Secret, w.EventTypes = name, "https://example.com/"+name, webhook.NewSecret(), []string{"compliance.alert"}
	must(t, s.CreateWebhook(context.Background(), w))
	return w
}
