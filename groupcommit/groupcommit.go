// Package groupcommit gathers work that arrives while earlier work runs
// into groups: what queues up while a group is under way forms the next.
// A lone item goes at once, as a group of one; under load groups grow as
// long as the work takes, and whatever costs per group (a transaction's
// commit, a round trip to Temporal) is paid once for many.
package groupcommit

import "sync"

// Queue runs groups of items with Run. The zero value needs Run set.
type Queue[T any] struct {
	// Run handles one group, in the order its items were added.
	Run func(group []T)
	// Max bounds a group's items (0: no bound).
	Max int
	// Workers bounds the groups running at once (0: one). With one,
	// groups run one after another, in the order their items came.
	Workers int

	mu      sync.Mutex
	queue   []T
	running int
}

// Add queues an item, starting a worker when fewer than Workers run. It
// does not wait for the item's group to run.
func (q *Queue[T]) Add(item T) {
	q.mu.Lock()
	q.queue = append(q.queue, item)
	start := q.running < max(q.Workers, 1)
	if start {
		q.running++
	}
	q.mu.Unlock()
	if start {
		go q.work()
	}
}

// work runs groups until nothing is queued.
func (q *Queue[T]) work() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.running--
			q.mu.Unlock()
			return
		}
		n := len(q.queue)
		if q.Max > 0 {
			n = min(n, q.Max)
		}
		group := q.queue[:n:n]
		q.queue = q.queue[n:]
		q.mu.Unlock()
		q.Run(group)
	}
}
