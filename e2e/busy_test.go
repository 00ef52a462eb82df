package e2e

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/loki-interceptor/herald/worker"
)

// closer takes pokes. Its first run sleeps on the first poke, in real
// time, so that the next poke comes while its task is open: the task's
// continue-as-new is refused for that poke, and while the worker replays
// the run to try again Temporal refuses signals as "workflow is closing".
// The next run takes pokes until "stop".
func closer(ctx workflow.Context, run int) error {
	pokes := workflow.GetSignalChannel(ctx, "poke")
	if run == 0 {
		pokes.Receive(ctx, nil)
		time.Sleep(300 * time.Millisecond)
		return workflow.NewContinueAsNewError(ctx, closer, 1)
	}
	for {
		var p string
		pokes.Receive(ctx, &p)
		if p == "stop" {
			return nil
		}
	}
}

// counting counts the signals that come back with an error, and of them
// those refused because the workflow was busy. (The worker's calls go
// through the same client: its refused continue-as-new is not counted.)
type counting struct{ errs, busy atomic.Int64 }

func (c *counting) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if err != nil && strings.HasSuffix(method, "/SignalWorkflowExecution") {
		c.errs.Add(1)
		var re *serviceerror.ResourceExhausted
		if st, ok := status.FromError(err); ok && errors.As(serviceerror.FromStatus(st), &re) && re.Cause == enums.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW {
			c.busy.Add(1)
		}
	}
	return err
}

func TestASignalMeetingAContinueAsNewIsTriedAgainHere(t *testing.T) {
	s := herald(t)
	var outside, inside counting
	opts := worker.ConnectionOptions(s.temporalAddress)
	// Herald's interceptor between two counters: outside sees what it gives
	// the SDK, inside what Temporal answered.
	opts.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(outside.intercept, worker.RetryBusyWorkflow, inside.intercept)}
	c, err := client.Dial(client.Options{HostPort: s.temporalAddress, Namespace: "default", ConnectionOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queue = "busy-test"
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflow(closer)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "busy-" + t.Name(), TaskQueue: queue}, closer, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Poke through the first run's sleep, its refused continue-as-new and
	// the replay after it; every poke must go through.
	for i := 0; i < 20; i++ {
		if err := c.SignalWorkflow(ctx, run.GetID(), "", "poke", "x"); err != nil {
			t.Fatalf("poke %d: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.SignalWorkflow(ctx, run.GetID(), "", "poke", "stop"); err != nil {
		t.Fatal(err)
	}
	if err := c.GetWorkflow(ctx, run.GetID(), "").Get(ctx, nil); err != nil {
		t.Fatalf("the next run did not end: %v", err)
	}
	if inside.busy.Load() == 0 {
		t.Errorf("Temporal never refused a poke as busy (%d refusals): the test did not meet the closing run", inside.errs.Load())
	}
	if outside.errs.Load() != 0 {
		t.Errorf("%d pokes came back to the SDK with an error; want each refusal tried again by the interceptor", outside.errs.Load())
	}
}
