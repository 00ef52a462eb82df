package worker

import (
	"context"
	"errors"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// ConnectionOptions are how Herald's roles connect to the Temporal
// frontend at hostPort: Compression's choice, and calls refused because
// their workflow is busy for a moment tried again within milliseconds.
func ConnectionOptions(hostPort string) client.ConnectionOptions {
	return client.ConnectionOptions{GrpcCompression: Compression(hostPort),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(RetryBusyWorkflow)}}
}

// Busy workflows are tried again after busyFirstWait, doubling up to
// busyMaxWait, for busyPatience in all; then the SDK's own retries, which
// wait 400 ms and more, take over.
const (
	busyFirstWait = 5 * time.Millisecond
	busyMaxWait   = 50 * time.Millisecond
	busyPatience  = 2 * time.Second
)

// RetryBusyWorkflow is a gRPC client interceptor that tries a call again
// soon when Temporal refused it because its workflow was busy: a signal or
// update that meets a stream continuing as new is refused ("workflow is
// closing") until the new run exists, which takes the worker a replay of
// the old run, about 100 ms. The SDK would wait 400 ms first, and the
// hand-off that met it held every publish behind it that long, every few
// seconds under load. A call tried again is the same request (the same
// request id), which Temporal applies once.
func RetryBusyWorkflow(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if !busy(err) {
		return err // every call but a refused one passes straight through
	}
	wait, until := busyFirstWait, time.Now().Add(busyPatience)
	for busy(err) && time.Now().Add(wait).Before(until) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, busyMaxWait)
		err = invoker(ctx, method, req, reply, cc, opts...)
	}
	return err
}

func busy(err error) bool {
	if err == nil {
		return false
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	var re *serviceerror.ResourceExhausted
	return errors.As(serviceerror.FromStatus(st), &re) && re.Cause == enums.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW
}
