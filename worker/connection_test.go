package worker_test

import (
	"context"
	"errors"
	"testing"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc"

	"github.com/loki-interceptor/herald/worker"
)

// closing is what Temporal answers a signal or update to a workflow whose
// continue-as-new is under way.
var closing = serviceerror.ToStatus(&serviceerror.ResourceExhausted{Cause: enums.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW,
	Scope: enums.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE, Message: "workflow operation can not be applied because workflow is closing"}).Err()

// scripted answers each call with the next error of its script, then nil.
type scripted struct {
	script []error
	calls  int
}

func (s *scripted) invoke(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
	s.calls++
	if s.calls <= len(s.script) {
		return s.script[s.calls-1]
	}
	return nil
}

func TestRetryBusyWorkflowTriesABusyWorkflowAgainSoon(t *testing.T) {
	rateLimited := serviceerror.ToStatus(&serviceerror.ResourceExhausted{Cause: enums.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, Message: "namespace rate limit exceeded"}).Err()
	notFound := serviceerror.ToStatus(serviceerror.NewNotFound("workflow not found")).Err()
	plain := errors.New("connection refused")
	for _, tc := range []struct {
		name      string
		script    []error
		wantCalls int
		wantErr   error
	}{
		{"answered at once", nil, 1, nil},
		{"closing, then through", []error{closing, closing, closing}, 4, nil},
		{"a rate limit is the SDK's to retry", []error{rateLimited}, 1, rateLimited},
		{"another refusal is returned as it is", []error{notFound}, 1, notFound},
		{"an error without a status too", []error{plain}, 1, plain},
		{"closing, then another refusal", []error{closing, notFound}, 2, notFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{script: tc.script}
			err := worker.RetryBusyWorkflow(context.Background(), "/temporal.api.workflowservice.v1.WorkflowService/SignalWithStartWorkflowExecution", nil, nil, nil, s.invoke)
			if s.calls != tc.wantCalls || !errors.Is(err, tc.wantErr) {
				t.Errorf("%d calls, error %v; want %d calls, error %v", s.calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
}

func TestRetryBusyWorkflowGivesUp(t *testing.T) {
	t.Run("to the SDK once its patience is spent", func(t *testing.T) {
		s := &scripted{script: make([]error, 1000)}
		for i := range s.script {
			s.script[i] = closing
		}
		err := worker.RetryBusyWorkflow(context.Background(), "m", nil, nil, nil, s.invoke)
		if !errors.Is(err, closing) || s.calls < 10 || s.calls >= len(s.script) {
			t.Errorf("%d calls, error %v; want closing after some tries, short of the script", s.calls, err)
		}
	})
	t.Run("when its caller does", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s := &scripted{script: []error{closing, closing, closing, closing}}
		invoke := func(ctx context.Context, m string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
			if s.calls == 1 {
				cancel()
			}
			return s.invoke(ctx, m, req, reply, cc, opts...)
		}
		err := worker.RetryBusyWorkflow(ctx, "m", nil, nil, nil, invoke)
		if !errors.Is(err, closing) || s.calls != 2 {
			t.Errorf("%d calls, error %v; want closing after 2 calls", s.calls, err)
		}
	})
}
