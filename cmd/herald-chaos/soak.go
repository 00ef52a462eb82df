package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A soak runs Herald at a steady load for an hour with no kills, only
// receivers that refuse a tenth of requests, and samples every process
// each minute: what grows without bound (memory, goroutines, connections,
// the databases) shows as a slope once the first minutes' warm-up is past.

// soakFaults: a tenth of requests refused, nothing slow or reset.
var soakFaults = faults{unavailable: 0.10}

// soakWarmUp is left out of the slopes: caches, pools and the first
// retries fill during it.
const soakWarmUp = 10 * time.Minute

// sample is one look at one process.
type sample struct {
	At         time.Time `json:"at"`
	Proc       string    `json:"proc"`
	RSSBytes   int64     `json:"rss_bytes"`
	Goroutines int64     `json:"goroutines"` // -1: the process exports none
	Sockets    int64     `json:"sockets"`
	DBBytes    int64     `json:"db_bytes,omitempty"` // the store's, on the api row; Temporal's on temporal's
}

// sampler takes a sample of every process each interval.
type sampler struct {
	k        *cluster
	c        *config
	interval time.Duration

	mu      sync.Mutex
	samples []sample
}

func (s *sampler) run(ctx context.Context) {
	for {
		s.take(ctx)
		select {
		case <-time.After(s.interval):
		case <-ctx.Done():
			return
		}
	}
}

func (s *sampler) take(ctx context.Context) {
	now := time.Now()
	procs := append([]*proc{s.k.temporal, s.k.api}, s.k.workers...)
	var got []sample
	for _, p := range procs {
		pid := p.pid()
		if pid == 0 {
			continue
		}
		smp := sample{At: now, Proc: p.name, RSSBytes: rss(pid), Sockets: sockets(pid), Goroutines: goroutines(ctx, p.metrics)}
		switch p {
		case s.k.api:
			smp.DBBytes = databaseBytes(ctx, s.k.store)
		case s.k.temporal:
			smp.DBBytes = s.temporalBytes(ctx)
		}
		got = append(got, smp)
	}
	s.mu.Lock()
	s.samples = append(s.samples, got...)
	s.mu.Unlock()
	for _, smp := range got {
		logf("soak: %-9s rss %4d MiB, goroutines %5d, sockets %4d, db %5d MiB", smp.Proc, smp.RSSBytes>>20, smp.Goroutines, smp.Sockets, smp.DBBytes>>20)
	}
}

// temporalBytes is the size of Temporal's state: its SQLite files, or its
// PostgreSQL databases.
func (s *sampler) temporalBytes(ctx context.Context) int64 {
	if s.c.temporalDB != "postgres" {
		var n int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(filepath.Join(s.c.workDir, "temporal.db"+suffix)); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	var n int64
	_ = s.k.store.QueryRowContext(ctx, `SELECT coalesce(sum(pg_database_size(datname)), 0) FROM pg_database WHERE datname LIKE 'temporal_chaos_%'`).Scan(&n)
	return n
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func sockets(pid int) int64 {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// goroutines reads go_goroutines from a process's Prometheus endpoint.
func goroutines(ctx context.Context, metricsURL string) int64 {
	if metricsURL == "" {
		return -1
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return -1
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return int64(f)
		}
	}
	return -1
}

func databaseBytes(ctx context.Context, db *sql.DB) int64 {
	var n int64
	_ = db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
	return n
}

// trend is one series' least-squares slope after the warm-up.
type trend struct {
	Proc, Measure string
	First, Last   float64
	PerHour       float64 // slope, in the measure's unit per hour
	PctPerHour    float64 // slope as a share of the series' mean
}

func (s *sampler) trends(began time.Time) []trend {
	s.mu.Lock()
	defer s.mu.Unlock()
	series := map[[2]string][][2]float64{}
	for _, smp := range s.samples {
		if smp.At.Sub(began) < soakWarmUp {
			continue
		}
		h := smp.At.Sub(began).Hours()
		for m, v := range map[string]int64{"rss_mib": smp.RSSBytes >> 20, "goroutines": smp.Goroutines, "sockets": smp.Sockets, "db_mib": smp.DBBytes >> 20} {
			if v >= 0 && !(m == "db_mib" && smp.DBBytes == 0) {
				key := [2]string{smp.Proc, m}
				series[key] = append(series[key], [2]float64{h, float64(v)})
			}
		}
	}
	var out []trend
	for key, pts := range series {
		if len(pts) < 3 {
			continue
		}
		slope, mean := leastSquares(pts)
		t := trend{Proc: key[0], Measure: key[1], First: pts[0][1], Last: pts[len(pts)-1][1], PerHour: slope}
		if mean != 0 {
			t.PctPerHour = slope / mean * 100
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Proc+out[i].Measure < out[j].Proc+out[j].Measure
	})
	return out
}

// leastSquares fits y = a + b·x and returns b and the mean of y.
func leastSquares(pts [][2]float64) (slope, mean float64) {
	var sx, sy, sxx, sxy float64
	n := float64(len(pts))
	for _, p := range pts {
		sx, sy, sxx, sxy = sx+p[0], sy+p[1], sxx+p[0]*p[0], sxy+p[0]*p[1]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0, sy / n
	}
	return (n*sxy - sx*sy) / den, sy / n
}

// errorLines counts each process's log lines at level ERROR and keeps a
// few: a soak has no faults but the receivers' refusals, which Herald
// records as attempts, not errors.
func errorLines(workDir string, names []string) (map[string]int, []string) {
	counts, examples := map[string]int{}, []string{}
	for _, name := range names {
		f, err := os.Open(filepath.Join(workDir, name+".log"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, `"level":"ERROR"`) {
				counts[name]++
				if len(examples) < 10 {
					examples = append(examples, name+": "+line[:min(len(line), 300)])
				}
			}
		}
		f.Close()
	}
	return counts, examples
}

func printTrends(w io.Writer, ts []trend) {
	fmt.Fprintf(w, "\n### Soak: trends after the first %s (least-squares slope)\n\n", soakWarmUp)
	fmt.Fprintln(w, "| process | measure | first | last | slope per hour | slope, % of mean per hour |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	for _, t := range ts {
		fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %+.1f | %+.1f %% |\n", t.Proc, t.Measure, t.First, t.Last, t.PerHour, t.PctPerHour)
	}
}

// A series grows when its slope after the warm-up passes both a share of
// its mean and a floor in its own unit: goroutines and sockets move with
// the requests in flight at the minute of each sample, and a process's
// memory with its garbage collector, by more than a share alone allows.
// The databases hold what was delivered, and grow by design: reported,
// not judged.
const growthPctPerHour = 10

var growthFloorPerHour = map[string]float64{"rss_mib": 32, "goroutines": 100, "sockets": 20}

func (t trend) grows() bool {
	floor, judged := growthFloorPerHour[t.Measure]
	return judged && t.PerHour >= floor && t.PctPerHour >= growthPctPerHour
}

// soakReport is what a soak adds to the verdict. A soak fails on a line
// at level ERROR or a series that grows.
type soakReport struct {
	Trends     []trend        `json:"trends"`
	Growing    []string       `json:"growing"`
	ErrorLines map[string]int `json:"error_lines"`
	Examples   []string       `json:"error_examples,omitempty"`
	Samples    []sample       `json:"samples"`
}

func (r *soakReport) failed() bool {
	return r != nil && (len(r.Growing) > 0 || len(r.ErrorLines) > 0)
}

func (s *sampler) report(began time.Time) *soakReport {
	names := []string{s.k.temporal.name, s.k.api.name}
	for _, w := range s.k.workers {
		names = append(names, w.name)
	}
	r := &soakReport{Trends: s.trends(began)}
	for _, t := range r.Trends {
		if t.grows() {
			r.Growing = append(r.Growing, fmt.Sprintf("%s %s %+.1f an hour (%+.1f %%)", t.Proc, t.Measure, t.PerHour, t.PctPerHour))
		}
	}
	r.ErrorLines, r.Examples = errorLines(s.c.workDir, names)
	s.mu.Lock()
	r.Samples = append(r.Samples, s.samples...)
	s.mu.Unlock()
	return r
}

func (r *soakReport) print(w io.Writer) {
	printTrends(w, r.Trends)
	fmt.Fprintf(w, "\nGrowing (over %d %% of the mean an hour and its floor %v): %v\n", growthPctPerHour, growthFloorPerHour, r.Growing)
	fmt.Fprintf(w, "\nLog lines at level ERROR: %v\n", r.ErrorLines)
	for _, e := range r.Examples {
		fmt.Fprintln(w, "  "+e)
	}
}
