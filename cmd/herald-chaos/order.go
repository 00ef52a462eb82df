package main

import (
	"sort"
	"time"
)

// An ordered subscriber must get one event at a time, in the order Herald
// accepted them. Its receiver's log shows both without asking Herald.

// interleaved counts requests for an event that came while an earlier
// event, attempted and not yet delivered, still held the head: ordered
// delivery attempts event n+1 only once event n has ended. A request for an
// event already delivered is a duplicate, not a violation.
func interleaved(log []arrival) int {
	delivered := map[string]bool{}
	head, n := "", 0
	for _, a := range log {
		if delivered[a.EventID] {
			continue
		}
		if head != "" && head != a.EventID && !delivered[head] {
			n++
		}
		head = a.EventID
		if a.Answer == answerOK {
			delivered[a.EventID] = true
		}
	}
	return n
}

// outOfOrder counts events delivered before an event that Herald had
// accepted (answered 202) before they were even published: that one was
// handed to the subscriber's stream first, so it must be delivered first.
// Events published while another's answer was on its way have no order
// between them.
func outOfOrder(firstOK, askedAt, accepted map[string]time.Time) int {
	// when is an event's publish or acceptance, with its first delivery.
	type when struct{ at, delivered time.Time }
	var accepts, asks []when
	for id, acc := range accepted {
		ok, done := firstOK[id]
		if !done {
			continue // lost: counted as such
		}
		accepts = append(accepts, when{acc, ok})
		asks = append(asks, when{askedAt[id], ok})
	}
	byTime := func(ws []when) {
		sort.Slice(ws, func(i, j int) bool { return ws[i].at.Before(ws[j].at) })
	}
	byTime(accepts)
	byTime(asks)
	var latest time.Time // the latest delivery among the events accepted so far
	n, k := 0, 0
	for _, b := range asks {
		for ; k < len(accepts) && accepts[k].at.Before(b.at); k++ {
			if accepts[k].delivered.After(latest) {
				latest = accepts[k].delivered
			}
		}
		if latest.After(b.delivered) {
			n++
		}
	}
	return n
}
