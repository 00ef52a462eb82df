package e2e

import (
	"errors"
	"sync"
	"time"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// childRefusals makes the stack's workers fail the child workflow starts of
// chosen workflows until a given workflow time, as if the engine had refused
// them. Decided by workflow time, a replay decides as the first run did.
type childRefusals struct {
	interceptor.WorkerInterceptorBase
	mu    sync.Mutex
	until map[string]time.Time // by parent workflow id
}

var refusedChildStarts = &childRefusals{until: map[string]time.Time{}}

// refuse fails the child starts of the workflow with that id until then.
func (r *childRefusals) refuse(workflowID string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.until[workflowID] = until
}

func (r *childRefusals) refused(ctx workflow.Context) bool {
	r.mu.Lock()
	until, ok := r.until[workflow.GetInfo(ctx).WorkflowExecution.ID]
	r.mu.Unlock()
	return ok && workflow.Now(ctx).Before(until)
}

func (r *childRefusals) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &refusingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, r: r}
}

type refusingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *childRefusals
}

func (i *refusingInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&refusingOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, r: i.r})
}

type refusingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *childRefusals
}

func (o *refusingOutbound) ExecuteChildWorkflow(ctx workflow.Context, name string, args ...any) workflow.ChildWorkflowFuture {
	if !o.r.refused(ctx) {
		return o.Next.ExecuteChildWorkflow(ctx, name, args...)
	}
	f, set := workflow.NewFuture(ctx)
	set.SetError(errors.New("child workflow start refused by the test"))
	return refusedChild{f}
}

// refusedChild is a child workflow whose start failed.
type refusedChild struct{ workflow.Future }

func (c refusedChild) GetChildWorkflowExecution() workflow.Future { return c.Future }
func (c refusedChild) SignalChildWorkflow(workflow.Context, string, any) workflow.Future {
	return c.Future
}
