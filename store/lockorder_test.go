package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

// Deleting a webhook while its attempts finish and its rate-limit slots are
// reserved must never deadlock: every transaction locks the webhook first.
func TestDeleteWhileDeliveringDoesNotDeadlock(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		for round := range 15 {
			w := mustWebhook(t, s, fmt.Sprintf("w%d", round), "*")
			var ds []*webhook.Attempt
			for i := range 6 {
				e := mustEvent(t, s, fmt.Sprintf("e%d-%d", round, i), "compliance.alert")
				s.SetSubscribers(ctx, e.EventID, []int64{w.ID}, nil)
				d := attempt(w, e, 1)
				if _, err := s.StartAttempt(ctx, d); err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
			}
			limits := []store.RateLimit{{Max: 100, Window: time.Minute}, {Max: 1000, Window: time.Hour}}
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for _, d := range ds {
				wg.Go(func() {
					code := 500
					d.Status, d.ResponseStatusCode = webhook.AttemptFailed, &code
					if err := s.FinishAttempt(ctx, d); err != nil && webhook.ErrorCode(err) != webhook.ENotFound {
						errs <- err
					}
				})
				wg.Go(func() {
					if _, err := s.ReserveSlot(ctx, w.ID, store.AttemptKey{}, limits, time.Now().Truncate(time.Minute).Add(time.Second)); err != nil && webhook.ErrorCode(err) != webhook.ENotFound {
						errs <- err
					}
				})
			}
			wg.Go(func() {
				if err := s.DeleteWebhook(ctx, w.ID); err != nil {
					errs <- err
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	})
}
