package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// Scenario (a′) publishes through POST /api/v1/events/batch, which only
// Herald has: one IngestWorkflow start per batch, which then starts each
// event's own workflow. The 202 comes once Temporal holds the batch; the
// drain is how long Temporal then takes to run every event's workflow.

// batchIngester is a system that takes events in batches.
type batchIngester interface {
	system
	// drainBatches waits until count event workflows of the type have
	// completed and no IngestWorkflow or EventWorkflow is left running.
	drainBatches(ctx context.Context, eventType string, count int64, stall time.Duration, progress io.Writer) error
	// completedEvents counts the completed event workflows of the type.
	completedEvents(ctx context.Context, eventType string) (int64, error)
	// checkEventWorkflows describes each event's workflow.
	checkEventWorkflows(ctx context.Context, ids []string) workflowCheck
	// checkDispatched reads the dispatcher's history for the events' groups.
	checkDispatched(ctx context.Context, ids []string) (ingestCheck, error)
}

// batchLoop publishes batches of size events from workers publishers, each
// waiting for its answer before the next batch. Event numbers are claimed
// a batch at a time, so ids stay unique and consecutive.
func (pb *publisher) batchLoop(ctx context.Context, p *phase, workers, size int, l limit) {
	var next atomic.Int64 // events claimed
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				last := next.Add(int64(size))
				first := last - int64(size) + 1
				if l.count > 0 {
					last = min(last, int64(l.count))
				}
				if first > last || l.done(first) {
					return
				}
				pb.publishBatch(ctx, p, int(first), int(last))
			}
		})
	}
	wg.Wait()
}

// batchAnswer is the part of the batch endpoint's 202 the bench checks.
type batchAnswer struct {
	Accepted   int                     `json:"accepted"`
	Duplicates int                     `json:"duplicates"`
	Events     []webhook.AcceptedEvent `json:"events"`
}

// publishBatch sends events first..last of the phase in one request and
// records the answer for each: accepted only when the batch got its 202
// and the event its own line, new and in order.
func (pb *publisher) publishBatch(ctx context.Context, p *phase, first, last int) {
	type input struct {
		EventID   string          `json:"event_id"`
		EventType string          `json:"event_type"`
		Source    string          `json:"source"`
		SourceID  string          `json:"source_id"`
		Payload   json.RawMessage `json:"payload"`
	}
	var in struct {
		Events []input `json:"events"`
	}
	for seq := first; seq <= last; seq++ {
		in.Events = append(in.Events, input{EventID: fmt.Sprintf("%s-%s-%s-%d", pb.runID, p.system, p.scenario.key, seq),
			EventType: p.scenario.eventType, Source: benchSource, SourceID: fmt.Sprint(seq), Payload: p.scenario.payload(seq)})
	}
	body, _ := json.Marshal(in)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, pb.url+"/batch", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+pb.key)
	sents := make([]*sent, len(in.Events))
	for i, ev := range in.Events {
		sents[i] = p.begin(ev.EventID, first+i, -1, ev.Payload)
	}
	failAll := func(status int, why string) {
		for _, s := range sents {
			p.answered(s, status, time.Time{}, why)
		}
	}
	resp, err := pb.client.Do(req)
	if err != nil {
		failAll(0, err.Error())
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ack batchAnswer
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &ack) != nil {
		failAll(resp.StatusCode, fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, raw))
		return
	}
	if len(ack.Events) != len(sents) || ack.Accepted != len(sents) || ack.Duplicates != 0 {
		failAll(resp.StatusCode, fmt.Sprintf("batch of %d answered accepted %d, duplicates %d, %d events",
			len(sents), ack.Accepted, ack.Duplicates, len(ack.Events)))
		return
	}
	p.mu.Lock()
	p.batches++
	p.mu.Unlock()
	for i, s := range sents {
		a := ack.Events[i]
		if a.EventID != s.id || a.EventType != p.scenario.eventType || a.Status != "accepted" || a.Duplicate ||
			a.WorkflowID != workflows.EventWorkflowID(s.id) {
			p.answered(s, resp.StatusCode, time.Time{}, fmt.Sprintf("events[%d] answered %+v", i, a))
			continue
		}
		p.answered(s, resp.StatusCode, a.CreatedAt, "")
	}
}

// runBatchPhase loads Herald through the batch endpoint, waits until every
// accepted event's workflow has completed, and checks each of them and
// every IngestWorkflow in Temporal.
func (b *bench) runBatchPhase(ctx context.Context, sys batchIngester, sc scenario) (*figures, error) {
	p := newPhase(sys.name(), sc, 0)
	// Earlier phases published the same event type: their completed
	// workflows are counted out.
	before, err := sys.completedEvents(ctx, sc.eventType)
	if err != nil {
		return nil, err
	}
	base, key := sys.ingest()
	pub := newPublisher(base, key, b.runID, 2*b.o.batchConcurrency)
	defer pub.client.CloseIdleConnections()
	burst := b.o.events
	if burst <= 0 {
		burst = b.o.batchEvents
	}
	pub.batchLoop(ctx, p, b.o.batchConcurrency, b.o.batch, limit{count: burst, until: time.Now().Add(b.o.duration)})
	loaded := time.Now()
	ids := p.acceptedIDs()
	// The drain may take many times the load: Temporal starts the events'
	// workflows at its own pace. It fails the phase, not the run, when it
	// stops moving or passes this limit.
	drainCtx, cancel := context.WithTimeout(ctx, b.patience())
	defer cancel()
	drainErr := sys.drainBatches(drainCtx, sc.eventType, before+int64(len(ids)), time.Minute, b.progress)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	settled := time.Now()
	wc := sys.checkEventWorkflows(ctx, ids)
	ic, icErr := sys.checkDispatched(ctx, ids)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	end := wc.lastClose
	if end.IsZero() {
		end = settled
	}
	f := p.figures(end)
	f.SettleSeconds = settled.Sub(loaded).Seconds()
	f.BatchSize, f.Batches = b.o.batch, p.batchCount()
	f.WorkflowsCompleted, f.WorkflowsNotCompleted, f.FirstWorkflowProblem = wc.completed, wc.notCompleted, wc.firstProblem
	if lastAck := p.lastAck(); !wc.lastClose.IsZero() && !lastAck.IsZero() {
		f.DrainSeconds = wc.lastClose.Sub(lastAck).Seconds()
	}
	judgeBatches(ctx, sys, p, f, ic, icErr, drainErr)
	b.report(sc, f)
	return f, nil
}

// judgeBatches adds to a batch phase's figures what the dispatcher did:
// why the phase did not settle, if it did not, and the history it cost.
func judgeBatches(ctx context.Context, sys batchIngester, p *phase, f *figures, ic ingestCheck, icErr, drainErr error) {
	f.DispatchedGroups = ic.groups
	switch {
	case drainErr != nil:
		f.SettleError = drainErr.Error()
	case icErr != nil:
		f.SettleError = "read the dispatcher's history: " + icErr.Error()
	case ic.groups != f.Batches:
		f.SettleError = fmt.Sprintf("%d batches accepted, %d handed to the dispatcher", f.Batches, ic.groups)
	}
	if d, ok := sys.(durable); ok {
		f.HistoryPerDelivery, f.HistoryByType = historyPerDelivery(ctx, d, p)
		if ic.perEvent > 0 && f.HistoryPerDelivery > 0 {
			f.IngestHistoryPerEvent = ic.perEvent
			f.HistoryPerDelivery += ic.perEvent
		}
	}
}

func (p *phase) acceptedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, s := range p.order {
		if s.accepted() {
			ids = append(ids, s.id)
		}
	}
	return ids
}

func (p *phase) lastAck() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	var t time.Time
	for _, s := range p.order {
		if s.accepted() {
			t = latest(t, s.ackAt)
		}
	}
	return t
}

func (p *phase) batchCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.batches
}

// completedQuery selects the completed event workflows of a type.
func completedQuery(eventType string) string {
	return fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND ExecutionStatus = 'Completed'",
		workflows.EventWorkflowName, workflows.SearchEventType.GetName(), eventType)
}

func (h *heraldSystem) completedEvents(ctx context.Context, eventType string) (int64, error) {
	resp, err := h.s.client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: completedQuery(eventType)})
	if err != nil {
		return 0, fmt.Errorf("count completed event workflows: %w", err)
	}
	return resp.GetCount(), nil
}

func (h *heraldSystem) drainBatches(ctx context.Context, eventType string, count int64, stall time.Duration, progress io.Writer) error {
	last, moved, told := int64(-1), time.Now(), time.Now()
	for {
		n, err := h.completedEvents(ctx, eventType)
		if err != nil {
			return err
		}
		if n >= count {
			break
		}
		if n != last {
			last, moved = n, time.Now()
		} else if time.Since(moved) > stall {
			return fmt.Errorf("drain stalled: %d of %d event workflows completed, none for %s", n, count, stall)
		}
		if time.Since(told) > 15*time.Second {
			fmt.Fprintf(progress, "  … draining: %d of %d event workflows completed\n", n, count)
			told = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d of %d event workflows completed: %w", n, count, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	return noneRunning(ctx, h.s.client, workflows.EventWorkflowName)
}

// workflowCheck is what Temporal says of the accepted events' workflows.
type workflowCheck struct {
	completed, notCompleted int
	firstProblem            string
	lastClose               time.Time
}

// checkEventWorkflows describes each event's workflow: it must exist, have
// completed, and say no_subscribers, since nothing subscribes.
func (h *heraldSystem) checkEventWorkflows(ctx context.Context, ids []string) workflowCheck {
	const inFlight = 8
	var (
		mu sync.Mutex
		wc workflowCheck
		wg sync.WaitGroup
	)
	todo := make(chan string)
	for range inFlight {
		wg.Go(func() {
			for id := range todo {
				closed, problem := h.describeEvent(ctx, id)
				mu.Lock()
				if problem == "" {
					wc.completed++
					wc.lastClose = latest(wc.lastClose, closed)
				} else {
					wc.notCompleted++
					if wc.firstProblem == "" {
						wc.firstProblem = problem
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		todo <- id
	}
	close(todo)
	wg.Wait()
	return wc
}

func (h *heraldSystem) describeEvent(ctx context.Context, eventID string) (closed time.Time, problem string) {
	wid := workflows.EventWorkflowID(eventID)
	resp, err := h.s.client.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		return closed, fmt.Sprintf("%s: %v", wid, err)
	}
	info := resp.GetWorkflowExecutionInfo()
	if st := info.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return closed, fmt.Sprintf("%s: %s", wid, st)
	}
	var status string
	if p := info.GetSearchAttributes().GetIndexedFields()[workflows.SearchStatus.GetName()]; p == nil ||
		converter.GetDefaultDataConverter().FromPayload(p, &status) != nil || status != workflows.StatusNoSubscribers {
		return closed, fmt.Sprintf("%s: %s %q, want %q", wid, workflows.SearchStatus.GetName(), status, workflows.StatusNoSubscribers)
	}
	return info.GetCloseTime().AsTime(), ""
}

// ingestCheck is what the dispatcher's history says of the phase's
// events: the groups that held them (one signal, one hand-off each), and
// its history events per event it dispatched.
type ingestCheck struct {
	groups   int
	perEvent float64
}

// checkDispatched reads every run of the dispatcher (the IngestWorkflow
// groups of events are signalled to) for the groups that held ids.
func (h *heraldSystem) checkDispatched(ctx context.Context, ids []string) (ingestCheck, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var ic ingestCheck
	resp, err := h.s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowId STARTS_WITH '" + workflows.DispatchWorkflowID(0)[:len("ingest/dispatch-")] + "'"})
	if err != nil {
		return ic, err
	}
	historyEvents, events := 0, 0
	for _, e := range resp.GetExecutions() {
		n, dispatched, ours, err := dispatchHistory(ctx, h, e.GetExecution(), want)
		if err != nil {
			return ic, err
		}
		historyEvents, events, ic.groups = historyEvents+n, events+dispatched, ic.groups+ours
	}
	if events > 0 {
		ic.perEvent = float64(historyEvents) / float64(events)
	}
	return ic, nil
}

// dispatchHistory counts one dispatcher run's history events, the events
// signalled to it, and the signals holding any of want.
func dispatchHistory(ctx context.Context, h *heraldSystem, run *commonpb.WorkflowExecution, want map[string]bool) (historyEvents, events, ours int, err error) {
	it := h.s.client.GetWorkflowHistory(ctx, run.GetWorkflowId(), run.GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, 0, 0, err
		}
		historyEvents++
		a := ev.GetWorkflowExecutionSignaledEventAttributes()
		if a == nil {
			continue
		}
		var in workflows.IngestInput
		if err := converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in); err != nil {
			return 0, 0, 0, fmt.Errorf("dispatcher signal: %w", err)
		}
		events += len(in.Events)
		if slices.ContainsFunc(in.Events, func(e workflows.IngestEvent) bool { return want[e.EventID] }) {
			ours++
		}
	}
	return historyEvents, events, ours, nil
}
