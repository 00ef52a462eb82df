package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// phase is one scenario run against one system: the events published and
// what of them is still on its way.
type phase struct {
	system   string
	scenario scenario
	hooks    []*hook
	// window bounds the events published and not yet delivered everywhere,
	// so that a system slower than its ingest drains in seconds, not
	// minutes; latencies under load are then the window's queueing time.
	// Nil for the loads that have none: open loops, bursts, batches.
	window chan struct{}

	mu        sync.Mutex
	events    map[string]*sent
	order     []*sent
	open      int // events not yet answered, or accepted and not delivered everywhere
	completed int // deliveries completed (first 200 per event and webhook)
	batches   int // batches answered 202 with every event accepted
}

// sent is one published event.
type sent struct {
	id        string
	seq       int
	publisher int // which of a closed loop's publishers sent it; -1 for none
	payload   []byte
	start     time.Time // just before the API call
	ackAt     time.Time
	status    int    // the API's answer; 0 when none came
	failure   string // why it was not accepted
	createdAt time.Time
	remaining int  // webhooks yet to get it
	slot      bool // holds a window slot
	finished  bool
}

// newPhase makes a phase; window 0 is none.
func newPhase(system string, sc scenario, window int) *phase {
	p := &phase{system: system, scenario: sc, events: map[string]*sent{}}
	if window > 0 {
		p.window = make(chan struct{}, window)
	}
	return p
}

// takeSlot waits for room in the window, if the phase has one; false when
// the run is cancelled first.
func (p *phase) takeSlot(ctx context.Context) bool {
	if p.window == nil {
		return ctx.Err() == nil
	}
	select {
	case p.window <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// giveSlot returns a slot taken for an event that was not published.
func (p *phase) giveSlot() {
	if p.window != nil {
		<-p.window
	}
}

func (s *sent) accepted() bool { return s.status == http.StatusAccepted && s.failure == "" }

// begin records an event about to be published by publisher (-1 for
// none); it holds a window slot when the phase has a window.
func (p *phase) begin(id string, seq, publisher int, payload []byte) *sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &sent{id: id, seq: seq, publisher: publisher, payload: payload, remaining: p.scenario.fanOut, slot: p.window != nil}
	p.events[id] = s
	p.order = append(p.order, s)
	p.open++
	s.start = time.Now()
	return s
}

// answered records the API's answer to a publish.
func (p *phase) answered(s *sent, status int, createdAt time.Time, failure string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.ackAt, s.status, s.createdAt, s.failure = time.Now(), status, createdAt, failure
	if !s.accepted() || s.remaining <= 0 {
		p.finish(s)
	}
}

// delivered counts a delivery completed at the receiver. Deliveries can
// complete before the API's answer reaches the publisher.
func (p *phase) delivered(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.events[id]
	if s == nil {
		return
	}
	p.completed++
	s.remaining--
	if s.remaining <= 0 && s.accepted() {
		p.finish(s)
	}
}

func (p *phase) finish(s *sent) {
	if s.finished {
		return
	}
	s.finished = true
	p.open--
	if s.slot {
		<-p.window
	}
}

// sentAsPublished tells whether a delivery's body carries the event it is
// for and, byte for byte, the payload published.
func (p *phase) sentAsPublished(id string, body []byte) bool {
	var env struct {
		EventID string          `json:"event_id"`
		Data    json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil || env.EventID != id {
		return false
	}
	p.mu.Lock()
	s := p.events[id]
	p.mu.Unlock()
	return s != nil && bytes.Equal(env.Data, s.payload)
}

func (p *phase) progress() (open, delivered int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, p.completed
}

// drain waits until every accepted event is delivered everywhere, giving
// up after limit or when nothing has moved for stall.
func (p *phase) drain(ctx context.Context, limit, stall time.Duration) {
	end := time.Now().Add(limit)
	last, moved := -1, time.Now()
	for time.Now().Before(end) && ctx.Err() == nil {
		open, delivered := p.progress()
		if open == 0 {
			return
		}
		if delivered != last {
			last, moved = delivered, time.Now()
		} else if time.Since(moved) > stall {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
