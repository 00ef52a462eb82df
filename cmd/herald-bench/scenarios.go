package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// scenario is one workload. Scenarios that load a system at the same time
// (a burst and the load that follows it) have event types of their own, so
// that no webhook of one sees the other's events; phases that run in turn
// may share one, since each deletes its webhooks once its work is done.
type scenario struct {
	key       string
	title     string
	eventType string
	fanOut    int // webhooks subscribed
	flaky     int // of them, how many refuse each event's first attempt
	load      loadKind
	// rate is an open load's events per second; 0 takes half of Herald's
	// fan-out 3 throughput, so that every system gets the same load.
	rate float64
	// duration is an open load's own length; 0 follows -duration/-events.
	duration time.Duration
	count    int // a burst's events
	// systems are the names of the systems it runs on; nil is Herald per
	// event and the baselines.
	systems []string
	// ordered has the receiver check that its webhook gets one request at
	// a time and each publisher's events in the order they were published.
	ordered bool
	// follows names the scenario whose load this one starts right after,
	// on the same system, while that one's backlog drains.
	follows string
	padding int // bytes added to each payload
}

// loadKind is how a scenario publishes.
type loadKind int

const (
	// closedLoad: -concurrency publishers, at most -window events
	// published and not yet delivered everywhere.
	closedLoad loadKind = iota
	// openLoad: a fixed rate whatever the system does, as independent
	// clients would publish.
	openLoad
	// burstLoad: a count of events from -burst-concurrency publishers,
	// each waiting for its own answer only (no window).
	burstLoad
	// batchLoad: POST /api/v1/events/batch, which only Herald has. It
	// shares ingest's event type and payloads (nothing subscribes to
	// either), so that the two compare.
	batchLoad
)

// lowRate is the events/s of the steady150 scenarios: to 3 webhooks, 150
// deliveries/s, well below every system's maximum, so that their latency
// is the system's own and not a queue's.
const lowRate = 50

func scenarios(o options) []scenario {
	herald := []string{sysHerald}
	streamToo := append([]string{sysHerald, sysStream}, baselines...)
	list := []scenario{
		// First whenever selected: it measures the stack's first minute.
		{key: "steady150-start", title: fmt.Sprintf("(e) %d events/s × fan-out 3, the first %s after start", lowRate, o.steadyStart),
			eventType: webhook.CorrectionApplied, fanOut: 3, load: openLoad, rate: lowRate, duration: o.steadyStart, systems: streamToo},
		{key: "ingest", title: "(a) ingest only, no subscriber", eventType: webhook.ReportGenerated},
		{key: "ingest-batch", title: fmt.Sprintf("(a′) ingest in batches of %d, no subscriber", o.batch), eventType: webhook.ReportGenerated,
			load: batchLoad, systems: herald},
		{key: "fanout1", title: "(b) fan-out 1", eventType: webhook.ValidationCompleted, fanOut: 1},
		{key: "fanout3", title: "(b) fan-out 3", eventType: webhook.ValidationFailed, fanOut: 3},
		{key: "fanout10", title: "(b) fan-out 10", eventType: webhook.DocumentProcessed, fanOut: 10},
		{key: "steady", title: "(c) fan-out 3, open loop at ½ of Herald's max", eventType: webhook.CorrectionApplied, fanOut: 3, load: openLoad},
		{key: "retry", title: "(d) fan-out 10, 1 in 10 webhooks 503 once", eventType: webhook.BatchCompleted, fanOut: 10, flaky: 1},
		{key: "burst", title: fmt.Sprintf("(f) burst of %d events, %d publishers, fan-out 3, no window", o.burstEvents, o.burstConcurrency),
			eventType: webhook.ComplianceAlert, fanOut: 3, load: burstLoad, count: o.burstEvents, systems: streamToo},
		{key: "steady150-after-burst", title: fmt.Sprintf("(f′) %d events/s × fan-out 3 for %s from the burst's last 202", lowRate, o.steadyAfterBurst),
			eventType: webhook.CorrectionApplied, fanOut: 3, load: openLoad, rate: lowRate, duration: o.steadyAfterBurst, systems: streamToo, follows: "burst"},
		{key: "steady500", title: fmt.Sprintf("(g) %g events/s × fan-out 3, open loop", o.steady500Rate), eventType: webhook.ValidationFailed,
			fanOut: 3, load: openLoad, rate: o.steady500Rate, systems: streamToo},
		{key: "steady990", title: "(h) 330 events/s × fan-out 3 (990 deliveries/s), open loop", eventType: webhook.ValidationFailed,
			fanOut: 3, load: openLoad, rate: 330, systems: streamToo},
		{key: "burst10k", title: fmt.Sprintf("(i) burst of %d events, %d publishers, fan-out 3, no window", o.burst10kEvents, o.burstConcurrency),
			eventType: webhook.ComplianceAlert, fanOut: 3, load: burstLoad, count: o.burst10kEvents, systems: []string{sysStream}},
		{key: "ordered", title: fmt.Sprintf("(j) ordered: %d events from %d publishers to 1 webhook", o.orderedEvents, o.burstConcurrency),
			eventType: webhook.DocumentProcessed, fanOut: 1, load: burstLoad, count: o.orderedEvents, systems: []string{sysOrdered}, ordered: true},
	}
	for i := range list {
		list[i].padding = o.payload
	}
	return list
}

// scenarioKeys lists every scenario's key, in the order they run.
func scenarioKeys() []string {
	var keys []string
	for _, sc := range scenarios(options{}) {
		keys = append(keys, sc.key)
	}
	return keys
}

// runsOn tells whether the scenario applies to the system.
func (sc scenario) runsOn(system string) bool {
	if sc.systems == nil {
		return system == sysHerald || slices.Contains(baselines, system)
	}
	return slices.Contains(sc.systems, system)
}

// payload is event seq's payload: the fields its type requires, and
// padding up to the payload size asked for.
func (sc scenario) payload(seq int) []byte {
	doc := fmt.Sprintf("doc_%d", seq)
	fields := map[string]any{}
	switch sc.eventType {
	case webhook.ReportGenerated:
		fields = map[string]any{"report_id": doc, "report_type": "bench", "report_url": "https://loki.example.com/r/" + doc}
	case webhook.ValidationCompleted:
		fields = map[string]any{"document_id": doc, "validation_status": "pass", "gates_passed": seq % 9}
	case webhook.ValidationFailed:
		fields = map[string]any{"document_id": doc, "error_code": "BENCH", "error_message": "benchmark event"}
	case webhook.DocumentProcessed:
		fields = map[string]any{"document_id": doc, "status": "completed"}
	case webhook.CorrectionApplied:
		fields = map[string]any{"document_id": doc, "corrections_count": seq % 7}
	case webhook.BatchCompleted:
		fields = map[string]any{"batch_id": doc, "total_documents": seq}
	case webhook.ComplianceAlert:
		fields = map[string]any{"alert_level": "low", "alert_type": "bench", "message": "benchmark event " + doc}
	}
	b, _ := json.Marshal(fields)
	if pad := sc.padding - len(b) - len(`,"padding":""`); pad > 0 {
		fields["padding"] = strings.Repeat("x", pad)
		b, _ = json.Marshal(fields)
	}
	return b
}
