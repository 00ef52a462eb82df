package store

import (
	"context"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Slot is a rate-limit slot and the attempt it was reserved for.
type Slot struct {
	AttemptKey
	At time.Time
}

// A reservation is held for its attempt (rate_holds) until the attempt's
// row is written or the slot given back, so that an attempt run again
// after a crash in between reuses its slot instead of taking another. A
// key with no event id (a store test's) holds nothing.

// heldSlots returns the slots held for attempts to a webhook, by attempt.
func (s *Store) heldSlots(ctx context.Context, tx *sqlx.Tx, webhookID int64, keys []AttemptKey) (map[AttemptKey]time.Time, error) {
	out := map[AttemptKey]time.Time{}
	for start := 0; start < len(keys); start += holdsPerStatement {
		where, args := holdsWhere(webhookID, keys[start:min(start+holdsPerStatement, len(keys))])
		if where == "" {
			continue
		}
		var rows []struct {
			EventID string    `db:"event_id"`
			Attempt int       `db:"attempt_number"`
			At      time.Time `db:"slot_at"`
		}
		if err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT event_id, attempt_number, slot_at FROM rate_holds WHERE `+where), args...); err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[AttemptKey{r.EventID, r.Attempt}] = r.At.UTC()
		}
	}
	return out, nil
}

// hold records the attempts' slots, in place of any they held before.
func (s *Store) hold(ctx context.Context, tx *sqlx.Tx, webhookID int64, slots []Slot) error {
	for start := 0; start < len(slots); start += holdsPerStatement {
		var values []string
		var args []any
		for _, sl := range slots[start:min(start+holdsPerStatement, len(slots))] {
			if sl.EventID == "" {
				continue
			}
			values = append(values, "(?, ?, ?, ?)")
			args = append(args, webhookID, sl.EventID, sl.Attempt, sl.At.UTC())
		}
		if len(values) == 0 {
			continue
		}
		_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO rate_holds (webhook_id, event_id, attempt_number, slot_at)
			VALUES `+strings.Join(values, ", ")+` ON CONFLICT (webhook_id, event_id, attempt_number)
			DO UPDATE SET slot_at = excluded.slot_at`), args...)
		if err != nil {
			return err
		}
	}
	return nil
}

// unhold forgets the slots held for attempts to a webhook.
func (s *Store) unhold(ctx context.Context, tx *sqlx.Tx, webhookID int64, keys []AttemptKey) error {
	for start := 0; start < len(keys); start += holdsPerStatement {
		where, args := holdsWhere(webhookID, keys[start:min(start+holdsPerStatement, len(keys))])
		if where == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM rate_holds WHERE `+where), args...); err != nil {
			return err
		}
	}
	return nil
}

// holdsPerStatement bounds a statement's parameters well below SQLite's
// limit.
const holdsPerStatement = 200

// holdsWhere selects the rows of keys; it is empty when no key names an
// event.
func holdsWhere(webhookID int64, keys []AttemptKey) (string, []any) {
	var terms []string
	args := []any{webhookID}
	for _, k := range keys {
		if k.EventID != "" {
			terms = append(terms, "(event_id = ? AND attempt_number = ?)")
			args = append(args, k.EventID, k.Attempt)
		}
	}
	if len(terms) == 0 {
		return "", nil
	}
	return "webhook_id = ? AND (" + strings.Join(terms, " OR ") + ")", args
}

// usable says whether a held slot may still be used at now: one still ahead,
// or one whose windows still count an attempt made now.
func usable(limits []RateLimit, at, now time.Time) bool {
	return at.After(now) || SlotHolds(limits, at, now)
}
