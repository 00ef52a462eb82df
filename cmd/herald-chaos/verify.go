package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"time"
)

// pair is one expected delivery: an event to one webhook's receiver.
type pair struct {
	event    string
	receiver string
}

// verdict is the run judged from the receivers' logs, with Herald's rows
// checked against them.
type verdict struct {
	Events, Accepted           int
	Expected, Delivered, Lost  int
	Duplicates                 int
	DuplicateRate              float64
	ForeignID                  int // a request whose ids disagree, or that names no published event
	BadSignature, BadBody      int
	LatencyP50, LatencyP99     time.Duration
	Requests                   map[string]int // by answer
	RowsNotSeen                int            // Herald rows with a response the receiver never gave
	DeliveredWithoutRow        int            // delivered pairs Herald has no delivered row for
	StuckMax, StuckAtEnd       int
	Refusals                   map[string]int
	Faults                     map[string]int
	FaultErrors                []string
	Elapsed                    time.Duration
	lostSample, disagreeSample []string
}

func (v *verdict) failed() bool {
	return v.Lost > 0 || v.StuckMax > 0 || v.StuckAtEnd > 0 || v.ForeignID > 0 || v.BadSignature > 0 || v.BadBody > 0 ||
		v.RowsNotSeen > 0 || v.DeliveredWithoutRow > 0 || len(v.FaultErrors) > 0 || v.Accepted < v.Events
}

// judge reads every receiver's log: a pair is delivered when its receiver
// answered 2xx to a request with a valid signature and the published body.
func judge(p *published, hooks []*hook) *verdict {
	v := &verdict{Requests: map[string]int{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	v.Refusals = maps.Clone(p.refusals)
	v.Events, v.Accepted = len(p.askedAt), len(p.accepted)
	var latencies []time.Duration
	for _, h := range hooks {
		first := map[string]time.Time{}
		for _, a := range h.rcv.arrivals() {
			v.Requests[a.Answer]++
			if _, ok := p.payloads[a.EventID]; !ok || a.StdID != a.EventID {
				v.ForeignID++
				continue
			}
			if !a.SigValid {
				v.BadSignature++
			}
			if !a.BodyMatch {
				v.BadBody++
			}
			if a.Answer != answerOK || !a.SigValid || !a.BodyMatch {
				continue
			}
			if _, seen := first[a.EventID]; seen {
				v.Duplicates++
				continue
			}
			first[a.EventID] = a.At
			latencies = append(latencies, a.At.Sub(p.askedAt[a.EventID]))
		}
		for id := range p.accepted {
			v.Expected++
			if _, ok := first[id]; ok {
				v.Delivered++
			} else {
				v.Lost++
				if len(v.lostSample) < 10 {
					v.lostSample = append(v.lostSample, id+" → "+h.rcv.name)
				}
			}
		}
	}
	if v.Delivered > 0 {
		v.DuplicateRate = float64(v.Duplicates) / float64(v.Delivered)
	}
	slices.Sort(latencies)
	v.LatencyP50, v.LatencyP99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	return v
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// row is one of Herald's attempt rows.
type row struct {
	webhookID int64
	eventID   string
	attempt   int
	status    string
	code      sql.NullInt64
}

// compareRows checks Herald's attempt rows against what receivers saw: a
// row with a response must match a request the receiver answered so, and
// every delivered pair must have a delivered row.
func compareRows(ctx context.Context, db *sql.DB, hooks []*hook, v *verdict) error {
	rows, err := db.QueryContext(ctx, `SELECT webhook_id, event_id, attempt_number, status, response_status_code FROM deliveries`)
	if err != nil {
		return err
	}
	defer rows.Close()
	type key struct {
		webhook int64
		event   string
		attempt int
	}
	byKey := map[key]row{}
	delivered := map[pair]bool{}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.webhookID, &r.eventID, &r.attempt, &r.status, &r.code); err != nil {
			return err
		}
		byKey[key{r.webhookID, r.eventID, r.attempt}] = r
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range hooks {
		answered := map[key][]string{}
		for _, a := range h.rcv.arrivals() {
			k := key{h.ID, a.EventID, a.Attempt}
			answered[k] = append(answered[k], a.Answer)
		}
		for k, r := range byKey {
			if k.webhook != h.ID || !r.code.Valid {
				continue
			}
			want := answer503
			if r.code.Int64 == 200 {
				want, delivered[pair{k.event, h.rcv.name}] = answerOK, true
			}
			if !slices.Contains(answered[k], want) {
				v.RowsNotSeen++
				if len(v.disagreeSample) < 10 {
					v.disagreeSample = append(v.disagreeSample, fmt.Sprintf("%s → %s attempt %d: Herald recorded %d, receiver saw %v", k.event, h.rcv.name, k.attempt, r.code.Int64, answered[k]))
				}
			}
		}
	}
	for _, h := range hooks {
		seen := map[string]bool{}
		for _, a := range h.rcv.arrivals() {
			if a.Answer == answerOK && !seen[a.EventID] {
				seen[a.EventID] = true
				if !delivered[pair{a.EventID, h.rcv.name}] {
					v.DeliveredWithoutRow++
				}
			}
		}
	}
	return nil
}

// stuckQuery counts deliveries whose latest attempt row says they should
// have gone again more than grace ago, or that started and never finished.
const stuckQuery = `
SELECT count(*) FROM deliveries d
WHERE d.attempt_number = (SELECT max(x.attempt_number) FROM deliveries x WHERE x.event_id = d.event_id AND x.webhook_id = d.webhook_id)
  AND ((d.status = 'retrying' AND d.next_retry_at < now() - make_interval(secs => $1))
    OR (d.status = 'pending' AND d.created_at < now() - make_interval(secs => $2)))`

func countStuck(ctx context.Context, db *sql.DB, grace, pendingGrace time.Duration) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, stuckQuery, grace.Seconds(), pendingGrace.Seconds()).Scan(&n)
	return n, err
}

func (v *verdict) print(w io.Writer, title string) {
	fmt.Fprintf(w, "\n### %s\n\n", title)
	fmt.Fprintln(w, "| measure | value |")
	fmt.Fprintln(w, "|---|---|")
	row := func(k string, val any) { fmt.Fprintf(w, "| %s | %v |\n", k, val) }
	row("events published / accepted (202)", fmt.Sprintf("%d / %d", v.Events, v.Accepted))
	row("deliveries expected / delivered / lost", fmt.Sprintf("%d / %d / %d", v.Expected, v.Delivered, v.Lost))
	row("duplicates (same event id) / rate", fmt.Sprintf("%d / %.2f %%", v.Duplicates, 100*v.DuplicateRate))
	row("delivery latency p50 / p99 (publish → receiver 2xx)", fmt.Sprintf("%s / %s", v.LatencyP50.Round(time.Millisecond), v.LatencyP99.Round(time.Millisecond)))
	row("stuck past schedule + grace (max seen / at end)", fmt.Sprintf("%d / %d", v.StuckMax, v.StuckAtEnd))
	row("bad signature / bad body / foreign id", fmt.Sprintf("%d / %d / %d", v.BadSignature, v.BadBody, v.ForeignID))
	row("Herald rows the receiver never saw / delivered pairs without a row", fmt.Sprintf("%d / %d", v.RowsNotSeen, v.DeliveredWithoutRow))
	row("requests by receiver answer", sortedCounts(v.Requests))
	row("publish refusals before acceptance", sortedCounts(v.Refusals))
	row("faults injected", sortedCounts(v.Faults))
	row("run time", v.Elapsed.Round(time.Second))
	for _, e := range v.FaultErrors {
		fmt.Fprintf(w, "\nfault error: %s", e)
	}
	for _, s := range v.lostSample {
		fmt.Fprintf(w, "\nlost: %s", s)
	}
	for _, s := range v.disagreeSample {
		fmt.Fprintf(w, "\ndisagree: %s", s)
	}
	fmt.Fprintln(w)
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s: %d", k, m[k])
	}
	if s == "" {
		return "none"
	}
	return s
}
