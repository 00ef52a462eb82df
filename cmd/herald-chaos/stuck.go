package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// pendingGrace is how long an attempt may be in flight before it counts as
// stuck: the longest attempt timeout, the attempt activity's own timeout
// (should a worker hang rather than die), and a margin.
const pendingGrace = 30*time.Second + 90*time.Second + time.Minute

// stuckWatch samples Herald's store and the receivers during the run for
// deliveries left waiting past their time.
type stuckWatch struct {
	db    *sql.DB
	grace time.Duration
	p     *published
	hooks []*hook

	mu             sync.Mutex
	worst          int
	worstUnstarted int
}

func newStuckWatch(db *sql.DB, grace time.Duration, p *published, hooks []*hook) *stuckWatch {
	return &stuckWatch{db: db, grace: grace, p: p, hooks: hooks}
}

// stuckSample is one look: attempt rows past their time, and expected
// deliveries whose first attempt never started.
type stuckSample struct {
	rows      int
	unstarted []target
}

func (s stuckSample) total() int { return s.rows + len(s.unstarted) }

func (s *stuckWatch) run(ctx context.Context) {
	failing := false
	for {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return
		}
		n, err := s.count(ctx)
		if err != nil {
			// PostgreSQL restarting, most likely; said once, so that a
			// sample that always fails cannot pass for nothing stuck.
			if !failing && ctx.Err() == nil {
				logf("stuck: cannot sample (%v); trying again every 5 s", err)
			}
			failing = true
			continue
		}
		failing = false
		if n.total() > 0 {
			logf("stuck: %d attempt rows past their time, %d first attempts never started; e.g. %s",
				n.rows, len(n.unstarted), s.sample(ctx, n))
		}
		s.mu.Lock()
		s.worst = max(s.worst, n.total())
		s.worstUnstarted = max(s.worstUnstarted, len(n.unstarted))
		s.mu.Unlock()
	}
}

// worstSeen is the most deliveries seen stuck in one sample, and the most
// of those whose first attempt never started.
func (s *stuckWatch) worstSeen() (total, unstarted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.worst, s.worstUnstarted
}

// count takes one sample. The rows alone cannot show a first attempt that
// never started, so the expected deliveries overdue for one are looked for
// too. The receivers are read before the store: an attempt that starts in
// between is then seen by its row, which Herald writes before it sends.
func (s *stuckWatch) count(ctx context.Context) (stuckSample, error) {
	overdue := s.overdue(time.Now().Add(-s.grace))
	rows, err := countStuck(ctx, s.db, s.grace, pendingGrace)
	if err != nil {
		return stuckSample{}, err
	}
	unstarted, err := withoutRows(ctx, s.db, overdue)
	if err != nil {
		return stuckSample{}, err
	}
	return stuckSample{rows: rows, unstarted: unstarted}, nil
}

// overdue lists the expected deliveries (every accepted event to every
// webhook: all three subscribe to its type) accepted before cutoff whose
// receiver has logged no request for them; for an ordered webhook, only
// while its receiver has logged no request at all since cutoff. The run's rate limits are high
// and its breaker off, so a first attempt is due when the event is accepted.
func (s *stuckWatch) overdue(cutoff time.Time) []target {
	var due []string
	s.p.mu.Lock()
	for id, at := range s.p.accepted {
		if at.Before(cutoff) {
			due = append(due, id)
		}
	}
	s.p.mu.Unlock()
	var out []target
	for _, h := range s.hooks {
		reached := map[string]bool{}
		var last time.Time
		for _, a := range h.rcv.arrivals() {
			reached[a.EventID] = true
			if a.At.After(last) {
				last = a.At
			}
		}
		if h.spec["delivery_mode"] == "ordered" && last.After(cutoff) {
			// Its events wait their turn behind the head (head-of-line
			// blocking, as documented); the queue is stuck only when its
			// receiver has heard nothing for the whole grace.
			continue
		}
		for _, id := range due {
			if !reached[id] {
				out = append(out, target{h.ID, id})
			}
		}
	}
	return out
}

// withoutRows keeps the deliveries Herald has no attempt row for.
func withoutRows(ctx context.Context, db *sql.DB, ts []target) ([]target, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	var ids []string
	seen := map[string]bool{}
	for _, t := range ts {
		if !seen[t.event] {
			seen[t.event] = true
			ids = append(ids, t.event)
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT webhook_id, event_id FROM deliveries WHERE event_id = ANY($1)`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	recorded := map[target]bool{}
	for rows.Next() {
		var t target
		if err := rows.Scan(&t.webhook, &t.event); err != nil {
			return nil, err
		}
		recorded[t] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []target
	for _, t := range ts {
		if !recorded[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// sample names a few stuck deliveries, for the log.
func (s *stuckWatch) sample(ctx context.Context, n stuckSample) string {
	var out []string
	for _, t := range n.unstarted[:min(3, len(n.unstarted))] {
		out = append(out, fmt.Sprintf("%s webhook %d never started", t.event, t.webhook))
	}
	if n.rows == 0 {
		return strings.Join(out, "; ")
	}
	rows, err := s.db.QueryContext(ctx, `SELECT event_id, webhook_id, attempt_number, status, coalesce(next_retry_at, created_at)
		FROM (`+strings.Replace(stuckQuery, "SELECT count(*)", "SELECT d.*", 1)+`) AS stuck LIMIT 3`, s.grace.Seconds(), pendingGrace.Seconds())
	if err != nil {
		return strings.Join(append(out, err.Error()), "; ")
	}
	defer rows.Close()
	for rows.Next() {
		var ev, status string
		var hook int64
		var attempt int
		var at time.Time
		if rows.Scan(&ev, &hook, &attempt, &status, &at) == nil {
			out = append(out, fmt.Sprintf("%s webhook %d attempt %d %s since %s", ev, hook, attempt, status, at.Format("15:04:05")))
		}
	}
	return strings.Join(out, "; ")
}
