package main

import (
	"crypto/sha256"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// figures are one phase's measurements and what the receiver found.
type figures struct {
	System         string `json:"system"`
	Published      int    `json:"published"`
	Accepted       int    `json:"accepted"`
	Rejected       int    `json:"rejected"`
	FirstRejection string `json:"first_rejection,omitempty"`
	// Shed are the rejections that were 503s: Herald, overloaded, told the
	// publisher that nothing was accepted and to publish again. That is
	// the answer an overloaded service owes, so it is counted, not failed;
	// such an event arriving all the same (DeliveredRejected) fails.
	Shed int `json:"shed"`

	Expected     int `json:"deliveries_expected"`
	Delivered    int `json:"delivered"`
	Missing      int `json:"missing"`
	Duplicates   int `json:"duplicates"`
	BadSignature int `json:"bad_signature"`
	BadBody      int `json:"bad_body"`
	// Unexpected are requests for events this phase never published.
	Unexpected int `json:"unexpected"`
	// DeliveredRejected are events answered with an error that arrived anyway.
	DeliveredRejected int `json:"delivered_though_rejected"`

	Seconds float64 `json:"seconds"` // first publish to last delivery (or last answer)
	// SettleSeconds is how long after the load the system took to finish
	// its work: deliveries, and workflows closing.
	SettleSeconds float64 `json:"settle_seconds"`
	SettleError   string  `json:"settle_error,omitempty"`
	OfferedPerSec float64 `json:"offered_events_per_sec,omitempty"`
	EventsPerSec  float64 `json:"events_per_sec"` // accepted
	// ProcessedPerSec counts the time until the system had finished with
	// the events (workflows closed): what it sustains, where EventsPerSec
	// is what it acknowledges.
	ProcessedPerSec  float64     `json:"events_per_sec_processed"`
	DeliveriesPerSec float64     `json:"deliveries_per_sec"`
	AckMS            percentiles `json:"ack_ms"`
	LatencyMS        percentiles `json:"latency_ms"` // API call start to arrival at the receiver
	// HistoryPerDelivery is Temporal history events per delivery (per
	// event when the scenario has no subscriber), over a sample.
	HistoryPerDelivery float64            `json:"history_events_per_delivery,omitempty"`
	HistoryByType      map[string]float64 `json:"history_events_per_delivery_by_type,omitempty"`

	// Batch ingest (scenario ingest-batch, Herald only): ProcessedPerSec
	// runs to the close of the last event workflow, as Temporal recorded
	// it, and every accepted event's workflow is described.
	BatchSize int `json:"batch_size,omitempty"`
	Batches   int `json:"batches,omitempty"` // answered 202, every event accepted
	// DrainSeconds is from the last 202 to the last delivery, or in batch
	// ingest to the last event workflow closed: the backlog left when the
	// publishers were done.
	DrainSeconds float64 `json:"drain_seconds,omitempty"`
	// WorkflowsCompleted are accepted events whose EventWorkflow completed
	// with status no_subscribers; WorkflowsNotCompleted the others.
	WorkflowsCompleted    int    `json:"event_workflows_completed,omitempty"`
	WorkflowsNotCompleted int    `json:"event_workflows_not_completed,omitempty"`
	FirstWorkflowProblem  string `json:"first_workflow_problem,omitempty"`
	// DispatchedGroups are the groups (here: batches) the phase's events
	// were signalled to the dispatcher in.
	DispatchedGroups int `json:"dispatched_groups,omitempty"`
	// IngestHistoryPerEvent is the dispatcher's history events per event
	// it started; HistoryPerDelivery includes it.
	IngestHistoryPerEvent float64 `json:"ingest_history_events_per_event,omitempty"`

	// Ordered delivery (scenario ordered): requests that reached the
	// webhook while another was in flight, and events that arrived before
	// one their publisher had published earlier. Either fails the run.
	OrderChecked bool `json:"order_checked,omitempty"`
	Overlaps     int  `json:"overlapping_requests,omitempty"`
	OutOfOrder   int  `json:"out_of_order,omitempty"`
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (f *figures) correct() bool {
	return f.Accepted > 0 && f.Rejected == f.Shed && f.DeliveredRejected == 0 && f.Missing == 0 && f.BadSignature == 0 && f.BadBody == 0 && f.Unexpected == 0 &&
		f.SettleError == "" && f.WorkflowsNotCompleted == 0 && f.Overlaps == 0 && f.OutOfOrder == 0
}

// tally gathers a phase's timings as its events are checked.
type tally struct {
	acks, lats                  []time.Duration
	first, lastAck, lastArrival time.Time
}

// figures checks every accepted event against every webhook: arrived once
// with a 200, every request signed, every body the exact bytes expected.
// settled is when the system had finished its work.
func (p *phase) figures(settled time.Time) *figures {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := &figures{System: p.system}
	var t tally
	for _, s := range p.order {
		f.Published++
		if t.first.IsZero() || s.start.Before(t.first) {
			t.first = s.start
		}
		if !s.accepted() {
			f.Rejected++
			if s.status == http.StatusServiceUnavailable {
				f.Shed++
				continue
			}
			if f.FirstRejection == "" {
				f.FirstRejection = s.failure
			}
			continue
		}
		f.Accepted++
		t.acks = append(t.acks, s.ackAt.Sub(s.start))
		t.lastAck = latest(t.lastAck, s.ackAt)
		p.checkEvent(f, s, &t)
	}
	f.Unexpected, f.DeliveredRejected = p.strays()
	if p.scenario.ordered {
		f.OrderChecked, f.Overlaps, f.OutOfOrder = true, p.overlaps(), p.outOfOrderArrivals()
	}
	f.AckMS, f.LatencyMS = percentilesOf(t.acks), percentilesOf(t.lats)
	if t.lastArrival.After(t.lastAck) {
		f.DrainSeconds = t.lastArrival.Sub(t.lastAck).Seconds()
	}
	if span := t.lastAck.Sub(t.first).Seconds(); span > 0 {
		f.Seconds, f.EventsPerSec = span, float64(f.Accepted)/span
		f.ProcessedPerSec = float64(f.Accepted) / settled.Sub(t.first).Seconds()
	}
	// Deliveries per second run to the last arrival: the backlog a
	// system built up while acknowledging is part of its work.
	if span := t.lastArrival.Sub(t.first).Seconds(); len(t.lats) > 0 && span > 0 {
		f.Seconds, f.DeliveriesPerSec = span, float64(f.Delivered)/span
	}
	return f
}

// checkEvent checks one accepted event at every webhook.
func (p *phase) checkEvent(f *figures, s *sent, t *tally) {
	want := p.expectedBody(s)
	for _, h := range p.hooks {
		f.Expected++
		a := h.arrival(s.id)
		if a == nil || a.ok == 0 {
			f.Missing++
			continue
		}
		f.Delivered++
		f.Duplicates += a.ok - 1
		if a.badSignature > 0 {
			f.BadSignature++
		}
		if a.badData > 0 || a.bodiesDiffer || a.body != want {
			f.BadBody++
		}
		t.lats = append(t.lats, a.firstOK.Sub(s.start))
		t.lastArrival = latest(t.lastArrival, a.firstOK)
	}
}

// expectedBody is the hash of the envelope the event must arrive in: the
// fields published, created_at as the API answered it.
func (p *phase) expectedBody(s *sent) [32]byte {
	ev := webhook.Event{EventID: s.id, EventType: p.scenario.eventType, Source: benchSource, SourceID: strconv.Itoa(s.seq),
		Payload: s.payload, CreatedAt: s.createdAt}
	body, _ := ev.Body()
	return sha256.Sum256(body)
}

// strays counts requests for events the phase never published, and
// events the API refused that arrived all the same.
func (p *phase) strays() (unexpected, deliveredRejected int) {
	for _, h := range p.hooks {
		h.mu.Lock()
		for id := range h.got {
			switch s := p.events[id]; {
			case s == nil:
				unexpected++
			case !s.accepted():
				deliveredRejected++
			}
		}
		h.mu.Unlock()
	}
	return unexpected, deliveredRejected
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func percentilesOf(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(ds))), len(ds)-1)
		return float64(ds[i]) / float64(time.Millisecond)
	}
	return percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: at(1)}
}
