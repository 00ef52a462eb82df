package delivery_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
)

// An attempt retried after it finished (the activity's completion was lost)
// reports the recorded outcome and sends nothing.
func TestFinishedAttemptIsNotSentAgain(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
	}))
	defer srv.Close()
	st := storetest.MustOpen(t, schema.SQLite)
	ctx := context.Background()
	w := hook(srv.URL)
	w.ID = 0
	if err := st.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	ev := &webhook.Event{EventID: "e1", EventType: "system.error", Source: "loki",
		Payload: json.RawMessage(`{"error_code":"E","component":"c","severity":"low"}`), CreatedAt: time.Now()}
	if _, err := st.CreateEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	plan := delivery.Plan{Attempt: 1, RetryIn: time.Minute}
	first, err := s.Attempt(ctx, st, w, ev, plan)
	if err != nil || first.Replayed || first.Delivery.Status != webhook.DeliveryRetrying || first.RetryIn != time.Minute || first.StatusCode() != 503 {
		t.Fatalf("first attempt: %+v %v", first, err)
	}
	again, err := s.Attempt(ctx, st, w, ev, plan)
	if err != nil || !again.Replayed || again.Delivery.ID != first.Delivery.ID || again.StatusCode() != 503 {
		t.Fatalf("replayed attempt: %+v %v", again, err)
	}
	if again.RetryIn <= 0 || again.RetryIn > time.Minute {
		t.Fatalf("replayed wait %v, want what is left of the minute", again.RetryIn)
	}
	if hits.Load() != 1 {
		t.Fatalf("receiver hit %d times", hits.Load())
	}
}
