package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/workflows"
)

// TestBatchLoopPublishesEveryEventOnce runs the batch publishers against a
// stand-in for the batch endpoint: every event goes once, in batches of at
// most the size asked for, and a wrong answer rejects the events it names.
func TestBatchLoopPublishesEveryEventOnce(t *testing.T) {
	var mu sync.Mutex
	seen, sizes := map[string]int{}, map[int]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/events/batch" || r.Header.Get("Authorization") != "Bearer k" {
			http.NotFound(w, r)
			return
		}
		var in struct {
			Events []struct {
				EventID   string `json:"event_id"`
				EventType string `json:"event_type"`
			} `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := map[string]any{"accepted": len(in.Events), "duplicates": 0}
		var evs []map[string]any
		mu.Lock()
		sizes[len(in.Events)]++
		for _, ev := range in.Events {
			seen[ev.EventID]++
			status := "accepted"
			if strings.HasSuffix(ev.EventID, "-7") {
				status = "rejected" // an answer the bench must not take for an accept
			}
			evs = append(evs, map[string]any{"event_id": ev.EventID, "event_type": ev.EventType, "status": status,
				"duplicate": false, "workflow_id": workflows.EventWorkflowID(ev.EventID), "created_at": time.Now().UTC()})
		}
		mu.Unlock()
		out["events"] = evs
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()

	sc := scenarios(options{payload: 64, batch: 4})[2]
	if sc.key != "ingest-batch" || sc.load != batchLoad || !sc.runsOn(sysHerald) || sc.runsOn(sysNaive) {
		t.Fatalf("scenario %+v", sc)
	}
	p := newPhase("herald", sc, 0)
	pb := newPublisher(srv.URL, "k", "run", 4)
	pb.batchLoop(context.Background(), p, 3, 4, limit{count: 18})

	if len(seen) != 18 {
		t.Errorf("%d distinct events published, want 18", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s published %d times", id, n)
		}
	}
	if sizes[4] != 4 || sizes[2] != 1 {
		t.Errorf("batch sizes %v, want four of 4 and one of 2", sizes)
	}
	f := p.figures(time.Now())
	if f.Accepted != 17 || f.Rejected != 1 || !strings.Contains(f.FirstRejection, "rejected") || f.correct() {
		t.Errorf("figures %+v", f)
	}
	if p.batchCount() != 5 || len(p.acceptedIDs()) != 17 {
		t.Errorf("%d batches, %d accepted", p.batchCount(), len(p.acceptedIDs()))
	}
}

// TestBatchScenarioIsHeraldsOnly checks the table and the checks of a
// scenario the baselines did not run.
func TestBatchScenarioIsHeraldsOnly(t *testing.T) {
	h := &figures{System: "herald", Published: 200, Accepted: 200, EventsPerSec: 900, ProcessedPerSec: 190, BatchSize: 100,
		Batches: 2, WorkflowsCompleted: 199, WorkflowsNotCompleted: 1, FirstWorkflowProblem: "event/x: RUNNING"}
	r := &storeReport{Store: "sqlite", Scenarios: []*scenarioResult{
		{Key: "ingest", Title: "(a)", Systems: map[string]*figures{"herald": {System: "herald", Accepted: 10, EventsPerSec: 180, ProcessedPerSec: 170},
			"plain": {System: "plain", Accepted: 10, EventsPerSec: 9000}, "naive": {System: "naive", Accepted: 10, EventsPerSec: 200}}},
		{Key: "ingest-batch", Title: "(a′)", Systems: map[string]*figures{"herald": h}},
	}}
	var out bytes.Buffer
	printTable(&out, r)
	printChecks(&out, r)
	text := out.String()
	for _, want := range []string{"| (a′) | events/s acknowledged (202) | 900 | n/a | n/a | n/a | n/a |",
		"acknowledged 900 against 180 events/s (5.00×)", "199 of 200 accepted", "event/x: RUNNING"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if r.check() {
		t.Error("a run with an event workflow not completed passed")
	}
}

func TestBatchFlags(t *testing.T) {
	o, err := parseFlags([]string{"-smoke", "-only", "ingest,ingest-batch"}, io.Discard)
	if err != nil || o.batch != 5 || o.batchConcurrency != 4 {
		t.Errorf("smoke: %+v, %v", o, err)
	}
	if o, err := parseFlags(nil, io.Discard); err != nil || o.batch != workflows.MaxIngestBatch {
		t.Errorf("default: batch %d, %v", o.batch, err)
	}
	if _, err := parseFlags([]string{"-batch", "101"}, io.Discard); err == nil {
		t.Error("-batch 101 accepted")
	}
}
