package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTableHasEverySystemThatRan checks the columns: a system's own where
// it ran, Herald ÷ each baseline, n/a where a scenario skipped a system;
// and that an order violation shows in the checks and fails the run.
func TestTableHasEverySystemThatRan(t *testing.T) {
	fig := func(system string, acked float64) *figures {
		return &figures{System: system, Accepted: 10, Delivered: 30, Expected: 30, EventsPerSec: acked, DrainSeconds: 2}
	}
	r := &storeReport{Store: "sqlite", Scenarios: []*scenarioResult{
		{Key: "burst", Title: "(f)", Systems: map[string]*figures{sysHerald: fig(sysHerald, 100), sysStream: fig(sysStream, 200),
			sysPlain: fig(sysPlain, 1000), sysNaive: fig(sysNaive, 50), sysCeiling: fig(sysCeiling, 200)}},
		{Key: "ordered", Title: "(j)", Systems: map[string]*figures{sysOrdered: {System: sysOrdered, Accepted: 10, Delivered: 10,
			Expected: 10, OrderChecked: true, Overlaps: 1, OutOfOrder: 2}}},
	}}
	var out bytes.Buffer
	printTable(&out, r)
	printChecks(&out, r)
	text := out.String()
	for _, want := range []string{
		"| Scenario | Figure | Herald | Herald stream | Herald ordered | Plain Go | Naive Temporal | Engine ceiling | Herald ÷ Plain | Herald ÷ Naive | Herald ÷ Ceiling |",
		"| (f) | events/s acknowledged (202) | 100 | 200 | n/a | 1000 | 50.0 | 200 | 0.10× | 2.00× | 0.50× |",
		"| drain s (last 202 to last delivery) | 2.00 | 2.00 | n/a | 2.00 | 2.00 | 2.00 | 1.00× | 1.00× | 1.00× |",
		"| (j) | deliveries/s | n/a | n/a | – | n/a | n/a | n/a | n/a | n/a | n/a |",
		"| (j) | herald-ordered | 10 | 0 (0) | 10/10 | 0 | 0 | 0 | 0 | 0 | **1 overlapping requests, 2 out of order** | **FAILED** |",
		"| (f) | ceiling | 10 | 0 (0) | 30/30 | 0 | 0 | 0 | 0 | 0 | – | ok |",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if r.check() {
		t.Error("a run with order violations passed")
	}
}
