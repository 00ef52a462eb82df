package ingest

import (
	"cmp"
	"context"
	"errors"

	"github.com/loki-interceptor/herald/groupcommit"
	"github.com/loki-interceptor/herald/webhook"
)

// request is one Publish waiting for its group.
type request struct {
	ctx  context.Context
	ev   *webhook.Event
	done chan outcome // buffered: a committer never waits for the caller
}

// MaxGroup bounds the events one group commits: a group's hand-off carries
// their ids, and a stream's signal must stay small.
const MaxGroup = 100

// maxHandOffGroups bounds the recorded groups one hand-off merges, and so
// the events one signal carries (Temporal refuses a payload over 2 MB).
const maxHandOffGroups = 10

// defaultGroups is how many groups are recorded at once unless
// Publisher.Groups says otherwise. One: each takes everything queued when
// it starts, and while it is handed off the next is recorded, so a burst
// makes groups as large as a hand-off is long, and Temporal gets one
// request per group instead of one per event.
const defaultGroups = 1

// queues sets up the Publisher's two queues: publishes waiting to be
// recorded, and recorded groups waiting to be handed off.
func (p *Publisher) queues() {
	p.once.Do(func() {
		p.records = &groupcommit.Queue[*request]{Run: p.commit, Max: MaxGroup, Workers: cmp.Or(p.Groups, defaultGroups)}
		p.handOffs = &groupcommit.Queue[*handOffJob]{Run: p.handOffGroups, Max: maxHandOffGroups}
	})
}

// commit records one group and passes it on to be handed off, answering
// each of its publishes when that is done. A publish repeating an event id
// of the same group shares its outcome (not new). The next group is
// recorded while this one is handed off: the database and Temporal each
// work on one group at a time, and the groups are handed off in the order
// they were recorded.
func (p *Publisher) commit(group []*request) {
	first := map[string]*request{}
	var evs []*webhook.Event
	for _, r := range group {
		if _, seen := first[r.ev.EventID]; !seen {
			first[r.ev.EventID] = r
			evs = append(evs, r.ev)
		}
	}
	// The group's calls go on whatever its first caller does; they carry
	// its trace.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), 2*p.startTimeout())
	rec, err := p.record(ctx, evs, false)
	if err != nil {
		cancel()
		answer(group, first, evs, nil, err)
		return
	}
	p.handOffs.Add(&handOffJob{rec: rec, ctx: ctx, done: func(err error) {
		cancel()
		answer(group, first, evs, rec.outs, err)
	}})
}

// handOffJob is a recorded group waiting for its hand-off.
type handOffJob struct {
	rec  *recorded
	ctx  context.Context
	done func(err error)
}

// handOffGroups hands off everything recorded while the last hand-off was
// under way, as one: Temporal gets one request per stream and one for the
// event workflows, however many groups it holds. Groups are handed off one
// after another, in the order they were recorded.
func (p *Publisher) handOffGroups(jobs []*handOffJob) {
	var pl plan
	for i, j := range jobs {
		// A per-event subscriber snapshotted differently in a later group
		// (its settings changed in between) splits the merge: each event's
		// workflow gets the subscribers as its own group recorded them.
		if i > 0 && !pl.agrees(&j.rec.plan) {
			p.handOffMerged(jobs[:i], &pl)
			p.handOffGroups(jobs[i:])
			return
		}
		pl.merge(&j.rec.plan)
	}
	p.handOffMerged(jobs, &pl)
}

// handOffMerged hands off the merged plan of jobs and answers each.
func (p *Publisher) handOffMerged(jobs []*handOffJob, pl *plan) {
	some, err := p.handOff(jobs[0].ctx, pl)
	for _, j := range jobs {
		if err != nil && !some {
			p.undo(j.ctx, j.rec.recs)
		}
		j.done(err)
	}
	if err == nil {
		go p.settle(context.WithoutCancel(jobs[0].ctx), pl)
	}
}

// answer tells each publish of a group its outcome.
func answer(group []*request, first map[string]*request, evs []*webhook.Event, outs []outcome, err error) {
	byID := make(map[string]outcome, len(outs))
	for i, o := range outs {
		byID[evs[i].EventID] = o
	}
	for _, r := range group {
		if err != nil {
			r.done <- outcome{err: forEvent(err, r.ev)}
			continue
		}
		o := byID[r.ev.EventID]
		if first[r.ev.EventID] != r && o.ev != nil {
			// A repeat within the group is judged against the event
			// recorded under its id, whatever the first publish was.
			o = outcome{ev: o.ev, err: sameOrConflict(o.ev, r.ev)}
		}
		r.done <- o
	}
}

// forEvent gives a group's failure to one of its publishes, naming its
// event id as the one to publish again.
func forEvent(err error, ev *webhook.Event) error {
	var herr *webhook.Error
	if errors.As(err, &herr) && herr.Code == webhook.EUnavailable {
		return &webhook.Error{Code: herr.Code, Message: herr.Message, Details: map[string]string{"event_id": ev.EventID}}
	}
	return err
}
