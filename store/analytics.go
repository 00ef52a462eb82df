package store

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Stats are delivery figures over a period. A delivery is one event to one
// webhook; an attempt is one request. Response times are over the attempts
// that got an answer or timed out (they have a duration).
type Stats struct {
	TotalEvents          int     `json:"total_events" db:"total_events"` // deliveries attempted
	SuccessfulDeliveries int     `json:"successful_deliveries" db:"successful_deliveries"`
	FailedDeliveries     int     `json:"failed_deliveries" db:"failed_deliveries"`
	SuccessRate          float64 `json:"success_rate" db:"success_rate"`
	AvgResponseTimeMS    float64 `json:"avg_response_time_ms" db:"avg_response_time_ms"`
	MinResponseTimeMS    float64 `json:"min_response_time_ms" db:"min_response_time_ms"`
	MaxResponseTimeMS    float64 `json:"max_response_time_ms" db:"max_response_time_ms"`
	P95ResponseTimeMS    float64 `json:"p95_response_time_ms" db:"p95_response_time_ms"`
	TotalAttempts        int     `json:"total_attempts" db:"total_attempts"`
	RetryCount           int     `json:"retry_count" db:"retry_count"`
	HTTP4xxErrors        int     `json:"http_4xx_errors" db:"http_4xx_errors"`
	HTTP5xxErrors        int     `json:"http_5xx_errors" db:"http_5xx_errors"`
	TimeoutErrors        int     `json:"timeout_errors" db:"timeout_errors"`
	NetworkErrors        int     `json:"network_errors" db:"network_errors"`
	// FilteredEvents counts the events a subscriber's filter left out:
	// neither attempted nor failed.
	FilteredEvents int `json:"filtered_events" db:"-"`
}

// statsColumns are Stats' columns in webhook_analytics (its db tags).
var statsColumns = []string{"total_events", "successful_deliveries", "failed_deliveries", "success_rate",
	"avg_response_time_ms", "min_response_time_ms", "max_response_time_ms", "p95_response_time_ms",
	"total_attempts", "retry_count", "http_4xx_errors", "http_5xx_errors", "timeout_errors", "network_errors"}

// StatsFilter selects the attempts Stats are over.
type StatsFilter struct {
	WebhookID int64  // 0: every webhook
	EventType string // "": every type
	From, To  time.Time
}

// where selects the filter's attempt rows.
func (f StatsFilter) where() (string, []any) {
	return f.conditions("is_test = FALSE", "created_at", "webhook_id", "event_type")
}

// conditions is a WHERE clause selecting the filter's rows: first, then
// the period, webhook and event type on the columns named.
func (f StatsFilter) conditions(first, created, webhookID, eventType string) (string, []any) {
	w := []string{first, created + " >= ?", created + " < ?"}
	args := []any{f.From.UTC(), f.To.UTC()}
	if f.WebhookID != 0 {
		w, args = append(w, webhookID+" = ?"), append(args, f.WebhookID)
	}
	if f.EventType != "" {
		w, args = append(w, eventType+" = ?"), append(args, f.EventType)
	}
	return " WHERE " + strings.Join(w, " AND "), args
}

// filteredWhere selects, by the time their events were accepted, the
// deliveries a filter left out (event_subscribers es JOIN events e).
func (f StatsFilter) filteredWhere() (string, []any) {
	return f.conditions("es.outcome = 'filtered'", "e.created_at", "es.webhook_id", "e.event_type")
}

const filteredFrom = ` FROM event_subscribers es JOIN events e ON e.event_id = es.event_id`

// Stats computes figures from the attempt rows. The 95th percentile is the
// nearest-rank one over the period's attempts, the same on both dialects.
func (s *Store) Stats(ctx context.Context, f StatsFilter) (Stats, error) {
	st, _, err := s.stats(ctx, f)
	return st, err
}

// StatsWithMedian is Stats and the median response time beside its 95th
// percentile (nil when no attempt was timed): what a chart's interval
// draws. The median is not rolled up, so only the attempt rows give it.
func (s *Store) StatsWithMedian(ctx context.Context, f StatsFilter) (Stats, *float64, error) {
	st, timed, err := s.stats(ctx, f)
	if err != nil || timed == 0 {
		return st, nil, err
	}
	where, args := f.where()
	p50, err := s.percentileMS(ctx, where, args, timed, 0.5)
	if err != nil {
		return Stats{}, nil, err
	}
	p50 = round2(p50)
	return st, &p50, nil
}

// stats is Stats, and how many of its attempts were timed.
func (s *Store) stats(ctx context.Context, f StatsFilter) (Stats, int, error) {
	where, args := f.where()
	row := struct {
		Stats
		Timed int `db:"timed"`
	}{}
	pair := "event_id || ':' || webhook_id"
	err := s.db.GetContext(ctx, &row, s.db.Rebind(`SELECT
		COUNT(*) AS total_attempts,
		COUNT(DISTINCT `+pair+`) AS total_events,
		COUNT(DISTINCT CASE WHEN status = 'delivered' THEN `+pair+` END) AS successful_deliveries,
		COALESCE(SUM(CASE WHEN attempt_number > 1 THEN 1 ELSE 0 END), 0) AS retry_count,
		COUNT(duration_ms) AS timed,
		COALESCE(AVG(duration_ms), 0) AS avg_response_time_ms,
		COALESCE(MIN(duration_ms), 0) AS min_response_time_ms,
		COALESCE(MAX(duration_ms), 0) AS max_response_time_ms,
		COALESCE(SUM(CASE WHEN response_status_code BETWEEN 400 AND 499 THEN 1 ELSE 0 END), 0) AS http_4xx_errors,
		COALESCE(SUM(CASE WHEN response_status_code BETWEEN 500 AND 599 THEN 1 ELSE 0 END), 0) AS http_5xx_errors,
		COALESCE(SUM(CASE WHEN error_class = 'timeout' THEN 1 ELSE 0 END), 0) AS timeout_errors,
		COALESCE(SUM(CASE WHEN error_class IN ('connection', 'dns', 'tls') THEN 1 ELSE 0 END), 0) AS network_errors
		FROM deliveries`+where), args...)
	if err != nil {
		return Stats{}, 0, err
	}
	st := row.Stats
	err = s.db.GetContext(ctx, &st.FailedDeliveries, s.db.Rebind(`SELECT COUNT(*) FROM deliveries d`+where+`
		AND status = 'failed' AND attempt_number = (SELECT MAX(x.attempt_number) FROM deliveries x
		WHERE x.event_id = d.event_id AND x.webhook_id = d.webhook_id)`), args...)
	if err != nil {
		return Stats{}, 0, err
	}
	if row.Timed > 0 {
		if st.P95ResponseTimeMS, err = s.percentileMS(ctx, where, args, row.Timed, 0.95); err != nil {
			return Stats{}, 0, err
		}
	}
	st.finish()
	return st, row.Timed, nil
}

// percentileMS is the q-th nearest-rank duration of the timed rows of
// where, of which there are timed.
func (s *Store) percentileMS(ctx context.Context, where string, args []any, timed int, q float64) (float64, error) {
	k := max(int(math.Ceil(q*float64(timed)))-1, 0)
	var ms float64
	err := s.db.GetContext(ctx, &ms, s.db.Rebind(`SELECT duration_ms FROM deliveries`+where+`
		AND duration_ms IS NOT NULL ORDER BY duration_ms LIMIT 1 OFFSET ?`), append(args, k)...)
	return ms, err
}

// finish derives the rate and rounds what both dialects compute slightly
// differently.
func (st *Stats) finish() {
	if st.TotalEvents > 0 {
		st.SuccessRate = round2(100 * float64(st.SuccessfulDeliveries) / float64(st.TotalEvents))
	}
	st.AvgResponseTimeMS = round2(st.AvgResponseTimeMS)
	st.MinResponseTimeMS = round2(st.MinResponseTimeMS)
	st.MaxResponseTimeMS = round2(st.MaxResponseTimeMS)
	st.P95ResponseTimeMS = round2(st.P95ResponseTimeMS)
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// DailyStats is one row of the daily rollup.
type DailyStats struct {
	WebhookID  int64     `json:"webhook_id" db:"webhook_id"`
	PeriodDate time.Time `json:"period_date" db:"period_date"`
	Stats
}

const day = 24 * time.Hour

// RollupDay writes the webhook_analytics row of every webhook with attempts
// on the UTC day that holds t. Rerunning it rewrites the same rows with the
// same figures. It returns how many rows it wrote.
func (s *Store) RollupDay(ctx context.Context, t time.Time) (int, error) {
	from := t.UTC().Truncate(day)
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(`SELECT DISTINCT webhook_id FROM deliveries
		WHERE is_test = FALSE AND created_at >= ? AND created_at < ? ORDER BY webhook_id`), from, from.Add(day))
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		st, err := s.Stats(ctx, StatsFilter{WebhookID: id, From: from, To: from.Add(day)})
		if err != nil {
			return 0, err
		}
		err = s.upsertRollup(ctx, DailyStats{WebhookID: id, PeriodDate: from, Stats: st})
		if err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// Rollups returns the daily rows of a webhook (0: all webhooks) for the
// days starting in [from, to), oldest first.
func (s *Store) Rollups(ctx context.Context, webhookID int64, from, to time.Time) ([]DailyStats, error) {
	where, args := ` WHERE period_date >= ? AND period_date < ?`, []any{from.UTC().Truncate(day), to.UTC()}
	if webhookID != 0 {
		where, args = where+` AND webhook_id = ?`, append(args, webhookID)
	}
	var rows []DailyStats
	err := s.db.SelectContext(ctx, &rows, s.db.Rebind(`SELECT webhook_id, period_date, `+strings.Join(statsColumns, ", ")+`
		FROM webhook_analytics`+where+` ORDER BY period_date, webhook_id`), args...)
	for i := range rows {
		rows[i].PeriodDate = rows[i].PeriodDate.UTC()
	}
	return rows, err
}

// PeriodStats are a webhook's (0: all webhooks') figures over [f.From,
// f.To): from attempt rows where they are kept (from the day of the oldest
// one on), and from the daily rollup for the whole days before. Merged days
// add up: a delivery whose attempts span two days counts on both, and the
// percentile is the highest daily one, an upper bound. Figures for one event
// type come from attempt rows only.
func (s *Store) PeriodStats(ctx context.Context, f StatsFilter) (Stats, error) {
	rawFrom, err := s.oldestAttemptDay(ctx)
	if err != nil {
		return Stats{}, err
	}
	return s.periodStats(ctx, f, rawFrom)
}

// PeriodStatsEach is PeriodStats for each of several webhooks.
func (s *Store) PeriodStatsEach(ctx context.Context, f StatsFilter, webhookIDs []int64) (map[int64]Stats, error) {
	rawFrom, err := s.oldestAttemptDay(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]Stats, len(webhookIDs))
	for _, id := range webhookIDs {
		f.WebhookID = id
		if out[id], err = s.periodStats(ctx, f, rawFrom); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) periodStats(ctx context.Context, f StatsFilter, rawFrom time.Time) (Stats, error) {
	if !f.From.Before(rawFrom) || f.EventType != "" {
		st, err := s.Stats(ctx, f)
		if err == nil {
			st.FilteredEvents, err = s.filteredEvents(ctx, f)
		}
		return st, err
	}
	older, err := s.Rollups(ctx, f.WebhookID, f.From, rawFrom)
	if err != nil {
		return Stats{}, err
	}
	recent := f
	recent.From = rawFrom
	st, err := s.Stats(ctx, recent)
	if err != nil {
		return Stats{}, err
	}
	parts := []Stats{st}
	for _, r := range older {
		parts = append(parts, r.Stats)
	}
	out := merge(parts)
	// Filters leave no attempt rows to roll up: counted over the whole
	// period from the events' snapshots.
	out.FilteredEvents, err = s.filteredEvents(ctx, f)
	return out, err
}

// filteredEvents counts, by the time their events were accepted, the
// deliveries a filter left out.
func (s *Store) filteredEvents(ctx context.Context, f StatsFilter) (int, error) {
	where, args := f.filteredWhere()
	var n int
	err := s.db.GetContext(ctx, &n, s.db.Rebind(`SELECT COUNT(*)`+filteredFrom+where), args...)
	return n, err
}

func merge(parts []Stats) Stats {
	var out Stats
	var weighted float64
	timed := false
	for _, p := range parts {
		if p.TotalAttempts == 0 {
			continue
		}
		// A part whose attempts all lack a duration has no minimum to give.
		if p.MaxResponseTimeMS > 0 && (!timed || p.MinResponseTimeMS < out.MinResponseTimeMS) {
			out.MinResponseTimeMS, timed = p.MinResponseTimeMS, true
		}
		out.MaxResponseTimeMS = max(out.MaxResponseTimeMS, p.MaxResponseTimeMS)
		out.P95ResponseTimeMS = max(out.P95ResponseTimeMS, p.P95ResponseTimeMS)
		weighted += p.AvgResponseTimeMS * float64(p.TotalAttempts)
		out.TotalAttempts += p.TotalAttempts
		out.TotalEvents += p.TotalEvents
		out.SuccessfulDeliveries += p.SuccessfulDeliveries
		out.FailedDeliveries += p.FailedDeliveries
		out.RetryCount += p.RetryCount
		out.HTTP4xxErrors += p.HTTP4xxErrors
		out.HTTP5xxErrors += p.HTTP5xxErrors
		out.TimeoutErrors += p.TimeoutErrors
		out.NetworkErrors += p.NetworkErrors
	}
	if out.TotalAttempts > 0 {
		out.AvgResponseTimeMS = weighted / float64(out.TotalAttempts)
	}
	out.finish()
	return out
}

// StatsByEventType splits Stats by event type over the attempt rows.
func (s *Store) StatsByEventType(ctx context.Context, f StatsFilter) (map[string]Stats, error) {
	where, args := f.where()
	var types []string
	if err := s.db.SelectContext(ctx, &types, s.db.Rebind(`SELECT DISTINCT event_type FROM deliveries`+where+` ORDER BY event_type`), args...); err != nil {
		return nil, err
	}
	out := make(map[string]Stats, len(types))
	for _, t := range types {
		g := f
		g.EventType = t
		st, err := s.Stats(ctx, g)
		if err == nil {
			st.FilteredEvents, err = s.filteredEvents(ctx, g)
		}
		if err != nil {
			return nil, err
		}
		out[t] = st
	}
	return out, nil
}

// oldestAttemptDay is the day attempt rows begin (retention deleted what
// was before); with no rows, today.
func (s *Store) oldestAttemptDay(ctx context.Context) (time.Time, error) {
	var oldest []time.Time
	err := s.db.SelectContext(ctx, &oldest, `SELECT created_at FROM deliveries ORDER BY created_at LIMIT 1`)
	if err != nil || len(oldest) == 0 {
		return s.now().Truncate(day), err
	}
	return oldest[0].UTC().Truncate(day), nil
}

// DaysToRollUp lists the days the maintenance run should roll up, oldest
// first: from the day after the last rollup (or the oldest attempt, the
// first time) through yesterday, and yesterday in any case. At most
// maxRollupDays, the most recent.
func (s *Store) DaysToRollUp(ctx context.Context, today time.Time) ([]time.Time, error) {
	today = today.UTC().Truncate(day)
	yesterday := today.Add(-day)
	var last []time.Time
	if err := s.db.SelectContext(ctx, &last, `SELECT period_date FROM webhook_analytics ORDER BY period_date DESC LIMIT 1`); err != nil {
		return nil, err
	}
	from := yesterday
	if len(last) == 1 {
		from = last[0].UTC().Truncate(day).Add(day)
	} else {
		oldest, err := s.oldestAttemptDay(ctx)
		if err != nil {
			return nil, err
		}
		from = oldest
	}
	if from.After(yesterday) {
		from = yesterday
	}
	from = later(from, today.AddDate(0, 0, -maxRollupDays))
	var days []time.Time
	for d := from; !d.After(yesterday); d = d.Add(day) {
		days = append(days, d)
	}
	return days, nil
}

const maxRollupDays = 400

// upsertRollup writes one daily row; a rerun replaces its figures.
func (s *Store) upsertRollup(ctx context.Context, r DailyStats) error {
	set := make([]string, len(statsColumns))
	for i, c := range statsColumns {
		set[i] = c + " = excluded." + c
	}
	q, args, err := sqlx.Named(`INSERT INTO webhook_analytics (webhook_id, period_date, created_at, `+strings.Join(statsColumns, ", ")+`)
		VALUES (:webhook_id, :period_date, :created_at, :`+strings.Join(statsColumns, ", :")+`)
		ON CONFLICT (webhook_id, period_date) DO UPDATE SET `+strings.Join(set, ", "), struct {
		DailyStats
		CreatedAt time.Time `db:"created_at"`
	}{r, s.now()})
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.db.Rebind(q), args...)
	return err
}

// WebhooksWithFigures lists the webhooks with attempt rows matching f, or
// (without an event type) a daily rollup in its days.
func (s *Store) WebhooksWithFigures(ctx context.Context, f StatsFilter) ([]int64, error) {
	where, args := f.where()
	q := `SELECT DISTINCT webhook_id FROM deliveries` + where
	if f.EventType == "" {
		q += ` UNION SELECT webhook_id FROM webhook_analytics WHERE period_date >= ? AND period_date < ?`
		args = append(args, f.From.UTC().Truncate(day), f.To.UTC())
	}
	// Webhooks whose filters left events out have figures too.
	filtered, more := f.filteredWhere()
	q, args = q+` UNION SELECT es.webhook_id`+filteredFrom+filtered, append(args, more...)
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind(q), args...)
	return ids, err
}
