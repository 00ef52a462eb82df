package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestScenarioSelection checks what -only runs: in the order that puts the
// first minute after start first, a follow-on with the scenario it follows.
func TestScenarioSelection(t *testing.T) {
	cases := []struct {
		only string
		want []string // groups, their scenarios joined by +
	}{
		{"ingest,steady150-start", []string{"steady150-start", "ingest"}},
		{"steady150-after-burst", []string{"burst+steady150-after-burst"}},
		{"burst,steady150-after-burst", []string{"burst+steady150-after-burst"}},
		{"burst", []string{"burst"}},
		{"ordered,burst10k,steady990,steady500", []string{"steady500", "steady990", "burst10k", "ordered"}},
	}
	for _, c := range cases {
		b := &bench{o: options{only: c.only}}
		all := scenarios(b.o)
		var got []string
		for _, sc := range all {
			var keys []string
			for _, g := range b.group(all, sc) {
				keys = append(keys, g.key)
			}
			if keys != nil {
				got = append(got, strings.Join(keys, "+"))
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("-only %s: %v, want %v", c.only, got, c.want)
		}
	}
	if all := scenarioKeys(); all[0] != "steady150-start" || len(all) != 14 {
		t.Errorf("scenarios %v", all)
	}
}

func TestScenarioSystems(t *testing.T) {
	cases := []struct {
		key  string
		runs []string
	}{
		{"fanout3", []string{sysHerald, sysPlain, sysNaive, sysCeiling}},
		{"ingest-batch", []string{sysHerald}},
		{"burst", []string{sysHerald, sysStream, sysPlain, sysNaive, sysCeiling}},
		{"steady150-start", []string{sysHerald, sysStream, sysPlain, sysNaive, sysCeiling}},
		{"steady500", []string{sysHerald, sysStream, sysPlain, sysNaive, sysCeiling}},
		{"steady990", []string{sysHerald, sysStream, sysPlain, sysNaive, sysCeiling}},
		{"burst10k", []string{sysStream}},
		{"ordered", []string{sysOrdered}},
	}
	for _, c := range cases {
		i := slices.IndexFunc(scenarios(options{}), func(sc scenario) bool { return sc.key == c.key })
		sc := scenarios(options{})[i]
		var runs []string
		for _, s := range systemOrder {
			if sc.runsOn(s.name) {
				runs = append(runs, s.name)
			}
		}
		if !slices.Equal(runs, c.runs) {
			t.Errorf("%s runs on %v, want %v", c.key, runs, c.runs)
		}
	}
}

func TestParseModes(t *testing.T) {
	cases := []struct {
		flag    string
		systems []string
		err     string
	}{
		{"per_event", []string{sysHerald}, ""},
		{"ordered,per_event,stream", []string{sysHerald, sysStream, sysOrdered}, ""},
		{"stream, stream", []string{sysStream}, ""},
		{"streaming", nil, `no delivery mode "streaming"`},
		{"", nil, ""}, // the baselines alone
	}
	for _, c := range cases {
		modes, err := parseModes(c.flag)
		var systems []string
		for _, m := range modes {
			systems = append(systems, m.system)
		}
		if !slices.Equal(systems, c.systems) || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("-modes %q: %v, %v", c.flag, systems, err)
		}
	}
}

func TestScenarioFlags(t *testing.T) {
	o, err := parseFlags([]string{"-smoke", "-ordered-events", "64"}, io.Discard)
	if err != nil || o.burstEvents != 20 || o.burst10kEvents != 40 || o.orderedEvents != 64 || o.steadyStart != 3*time.Second ||
		o.steadyAfterBurst != 3*time.Second || o.burstConcurrency != 32 || len(o.modes) != 3 || o.modes[0] != perEvent {
		t.Errorf("smoke: %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-only", "burst,steady150-after-burst,ordered", "-modes", "per_event,ordered"}, io.Discard)
	if err != nil || o.burstEvents != 3000 || o.steadyStart != time.Minute || o.steady500Rate != 500 || len(o.modes) != 2 {
		t.Errorf("default: %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"-only", "burst5k"}, {"-modes", "fifo"}, {"-burst-concurrency", "0"}, {"-steady500-rate", "0"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestBurstHasNoWindow publishes a burst to an API that accepts and never
// delivers: publishers wait for their own answer only, so the burst ends,
// each publisher's events in the order it sent them.
func TestBurstHasNoWindow(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]any{"created_at": time.Now().UTC()})
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc := scenario{key: "burst", eventType: "compliance.alert", fanOut: 3, load: burstLoad, count: 50}
	p := newPhase(sysHerald, sc, 0)
	pb := newPublisher(srv.URL, "k", "run", 8)
	pb.closedLoop(ctx, p, 8, limit{count: sc.count})
	if ctx.Err() != nil || calls.Load() != 50 || len(p.order) != 50 {
		t.Fatalf("%d published, %d calls, %v", len(p.order), calls.Load(), ctx.Err())
	}
	last := map[int]int{}
	for _, s := range p.order {
		if s.publisher < 0 || s.publisher >= 8 || s.seq <= last[s.publisher] || !s.accepted() {
			t.Errorf("event %d of publisher %d after %d, accepted %v", s.seq, s.publisher, last[s.publisher], s.accepted())
		}
		last[s.publisher] = s.seq
	}
	if open, _ := p.progress(); open != 50 {
		t.Errorf("%d events open, want 50: nothing was delivered", open)
	}
}
