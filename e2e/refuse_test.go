package e2e

import (
	"sync"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/workflows/workflowstest"
)

// childRefusals are the stack's workers' refused child workflow starts: a
// chosen workflow's, until a given workflow time. Decided by workflow time,
// a replay decides as the first run did.
type childRefusals struct {
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

// interceptor refuses the starts for the stack's workers.
func (r *childRefusals) interceptor() *workflowstest.RefuseChildStarts {
	return &workflowstest.RefuseChildStarts{Refuse: r.refused}
}
