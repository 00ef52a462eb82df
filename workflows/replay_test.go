package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/workflows"
)

// TestReplayRecordedHistory replays a history recorded from a real run (three
// subscribers: one delivered at once, one after two retries with jitter drawn
// and timers fired, one failed for good) against today's EventWorkflow. A
// change that would break workflows already running fails here.
// Regenerate with: go test ./e2e -run TestRetryThenDeliver -update-replay
func TestReplayRecordedHistory(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: workflows.EventWorkflowName})
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/event_workflow_history.json"); err != nil {
		t.Fatal(err)
	}
}
