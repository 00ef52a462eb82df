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

func newPhase(system string, sc scenario, window int) *phase {
	return &phase{system: system, scenario: sc, window: make(chan struct{}, max(window, 1)), events: map[string]*sent{}}
}

func (s *sent) accepted() bool { return s.status == http.StatusAccepted && s.failure == "" }

// begin records an event about to be published.
func (p *phase) begin(id string, seq int, payload []byte, slot bool) *sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &sent{id: id, seq: seq, payload: payload, remaining: p.scenario.fanOut, slot: slot}
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
