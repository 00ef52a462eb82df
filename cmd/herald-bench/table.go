package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// ratioBaselines are the baselines Herald's figures are divided by, with
// the short name of their column.
var ratioBaselines = []struct{ name, short string }{{sysPlain, "Plain"}, {sysNaive, "Naive"}, {sysCeiling, "Ceiling"}}

// columns are the systems that ran any scenario of the report, in the
// order of systemOrder.
func columns(r *storeReport) []string {
	var cols []string
	for _, s := range systemOrder {
		if slices.ContainsFunc(r.Scenarios, func(sc *scenarioResult) bool { return sc.Systems[s.name] != nil }) {
			cols = append(cols, s.name)
		}
	}
	return cols
}

// row is one line of the table: a figure of one scenario for each system.
type row struct {
	s *scenarioResult
	figure
}

func rows(r *storeReport) []row {
	var out []row
	for _, s := range r.Scenarios {
		for _, f := range figuresOf(s.Key) {
			out = append(out, row{s, f})
		}
	}
	return out
}

// printTable writes the markdown table: each system that ran, and
// Herald's figure divided by each baseline's; n/a where a system did not
// run the scenario.
func printTable(w io.Writer, r *storeReport) {
	fmt.Fprintf(w, "\n### Herald benchmark — %s store\n\n", r.Store)
	fmt.Fprintf(w, "%s\n\n", r.Machine.summary())
	cols := columns(r)
	header, align := []string{"Scenario", "Figure"}, []string{"---", "---"}
	for _, c := range cols {
		header, align = append(header, labelOf(c)), append(align, "--:")
	}
	var ratios []string
	for _, b := range ratioBaselines {
		if slices.Contains(cols, b.name) {
			ratios = append(ratios, b.name)
			header, align = append(header, "Herald ÷ "+b.short), append(align, "--:")
		}
	}
	fmt.Fprintf(w, "| %s |\n|%s|\n", strings.Join(header, " | "), strings.Join(align, "|"))
	var last *scenarioResult
	for _, rw := range rows(r) {
		title := rw.s.Title
		if rw.s == last {
			title = ""
		}
		last = rw.s
		cells := []string{title, rw.name}
		for _, c := range cols {
			cells = append(cells, rw.cell(c))
		}
		for _, b := range ratios {
			cells = append(cells, rw.ratio(sysHerald, b))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	printBatchVersusSingle(w, r)
	printNotes(w, r)
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

// printNotes says what the table was measured with.
func printNotes(w io.Writer, r *storeReport) {
	fmt.Fprintf(w, "\nPeak RSS (VmHWM) of the whole process — Temporal server, Herald, baselines, receiver, load generator: %s;\n"+
		"after start, before any load: %s.\n", mib(r.PeakRSSBytes), mib(r.IdleRSSBytes))
	temporal := "in memory"
	if r.Settings.TemporalFile {
		temporal = "in a SQLite file"
	}
	fmt.Fprintf(w, "Settings: %d publishers, window %d events in flight, %d-byte payloads, %s per scenario and system; Temporal's state %s.\n",
		r.Settings.Concurrency, r.Settings.Window, r.Settings.PayloadBytes, loadSize(r.Settings), temporal)
	fmt.Fprintln(w, "Latency: from the publish call to the first 2xx at the receiver; ack: the publish call's answer.")
	printLoadNotes(w, r)
}

// printLoadNotes describes the loads that the scenarios' titles do not.
func printLoadNotes(w io.Writer, r *storeReport) {
	fmt.Fprintln(w, "Each scenario (a burst with the steady load after it) ran on a fresh stack per system: new Temporal, new store, new worker.")
	if slices.ContainsFunc(r.Scenarios, func(s *scenarioResult) bool { return s.Key == "burst" || s.Key == "burst10k" || s.Key == "ordered" }) {
		fmt.Fprintf(w, "Bursts and ordered: %d publishers, each waiting for its own answer only (no window).\n", r.Settings.BurstConcurrency)
	}
	if r.scenario("ingest-batch") != nil {
		burst := r.Settings.Events
		if burst <= 0 {
			burst = r.Settings.BatchEvents
		}
		fmt.Fprintf(w, "Batch ingest: a burst of %d events, %d publishers of %d-event batches, no window (Herald only: the baselines have no batch endpoint).\n",
			burst, r.Settings.BatchConcurrency, r.Settings.BatchSize)
	}
}

// printChecks writes what the receiver found, phase by phase.
func printChecks(w io.Writer, r *storeReport) {
	fmt.Fprintf(w, "\n| Scenario | System | Accepted | Rejected (of them 503) | Delivered | Missing | Duplicates | Bad signature | Bad body | Unexpected | Order | Check |\n")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
	for _, s := range r.Scenarios {
		for _, name := range columns(r) {
			f := s.Systems[name]
			if f == nil {
				continue // the scenario does not apply to it
			}
			verdict := "ok"
			if !f.correct() {
				verdict = "**FAILED**"
			}
			fmt.Fprintf(w, "| %s | %s | %d | %d (%d) | %d/%d | %d | %d | %d | %d | %d | %s | %s |\n", s.Title, name, f.Accepted, f.Rejected, f.Shed,
				f.Delivered, f.Expected, f.Missing, f.Duplicates, f.BadSignature, f.BadBody, f.Unexpected, orderCell(f), verdict)
			printProblems(w, f)
		}
	}
	if r.Stray > 0 {
		fmt.Fprintf(w, "\n%d requests reached the receiver on no webhook's path.\n", r.Stray)
	}
}

// orderCell is the order check's finding, – where none was made.
func orderCell(f *figures) string {
	switch {
	case !f.OrderChecked:
		return "–"
	case f.Overlaps == 0 && f.OutOfOrder == 0:
		return "in order, one at a time"
	}
	return fmt.Sprintf("**%d overlapping requests, %d out of order**", f.Overlaps, f.OutOfOrder)
}

// printProblems adds a line under a phase's checks for each thing that
// went wrong, and for a batch phase its workflows.
func printProblems(w io.Writer, f *figures) {
	if f.FirstRejection != "" {
		fmt.Fprintf(w, "|  | first rejection: %s |\n", strings.ReplaceAll(f.FirstRejection, "|", "/"))
	}
	if f.DeliveredRejected > 0 {
		fmt.Fprintf(w, "|  | **%d events answered with an error arrived all the same** |\n", f.DeliveredRejected)
	}
	if f.SettleError != "" {
		fmt.Fprintf(w, "|  | did not finish its work: %s |\n", strings.ReplaceAll(f.SettleError, "|", "/"))
	}
	if f.BatchSize > 0 {
		fmt.Fprintf(w, "|  | %d batches; event workflows completed (no_subscribers): %d of %d accepted; groups handed to the dispatcher: %d |\n",
			f.Batches, f.WorkflowsCompleted, f.Accepted, f.DispatchedGroups)
	}
	if f.FirstWorkflowProblem != "" {
		fmt.Fprintf(w, "|  | first event workflow not completed: %s |\n", strings.ReplaceAll(f.FirstWorkflowProblem, "|", "/"))
	}
}
