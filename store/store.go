// Package store is Herald's SQL repository over PostgreSQL and SQLite: the
// same queries, one code path, dialect differences kept to a few lines.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/webhook"
)

func init() { sqlx.BindDriver("sqlite", sqlx.QUESTION) }

// Store is the repository. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB // every write; every read too but on SQLite files
	// read serves reads on a SQLite file, beside its one writer: in WAL
	// mode readers never wait for it.
	read *sqlx.DB
	// commits groups SQLite's write transactions (nil on PostgreSQL,
	// whose connections commit side by side).
	commits *committer
	dialect string
	box     *secretbox.Box
	// Now is the clock for every timestamp the store writes.
	Now func() time.Time
}

// Open connects to a database named by URL: postgres://… (or postgresql://…),
// sqlite:<path> for a file, or sqlite::memory: for a private in-memory one.
// Secrets are sealed and opened with box.
func Open(ctx context.Context, url string, box *secretbox.Box) (*Store, error) {
	if box == nil {
		return nil, errors.New("store: a secret box is required")
	}
	driverName, dsn, dialect, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	db, err := openDB(driverName, dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, read: db, dialect: dialect, box: box, Now: time.Now}
	if dialect == schema.SQLite {
		// SQLite has one writer; one connection turns lock contention into
		// queueing, and keeps an in-memory database alive.
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.commits = newCommitter(db)
	} else {
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if dialect == schema.SQLite && !strings.Contains(dsn, "mode=memory") {
		if s.read, err = openDB(driverName, dsn); err != nil {
			db.Close()
			return nil, err
		}
		s.read.SetMaxOpenConns(readers)
		s.read.SetMaxIdleConns(readers)
	}
	return s, nil
}

// readers is how many connections read a SQLite file beside its writer.
const readers = 4

func openDB(driverName, dsn string) (*sqlx.DB, error) {
	if driverName == "sqlite" {
		return sqlx.NewDb(openSQLite(dsn), driverName), nil
	}
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	c.Dialer(keepAliveDialer{})
	return sqlx.NewDb(sql.OpenDB(c), driverName), nil
}

// keepAliveDialer gives up on a PostgreSQL connection cut by a network
// partition after about half a minute: keepalive probes sooner than Go's
// default (15 s, then 9 probes 15 s apart) find a silent peer while a query
// waits for its answer, and (on Linux) a user timeout ends one whose query
// was never acknowledged.
type keepAliveDialer struct{}

var pgDialer = net.Dialer{
	KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 4},
	Control:         userTimeout(30 * time.Second),
}

func (keepAliveDialer) Dial(network, address string) (net.Conn, error) {
	return pgDialer.Dial(network, address)
}

func (keepAliveDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	d := pgDialer
	d.Timeout = timeout
	return d.Dial(network, address)
}

func (keepAliveDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return pgDialer.DialContext(ctx, network, address)
}

func parseURL(url string) (driverName, dsn, dialect string, err error) {
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return "postgres", url, schema.Postgres, nil
	case url == "sqlite::memory:":
		var b [8]byte
		rand.Read(b[:])
		return "sqlite", "file:herald-" + hex.EncodeToString(b[:]) + "?mode=memory&cache=shared&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_time_format=sqlite", schema.SQLite, nil
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")
		if path == "" {
			return "", "", "", errors.New("store: sqlite: URL needs a file path, e.g. sqlite:herald.db")
		}
		return "sqlite", "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate&_time_format=sqlite", schema.SQLite, nil
	}
	return "", "", "", fmt.Errorf("store: unsupported database URL %q (want postgres://… or sqlite:<path>)", url)
}

// CheckURL says whether url names a database Open can open, without
// connecting to it.
func CheckURL(url string) error {
	_, _, _, err := parseURL(url)
	return err
}

// Dialect is schema.Postgres or schema.SQLite.
func (s *Store) Dialect() string { return s.dialect }

// Migrate applies pending migrations and returns the versions applied.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	return schema.Migrate(ctx, s.db, s.dialect)
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close closes the connection pools.
func (s *Store) Close() error {
	if s.read != s.db {
		s.read.Close()
	}
	return s.db.Close()
}

// now is the store's clock at the precision both dialects keep, so a value
// written and read back compares equal.
func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// dbTime brings a caller's time to the same precision.
func dbTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

// tx runs fn in a transaction. Transactions lock a webhook's row before its
// events, attempts and rate windows, the order a webhook's deletion takes
// them in; should PostgreSQL still find a deadlock (or a serialisation
// failure), the transaction is run again.
func (s *Store) tx(ctx context.Context, fn func(*sqlx.Tx) error) error {
	if s.commits != nil {
		return s.commits.do(ctx, fn)
	}
	var err error
	for try := range 3 {
		if try > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(try) * 20 * time.Millisecond):
			}
		}
		if err = s.once(ctx, fn); !isTransient(err) {
			return err
		}
	}
	return err
}

func (s *Store) once(ctx context.Context, fn func(*sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func isTransient(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "40P01" || pqErr.Code == "40001")
}

// forUpdate locks selected rows where the dialect can; SQLite's single
// writer already serialises.
func (s *Store) forUpdate() string {
	if s.dialect == schema.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// lockWebhook takes a webhook's row lock first thing in a transaction, or
// says it is gone.
func (s *Store) lockWebhook(ctx context.Context, tx *sqlx.Tx, id int64) error {
	var one int
	err := tx.GetContext(ctx, &one, tx.Rebind(`SELECT 1 FROM webhooks WHERE id = ?`+s.forUpdate()), id)
	return notFound(err, "webhook %d not found", id)
}

func isForeignKeyViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23503"
	}
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return pqErr.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return webhook.Errorf(webhook.ENotFound, format, args...)
	}
	return err
}

// changed is notFound for a statement that must change a row: one that
// changed none answers ENotFound.
func changed(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return webhook.Errorf(webhook.ENotFound, format, args...)
	}
	return nil
}

// getOne reads the one row query finds, args filling its ? marks, and
// makes it what the store answers; no row is ENotFound, said by missing
// formatted with the same args.
func getOne[R, T any](ctx context.Context, s *Store, from func(*R) T, missing, query string, args ...any) (T, error) {
	var row R
	if err := s.read.GetContext(ctx, &row, s.db.Rebind(query), args...); err != nil {
		var zero T
		return zero, notFound(err, missing, args...)
	}
	return from(&row), nil
}

// selectAll reads every row query finds, args filling its ? marks, as
// what the store answers.
func selectAll[R, T any](ctx context.Context, s *Store, from func(*R) T, query string, args ...any) ([]T, error) {
	var rows []R
	if err := s.read.SelectContext(ctx, &rows, s.db.Rebind(query), args...); err != nil {
		return nil, err
	}
	return fromRows(rows, from), nil
}

// selectIn reads the rows of a query whose IN (?) takes a slice, each
// element becoming a mark of its own, into dest.
func selectIn(ctx context.Context, q sqlx.ExtContext, dest any, query string, args ...any) error {
	query, args, err := sqlx.In(query, args...)
	if err != nil {
		return err
	}
	return sqlx.SelectContext(ctx, q, dest, q.Rebind(query), args...)
}

// fromRows turns rows read into what the store answers, one by one.
func fromRows[R, T any](rows []R, from func(*R) T) []T {
	out := make([]T, len(rows))
	for i := range rows {
		out[i] = from(&rows[i])
	}
	return out
}

// jsonColumn stores a Go value as JSON text (JSONB on PostgreSQL).
type jsonColumn[T any] struct{ V T }

func (j jsonColumn[T]) Value() (driver.Value, error) {
	b, err := json.Marshal(j.V)
	return string(b), err
}

func (j *jsonColumn[T]) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		var zero T
		j.V = zero
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("store: cannot scan %T into JSON", src)
	}
	return json.Unmarshal(b, &j.V)
}

// Page bounds a list query.
type Page struct {
	Limit  int
	Offset int
}

// Page defaults and caps.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

func (p Page) norm() Page {
	if p.Limit <= 0 {
		p.Limit = DefaultLimit
	}
	p.Limit = min(p.Limit, MaxLimit)
	p.Offset = max(p.Offset, 0)
	return p
}
