package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/netguard"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
)

// An attempt retried after it finished (the activity's completion was lost)
// reports the recorded outcome and sends nothing.
func TestFinishedAttemptIsNotSentAgain(t *testing.T) {
	hits, url := mustAnswering(t, 503)
	st, w, ev := mustRecorded(t, url)
	ctx := context.Background()
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	plan := delivery.Plan{Attempt: 1, RetryIn: time.Minute}
	first, err := s.Attempt(ctx, st, w, ev, plan)
	if err != nil || first.Replayed || first.Row.Status != webhook.AttemptRetrying || first.RetryIn != time.Minute || first.StatusCode() != 503 {
		t.Fatalf("first attempt: %+v %v", first, err)
	}
	again, err := s.Attempt(ctx, st, w, ev, plan)
	if err != nil || !again.Replayed || again.Row.ID != first.Row.ID || again.StatusCode() != 503 {
		t.Fatalf("replayed attempt: %+v %v", again, err)
	}
	if again.RetryIn <= 0 || again.RetryIn > time.Minute {
		t.Fatalf("replayed wait %v, want what is left of the minute", again.RetryIn)
	}
	if hits.Load() != 1 {
		t.Fatalf("receiver hit %d times", hits.Load())
	}
}

// mustAnswering is a receiver that answers every request with status, and
// the count of requests it got.
func mustAnswering(t *testing.T, status int) (*atomic.Int32, string) {
	hits := new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return hits, srv.URL
}

// mustRecorded stores a webhook pointing at url and an event for it.
func mustRecorded(t *testing.T, url string) (*store.Store, *webhook.Webhook, *webhook.Event) {
	t.Helper()
	st := storetest.MustOpen(t, schema.SQLite)
	ctx := context.Background()
	w := hook(url)
	w.ID = 0
	if err := st.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	ev := &webhook.Event{EventID: "e1", EventType: "system.error", Source: "loki",
		Payload: json.RawMessage(`{"error_code":"E","component":"c","severity":"low"}`), CreatedAt: time.Now()}
	if _, err := st.CreateEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	return st, w, ev
}

// A worker that is slow, not dead, loses its workflow task while its
// request is in flight, and another worker makes the same attempt: the
// second sends nothing while the first may still be answered, and once the
// first has recorded its outcome, the second reports that outcome.
func TestAttemptInFlightElsewhereIsNotSentTwice(t *testing.T) {
	var hits atomic.Int32
	arrived, answer := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			close(arrived)
			<-answer // the first executor's request hangs until told
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	var once sync.Once
	release := func() { once.Do(func() { close(answer) }) }
	defer release() // before the server closes, should the test fail
	st, w, ev := mustRecorded(t, srv.URL)
	ctx := context.Background()
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	plan := delivery.Plan{Attempt: 1, RetryIn: time.Minute}

	first := make(chan *delivery.Attempted, 1)
	go func() {
		a, err := s.Attempt(ctx, st, w, ev, plan)
		if err != nil {
			t.Error(err)
		}
		first <- a
	}()
	<-arrived
	if a, err := s.Attempt(ctx, st, w, ev, plan); webhook.ErrorCode(err) != webhook.EConflict || a != nil {
		t.Fatalf("second executor while the first is in flight: %+v %v, want a conflict and nothing sent", a, err)
	}
	release()
	made := <-first
	again, err := s.Attempt(ctx, st, w, ev, plan)
	if err != nil || !again.Replayed || again.Row.ID != made.Row.ID || again.Row.Status != webhook.AttemptDelivered {
		t.Fatalf("second executor after the first finished: %+v %v", again, err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("receiver hit %d times, want 1", n)
	}
}

// flakyRecorder is the store, away for its first few FinishAttempt calls
// (a database restart), during which the caller's deadline also passes.
type flakyRecorder struct {
	*store.Store
	away   int
	cancel context.CancelFunc
}

func (r *flakyRecorder) FinishAttempt(ctx context.Context, d *webhook.Attempt) error {
	if r.away > 0 {
		r.away--
		r.cancel()
		return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return r.Store.FinishAttempt(ctx, d)
}

// An outcome that could not be recorded at once is kept trying, past the
// caller's cancellation: left pending, the attempt would be sent again
// when its lease runs out, a duplicate at the receiver.
func TestOutcomeIsRecordedThroughAStoreAwayAndPastCancellation(t *testing.T) {
	hits, url := mustAnswering(t, 200)
	st, w, ev := mustRecorded(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &flakyRecorder{Store: st, away: 3, cancel: cancel}
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	a, err := s.Attempt(ctx, rec, w, ev, delivery.Plan{Attempt: 1, RetryIn: time.Minute})
	if err != nil || a.Row.Status != webhook.AttemptDelivered {
		t.Fatalf("attempt: %+v %v", a, err)
	}
	again, err := s.Attempt(context.Background(), st, w, ev, delivery.Plan{Attempt: 1, RetryIn: time.Minute})
	if err != nil || !again.Replayed || again.Row.Status != webhook.AttemptDelivered {
		t.Fatalf("the attempt as recorded: %+v %v", again, err)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("receiver hit %d times, want 1", n)
	}
}

// A batch whose caller is cancelled mid-way (Temporal gave its activity to
// another worker) lets the request in flight finish and records its answer,
// and sends nothing more: the rows of what did not go are removed, for the
// next try to make.
func TestCancelledBatchFinishesWhatWentAndSendsNoMore(t *testing.T) {
	var hits atomic.Int32
	arrived, answer := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			close(arrived)
			<-answer
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	st, w, first := mustRecorded(t, srv.URL)
	second := *first
	second.EventID = "e2"
	if _, err := st.CreateEvent(context.Background(), &second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
		close(answer)
	}()
	s := delivery.NewSender(delivery.Options{Allow: netguard.Loopback})
	plans := []delivery.Plan{{Attempt: 1, RetryIn: time.Minute}, {Attempt: 1, RetryIn: time.Minute}}
	made, err := s.AttemptMany(ctx, st, w, []*webhook.Event{first, &second}, plans, delivery.Many{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if made[0] == nil || made[0].Row.Status != webhook.AttemptDelivered || made[1] != nil {
		t.Fatalf("made %+v, want the first delivered and the second not made", made)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("receiver hit %d times, want 1", n)
	}
	ds, _, err := st.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: w.ID})
	if err != nil || len(ds) != 1 || ds[0].EventID != "e1" || ds[0].Status != webhook.AttemptDelivered {
		t.Fatalf("rows %+v %v, want e1's alone, delivered", ds, err)
	}
}
