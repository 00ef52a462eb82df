package main

import "testing"

func TestSoakJudgesGrowth(t *testing.T) {
	for _, c := range []struct {
		name  string
		trend trend
		grows bool
	}{
		// Figures from soaks of 2026-12-05 (bench/results/soak-*.json).
		{"temporal before its cache was bounded", trend{Measure: "rss_mib", PerHour: 55.5, PctPerHour: 17.4}, true},
		{"temporal after", trend{Measure: "rss_mib", PerHour: 16.1, PctPerHour: 5.3}, false},
		{"goroutines that move with the load", trend{Measure: "goroutines", PerHour: 45.9, PctPerHour: 100.9}, false},
		{"goroutines leaking", trend{Measure: "goroutines", PerHour: 600, PctPerHour: 300}, true},
		{"a large process growing slowly", trend{Measure: "rss_mib", PerHour: 40, PctPerHour: 4}, false},
		{"sockets leaking", trend{Measure: "sockets", PerHour: 60, PctPerHour: 150}, true},
		{"the store filling with deliveries", trend{Measure: "db_mib", PerHour: 1429.9, PctPerHour: 154.1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.trend.grows(); got != c.grows {
				t.Fatalf("grows() = %v, want %v", got, c.grows)
			}
		})
	}
}

func TestSoakFailsOnErrorsAndGrowth(t *testing.T) {
	for _, c := range []struct {
		name   string
		report *soakReport
		failed bool
	}{
		{"not a soak", nil, false},
		{"clean", &soakReport{ErrorLines: map[string]int{}}, false},
		{"an error line", &soakReport{ErrorLines: map[string]int{"worker-1": 1}}, true},
		{"a growing series", &soakReport{Growing: []string{"api goroutines"}, ErrorLines: map[string]int{}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := &verdict{Soak: c.report}
			if got := v.failed(); got != c.failed {
				t.Fatalf("failed() = %v, want %v", got, c.failed)
			}
		})
	}
}
