package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"testing"
	"time"
)

func key(webhook int64, event string, attempt int) attemptKey {
	return attemptKey{target{webhook, event}, attempt}
}

func answeredRow(status string, code int64) row {
	return row{status: status, code: sql.NullInt64{Int64: code, Valid: code != 0}}
}

func TestRowsVsAnswers(t *testing.T) {
	rows := map[attemptKey]row{
		key(1, "a", 1): answeredRow("retrying", 503),  // receiver said 503
		key(1, "a", 2): answeredRow("delivered", 200), // said 503, then ok to the resend after a kill
		key(1, "b", 1): answeredRow("delivered", 200), // receiver was slow: Herald cannot have read its 200
		key(1, "c", 1): answeredRow("retrying", 503),  // receiver said ok
		key(1, "d", 1): answeredRow("retrying", 0),    // timed out
		key(1, "e", 1): answeredRow("retrying", 0),    // receiver down
		key(1, "f", 1): answeredRow("pending", 0),     // in flight
		key(1, "g", 1): answeredRow("retrying", 0),    // answer lost with a killed worker; the resend got nothing
	}
	answered := map[attemptKey][]string{
		key(1, "a", 1): {answer503},
		key(1, "a", 2): {answer503, answerOK},
		key(1, "b", 1): {answerSlow},
		key(1, "c", 1): {answerOK},
		key(1, "d", 1): {answerSlow},
		key(1, "g", 1): {answerOK},
	}
	var notSeen []attemptKey
	n, noAnswer := rowsVsAnswers(rows, answered, func(k attemptKey, _ row) { notSeen = append(notSeen, k) })
	if n != 2 || len(notSeen) != 2 {
		t.Errorf("rows not seen = %d %v, want b and c", n, notSeen)
	}
	want := map[string]int{"slow or reset": 1, "not reached": 1, "in flight": 1, "answer lost": 1}
	if !maps.Equal(noAnswer, want) {
		t.Errorf("rows without an answer = %v, want %v", noAnswer, want)
	}
}

func TestSentVsRecorded(t *testing.T) {
	sent := map[attemptKey][]string{
		key(1, "a", 1): {answer503},
		key(1, "a", 2): {answerReset, answerOK}, // sent again after a kill
		key(2, "b", 1): {answerOK},              // Herald never recorded it
		key(2, "c", 3): {answer503, answer503, answerOK},
	}
	rows := map[attemptKey]row{
		key(1, "a", 1): answeredRow("retrying", 503),
		key(1, "a", 2): answeredRow("delivered", 200),
		key(2, "c", 1): answeredRow("retrying", 0), // receiver down
		key(2, "c", 2): answeredRow("retrying", 0),
		key(2, "c", 3): answeredRow("delivered", 200),
	}
	var missing []target
	unrecorded, resent := sentVsRecorded(sent, rows, func(t target, _ int) { missing = append(missing, t) })
	if unrecorded != 1 || len(missing) != 1 || missing[0] != (target{2, "b"}) {
		t.Errorf("not recorded = %d %v, want 2/b", unrecorded, missing)
	}
	// a: 3 requests, 2 rows; c: 3 requests, 3 rows (the down receiver's
	// rows offset the resends: the count is per pair).
	if resent != 1 {
		t.Errorf("resent = %d, want 1", resent)
	}
	if n := deliveredWithoutRow(sent, rows); n != 1 {
		t.Errorf("delivered without a row = %d, want 1 (2/b)", n)
	}
}

func TestLeastSquaresSlope(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pts         [][2]float64
		slope, mean float64
	}{
		{"flat", [][2]float64{{0, 5}, {1, 5}, {2, 5}}, 0, 5},
		{"growing 3 per hour", [][2]float64{{0, 1}, {1, 4}, {2, 7}}, 3, 4},
		{"noise around a flat line", [][2]float64{{0, 4}, {1, 6}, {2, 4}, {3, 6}}, 0.4, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slope, mean := leastSquares(tc.pts)
			if math.Abs(slope-tc.slope) > 1e-9 || math.Abs(mean-tc.mean) > 1e-9 {
				t.Fatalf("slope %v mean %v, want %v %v", slope, mean, tc.slope, tc.mean)
			}
		})
	}
}

func TestDuplicatesByKind(t *testing.T) {
	t0 := time.Now()
	req := func(attempt int, after time.Duration, answer string) arrival {
		return arrival{At: t0.Add(after), EventID: "e", StdID: "e", Attempt: attempt, SigValid: true, BodyMatch: true, Answer: answer}
	}
	ok := func(attempt int, after time.Duration) arrival { return req(attempt, after, answerOK) }
	timedOut, delivered := row{status: "retrying"}, answeredRow("delivered", 200)
	killAt := func(after ...time.Duration) []time.Time {
		var out []time.Time
		for _, a := range after {
			out = append(out, t0.Add(a))
		}
		return out
	}
	tests := []struct {
		name    string
		log     []arrival
		first   row         // Herald's row of attempt 1
		kills   []time.Time // worker kill -9s
		timeout any         // the webhook's timeout_seconds; nil for Herald's default (10 s)
		kind    string      // "" for no duplicate
		inLease int
		failed  bool
	}{
		{"delivered once, after a 503", []arrival{req(1, 0, answer503), ok(2, time.Second)}, answeredRow("retrying", 503), nil, nil, "", 0, false},
		{"sent again after a kill, once its lease ran out", []arrival{ok(1, 0), ok(1, 40*time.Second)}, delivered, killAt(10 * time.Second), nil, answerLost, 0, false},
		{"sent again with no kill at all", []arrival{ok(1, 0), ok(1, 40*time.Second)}, delivered, nil, nil, resentNoKill, 0, true},
		{"sent again with kills only before and after", []arrival{ok(1, 5*time.Second), ok(1, 40*time.Second)}, delivered, killAt(time.Second, 50*time.Second), nil, resentNoKill, 0, true},
		{"sent again after a kill, refused, then a later attempt", []arrival{ok(1, 0), req(1, 40*time.Second, answer503), ok(2, time.Minute)}, answeredRow("retrying", 503), killAt(10 * time.Second), nil, answerLost, 0, false},
		// The kill came after the resend: it cannot have caused it.
		{"sent again, killed only before the later attempt", []arrival{ok(1, 0), req(1, 40*time.Second, answer503), ok(2, time.Minute)}, answeredRow("retrying", 503), killAt(50 * time.Second), nil, resentNoKill, 0, true},
		{"sent again by a second executor at once", []arrival{ok(1, 0), ok(1, 2*time.Second)}, delivered, killAt(time.Second), nil, answerLost, 1, true},
		{"refused, then sent again at once", []arrival{req(1, 0, answerReset), ok(1, time.Second)}, delivered, nil, nil, "", 1, true},
		// The lease is the webhook's timeout and 15 s (less a second of
		// skew): 2 s + 15 s here, 10 s + 15 s by default.
		{"sent again inside a 2 s timeout's lease", []arrival{req(1, 0, answerReset), ok(1, 15*time.Second)}, delivered, nil, 2, "", 1, true},
		{"sent again past a 2 s timeout's lease", []arrival{req(1, 0, answerReset), ok(1, 17*time.Second)}, delivered, nil, 2, "", 0, false},
		{"sent again inside the default timeout's lease", []arrival{req(1, 0, answerReset), ok(1, 20*time.Second)}, delivered, nil, nil, "", 1, true},
		{"a later attempt after a 2xx past the timeout", []arrival{ok(1, 0), ok(2, time.Minute)}, timedOut, nil, nil, answerLate, 0, false},
		{"a later attempt after one recorded delivered", []arrival{ok(1, 0), ok(2, time.Minute)}, delivered, nil, nil, deliveredResent, 0, true},
	}
	for _, tt := range tests {
		p := newPublished()
		p.payloads["e"], p.askedAt["e"], p.accepted["e"] = []byte("{}"), t0, t0
		spec := map[string]any{"delivery_mode": "per_event"}
		if tt.timeout != nil {
			spec["timeout_seconds"] = tt.timeout
		}
		h := &hook{rcv: &receiver{name: "r", log: tt.log}, spec: spec}
		v := judge(p, []*hook{h}, tt.kills)
		v.classifyLater(map[attemptKey]row{key(0, "e", 1): tt.first})
		if v.Delivered != 1 || v.Lost != 0 {
			t.Errorf("%s: delivered %d, lost %d", tt.name, v.Delivered, v.Lost)
		}
		if got := len(v.DuplicatesByKind); (tt.kind == "" && got != 0) || (tt.kind != "" && (v.DuplicatesByKind[tt.kind] != 1 || v.Duplicates != 1)) {
			t.Errorf("%s: duplicates %d by kind %v, want one %q", tt.name, v.Duplicates, v.DuplicatesByKind, tt.kind)
		}
		if v.ResentInLease != tt.inLease {
			t.Errorf("%s: %d sent again within a lease, want %d", tt.name, v.ResentInLease, tt.inLease)
		}
		if v.failed() != tt.failed {
			t.Errorf("%s: failed() = %v", tt.name, v.failed())
		}
	}
}

// The result JSON keeps the kill times and up to maxDupSamples duplicates,
// so a verdict can be checked after the run.
func TestResultKeepsKillsAndDuplicateSamples(t *testing.T) {
	t0 := time.Now()
	p := newPublished()
	var log []arrival
	for i := range 30 {
		id := fmt.Sprintf("e%d", i)
		p.payloads[id], p.askedAt[id], p.accepted[id] = []byte("{}"), t0, t0
		for _, after := range []time.Duration{0, time.Minute} {
			log = append(log, arrival{At: t0.Add(after), EventID: id, StdID: id, Attempt: 1, SigValid: true, BodyMatch: true, Answer: answerOK})
		}
	}
	kills := []time.Time{t0.Add(10 * time.Second)}
	v := judge(p, []*hook{{rcv: &receiver{name: "r", log: log}, spec: map[string]any{}}}, kills)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		WorkerKills      []time.Time
		DuplicateSamples []string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if v.Duplicates != 30 || len(got.DuplicateSamples) != maxDupSamples || len(got.WorkerKills) != 1 || !got.WorkerKills[0].Equal(kills[0]) {
		t.Fatalf("%d duplicates; JSON kept %d samples and kills %v", v.Duplicates, len(got.DuplicateSamples), got.WorkerKills)
	}
}
