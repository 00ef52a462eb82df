package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
	"github.com/loki-interceptor/herald/workflows/workflowstest"
)

// zapier creates a batching Zapier integration posting to r.
func (h *harness) zapier(r *receiver, size, timeoutSeconds int) *webhook.Webhook {
	return h.hook(r, fmt.Sprintf("zapier-%d-%d", size, timeoutSeconds), func(w *webhook.Webhook) {
		creds, _ := json.Marshal(map[string]string{"webhook_url": r.srv.URL})
		cfg, _ := json.Marshal(map[string]any{"batch_events": true, "batch_size": size, "batch_timeout_seconds": timeoutSeconds})
		w.Integration = &webhook.Integration{Type: "zapier", Credentials: creds, Config: cfg}
		w.URL = "https://hooks.zapier.com/********"
	})
}

// feed stores n events and signals them into the collector one per second
// from the first second on, as AddToBatch would.
func (h *harness) feed(prefix string, n, size, timeoutSeconds int) []string {
	return h.feedEvery(prefix, n, size, timeoutSeconds, time.Second)
}

// feedEvery is feed with the events every apart (0: all at once).
func (h *harness) feedEvery(prefix string, n, size, timeoutSeconds int, every time.Duration) []string {
	ids := make([]string, n)
	for i := range n {
		ev := event(fmt.Sprintf("%s-%d", prefix, i))
		if _, err := h.store.CreateEvent(context.Background(), &ev); err != nil {
			h.t.Fatal(err)
		}
		ids[i] = ev.EventID
		item := workflows.BatchItem{EventID: ev.EventID, Size: size, TimeoutSeconds: timeoutSeconds}
		h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalBatchAdd, item) }, time.Second+time.Duration(i)*every)
	}
	return ids
}

// batches are the event ids of each batch the receiver got, in order.
func (r *receiver) batches() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out [][]string
	for _, body := range r.got {
		var envs []webhook.Envelope
		if err := json.Unmarshal(body, &envs); err != nil {
			r.t.Fatalf("a batch is a JSON array of event bodies: %v: %s", err, body)
		}
		var ids []string
		for _, e := range envs {
			ids = append(ids, e.EventID)
		}
		out = append(out, ids)
	}
	return out
}

func TestBatchFlushesAtSizeAndAtTimeout(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 200})
	z := h.zapier(r, 3, 30)
	ids := h.feed("size", 7, 3, 30)
	start := h.env.Now()
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := [][]string{ids[0:3], ids[3:6], ids[6:7]}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("batches = %v, want %v", got, want)
	}
	// Full batches go when their last event arrives (seconds 3 and 6);
	// the last, alone, when its 30 s are up (second 7 + 30).
	var at []time.Duration
	for _, ts := range h.attempts[z.ID] {
		at = append(at, ts.Sub(start).Round(time.Second))
	}
	if fmt.Sprint(at) != fmt.Sprint([]time.Duration{3 * time.Second, 6 * time.Second, 37 * time.Second}) {
		t.Fatalf("batches sent at %v after the start", at)
	}
	// Each batch is an event of its own, recorded and delivered, named
	// after the collector's run and its count.
	rows, _, err := h.store.ListAttempts(context.Background(), store.AttemptFilter{WebhookID: z.ID})
	if err != nil || len(rows) != 3 {
		t.Fatalf("attempt rows %d %v", len(rows), err)
	}
	for i, d := range rows {
		ev, err := h.store.GetEvent(context.Background(), d.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if ev.EventType != webhook.BatchEventType || ev.SuccessfulDeliveries != 1 || !strings.HasSuffix(ev.EventID, fmt.Sprintf("-%d", 3-i)) {
			t.Fatalf("batch event %+v", ev)
		}
	}
}

func TestBatchHandedOverTwiceIsSentOnce(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 200})
	z := h.zapier(r, 2, 10)
	ids := h.feed("dup", 2, 2, 10)
	// A retried hand-over of the first event, before and after its batch.
	again := workflows.BatchItem{EventID: ids[0], Size: 2, TimeoutSeconds: 10}
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalBatchAdd, again) }, 1500*time.Millisecond)
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(workflows.SignalBatchAdd, again) }, 5*time.Second)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint([][]string{ids}) {
		t.Fatalf("batches = %v, want one of %v", got, ids)
	}
}

func TestBatchRetriesAFailedBatch(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 503}, reply{status: 200})
	z := h.zapier(r, 2, 10)
	ids := h.feed("retry", 2, 2, 10)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint([][]string{ids, ids}) {
		t.Fatalf("batches = %v: want the same batch twice (failed, then retried)", got)
	}
	if got := h.statuses(z.ID); !slices.Equal(got, []webhook.AttemptStatus{R, D}) {
		t.Fatalf("attempt rows %v", got)
	}
}

// After 100 batches the collector continues as new, carrying what is
// pending and what it has sent, so its history stays short and nothing is
// lost or sent twice across runs.
func TestBatchContinuesAsNewWithItsPendingEvents(t *testing.T) {
	h := newHarness(t)
	r := h.receiver(reply{status: 200})
	z := h.zapier(r, 1, 10)
	ids := h.feedEvery("can", 103, 1, 10, 0)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	next := nextInput[workflows.BatchInput](t, h.env.GetWorkflowError())
	if next.WebhookID != z.ID || next.Flushed != 100 || fmt.Sprint(next.Recent) != fmt.Sprint(ids[:100]) {
		t.Fatalf("continued with webhook %d, %d flushed, recent %v", next.WebhookID, next.Flushed, next.Recent)
	}
	var pending []string
	for _, it := range next.Pending {
		pending = append(pending, it.EventID)
	}
	if fmt.Sprint(pending) != fmt.Sprint(ids[100:]) {
		t.Fatalf("carried %v, want %v", pending, ids[100:])
	}
	if got := len(r.batches()); got != 100 {
		t.Fatalf("%d batches before continuing", got)
	}
}

// A worker restart in the middle of a batch. The test environment runs a
// workflow in one process with no way to stop its worker or to hand its
// history to another, so this replays histories recorded by the e2e tests
// across a real restart of every worker (TestZapierBatchSurvivesAWorkerRestart
// and TestZapierBatchTimeoutSurvivesAWorkerRestart, with -update-replay):
// today's code, given only Temporal's history as a fresh worker is, must
// rebuild the collector the workers left (every event handed over, the
// batch due when it was) and then send the one batch of all the events,
// when the last event fills it or when the timer fires.
func TestBatchSurvivesARestartMidBatch(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		sentBy     enumspb.EventType // what woke the collector to send the batch
	}{
		{"size flush", "batch_workflow_history.json", enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED},
		{"timeout flush", "batch_timeout_workflow_history.json", enumspb.EVENT_TYPE_TIMER_FIRED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			evs := hist.Events
			// The one batch the run sent, and the batch timer pending
			// before it: the workers stopped with it running.
			sent, stopped := -1, -1
			for i, e := range evs {
				switch e.EventType {
				case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
					if sent >= 0 {
						t.Fatalf("%s holds two batches", tc.file)
					}
					sent = i
				case enumspb.EVENT_TYPE_TIMER_STARTED:
					if sent < 0 {
						stopped = i
					}
				}
			}
			if sent < 0 || stopped < 0 {
				t.Fatalf("%s holds no batch sent after a timer", tc.file)
			}
			if woke := firstNotTask(evs[stopped+1:]); woke == nil || woke.EventType != tc.sentBy {
				t.Fatalf("the batch was sent after %v, want %v", woke.GetEventType(), tc.sentBy)
			}
			// The tasks after the batch went to workers that had not run
			// the collector before: the history does span a restart.
			before := stickyQueues(evs[:stopped])
			for q := range stickyQueues(evs[sent:]) {
				if before[q] {
					t.Fatalf("%s: the worker of sticky queue %s ran the collector before and after the batch: no restart recorded", tc.file, q)
				}
			}

			// What was handed over, and when the batch is due: the first
			// event's timeout after the task that took it in.
			var items []workflows.BatchItem
			var ids, idsAtStop []string
			var firstTaken time.Time
			for i, e := range evs[:sent] {
				if e.EventType == enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED && len(items) > 0 && firstTaken.IsZero() {
					firstTaken = e.EventTime.AsTime()
				}
				a := e.GetWorkflowExecutionSignaledEventAttributes()
				if a == nil || a.SignalName != workflows.SignalBatchAdd {
					continue
				}
				var it workflows.BatchItem
				if err := converter.GetDefaultDataConverter().FromPayloads(a.Input, &it); err != nil {
					t.Fatal(err)
				}
				items = append(items, it)
				ids = append(ids, it.EventID)
				if i < stopped {
					idsAtStop = append(idsAtStop, it.EventID)
				}
			}
			if len(items) < 2 || len(idsAtStop) == 0 || firstTaken.IsZero() {
				t.Fatalf("%s: %d events handed over, %d before the restart", tc.file, len(items), len(idsAtStop))
			}
			due := firstTaken.Add(time.Duration(items[0].TimeoutSeconds) * time.Second)
			switch full := len(ids) >= items[len(items)-1].Size; tc.sentBy {
			case enumspb.EVENT_TYPE_TIMER_FIRED:
				if full || len(idsAtStop) != len(ids) {
					t.Fatalf("%d of %d events (size %d) before the restart: the timeout case needs all in, not full", len(idsAtStop), len(ids), items[0].Size)
				}
				if fired := firstNotTask(evs[stopped+1:]).EventTime.AsTime(); fired.Before(due) {
					t.Fatalf("timer fired at %v, before the batch was due at %v", fired, due)
				}
			default:
				if !full || len(idsAtStop) == len(ids) {
					t.Fatalf("%d of %d events (size %d) before the restart: the size case needs the last after it", len(idsAtStop), len(ids), items[0].Size)
				}
			}

			// The history as the workers left it, replayed: the collector
			// a fresh worker rebuilds holds every event and the due time.
			at := replayBatch(t, &historypb.History{Events: evs[:stopped+1]})
			if len(at.batches) != 0 {
				t.Fatalf("batches sent before the restart: %v", at.batches)
			}
			st, err := at.query()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(st.Pending) != fmt.Sprint(idsAtStop) || st.DueAt == nil || !st.DueAt.Equal(due) || st.Flushed != 0 {
				t.Fatalf("rebuilt collector holds %v due %v (%d sent), want %v due %v", st.Pending, st.DueAt, st.Flushed, idsAtStop, due)
			}
			// The whole history replayed: one batch of every event.
			end := replayBatch(t, hist)
			if fmt.Sprint(end.batches) != fmt.Sprint([][]string{ids}) {
				t.Fatalf("batches sent %v, want one of %v", end.batches, ids)
			}
			if st, _ := end.query(); len(st.Pending) != 0 || st.Flushed != 1 {
				t.Fatalf("after the batch the collector holds %v (%d sent)", st.Pending, st.Flushed)
			}
		})
	}
}

// firstNotTask is the first event that is not a workflow task's or a
// command's outcome: what woke the workflow.
func firstNotTask(evs []*historypb.HistoryEvent) *historypb.HistoryEvent {
	for _, e := range evs {
		switch e.EventType {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED,
			enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
			enumspb.EVENT_TYPE_TIMER_STARTED, enumspb.EVENT_TYPE_TIMER_CANCELED:
			continue
		}
		return e
	}
	return nil
}

// stickyQueues are the workers' own queues the events' workflow tasks were
// scheduled on: one per worker.
func stickyQueues(evs []*historypb.HistoryEvent) map[string]bool {
	out := map[string]bool{}
	for _, e := range evs {
		if q := e.GetWorkflowTaskScheduledEventAttributes().GetTaskQueue(); q.GetKind() == enumspb.TASK_QUEUE_KIND_STICKY {
			out[q.GetName()] = true
		}
	}
	return out
}

// replayed is what BatchWorkflow did when replayed: its query handler (to
// ask the rebuilt collector) and the batches it sent.
type replayed struct {
	interceptor.WorkerInterceptorBase
	query   func() (workflows.BatchState, error)
	batches [][]string
}

// replayBatch replays a collector's history with today's code, as a worker
// with nothing cached does.
func replayBatch(t *testing.T, hist *historypb.History) *replayed {
	t.Helper()
	rec := &replayed{}
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{Interceptors: []interceptor.WorkerInterceptor{rec}})
	if err != nil {
		t.Fatal(err)
	}
	r.RegisterWorkflowWithOptions(workflows.BatchWorkflow, workflow.RegisterOptions{Name: workflows.BatchWorkflowName})
	if err := r.ReplayWorkflowHistory(nil, hist); err != nil {
		t.Fatal(err)
	}
	if rec.query == nil {
		t.Fatal("the replayed collector set no query handler")
	}
	return rec
}

func (r *replayed) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &replayedInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, rec: r}
}

type replayedInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	rec *replayed
}

func (i *replayedInbound) Init(out interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&replayedOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: out}, rec: i.rec})
}

type replayedOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	rec *replayed
}

func (o *replayedOutbound) SetQueryHandler(ctx workflow.Context, name string, handler any) error {
	if name == workflows.QueryBatch {
		o.rec.query, _ = handler.(func() (workflows.BatchState, error))
	}
	return o.Next.SetQueryHandler(ctx, name, handler)
}

func (o *replayedOutbound) ExecuteChildWorkflow(ctx workflow.Context, name string, args ...any) workflow.ChildWorkflowFuture {
	if in, ok := args[0].(workflows.EventInput); ok && in.Batch != nil {
		var p webhook.BatchPayload
		if err := json.Unmarshal(in.Event.Payload, &p); err == nil {
			o.rec.batches = append(o.rec.batches, p.EventIDs)
		}
	}
	return o.Next.ExecuteChildWorkflow(ctx, name, args...)
}

// A collector whose batch cannot be started (for a reason other than
// "already started") keeps its events, waits longer after each try, says
// why in its query, and sends the batch once a start succeeds: it does not
// fail its workflow task over and over.
func TestBatchCollectorBacksOffWhenItsBatchCannotStart(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	z := h.zapier(r, 2, 10)
	h.refuseChildStarts(2)
	ids := h.feedEvery("refused", 2, 2, 10, 0) // full at 1 s: tries at 1 s, 2 s (after 1 s), 4 s (after 2 s)
	during := h.queryBatchAt(3 * time.Second)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if during.StartFailures != 2 || !strings.Contains(during.LastError, workflowstest.ErrRefused.Error()) || during.RetryAt == nil || !slices.Equal(during.Pending, ids) {
		t.Fatalf("collector state while its batch could not start: %+v", during)
	}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint([][]string{ids}) {
		t.Fatalf("batches = %v: want the one batch, once", got)
	}
}

// A collector that continues as new while its batch cannot start carries
// its failed starts: the next run's query still reports them (the
// integration's health), and its next wait goes on doubling instead of
// starting again at a second.
func TestBatchContinuedAsNewDuringBackoffKeepsIt(t *testing.T) {
	h := newHarness(t)
	r := h.receiver()
	z := h.zapier(r, 2, 10)
	h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{
		&workflowstest.RefuseChildStarts{Refuse: func(workflow.Context) bool { return true }}}})
	h.env.SetContinueAsNewSuggested(true)
	ids := h.feedEvery("can-backoff", 2, 2, 10, 0)
	h.env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{WebhookID: z.ID})
	next := nextInput[workflows.BatchInput](t, h.env.GetWorkflowError())
	if next.StartFailures != 1 || !strings.Contains(next.LastError, workflowstest.ErrRefused.Error()) || next.RetryAt == nil || len(next.Pending) != len(ids) {
		t.Fatalf("continued with %+v: want one failed start, its error and retry time, and the events", next)
	}

	// The next run: refused once more, its wait is the second one's (2 s).
	h2 := newHarnessOn(t, h.store)
	h2.refuseChildStarts(1)
	during := h2.queryBatchAt(1500 * time.Millisecond)
	began := h2.env.Now()
	h2.env.ExecuteWorkflow(workflows.BatchWorkflowName, next)
	if err := h2.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if during.StartFailures != 2 || during.RetryAt == nil || during.RetryAt.Sub(began) != 2*time.Second {
		t.Fatalf("next run while refused again: %+v (began %s), want 2 failures and a retry 2 s on", during, began)
	}
	if got := r.batches(); fmt.Sprint(got) != fmt.Sprint([][]string{ids}) {
		t.Fatalf("batches = %v: want the one batch, once", got)
	}
}

// refuseChildStarts makes the harness's workflows fail their next n child
// starts.
func (h *harness) refuseChildStarts(n int) {
	h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&workflowstest.RefuseChildStarts{Refuse: func(workflow.Context) bool {
		n--
		return n >= 0
	}}}})
}

// queryBatchAt asks the collector for its state at d into the workflow's
// run; the answer is there once the run is over.
func (h *harness) queryBatchAt(d time.Duration) *workflows.BatchState {
	var st workflows.BatchState
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(workflows.QueryBatch)
		if err == nil {
			err = v.Get(&st)
		}
		if err != nil {
			h.t.Error(err)
		}
	}, d)
	return &st
}
