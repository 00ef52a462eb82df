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
	futures := make([]workflow.Future, len(in.URLs))
	for i, u := range in.URLs {
		futures[i] = workflow.ExecuteActivity(ctx, naiveActivityName, deliveryInput{URL: u, Event: in.Event})
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

const naiveActivityName = "NaiveDeliver"

func startNaive(ctx context.Context, address string, log *slog.Logger) (*temporalBaseline, error) {
	return startTemporalBaseline(ctx, address, log, temporalSpec{name: sysNaive, queue: "herald-bench-naive",
		workflowName: "NaiveEvent", workflow: naiveWorkflow, activityName: naiveActivityName})
}
