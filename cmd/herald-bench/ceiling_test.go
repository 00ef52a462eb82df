package main

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/loki-interceptor/herald/webhook"
)

// TestCeilingWorkflow checks the ceiling's shape: every delivery a local
// activity, all started before any ends, and a failed POST retried by the
// activity's retry policy.
func TestCeilingWorkflow(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	urls := []string{"http://a/", "http://b/", "http://c/"}
	var mu sync.Mutex
	attempts := map[string][]int32{}
	allStarted := make(chan struct{})
	env.RegisterActivityWithOptions(func(ctx context.Context, d deliveryInput) error {
		attempt := activity.GetInfo(ctx).Attempt
		mu.Lock()
		attempts[d.URL] = append(attempts[d.URL], attempt)
		if len(attempts) == len(urls) && attempt == 1 {
			close(allStarted)
		}
		mu.Unlock()
		if !activity.GetInfo(ctx).IsLocalActivity {
			return temporal.NewNonRetryableApplicationError("not a local activity", "shape", nil)
		}
		if attempt > 1 {
			return nil
		}
		select {
		case <-allStarted:
		case <-time.After(5 * time.Second):
			return temporal.NewNonRetryableApplicationError("deliveries started one after another", "shape", nil)
		}
		if d.URL == urls[1] {
			return errors.New("HTTP 503")
		}
		return nil
	}, activity.RegisterOptions{Name: ceilingActivityName})
	env.ExecuteWorkflow(ceilingWorkflow, eventInput{Event: webhook.Event{EventID: "e1"}, URLs: urls})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v: %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	for i, want := range [][]int32{{1}, {1, 2}, {1}} {
		if got := attempts[urls[i]]; !slices.Equal(got, want) {
			t.Errorf("%s: attempts %v, want %v", urls[i], got, want)
		}
	}
}
