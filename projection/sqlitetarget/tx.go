package sqlitetarget

import (
	"context"
	"database/sql"
)

// Tx is the transaction a projection's Setup and Handle write through: the Write's
// transaction, which the runner commits together with the checkpoint and the
// per-stream guard, or rolls back whole (G8).
//
// In every query, {t} for a logical table t of the projection is replaced by the
// generation's physical table (invoices_g2, see PhysicalTable). Statements with
// arguments are prepared once per transaction.
//
// Given the context the runner passed to Setup or Handle, Exec, Query and QueryRow
// check it before each statement and abort when it is done; a statement already
// running completes, and the transaction is then rolled back. Any other context
// (one with its own deadline, say) is passed to the driver as is.
type Tx struct {
	tx     *sql.Tx
	tables *tables
	stmts  map[string]*sql.Stmt
	done   <-chan struct{} // the runner's context's Done channel
	quiet  context.Context // the runner's context without its cancellation
}

func newTx(ctx context.Context, tx *sql.Tx, t *tables) *Tx {
	return &Tx{tx: tx, tables: t, done: ctx.Done(), quiet: context.WithoutCancel(ctx)}
}

// stmtContext returns the context to run a statement with. go-sqlite3 starts a
// goroutine per statement, and per row read, to watch a cancellable context: it
// costs more than a small INSERT. For the runner's own context that watch is
// redundant: the transaction was begun with it, so database/sql rolls the whole
// batch back when it ends. Checking it before each statement is enough.
func stmtContext(ctx context.Context, done <-chan struct{}, quiet context.Context) (context.Context, error) {
	if done == nil || ctx.Done() != done {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return quiet, nil
}

// Table returns the physical name of logical table name in this generation:
// name_g<N>.
func (t *Tx) Table(name string) string { return PhysicalTable(name, t.tables.generation) }

// stmt prepares each distinct query once per transaction.
func (t *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := t.stmts[query]; ok {
		return s, nil
	}
	s, err := t.tx.PrepareContext(ctx, t.tables.expand(query))
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt)
	}
	t.stmts[query] = s
	return s, nil
}

// Exec runs a statement that returns no rows, after expanding {table} names. With
// arguments, the statement is prepared once per transaction and must be a single
// statement; without, query may hold several statements (as in Setup).
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, err := stmtContext(ctx, t.done, t.quiet)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return t.tx.ExecContext(ctx, t.tables.expand(query))
	}
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

// Query runs a query, after expanding {table} names.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, err := stmtContext(ctx, t.done, t.quiet)
	if err != nil {
		return nil, err
	}
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

// QueryRow runs a query expected to return at most one row, after expanding
// {table} names. Errors are deferred to Row.Scan.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	qctx, err := stmtContext(ctx, t.done, t.quiet)
	if err != nil {
		// Let Row.Scan report the context's error.
		return t.tx.QueryRowContext(ctx, t.tables.expand(query), args...)
	}
	ctx = qctx
	s, err := t.stmt(ctx, query)
	if err != nil {
		// Let Row.Scan report the preparation error.
		return t.tx.QueryRowContext(ctx, t.tables.expand(query), args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// SQL returns the underlying transaction, for what Exec and Query don't cover.
// Names are not expanded there: use Table. Do not commit or roll it back.
func (t *Tx) SQL() *sql.Tx { return t.tx }
