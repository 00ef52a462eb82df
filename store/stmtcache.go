package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// SQLite parses a statement each time it is run unless it is prepared,
// and Herald runs the same few statements over and over (an attempt's row,
// an event's counters, a savepoint, an API key's lookup): parsing was a
// third of the store's CPU under load. sqliteConnector opens connections
// that keep each statement they run prepared, by its text, and run it
// again from there. A query's statement is busy until its rows are
// closed: the same text run meanwhile is prepared apart, as before.
type sqliteConnector struct {
	dsn string
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.Driver().Open(c.dsn)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, errors.New("store: the sqlite driver's connection lacks a method the statement cache needs")
	}
	return &cachingConn{sqliteConn: sc, stmts: map[string]driver.Stmt{}, busy: map[driver.Stmt]bool{}}, nil
}

func (sqliteConnector) Driver() driver.Driver { return &sqlite.Driver{} }

// sqliteConn is what database/sql uses of a modernc.org/sqlite connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// maxCachedStmts bounds a connection's prepared statements: statements
// whose text carries a list's length (IN (?, ?, …), many rows' VALUES)
// come in many versions, and a full cache starts over.
const maxCachedStmts = 128

type cachingConn struct {
	sqliteConn
	stmts map[string]driver.Stmt
	busy  map[driver.Stmt]bool // statements whose rows are open
}

// stmt returns the statement of query, prepared once; nil when it is busy.
func (c *cachingConn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		if c.busy[st] {
			return nil, nil
		}
		return st, nil
	}
	st, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= maxCachedStmts {
		c.closeStmts()
	}
	c.stmts[query] = st
	return st, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil || st == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	c.busy[st] = true
	return &cachedRows{Rows: rows, done: func() {
		delete(c.busy, st)
		if c.stmts[query] != st {
			st.Close() // dropped from the cache while its rows were open
		}
	}}, nil
}

// cachedRows frees its statement for the next run when closed.
type cachedRows struct {
	driver.Rows
	done func()
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.done()
	return err
}

// closeStmts closes the statements no rows use; the others are dropped
// from the cache and closed by their rows.
func (c *cachingConn) closeStmts() {
	for q, st := range c.stmts {
		if !c.busy[st] {
			st.Close()
		}
		delete(c.stmts, q)
	}
}

func (c *cachingConn) Close() error {
	c.closeStmts()
	return c.sqliteConn.Close()
}

var _ driver.Connector = sqliteConnector{}

func openSQLite(dsn string) *sql.DB { return sql.OpenDB(sqliteConnector{dsn: dsn}) }
