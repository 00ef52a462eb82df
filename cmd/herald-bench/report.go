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
		case "ingest-batch":
			add("events/s acknowledged (202)", func(f *figures) float64 { return f.EventsPerSec })
			add("events/s until all workflows ran", func(f *figures) float64 { return f.ProcessedPerSec })
			add("batch ack p50 ms", func(f *figures) float64 { return f.AckMS.P50 })
			add("batch ack p99 ms", func(f *figures) float64 { return f.AckMS.P99 })
			add("drain s (last 202 to last workflow closed)", func(f *figures) float64 { return f.DrainSeconds })
			add("Temporal history events / event (IngestWorkflow's share included)", func(f *figures) float64 { return f.HistoryPerDelivery })
			add("of which IngestWorkflow", func(f *figures) float64 { return f.IngestHistoryPerEvent })
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
// Herald's figure divided by each baseline's; n/a where a system did not
// run the scenario.
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
		h, p, n := rw.cell("herald"), rw.cell("plain"), rw.cell("naive")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", title, rw.figure, h, p, n, rw.ratio("herald", "plain"), rw.ratio("herald", "naive"))
	}
	printBatchVersusSingle(w, r)
	fmt.Fprintf(w, "\nPeak RSS (VmHWM) of the whole process — Temporal server, Herald, baselines, receiver, load generator: %s;\n"+
		"after start, before any load: %s.\n", mib(r.PeakRSSBytes), mib(r.IdleRSSBytes))
	temporal := "in memory"
	if r.Settings.TemporalFile {
		temporal = "in a SQLite file"
	}
	fmt.Fprintf(w, "Settings: %d publishers, window %d events in flight, %d-byte payloads, %s per scenario and system; Temporal's state %s.\n",
		r.Settings.Concurrency, r.Settings.Window, r.Settings.PayloadBytes, loadSize(r.Settings), temporal)
	if r.scenario("ingest-batch") != nil {
		burst := r.Settings.Events
		if burst <= 0 {
			burst = r.Settings.BatchEvents
		}
		fmt.Fprintf(w, "Batch ingest: a burst of %d events, %d publishers of %d-event batches, no window (Herald only: the baselines have no batch endpoint).\n",
			burst, r.Settings.BatchConcurrency, r.Settings.BatchSize)
	}
}

// cell is the row's figure for a system, n/a when it did not run the scenario.
func (rw row) cell(system string) string {
	f := rw.s.Systems[system]
	if f == nil {
		return "n/a"
	}
	return num(rw.value(f))
}

func (rw row) ratio(a, b string) string {
	fa, fb := rw.s.Systems[a], rw.s.Systems[b]
	if fa == nil || fb == nil {
		return "n/a"
	}
	return ratio(rw.value(fa), rw.value(fb))
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

// printChecks writes what the receiver found, phase by phase.
func printChecks(w io.Writer, r *storeReport) {
	fmt.Fprintf(w, "\n| Scenario | System | Accepted | Rejected | Delivered | Missing | Duplicates | Bad signature | Bad body | Unexpected | Check |\n")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, s := range r.Scenarios {
		for _, name := range []string{"herald", "plain", "naive"} {
			f := s.Systems[name]
			if f == nil {
				continue // not run: the scenario is Herald's only
			}
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
			if f.BatchSize > 0 {
				fmt.Fprintf(w, "|  | %d batches; event workflows completed (no_subscribers): %d of %d accepted; IngestWorkflows: %d, %d not completed |\n",
					f.Batches, f.WorkflowsCompleted, f.Accepted, f.IngestWorkflows, f.IngestWorkflowsNotCompleted)
			}
			if f.FirstWorkflowProblem != "" {
				fmt.Fprintf(w, "|  | first event workflow not completed: %s |\n", strings.ReplaceAll(f.FirstWorkflowProblem, "|", "/"))
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
