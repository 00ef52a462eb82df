package workflows

import (
	"reflect"
	"strconv"
	"time"

	"go.temporal.io/sdk/workflow"
)

// IngestWorkflowName is the registered name of IngestWorkflow.
const IngestWorkflowName = "IngestWorkflow"

// DispatchWorkflowID names one of the long-running IngestWorkflows groups
// are signalled to: a signal costs Temporal a fraction of a workflow
// start, so a group is accepted in a few milliseconds however large. Each
// API process hands its groups to the DispatchShards dispatchers in turn,
// so that none carries every API's signals and starts.
func DispatchWorkflowID(shard int) string { return "ingest/dispatch-" + strconv.Itoa(shard) }

// DispatchShards is how many dispatchers there are.
const DispatchShards = 4

// ActivityStartEvents starts the event workflows of a group.
var ActivityStartEvents = Action[IngestInput]{Name: "StartEvents"}

// MaxIngestBatch bounds the events of one POST /api/v1/events/batch.
const MaxIngestBatch = 100

// IngestInput is a group of events recorded in Herald's store before it
// was handed over, each with the subscribers it goes to one workflow per
// event (their snapshots in Subscribers, once each). Payloads stay in the
// store, so the history holds ids only. EventIDs is the input of an older
// Herald, whose event workflows resolve their subscribers themselves.
//
// Dispatch starts the dispatcher instead: it takes groups as SignalEvents
// signals and Pending carries those not yet started across
// continue-as-new.
type IngestInput struct {
	Events      []IngestEvent `json:"events,omitempty"`
	Subscribers []Subscriber  `json:"subscribers,omitempty"`
	EventIDs    []string      `json:"event_ids,omitempty"`
	Dispatch    bool          `json:"dispatch,omitempty"`
	Pending     []IngestInput `json:"pending,omitempty"`
}

// IngestEvent is one event of a group and the webhooks it goes to one
// workflow per event (none: nobody subscribes to it).
type IngestEvent struct {
	EventID    string  `json:"event_id"`
	WebhookIDs []int64 `json:"webhook_ids,omitempty"`
}

func (in IngestInput) size() int { return len(in.Events) + len(in.EventIDs) }

// Dispatcher tuning: start activities at once, the events each takes, the
// groups a run takes before it continues as new, and how long it waits
// idle before it ends (the next group starts it again).
const (
	dispatchActivities   = 4
	dispatchEventsEach   = 500
	dispatchGroupsPerRun = 2000
	dispatchIdle         = 10 * time.Minute
)

// A batch of starts lost with its worker goes again elsewhere after
// HeartbeatTimeout; a start already made is found, not made twice.
var ingestOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute,
	HeartbeatTimeout:    HeartbeatTimeout,
	RetryPolicy:         activityRetry,
}

// IngestWorkflow makes sure each event of a group has its event workflow.
// Accepting a group costs Temporal one signal (or, from an older Herald,
// one workflow start), however many events it holds; their own starts
// happen here, retried until every one is done, so the 202 each event got
// cannot turn into a lost event.
//
// The starts run as regular activities that heartbeat their progress: a
// group's starts can take seconds when Temporal is busy, longer than a
// workflow task may, and a retry resumes where the last try got to.
func IngestWorkflow(ctx workflow.Context, in IngestInput) error {
	ctx = workflow.WithActivityOptions(ctx, ingestOptions)
	if !in.Dispatch {
		return ActivityStartEvents.Run(ctx, in).Get(ctx, nil)
	}
	return dispatch(ctx, in.Pending)
}

// dispatch starts the event workflows of the groups signalled to it, a few
// activities at once, each taking the groups queued when it starts.
func dispatch(ctx workflow.Context, pending []IngestInput) error {
	groups := workflow.GetSignalChannel(ctx, SignalEvents)
	inFlight, finished, taken := 0, 0, 0
	drain := func() {
		var g IngestInput
		for groups.ReceiveAsync(&g) {
			pending, taken = append(pending, g), taken+1
			g = IngestInput{}
		}
	}
	for {
		// Continuing, it starts nothing more and waits for what is in
		// flight: a busy dispatcher would otherwise never have none.
		continuing := taken >= dispatchGroupsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		for !continuing && inFlight < dispatchActivities && len(pending) > 0 {
			var batch IngestInput
			batch, pending = merged(pending)
			inFlight++
			workflow.Go(ctx, func(ctx workflow.Context) {
				if err := ActivityStartEvents.Run(ctx, batch).Get(ctx, nil); err != nil {
					// Only a worker that cannot start workflows refuses for
					// good; the batch waits for one that can.
					workflow.GetLogger(ctx).Error("cannot start a batch's event workflows; trying again in a minute", "events", batch.size(), "error", err)
					_ = workflow.Sleep(ctx, time.Minute)
					pending = append(pending, batch)
				}
				inFlight, finished = inFlight-1, finished+1
			})
		}
		if continuing && inFlight == 0 {
			drain()
			return workflow.NewContinueAsNewError(ctx, IngestWorkflowName, IngestInput{Dispatch: true, Pending: pending})
		}
		if inFlight == 0 && len(pending) == 0 {
			arrived, err := workflow.AwaitWithTimeout(ctx, dispatchIdle, func() bool { return groups.Len() > 0 })
			if err != nil || !arrived {
				return err // idle: the next group starts it again
			}
		} else {
			seen := finished
			if err := workflow.Await(ctx, func() bool { return groups.Len() > 0 || finished != seen }); err != nil {
				return err
			}
		}
		drain()
	}
}

// merged takes the groups queued, up to dispatchEventsEach events, as one;
// a group whose subscribers were snapshotted differently (their settings
// changed between groups) waits for the next.
func merged(pending []IngestInput) (IngestInput, []IngestInput) {
	out := IngestInput{}
	subs := map[int64]Subscriber{}
	i := 0
	for ; i < len(pending); i++ {
		g := pending[i]
		if i > 0 && (out.size()+g.size() > dispatchEventsEach || !agree(subs, g.Subscribers)) {
			break
		}
		out.Events = append(out.Events, g.Events...)
		out.EventIDs = append(out.EventIDs, g.EventIDs...)
		for _, s := range g.Subscribers {
			if _, ok := subs[s.WebhookID]; !ok {
				subs[s.WebhookID] = s
				out.Subscribers = append(out.Subscribers, s)
			}
		}
	}
	return out, pending[i:]
}

// agree says a group's subscribers are snapshotted as those already taken.
func agree(taken map[int64]Subscriber, subs []Subscriber) bool {
	for _, s := range subs {
		if t, ok := taken[s.WebhookID]; ok && !reflect.DeepEqual(t, s) {
			return false
		}
	}
	return true
}
