package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/loki-interceptor/herald/webhook"
)

// scenario is one workload. Each has an event type of its own, so that no
// webhook of one scenario sees another's events.
type scenario struct {
	key       string
	title     string
	eventType string
	fanOut    int  // webhooks subscribed
	flaky     int  // of them, how many refuse each event's first attempt
	steady    bool // open loop at half of fan-out 3's throughput
	// batch publishes through POST /api/v1/events/batch, which only Herald
	// has. It shares ingest's event type and payloads (nothing subscribes
	// to either), so that the two compare.
	batch   bool
	padding int // bytes added to each payload
}

func scenarios(payloadBytes, batchSize int) []scenario {
	list := []scenario{
		{key: "ingest", title: "(a) ingest only, no subscriber", eventType: webhook.ReportGenerated},
		{key: "ingest-batch", title: fmt.Sprintf("(a′) ingest in batches of %d, no subscriber", batchSize), eventType: webhook.ReportGenerated, batch: true},
		{key: "fanout1", title: "(b) fan-out 1", eventType: webhook.ValidationCompleted, fanOut: 1},
		{key: "fanout3", title: "(b) fan-out 3", eventType: webhook.ValidationFailed, fanOut: 3},
		{key: "fanout10", title: "(b) fan-out 10", eventType: webhook.DocumentProcessed, fanOut: 10},
		{key: "steady", title: "(c) fan-out 3, open loop at ½ of Herald's max", eventType: webhook.CorrectionApplied, fanOut: 3, steady: true},
		{key: "retry", title: "(d) fan-out 10, 1 in 10 webhooks 503 once", eventType: webhook.BatchCompleted, fanOut: 10, flaky: 1},
	}
	for i := range list {
		list[i].padding = payloadBytes
	}
	return list
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
	}
	b, _ := json.Marshal(fields)
	if pad := sc.padding - len(b) - len(`,"padding":""`); pad > 0 {
		fields["padding"] = strings.Repeat("x", pad)
		b, _ = json.Marshal(fields)
	}
	return b
}
