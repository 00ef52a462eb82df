package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// pendingGrace is how long an attempt may be in flight before it counts as
// stuck: the longest attempt timeout, the attempt activity's own timeout
// (should a worker hang rather than die), and a margin.
const pendingGrace = 30*time.Second + 90*time.Second + time.Minute

// stuckWatch samples Herald's store during the run for deliveries left
// waiting past their time.
type stuckWatch struct {
	db    *sql.DB
	grace time.Duration
	mu    sync.Mutex
	worst int
}

func newStuckWatch(db *sql.DB, grace time.Duration) *stuckWatch {
	return &stuckWatch{db: db, grace: grace}
}

func (s *stuckWatch) run(ctx context.Context) {
	for {
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return
		}
		n, err := countStuck(ctx, s.db, s.grace, pendingGrace)
		if err != nil {
			continue // PostgreSQL restarting
		}
		if n > 0 {
			logf("stuck: %d deliveries past their time; e.g. %s", n, s.sample(ctx))
		}
		s.mu.Lock()
		s.worst = max(s.worst, n)
		s.mu.Unlock()
	}
}

func (s *stuckWatch) max() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.worst
}

// sample names a few stuck deliveries, for the log.
func (s *stuckWatch) sample(ctx context.Context) string {
	rows, err := s.db.QueryContext(ctx, `SELECT event_id, webhook_id, attempt_number, status, coalesce(next_retry_at, created_at)
		FROM (`+strings.Replace(stuckQuery, "SELECT count(*)", "SELECT d.*", 1)+`) AS stuck LIMIT 3`, s.grace.Seconds(), pendingGrace.Seconds())
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var out []string
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
