package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// benchSource is the source of every event published.
const benchSource = "herald-bench"

// publisher sends events to one system's ingest API.
type publisher struct {
	client *http.Client
	url    string // POST …/api/v1/events
	key    string
	runID  string // keeps event ids unique across runs
}

func newPublisher(baseURL, key, runID string, conns int) *publisher {
	t := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &publisher{client: &http.Client{Transport: t, Timeout: time.Minute}, url: baseURL + "/api/v1/events", key: key, runID: runID}
}

// limit is when a load stops: after count events, or else at a deadline.
type limit struct {
	count int
	until time.Time
}

func (l limit) done(n int64) bool {
	if l.count > 0 {
		return n > int64(l.count)
	}
	return time.Now().After(l.until)
}

// closedLoop publishes from workers publishers, each waiting for its answer
// and, when the phase has a window, for a free slot in it before the next.
func (pb *publisher) closedLoop(ctx context.Context, p *phase, workers int, l limit) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for p.takeSlot(ctx) {
				n := next.Add(1)
				if l.done(n) {
					p.giveSlot()
					return
				}
				pb.publish(ctx, p, int(n), w)
			}
		})
	}
	wg.Wait()
}

// openLoop publishes at a fixed rate whatever the system does, as
// independent clients would: a slow answer delays no later event.
func (pb *publisher) openLoop(ctx context.Context, p *phase, rate float64, l limit) {
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start, n := time.Now(), int64(0)
	for ctx.Err() == nil {
		due := int64(time.Since(start).Seconds()*rate) + 1
		for ; n < due; n++ {
			if l.done(n + 1) {
				return
			}
			seq := int(n + 1)
			wg.Go(func() { pb.publish(ctx, p, seq, -1) })
		}
		<-tick.C
	}
}

// publish sends event seq of the phase for publisher w (-1 for none) and
// records the answer.
func (pb *publisher) publish(ctx context.Context, p *phase, seq, w int) {
	// Herald's modes share one store: each system's ids are its own.
	id := fmt.Sprintf("%s-%s-%s-%d", pb.runID, p.system, p.scenario.key, seq)
	payload := p.scenario.payload(seq)
	body, _ := json.Marshal(map[string]any{"event_id": id, "event_type": p.scenario.eventType,
		"source": benchSource, "source_id": fmt.Sprint(seq), "payload": json.RawMessage(payload)})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, pb.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+pb.key)
	s := p.begin(id, seq, w, payload)
	resp, err := pb.client.Do(req)
	if err != nil {
		p.answered(s, 0, time.Time{}, err.Error())
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ack struct {
		CreatedAt time.Time `json:"created_at"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &ack) != nil {
		p.answered(s, resp.StatusCode, time.Time{}, fmt.Sprintf("HTTP %d: %.200s", resp.StatusCode, raw))
		return
	}
	p.answered(s, resp.StatusCode, ack.CreatedAt, "")
}
