package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pythonExample is one script of clients/python/examples: what it must
// print (regular expressions over its output, multi-line mode) and, when
// set, a check of what Herald recorded for it.
type pythonExample struct {
	script string
	want   []string
	check  func(t *testing.T, api, key, out string)
}

// The LOKI webhook guide's Examples 1–5 and its monitoring and
// troubleshooting snippets, as the Python client runs them, and a tour of
// the integration operations the examples leave out.
var pythonExamples = []pythonExample{
	{script: "example1.py", want: []string{
		`^Test result: 200$`,
		`^Delivered to 1 webhooks$`,
		`^Receiver got compliance\.alert \S+ \(signatures valid\)$`,
	}, check: recordedDelivered("compliance.alert", map[string]any{"alert_level": "critical", "alert_type": "gdpr_violation"})},
	{script: "example2.py", want: []string{
		`^Slack connection: ✓ Connected$`,
		`^Event routed to 1 integrations$`,
		`^Slack got: Compliance Alert \(HIGH\) \(colour #D93025\)$`,
	}, check: recordedDelivered("compliance.alert", map[string]any{"alert_type": "fca_violation"})},
	{script: "example3.py", want: []string{
		`^Email sent: ✓ Success$`,
		`^SMTP got: '\[LOKI\] Batch Completed' from loki-alerts@company\.com to compliance-team@company\.com, admin@company\.com, cto@company\.com \(AUTH as alerts@company\.com\)$`,
		`^Attachments: event-\S+\.json$`,
	}, check: recordedDelivered("batch.completed", map[string]any{"total_documents": 500.0, "success_rate": 99.6})},
	{script: "example4.py", want: []string{
		`^Herald has: exponential_backoff, 10 retries from 30s, x1\.5, cap 7200s, jitter 0\.2$`,
		`^Total retry time: 3399\.902 seconds$`,
		`^  Attempt 1: Retry at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d`,
		`^  Attempt 10: Retry at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d`,
		`^Delays \(s\): 30, 45, 67\.5, 101\.25, .*; same as RetryConfig: True$`,
	}},
	{script: "example5.py", want: []string{
		`^Integration Status: healthy$`,
		`^Total Integrations: 3$`,
		`^Total Subscriptions: 7$`,
		`^Email Team: idle$`,
		`^Slack Compliance: idle$`,
		`^Zapier Automation: idle$`,
	}},
	{script: "monitoring.py", want: []string{
		`^Triggered \S+: 1 delivered, 0 failed$`,
		`^Success Rate: 100\.0%$`,
		`^Total Events: 1$`,
		`^Retries: 1, 5xx: 1$`,
		`^Status: active$`,
		`^Test result: success=True status_code=200$`,
		`^Error: HTTP 503 Service Unavailable\nStatus Code: 503$`,
		`^Status: retrying\nNext Retry: \d{4}-`,
		`^While the receiver fails: 0 delivered, 1 failed$`,
		`^Bulk retry: 1 retried$`,
		`^After the retry: 1 delivered$`,
		`^Paused: paused \(Receiver maintenance\); paused webhooks: \['Monitored Webhook'\]$`,
		`^Resumed: active$`,
		`^Batch event \S+: signatures valid\nBatch event \S+: signatures valid\nBatch: 2 accepted, 0 duplicates$`,
		`^Published again: duplicate=True$`,
		`^Refused: 422 validation_failed: payload\.alert_level, payload\.alert_type$`,
		`^Rotated: new secret True, old one until \d{4}-`,
		`^Timeline: accepted > subscribers > attempt > wait > .*attempt > finished$`,
	}},
	{script: "integrations_tour.py", want: []string{
		`^Connected: Validation Feed \(webhook\), secret whsec_\S+$`,
		`^Connected again: id True$`,
		`^Subscriptions: \['validation\.completed', 'validation\.failed'\]$`,
		`^After unsubscribe: \['validation\.completed'\]$`,
		`^Unsubscribe again: 404 not_found$`,
		`^Updated: 'LOKI validation results', max_retries 3$`,
		`^Webhook integrations: \['Validation Feed'\] \(total 1\)$`,
		`^Credentials valid: True$`,
		`^Sent through the integration: True; receiver signatures valid$`,
		`^Deliveries: \[\(False, 'delivered'\), \(True, 'delivered'\)\]$`,
		`^Analytics: 1 delivered, success rate 100%$`,
		`^Routed to: \['Zapier Batches'\]$`,
		`^Zapier got one request with 2 events, signatures valid$`,
		`^Batched events: True$`,
		`^Health: healthy; Validation Feed healthy$`,
		`^Metrics: 2 integrations, by type \{'webhook': 1, 'zapier': 1\}$`,
	}},
}

// TestPythonClient runs the Python client (clients/python): its offline
// tests, then each example script against `herald dev --ephemeral`, in
// turn, and a pip install of the package without build isolation. A script
// must exit 0, print what its LOKI guide example prints (and what its
// receivers got), and leave no webhook or integration behind.
func TestPythonClient(t *testing.T) {
	python := findPython(t)
	root, err := filepath.Abs(filepath.Join("..", "..", "clients", "python"))
	if err != nil {
		t.Fatal(err)
	}
	base := []string{"PYTHONPATH=" + root}
	t.Run("unit", func(t *testing.T) {
		runPython(t, python, base, "-m", "unittest", "discover", "-s", filepath.Join(root, "tests"))
	})

	dev := start(t, "dev", "--ephemeral", "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "-1")
	api := waitFor(t, &dev.out, &dev.err, `API\s+(http://\S+)/api/v1`)
	key := waitFor(t, &dev.out, &dev.err, `API key\s+(hrld_\S+)  \(admin; shown once`)
	env := append(base, "HERALD_URL="+api, "HERALD_API_KEY="+key)
	for _, ex := range pythonExamples {
		t.Run(strings.TrimSuffix(ex.script, ".py"), func(t *testing.T) {
			defer pythonLeftNothing(t, api, key)
			out := runPython(t, python, env, filepath.Join(root, "examples", ex.script))
			for _, re := range ex.want {
				if !regexp.MustCompile("(?m)" + re).MatchString(out) {
					t.Errorf("%s printed no %q:\n%s", ex.script, re, out)
				}
			}
			if ex.check != nil && !t.Failed() {
				ex.check(t, api, key, out)
			}
		})
	}

	t.Run("pip install", func(t *testing.T) {
		// What `pip install --no-build-isolation` builds with, from the system.
		if err := exec.Command(python, "-c", "import setuptools, wheel, pip").Run(); err != nil {
			skipUnlessCI(t, fmt.Sprintf("%s lacks pip, setuptools or wheel (Debian: apt-get install python3-pip python3-setuptools python3-wheel): %v", python, err))
		}
		// A copy: setuptools builds in the source tree (build/, *.egg-info).
		src, site := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "site")
		copyPythonSources(t, root, src, "herald_client", "pyproject.toml", "README.md")
		runPython(t, python, nil, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
			"--disable-pip-version-check", "--target", site, src)
		if _, err := os.Stat(filepath.Join(site, "herald_client", "py.typed")); err != nil {
			t.Errorf("the installed package has no py.typed marker: %v", err)
		}
		// The installed copy, not the checkout, runs an example.
		installed := []string{"PYTHONPATH=" + site, "HERALD_URL=" + api, "HERALD_API_KEY=" + key}
		where := runPython(t, python, installed, "-c", "import herald_client; print(herald_client.__file__)")
		if !strings.HasPrefix(strings.TrimSpace(where), site) {
			t.Fatalf("herald_client imported from %s, not the installed copy in %s", where, site)
		}
		out := runPython(t, python, installed, filepath.Join(root, "examples", "example4.py"))
		if !strings.Contains(out, "same as RetryConfig: True") {
			t.Errorf("example4 with the installed package:\n%s", out)
		}
		pythonLeftNothing(t, api, key)
	})
}

// findPython is /usr/bin/python3 (what the examples are written for), else
// python3 on PATH; the test is skipped without one of 3.11 or later.
func findPython(t *testing.T) string {
	t.Helper()
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			skipUnlessCI(t, "python3 not found: the Python client's examples are not run (Debian: apt-get install python3)")
		}
	}
	if err := exec.Command(python, "-c", "import sys; sys.exit(sys.version_info < (3, 11))").Run(); err != nil {
		skipUnlessCI(t, python+" is older than 3.11, which the Python client needs: its examples are not run")
	}
	return python
}

// skipUnlessCI skips a test that needs what this machine lacks, or fails
// it under CI, which installs it (.ci/run).
func skipUnlessCI(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// runPython runs python with args and the extra environment, and returns
// its standard output; it fails the test unless python exits 0 within two
// minutes. Python writes no bytecode into the checkout.
func runPython(t *testing.T, python string, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1", "PYTHONIOENCODING=utf-8")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	started := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v after %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(python), strings.Join(args, " "), err,
			time.Since(started).Round(time.Millisecond), stdout.String(), stderr.String())
	}
	return stdout.String()
}

// recordedDelivered checks, in Herald's own records, the event the script
// reported ("Herald recorded <id>: 1 of 1 delivered"): its type, payload
// fields and counters.
func recordedDelivered(eventType string, payload map[string]any) func(t *testing.T, api, key, out string) {
	return func(t *testing.T, api, key, out string) {
		t.Helper()
		m := regexp.MustCompile(`(?m)^Herald recorded (\S+): 1 of 1 delivered$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the script reported no delivered event:\n%s", out)
		}
		var ev struct {
			EventType            string         `json:"event_type"`
			Payload              map[string]any `json:"payload"`
			TotalDeliveries      int            `json:"total_deliveries"`
			SuccessfulDeliveries int            `json:"successful_deliveries"`
			ProcessedAt          *time.Time     `json:"processed_at"`
		}
		if code := call(t, key, "GET", api+"/api/v1/events/"+m[1], "", &ev); code != 200 {
			t.Fatalf("GET event %s: %d", m[1], code)
		}
		if ev.EventType != eventType || ev.TotalDeliveries != 1 || ev.SuccessfulDeliveries != 1 || ev.ProcessedAt == nil {
			t.Errorf("Herald recorded %s as %+v", m[1], ev)
		}
		for k, want := range payload {
			if got := ev.Payload[k]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("payload.%s = %v, want %v (payload %v)", k, got, want, ev.Payload)
			}
		}
	}
}

// pythonLeftNothing checks that a script deleted the webhooks and
// integrations it made, and deletes any it left so that the next script
// starts from nothing.
func pythonLeftNothing(t *testing.T, api, key string) {
	t.Helper()
	for _, what := range []string{"webhooks", "integrations"} {
		var page map[string]json.RawMessage
		if code := call(t, key, "GET", api+"/api/v1/"+what+"?limit=1000", "", &page); code != 200 {
			t.Fatalf("GET %s: %d", what, code)
		}
		var items []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(page[what], &items); err != nil {
			t.Fatalf("GET %s: %v", what, err)
		}
		for _, left := range items {
			t.Errorf("left behind: %s %d %q", what, left.ID, left.Name)
			path := fmt.Sprint(left.ID)
			if what == "integrations" {
				path = url.PathEscape(left.Name)
			}
			call(t, key, "DELETE", api+"/api/v1/"+what+"/"+path, "", nil)
		}
	}
}

// copyPythonSources copies the named files and directories of from into to.
func copyPythonSources(t *testing.T, from, to string, names ...string) {
	t.Helper()
	for _, name := range names {
		err := filepath.WalkDir(filepath.Join(from, name), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			rel, _ := filepath.Rel(from, path)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(to, rel), 0o755)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(to, rel)), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(to, rel), data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
