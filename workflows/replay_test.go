package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// against today's workflow code; a change that would break workflows already
// running fails here. The event histories have three subscribers: one
// delivered at once, one after two retries with jitter drawn and timers
// fired, one failed for good; _v0 is from before versionLocal (regular
// activities), the others from after it (local ones), and
// event_recorded_history is an event whose subscribers were recorded when
// it was accepted. The batch history is a Zapier collector across a
// restart of every worker, with a batch sent; the stream history a
// subscriber's stream with a retry, a retry signal, a cancel signal and
// their timers. Regenerate the recorded and stream histories with:
// go test ./e2e -run 'TestRetryThenDeliver|TestOperateAStreamedDelivery' -update-replay
func TestReplayRecordedHistories(t *testing.T) {
	for _, file := range []string{"event_recorded_history.json", "event_workflow_history.json", "event_workflow_history_v1.json",
		"event_workflow_history_v0.json", "maintenance_workflow_history.json", "batch_workflow_history.json",
		"batch_timeout_workflow_history.json", "stream_workflow_history.json"} {
		t.Run(file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: workflows.EventWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.MaintenanceWorkflow, workflow.RegisterOptions{Name: workflows.MaintenanceWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.BatchWorkflow, workflow.RegisterOptions{Name: workflows.BatchWorkflowName})
			r.RegisterWorkflowWithOptions(workflows.StreamWorkflow, workflow.RegisterOptions{Name: workflows.StreamWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/"+file); err != nil {
				t.Fatal(err)
			}
		})
	}
}
