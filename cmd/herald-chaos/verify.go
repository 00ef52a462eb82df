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

	"github.com/loki-interceptor/herald/webhook"
)

// target is one expected delivery as Herald keys it: an event to one
// webhook (and so to that webhook's receiver).
type target struct {
	webhook int64
	event   string
}

// attemptKey is one attempt of a delivery, numbered as Herald numbers it
// and as the receiver reads it from X-Webhook-Attempt.
type attemptKey struct {
	target
	attempt int
}

// verdict is the run judged from the receivers' logs, with Herald's rows
// checked against them.
type verdict struct {
	Events, Accepted          int
	Expected, Delivered, Lost int
	Duplicates                int
	DuplicateRate             float64
	DuplicatesByMode          map[string]int
	DuplicatesByKind          map[string]int // see answerLost
	ResentInLease             int            // an attempt sent again within its row's lease of its last send
	OrderViolations           int            // ordered webhooks: requests out of turn, and events delivered before one accepted earlier
	ForeignID                 int            // a request whose ids disagree, or that names no published event
	BadSignature, BadBody     int
	LatencyP50, LatencyP99    time.Duration
	Requests                  map[string]int // by answer
	RowsNotSeen               int            // Herald rows with a response the receiver never gave
	RowsNoAnswer              map[string]int // Herald rows with no response, by what the receiver logged for that attempt
	DeliveredWithoutRow       int            // delivered pairs Herald has no delivered row for
	SentNotRecorded           int            // pairs a receiver got requests for that Herald has no attempt row for
	ResentAfterKill           int            // requests beyond their pair's attempt rows: an attempt sent again after a kill
	StuckMax, StuckAtEnd      int            // rows past their time plus first attempts never started
	NeverStartedMax           int            // of StuckMax, first attempts never started
	NeverStartedAtEnd         int            // of StuckAtEnd, first attempts never started
	Refusals                  map[string]int
	Faults                    map[string]int
	FaultErrors               []string
	Elapsed                   time.Duration
	Soak                      *soakReport `json:",omitempty"`
	// WorkerKills are when each worker was sent kill -9: a duplicate of
	// the attempt a worker was sending is only excused by one of them.
	WorkerKills                []time.Time
	DuplicateSamples           []string // up to maxDupSamples, each with its kind
	lostSample, disagreeSample []string
	dupes                      []dupe
}

// maxDupSamples bounds the duplicates kept in the result JSON: enough to
// read a kind's pattern, few enough to keep the file readable.
const maxDupSamples = 20

func (v *verdict) failed() bool {
	return v.Lost > 0 || v.ResentInLease > 0 || v.DuplicatesByKind[deliveredResent] > 0 || v.DuplicatesByKind[laterUnread] > 0 || v.DuplicatesByKind[resentNoKill] > 0 || v.OrderViolations > 0 || v.StuckMax > 0 || v.StuckAtEnd > 0 || v.ForeignID > 0 || v.BadSignature > 0 || v.BadBody > 0 ||
		v.RowsNotSeen > 0 || v.DeliveredWithoutRow > 0 || v.SentNotRecorded > 0 || len(v.FaultErrors) > 0 || v.Accepted < v.Events || v.Soak.failed()
}

// judge reads every receiver's log: a pair is delivered when its receiver
// answered 2xx to a request with a valid signature and the published body.
// kills are the workers' kill -9 times, which alone excuse an attempt sent
// again.
func judge(p *published, hooks []*hook, kills []time.Time) *verdict {
	v := &verdict{Requests: map[string]int{}, DuplicatesByMode: map[string]int{}, DuplicatesByKind: map[string]int{}, WorkerKills: kills}
	p.mu.Lock()
	defer p.mu.Unlock()
	v.Refusals = maps.Clone(p.refusals)
	v.Events, v.Accepted = len(p.askedAt), len(p.accepted)
	var latencies []time.Duration
	for _, h := range hooks {
		first := map[string]time.Time{}
		for id, a := range v.readArrivals(p, h) {
			first[id] = a.At
			latencies = append(latencies, a.At.Sub(p.askedAt[id]))
		}
		if h.spec["delivery_mode"] == "ordered" {
			v.OrderViolations += interleaved(h.rcv.arrivals()) + outOfOrder(first, p.askedAt, p.accepted)
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

// Kinds of duplicate. The first two are at-least-once delivery as it must
// be. A worker killed after its request went and before it recorded the
// answer leaves the attempt pending, and once the row's lease has run out
// another worker sends it again (and when that answer is a failure, a later
// attempt follows). A 2xx that came past Herald's timeout, or was lost on
// the way back, leaves the attempt failed in Herald's row, so a later attempt
// follows. The rest are faults: Herald had recorded the attempt as
// delivered and sent the event again, or sent an attempt again with no
// worker killed since it first went, so none was lost. A later attempt is
// laterUnread until Herald's rows are read (classifyLater).
const (
	answerLost      = "the delivered attempt sent again after its worker was lost"
	resentNoKill    = "the delivered attempt sent again with no worker killed in between"
	answerLate      = "a later attempt after a 2xx Herald never got"
	deliveredResent = "a later attempt after one Herald recorded as delivered"
	laterUnread     = "a later attempt after a delivered one, rows not read"
)

// dupe is a delivered request of an event after its first.
type dupe struct {
	target
	receiver     string
	first, again arrival
	kind         string
}

// leaseMargin is what Herald adds to a request's timeout for its pending
// row's lease (delivery.leaseMargin): no other worker sends the attempt
// again until the lease, counted from the row's sent_at, has run out.
const leaseMargin = 15 * time.Second

// sendSkew allows for the first request reaching its receiver a moment
// after its row's sent_at (the row is written in between), which shortens
// the gap the receiver sees by as much.
const sendSkew = time.Second

// leaseOf is the least time between two sends of one of h's attempts:
// closer sends are two executors at once, a fault (ResentInLease).
func leaseOf(h *hook) time.Duration {
	timeout := webhook.DefaultTimeoutSeconds
	switch t := h.spec["timeout_seconds"].(type) {
	case int:
		timeout = t
	case float64:
		timeout = int(t)
	}
	return time.Duration(timeout)*time.Second + leaseMargin - sendSkew
}

// killedBetween says whether a worker was killed from one send to the next.
func killedBetween(kills []time.Time, from, to time.Time) bool {
	return slices.ContainsFunc(kills, func(k time.Time) bool { return !k.Before(from) && !k.After(to) })
}

// readArrivals counts one receiver's requests and returns, per event, the
// first request delivered (2xx, valid signature, the published body);
// every later delivered request of the event is a duplicate, by its kind.
func (v *verdict) readArrivals(p *published, h *hook) map[string]arrival {
	first := map[string]arrival{}
	lease := leaseOf(h)
	var again []arrival                   // delivered requests after an event's first
	sends := map[attemptKey][]time.Time{} // every request of an attempt
	for _, a := range h.rcv.arrivals() {
		v.Requests[a.Answer]++
		if _, ok := p.payloads[a.EventID]; !ok || a.StdID != a.EventID {
			v.ForeignID++
			continue
		}
		k := attemptKey{target{h.ID, a.EventID}, a.Attempt}
		if prev := sends[k]; len(prev) > 0 && a.At.Sub(prev[len(prev)-1]) < lease {
			v.ResentInLease++
		}
		sends[k] = append(sends[k], a.At)
		v.BadSignature += b2i(!a.SigValid)
		v.BadBody += b2i(!a.BodyMatch)
		if a.Answer != answerOK || !a.SigValid || !a.BodyMatch {
			continue
		}
		if _, seen := first[a.EventID]; seen {
			again = append(again, a)
		} else {
			first[a.EventID] = a
		}
	}
	for _, a := range again {
		v.Duplicates++
		v.DuplicatesByMode[fmt.Sprint(h.spec["delivery_mode"])]++
		f := first[a.EventID]
		kind := v.resentKind(f, a, sends[attemptKey{target{h.ID, f.EventID}, f.Attempt}])
		v.dupes = append(v.dupes, dupe{target{h.ID, a.EventID}, h.rcv.name, f, a, kind})
	}
	v.countDupes()
	return first
}

// resentKind is what a delivered request again after f's is before Herald's
// rows are read: f's attempt sent again, or a later attempt (fSends are
// the times f's attempt was sent). A resend is excused only by a worker
// killed from f's send to the resend.
func (v *verdict) resentKind(f, again arrival, fSends []time.Time) string {
	resent := again.At
	switch {
	case again.Attempt == f.Attempt:
	case len(fSends) > 1:
		resent = fSends[1]
	default:
		return laterUnread
	}
	if killedBetween(v.WorkerKills, f.At, resent) {
		return answerLost
	}
	return resentNoKill
}

// classifyLater tells the later attempts apart by Herald's row of the
// delivered attempt before them.
func (v *verdict) classifyLater(rows map[attemptKey]row) {
	for i, d := range v.dupes {
		if d.kind != laterUnread && d.kind != answerLate && d.kind != deliveredResent {
			continue
		}
		r := rows[attemptKey{d.target, d.first.Attempt}]
		v.dupes[i].kind = answerLate
		if r.status == "delivered" || (r.code.Valid && r.code.Int64/100 == 2) {
			v.dupes[i].kind = deliveredResent
		}
	}
	v.countDupes()
}

func (v *verdict) countDupes() {
	v.DuplicatesByKind, v.DuplicateSamples = map[string]int{}, nil
	for _, d := range v.dupes {
		v.DuplicatesByKind[d.kind]++
		if len(v.DuplicateSamples) < maxDupSamples {
			v.DuplicateSamples = append(v.DuplicateSamples, fmt.Sprintf("%s → %s: attempt %d at %s, attempt %d at %s (%s)",
				d.event, d.receiver, d.first.Attempt, d.first.At.Format("15:04:05.000"), d.again.Attempt, d.again.At.Format("15:04:05.000"), d.kind))
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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

// compareRows checks Herald's attempt rows against what receivers saw, both
// ways. Herald writes an attempt's row before it sends the request, so the
// receivers' requests are read first: every one of them must have its row
// by the time the rows are read. The answers are read again after the rows,
// so that every response a row holds was logged by its receiver by then.
func compareRows(ctx context.Context, db *sql.DB, p *published, hooks []*hook, v *verdict) error {
	sent := loggedRequests(p, hooks)
	rows, err := readRows(ctx, db)
	if err != nil {
		return err
	}
	answered := loggedRequests(p, hooks)
	names := map[int64]string{}
	for _, h := range hooks {
		names[h.ID] = h.rcv.name
	}
	v.disagreeSample = nil
	v.RowsNotSeen, v.RowsNoAnswer = rowsVsAnswers(rows, answered, func(k attemptKey, r row) {
		v.sampleDisagreement("%s → %s attempt %d: Herald recorded %d, receiver answered %v",
			k.event, names[k.webhook], k.attempt, r.code.Int64, answered[k])
	})
	v.SentNotRecorded, v.ResentAfterKill = sentVsRecorded(sent, rows, func(t target, n int) {
		v.sampleDisagreement("%s → %s: receiver got %d requests, Herald has no attempt row", t.event, names[t.webhook], n)
	})
	v.DeliveredWithoutRow = deliveredWithoutRow(sent, rows)
	v.classifyLater(rows)
	return nil
}

func (v *verdict) sampleDisagreement(format string, args ...any) {
	if len(v.disagreeSample) < 10 {
		v.disagreeSample = append(v.disagreeSample, fmt.Sprintf(format, args...))
	}
}

// readRows reads every attempt row Herald recorded.
func readRows(ctx context.Context, db *sql.DB) (map[attemptKey]row, error) {
	rows, err := db.QueryContext(ctx, `SELECT webhook_id, event_id, attempt_number, status, response_status_code FROM deliveries`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[attemptKey]row{}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.webhookID, &r.eventID, &r.attempt, &r.status, &r.code); err != nil {
			return nil, err
		}
		out[attemptKey{target{r.webhookID, r.eventID}, r.attempt}] = r
	}
	return out, rows.Err()
}

// loggedRequests is every request the receivers logged for a published
// event, whatever they answered, by attempt. Requests naming no published
// event are judge's to count (ForeignID).
func loggedRequests(p *published, hooks []*hook) map[attemptKey][]string {
	out := map[attemptKey][]string{}
	for _, h := range hooks {
		for _, a := range h.rcv.arrivals() {
			if _, ok := p.payload(a.EventID); ok {
				k := attemptKey{target{h.ID, a.EventID}, a.Attempt}
				out[k] = append(out[k], a.Answer)
			}
		}
	}
	return out
}

// rowsVsAnswers checks each row's response against the answers its
// receiver gave that attempt (more than one when a worker was killed
// mid-attempt and the next sent it again): a status Herald recorded must be
// one of them, else the row is not seen. Rows with no response are only
// counted, by why (noAnswerKind).
func rowsVsAnswers(rows map[attemptKey]row, answered map[attemptKey][]string, notSeen func(attemptKey, row)) (int, map[string]int) {
	n, noAnswer := 0, map[string]int{}
	for k, r := range rows {
		if !r.code.Valid {
			noAnswer[noAnswerKind(r, answered[k])]++
			continue
		}
		if !gave(answered[k], int(r.code.Int64)) {
			n++
			notSeen(k, r)
		}
	}
	return n, noAnswer
}

// gave tells whether any of a receiver's answers carried the status code.
func gave(answers []string, code int) bool {
	return slices.ContainsFunc(answers, func(a string) bool {
		c, ok := answerCode(a)
		return ok && c == code
	})
}

// noAnswerKind says why a row holds no response, from what its receiver
// logged for that attempt. None of these disagrees with the receiver: a
// timeout (the receiver was slow) or a reset leaves no status; a request
// that never reached the receiver (it was down) leaves nothing in its log;
// and an answer can be lost with a worker killed before it read it, when
// the attempt sent again got none.
func noAnswerKind(r row, answers []string) string {
	switch {
	case r.status == "pending":
		return "in flight"
	case slices.Contains(answers, answerSlow) || slices.Contains(answers, answerReset):
		return "slow or reset"
	case len(answers) == 0:
		return "not reached"
	}
	return "answer lost"
}

// sentVsRecorded finds what receivers got that Herald did not record. A
// pair with requests and no attempt row at all is Herald sending what it
// never wrote down: those are counted, to fail the run. Requests beyond a
// pair's rows are counted apart: a worker killed mid-attempt leaves its row
// pending, and the next sends the same attempt again on that same row.
func sentVsRecorded(sent map[attemptKey][]string, rows map[attemptKey]row, notRecorded func(target, int)) (unrecorded, resent int) {
	requests, recorded := map[target]int{}, map[target]int{}
	for k, answers := range sent {
		requests[k.target] += len(answers)
	}
	for k := range rows {
		recorded[k.target]++
	}
	for t, n := range requests {
		switch m := recorded[t]; {
		case m == 0:
			unrecorded++
			notRecorded(t, n)
		case n > m:
			resent += n - m
		}
	}
	return unrecorded, resent
}

// deliveredWithoutRow counts pairs a receiver answered 2xx that Herald has
// no delivered row for.
func deliveredWithoutRow(sent map[attemptKey][]string, rows map[attemptKey]row) int {
	delivered := map[target]bool{}
	for k, r := range rows {
		if r.status == "delivered" {
			delivered[k.target] = true
		}
	}
	missing := map[target]bool{}
	for k, answers := range sent {
		if slices.Contains(answers, answerOK) && !delivered[k.target] {
			missing[k.target] = true
		}
	}
	return len(missing)
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
	row("duplicates (same event id) / rate", fmt.Sprintf("%d / %.2f %% (%s)", v.Duplicates, 100*v.DuplicateRate, sortedCounts(v.DuplicatesByMode)))
	row("duplicates by kind / attempts sent again within a lease", fmt.Sprintf("%s / %d", sortedCounts(v.DuplicatesByKind), v.ResentInLease))
	row("order violations (ordered webhooks)", v.OrderViolations)
	row("delivery latency p50 / p99 (publish → receiver 2xx)", fmt.Sprintf("%s / %s", v.LatencyP50.Round(time.Millisecond), v.LatencyP99.Round(time.Millisecond)))
	row("stuck past schedule + grace (max seen / at end)", fmt.Sprintf("%d / %d (first attempt never started: %d / %d)",
		v.StuckMax, v.StuckAtEnd, v.NeverStartedMax, v.NeverStartedAtEnd))
	row("bad signature / bad body / foreign id", fmt.Sprintf("%d / %d / %d", v.BadSignature, v.BadBody, v.ForeignID))
	row("Herald rows the receiver never saw / delivered pairs without a row", fmt.Sprintf("%d / %d", v.RowsNotSeen, v.DeliveredWithoutRow))
	row("pairs receivers got that Herald never recorded / requests re-sent after a kill", fmt.Sprintf("%d / %d", v.SentNotRecorded, v.ResentAfterKill))
	row("Herald rows without a response, by what the receiver logged", sortedCounts(v.RowsNoAnswer))
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
	for _, s := range v.DuplicateSamples {
		fmt.Fprintf(w, "\nduplicate: %s", s)
	}
	for _, s := range v.disagreeSample {
		fmt.Fprintf(w, "\ndisagree: %s", s)
	}
	fmt.Fprintln(w)
	if v.Soak != nil {
		v.Soak.print(w)
	}
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
