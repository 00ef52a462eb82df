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
}

type scenarioResult struct {
	Key     string              `json:"key"`
	Title   string              `json:"title"`
	Systems map[string]*figures `json:"systems"` // herald, plain, naive
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

func (r *storeReport) check() bool {
	r.Correct = r.Stray == 0
	for _, s := range r.Scenarios {
		for _, f := range s.Systems {
			r.Correct = r.Correct && f.correct()
		}
	}
	return r.Correct
}

// row is one line of the table: a figure of one scenario for each system.
type row struct {
	s      *scenarioResult
	figure string
	value  func(*figures) float64
}

func rows(r *storeReport) []row {
	var out []row
	for _, s := range r.Scenarios {
		add := func(figure string, v func(*figures) float64) { out = append(out, row{s, figure, v}) }
		switch s.Key {
		case "ingest":
			add("events/s acknowledged (202)", func(f *figures) float64 { return f.EventsPerSec })
			add("events/s processed (until every workflow closed)", func(f *figures) float64 { return f.ProcessedPerSec })
			add("ack p50 ms", func(f *figures) float64 { return f.AckMS.P50 })
			add("ack p99 ms", func(f *figures) float64 { return f.AckMS.P99 })
			add("Temporal history events / event", func(f *figures) float64 { return f.HistoryPerDelivery })
			continue
		case "steady":
			add("offered events/s (the same for all)", func(f *figures) float64 { return f.OfferedPerSec })
		}
		add("deliveries/s", func(f *figures) float64 { return f.DeliveriesPerSec })
		add("latency p50 ms", func(f *figures) float64 { return f.LatencyMS.P50 })
		add("latency p95 ms", func(f *figures) float64 { return f.LatencyMS.P95 })
		add("latency p99 ms", func(f *figures) float64 { return f.LatencyMS.P99 })
		add("Temporal history events / delivery", func(f *figures) float64 { return f.HistoryPerDelivery })
	}
	return out
}

// printTable writes the markdown table: Herald, the baselines, and
// Herald's figure divided by each baseline's.
func printTable(w io.Writer, r *storeReport) {
	fmt.Fprintf(w, "\n### Herald benchmark — %s store\n\n", r.Store)
	fmt.Fprintf(w, "%s\n\n", r.Machine.summary())
	fmt.Fprintln(w, "| Scenario | Figure | Herald | Plain Go | Naive Temporal | Herald ÷ Plain | Herald ÷ Naive |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|")
	var last *scenarioResult
	for _, rw := range rows(r) {
		title := rw.s.Title
		if rw.s == last {
			title = ""
		}
		last = rw.s
		h, p, n := rw.value(rw.s.Systems["herald"]), rw.value(rw.s.Systems["plain"]), rw.value(rw.s.Systems["naive"])
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", title, rw.figure, num(h), num(p), num(n), ratio(h, p), ratio(h, n))
	}
	fmt.Fprintf(w, "\nPeak RSS (VmHWM) of the whole process — Temporal server, Herald, baselines, receiver, load generator: %s;\n"+
		"after start, before any load: %s.\n", mib(r.PeakRSSBytes), mib(r.IdleRSSBytes))
	temporal := "in memory"
	if r.Settings.TemporalFile {
		temporal = "in a SQLite file"
	}
	fmt.Fprintf(w, "Settings: %d publishers, window %d events in flight, %d-byte payloads, %s per scenario and system; Temporal's state %s.\n",
		r.Settings.Concurrency, r.Settings.Window, r.Settings.PayloadBytes, loadSize(r.Settings), temporal)
}

func loadSize(s settings) string {
	if s.Events > 0 {
		return fmt.Sprintf("%d events", s.Events)
	}
	return s.Duration
}

// printChecks writes what the receiver found, phase by phase.
func printChecks(w io.Writer, r *storeReport) {
	fmt.Fprintf(w, "\n| Scenario | System | Accepted | Rejected | Delivered | Missing | Duplicates | Bad signature | Bad body | Unexpected | Check |\n")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, s := range r.Scenarios {
		for _, name := range []string{"herald", "plain", "naive"} {
			f := s.Systems[name]
			verdict := "ok"
			if !f.correct() {
				verdict = "**FAILED**"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d/%d | %d | %d | %d | %d | %d | %s |\n", s.Title, name, f.Accepted, f.Rejected,
				f.Delivered, f.Expected, f.Missing, f.Duplicates, f.BadSignature, f.BadBody, f.Unexpected, verdict)
			if f.FirstRejection != "" {
				fmt.Fprintf(w, "|  | first rejection: %s |\n", strings.ReplaceAll(f.FirstRejection, "|", "/"))
			}
			if f.SettleError != "" {
				fmt.Fprintf(w, "|  | did not finish its work: %s |\n", strings.ReplaceAll(f.SettleError, "|", "/"))
			}
		}
	}
	if r.Stray > 0 {
		fmt.Fprintf(w, "\n%d requests reached the receiver on no webhook's path.\n", r.Stray)
	}
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
