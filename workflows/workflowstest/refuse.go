// Package workflowstest helps test Herald's workflows against faults the
// engine rarely shows: a child workflow whose start is refused.
package workflowstest

import (
	"errors"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

// RefuseChildStarts is a worker interceptor that fails a workflow's child
// workflow starts while Refuse says so, as if the engine had refused them.
// Refuse runs in workflow code: to hold across a replay it must decide by
// what the workflow sees (its ID, workflow.Now), not by wall time.
type RefuseChildStarts struct {
	interceptor.WorkerInterceptorBase
	Refuse func(ctx workflow.Context) bool
}

// ErrRefused is the error a refused start fails with.
var ErrRefused = errors.New("child workflow start refused by the test")

func (r *RefuseChildStarts) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &refusingInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, r: r}
}

type refusingInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	r *RefuseChildStarts
}

func (i *refusingInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&refusingOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, r: i.r})
}

type refusingOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	r *RefuseChildStarts
}

func (o *refusingOutbound) ExecuteChildWorkflow(ctx workflow.Context, name string, args ...any) workflow.ChildWorkflowFuture {
	if !o.r.Refuse(ctx) {
		return o.Next.ExecuteChildWorkflow(ctx, name, args...)
	}
	f, set := workflow.NewFuture(ctx)
	set.SetError(ErrRefused)
	return refusedChild{f}
}

// refusedChild is a child workflow whose start failed.
type refusedChild struct{ workflow.Future }

func (c refusedChild) GetChildWorkflowExecution() workflow.Future { return c.Future }
func (c refusedChild) SignalChildWorkflow(workflow.Context, string, any) workflow.Future {
	return c.Future
}
