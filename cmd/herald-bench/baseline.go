package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// baseline is what both baselines share: an ingest endpoint as thin as it
// can be, subscriptions held in memory, and a sender of signed requests.
type baseline struct {
	url, key string
	srv      *http.Server
	post     *poster
	// accept hands a decoded event to the baseline's delivery.
	accept func(ctx context.Context, ev *webhook.Event, hooks []*hook) error

	mu     sync.RWMutex
	byType map[string][]*hook
	byURL  map[string]*hook
}

func startBaseline(accept func(context.Context, *webhook.Event, []*hook) error) (*baseline, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &baseline{url: "http://" + ln.Addr().String(), key: "baseline-key", post: newPoster(), accept: accept,
		byType: map[string][]*hook{}, byURL: map[string]*hook{}}
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	go b.srv.Serve(ln)
	return b, nil
}

func (b *baseline) close() { b.srv.Close() }

func (b *baseline) ingest() (baseURL, key string) { return b.url, b.key }

func (b *baseline) subscribe(_ context.Context, eventType string, hooks []*hook) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.byType[eventType] = hooks
	for _, h := range hooks {
		b.byURL[h.url] = h
	}
	return nil
}

func (b *baseline) unsubscribe(_ context.Context, hooks []*hook) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range hooks {
		delete(b.byURL, h.url)
		delete(b.byType, h.phase.scenario.eventType)
	}
	return nil
}

func (b *baseline) subscribers(eventType string) []*hook {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byType[eventType]
}

func (b *baseline) hookAt(url string) *hook {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.byURL[url]
}

// ServeHTTP takes POST /api/v1/events: the same body and answer as
// Herald's, none of its checks beyond a key and well-formed JSON.
func (b *baseline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/events" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+b.key {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var in struct {
		EventID   string          `json:"event_id"`
		EventType string          `json:"event_type"`
		Source    string          `json:"source"`
		SourceID  string          `json:"source_id"`
		Payload   json.RawMessage `json:"payload"`
	}
	var payload bytes.Buffer
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || json.Compact(&payload, in.Payload) != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	ev := &webhook.Event{EventID: in.EventID, EventType: in.EventType, Source: in.Source, SourceID: in.SourceID,
		Payload: payload.Bytes(), CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := b.accept(r.Context(), ev, b.subscribers(ev.EventType)); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"event_id": ev.EventID, "created_at": ev.CreatedAt})
}

// poster sends a delivery with the headers and both signatures Herald
// sends, over a transport pooled as Herald's sender pools.
type poster struct{ client *http.Client }

func newPoster() *poster {
	t := &http.Transport{MaxIdleConns: 200, MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second}
	return &poster{client: &http.Client{Transport: t, Timeout: 10 * time.Second}}
}

func (p *poster) send(ctx context.Context, url, secret string, ev *webhook.Event, body []byte, attempt int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(secret, body))
	req.Header.Set(webhook.HeaderID, ev.EventID)
	req.Header.Set(webhook.HeaderEvent, ev.EventType)
	req.Header.Set(webhook.HeaderAttempt, strconv.Itoa(attempt))
	req.Header[webhook.HeaderStdID] = []string{ev.EventID}
	req.Header[webhook.HeaderStdTimestamp] = []string{strconv.FormatInt(now.Unix(), 10)}
	req.Header[webhook.HeaderStdSignature] = []string{webhook.SignStandard(secret, ev.EventID, now, body)}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
