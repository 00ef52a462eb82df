package store

import (
	"fmt"
	"testing"
)

// A statement is prepared once and run again from the cache; one whose
// rows are open is not reused meanwhile (its text runs prepared apart),
// and a cache that fills up starts over without closing what open rows
// still read.
func TestStatementCache(t *testing.T) {
	db := mustSQLiteFile(t)
	db.SetMaxOpenConns(1) // one connection, one cache
	for _, v := range []string{"a", "b", "c"} {
		if _, err := db.Exec(`INSERT INTO t (v) VALUES (?)`, v); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(`SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, v)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var got []string
		if err := db.Select(&got, `SELECT v FROM t ORDER BY v`); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(outer) || len(got) != 3 {
			t.Fatalf("rows %v, then %v", outer, got)
		}
	}
	// Fill the cache past its bound while a query's rows are open on the
	// same connection, in one transaction.
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	open, err := tx.Query(`SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	if !open.Next() {
		t.Fatal("no first row")
	}
	for i := range maxCachedStmts + 10 {
		var n int
		if err := tx.Get(&n, fmt.Sprintf(`SELECT %d + COUNT(*) FROM t`, i)); err != nil || n != i+3 {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
		// The open rows' own text, busy: prepared apart, its rows intact.
		var again []string
		if err := tx.Select(&again, `SELECT v FROM t ORDER BY v`); err != nil || len(again) != 3 {
			t.Fatalf("the busy statement's text: %v, %v", again, err)
		}
	}
	var rest []string
	for ok := true; ok; ok = open.Next() {
		var v string
		if err := open.Scan(&v); err != nil {
			t.Fatal(err)
		}
		rest = append(rest, v)
	}
	if err := open.Close(); err != nil || fmt.Sprint(rest) != "[a b c]" {
		t.Fatalf("the open rows read %v after the cache started over (%v)", rest, err)
	}
}
