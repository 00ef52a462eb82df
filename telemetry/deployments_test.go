package telemetry

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The alert rules and the dashboard only name metrics Herald exports.
func TestAlertRulesNameExportedMetrics(t *testing.T) {
	for _, file := range []string{"../deployments/prometheus/herald-alerts.yaml", "../deployments/grafana/herald-dashboard.json"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`herald_[a-z_]+`).FindAllString(string(raw), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
			if !slices.Contains(Names, base) {
				t.Errorf("%s names %s, which Herald does not export", file, name)
			}
		}
	}
}
