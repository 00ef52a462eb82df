package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// ManyRecorder keeps the attempt rows of a batch to one webhook;
// *store.Store is one.
type ManyRecorder interface {
	StartAttempts(ctx context.Context, ds []*webhook.Attempt) error
	FinishAttempts(ctx context.Context, webhookID int64, done, unsent []*webhook.Attempt) error
}

// Many is how a batch is sent: side by side, at most Concurrency at once,
// or Sequential, one after another, stopping at the first attempt that is
// not delivered. A sequential batch also stops before an attempt that might
// outlast Deadline.
type Many struct {
	Sequential  bool
	Concurrency int
	Deadline    time.Time
}

// NoRoom says an attempt to w started now might outlast the deadline.
func (m Many) NoRoom(w *webhook.Webhook) bool {
	return !m.Deadline.IsZero() && time.Until(m.Deadline) < 2*w.Timeout()
}

// AttemptMany makes a batch of recorded attempts of events to one webhook:
// pending rows for all of them in one statement, the requests, and their
// outcomes recorded a few at a time as they come in, so that a worker lost
// mid-batch has recorded every answer but the last few (a slow receiver
// holds up no other's). made[i] is nil for an attempt a sequential batch
// did not make. Only recording can fail.
func (s *Sender) AttemptMany(ctx context.Context, rec ManyRecorder, w *webhook.Webhook, evs []*webhook.Event, plans []Plan, m Many) (made []*Attempted, err error) {
	reqs := make([]*Request, len(evs))
	failed := make([]*Result, len(evs)) // bodies that could not be made
	rows := make([]*webhook.Attempt, len(evs))
	opts := optionsOf(w)
	for i, ev := range evs {
		reqs[i], failed[i] = s.build(ctx, w, opts, ev, plans[i].Attempt)
		rows[i] = s.pendingRow(w.ID, ev, reqs[i], plans[i])
	}
	if err := rec.StartAttempts(ctx, rows); err != nil {
		return nil, &NotSent{err}
	}
	made = make([]*Attempted, len(evs))
	out := startFlusher(ctx, rec, w.ID, s.now)
	send := func(i int) {
		if ctx.Err() != nil {
			return // cancelled: what has not gone stays unsent, its row given back
		}
		a := &Attempted{Row: rows[i]}
		res := failed[i]
		if res == nil {
			sendCtx, cancel := uncut(ctx, reqs[i])
			res = s.Send(sendCtx, reqs[i])
			cancel()
		}
		a.settle(res, plans[i])
		made[i] = a
		out.add(a.Row)
	}
	m.Run(w, len(evs), func(i int) bool {
		send(i)
		return made[i] != nil && made[i].Row.Status == webhook.AttemptDelivered
	})
	var unsent []*webhook.Attempt
	for i, a := range made {
		if a == nil {
			unsent = append(unsent, rows[i])
		}
	}
	if err := out.close(unsent); err != nil {
		return nil, err
	}
	return made, nil
}

// flushEvery is how long a finished attempt waits for others to be
// recorded with it.
const flushEvery = 5 * time.Millisecond

// flusher records finished attempts in small groups, in the order they
// finished, from one goroutine.
type flusher struct {
	in   chan *webhook.Attempt
	last chan []*webhook.Attempt // the attempts never sent, at the end
	done chan error
}

func startFlusher(ctx context.Context, rec ManyRecorder, webhookID int64, now func() time.Time) *flusher {
	f := &flusher{in: make(chan *webhook.Attempt, 64), last: make(chan []*webhook.Attempt, 1), done: make(chan error, 1)}
	go func() {
		var group []*webhook.Attempt
		var first error
		flush := func(unsent []*webhook.Attempt) {
			if (len(group) > 0 || len(unsent) > 0) && first == nil {
				until := recordDeadline(group, now())
				first = keepRecording(ctx, until, func(ctx context.Context) error { return rec.FinishAttempts(ctx, webhookID, group, unsent) })
			}
			group = group[:0]
		}
		tick := time.NewTicker(flushEvery)
		defer tick.Stop()
		for {
			select {
			case d, ok := <-f.in:
				if !ok {
					flush(<-f.last)
					f.done <- first
					return
				}
				group = append(group, d)
			case <-tick.C:
				flush(nil)
			}
		}
	}()
	return f
}

func (f *flusher) add(d *webhook.Attempt) { f.in <- d }

// close records what is left and the attempts never sent, and returns the
// first error recording met.
func (f *flusher) close(unsent []*webhook.Attempt) error {
	f.last <- unsent
	close(f.in)
	return <-f.done
}

// Run makes attempts 0…n-1 to w with one, which reports whether its
// attempt delivered: side by side, at most Concurrency at once, or
// Sequential, each only after the one before delivered and while there is
// room before the deadline.
func (m Many) Run(w *webhook.Webhook, n int, one func(i int) (delivered bool)) {
	if m.Sequential {
		for i := range n {
			if i > 0 && m.NoRoom(w) || !one(i) {
				return
			}
		}
		return
	}
	slots := make(chan struct{}, max(m.Concurrency, 1))
	var wg sync.WaitGroup
	for i := range n {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			one(i)
		})
	}
	wg.Wait()
}

// leaseMargin is what a pending row's lease adds to its request's timeout:
// time to read the answer and record it, and longer than a workflow task's
// timeout (10 s), after which another worker runs a local activity again
// while a slow first one may still be sending.
const leaseMargin = 15 * time.Second

// leaseFor is how long a pending row stands for req in flight; 0 (the
// store's longest) when req has no timeout of its own.
func leaseFor(req *Request) time.Duration {
	if req.Timeout <= 0 {
		return 0
	}
	return req.Timeout + leaseMargin
}

// pendingRow is the attempt row of a request about to be sent.
func (s *Sender) pendingRow(webhookID int64, ev *webhook.Event, req *Request, p Plan) *webhook.Attempt {
	sent := s.now().UTC()
	shown := req.URL
	if req.ShownURL != "" {
		shown = req.ShownURL
	}
	body := req.Body
	if req.Plain != nil {
		body = req.Plain
	}
	return &webhook.Attempt{
		WebhookID: webhookID, EventID: ev.EventID, EventType: ev.EventType, AttemptNumber: p.Attempt, IsTest: p.Test,
		URL:            shown,
		RequestHeaders: webhook.RedactHeaders(FlatHeaders(req.Header)),
		RequestBody:    body,
		Signature:      req.Signature,
		SentAt:         &sent,
		Lease:          leaseFor(req),
	}
}
