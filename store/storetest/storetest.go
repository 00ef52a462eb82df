// Package storetest opens isolated stores for tests: a fresh PostgreSQL
// schema (dropped at cleanup) or a SQLite file of its own, as `herald dev`
// keeps (a writer and readers in WAL mode).
package storetest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
)

// DefaultPostgresURL is the machine's PostgreSQL; HERALD_TEST_POSTGRES_URL
// overrides it.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects lists what every store test runs against.
var Dialects = []string{schema.Postgres, schema.SQLite}

// MustURL returns a database URL of the dialect that no other test uses.
func MustURL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == schema.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "herald.db")
	}
	u, drop, err := PostgresSchema()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	return u
}

// PostgresSchema creates a fresh schema on the test PostgreSQL and returns a
// URL whose connections use it, and a function that drops it.
func PostgresSchema() (string, func(), error) {
	base := os.Getenv("HERALD_TEST_POSTGRES_URL")
	if base == "" {
		base = DefaultPostgresURL
	}
	return store.PostgresSchema(base, "herald_test_")
}

// MustOpen opens a migrated store of the dialect, closed at cleanup.
func MustOpen(t testing.TB, dialect string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), MustURL(t, dialect), secretbox.Ephemeral())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}
