package integrations

import (
	"context"
	"sync"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/webhook"
)

// AttemptMany makes recorded attempts of evs to the subscriber w, side by
// side or in order as m says: a webhook's as one recorded batch, an
// integration's one recorded attempt at a time. Once ctx is cancelled no
// further attempt starts; those not made are nil.
func (d *Deliverer) AttemptMany(ctx context.Context, rec Recorder, w *webhook.Webhook, evs []*webhook.Event, plans []delivery.Plan, m delivery.Many) ([]*delivery.Attempted, error) {
	if w.Integration == nil {
		return d.HTTP.AttemptMany(ctx, rec, w, evs, plans, m)
	}
	made := make([]*delivery.Attempted, len(evs))
	errs := make([]error, len(evs))
	one := func(i int) {
		if ctx.Err() != nil {
			return // cancelled: what has not gone is not made
		}
		made[i], errs[i] = d.Attempt(ctx, rec, w, evs[i], nil, plans[i])
	}
	if m.Sequential {
		for i := range evs {
			if i > 0 && (errs[i-1] != nil || made[i-1] == nil || made[i-1].Row.Status != webhook.AttemptDelivered || m.NoRoom(w)) {
				break
			}
			one(i)
		}
	} else {
		slots := make(chan struct{}, max(m.Concurrency, 1))
		var wg sync.WaitGroup
		for i := range evs {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				one(i)
			})
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return made, nil
}
