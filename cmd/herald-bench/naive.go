package main

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The naive Temporal design: one workflow per event, one plain activity per
// delivery whose retry policy is the webhook's schedule. No store, no
// records of attempts, no signals, no search attributes: what Herald
// would be with the least code on the same server.
func naiveWorkflow(ctx workflow.Context, in eventInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second, RetryPolicy: deliveryRetry})
	return deliverAll(ctx, in, workflow.ExecuteActivity, naiveActivityName)
}

const naiveActivityName = "NaiveDeliver"

func startNaive(ctx context.Context, address string, log *slog.Logger) (*temporalBaseline, error) {
	return startTemporalBaseline(ctx, address, log, temporalSpec{name: sysNaive, queue: "herald-bench-naive",
		workflowName: "NaiveEvent", workflow: naiveWorkflow, activityName: naiveActivityName})
}
