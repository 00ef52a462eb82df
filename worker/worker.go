// Package worker assembles a Temporal worker that runs Herald's workflows
// and activities, and prepares a namespace for them.
package worker

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
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
	r.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: workflows.EventWorkflowName})
	r.RegisterActivityWithOptions(acts.StartEvent, activity.RegisterOptions{Name: workflows.ActivityStartEvent})
	r.RegisterActivityWithOptions(acts.Attempt, activity.RegisterOptions{Name: workflows.ActivityAttempt})
	r.RegisterActivityWithOptions(acts.FinishEvent, activity.RegisterOptions{Name: workflows.ActivityFinishEvent})
}

// Options tune a worker.
type Options struct {
	// MaxConcurrentActivities bounds attempts in flight on this worker.
	MaxConcurrentActivities int
	// StopTimeout is how long Stop lets attempts in flight finish (default
	// 30 s, above the longest attempt timeout) before cancelling them.
	StopTimeout time.Duration
}

// New builds a worker polling workflows.TaskQueue. Start it with Start or Run.
func New(c client.Client, acts *activities.Activities, o Options) sdkworker.Worker {
	if o.StopTimeout == 0 {
		o.StopTimeout = 30 * time.Second
	}
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities,
		WorkerStopTimeout:                  o.StopTimeout,
	})
	Register(w, acts)
	return w
}

// RegisterSearchAttributes adds Herald's custom search attributes to the
// namespace, leaving those already there alone, so it can run at every start.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
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
