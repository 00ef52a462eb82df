package delivery

import (
	"context"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// uncut is the context of a request once it has started: it runs to its
// answer or its own timeout whatever becomes of the caller (an activity
// cancelled because Temporal gave it to another worker, a worker
// draining). Cut off, its answer would be lost while the receiver may have
// acted on it, and the attempt made again: a duplicate.
func uncut(ctx context.Context, req *Request) (context.Context, context.CancelFunc) {
	limit := req.Timeout
	if limit <= 0 {
		limit = webhook.MaxTimeoutSeconds * time.Second
	}
	return context.WithTimeout(context.WithoutCancel(ctx), limit)
}

// recordFor bounds how long the outcome of a request already sent is kept
// trying to reach the store. It is shorter than leaseMargin, so it ends
// while the pending row's lease still holds and no other executor has sent
// the attempt again.
const recordFor = 10 * time.Second

// keepRecording records the outcome of requests already sent. An outcome
// not recorded is sent again once its lease runs out, a duplicate at the
// receiver, so it outlives the caller's cancellation (an activity past its
// deadline, a worker draining) and retries through a store that is away
// for a moment (a database restart). A refusal of the row itself (an
// *webhook.Error other than unavailable) is not retried.
func keepRecording(ctx context.Context, record func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordFor)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		err := record(ctx)
		if code := webhook.ErrorCode(err); code != webhook.EInternal && code != webhook.EUnavailable {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
