package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// storeReport is one configuration's run, as written to JSON.
type storeReport struct {
	Store        string            `json:"store"`
	Started      time.Time         `json:"started"`
	Machine      machine           `json:"machine"`
	Settings     settings          `json:"settings"`
	Scenarios    []*scenarioResult `json:"scenarios"`
	IdleRSSBytes int64             `json:"idle_rss_bytes"` // after start, before any load
	// PeakRSSBytes is VmHWM over the configuration's run: the whole
	// process, the in-memory Temporal server and the bench's own records
	// of every event included.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	Stray        int   `json:"stray_requests"` // to no webhook's path
	Correct      bool  `json:"correct"`
}

type settings struct {
	Duration     string `json:"duration"`
	Events       int    `json:"events,omitempty"`
	Concurrency  int    `json:"concurrency"`
	Window       int    `json:"window"`
	PayloadBytes int    `json:"payload_bytes"`
	TemporalFile bool   `json:"temporal_sqlite_file"`
	Smoke        bool   `json:"smoke"`
	EagerStart   bool   `json:"eager_start"`
	// ingest-batch: events per batch and publishers of batches.
	BatchSize        int `json:"batch_size"`
	BatchConcurrency int `json:"batch_concurrency"`
	BatchEvents      int `json:"batch_events"` // the burst's size, unless Events is set
	// Herald's delivery modes measured, and the bursts' and steady
	// scenarios' own sizes.
	Modes            []string `json:"modes"`
	BurstConcurrency int      `json:"burst_concurrency"`
	BurstEvents      int      `json:"burst_events"`
	Burst10kEvents   int      `json:"burst10k_events"`
	OrderedEvents    int      `json:"ordered_events"`
	Steady500Rate    float64  `json:"steady500_rate"`
	SteadyStart      string   `json:"steady150_start_duration"`
	SteadyAfterBurst string   `json:"steady150_after_burst_duration"`
}

type scenarioResult struct {
	Key   string `json:"key"`
	Title string `json:"title"`
	// The load: webhooks per event, and whichever of these it has.
	FanOut      int     `json:"fan_out"`
	Publishers  int     `json:"publishers,omitempty"`
	Events      int     `json:"events,omitempty"` // a burst's
	RatePerSec  float64 `json:"rate_per_sec,omitempty"`
	Duration    string  `json:"duration,omitempty"` // the scenario's own
	Follows     string  `json:"follows,omitempty"`
	OrderChecks bool    `json:"order_checked,omitempty"`
	// Systems holds each system's figures by name: herald, herald-stream,
	// herald-ordered, plain, naive, ceiling.
	Systems map[string]*figures `json:"systems"`
}

// newResult describes a scenario's load as it runs with these options;
// the systems' figures are added as each finishes.
func newResult(sc scenario, o options) *scenarioResult {
	r := &scenarioResult{Key: sc.key, Title: sc.title, FanOut: sc.fanOut, Events: sc.count, RatePerSec: sc.rate,
		Follows: sc.follows, OrderChecks: sc.ordered, Systems: map[string]*figures{}}
	switch sc.load {
	case closedLoad:
		r.Publishers = o.concurrency
	case burstLoad:
		r.Publishers = o.burstConcurrency
	case batchLoad:
		r.Publishers = o.batchConcurrency
	}
	if sc.duration > 0 {
		r.Duration = sc.duration.String()
	}
	return r
}

func (r *storeReport) scenario(key string) *scenarioResult {
	for _, s := range r.Scenarios {
		if s.Key == key {
			return s
		}
	}
	return nil
}

// steadyRate is half of Herald's fan-out 3 throughput, in events per
// second: the steady scenario offers every system that same load, so that
// their latencies compare at equal work.
func (r *storeReport) steadyRate() float64 {
	if s := r.scenario("fanout3"); s != nil && s.Systems["herald"] != nil {
		if d := s.Systems["herald"].DeliveriesPerSec; d > 0 {
			return d / 3 / 2
		}
	}
	return 1
}

// check says whether Herald delivered everything right. A baseline is
// checked the same way and its table shows it, but its failing does not
// fail the run: an open-loop load past its capacity makes its own ingest
// refuse events, which says something of the baseline, not of Herald.
func (r *storeReport) check() bool {
	r.Correct = r.Stray == 0
	for _, s := range r.Scenarios {
		for name, f := range s.Systems {
			if isHerald(name) {
				r.Correct = r.Correct && f.correct()
			}
		}
	}
	return r.Correct
}

// printBatchVersusSingle sets Herald's batch ingest beside its single-event
// ingest, when the run has both.
func printBatchVersusSingle(w io.Writer, r *storeReport) {
	single, batch := r.scenario("ingest"), r.scenario("ingest-batch")
	if single == nil || batch == nil || single.Systems["herald"] == nil || batch.Systems["herald"] == nil {
		return
	}
	s, b := single.Systems["herald"], batch.Systems["herald"]
	fmt.Fprintf(w, "\nHerald, batches of %d against single events: acknowledged %s against %s events/s (%s); "+
		"until all workflows ran %s against %s events/s (%s).\n", b.BatchSize, num(b.EventsPerSec), num(s.EventsPerSec),
		ratio(b.EventsPerSec, s.EventsPerSec), num(b.ProcessedPerSec), num(s.ProcessedPerSec), ratio(b.ProcessedPerSec, s.ProcessedPerSec))
}

func loadSize(s settings) string {
	if s.Events > 0 {
		return fmt.Sprintf("%d events", s.Events)
	}
	return s.Duration
}

func num(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// writeJSON writes the report where the pattern says: {timestamp} and
// {store} are replaced.
func writeJSON(pattern string, r *storeReport) (string, error) {
	path := strings.NewReplacer("{timestamp}", r.Started.Format("20060102T150405Z"), "{store}", r.Store).Replace(pattern)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}
