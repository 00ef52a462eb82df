package store

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"
)

// mustSQLiteFile opens a SQLite file with the store's settings and one
// table, t(v), to write to.
func mustSQLiteFile(t *testing.T) *sqlx.DB {
	t.Helper()
	driver, dsn, _, err := parseURL("sqlite:" + filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (v TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func insertOp(v string, runs *int) *commitOp {
	return &commitOp{ctx: context.Background(), done: make(chan error, 1), fn: func(tx *sqlx.Tx) error {
		*runs++
		_, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, v)
		return err
	}}
}

// A group's transactions commit together, each run once; one that fails
// is undone alone and the others commit.
func TestCommitterUndoesOnlyTheFailingTransaction(t *testing.T) {
	for _, tc := range []struct {
		name     string
		values   []string
		failing  int // index of the op that fails after writing, -1 for none
		wantErr  []bool
		wantRuns []int
		want     []string
	}{
		{"all succeed", []string{"a", "b", "c"}, -1, []bool{false, false, false}, []int{1, 1, 1}, []string{"a", "b", "c"}},
		{"the middle one fails", []string{"a", "b", "c"}, 1, []bool{false, true, false}, []int{1, 1, 1}, []string{"a", "c"}},
		{"a duplicate within the group", []string{"a", "a", "d"}, -1, []bool{false, true, false}, []int{1, 1, 1}, []string{"a", "d"}},
		// The first runs without a savepoint: its failure rolls back the
		// transaction, and the rest commit in the next.
		{"the first one fails", []string{"a", "b", "c"}, 0, []bool{true, false, false}, []int{1, 1, 1}, []string{"b", "c"}},
		{"a group of one fails", []string{"a"}, 0, []bool{true}, []int{1}, nil},
		{"the first and the last fail", []string{"a", "b", "b"}, 0, []bool{true, false, true}, []int{1, 1, 1}, []string{"b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := mustSQLiteFile(t)
			c := newCommitter(db)
			runs := make([]int, len(tc.values))
			group := make([]*commitOp, len(tc.values))
			for i, v := range tc.values {
				group[i] = insertOp(v, &runs[i])
			}
			boom := errors.New("refused")
			if tc.failing >= 0 {
				inner := group[tc.failing].fn
				group[tc.failing].fn = func(tx *sqlx.Tx) error {
					if err := inner(tx); err != nil {
						return err
					}
					return boom // after writing: its write must be undone
				}
			}
			c.commit(group)
			for i, op := range group {
				if err := <-op.done; tc.wantErr[i] != (err != nil) {
					t.Errorf("op %d (%s): err %v", i, tc.values[i], err)
				}
			}
			var got []string
			if err := db.Select(&got, `SELECT v FROM t ORDER BY v`); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || !slices.Equal(runs, tc.wantRuns) {
				t.Errorf("rows %v after runs %v, want %v after %v", got, runs, tc.want, tc.wantRuns)
			}
		})
	}
}
