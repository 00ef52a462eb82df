package main

import (
	"fmt"
	"slices"
	"strings"
)

// The systems a run can measure, by the name its figures go under.
const (
	sysHerald  = "herald"         // webhooks in delivery mode per_event
	sysStream  = "herald-stream"  // webhooks in delivery mode stream
	sysOrdered = "herald-ordered" // webhooks in delivery mode ordered
	sysPlain   = "plain"
	sysNaive   = "naive"
	sysCeiling = "ceiling"
)

// baselines run beside Herald in every scenario not about a delivery mode
// or the batch endpoint.
var baselines = []string{sysPlain, sysNaive, sysCeiling}

// systemOrder is every system with its label, in the order of the
// report's columns.
var systemOrder = []struct{ name, label string }{
	{sysHerald, "Herald"},
	{sysStream, "Herald stream"},
	{sysOrdered, "Herald ordered"},
	{sysPlain, "Plain Go"},
	{sysNaive, "Naive Temporal"},
	{sysCeiling, "Engine ceiling"},
}

func labelOf(system string) string {
	for _, s := range systemOrder {
		if s.name == system {
			return s.label
		}
	}
	return system
}

// deliveryMode is a value of a webhook's delivery_mode: each one is a
// Herald system of its own, all driving the same Herald.
type deliveryMode struct {
	value  string // as the API takes it
	system string
}

// perEvent is Herald's default: its webhooks are created without the
// field, as every client that predates delivery modes creates them.
var perEvent = deliveryMode{"per_event", sysHerald}

var deliveryModes = []deliveryMode{perEvent, {"stream", sysStream}, {"ordered", sysOrdered}}

// parseModes reads -modes: delivery modes, comma-separated. They run in
// the order above, per_event first, whatever the order given.
func parseModes(list string) ([]deliveryMode, error) {
	given := map[string]bool{}
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue // -modes "": the baselines alone, to profile them
		}
		if !slices.ContainsFunc(deliveryModes, func(m deliveryMode) bool { return m.value == v }) {
			return nil, fmt.Errorf("-modes: no delivery mode %q (want per_event, stream or ordered, comma-separated)", v)
		}
		given[v] = true
	}
	var modes []deliveryMode
	for _, m := range deliveryModes {
		if given[m.value] {
			modes = append(modes, m)
		}
	}
	return modes, nil
}

// isHerald says a system is one of Herald's delivery modes, not a baseline.
func isHerald(system string) bool {
	return slices.ContainsFunc(deliveryModes, func(m deliveryMode) bool { return m.system == system })
}
