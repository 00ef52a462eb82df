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

// recordFor is the least time the outcome of a request already sent is
// kept trying to reach the store.
const recordFor = 10 * time.Second

// leaseSafety is how long before a row's lease ends its executor stops
// trying to record it: past the lease another executor may send it again.
const leaseSafety = 2 * time.Second

// recordDeadline is until when the outcomes of rows are kept trying to
// reach the store: while each row's lease holds, so that a database back
// within the lease (a restart) gets them recorded and none is sent again;
// at least recordFor from now.
func recordDeadline(rows []*webhook.Attempt, now time.Time) time.Time {
	var end time.Time
	for _, d := range rows {
		if d.SentAt == nil || d.Lease <= 0 {
			continue
		}
		if e := d.SentAt.Add(d.Lease - leaseSafety); end.IsZero() || e.Before(end) {
			end = e
		}
	}
	if least := now.Add(recordFor); end.Before(least) {
		return least
	}
	return end
}

// keepRecording records the outcome of requests already sent, until the
// deadline. An outcome not recorded is sent again once its lease runs
// out, a duplicate at the receiver, so it outlives the caller's
// cancellation (an activity past its deadline, a worker draining) and
// retries through a store that is away for a while (a database restart).
// A refusal of the row itself (an *webhook.Error other than unavailable)
// is not retried.
func keepRecording(ctx context.Context, deadline time.Time, record func(context.Context) error) error {
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
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
