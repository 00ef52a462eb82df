// Package schema holds Herald's SQL migrations, one directory per dialect,
// and applies them in order, each once.
package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialects this package has migrations for.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations lists a dialect's migrations in version order.
func Migrations(dialect string) ([]Migration, error) {
	entries, err := fs.ReadDir(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("schema: unknown dialect %q", dialect)
	}
	var out []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("schema: migration %s/%s is not named NNNN_name.sql", dialect, e.Name())
		}
		b, err := files.ReadFile(dialect + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies every migration not yet recorded in herald_migrations, each
// in its own transaction. On PostgreSQL an advisory lock makes concurrent
// callers (an API and a worker starting together) wait for each other.
// It returns the versions it applied.
func Migrate(ctx context.Context, db *sqlx.DB, dialect string) ([]int, error) {
	migrations, err := Migrations(dialect)
	if err != nil {
		return nil, err
	}
	conn, err := db.Connx(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dialect == Postgres {
		// An arbitrary constant: "herald" in ASCII.
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(104101114097108100)`); err != nil {
			return nil, fmt.Errorf("schema: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(104101114097108100)`)
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS herald_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	applied := map[int]bool{}
	var versions []int
	if err := sqlx.SelectContext(ctx, conn, &versions, `SELECT version FROM herald_migrations`); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	var done []int
	for _, m := range migrations {
		if applied[m.Version] {
			continue
		}
		if err := apply(ctx, conn, m); err != nil {
			return done, err
		}
		done = append(done, m.Version)
	}
	return done, nil
}

func apply(ctx context.Context, conn *sqlx.Conn, m Migration) error {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("schema: migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO herald_migrations (version, name) VALUES (?, ?)`), m.Version, m.Name); err != nil {
		return fmt.Errorf("schema: record migration %s: %w", m.Name, err)
	}
	return tx.Commit()
}
