// Package worker assembles a Temporal worker that runs Herald's workflows
// and activities, and prepares a namespace for them: search attributes and
// the maintenance schedule.
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/activities"
	"github.com/loki-interceptor/herald/workflows"
)

// Registry is what Register needs: a worker, or a test environment.
type Registry interface {
	sdkworker.WorkflowRegistry
	sdkworker.ActivityRegistry
}

// Register registers Herald's workflows and activities under their names.
func Register(r Registry, acts *activities.Activities) {
	for name, wf := range map[string]any{
		workflows.EventWorkflowName:       workflows.EventWorkflow,
		workflows.MaintenanceWorkflowName: workflows.MaintenanceWorkflow,
		workflows.BatchWorkflowName:       workflows.BatchWorkflow,
		workflows.IngestWorkflowName:      workflows.IngestWorkflow,
		workflows.StreamWorkflowName:      workflows.StreamWorkflow,
	} {
		r.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: name})
	}
	workflows.ActivityStartEvent.Register(r, acts.StartEvent)
	workflows.ActivityStartEvents.Register(r, acts.StartEvents)
	workflows.ActivityStartBatch.Register(r, acts.StartBatch)
	workflows.ActivityAddToBatch.Register(r, acts.AddToBatch)
	workflows.ActivityLoadSubscriber.Register(r, acts.LoadSubscriber)
	workflows.ActivityAttempt.Register(r, acts.Attempt)
	workflows.ActivityAttemptStream.Register(r, acts.AttemptStream)
	workflows.ActivityLoadBacklog.Register(r, acts.LoadBacklog)
	workflows.ActivityFinishEvent.Register(r, acts.FinishEvent)
	workflows.ActivityCancelDelivery.Register(r, acts.CancelDelivery)
	workflows.ActivityDaysToRollUp.Register(r, acts.DaysToRollUp)
	workflows.ActivityRollupDay.Register(r, acts.RollupDay)
	workflows.ActivityDeleteAttempts.Register(r, acts.DeleteOldAttempts)
}

// Options tune a worker.
type Options struct {
	// MaxConcurrentActivities bounds attempts in flight on this worker,
	// local (event deliveries) and regular (batches, maintenance) each.
	MaxConcurrentActivities int
	// StopTimeout is how long Stop lets attempts in flight finish (default
	// 30 s, above the longest attempt timeout) before cancelling them.
	StopTimeout time.Duration
	// Interceptors wrap the workflows and activities this worker runs.
	Interceptors []interceptor.WorkerInterceptor
}

// New builds a worker polling workflows.TaskQueue. Start it with Start or Run.
//
// Its workflow task pollers autoscale, which keeps pollers on the task
// queue and on the worker's sticky queue apart. With the SDK's default,
// two pollers that each pick a queue per poll, both stay on the sticky
// queue while it reports a backlog, and the task queue, where every
// workflow a lost worker had cached goes, waits (docs/reliability.md).
func New(c client.Client, acts *activities.Activities, o Options) sdkworker.Worker {
	if o.StopTimeout == 0 {
		o.StopTimeout = 30 * time.Second
	}
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{
		WorkflowTaskPollerBehavior:              sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{}),
		MaxConcurrentActivityExecutionSize:      o.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: o.MaxConcurrentActivities,
		WorkerStopTimeout:                       o.StopTimeout,
		Interceptors:                            o.Interceptors,
	})
	Register(w, acts)
	return w
}

// Prepare readies a namespace for Herald: its search attributes and the
// daily maintenance schedule. It is idempotent, so it runs at every start of
// `herald dev` and in every `herald migrate`.
func Prepare(ctx context.Context, c client.Client, namespace string, retentionDays int) error {
	if err := registerSearchAttributes(ctx, c, namespace); err != nil {
		return err
	}
	return ensureMaintenanceSchedule(ctx, c, retentionDays)
}

// registerSearchAttributes adds Herald's custom search attributes to the
// namespace, leaving those already there alone.
func registerSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	svc := c.OperatorService()
	have, err := svc.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes() {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = svc.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if err != nil {
		return fmt.Errorf("add search attributes to %s: %w", namespace, err)
	}
	return nil
}

// ensureMaintenanceSchedule creates the daily maintenance schedule (00:15
// UTC), or brings an existing one's retention up to date.
func ensureMaintenanceSchedule(ctx context.Context, c client.Client, retentionDays int) error {
	action := &client.ScheduleWorkflowAction{
		ID:        workflows.MaintenanceScheduleID,
		Workflow:  workflows.MaintenanceWorkflowName,
		Args:      []any{workflows.MaintenanceInput{RetentionDays: retentionDays}},
		TaskQueue: workflows.TaskQueue,
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: workflows.MaintenanceScheduleID,
		Spec: client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
			Hour: []client.ScheduleRange{{Start: 0}}, Minute: []client.ScheduleRange{{Start: 15}},
		}}},
		Action:        action,
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: 24 * time.Hour,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		h := c.ScheduleClient().GetHandle(ctx, workflows.MaintenanceScheduleID)
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			in.Description.Schedule.Action = action
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		}})
	}
	if err != nil {
		return fmt.Errorf("maintenance schedule: %w", err)
	}
	return nil
}
