package ingest

import (
	"context"
	"slices"
	"sync"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// StartRecorded makes sure the workflow of each event of a group exists,
// for its IngestWorkflow. The starts go in order, a few at a time across
// every group this Publisher serves, so a burst of groups queues here
// instead of swamping Temporal's frontend. skip is how many of the events
// a previous try settled; done is told, after each, how many of the first
// events are settled. An event whose row is gone (its accept was undone)
// is skipped.
func (p *Publisher) StartRecorded(ctx context.Context, in workflows.IngestInput, skip int, done func(settled int)) error {
	starts := recordedStarts(in)
	prog := &progress{finished: make([]bool, len(starts)), settled: skip, done: done}
	ids := make([]string, 0, len(starts))
	for _, s := range starts[min(skip, len(starts)):] {
		ids = append(ids, s.EventID)
	}
	evs, err := p.Store.EventsByID(ctx, ids)
	if err != nil {
		return err
	}
	recorded := make(map[string]*webhook.Event, len(evs))
	for _, ev := range evs {
		recorded[ev.EventID] = ev
	}
	var wg sync.WaitGroup
	for i := skip; i < len(starts) && !prog.givingUp() && ctx.Err() == nil; i++ {
		ev := recorded[starts[i].EventID]
		if ev == nil || (in.Events == nil && ran(ev)) {
			prog.finish(i)
			continue
		}
		if p.acquire(ctx) != nil {
			break
		}
		wg.Go(func() {
			defer p.release()
			if err := p.startOne(ctx, ev, starts[i], in); err != nil {
				prog.fail(err)
				return
			}
			prog.finish(i)
		})
	}
	wg.Wait()
	if err := prog.err(); err != nil {
		return err
	}
	return ctx.Err() // cancelled before every start was made
}

// recordedStarts lists a group's events, from either form of its input.
func recordedStarts(in workflows.IngestInput) []workflows.IngestEvent {
	if in.Events != nil {
		return in.Events
	}
	out := make([]workflows.IngestEvent, len(in.EventIDs))
	for i, id := range in.EventIDs {
		out[i] = workflows.IngestEvent{EventID: id}
	}
	return out
}

// startOne starts one event's workflow: with its recorded subscribers, or
// for an older Herald's group, resolving them itself.
func (p *Publisher) startOne(ctx context.Context, ev *webhook.Event, e workflows.IngestEvent, in workflows.IngestInput) error {
	if in.Events == nil {
		return p.start(ctx, ev, workflows.EventInput{Event: *ev}, workflows.StartAttributes(ev))
	}
	subs := make([]workflows.Subscriber, 0, len(e.WebhookIDs))
	for _, id := range e.WebhookIDs {
		if i := slices.IndexFunc(in.Subscribers, func(s workflows.Subscriber) bool { return s.WebhookID == id }); i >= 0 {
			subs = append(subs, in.Subscribers[i])
		}
	}
	return p.startEvent(ctx, ev, subs)
}

// ran says an event of an older Herald's group has run: its workflow
// recorded the event's subscribers, or finished (with none).
func ran(ev *webhook.Event) bool {
	return ev.TotalDeliveries > 0 || ev.ProcessedAt != nil
}

// progress counts a group's settled prefix as its starts finish. A start
// that fails leaves a gap for the next try, and the others go on, so one
// event Temporal keeps refusing holds up no other; after a few failures
// (Temporal unreachable, most likely) the rest wait for the next try too.
type progress struct {
	mu       sync.Mutex
	finished []bool
	settled  int
	done     func(settled int)
	failures int
	first    error
}

// maxStartFailures is how many failed starts end a try early.
const maxStartFailures = 3

func (pr *progress) fail(err error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.failures++
	if pr.first == nil {
		pr.first = err
	}
}

func (pr *progress) givingUp() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.failures >= maxStartFailures
}

func (pr *progress) err() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.first
}

func (pr *progress) finish(i int) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.finished[i] = true
	for pr.settled < len(pr.finished) && pr.finished[pr.settled] {
		pr.settled++
	}
	if pr.done != nil {
		pr.done(pr.settled)
	}
}

// startsInFlight bounds a Publisher's concurrent workflow starts for
// groups: enough to hide a start's round trip, few enough to leave
// Temporal room for everything else. On one history shard more starts in
// flight do not start more workflows a second; they queue in the engine,
// ahead of the signals that acknowledge publishes (measured in
// docs/performance.md: a burst's acknowledgements at 32, 8 and 4 in
// flight were 97, 138–176 and 304 events/s, deliveries 260–316/s at all).
const startsInFlight = 8

func (p *Publisher) acquire(ctx context.Context) error {
	p.slotsOnce.Do(func() { p.slots = make(chan struct{}, startsInFlight) })
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Publisher) release() { <-p.slots }
