package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// IngestWorkflowName is the registered name of IngestWorkflow.
const IngestWorkflowName = "IngestWorkflow"

// IngestWorkflowID names the workflow that starts one published batch's
// event workflows.
func IngestWorkflowID(batchID string) string { return "ingest/" + batchID }

// ActivityStartEvents starts the event workflows of a batch.
const ActivityStartEvents = "StartEvents"

// MaxIngestBatch bounds the events of one POST /api/v1/events/batch.
const MaxIngestBatch = 100

// IngestInput is a published batch: the ids of its events, recorded in
// Herald's store before the workflow started. Payloads stay there, so the
// history holds ids only.
type IngestInput struct {
	EventIDs []string `json:"event_ids"`
}

// IngestWorkflow makes sure each event of a published batch has its event
// workflow. Accepting a batch costs one workflow start, however many events
// it holds; their own starts happen here, retried until every one is done,
// so the 202 the batch got cannot turn into a lost event.
//
// The starts run as a regular activity that heartbeats its progress: a
// batch's starts can take seconds when Temporal is busy, longer than a
// workflow task may, and a retry resumes where the last try got to.
func IngestWorkflow(ctx workflow.Context, in IngestInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy:         activityRetry,
	})
	return workflow.ExecuteActivity(ctx, ActivityStartEvents, in).Get(ctx, nil)
}
