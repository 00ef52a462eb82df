package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/workflows"
)

// TestReplayRecordedHistories replays histories recorded from real runs
// against today's workflow code; a change that would break workflows already
// running fails here. They are v0.1.0's: from then on every change to
// workflow code is version-gated (workflow.GetVersion) and keeps them
// replaying, and a new behaviour adds a history of its own beside them
// rather than re-recording these. event_recorded_history is an event whose
// subscribers were recorded when it was accepted, with a delivery retried
// before it went; event_reopened_history a failed delivery started over,
// by the retry signal, after its workflow had closed, and
// event_updated_history the same by the API's update-with-start; the batch
// histories a Zapier collector across a restart of every worker, with a
// batch sent, and one flushed by its timeout; stream_workflow_history a
// subscriber's stream with a retry, retry and cancel signals and their
// timers, and stream_updated_history the same with the API's updates.
// After v0.1.0: stream_two_batches_history, the same again on the path of
// the version "stream-two-batches"; stream_local_beside_history, a small
// group sent as a local batch beside a large one in flight (the version
// "stream-local-beside"); stream_short_runs_history, a stream's run that
// continued as new at StreamHistoryPerRun history events (the version
// "stream-short-runs"). The e2e tests that make them write
// them with -update-replay (all but event_reopened_history,
// stream_workflow_history and stream_updated_history, kept from before the
// API used updates or before a version gate):
// go test ./e2e -run 'TestRetryThenDeliver|TestManualRetryOfAFailedDeliveryReopensTheEvent|TestOperateAStreamedDelivery|TestStreamSendsASmallGroupBesideALargeBatch|TestStreamContinuesAsNewAtItsHistoryBound|TestZapierBatch|TestMaintenanceScheduleRollsUp' -update-replay
func TestReplayRecordedHistories(t *testing.T) {
	for _, file := range []string{"event_recorded_history.json", "event_reopened_history.json", "maintenance_workflow_history.json",
		"batch_workflow_history.json", "batch_timeout_workflow_history.json", "stream_workflow_history.json",
		"event_updated_history.json", "stream_updated_history.json", "stream_two_batches_history.json",
		"stream_local_beside_history.json", "stream_short_runs_history.json"} {
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
