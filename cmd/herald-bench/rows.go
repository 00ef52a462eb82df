package main

// figure is one line of the table: what it measures and where a system's
// figures have it.
type figure struct {
	name  string
	value func(*figures) float64
}

var (
	acked      = figure{"events/s acknowledged (202)", func(f *figures) float64 { return f.EventsPerSec }}
	ackP50     = figure{"ack p50 ms", func(f *figures) float64 { return f.AckMS.P50 }}
	ackP99     = figure{"ack p99 ms", func(f *figures) float64 { return f.AckMS.P99 }}
	offered    = figure{"offered events/s (the same for all)", func(f *figures) float64 { return f.OfferedPerSec }}
	deliveries = figure{"deliveries/s", func(f *figures) float64 { return f.DeliveriesPerSec }}
	latP50     = figure{"latency p50 ms", func(f *figures) float64 { return f.LatencyMS.P50 }}
	latP95     = figure{"latency p95 ms", func(f *figures) float64 { return f.LatencyMS.P95 }}
	latP99     = figure{"latency p99 ms", func(f *figures) float64 { return f.LatencyMS.P99 }}
	history    = figure{"Temporal history events / delivery", func(f *figures) float64 { return f.HistoryPerDelivery }}
	processed  = func(name string) figure {
		return figure{name, func(f *figures) float64 { return f.ProcessedPerSec }}
	}
)

// figuresOf lists what the table shows of a scenario: what its load is
// there to measure.
func figuresOf(key string) []figure {
	switch key {
	case "ingest":
		return []figure{acked, processed("events/s processed (until every workflow closed)"), ackP50, ackP99,
			{"Temporal history events / event", history.value}}
	case "ingest-batch":
		return []figure{acked, processed("events/s until all workflows ran"), {"batch ack p50 ms", ackP50.value}, {"batch ack p99 ms", ackP99.value},
			{"drain s (last 202 to last workflow closed)", func(f *figures) float64 { return f.DrainSeconds }},
			{"Temporal history events / event (the dispatcher's share included)", history.value},
			{"of which the dispatcher", func(f *figures) float64 { return f.IngestHistoryPerEvent }}}
	case "burst", "burst10k":
		return []figure{acked, ackP50, ackP99, {"deliveries/s (first publish to last delivery)", deliveries.value},
			{"drain s (last 202 to last delivery)", func(f *figures) float64 { return f.DrainSeconds }}, latP50, latP99, history}
	case "steady":
		return []figure{offered, deliveries, latP50, latP95, latP99, history}
	case "ordered":
		return []figure{deliveries, latP50, latP95, latP99}
	case "steady500", "steady990":
		return []figure{offered, {"deliveries/s achieved", deliveries.value}, ackP50, ackP99, latP50, latP99, history}
	case "steady150-start", "steady150-after-burst":
		return []figure{offered, deliveries, latP50, latP95, latP99, ackP99}
	}
	return []figure{deliveries, latP50, latP95, latP99, history}
}
