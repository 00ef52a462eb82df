package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/loki-interceptor/herald/groupcommit"
)

// SQLite has one writer: every transaction waits for the connection, and
// each commit writes its pages to the log again. The committer runs the
// transactions that queue up while one commits as one transaction, each
// after the first in a savepoint of its own, so that one failing undoes
// only itself: a group commit. Under load, tens of attempts' rows share a
// commit; alone, a transaction goes at once. Each transaction runs once:
// running a group without savepoints and again with them after a failure
// was 2 % cheaper, but ran callers' functions twice, and an update whose
// edit was not idempotent then changed its outcome.
type committer struct {
	db    *sqlx.DB
	queue groupcommit.Queue[*commitOp]
}

type commitOp struct {
	ctx  context.Context
	fn   func(*sqlx.Tx) error
	done chan error
}

// maxGroupOps bounds the transactions one commit carries, so that none
// waits behind too long a group.
const maxGroupOps = 256

func newCommitter(db *sqlx.DB) *committer {
	c := &committer{db: db}
	c.queue = groupcommit.Queue[*commitOp]{Run: c.commit, Max: maxGroupOps}
	return c
}

func (c *committer) do(ctx context.Context, fn func(*sqlx.Tx) error) error {
	op := &commitOp{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.queue.Add(op)
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err() // it may still commit: callers treat this as unknown
	}
}

// commit runs one group and tells each op its outcome.
func (c *committer) commit(group []*commitOp) {
	errs := make([]error, len(group))
	for rest := 0; rest < len(group); {
		rest += c.run(group[rest:], errs[rest:])
	}
	for i, op := range group {
		op.done <- errs[i]
	}
}

// run commits ops in one transaction, or stops after its first op when
// that fails. The first op runs without a savepoint of its own, as the
// transaction holds nothing else to keep: its failure rolls the
// transaction back and the rest go in the next one. Most groups under a
// light load hold one op, and a savepoint costs SQLite a copy of every
// page the op writes. run sets the outcome of each op it settles and
// returns how many it settled.
func (c *committer) run(ops []*commitOp, errs []error) int {
	settle := func(n int, err error) int {
		for i := range n {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return n
	}
	tx, err := c.db.BeginTxx(context.Background(), nil)
	if err != nil {
		return settle(len(ops), err)
	}
	defer tx.Rollback()
	written := false
	for i, op := range ops {
		if errs[i] = op.ctx.Err(); errs[i] != nil {
			continue
		}
		if !written {
			written = true
			if errs[i] = op.fn(tx); errs[i] != nil {
				return i + 1 // the deferred Rollback undoes it
			}
			continue
		}
		if errs[i] = c.one(op, tx); errs[i] == errCommitBroken {
			return settle(len(ops), errCommitBroken)
		}
	}
	return settle(len(ops), tx.Commit())
}

var errCommitBroken = fmt.Errorf("store: a group's transaction broke")

// one runs an op in a savepoint: its failure rolls back its own writes
// only. A caller giving up midway interrupts SQLite, which rolls back the
// whole transaction: the group then fails whole, and every op hears so.
func (c *committer) one(op *commitOp, tx *sqlx.Tx) error {
	if _, err := tx.Exec(`SAVEPOINT op`); err != nil {
		return errCommitBroken
	}
	err := op.fn(tx)
	if err != nil {
		if _, rerr := tx.Exec(`ROLLBACK TO SAVEPOINT op`); rerr != nil {
			return errCommitBroken
		}
	}
	if _, rerr := tx.Exec(`RELEASE SAVEPOINT op`); rerr != nil {
		return errCommitBroken
	}
	return err
}
