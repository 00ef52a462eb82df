package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// IngestWorkflowName is the registered name of IngestWorkflow.
const IngestWorkflowName = "IngestWorkflow"

// IngestWorkflowID names the workflow that starts one group's event
// workflows.
func IngestWorkflowID(groupID string) string { return "ingest/" + groupID }

// ActivityStartEvents starts the event workflows of a group.
const ActivityStartEvents = "StartEvents"

// MaxIngestBatch bounds the events of one POST /api/v1/events/batch.
const MaxIngestBatch = 100

// IngestInput is a group of events recorded in Herald's store before the
// workflow started, each with the subscribers it goes to one workflow per
// event (their snapshots in Subscribers, once each). Payloads stay in the
// store, so the history holds ids only. EventIDs is the input of an older
// Herald, whose event workflows resolve their subscribers themselves.
type IngestInput struct {
	Events      []IngestEvent `json:"events,omitempty"`
	Subscribers []Subscriber  `json:"subscribers,omitempty"`
	EventIDs    []string      `json:"event_ids,omitempty"`
}

// IngestEvent is one event of a group and the webhooks it goes to one
// workflow per event (none: nobody subscribes to it).
type IngestEvent struct {
	EventID    string  `json:"event_id"`
	WebhookIDs []int64 `json:"webhook_ids,omitempty"`
}

// IngestWorkflow makes sure each event of a group has its event workflow.
// Accepting a group costs one workflow start, however many events it
// holds; their own starts happen here, retried until every one is done, so
// the 202 each event got cannot turn into a lost event.
//
// The starts run as a regular activity that heartbeats its progress: a
// group's starts can take seconds when Temporal is busy, longer than a
// workflow task may, and a retry resumes where the last try got to.
func IngestWorkflow(ctx workflow.Context, in IngestInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy:         activityRetry,
	})
	return workflow.ExecuteActivity(ctx, ActivityStartEvents, in).Get(ctx, nil)
}
