package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// The retry schedule every system gets: Herald's webhooks are created with
// it (fixed, 1 s, 5 retries) and the baselines copy it.
const (
	retryDelay  = time.Second
	maxAttempts = 6
)

// plainSystem is the physical limit: the API answers 202 and goroutines
// post the deliveries at once, retrying from memory. A crash loses
// everything in flight, and nothing is recorded.
type plainSystem struct {
	*baseline
	slots    chan struct{} // attempts in flight, bounded as a worker bounds them
	inFlight atomic.Int64  // deliveries not yet ended, waiting retries included
}

func startPlain() (*plainSystem, error) {
	p := &plainSystem{slots: make(chan struct{}, workerSlots)}
	b, err := startBaseline(p.accept)
	p.baseline = b
	return p, err
}

func (p *plainSystem) name() string { return sysPlain }

func (p *plainSystem) accept(_ context.Context, ev *webhook.Event, hooks []*hook) error {
	body, err := ev.Body()
	if err != nil {
		return err
	}
	for _, h := range hooks {
		p.inFlight.Add(1)
		go p.deliver(h.url, h.secret, ev, body, 1)
	}
	return nil
}

func (p *plainSystem) deliver(url, secret string, ev *webhook.Event, body []byte, attempt int) {
	p.slots <- struct{}{}
	err := p.post.send(context.Background(), url, secret, ev, body, attempt)
	<-p.slots
	if err != nil && attempt < maxAttempts {
		time.AfterFunc(retryDelay, func() { p.deliver(url, secret, ev, body, attempt+1) })
		return
	}
	p.inFlight.Add(-1)
}

func (p *plainSystem) settle(ctx context.Context) error {
	for p.inFlight.Load() > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return ctx.Err()
}
