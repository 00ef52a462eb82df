package integrations

import (
	"context"

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
	m.Run(w, len(evs), func(i int) bool {
		if ctx.Err() != nil {
			return false // cancelled: what has not gone is not made
		}
		made[i], errs[i] = d.Attempt(ctx, rec, w, evs[i], nil, plans[i])
		return errs[i] == nil && made[i] != nil && made[i].Row.Status == webhook.AttemptDelivered
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return made, nil
}
