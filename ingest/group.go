package ingest

import (
	"context"
	"errors"

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

// defaultGroups is how many groups commit at once unless Publisher.Groups
// says otherwise. A group's time is mostly Temporal's answer to its
// starts: at moderate load enough groups are under way that each publish
// starts its event's workflow at once; under a burst the queue outgrows
// them, groups grow, and each is handed off with one start.
const defaultGroups = 8

// enqueue adds a publish to the next group, starting a committer when
// fewer than the limit are at work. A committer takes whatever has queued
// when it is free, so a lone publish goes at once and a burst forms groups
// as large as the time the previous ones took.
func (p *Publisher) enqueue(r *request) {
	limit := p.Groups
	if limit <= 0 {
		limit = defaultGroups
	}
	p.mu.Lock()
	p.queue = append(p.queue, r)
	start := p.running < limit
	if start {
		p.running++
	}
	p.mu.Unlock()
	if start {
		go p.commitLoop()
	}
}

// commitLoop commits groups until the queue is empty.
func (p *Publisher) commitLoop() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.running--
			p.mu.Unlock()
			return
		}
		n := min(len(p.queue), MaxGroup)
		group := p.queue[:n:n]
		p.queue = p.queue[n:]
		p.mu.Unlock()
		p.commit(group)
	}
}

// commit accepts one group and answers each of its publishes. A publish
// repeating an event id of the same group shares its outcome (not new).
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
	defer cancel()
	outs, err := p.accept(ctx, evs, false)
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
		if first[r.ev.EventID] != r && o.err == nil {
			if !Same(o.ev, r.ev) {
				o.err = sameOrConflict(o.ev, r.ev)
			}
			o.created = false
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
