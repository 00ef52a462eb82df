package store

import "github.com/jmoiron/sqlx"

// DB exposes the pool to the external tests, to check what is at rest.
func (s *Store) DB() *sqlx.DB { return s.db }
