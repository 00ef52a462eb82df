package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/jmoiron/sqlx"
)

// PostgresSchema creates a fresh schema named prefix+random on the
// PostgreSQL at base and returns a URL whose connections use it, and a
// function that drops it: one isolated store per test or benchmark run.
func PostgresSchema(base, prefix string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE SCHEMA ` + name); err != nil {
		return "", nil, fmt.Errorf("create schema (is PostgreSQL running on %s?): %w", u.Host, err)
	}
	drop := func() {
		if db, err := sqlx.Open("postgres", base); err == nil {
			db.Exec(`DROP SCHEMA ` + name + ` CASCADE`)
			db.Close()
		}
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
