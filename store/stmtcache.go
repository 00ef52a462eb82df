package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// SQLite parses a statement each time it is run unless it is prepared,
// and Herald runs the same few writes over and over (an attempt's row, an
// event's counters, a savepoint): parsing was a third of the store's CPU
// under load. sqliteConnector opens connections that keep each statement
// run through Exec prepared, by its text, and run it again from there.
// Only Exec: its statement is done with once it returns, where a query's
// stays busy until its rows are closed.
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
	return &cachingConn{sqliteConn: sc, stmts: map[string]driver.Stmt{}}, nil
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
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	st, ok := c.stmts[query]
	if !ok {
		var err error
		if st, err = c.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		if len(c.stmts) >= maxCachedStmts {
			c.closeStmts()
		}
		c.stmts[query] = st
	}
	return st.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (c *cachingConn) closeStmts() {
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

func (c *cachingConn) Close() error {
	c.closeStmts()
	return c.sqliteConn.Close()
}

var _ driver.Connector = sqliteConnector{}

func openSQLite(dsn string) *sql.DB { return sql.OpenDB(sqliteConnector{dsn: dsn}) }
