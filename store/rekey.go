package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// sealedColumns are the columns of webhooks that hold values sealed by the
// secret box. Reencrypt re-seals all of them, so a new sealed column must be
// added here or a key rotation would leave it under the retired key.
var sealedColumns = []string{"secret", "custom_headers", "credentials", "previous_secret"}

// reencryptBatch is how many rows one transaction of Reencrypt takes: small
// enough that the row locks it holds barely delay deliveries.
const reencryptBatch = 100

// Reencrypt re-seals, under the box's primary key, every sealed value that
// is not current (sealed under an old key, or in the old format), and
// returns how many rows it changed. Empty values stay empty.
//
// It is the second step of a key rotation: first every Herald process runs
// with the new key as primary and the old one still configured (so values
// it writes are under the new key and values it reads open under either),
// then Reencrypt, then the old key can go. It is safe to run while Herald is
// up and to run again: rows are walked by id in batches, each batch in its
// own transaction with its rows locked (FOR UPDATE on PostgreSQL; SQLite
// has one writer), and values already current are left alone, so an
// interrupted run resumes where it matters and a finished one changes 0
// rows.
func (s *Store) Reencrypt(ctx context.Context) (rows int, err error) {
	var after int64
	for {
		changed, last, err := s.reencryptBatch(ctx, after)
		rows += changed
		if err != nil || last == after {
			return rows, err
		}
		after = last
	}
}

// reencryptBatch re-seals the rows after id `after`, up to reencryptBatch of
// them, and returns how many it changed and the last id it saw (after
// itself once there are none left).
func (s *Store) reencryptBatch(ctx context.Context, after int64) (changed int, last int64, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		// s.tx may run this again after a deadlock: start from scratch.
		changed, last = 0, after
		batch, err := s.sealedRows(ctx, tx, after)
		if err != nil {
			return err
		}
		for _, r := range batch {
			last = r.id
			updates, err := s.reseal(r)
			if err != nil {
				return err
			}
			if len(updates) == 0 {
				continue
			}
			if err := updateSealed(ctx, tx, r.id, updates); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	return changed, last, err
}

// sealedRow is one webhooks row's sealed values, in sealedColumns order.
type sealedRow struct {
	id     int64
	values []string
}

// sealedRows reads and locks the next batch of rows by id.
func (s *Store) sealedRows(ctx context.Context, tx *sqlx.Tx, after int64) ([]sealedRow, error) {
	q := `SELECT id, ` + strings.Join(sealedColumns, ", ") + ` FROM webhooks WHERE id > ? ORDER BY id LIMIT ?` + s.forUpdate()
	rs, err := tx.QueryContext(ctx, tx.Rebind(q), after, reencryptBatch)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []sealedRow
	for rs.Next() {
		r := sealedRow{values: make([]string, len(sealedColumns))}
		if err := rs.Scan(scanTargets(&r)...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func scanTargets(r *sealedRow) []any {
	targets := []any{&r.id}
	for i := range r.values {
		targets = append(targets, &r.values[i])
	}
	return targets
}

// reseal returns the row's values that need re-sealing, by column, sealed
// anew under the primary key. An error names the row and column, never the
// value.
func (s *Store) reseal(r sealedRow) (map[string]string, error) {
	updates := map[string]string{}
	for i, col := range sealedColumns {
		v := r.values[i]
		if v == "" {
			continue
		}
		resealed, changed, err := s.box.Reseal(v)
		if err != nil {
			return nil, fmt.Errorf("store: re-encrypt webhooks.%s of row %d: %w", col, r.id, err)
		}
		if changed {
			updates[col] = resealed
		}
	}
	return updates, nil
}

// updateSealed writes the re-sealed values of one row.
func updateSealed(ctx context.Context, tx *sqlx.Tx, id int64, updates map[string]string) error {
	var set []string
	var args []any
	// sealedColumns order keeps the statement the same for the same
	// columns, whatever the map's order.
	for _, col := range sealedColumns {
		if v, ok := updates[col]; ok {
			set = append(set, col+" = ?")
			args = append(args, v)
		}
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE webhooks SET `+strings.Join(set, ", ")+` WHERE id = ?`), append(args, id)...)
	return err
}
