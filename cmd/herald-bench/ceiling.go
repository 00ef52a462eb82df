package main

import (
	"context"
	"log/slog"
	"time"

	"go.temporal.io/sdk/workflow"
)

// The engine's ceiling for Herald's shape: Herald's per-event path with
// none of Herald's work, on the same server. One workflow per event,
// started eagerly; each delivery a local activity that only POSTs the
// signed body, all started at once. No store, no search attributes, no
// signals: what separates Herald from this is Herald's own cost.
func ceilingWorkflow(ctx workflow.Context, in eventInput) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		// Unset, the SDK bounds every attempt and wait together by one
		// StartToCloseTimeout; the webhooks' six attempts must all fit.
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy:            deliveryRetry,
	})
	return deliverAll(ctx, in, workflow.ExecuteLocalActivity, ceilingActivityName)
}

const ceilingActivityName = "CeilingDeliver"

func startCeiling(ctx context.Context, address string, log *slog.Logger) (*temporalBaseline, error) {
	return startTemporalBaseline(ctx, address, log, temporalSpec{name: sysCeiling, queue: "herald-bench-ceiling",
		workflowName: "CeilingEvent", workflow: ceilingWorkflow, activityName: ceilingActivityName, eager: true})
}
