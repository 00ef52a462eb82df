package ingest_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// temporal stands in for Temporal's client in these unit tests: it starts
// and signals what it is told to, and refuses stream signals while down.
type temporal struct {
	client.Client
	mu         sync.Mutex
	streamDown bool
	started    map[string]int // workflow id → starts asked for
	signalled  map[string]int // stream id → events signals taken
}

func (f *temporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started[o.ID]++
	if f.started[o.ID] > 1 {
		return nil, serviceerror.NewWorkflowExecutionAlreadyStarted("started", "", "")
	}
	return nil, nil
}

func (f *temporal) SignalWithStartWorkflow(_ context.Context, id, _ string, _ any, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.streamDown {
		return nil, serviceerror.NewUnavailable("stream shard down")
	}
	f.signalled[id]++
	return nil, nil
}

func (f *temporal) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return nil, serviceerror.NewNotFound("no such workflow")
}

func mustWebhook(t *testing.T, s *store.Store, name string, mode webhook.DeliveryMode) *webhook.Webhook {
	t.Helper()
	w := webhook.New()
	w.Name, w.URL, w.Secret, w.EventTypes, w.DeliveryMode = name, "https://example.com/"+name, webhook.NewSecret(), []string{"compliance.alert"}, mode
	if err := s.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// A hand-off that got part way (the event's workflow started, its stream's
// signal refused) answers 503 but keeps the event's row: its delivery may
// have begun. Publishing it again hands it off whole again, so the stream
// gets it, and the workflow already started is not started twice.
func TestHalfHandedOffEventIsKeptAndHandedOffAgain(t *testing.T) {
	ctx := context.Background()
	s := storetest.MustOpen(t, "sqlite")
	mustWebhook(t, s, "per-event", webhook.PerEvent)
	streamed := mustWebhook(t, s, "streamed", webhook.Stream)
	tc := &temporal{streamDown: true, started: map[string]int{}, signalled: map[string]int{}}
	p := &ingest.Publisher{Store: s, Temporal: tc, StartTimeout: time.Second}
	ev := &webhook.Event{EventID: "half", EventType: "compliance.alert", Source: "loki", SourceID: "doc_1",
		Payload: json.RawMessage(`{"alert_level":"high","alert_type":"x","message":"m"}`), CreatedAt: time.Now().UTC()}

	_, _, err := p.Publish(ctx, ev)
	if webhook.ErrorCode(err) != webhook.EUnavailable {
		t.Fatalf("publish with the stream down: %v, want unavailable", err)
	}
	if _, err := s.GetEvent(ctx, "half"); err != nil {
		t.Fatalf("the half handed-off event's row was removed: %v", err)
	}

	tc.mu.Lock()
	tc.streamDown = false
	tc.mu.Unlock()
	if _, created, err := p.Publish(ctx, ev); err != nil || created {
		t.Fatalf("publish again: created %v, %v", created, err)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if n := tc.signalled[workflows.StreamWorkflowID(streamed.ID)]; n != 1 {
		t.Fatalf("stream signalled %d times, want 1", n)
	}
	if n := tc.started[workflows.EventWorkflowID("half")]; n != 2 {
		t.Fatalf("event workflow start asked %d times, want 2 (the second refused as started)", n)
	}
}

// A hand-off refused whole removes the rows: nothing half-accepted.
func TestRefusedHandOffRemovesTheRows(t *testing.T) {
	ctx := context.Background()
	s := storetest.MustOpen(t, "sqlite")
	mustWebhook(t, s, "streamed", webhook.Stream)
	tc := &temporal{streamDown: true, started: map[string]int{}, signalled: map[string]int{}}
	p := &ingest.Publisher{Store: s, Temporal: tc, StartTimeout: time.Second}
	ev := &webhook.Event{EventID: "refused", EventType: "compliance.alert", Source: "loki", SourceID: "doc_1",
		Payload: json.RawMessage(`{"alert_level":"high","alert_type":"x","message":"m"}`), CreatedAt: time.Now().UTC()}
	if _, _, err := p.Publish(ctx, ev); webhook.ErrorCode(err) != webhook.EUnavailable {
		t.Fatalf("publish: %v", err)
	}
	if _, err := s.GetEvent(ctx, "refused"); webhook.ErrorCode(err) != webhook.ENotFound {
		t.Fatalf("row of a refused event: %v", err)
	}
}
