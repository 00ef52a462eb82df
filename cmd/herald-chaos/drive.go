package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// client calls Herald's API with an admin key.
type client struct {
	base string
	key  string
	http *http.Client
}

func (c *client) call(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, nil
}

// hook is a webhook the run created, with its receiver.
type hook struct {
	ID     int64  `json:"id"`
	Secret string `json:"secret"`
	rcv    *receiver
	spec   map[string]any
}

func (c *client) createHook(ctx context.Context, r *receiver, spec map[string]any) (*hook, error) {
	spec["name"], spec["url"], spec["event_types"] = "chaos-"+r.name, r.url(), []string{eventType}
	spec["timeout_seconds"] = attemptTimeoutSeconds
	// The default limit (60 a minute) would pace the run, not test it.
	spec["rate_limit_per_minute"], spec["rate_limit_per_hour"] = 100_000, 6_000_000
	h := &hook{rcv: r, spec: spec}
	if _, err := c.call(ctx, http.MethodPost, "/api/v1/webhooks", spec, h); err != nil {
		return nil, err
	}
	if h.Secret == "" {
		return nil, errors.New("webhook created without its secret in the answer")
	}
	r.secret = h.Secret
	return h, nil
}

// published is what the driver knows of each event: when it first asked,
// and when Herald accepted it.
type published struct {
	mu        sync.Mutex
	payloads  map[string][]byte
	askedAt   map[string]time.Time
	accepted  map[string]time.Time
	refusals  map[string]int // by status or error kind, before the 202
	published int
}

func newPublished() *published {
	return &published{payloads: map[string][]byte{}, askedAt: map[string]time.Time{}, accepted: map[string]time.Time{}, refusals: map[string]int{}}
}

func (p *published) payload(id string) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.payloads[id]
	return b, ok
}

// drive publishes n events at rate per second, each retried as an event
// source would (same event id) until Herald accepts it.
func (c *client) drive(ctx context.Context, n int, rate float64, p *published) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	for i := range n {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
		id := fmt.Sprintf("chaos-%06d", i)
		payload := []byte(fmt.Sprintf(`{"document_id":"doc-%d","status":"completed","chaos_event":%q,"processing_time_ms":%d}`, i, id, i%97))
		p.mu.Lock()
		p.payloads[id], p.askedAt[id] = payload, time.Now()
		p.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.publishUntilAccepted(ctx, id, payload, p)
		}()
	}
	wg.Wait()
}

func (c *client) publishUntilAccepted(ctx context.Context, id string, payload []byte, p *published) {
	ev := map[string]any{"event_id": id, "event_type": eventType, "source": "chaos", "payload": json.RawMessage(payload)}
	for backoff := 200 * time.Millisecond; ctx.Err() == nil; backoff = min(2*backoff, 5*time.Second) {
		callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		status, err := c.call(callCtx, http.MethodPost, "/api/v1/events", ev, nil)
		cancel()
		if err == nil && (status == http.StatusAccepted || status == http.StatusOK) {
			p.mu.Lock()
			p.accepted[id] = time.Now()
			p.published++
			p.mu.Unlock()
			return
		}
		kind := fmt.Sprint(status)
		if status == 0 {
			kind = "no answer"
		}
		p.mu.Lock()
		if p.refusals[kind] == 0 {
			logf("first publish refusal %q: %v", kind, err)
		}
		p.refusals[kind]++
		p.mu.Unlock()
		if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
			return // refused for good: the run fails on it
		}
		time.Sleep(backoff)
	}
}
