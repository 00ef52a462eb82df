package workflows

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"
)

// Activity is an activity as a workflow calls it and a worker registers
// it: the name it is registered under, bound to the types of its input and
// its result. A call with another input, a result read as another type, or
// a method of another signature registered under the name does not
// compile. (The activities package imports this one for those types, so
// workflows cannot name its methods themselves.)
type Activity[In, Out any] struct{ Name string }

// Action is an Activity with no result.
type Action[In any] struct{ Name string }

// Registers is where activities are registered: a worker, or a test's
// environment.
type Registers interface {
	RegisterActivityWithOptions(a any, options activity.RegisterOptions)
}

// Register registers run, the method that does the activity, under its name.
func (a Activity[In, Out]) Register(r Registers, run func(context.Context, In) (Out, error)) {
	r.RegisterActivityWithOptions(run, activity.RegisterOptions{Name: a.Name})
}

// Register registers run, the method that does the action, under its name.
func (a Action[In]) Register(r Registers, run func(context.Context, In) error) {
	r.RegisterActivityWithOptions(run, activity.RegisterOptions{Name: a.Name})
}

// Run schedules the activity with the activity options ctx carries.
func (a Activity[In, Out]) Run(ctx workflow.Context, in In) Future[Out] {
	return Future[Out]{workflow.ExecuteActivity(ctx, a.Name, in)}
}

// Run schedules the action with the activity options ctx carries.
func (a Action[In]) Run(ctx workflow.Context, in In) workflow.Future {
	return workflow.ExecuteActivity(ctx, a.Name, in)
}

// Call runs the activity as c says.
func (a Activity[In, Out]) Call(ctx workflow.Context, c call, in In) Future[Out] {
	if c.local {
		return Future[Out]{workflow.ExecuteLocalActivity(c.localCtx(ctx), a.Name, in)}
	}
	return a.Run(c.regularCtx(ctx), in)
}

// Call runs the action as c says.
func (a Action[In]) Call(ctx workflow.Context, c call, in In) workflow.Future {
	if c.local {
		return workflow.ExecuteLocalActivity(c.localCtx(ctx), a.Name, in)
	}
	return a.Run(c.regularCtx(ctx), in)
}

// Future is an activity's result to come.
type Future[Out any] struct{ f workflow.Future }

// Result waits for the activity and returns its result.
func (f Future[Out]) Result(ctx workflow.Context) (Out, error) {
	var out Out
	err := f.f.Get(ctx, &out)
	return out, err
}

// Untyped is the SDK's future, for a selector: the SDK accepts only its
// own (a wrapper fails at run time), which Future therefore is not.
func (f Future[Out]) Untyped() workflow.Future { return f.f }

// call is how a workflow step runs an activity: as a local activity with
// localOptions, or a regular one with activityOptions, and the summary the
// Temporal UI shows for it.
type call struct {
	local   bool
	summary string
}

// regular runs an activity whose result must be in the history before
// anything after it runs. A local activity's result is recorded with the
// workflow task that follows it; when that task fails (a signal came in
// meanwhile), the activity runs again on replay, and one that reads what
// later steps changed (the next attempt number) or that has an effect of
// its own (adding to a batch) would then differ or repeat.
func regular(summary string) call { return call{summary: summary} }

func (c call) localCtx(ctx workflow.Context) workflow.Context {
	o := localOptions
	o.Summary = c.summary
	return workflow.WithLocalActivityOptions(ctx, o)
}

func (c call) regularCtx(ctx workflow.Context) workflow.Context {
	o := activityOptions
	o.Summary = c.summary
	return workflow.WithActivityOptions(ctx, o)
}
