package main

// An ordered webhook must get its events one at a time, and each
// publisher's events in the order it published them: a publisher sends its
// next event only after the previous one's 202, so Herald knew their order.

// outOfOrder counts the events that reached a webhook before one that
// their publisher had published earlier. ranks are the events' arrival
// ranks at the webhook (1 for the first delivered, …) in the order the
// publisher published them; 0 is an event that did not arrive, which the
// checks count as missing instead.
func outOfOrder(ranks []int) int {
	n, latest := 0, 0
	for _, r := range ranks {
		switch {
		case r == 0:
		case r < latest:
			n++
		default:
			latest = r
		}
	}
	return n
}

// outOfOrderArrivals applies outOfOrder to every publisher's accepted
// events at every webhook of the phase. The caller holds p.mu.
func (p *phase) outOfOrderArrivals() int {
	byPublisher := map[int][]*sent{}
	for _, s := range p.order {
		if s.accepted() && s.publisher >= 0 {
			byPublisher[s.publisher] = append(byPublisher[s.publisher], s)
		}
	}
	n := 0
	for _, h := range p.hooks {
		for _, evs := range byPublisher {
			ranks := make([]int, len(evs))
			for i, s := range evs {
				if a := h.arrival(s.id); a != nil {
					ranks[i] = a.rank
				}
			}
			n += outOfOrder(ranks)
		}
	}
	return n
}

// overlaps counts the requests that reached an ordered webhook of the
// phase while another was in flight.
func (p *phase) overlaps() int {
	n := 0
	for _, h := range p.hooks {
		n += int(h.overlaps.Load())
	}
	return n
}
