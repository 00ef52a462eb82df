package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// system is what delivers: Herald, or a baseline. Each takes events on
// POST /api/v1/events with the same body and answers 202 the same way.
type system interface {
	name() string // the figures' key; labelOf gives its column's name
	ingest() (baseURL, key string)
	subscribe(ctx context.Context, eventType string, hooks []*hook) error
	unsubscribe(ctx context.Context, hooks []*hook) error
	// settle returns once no work of an earlier phase is left running, so
	// that the next phase measures only itself.
	settle(ctx context.Context) error
}

// durable is a system built on Temporal, whose histories can be counted.
type durable interface {
	// history counts the events of an event's workflow history by type.
	history(ctx context.Context, eventID string) (map[string]int, error)
}

// heraldSystem drives Herald through its API only, its webhooks in one
// delivery mode.
type heraldSystem struct {
	s    *stack
	http *http.Client
	mode deliveryMode
}

func (h *heraldSystem) name() string                  { return h.mode.system }
func (h *heraldSystem) ingest() (baseURL, key string) { return h.s.apiURL, h.s.key }

// subscribe creates the webhooks with a retry schedule short enough for a
// run to end (one retry a second, no jitter) and rate limits out of reach.
func (h *heraldSystem) subscribe(ctx context.Context, eventType string, hooks []*hook) error {
	for i, hk := range hooks {
		id, err := h.create(ctx, eventType, hk)
		if err != nil {
			return fmt.Errorf("create webhook %d: %w", i, err)
		}
		hk.webhookID = id
	}
	return nil
}

func (h *heraldSystem) create(ctx context.Context, eventType string, hk *hook) (int64, error) {
	spec := map[string]any{
		"name": fmt.Sprintf("bench %s", hk.path), "url": hk.url, "secret": hk.secret, "event_types": []string{eventType},
		"retry_strategy": "fixed_interval", "max_retries": 5, "retry_delay_seconds": 1, "max_delay_seconds": 1,
		"jitter_percentage": 0, "timeout_seconds": 10, "rate_limit_per_minute": 100_000, "rate_limit_per_hour": 6_000_000,
	}
	if h.mode != perEvent {
		spec["delivery_mode"] = h.mode.value
	}
	var created struct {
		ID int64 `json:"id"`
	}
	err := h.call(ctx, http.MethodPost, "/api/v1/webhooks", spec, http.StatusCreated, &created)
	if err != nil && h.mode != perEvent {
		err = fmt.Errorf("with \"delivery_mode\": %q: %w", h.mode.value, err)
	}
	return created.ID, err
}

// checkMode creates a webhook in the system's delivery mode and deletes
// it: a Herald that does not take the mode fails the run at once, not
// after the scenarios before the first that needs it.
func (h *heraldSystem) checkMode(ctx context.Context) error {
	hk := &hook{path: "/mode-check/" + h.mode.value, url: "http://127.0.0.1:9/mode-check", secret: webhook.NewSecret()}
	if err := h.subscribe(ctx, webhook.ComplianceAlert, []*hook{hk}); err != nil {
		return fmt.Errorf("-modes %s: Herald refused a webhook in this delivery mode, so none of its scenarios can run "+
			"(-modes per_event measures what Herald has): %w", h.mode.value, err)
	}
	return h.unsubscribe(ctx, []*hook{hk})
}

func (h *heraldSystem) unsubscribe(ctx context.Context, hooks []*hook) error {
	for _, hk := range hooks {
		if err := h.call(ctx, http.MethodDelete, fmt.Sprintf("/api/v1/webhooks/%d", hk.webhookID), nil, http.StatusNoContent, nil); err != nil {
			return fmt.Errorf("delete webhook %d: %w", hk.webhookID, err)
		}
	}
	return nil
}

func (h *heraldSystem) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.s.apiURL+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.s.key)
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// settle waits for the event workflows. A stream's workflow lives on
// between events, so in those modes the phase's drain, which waits for
// every delivery, is what says its work is done.
func (h *heraldSystem) settle(ctx context.Context) error {
	return noneRunning(ctx, h.s.client, workflows.EventWorkflowName)
}

// errSharedHistory: in the stream modes one workflow's history carries
// many events, so there is no history of an event to count.
var errSharedHistory = errors.New("no workflow history of its own per event in a stream mode")

func (h *heraldSystem) history(ctx context.Context, eventID string) (map[string]int, error) {
	if h.mode != perEvent {
		return nil, errSharedHistory
	}
	return countHistory(ctx, h.s.client, workflows.EventWorkflowID(eventID))
}

// noneRunning waits until no workflow of the type is open. Visibility
// trails the workflows a little, so zero must be seen twice.
func noneRunning(ctx context.Context, c client.Client, workflowType string) error {
	query := fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflowType)
	zeros := 0
	for zeros < 2 {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return fmt.Errorf("count running %s workflows: %w", workflowType, err)
		}
		if resp.GetCount() == 0 {
			zeros++
		} else {
			zeros = 0
		}
		time.Sleep(250 * time.Millisecond)
	}
	return nil
}

func countHistory(ctx context.Context, c client.Client, workflowID string) (map[string]int, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	byType := map[string]int{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		byType[strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")]++
	}
	return byType, nil
}
